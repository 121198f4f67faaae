//! Turns k6's CSV metric output into a [`crate::ShardResult`].
//!
//! The agent runs k6 with `--out csv=/dev/fd/3` and
//! `K6_CSV_TIME_FORMAT=unix_micro` and pipes the stream into [`CsvIngest`]:
//!
//! ```text
//! metric_name,timestamp,metric_value,check,expected_response,group,method,name,scenario,status,extra_tags,metadata
//! http_reqs,1795312265504295,1.000000,,false,,GET,foo,a,404,mytag=v&shard=0,
//! ```
//!
//! The header names the columns (they depend on `--system-tags`). Every
//! column other than `metric_name`, `timestamp`, `metric_value`, `extra_tags`
//! and `metadata` is a tag column; `extra_tags` holds the other tags as
//! `k=v&k2=v2` in no particular order; `metadata` is not a tag and ignored.
//!
//! This is the agent's hot path: k6 writes a dozen lines per request, so the
//! parser is built to do as little as possible per line. A line is split with
//! `memchr`, its value parsed straight into fixed-point millionths, and the
//! raw bytes of its metric name and tag columns are looked up in a cache of
//! routes. Only the first time a given byte string is seen does the parser
//! build the canonical [`TagSet`], apply the cardinality cap, the collapsing
//! of sub-timing trends and the selector filters, and remember the result.
//! After that, a line costs a hash lookup and a few additions.

use std::collections::{BTreeMap, HashMap};

use memchr::memchr;
use rustc_hash::FxBuildHasher;

use crate::aggregate::to_fixed;
use crate::{
    Aggregate, MetricEntry, MetricKind, MetricSet, Second, ShardResult, TagSet, Timeline, ValueKind, VALUE_SCALE,
};

/// k6 sub-timings of a request that nobody breaks down by tag in practice;
/// keeping them per tag set would multiply trend histograms sixfold.
const COLLAPSED_METRICS: [&str; 6] = [
    "http_req_blocked",
    "http_req_connecting",
    "http_req_tls_handshaking",
    "http_req_sending",
    "http_req_waiting",
    "http_req_receiving",
];

/// Routes cached before the cache is emptied. Distinct raw tag strings are
/// few in a healthy test (tag sets × orders of `extra_tags`), but a tag that
/// holds ids would otherwise grow the cache without bound.
const MAX_CACHED_ROUTES: usize = 1 << 16;

/// Physical lines one quoted record may span (fields with newlines). Past
/// that, an unbalanced quote is taken for garbage rather than a long field.
const MAX_RECORD_LINES: usize = 16;

/// Longest line accepted; a longer one is rejected so that garbage without
/// newlines cannot exhaust memory while waiting for its end.
const MAX_LINE_BYTES: usize = 1 << 20;

/// A second this far past the end of the timeline so far is kept apart
/// rather than growing the dense timeline to reach it (a stray timestamp must
/// not allocate years of seconds).
const MAX_TIMELINE_GROWTH: i64 = 3600;

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

/// Cheap live numbers for the agent's periodic snapshot line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Snapshot {
    /// Totals since the start.
    pub requests: u64,
    pub failed_requests: u64,
    pub iterations: u64,
    /// The latest `vus` gauge value.
    pub vus: u64,
    /// Requests per second over the last `window_seconds` complete seconds
    /// (fewer at the start of a run).
    pub rps: f64,
    /// `http_req_duration` p95 over the same window, in milliseconds, from
    /// the timeline's 2-digit histograms.
    pub p95_ms: Option<f64>,
    /// Share of failed requests over the same window.
    pub error_rate: Option<f64>,
    pub samples: u64,
    pub rejected_lines: u64,
}

/// A streaming parser of k6 CSV output that aggregates as it reads.
pub struct CsvIngest {
    config: IngestConfig,
    header: Header,
    /// Bytes after the last complete record, waiting for the rest of it.
    pending: Vec<u8>,
    /// Set after an over-long line was dropped: skip to the next newline.
    skipping_long_line: bool,
    /// Scratch buffers reused for every line, so that lines allocate nothing.
    spans: Vec<Span>,
    route_key: Vec<u8>,
    routes: HashMap<Box<[u8]>, Route, FxBuildHasher>,
    /// Selector indices of cached routes; a route holds a range of it.
    route_selectors: Vec<u32>,
    metric_ids: HashMap<String, u32, FxBuildHasher>,
    metrics: Vec<MetricSlot>,
    timeline: TimelineBuilder,
    totals: Totals,
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

enum Header {
    /// The first line has not been read yet.
    Pending,
    Valid(Layout),
    /// The header lacks a required column: every line is rejected.
    Invalid,
}

/// Where things are in a line, learned from the header.
struct Layout {
    columns: usize,
    name: usize,
    timestamp: usize,
    value: usize,
    /// Tag columns and `extra_tags`, in column order.
    tag_columns: Vec<(usize, TagColumn)>,
    /// First and last column of `tag_columns` when they are adjacent (always,
    /// with k6's layout): the route key is then one slice of the line.
    adjacent_tags: Option<(usize, usize)>,
    /// Set when the columns are in k6's own order, which the hot path reads.
    known: Option<KnownLayout>,
}

/// k6's column order: `metric_name,timestamp,metric_value`, the tag columns
/// and `extra_tags`, and possibly `metadata` last.
#[derive(Clone, Copy)]
struct KnownLayout {
    columns: u32,
    trailing_metadata: bool,
}

enum TagColumn {
    Named(String),
    Extra,
}

/// Raw field bounds within a record, quotes included.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(self, record: &[u8]) -> &[u8] {
        &record[self.start as usize..self.end as usize]
    }
}

/// What a line with a given metric name and raw tag bytes updates.
#[derive(Clone, Copy)]
struct Route {
    metric: u32,
    /// Index into the metric's `series`, or [`OVERFLOW`].
    series: u32,
    selectors_start: u32,
    selectors_len: u32,
}

const OVERFLOW: u32 = u32::MAX;

/// What a metric's samples mean for the per-second timeline.
#[derive(Clone, Copy, PartialEq)]
enum TimelineRole {
    None,
    Requests,
    FailedRequests,
    Iterations,
    Vus,
    VusMax,
    Latency,
}

impl TimelineRole {
    fn of(name: &str) -> Self {
        match name {
            "http_reqs" => TimelineRole::Requests,
            "http_req_failed" => TimelineRole::FailedRequests,
            "iterations" => TimelineRole::Iterations,
            "vus" => TimelineRole::Vus,
            "vus_max" => TimelineRole::VusMax,
            "http_req_duration" => TimelineRole::Latency,
            _ => TimelineRole::None,
        }
    }
}

/// One metric while ingesting: series in a vector so routes can hold indices.
#[derive(Clone)]
struct MetricSlot {
    name: String,
    kind: Option<MetricKind>,
    contains: ValueKind,
    collapsed: bool,
    role: TimelineRole,
    samples: u64,
    series: Vec<(TagSet, Aggregate)>,
    series_ids: HashMap<TagSet, u32, FxBuildHasher>,
    overflow: Option<Aggregate>,
    overflow_samples: u64,
    selectors: Vec<(TagSet, Aggregate)>,
}

impl MetricSlot {
    fn new(name: &str, config: &IngestConfig) -> Self {
        let (kind, contains) = match MetricKind::builtin(name) {
            Some((kind, contains)) => (Some(kind), contains),
            None => (None, ValueKind::Default),
        };
        let mut slot = MetricSlot {
            name: name.to_owned(),
            kind,
            contains,
            collapsed: COLLAPSED_METRICS.contains(&name),
            role: TimelineRole::of(name),
            samples: 0,
            series: Vec::new(),
            series_ids: HashMap::default(),
            overflow: None,
            overflow_samples: 0,
            selectors: Vec::new(),
        };
        for (metric, filter) in &config.selectors {
            if metric == name && !slot.selectors.iter().any(|(existing, _)| existing == filter) {
                slot.selectors.push((filter.clone(), Aggregate::new(slot.wants_histogram())));
            }
        }
        slot
    }

    fn wants_histogram(&self) -> bool {
        matches!(self.kind, None | Some(MetricKind::Trend))
    }

    /// The series index for `tags` (already without dropped tags), creating
    /// the series if the cap allows, else [`OVERFLOW`].
    fn series_for(&mut self, tags: TagSet, cap: usize) -> u32 {
        if let Some(&id) = self.series_ids.get(&tags) {
            return id;
        }
        if self.series.len() >= cap {
            return OVERFLOW;
        }
        let id = self.series.len() as u32;
        self.series_ids.insert(tags.clone(), id);
        self.series.push((tags, Aggregate::new(self.wants_histogram())));
        id
    }

    fn resolve_kind(&mut self, kind: MetricKind, contains: ValueKind) {
        self.kind = Some(kind);
        self.contains = contains;
        if kind != MetricKind::Trend {
            let aggregates = self.series.iter_mut().chain(self.selectors.iter_mut()).map(|(_, a)| a);
            for aggregate in aggregates.chain(self.overflow.as_mut()) {
                aggregate.drop_histogram();
            }
        }
    }

    fn to_entry(&self) -> MetricEntry {
        let mut entry = MetricEntry::new(self.kind, self.contains);
        entry.collapsed = self.collapsed;
        entry.series = self.series.iter().cloned().collect();
        entry.overflow = self.overflow.clone();
        entry.selectors = self.selectors.iter().cloned().collect();
        if let Some(kind) = self.kind {
            entry.resolve_kind(kind, self.contains);
        }
        entry
    }

    fn into_entry(self) -> MetricEntry {
        let mut entry = MetricEntry::new(self.kind, self.contains);
        entry.collapsed = self.collapsed;
        entry.series = self.series.into_iter().collect();
        entry.overflow = self.overflow;
        entry.selectors = self.selectors.into_iter().collect();
        if let Some(kind) = self.kind {
            entry.resolve_kind(kind, self.contains);
        }
        entry
    }
}

/// The per-second timeline while ingesting: a vector from the first second
/// on, because samples arrive nearly in time order and a map lookup per line
/// would cost more than the rest of the line. Seconds that would stretch the
/// vector too far (stray timestamps) go to `outliers`.
#[derive(Clone, Default)]
struct TimelineBuilder {
    first_second: i64,
    seconds: Vec<Second>,
    outliers: BTreeMap<i64, Second>,
}

impl TimelineBuilder {
    #[inline]
    fn second_mut(&mut self, unix_second: i64) -> &mut Second {
        if self.seconds.is_empty() {
            self.first_second = unix_second;
        }
        let offset = unix_second.wrapping_sub(self.first_second);
        let len = self.seconds.len() as i64;
        if (0..len).contains(&offset) {
            return &mut self.seconds[offset as usize];
        }
        if (len..len + MAX_TIMELINE_GROWTH).contains(&offset) {
            self.grow_to(offset);
            return &mut self.seconds[offset as usize];
        }
        self.outliers.entry(unix_second).or_default()
    }

    fn grow_to(&mut self, offset: i64) {
        while self.seconds.len() as i64 <= offset {
            let unix_second = self.first_second + self.seconds.len() as i64;
            // An outlier now inside the dense range moves in, so each second
            // lives in exactly one place.
            let second = self.outliers.remove(&unix_second).unwrap_or_default();
            self.seconds.push(second);
        }
    }

    fn get(&self, unix_second: i64) -> Option<&Second> {
        let offset = unix_second.wrapping_sub(self.first_second);
        if (0..self.seconds.len() as i64).contains(&offset) {
            Some(&self.seconds[offset as usize])
        } else {
            self.outliers.get(&unix_second)
        }
    }

    fn into_timeline(self) -> Timeline {
        let first_second = self.first_second;
        let mut seconds = self.outliers;
        seconds.extend(self.seconds.into_iter().enumerate().map(|(i, second)| (first_second + i as i64, second)));
        let mut timeline = Timeline { seconds };
        timeline.carry_gauges_forward();
        timeline
    }
}

impl CsvIngest {
    pub fn new(config: IngestConfig) -> Self {
        CsvIngest {
            config,
            header: Header::Pending,
            pending: Vec::new(),
            skipping_long_line: false,
            spans: Vec::with_capacity(32),
            route_key: Vec::with_capacity(256),
            routes: HashMap::default(),
            route_selectors: Vec::new(),
            metric_ids: HashMap::default(),
            metrics: Vec::new(),
            timeline: TimelineBuilder::default(),
            totals: Totals::default(),
        }
    }

    /// Feeds bytes with arbitrary chunk boundaries (keeps a partial trailing
    /// line internally). The first line is the header.
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
            // Complete the pending record a line at a time, so that only the
            // bytes that belong to it are copied; the rest is parsed in place.
            let mut pending = std::mem::take(&mut self.pending);
            loop {
                let Some(newline) = memchr(b'\n', input) else {
                    pending.extend_from_slice(input);
                    self.keep_pending(pending);
                    return;
                };
                pending.extend_from_slice(&input[..=newline]);
                input = &input[newline + 1..];
                let consumed = self.process_records(&pending, false);
                pending.drain(..consumed);
                if pending.is_empty() {
                    self.pending = pending;
                    break;
                }
            }
        }
        let consumed = self.process_records(input, false);
        self.keep_pending(input[consumed..].to_vec());
    }

    fn keep_pending(&mut self, pending: Vec<u8>) {
        // A line without end longer than any line would be accepted is
        // rejected now, as it would be once complete; a pending quoted record
        // has a larger but still bounded allowance.
        let too_long = match memchr::memrchr(b'\n', &pending) {
            None => pending.len() > MAX_LINE_BYTES,
            Some(_) => pending.len() > MAX_LINE_BYTES * MAX_RECORD_LINES,
        };
        if too_long {
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
        self.process_records(&pending, true);
    }

    /// Types of custom metrics, learned from k6's REST API `/v1/metrics`. May
    /// be called at any time, repeatedly: non-trends give up the histograms
    /// kept while their type was unknown.
    pub fn set_metric_kind(&mut self, name: &str, kind: MetricKind, contains: ValueKind) {
        let id = self.metric_id(name);
        self.metrics[id as usize].resolve_kind(kind, contains);
    }

    /// Cheap live numbers for the periodic snapshot line.
    pub fn snapshot(&self, window_seconds: u32) -> Snapshot {
        let totals = &self.totals;
        let mut snapshot = Snapshot {
            requests: totals.requests,
            failed_requests: totals.failed_requests,
            iterations: totals.iterations,
            vus: totals.latest_vus.map_or(0, |(_, vus)| vus),
            samples: totals.samples,
            rejected_lines: totals.rejected_lines,
            ..Snapshot::default()
        };
        let (Some(first_us), Some(last_us)) = (totals.first_us, totals.last_us) else {
            return snapshot;
        };
        // The latest second is still filling up; only the ones before it are
        // complete.
        let current_second = last_us.div_euclid(1_000_000);
        let complete = (current_second - first_us.div_euclid(1_000_000)).min(i64::from(window_seconds));
        if complete <= 0 {
            return snapshot;
        }
        let (mut requests, mut failed) = (0u64, 0u64);
        let mut latency: Option<crate::Histogram> = None;
        for unix_second in current_second - complete..current_second {
            let Some(second) = self.timeline.get(unix_second) else { continue };
            requests += second.requests;
            failed += second.failed_requests;
            if let Some(histogram) = &second.latency {
                match &mut latency {
                    Some(merged) => merged.add(histogram),
                    None => latency = Some(histogram.clone()),
                }
            }
        }
        snapshot.rps = requests as f64 / complete as f64;
        snapshot.error_rate = (requests > 0).then(|| failed as f64 / requests as f64);
        snapshot.p95_ms =
            latency.and_then(|histogram| histogram.value_at_quantile(0.95)).map(|p95| p95 as f64 / VALUE_SCALE as f64);
        snapshot
    }

    /// A copy of everything so far (used for live grid-wide threshold
    /// evaluation); gauges carried forward like [`CsvIngest::into_result`].
    pub fn live_result(&self) -> ShardResult {
        let entries =
            self.metrics.iter().filter(|slot| slot.samples > 0).map(|slot| (slot.name.clone(), slot.to_entry()));
        let overflow_samples = self.overflow_samples();
        self.result_with(entries.collect(), self.timeline.clone().into_timeline(), overflow_samples)
    }

    /// Final result: carries timeline gauges forward
    /// ([`Timeline::carry_gauges_forward`]).
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
            metrics: MetricSet { metrics, timeline, overflow_samples },
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

    /// Lines that could not be read so far.
    pub fn rejected_lines(&self) -> u64 {
        self.totals.rejected_lines
    }

    /// Samples read so far.
    pub fn samples(&self) -> u64 {
        self.totals.samples
    }

    /// Processes every complete record in `data` and returns how many bytes
    /// that consumed; the rest is an incomplete record. At the end of input
    /// (`at_eof`), a record whose quotes never close is rejected instead.
    fn process_records(&mut self, data: &[u8], at_eof: bool) -> usize {
        let mut start = 0;
        loop {
            let known = match &self.header {
                Header::Valid(layout) => layout.known,
                _ => None,
            };
            let scan = match known {
                Some(known) => {
                    let mut shape = Shape::default();
                    let scan = scan_line(data, start, &mut shape);
                    if let LineScan::Line { end } = scan {
                        let accepted = self.process_known_line(&data[start..end], &shape, known);
                        self.count_rejected(!accepted);
                    }
                    scan
                }
                None => {
                    let mut spans = std::mem::take(&mut self.spans);
                    let scan = scan_line(data, start, &mut SpanSink::new(&mut spans));
                    if let LineScan::Line { end } = scan {
                        spans.push(Span { start: last_field_start(&spans), end: (end - start) as u32 });
                        let accepted = self.process_line(&data[start..end], &mut spans);
                        self.count_rejected(!accepted);
                    }
                    self.spans = spans;
                    scan
                }
            };
            match scan {
                LineScan::Incomplete => return start,
                LineScan::Line { end } => start = end + 1,
                LineScan::MultiLine => {
                    let mut spans = std::mem::take(&mut self.spans);
                    let next = self.process_quoted_record(data, start, at_eof, &mut spans);
                    self.spans = spans;
                    match next {
                        Some(next) => start = next,
                        None => return start,
                    }
                }
            }
        }
    }

    /// The hot path: a one-line record in k6's own column order, of which
    /// the scanner noted only the comma positions that matter.
    #[inline]
    fn process_known_line(&mut self, line: &[u8], shape: &Shape, known: KnownLayout) -> bool {
        if line.len() > MAX_LINE_BYTES {
            return false;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return true;
        }
        if shape.commas + 1 != known.columns {
            return false;
        }
        let [name_end, timestamp_end, value_end] = shape.first.map(|comma| comma as usize);
        let Some(time_us) = parse_timestamp(&line[name_end + 1..timestamp_end]) else { return false };
        let Some(value) = parse_fixed(&line[timestamp_end + 1..value_end]) else { return false };
        let tags_end = if known.trailing_metadata { shape.last() } else { line.len() };
        // The route key: the raw metric name, then the raw tag columns. Raw
        // CSV fields joined by commas read back unambiguously, so equal keys
        // always mean equal tags.
        self.route_key.clear();
        self.route_key.extend_from_slice(&line[..=name_end]);
        self.route_key.extend_from_slice(&line[value_end + 1..tags_end]);
        let route = match self.routes.get(self.route_key.as_slice()) {
            Some(route) => *route,
            None => {
                let mut spans = std::mem::take(&mut self.spans);
                let route = (split_quoted_fields(line, &mut spans) && spans.len() == known.columns as usize)
                    .then(|| self.new_route(line, &spans))
                    .flatten();
                self.spans = spans;
                match route {
                    Some(route) => route,
                    None => return false,
                }
            }
        };
        self.record(route, value, time_us);
        true
    }

    /// A one-line record in any column order (or the header), its fields
    /// split by the scanner.
    fn process_line(&mut self, mut line: &[u8], spans: &mut [Span]) -> bool {
        if line.len() > MAX_LINE_BYTES {
            return false;
        }
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
            if let Some(last) = spans.last_mut() {
                last.end -= 1;
            }
        }
        line.is_empty() || self.process_fields(line, spans)
    }

    /// The record starting at `start` has a newline inside quotes. Returns
    /// where the next record starts, or None if the record is not complete
    /// yet.
    #[cold]
    fn process_quoted_record(
        &mut self,
        data: &[u8],
        start: usize,
        at_eof: bool,
        spans: &mut Vec<Span>,
    ) -> Option<usize> {
        let line_end = start + memchr(b'\n', &data[start..])?;
        let line = &data[start..line_end];
        if line.len() > MAX_LINE_BYTES {
            self.count_rejected(true);
            return Some(line_end + 1);
        }
        // A quoted field may hold newlines: the record ends at the first
        // newline after which its quotes balance.
        let mut record_end = line_end;
        let mut odd_quotes = count_quotes(line) % 2 == 1;
        let mut lines = 1;
        while odd_quotes && lines < MAX_RECORD_LINES {
            match memchr(b'\n', &data[record_end + 1..]) {
                Some(next) => {
                    let next_end = record_end + 1 + next;
                    odd_quotes ^= count_quotes(&data[record_end + 1..next_end]) % 2 == 1;
                    record_end = next_end;
                    lines += 1;
                }
                None if at_eof => break,
                None => return None,
            }
        }
        if !odd_quotes {
            let record = &data[start..record_end];
            let record = record.strip_suffix(b"\r").unwrap_or(record);
            if split_quoted_fields(record, spans) && self.process_fields(record, spans) {
                return Some(record_end + 1);
            }
        }
        // Garbage, not a record: drop only its first line, so that one stray
        // quote cannot swallow the good lines after it.
        self.count_rejected(true);
        Some(line_end + 1)
    }

    #[inline]
    fn count_rejected(&mut self, rejected: bool) {
        self.totals.rejected_lines += u64::from(rejected);
    }

    fn process_fields(&mut self, record: &[u8], spans: &[Span]) -> bool {
        let layout = match &self.header {
            Header::Valid(layout) => layout,
            Header::Invalid => return false,
            Header::Pending => {
                let layout = Layout::from_header(record, spans);
                let valid = layout.is_some();
                self.header = layout.map_or(Header::Invalid, Header::Valid);
                return valid;
            }
        };
        if spans.len() != layout.columns {
            return false;
        }
        // k6 never quotes numbers, so neither does the hot path; quoted ones
        // are rejected alike whatever the column order.
        let Some(time_us) = parse_timestamp(spans[layout.timestamp].of(record)) else { return false };
        let Some(value) = parse_fixed(spans[layout.value].of(record)) else { return false };
        // The route key, as in `process_known_line`.
        self.route_key.clear();
        self.route_key.extend_from_slice(spans[layout.name].of(record));
        match layout.adjacent_tags {
            Some((first, last)) => {
                self.route_key.push(b',');
                self.route_key.extend_from_slice(&record[spans[first].start as usize..spans[last].end as usize]);
            }
            None => {
                for &(column, _) in &layout.tag_columns {
                    self.route_key.push(b',');
                    self.route_key.extend_from_slice(spans[column].of(record));
                }
            }
        }
        let route = match self.routes.get(self.route_key.as_slice()) {
            Some(route) => *route,
            None => match self.new_route(record, spans) {
                Some(route) => route,
                None => return false,
            },
        };
        self.record(route, value, time_us);
        true
    }

    #[inline]
    fn record(&mut self, route: Route, value: i64, time_us: i64) {
        let totals = &mut self.totals;
        totals.samples += 1;
        totals.first_us = Some(totals.first_us.map_or(time_us, |first| first.min(time_us)));
        totals.last_us = Some(totals.last_us.map_or(time_us, |last| last.max(time_us)));

        let slot = &mut self.metrics[route.metric as usize];
        slot.samples += 1;
        if route.series == OVERFLOW {
            slot.overflow_samples += 1;
            let wants_histogram = slot.wants_histogram();
            slot.overflow.get_or_insert_with(|| Aggregate::new(wants_histogram)).record(value, time_us);
        } else {
            slot.series[route.series as usize].1.record(value, time_us);
        }
        let selectors = route.selectors_start as usize..(route.selectors_start + route.selectors_len) as usize;
        for &selector in &self.route_selectors[selectors] {
            slot.selectors[selector as usize].1.record(value, time_us);
        }

        if slot.role == TimelineRole::None {
            return;
        }
        let second = self.timeline.second_mut(time_us.div_euclid(1_000_000));
        match slot.role {
            TimelineRole::Requests => {
                second.requests += 1;
                totals.requests += 1;
            }
            TimelineRole::FailedRequests => {
                let failed = u64::from(value != 0);
                second.failed_requests += failed;
                totals.failed_requests += failed;
            }
            TimelineRole::Iterations => {
                second.iterations += 1;
                totals.iterations += 1;
            }
            TimelineRole::Vus => {
                let vus = gauge_count(value);
                second.vus = vus;
                if totals.latest_vus.is_none_or(|(time, _)| time <= time_us) {
                    totals.latest_vus = Some((time_us, vus));
                }
            }
            TimelineRole::VusMax => second.vus_max = gauge_count(value),
            TimelineRole::Latency => second.record_latency(value),
            TimelineRole::None => {}
        }
    }

    /// Resolves a line's metric and tags the slow way and caches the result
    /// under the current route key. None if the metric name is unusable.
    #[cold]
    fn new_route(&mut self, record: &[u8], spans: &[Span]) -> Option<Route> {
        let Header::Valid(layout) = &self.header else { return None };
        // The scanner split at commas outside quotes without checking the
        // quoting itself; the fields that make up the route are checked
        // here, once per distinct route key, and a bad one is never cached.
        let key_columns = std::iter::once(layout.name).chain(layout.tag_columns.iter().map(|(column, _)| *column));
        if !key_columns.into_iter().all(|column| well_quoted(spans[column].of(record))) {
            return None;
        }
        let name = unquoted(spans[layout.name].of(record));
        let name = std::str::from_utf8(&name).ok().filter(|name| !name.is_empty())?;

        let mut all_tags = TagSet::new();
        for (column, tag) in &layout.tag_columns {
            let value = unquoted(spans[*column].of(record));
            if value.is_empty() {
                continue;
            }
            match tag {
                TagColumn::Named(key) => all_tags.insert(key.clone(), String::from_utf8_lossy(&value).into_owned()),
                TagColumn::Extra => {
                    for pair in value.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
                        let (key, value) = match memchr(b'=', pair) {
                            Some(equals) => (&pair[..equals], &pair[equals + 1..]),
                            None => (pair, &b""[..]),
                        };
                        if !key.is_empty() {
                            all_tags.insert(
                                String::from_utf8_lossy(key).into_owned(),
                                String::from_utf8_lossy(value).into_owned(),
                            );
                        }
                    }
                }
            }
        }

        let metric = self.metric_id(name);
        let slot = &mut self.metrics[metric as usize];
        let series = if slot.collapsed {
            slot.series_for(TagSet::new(), usize::MAX)
        } else {
            let kept = TagSet::from_pairs(
                all_tags.iter().filter(|(key, _)| !self.config.dropped_tags.iter().any(|dropped| dropped == key)),
            );
            slot.series_for(kept, self.config.max_series_per_metric)
        };

        if self.routes.len() >= MAX_CACHED_ROUTES {
            self.routes.clear();
            self.route_selectors.clear();
        }
        let selectors_start = self.route_selectors.len() as u32;
        for (index, (filter, _)) in slot.selectors.iter().enumerate() {
            if all_tags.matches(filter) {
                self.route_selectors.push(index as u32);
            }
        }
        let route = Route {
            metric,
            series,
            selectors_start,
            selectors_len: self.route_selectors.len() as u32 - selectors_start,
        };
        self.routes.insert(self.route_key.as_slice().into(), route);
        Some(route)
    }

    fn metric_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.metric_ids.get(name) {
            return id;
        }
        let id = self.metrics.len() as u32;
        self.metrics.push(MetricSlot::new(name, &self.config));
        self.metric_ids.insert(name.to_owned(), id);
        id
    }
}

impl Layout {
    fn from_header(record: &[u8], spans: &[Span]) -> Option<Layout> {
        if !spans.iter().all(|span| well_quoted(span.of(record))) {
            return None;
        }
        let names: Vec<String> =
            spans.iter().map(|span| String::from_utf8_lossy(&unquoted(span.of(record))).into_owned()).collect();
        let position = |wanted: &str| names.iter().position(|name| name == wanted);
        let mut tag_columns = Vec::new();
        for (column, name) in names.iter().enumerate() {
            match name.as_str() {
                "metric_name" | "timestamp" | "metric_value" | "metadata" => {}
                "extra_tags" => tag_columns.push((column, TagColumn::Extra)),
                _ => tag_columns.push((column, TagColumn::Named(name.clone()))),
            }
        }
        let adjacent_tags = match (tag_columns.first(), tag_columns.last()) {
            (Some(&(first, _)), Some(&(last, _))) if last - first + 1 == tag_columns.len() => Some((first, last)),
            _ => None,
        };
        let layout = Layout {
            columns: names.len(),
            name: position("metric_name")?,
            timestamp: position("timestamp")?,
            value: position("metric_value")?,
            tag_columns,
            adjacent_tags,
            known: None,
        };
        let trailing_metadata = names.last().is_some_and(|name| name == "metadata");
        let tags_end = if trailing_metadata { names.len() - 1 } else { names.len() };
        let known = (layout.name, layout.timestamp, layout.value) == (0, 1, 2)
            && layout.adjacent_tags.is_some_and(|(first, last)| first == 3 && last + 1 == tags_end)
            && u32::try_from(names.len()).is_ok();
        let known = known.then_some(KnownLayout { columns: names.len() as u32, trailing_metadata });
        Some(Layout { known, ..layout })
    }
}

fn count_quotes(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'"', bytes).count()
}

enum LineScan {
    /// A record on one line ends at `end` (its newline); its fields are split
    /// at the commas outside quotes. Quoting is checked later, and only for
    /// lines whose route is not cached yet.
    Line { end: usize },
    /// A newline inside quotes: a multi-line record or garbage, for the
    /// careful path.
    MultiLine,
    /// No newline yet.
    Incomplete,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` that equals `byte`, exactly (no
/// false positives from borrows, unlike the shorter `haszero` trick).
#[inline(always)]
fn byte_mask(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !(((x & !HIGH_BITS) + !HIGH_BITS) | x) & HIGH_BITS
}

/// For a mask with high bits only, sets each byte's high bit to the parity of
/// the bits at or before it: which bytes lie inside quotes.
#[inline(always)]
fn prefix_parity(mut mask: u64) -> u64 {
    mask ^= mask << 8;
    mask ^= mask << 16;
    mask ^= mask << 32;
    mask
}

/// Receives the commas outside quotes of one line, a word at a time.
trait CommaSink {
    /// `commas` has the high bit set in each byte that is a comma, of the 8
    /// bytes starting `offset` bytes into the line.
    fn commas(&mut self, commas: u64, offset: usize);
}

/// What the hot path needs of a line: the first three commas (ending the
/// name, timestamp and value), the last one (before `metadata`) and the count.
#[derive(Default)]
struct Shape {
    commas: u32,
    first: [u32; 3],
    /// The last word with commas and its offset: the last comma is worked
    /// out from them once, not for every word.
    last_commas: u64,
    last_offset: usize,
}

impl Shape {
    fn last(&self) -> usize {
        self.last_offset + (63 - self.last_commas.leading_zeros() as usize) / 8
    }
}

impl CommaSink for Shape {
    #[inline(always)]
    fn commas(&mut self, mut commas: u64, offset: usize) {
        self.last_commas = commas;
        self.last_offset = offset;
        while self.commas < 3 && commas != 0 {
            self.first[self.commas as usize] = (offset + commas.trailing_zeros() as usize / 8) as u32;
            self.commas += 1;
            commas &= commas - 1;
        }
        self.commas += count_bytes(commas);
    }
}

/// How many bytes a [`byte_mask`] marks. A multiply sums the marks into the
/// top byte; `count_ones` would be a long sequence without `popcnt`, which
/// the baseline x86-64 target lacks.
#[inline(always)]
fn count_bytes(mask: u64) -> u32 {
    ((mask >> 7).wrapping_mul(ONES) >> 56) as u32
}

/// Collects every field's span, for any column order.
struct SpanSink<'a> {
    spans: &'a mut Vec<Span>,
    field_start: u32,
}

impl<'a> SpanSink<'a> {
    fn new(spans: &'a mut Vec<Span>) -> Self {
        spans.clear();
        SpanSink { spans, field_start: 0 }
    }
}

impl CommaSink for SpanSink<'_> {
    fn commas(&mut self, mut commas: u64, offset: usize) {
        while commas != 0 {
            let comma = (offset + commas.trailing_zeros() as usize / 8) as u32;
            self.spans.push(Span { start: self.field_start, end: comma });
            self.field_start = comma + 1;
            commas &= commas - 1;
        }
    }
}

/// Where the field after the last span starts.
fn last_field_start(spans: &[Span]) -> u32 {
    spans.last().map_or(0, |span| span.end + 1)
}

/// Finds the end of the record at `start` and hands its commas to `sink`,
/// in one pass over 8-byte words: cheaper than separate searches for the
/// newline, quotes and each comma, which is what a dozen short fields per
/// line would cost. Commas and newlines inside quotes do not count.
#[inline(always)]
fn scan_line(data: &[u8], start: usize, sink: &mut impl CommaSink) -> LineScan {
    let mut position = start;
    let mut in_quotes = false;
    while let Some(chunk) = data.get(position..position + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        let mut commas = byte_mask(word, b',');
        let mut newlines = byte_mask(word, b'\n');
        let quotes = byte_mask(word, b'"');
        if quotes != 0 || in_quotes {
            let mut inside = prefix_parity(quotes);
            if in_quotes {
                inside ^= HIGH_BITS;
            }
            in_quotes = inside >> 63 != 0;
            let quoted_newlines = newlines & inside;
            commas &= !inside;
            newlines &= !inside;
            if quoted_newlines != 0 && (newlines == 0 || quoted_newlines.trailing_zeros() < newlines.trailing_zeros()) {
                return LineScan::MultiLine;
            }
        }
        if newlines == 0 {
            if commas != 0 {
                sink.commas(commas, position - start);
            }
            position += 8;
            continue;
        }
        let stop = newlines.trailing_zeros();
        // Only the commas before the newline belong to this line.
        let commas = commas & ((1u64 << stop) - 1);
        if commas != 0 {
            sink.commas(commas, position - start);
        }
        return LineScan::Line { end: position + (stop / 8) as usize };
    }
    for (offset, &byte) in data[position..].iter().enumerate() {
        match byte {
            b'"' => in_quotes = !in_quotes,
            b'\n' if in_quotes => return LineScan::MultiLine,
            b'\n' => return LineScan::Line { end: position + offset },
            b',' if !in_quotes => sink.commas(0x80, position + offset - start),
            _ => {}
        }
    }
    LineScan::Incomplete
}

/// Whether a raw field is quoted the way Go's `encoding/csv` reads it: no
/// quote at all, or a quote at each end with only doubled quotes between.
fn well_quoted(field: &[u8]) -> bool {
    match field {
        [b'"', inner @ .., b'"'] => {
            let mut rest = inner;
            while let Some(quote) = memchr(b'"', rest) {
                if rest.get(quote + 1) != Some(&b'"') {
                    return false;
                }
                rest = &rest[quote + 2..];
            }
            true
        }
        _ => memchr(b'"', field).is_none(),
    }
}

/// Splits a record with quotes into raw field spans the way Go's
/// `encoding/csv` reads them: a field that starts with `"` is quoted, `""`
/// inside it is a quote, and it must close right before a comma or the end.
/// False on bad quoting.
fn split_quoted_fields(record: &[u8], spans: &mut Vec<Span>) -> bool {
    spans.clear();
    if record.len() > u32::MAX as usize {
        return false;
    }
    let mut start = 0;
    loop {
        if record.get(start) == Some(&b'"') {
            let mut search = start + 1;
            let close = loop {
                let Some(quote) = memchr(b'"', &record[search..]) else { return false };
                let quote = search + quote;
                if record.get(quote + 1) == Some(&b'"') {
                    search = quote + 2;
                } else {
                    break quote;
                }
            };
            spans.push(Span { start: start as u32, end: close as u32 + 1 });
            match record.get(close + 1) {
                None => return true,
                Some(b',') => start = close + 2,
                Some(_) => return false,
            }
        } else {
            let end = memchr(b',', &record[start..]).map_or(record.len(), |comma| start + comma);
            if memchr(b'"', &record[start..end]).is_some() {
                return false;
            }
            spans.push(Span { start: start as u32, end: end as u32 });
            if end == record.len() {
                return true;
            }
            start = end + 1;
        }
    }
}

/// The content of a raw field: without its quotes, `""` turned into `"`.
fn unquoted(field: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match field {
        [b'"', inner @ .., b'"'] => {
            if memchr(b'"', inner).is_none() {
                std::borrow::Cow::Borrowed(inner)
            } else {
                let mut content = Vec::with_capacity(inner.len());
                let mut rest = inner;
                while let Some(quote) = memchr(b'"', rest) {
                    // The splitter guarantees quotes inside come in pairs.
                    content.extend_from_slice(&rest[..=quote]);
                    rest = rest.get(quote + 2..).unwrap_or_default();
                }
                content.extend_from_slice(rest);
                std::borrow::Cow::Owned(content)
            }
        }
        _ => std::borrow::Cow::Borrowed(field),
    }
}

/// The value of 8 ASCII digits read as one little-endian word, without a
/// loop: pairs, then quads, then the whole (the usual SWAR digit trick).
#[inline(always)]
fn eight_digits(word: u64) -> Option<u64> {
    let digits = word.wrapping_sub(0x3030_3030_3030_3030);
    // A byte below '0' borrows into its high nibble, one above '9' carries
    // into it once 6 is added.
    if (digits | digits.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0 != 0 {
        return None;
    }
    let pairs = (digits.wrapping_mul(10) + (digits >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((quads.wrapping_mul(10_000) + (quads >> 32)) & 0xFFFF_FFFF)
}

#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Digits only, as a number; at most 18 so it cannot overflow.
#[inline]
fn parse_digits(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in text {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + i64::from(digit);
    }
    Some(value)
}

/// Microseconds since the epoch: plain decimal digits (16 of them until
/// 2286, read as two words).
#[inline]
fn parse_timestamp(text: &[u8]) -> Option<i64> {
    if text.len() == 16 {
        let high = eight_digits(word_at(text, 0))?;
        let low = eight_digits(word_at(text, 8))?;
        return Some((high * 100_000_000 + low) as i64);
    }
    parse_digits(text)
}

/// A value in millionths. k6 prints values with Go's `%f`, exactly six
/// decimals, which is read digit by digit without a float in between, so it
/// is exact; anything else (exponents, fewer decimals) goes through `f64`.
#[inline]
pub(crate) fn parse_fixed(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let len = digits.len();
    // Up to 12 integer digits keep the 18-digit result within an i64.
    if (8..=19).contains(&len) && digits[len - 7] == b'.' {
        // The last 8 bytes are an integer digit, the point and the six
        // decimals: with the first two made '0', one word holds the decimals.
        let decimals = eight_digits((word_at(digits, len - 8) & !0xFFFF) | 0x3030);
        let integer = parse_digits(&digits[..len - 7]);
        if let (Some(decimals), Some(integer)) = (decimals, integer) {
            let value = integer * VALUE_SCALE + decimals as i64;
            return Some(if negative { -value } else { value });
        }
    }
    parse_fixed_slow(text)
}

#[cold]
fn parse_fixed_slow(text: &[u8]) -> Option<i64> {
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    // Outside this range the millionths do not fit in an i64.
    (value.is_finite() && value.abs() < 9.0e12).then(|| to_fixed(value))
}

/// A gauge value in millionths as a whole count (VUs), never negative.
fn gauge_count(value: i64) -> u64 {
    ((value + VALUE_SCALE / 2) / VALUE_SCALE).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_parse_is_exact_for_k6_values() {
        assert_eq!(parse_fixed(b"1.000000"), Some(1_000_000));
        assert_eq!(parse_fixed(b"0.961246"), Some(961_246));
        assert_eq!(parse_fixed(b"-3.500000"), Some(-3_500_000));
        assert_eq!(parse_fixed(b"123456789012.123456"), Some(123_456_789_012_123_456));
        // Fallbacks: exponents, fewer decimals, integers.
        assert_eq!(parse_fixed(b"1.5e3"), Some(1_500_000_000));
        assert_eq!(parse_fixed(b"2.5"), Some(2_500_000));
        assert_eq!(parse_fixed(b"7"), Some(7_000_000));
        for bad in [&b""[..], b"abc", b"1.00000x", b"NaN", b"+Inf", b"1e300", b"-"] {
            assert_eq!(parse_fixed(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_timestamp(b"1795312265501730"), Some(1_795_312_265_501_730));
        assert_eq!(parse_timestamp(b""), None);
        assert_eq!(parse_timestamp(b"17953x"), None);
        assert_eq!(parse_timestamp(b"-5"), None);
        assert_eq!(parse_timestamp(b"1234567890123456789"), None);
    }

    #[test]
    fn splits_quoted_fields_like_go() {
        let mut spans = Vec::new();
        let record = br#"a,"b, c","say ""hi""",,"""""#;
        assert!(split_quoted_fields(record, &mut spans));
        let fields: Vec<Vec<u8>> = spans.iter().map(|span| unquoted(span.of(record)).into_owned()).collect();
        assert_eq!(fields, [&b"a"[..], b"b, c", b"say \"hi\"", b"", b"\""]);
        assert!(!split_quoted_fields(br#"a,"b"c,d"#, &mut spans), "text after a closing quote");
        assert!(!split_quoted_fields(br#"a,b"c,d"#, &mut spans), "bare quote");
        assert!(!split_quoted_fields(br#"a,"bc,d"#, &mut spans), "unclosed quote");
    }

    #[test]
    fn gauge_counts_round_and_never_go_negative() {
        assert_eq!(gauge_count(4_000_000), 4);
        assert_eq!(gauge_count(2_600_000), 3);
        assert_eq!(gauge_count(-5_000_000), 0);
    }
}
