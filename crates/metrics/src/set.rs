use std::collections::BTreeMap;

use crate::{Aggregate, GroupTree, TagSet, Timeline};

/// k6's four metric types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Counter,
    Gauge,
    Rate,
    Trend,
}

impl MetricKind {
    /// Types of k6's built-in metrics, known before any sample arrives.
    pub fn builtin(name: &str) -> Option<(MetricKind, ValueKind)> {
        use MetricKind::*;
        use ValueKind::*;
        Some(match name {
            "http_reqs"
            | "iterations"
            | "dropped_iterations"
            | "grpc_streams"
            | "grpc_streams_msgs_received"
            | "grpc_streams_msgs_sent"
            | "ws_msgs_received"
            | "ws_msgs_sent"
            | "ws_sessions" => (Counter, Default),
            "data_sent" | "data_received" => (Counter, Data),
            "vus" | "vus_max" => (Gauge, Default),
            "checks" | "http_req_failed" => (Rate, Default),
            "http_req_duration"
            | "http_req_blocked"
            | "http_req_connecting"
            | "http_req_tls_handshaking"
            | "http_req_sending"
            | "http_req_waiting"
            | "http_req_receiving"
            | "iteration_duration"
            | "group_duration"
            | "grpc_req_duration"
            | "ws_connecting"
            | "ws_session_duration"
            | "ws_ping" => (Trend, Time),
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Rate => "rate",
            MetricKind::Trend => "trend",
        }
    }
}

/// What a metric's values measure, as k6's `contains`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    #[default]
    Default,
    /// Milliseconds.
    Time,
    /// Bytes.
    Data,
}

/// Everything recorded for one metric.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricEntry {
    /// `None` while the type of a custom metric is not known yet.
    pub kind: Option<MetricKind>,
    pub contains: ValueKind,
    /// One aggregate per tag set, up to the cardinality cap.
    pub series: BTreeMap<TagSet, Aggregate>,
    /// Samples whose tag set arrived after the cap was reached. Totals stay
    /// exact; only the breakdown loses detail.
    pub overflow: Option<Aggregate>,
    /// Exact aggregates for the sub-metrics thresholds name, keyed by filter.
    /// Kept apart from `series` so that the cap never makes them inexact.
    pub selectors: BTreeMap<TagSet, Aggregate>,
    /// True when this metric's samples were kept without their tags (one
    /// tag-less series), to save memory on trends nobody breaks down. Only
    /// `selectors` can answer sub-metric questions then.
    pub collapsed: bool,
}

impl MetricEntry {
    pub fn new(kind: Option<MetricKind>, contains: ValueKind) -> Self {
        MetricEntry {
            kind,
            contains,
            series: BTreeMap::new(),
            overflow: None,
            selectors: BTreeMap::new(),
            collapsed: false,
        }
    }

    /// Whether aggregates of this metric need a histogram.
    pub fn wants_histogram(&self) -> bool {
        matches!(self.kind, None | Some(MetricKind::Trend))
    }

    /// The whole metric, all tag sets together.
    pub fn total(&self) -> Aggregate {
        let mut total = Aggregate::new(false);
        for aggregate in self.series.values().chain(self.overflow.as_ref()) {
            total.merge(aggregate);
        }
        total
    }

    /// A counter's sum over all tag sets, as a whole count (`http_reqs`,
    /// `dropped_iterations`).
    pub fn counter_sum(&self) -> u64 {
        self.total().sum().max(0.0).round() as u64
    }

    /// The sub-metric `filter` selects, and whether it is exact. It is exact
    /// when a selector for that filter was kept, or when no tag set overflowed
    /// the cardinality cap. `None` when the metric was kept without tags and
    /// no selector was asked for before the run.
    pub fn submetric(&self, filter: &TagSet) -> Option<(Aggregate, bool)> {
        if filter.is_empty() {
            return Some((self.total(), true));
        }
        if let Some(selected) = self.selectors.get(filter) {
            return Some((selected.clone(), true));
        }
        if self.collapsed {
            return None;
        }
        let mut selected = Aggregate::new(false);
        for (tags, aggregate) in &self.series {
            if tags.matches(filter) {
                selected.merge(aggregate);
            }
        }
        Some((selected, self.overflow.is_none()))
    }

    /// Aggregates grouped by the value of one tag (e.g. `name` for a
    /// per-endpoint table); series without that tag are left out.
    pub fn breakdown(&self, tag: &str) -> BTreeMap<String, Aggregate> {
        let mut groups: BTreeMap<String, Aggregate> = BTreeMap::new();
        for (tags, aggregate) in &self.series {
            if let Some(value) = tags.get(tag) {
                groups.entry(value.to_owned()).or_insert_with(|| Aggregate::new(false)).merge(aggregate);
            }
        }
        groups
    }

    /// Settles a custom metric's type once it is known: non-trends give up
    /// their histograms.
    pub fn resolve_kind(&mut self, kind: MetricKind, contains: ValueKind) {
        self.kind = Some(kind);
        self.contains = contains;
        if kind != MetricKind::Trend {
            for aggregate in self.series.values_mut().chain(self.overflow.as_mut()).chain(self.selectors.values_mut()) {
                aggregate.drop_histogram();
            }
        }
    }

    fn merge(&mut self, other: &MetricEntry) {
        if self.kind.is_none() {
            self.kind = other.kind;
            self.contains = other.contains;
        }
        self.collapsed |= other.collapsed;
        merge_maps(&mut self.series, &other.series);
        merge_maps(&mut self.selectors, &other.selectors);
        if let Some(theirs) = &other.overflow {
            self.overflow.get_or_insert_with(|| Aggregate::new(false)).merge(theirs);
        }
    }
}

fn merge_maps(mine: &mut BTreeMap<TagSet, Aggregate>, theirs: &BTreeMap<TagSet, Aggregate>) {
    for (tags, aggregate) in theirs {
        match mine.get_mut(tags) {
            Some(existing) => existing.merge(aggregate),
            None => {
                mine.insert(tags.clone(), aggregate.clone());
            }
        }
    }
}

/// All metrics of a shard, or of a whole grid once merged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSet {
    pub metrics: BTreeMap<String, MetricEntry>,
    pub timeline: Timeline,
    /// Samples that went to an overflow aggregate because the tag-set cap was
    /// reached.
    pub overflow_samples: u64,
    /// Groups and checks with exact tallies (k6's `root_group`).
    pub groups: GroupTree,
}

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn metric(&self, name: &str) -> Option<&MetricEntry> {
        self.metrics.get(name)
    }

    /// The grid's metrics from its shards': [`MetricSet::merge`] of them
    /// all, with the VU gauges of the timeline summed at the same instant
    /// ([`Timeline::set_grid_vus`]) rather than second by second.
    pub fn merge_shards<'a>(shards: impl IntoIterator<Item = &'a MetricSet> + Clone) -> MetricSet {
        let mut merged = MetricSet::new();
        for shard in shards.clone() {
            merged.merge(shard);
        }
        merged.timeline.set_grid_vus(shards.into_iter().map(|shard| &shard.timeline));
        merged
    }

    /// Adds `other` into `self`: exact, associative and commutative.
    pub fn merge(&mut self, other: &MetricSet) {
        for (name, entry) in &other.metrics {
            match self.metrics.get_mut(name) {
                Some(existing) => existing.merge(entry),
                None => {
                    self.metrics.insert(name.clone(), entry.clone());
                }
            }
        }
        self.timeline.merge(&other.timeline);
        self.overflow_samples += other.overflow_samples;
        self.groups.merge(&other.groups);
    }
}

/// A gauge's statistics over a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaugeStats {
    pub last: f64,
    pub min: f64,
    pub max: f64,
}

impl MetricSet {
    /// The grid's `vus` or `vus_max`, from the timeline: each second the
    /// sum over shards at the same instant, over the seconds in which every
    /// shard with VUs was reporting ([`Timeline::set_grid_vus`]), as one k6
    /// samples them while its test runs. The merged gauge aggregate cannot
    /// say this: it keeps one shard's latest value. `None` for other
    /// metrics, and without a sample inside the test.
    pub fn vu_gauge(&self, name: &str) -> Option<GaugeStats> {
        let vus_max = match name {
            "vus" => false,
            "vus_max" => true,
            _ => return None,
        };
        let (first, last) = self.timeline.steady_vus.unwrap_or((i64::MIN, i64::MAX));
        let values: Vec<f64> = self
            .timeline
            .iter()
            .filter(|(t, second)| (first..=last).contains(t) && second.vus_max > 0)
            .map(|(_, second)| if vus_max { second.vus_max } else { second.vus } as f64)
            .collect();
        Some(GaugeStats {
            last: *values.last()?,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// What one shard measured: the unit the agent writes to the store as
/// `result` and the grid merges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardResult {
    pub shard: u32,
    pub metrics: MetricSet,
    /// Microseconds since the Unix epoch of the first and last sample of
    /// the test's activity (VU gauges, sampled while paused too, excluded).
    pub first_sample_us: Option<i64>,
    pub last_sample_us: Option<i64>,
    pub samples: u64,
    /// Lines of k6 output that could not be read (counted, never fatal).
    pub rejected_lines: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    type Tags<'a> = &'a [(&'a str, &'a str)];

    fn entry_with(series: &[(Tags<'_>, &[f64])]) -> MetricEntry {
        let mut entry = MetricEntry::new(Some(MetricKind::Trend), ValueKind::Time);
        for (tags, values) in series {
            let mut aggregate = Aggregate::new(true);
            for v in *values {
                aggregate.record_f64(*v, 0);
            }
            entry.series.insert(TagSet::from_pairs(tags.iter().copied()), aggregate);
        }
        entry
    }

    #[test]
    fn submetric_selects_matching_tag_sets() {
        let entry = entry_with(&[
            (&[("name", "login"), ("status", "200")], &[10.0, 20.0]),
            (&[("name", "login"), ("status", "500")], &[30.0]),
            (&[("name", "home"), ("status", "200")], &[1.0]),
        ]);
        let (login, exact) = entry.submetric(&TagSet::from_pairs([("name", "login")])).unwrap();
        assert!(exact);
        assert_eq!(login.count(), 3);
        assert_eq!(login.max(), Some(30.0));
        assert_eq!(entry.total().count(), 4);
        assert_eq!(entry.breakdown("name").len(), 2);
    }

    #[test]
    fn overflow_keeps_totals_but_marks_submetrics_inexact() {
        let mut entry = entry_with(&[(&[("name", "a")], &[1.0])]);
        let mut overflow = Aggregate::new(true);
        overflow.record_f64(2.0, 0);
        entry.overflow = Some(overflow);
        assert_eq!(entry.total().count(), 2);
        assert!(!entry.submetric(&TagSet::from_pairs([("name", "a")])).unwrap().1);
        entry.collapsed = true;
        assert!(entry.submetric(&TagSet::from_pairs([("name", "a")])).is_none());
    }
}
