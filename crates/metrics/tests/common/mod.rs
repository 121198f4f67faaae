//! Helpers shared by the ingest tests of both k6 output formats.

#![allow(dead_code)]

use std::collections::BTreeMap;

use loadgrid_metrics::ingest::{Ingest, IngestConfig};
use loadgrid_metrics::{ShardResult, TagSet};

/// Ingests `input` fed in one chunk.
pub fn ingest_with(config: IngestConfig, input: &str) -> ShardResult {
    ingest_in_chunks(config, input.as_bytes(), &[])
}

/// Ingests `bytes` fed in chunks split at `positions` (sorted, ≤ len).
pub fn ingest_in_chunks(config: IngestConfig, bytes: &[u8], positions: &[usize]) -> ShardResult {
    let mut ingest = Ingest::new(config);
    let mut start = 0;
    for &position in positions {
        ingest.feed(&bytes[start..position]);
        start = position;
    }
    ingest.feed(&bytes[start..]);
    ingest.finish_input();
    ingest.into_result()
}

/// Ingests `bytes` fed one byte at a time.
pub fn ingest_bytewise(config: IngestConfig, bytes: &[u8]) -> ShardResult {
    let positions: Vec<usize> = (1..bytes.len()).collect();
    ingest_in_chunks(config, bytes, &positions)
}

pub fn tags(pairs: &[(&str, &str)]) -> TagSet {
    TagSet::from_pairs(pairs.iter().copied())
}

/// The series of `metric` as (tags, count) pairs.
pub fn series_counts(result: &ShardResult, metric: &str) -> BTreeMap<TagSet, u64> {
    let entry = result.metrics.metric(metric).unwrap();
    entry.series.iter().map(|(tags, aggregate)| (tags.clone(), aggregate.count())).collect()
}
