//! Turns k6's per-sample metric output (`--out json`) into a
//! [`crate::ShardResult`].
//!
//! The agent runs k6 with `--out json=/dev/fd/3` and pipes the stream into
//! [`Ingest`]. JSON costs k6 itself far less CPU than its CSV output (k6's
//! CSV writer builds a map and formats every value per sample; see
//! `bench/k6-output-cost.sh`), and k6's own CPU is what limits a shard's
//! request rate. The lines look like this (one object a line):
//!
//! ```text
//! {"type":"Metric","data":{"name":"my_t","type":"trend","contains":"time",...},"metric":"my_t"}
//! {"metric":"my_t","type":"Point","data":{"time":"2026-11-22T03:21:28.065004739Z","value":1.23,"tags":{"group":"","scenario":"default"}}}
//! ```
//!
//! `Metric` lines give a metric's type (as [`Ingest::set_metric_kind`]);
//! `Point` lines are samples; `data.metadata`, when present, is not a tag
//! and ignored. An empty tag value (`"group":""`) is an absent tag.
//!
//! This is the agent's hot path: k6 writes a dozen lines per request, so the
//! parser is built to do as little as possible per line. A line is split
//! where k6's fixed layout says its fields are, its value parsed straight
//! into fixed-point millionths, and the raw bytes of its metric name and
//! tags are looked up in a cache of routes. Only the first time a given byte
//! string is seen does the parser build the canonical [`TagSet`], apply the
//! cardinality cap, the collapsing of sub-timing trends and the selector
//! filters, and remember the result. After that, a line costs a hash lookup
//! and a few additions.
//!
//! The code is split by concern; read it in this order:
//!
//! - this file: the public API ([`Ingest`], [`IngestConfig`]) and the
//!   buffering of chunks into complete lines;
//! - `json.rs`: each line, from raw bytes to a route, a value and a time
//!   (the per-line hot path), and `Metric` lines;
//! - `json_scan.rs`: where the tags object ends, 8 bytes at a time;
//! - `json_values.rs`: RFC 3339 times and Go-formatted floats, exactly;
//! - `json_parse.rs`: a small general JSON reader for the slow paths
//!   (lines off k6's usual layout, new tag objects);
//! - `routing.rs`: route cache, per-metric series, tag-set caps, collapsed
//!   sub-timings and selectors, and recording a sample;
//! - `timeline.rs`: the per-second timeline while ingesting;
//! - `snapshot.rs`: the cheap live numbers of the agent's snapshot line.

mod json;
mod json_parse;
mod json_scan;
mod json_values;
mod routing;
mod snapshot;
mod timeline;
mod tree;

use std::collections::{BTreeMap, HashMap};

use memchr::memchr;
use rustc_hash::FxBuildHasher;

use crate::{MetricEntry, MetricKind, MetricSet, ShardResult, TagSet, Timeline, ValueKind};
use routing::{MetricSlot, Route};
pub use snapshot::Snapshot;
pub use timeline::TestWindow;
use timeline::TimelineBuilder;
use tree::TreeBuilder;

/// Longest line accepted; a longer one is rejected so that garbage without
/// newlines cannot exhaust memory while waiting for its end.
const MAX_LINE_BYTES: usize = 1 << 20;

/// How a shard's k6 output is turned into aggregates.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestConfig {
    pub shard: u32,
    /// Tag keys never kept (default: `["shard"]`, constant per shard).
    pub dropped_tags: Vec<String>,
    /// Sub-metrics named by thresholds: (metric name, filter). Each gets an
    /// exact aggregate in [`MetricEntry::selectors`], fed by every sample of
    /// that metric whose tags match the filter ([`TagSet::matches`], on the
    /// sample's full tags, dropped ones included), regardless of caps or
    /// collapsing.
    pub selectors: Vec<(String, TagSet)>,
    /// Max tag sets per metric in [`MetricEntry::series`]; later new tag sets
    /// go to [`MetricEntry::overflow`] and count in
    /// [`MetricSet::overflow_samples`].
    pub max_series_per_metric: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            shard: 0,
            dropped_tags: vec!["shard".to_owned()],
            selectors: Vec::new(),
            max_series_per_metric: 200,
        }
    }
}

/// A streaming parser of k6's JSON metric output that aggregates as it
/// reads.
pub struct Ingest {
    config: IngestConfig,
    /// Bytes after the last complete record, waiting for the rest of it.
    pending: Vec<u8>,
    /// Set after an over-long line was dropped: skip to the next newline.
    skipping_long_line: bool,
    /// Scratch buffer reused for every line, so that lines allocate nothing.
    route_key: Vec<u8>,
    routes: HashMap<Box<[u8]>, Route, FxBuildHasher>,
    /// Selector indices of cached routes; a route holds a range of it.
    route_selectors: Vec<u32>,
    metric_ids: HashMap<String, u32, FxBuildHasher>,
    metrics: Vec<MetricSlot>,
    timeline: TimelineBuilder,
    tree: TreeBuilder,
    totals: Totals,
    /// What the JSON hot path remembers between lines.
    json: json::JsonCache,
}

#[derive(Default)]
struct Totals {
    samples: u64,
    rejected_lines: u64,
    first_us: Option<i64>,
    last_us: Option<i64>,
    requests: u64,
    failed_requests: u64,
    iterations: u64,
    /// (time, VUs) of the latest `vus` sample by time.
    latest_vus: Option<(i64, u64)>,
}

impl Ingest {
    pub fn new(config: IngestConfig) -> Self {
        Ingest {
            config,
            pending: Vec::new(),
            skipping_long_line: false,
            route_key: Vec::with_capacity(256),
            routes: HashMap::default(),
            route_selectors: Vec::new(),
            metric_ids: HashMap::default(),
            metrics: Vec::new(),
            timeline: TimelineBuilder::default(),
            tree: TreeBuilder::default(),
            totals: Totals::default(),
            json: json::JsonCache::default(),
        }
    }

    /// Feeds bytes with arbitrary chunk boundaries (keeps a partial trailing
    /// line internally).
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut input = bytes;
        if self.skipping_long_line {
            match memchr(b'\n', input) {
                Some(newline) => {
                    self.skipping_long_line = false;
                    input = &input[newline + 1..];
                }
                None => return,
            }
        }
        if !self.pending.is_empty() {
            // Complete the pending line, so that only the bytes that belong
            // to it are copied; the rest is parsed in place.
            let mut pending = std::mem::take(&mut self.pending);
            let Some(newline) = memchr(b'\n', input) else {
                pending.extend_from_slice(input);
                self.keep_pending(pending);
                return;
            };
            pending.extend_from_slice(&input[..=newline]);
            input = &input[newline + 1..];
            self.process_json_lines(&pending);
            pending.clear();
            self.pending = pending;
        }
        let consumed = self.process_json_lines(input);
        self.keep_pending(input[consumed..].to_vec());
    }

    #[inline]
    fn count_rejected(&mut self, rejected: bool) {
        self.totals.rejected_lines += u64::from(rejected);
    }

    fn keep_pending(&mut self, pending: Vec<u8>) {
        // A line without end longer than any line would be accepted is
        // rejected now, as it would be once complete.
        if pending.len() > MAX_LINE_BYTES {
            self.totals.rejected_lines += 1;
            self.skipping_long_line = true;
            self.pending = Vec::new();
        } else {
            self.pending = pending;
        }
    }

    /// Processes a trailing line without newline, if any.
    pub fn finish_input(&mut self) {
        self.skipping_long_line = false;
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.push(b'\n');
        self.process_json_lines(&pending);
    }

    /// Types of custom metrics, from k6's REST API `/v1/metrics` (JSON input
    /// also calls this for each `Metric` line). May be called at any time,
    /// repeatedly: non-trends give up the histograms kept while their type
    /// was unknown.
    pub fn set_metric_kind(&mut self, name: &str, kind: MetricKind, contains: ValueKind) {
        let id = self.metric_id(name);
        self.metrics[id as usize].resolve_kind(kind, contains);
    }

    /// When the shard's test ran: the timeline keeps only the VU gauge
    /// samples inside it (k6 samples them while paused and lingering too).
    /// May be called at any time, with either end unknown.
    pub fn set_test_window(&mut self, window: TestWindow) {
        self.timeline.set_window(window);
    }

    /// A copy of everything so far but the per-second latency histograms:
    /// what the live view and live grid-wide thresholds read.
    pub fn live_result(&self) -> ShardResult {
        let entries =
            self.metrics.iter().filter(|slot| slot.samples > 0).map(|slot| (slot.name.clone(), slot.to_entry()));
        let overflow_samples = self.overflow_samples();
        self.result_with(entries.collect(), self.timeline.live_timeline(), overflow_samples)
    }

    /// The final result.
    pub fn into_result(mut self) -> ShardResult {
        let overflow_samples = self.overflow_samples();
        let metrics = std::mem::take(&mut self.metrics);
        let timeline = std::mem::take(&mut self.timeline).into_timeline();
        let entries =
            metrics.into_iter().filter(|slot| slot.samples > 0).map(|slot| (slot.name.clone(), slot.into_entry()));
        self.result_with(entries.collect(), timeline, overflow_samples)
    }

    fn overflow_samples(&self) -> u64 {
        self.metrics.iter().map(|slot| slot.overflow_samples).sum()
    }

    fn result_with(
        &self,
        metrics: BTreeMap<String, MetricEntry>,
        timeline: Timeline,
        overflow_samples: u64,
    ) -> ShardResult {
        ShardResult {
            shard: self.config.shard,
            metrics: MetricSet { metrics, timeline, overflow_samples, groups: self.tree.to_tree() },
            first_sample_us: self.totals.first_us,
            last_sample_us: self.totals.last_us,
            samples: self.totals.samples,
            rejected_lines: self.totals.rejected_lines,
        }
    }

    /// Tag-set cap warnings: metrics whose cap was hit, with the count of
    /// overflowed samples.
    pub fn overflowed_metrics(&self) -> Vec<(String, u64)> {
        let mut overflowed: Vec<(String, u64)> = self
            .metrics
            .iter()
            .filter(|slot| slot.overflow_samples > 0)
            .map(|slot| (slot.name.clone(), slot.overflow_samples))
            .collect();
        overflowed.sort();
        overflowed
    }

    /// A counter's sum so far (e.g. `dropped_iterations`), 0 when unseen.
    pub fn counter_total(&self, name: &str) -> u64 {
        self.metrics
            .iter()
            .filter(|slot| slot.name == name && slot.samples > 0)
            .map(|slot| slot.to_entry().counter_sum())
            .sum()
    }

    /// Lines that could not be read so far.
    pub fn rejected_lines(&self) -> u64 {
        self.totals.rejected_lines
    }

    /// Samples read so far.
    pub fn samples(&self) -> u64 {
        self.totals.samples
    }

    /// The time of the latest sample of the test's activity so far (VU
    /// gauges excluded), in microseconds since the epoch.
    pub fn last_sample_us(&self) -> Option<i64> {
        self.totals.last_us
    }
}
