//! Decoding and merging 100 shard results of a 10-minute run, as the CLI
//! does after a grid run; the encoded size of a shard result per hour; and
//! what an agent's live object (published every second) costs to build and
//! encode and weighs, 10 and 60 minutes into a test.
//!
//! Run: `cargo bench -p loadgrid-metrics --bench merge`
//!
//! The shard results are built once, by ingesting synthetic k6 JSON output
//! shaped like the real thing (the same metrics, tags and lines per request
//! as `benches/data/k6-output.json.gz`): 10 endpoints with a few statuses
//! each, lognormal latencies between 1 and 500 ms, a VU gauge every second.

use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion};
use loadgrid_metrics::ingest::{Ingest, IngestConfig};
use loadgrid_metrics::{decode_shard_result, encode_shard_result, MetricSet, ShardResult, TagSet};

const SHARDS: u32 = 100;
/// Distinct shard recordings; the 100 shards cycle through them with their
/// own shard ids. Decoding and merging cost the same whether or not two
/// shards saw the same numbers, and this keeps the setup to seconds.
const DISTINCT_SHARDS: u32 = 10;
const TEST_SECONDS: u32 = 600;
/// Requests per second of one shard (so 20k/s for the grid).
const SHARD_RPS: u32 = 200;
const START_US: u64 = 1_795_312_265_000_000;

/// splitmix64: deterministic and dependency-free.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Lognormal around `median_ms`, clamped to 1–500 ms.
    fn latency_ms(&mut self, median_ms: f64) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        let normal = (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        (median_ms * (normal * 0.7).exp()).clamp(1.0, 500.0)
    }
}

/// Writes `Point` lines the way k6's JSON output does: RFC 3339 times with
/// nanoseconds, Go's shortest floats, tags sorted by key.
struct JsonWriter {
    out: Vec<u8>,
}

impl JsonWriter {
    /// `tags` is the `tags` object's members, without braces.
    fn line(&mut self, metric: &str, time_us: u64, value: f64, tags: &str) {
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_us) * 1000 + 123)
            .expect("a time in range")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339 formats");
        // Millionths, as k6's samples carry no more.
        let value = (value * 1e6).round() / 1e6;
        writeln!(
            self.out,
            r#"{{"metric":"{metric}","type":"Point","data":{{"time":"{time}","value":{value},"tags":{{{tags}}}}}}}"#
        )
        .expect("writing to a vector");
    }
}

/// Synthetic k6 JSON output of one shard.
fn synthetic_json(shard: u32, seconds: u32, rps: u32, seed: u64) -> Vec<u8> {
    let mut random = Random(seed);
    let mut json = JsonWriter { out: Vec::new() };
    // Endpoint i: median latency, and its statuses' tags.
    let endpoints: Vec<(f64, Vec<String>)> = (0..10)
        .map(|i| {
            let method = if i % 3 == 0 { "POST" } else { "GET" };
            let statuses = [("200", "true"), ("404", "false"), ("500", "false")];
            let tags = statuses
                .iter()
                .map(|(status, expected)| {
                    format!(
                        r#""expected_response":"{expected}","group":"","method":"{method}","name":"endpoint-{i}","scenario":"default","shard":"{shard}","status":"{status}""#
                    )
                })
                .collect();
            (5.0 * f64::from(i + 1), tags)
        })
        .collect();
    let plain = format!(r#""group":"","scenario":"default","shard":"{shard}""#);
    let check = format!(r#""check":"status ok",{plain}"#);
    let gauge = format!(r#""shard":"{shard}""#);
    let vus = 50;
    for second in 0..u64::from(seconds) {
        let second_us = START_US + second * 1_000_000;
        json.line("vus", second_us, f64::from(vus), &gauge);
        json.line("vus_max", second_us, f64::from(vus), &gauge);
        for request in 0..u64::from(rps) {
            let time_us = second_us + request * 1_000_000 / u64::from(rps) + random.below(1000);
            let endpoint = random.below(10) as usize;
            let roll = random.below(100);
            let status = usize::from(roll >= 97) + usize::from(roll >= 99);
            let (median, tag_variants) = &endpoints[endpoint];
            let tags = &tag_variants[status];
            let duration = random.latency_ms(*median);
            let waiting = duration * 0.9;
            json.line("http_reqs", time_us, 1.0, tags);
            json.line("http_req_duration", time_us, duration, tags);
            json.line("http_req_blocked", time_us, random.unit() * 0.01, tags);
            json.line("http_req_connecting", time_us, 0.0, tags);
            json.line("http_req_tls_handshaking", time_us, 0.0, tags);
            json.line("http_req_sending", time_us, random.unit() * 0.05, tags);
            json.line("http_req_waiting", time_us, waiting, tags);
            json.line("http_req_receiving", time_us, duration - waiting, tags);
            json.line("http_req_failed", time_us, if status == 0 { 0.0 } else { 1.0 }, tags);
            json.line("checks", time_us, if status == 0 { 1.0 } else { 0.0 }, &check);
            json.line("data_sent", time_us, 80.0, &plain);
            json.line("data_received", time_us, 400.0 + random.below(2000) as f64, &plain);
            json.line("iteration_duration", time_us, duration + 0.3, &plain);
            json.line("iterations", time_us, 1.0, &plain);
        }
    }
    json.out
}

fn shard_ingest(shard: u32, seconds: u32, seed: u64) -> Ingest {
    let config = IngestConfig {
        shard,
        selectors: vec![("http_req_duration".into(), TagSet::from_pairs([("name", "endpoint-1")]))],
        ..IngestConfig::default()
    };
    let mut ingest = Ingest::new(config);
    ingest.feed(&synthetic_json(shard, seconds, SHARD_RPS, seed));
    ingest
}

fn shard_result(shard: u32, seconds: u32, seed: u64) -> ShardResult {
    let mut ingest = shard_ingest(shard, seconds, seed);
    ingest.finish_input();
    let result = ingest.into_result();
    assert_eq!(result.rejected_lines, 0);
    result
}

fn encoded_shards() -> Vec<Vec<u8>> {
    let distinct: Vec<ShardResult> =
        (0..DISTINCT_SHARDS).map(|i| shard_result(i, TEST_SECONDS, u64::from(i))).collect();
    let encoded: Vec<Vec<u8>> = (0..SHARDS)
        .map(|shard| {
            let mut result = distinct[(shard % DISTINCT_SHARDS) as usize].clone();
            result.shard = shard;
            encode_shard_result(&result)
        })
        .collect();
    let total: usize = encoded.iter().map(Vec::len).sum();
    eprintln!(
        "shard result, {TEST_SECONDS} s at {SHARD_RPS} requests/s: {} bytes encoded ({} samples); {SHARDS} shards: {} bytes",
        encoded[0].len(),
        distinct[0].samples,
        total
    );
    let hour = encode_shard_result(&shard_result(0, 3600, 99));
    eprintln!("shard result, 3600 s at {SHARD_RPS} requests/s: {} bytes encoded (bytes per hour of test)", hour.len());
    encoded
}

fn decode_and_merge(encoded: &[Vec<u8>]) -> MetricSet {
    let mut merged = MetricSet::new();
    for bytes in encoded {
        let result = decode_shard_result(bytes).expect("valid shard result");
        merged.merge(&result.metrics);
    }
    merged
}

fn bench_merge(c: &mut Criterion) {
    let encoded = encoded_shards();
    let merged = decode_and_merge(&encoded);
    let requests = merged.metric("http_reqs").expect("requests were recorded").total().count();
    assert_eq!(requests, u64::from(SHARDS * TEST_SECONDS * SHARD_RPS));

    let mut group = c.benchmark_group("merge");
    group.sample_size(10);
    group.bench_function("decode_and_merge_100_shards_10_minutes", |b| b.iter(|| decode_and_merge(&encoded)));
    group.finish();

    let mut group = c.benchmark_group("live");
    group.sample_size(10);
    for minutes in [10, 60] {
        let ingest = shard_ingest(0, minutes * 60, 7);
        eprintln!(
            "live object {minutes} minutes in, at {SHARD_RPS} requests/s: {} bytes encoded",
            encode_shard_result(&ingest.live_result()).len()
        );
        group.bench_function(format!("build_and_encode_at_{minutes}_minutes"), |b| {
            b.iter(|| encode_shard_result(&ingest.live_result()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_merge);
criterion_main!(benches);
