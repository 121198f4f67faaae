//! Where a sample goes: the route cache, the per-metric series with their
//! tag-set cap, the collapsing of sub-timing trends, and selector filters.
//!
//! A route is what a line with a given raw metric name and raw `tags`
//! object updates. It is worked out once per distinct byte string
//! ([`Ingest::cache_route`], cold) and cached, so that recording a sample
//! ([`Ingest::record`], hot) is a few indexed additions.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use super::timeline::TimelineRole;
use super::tree::NO_NODE;
use super::{Ingest, IngestConfig};
use crate::{Aggregate, MetricEntry, MetricKind, TagSet, ValueKind, VALUE_SCALE};

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
/// few in a healthy test, but a tag that holds ids would otherwise grow the
/// cache without bound.
pub(super) const MAX_CACHED_ROUTES: usize = 1 << 16;

/// What a line with a given metric name and raw tag bytes updates.
#[derive(Clone, Copy)]
pub(super) struct Route {
    metric: u32,
    /// Index into the metric's `series`, or [`OVERFLOW`].
    series: u32,
    selectors_start: u32,
    selectors_len: u32,
    /// The group or check this sample tallies ([`super::tree`]), or
    /// [`NO_NODE`].
    tree_node: u32,
}

const OVERFLOW: u32 = u32::MAX;

/// A value in millionths as a whole count (VUs, bytes), rounded, never negative.
fn whole_count(value: i64) -> u64 {
    ((value + VALUE_SCALE / 2) / VALUE_SCALE).max(0) as u64
}

/// One metric while ingesting: series in a vector so routes can hold indices.
#[derive(Clone)]
pub(super) struct MetricSlot {
    pub(super) name: String,
    kind: Option<MetricKind>,
    contains: ValueKind,
    collapsed: bool,
    role: TimelineRole,
    pub(super) samples: u64,
    series: Vec<(TagSet, Aggregate)>,
    series_ids: HashMap<TagSet, u32, FxBuildHasher>,
    overflow: Option<Aggregate>,
    pub(super) overflow_samples: u64,
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

    pub(super) fn resolve_kind(&mut self, kind: MetricKind, contains: ValueKind) {
        self.kind = Some(kind);
        self.contains = contains;
        if kind != MetricKind::Trend {
            let aggregates = self.series.iter_mut().chain(self.selectors.iter_mut()).map(|(_, a)| a);
            for aggregate in aggregates.chain(self.overflow.as_mut()) {
                aggregate.drop_histogram();
            }
        }
    }

    pub(super) fn to_entry(&self) -> MetricEntry {
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

    pub(super) fn into_entry(self) -> MetricEntry {
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

impl Ingest {
    #[inline]
    pub(super) fn record(&mut self, route: Route, value: i64, time_us: i64) {
        let totals = &mut self.totals;
        totals.samples += 1;
        let slot = &mut self.metrics[route.metric as usize];
        // k6 samples the VU gauges before and after the test too: they say
        // nothing of when the test ran.
        if !matches!(slot.role, TimelineRole::Vus | TimelineRole::VusMax) {
            totals.first_us = Some(totals.first_us.map_or(time_us, |first| first.min(time_us)));
            totals.last_us = Some(totals.last_us.map_or(time_us, |last| last.max(time_us)));
        }
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

        if route.tree_node != NO_NODE {
            self.tree.record(route.tree_node, value != 0, time_us);
        }
        if slot.role == TimelineRole::None {
            return;
        }
        if matches!(slot.role, TimelineRole::Vus | TimelineRole::VusMax) {
            let vus = whole_count(value);
            if slot.role == TimelineRole::Vus && totals.latest_vus.is_none_or(|(time, _)| time <= time_us) {
                totals.latest_vus = Some((time_us, vus));
            }
            self.timeline.record_gauge(time_us, slot.role == TimelineRole::VusMax, vus);
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
            TimelineRole::DataSent => second.data_sent += whole_count(value),
            TimelineRole::DataReceived => second.data_received += whole_count(value),
            TimelineRole::Latency => second.record_latency(value),
            TimelineRole::Vus | TimelineRole::VusMax | TimelineRole::None => {}
        }
    }

    /// Resolves a metric name and a sample's full tags (dropped ones
    /// included) to a route, and caches it under the current route key.
    #[cold]
    pub(super) fn cache_route(&mut self, name: &str, all_tags: &TagSet) -> Option<Route> {
        if name.is_empty() {
            return None;
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
        let group = all_tags.get("group").unwrap_or_default();
        let tree_node = match (name, all_tags.get("check")) {
            ("checks", Some(check)) => self.tree.check_node(group, check),
            ("group_duration", _) => self.tree.group_node(group),
            _ => NO_NODE,
        };
        let route = Route {
            metric,
            series,
            selectors_start,
            selectors_len: self.route_selectors.len() as u32 - selectors_start,
            tree_node,
        };
        self.routes.insert(self.route_key.as_slice().into(), route);
        Some(route)
    }

    pub(super) fn metric_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.metric_ids.get(name) {
            return id;
        }
        let id = self.metrics.len() as u32;
        self.metrics.push(MetricSlot::new(name, &self.config));
        self.metric_ids.insert(name.to_owned(), id);
        id
    }
}
