//! The shard-result binary format.
//!
//! ```text
//! "LGSR"  magic, 4 bytes
//! u16     format version, little-endian
//! u32     CRC-32 of the payload, little-endian
//! ...     payload: postcard encoding of the wire structs below, with every
//!         histogram in its own compact encoding (see `Histogram::encode`:
//!         used buckets only, runs of empty ones compressed)
//! ```
//!
//! A reader rejects other magic, versions it does not know, and checksum
//! mismatches with a [`DecodeError`] that says which.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    Aggregate, CheckTally, FirstSeen, GroupTree, Histogram, MetricEntry, MetricKind, MetricSet, Second, ShardResult,
    TagSet, Timeline, ValueKind,
};

const MAGIC: &[u8; 4] = b"LGSR";
/// The version this build writes. Bump it on any change to the wire structs.
/// 2: histograms in `Histogram`'s own encoding instead of HDR V2.
/// 3: the group and check tree.
/// 4: each second's `data_sent` and `data_received` bytes.
pub const FORMAT_VERSION: u16 = 4;
const HEADER_LEN: usize = 4 + 2 + 4;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a loadgrid shard result (bad magic bytes)")]
    NotAShardResult,
    #[error("shard result format version {found} is not supported by this loadgrid (it reads version {FORMAT_VERSION}); use the loadgrid version that wrote it")]
    UnsupportedVersion { found: u16 },
    #[error("shard result is corrupt: checksum mismatch (truncated or damaged file)")]
    ChecksumMismatch,
    #[error("shard result is corrupt: {0}")]
    Malformed(String),
}

#[derive(Serialize, Deserialize)]
struct WireResult<'a> {
    shard: u32,
    first_sample_us: Option<i64>,
    last_sample_us: Option<i64>,
    samples: u64,
    rejected_lines: u64,
    overflow_samples: u64,
    #[serde(borrow)]
    metrics: Vec<WireMetric<'a>>,
    #[serde(borrow)]
    seconds: Vec<WireSecond<'a>>,
    /// Group paths with when they were first seen.
    groups: Vec<(String, FirstSeen)>,
    /// (group path, check name, passes, fails, first seen).
    checks: Vec<(String, String, u64, u64, FirstSeen)>,
    tree_dropped_samples: u64,
}

#[derive(Serialize, Deserialize)]
struct WireMetric<'a> {
    name: String,
    kind: Option<MetricKind>,
    contains: ValueKind,
    #[serde(borrow)]
    series: Vec<(TagSet, WireAggregate<'a>)>,
    #[serde(borrow)]
    overflow: Option<WireAggregate<'a>>,
    #[serde(borrow)]
    selectors: Vec<(TagSet, WireAggregate<'a>)>,
    collapsed: bool,
}

#[derive(Serialize, Deserialize)]
struct WireAggregate<'a> {
    count: u64,
    sum: i128,
    min: i64,
    max: i64,
    nonzero: u64,
    last: i64,
    last_time_us: i64,
    #[serde(borrow)]
    histogram: Option<WireBytes<'a>>,
}

#[derive(Serialize, Deserialize)]
struct WireSecond<'a> {
    unix_second: i64,
    requests: u64,
    failed_requests: u64,
    iterations: u64,
    data_sent: u64,
    data_received: u64,
    vus: u64,
    vus_max: u64,
    #[serde(borrow)]
    latency: Option<WireBytes<'a>>,
}

/// An encoded histogram: written as one length-prefixed block and read back
/// without copying (serde would otherwise visit it byte by byte).
struct WireBytes<'a>(Cow<'a, [u8]>);

impl Serialize for WireBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WireBytes<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> serde::de::Visitor<'de> for BytesVisitor {
            type Value = WireBytes<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an encoded histogram")
            }

            fn visit_borrowed_bytes<E>(self, bytes: &'de [u8]) -> Result<Self::Value, E> {
                Ok(WireBytes(Cow::Borrowed(bytes)))
            }

            fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Self::Value, E> {
                Ok(WireBytes(Cow::Owned(bytes.to_vec())))
            }

            fn visit_byte_buf<E>(self, bytes: Vec<u8>) -> Result<Self::Value, E> {
                Ok(WireBytes(Cow::Owned(bytes)))
            }
        }
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

/// Encodes a shard result in the versioned binary format.
pub fn encode_shard_result(result: &ShardResult) -> Vec<u8> {
    let wire = WireResult {
        shard: result.shard,
        first_sample_us: result.first_sample_us,
        last_sample_us: result.last_sample_us,
        samples: result.samples,
        rejected_lines: result.rejected_lines,
        overflow_samples: result.metrics.overflow_samples,
        metrics: result
            .metrics
            .metrics
            .iter()
            .map(|(name, entry)| WireMetric {
                name: name.clone(),
                kind: entry.kind,
                contains: entry.contains,
                series: encode_map(&entry.series),
                overflow: entry.overflow.as_ref().map(encode_aggregate),
                selectors: encode_map(&entry.selectors),
                collapsed: entry.collapsed,
            })
            .collect(),
        seconds: result
            .metrics
            .timeline
            .iter()
            .map(|(unix_second, second)| WireSecond {
                unix_second,
                requests: second.requests,
                failed_requests: second.failed_requests,
                iterations: second.iterations,
                data_sent: second.data_sent,
                data_received: second.data_received,
                vus: second.vus,
                vus_max: second.vus_max,
                latency: second.latency.as_ref().map(encode_histogram),
            })
            .collect(),
        groups: result.metrics.groups.groups.iter().map(|(path, first)| (path.clone(), *first)).collect(),
        checks: result
            .metrics
            .groups
            .checks
            .iter()
            .map(|((group, name), tally)| (group.clone(), name.clone(), tally.passes, tally.fails, tally.first))
            .collect(),
        tree_dropped_samples: result.metrics.groups.dropped_samples,
    };
    let payload = postcard::to_stdvec(&wire).expect("in-memory serialization cannot fail");
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes
}

/// Decodes a shard result, checking magic, version and checksum first.
pub fn decode_shard_result(bytes: &[u8]) -> Result<ShardResult, DecodeError> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(DecodeError::NotAShardResult);
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    let checksum = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
    let payload = &bytes[HEADER_LEN..];
    if crc32fast::hash(payload) != checksum {
        return Err(DecodeError::ChecksumMismatch);
    }
    let wire: WireResult = postcard::from_bytes(payload).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let mut metrics = BTreeMap::new();
    for metric in wire.metrics {
        let mut entry = MetricEntry::new(metric.kind, metric.contains);
        entry.series = decode_map(metric.series)?;
        entry.selectors = decode_map(metric.selectors)?;
        entry.collapsed = metric.collapsed;
        entry.overflow = metric.overflow.map(decode_aggregate).transpose()?;
        metrics.insert(metric.name, entry);
    }
    let mut timeline = Timeline::new();
    for wire_second in wire.seconds {
        let latency = wire_second.latency.as_ref().map(decode_histogram).transpose()?;
        *timeline.second_mut(wire_second.unix_second) = Second {
            requests: wire_second.requests,
            failed_requests: wire_second.failed_requests,
            iterations: wire_second.iterations,
            data_sent: wire_second.data_sent,
            data_received: wire_second.data_received,
            vus: wire_second.vus,
            vus_max: wire_second.vus_max,
            latency,
        };
    }
    let groups = GroupTree {
        groups: wire.groups.into_iter().collect(),
        checks: wire
            .checks
            .into_iter()
            .map(|(group, name, passes, fails, first)| ((group, name), CheckTally { passes, fails, first }))
            .collect(),
        dropped_samples: wire.tree_dropped_samples,
    };
    Ok(ShardResult {
        shard: wire.shard,
        metrics: MetricSet { metrics, timeline, overflow_samples: wire.overflow_samples, groups },
        first_sample_us: wire.first_sample_us,
        last_sample_us: wire.last_sample_us,
        samples: wire.samples,
        rejected_lines: wire.rejected_lines,
    })
}

fn encode_map(map: &BTreeMap<TagSet, Aggregate>) -> Vec<(TagSet, WireAggregate<'static>)> {
    map.iter().map(|(tags, aggregate)| (tags.clone(), encode_aggregate(aggregate))).collect()
}

fn decode_map(wire: Vec<(TagSet, WireAggregate<'_>)>) -> Result<BTreeMap<TagSet, Aggregate>, DecodeError> {
    wire.into_iter().map(|(tags, aggregate)| Ok((tags, decode_aggregate(aggregate)?))).collect()
}

fn encode_aggregate(aggregate: &Aggregate) -> WireAggregate<'static> {
    WireAggregate {
        count: aggregate.count,
        sum: aggregate.sum,
        min: aggregate.min,
        max: aggregate.max,
        nonzero: aggregate.nonzero,
        last: aggregate.last,
        last_time_us: aggregate.last_time_us,
        histogram: aggregate.histogram.as_deref().map(encode_histogram),
    }
}

fn decode_aggregate(wire: WireAggregate<'_>) -> Result<Aggregate, DecodeError> {
    let histogram = wire.histogram.as_ref().map(decode_histogram).transpose()?;
    if let Some(histogram) = &histogram {
        if histogram.len() != wire.count {
            return Err(DecodeError::Malformed(format!(
                "histogram holds {} samples but the aggregate counts {}",
                histogram.len(),
                wire.count
            )));
        }
    }
    Ok(Aggregate {
        count: wire.count,
        sum: wire.sum,
        min: wire.min,
        max: wire.max,
        nonzero: wire.nonzero,
        last: wire.last,
        last_time_us: wire.last_time_us,
        histogram: histogram.map(Box::new),
    })
}

fn encode_histogram(histogram: &Histogram) -> WireBytes<'static> {
    let mut bytes = Vec::new();
    histogram.encode(&mut bytes);
    WireBytes(Cow::Owned(bytes))
}

fn decode_histogram(bytes: &WireBytes<'_>) -> Result<Histogram, DecodeError> {
    Histogram::decode(&bytes.0).map_err(|e| DecodeError::Malformed(format!("histogram: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_result() -> ShardResult {
        let mut set = MetricSet::new();
        let mut entry = MetricEntry::new(Some(MetricKind::Trend), ValueKind::Time);
        let mut aggregate = Aggregate::new(true);
        for i in 0..1000 {
            aggregate.record_f64(i as f64 * 0.37, i);
        }
        entry.series.insert(TagSet::from_pairs([("name", "login")]), aggregate);
        set.metrics.insert("http_req_duration".into(), entry);
        set.timeline.second_mut(1_700_000_000).requests = 12;
        set.timeline.record_latency(1_700_000_000, 5_000_000);
        set.groups.record_check("::login", "status is 200", true, 1_700_000_000_000_000);
        set.groups.see_group("::login::form", 1_700_000_000_500_000);
        ShardResult {
            shard: 3,
            metrics: set,
            first_sample_us: Some(1),
            last_sample_us: Some(2),
            samples: 1000,
            rejected_lines: 0,
        }
    }

    #[test]
    fn round_trips() {
        let result = sample_result();
        let decoded = decode_shard_result(&encode_shard_result(&result)).unwrap();
        assert_eq!(decoded, result);
    }

    #[test]
    fn rejects_corruption_with_a_reason() {
        let mut bytes = encode_shard_result(&sample_result());
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        assert!(matches!(decode_shard_result(&bytes), Err(DecodeError::ChecksumMismatch)));
        assert!(matches!(decode_shard_result(b"{\"json\": true}"), Err(DecodeError::NotAShardResult)));
        let mut future = encode_shard_result(&sample_result());
        future[4] = 9;
        assert!(matches!(decode_shard_result(&future), Err(DecodeError::UnsupportedVersion { found: 9 })));
        let truncated = &encode_shard_result(&sample_result())[..30];
        assert!(decode_shard_result(truncated).is_err());
    }
}
