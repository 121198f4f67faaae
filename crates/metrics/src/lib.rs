//! Exact, mergeable aggregates of k6 metrics.
//!
//! Every shard of a grid run turns its k6 metric stream into a [`MetricSet`]:
//! one [`Aggregate`] per metric and tag set, plus a per-second [`Timeline`].
//! The grid merges the shards' sets with [`MetricSet::merge`], which is exact:
//! counters and rates add, trends merge log-linear histograms with HDR's
//! bucketing (never averaged percentiles), gauges keep the latest value.
//!
//! Values are fixed-point integers in millionths ([`VALUE_SCALE`]). k6's
//! values are durations in nanoseconds shown as milliseconds, byte counts and
//! other integers, so this is lossless for what k6 emits in practice, and it
//! makes every sum exact and merge order irrelevant.
//!
//! [`ingest::Ingest`] builds a shard's [`ShardResult`] from k6's JSON output
//! as it streams; [`encode_shard_result`] and [`decode_shard_result`] are the
//! versioned binary format shards hand to the grid.
//!
//! This crate does no I/O: it is fed bytes and returns values.

mod aggregate;
mod codec;
mod groups;
mod histogram;
pub mod ingest;
mod live;
mod set;
mod tags;
mod timeline;

pub use aggregate::{Aggregate, VALUE_SCALE};
pub use codec::{decode_shard_result, encode_shard_result, DecodeError, FORMAT_VERSION};
pub use groups::{CheckTally, FirstSeen, GroupTree, GROUP_SEPARATOR, MAX_TREE_NODES};
pub use histogram::{Bucket, Histogram};
pub use live::{LatencyPercentiles, LiveLatency, LIVE_LATENCY_SECONDS};
pub use set::{GaugeStats, MetricEntry, MetricKind, MetricSet, ShardResult, ValueKind};
pub use tags::TagSet;
pub use timeline::{Second, Timeline};
