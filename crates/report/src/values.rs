//! Metric values in k6's `--summary-export` naming, and the per-endpoint
//! table.

use std::collections::{BTreeMap, BTreeSet};

use loadgrid_metrics::{Aggregate, GaugeStats, MetricEntry, MetricKind, MetricSet, TagSet, ValueKind};
use loadgrid_thresholds::{format_key, Evaluation};

use crate::model::{EndpointSummary, MetricSummary};

/// At most this many endpoints are listed; the rest are counted in a
/// warning.
pub const MAX_ENDPOINT_ROWS: usize = 50;

/// The tag the endpoint table groups by.
/// Which tag requests are broken down by.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Breakdown {
    /// By `name`: k6 names a request by its URL unless the script does.
    Endpoints,
    Scenarios,
}

impl Breakdown {
    fn tag(self) -> &'static str {
        match self {
            Breakdown::Endpoints => "name",
            Breakdown::Scenarios => "scenario",
        }
    }

    fn rows(self) -> &'static str {
        match self {
            Breakdown::Endpoints => "endpoints",
            Breakdown::Scenarios => "scenarios",
        }
    }
}

/// Trend statistics, in the order k6 prints them.
pub(crate) const TREND_PERCENTILES: [(&str, f64); 3] = [("p(90)", 90.0), ("p(95)", 95.0), ("p(99)", 99.0)];

/// A value fit for JSON: non-finite numbers become zero. Only used where a
/// division by a zero duration or count was already ruled out, as a last
/// guard: `serde_json` would write NaN as `null` and break the schema.
pub(crate) fn finite(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        0.0
    }
}

/// Every metric of the merged set, plus the sub-metrics the thresholds name
/// and k6's default `http_req_duration{expected_response:true}`. A metric
/// or sub-metric that a threshold names but that had no sample is listed
/// with zero values, and so is its parent metric, as k6 lists them.
pub(crate) fn metric_summaries(
    merged: &MetricSet,
    evaluations: &[Evaluation],
    duration_seconds: f64,
) -> BTreeMap<String, MetricSummary> {
    let mut summaries = BTreeMap::new();
    for (name, entry) in &merged.metrics {
        let summary = match name.as_str() {
            // One k6 lists its VU gauges only when it sampled them during
            // the test (a sub-second test has none).
            "vus" | "vus_max" => match merged.vu_gauge(name) {
                Some(gauge) => vu_summary(entry, gauge),
                None => continue,
            },
            _ => summarize(entry, &entry.total(), duration_seconds),
        };
        summaries.insert(name.clone(), summary);
    }
    for (metric, filter, always) in submetric_filters(evaluations) {
        let Some(entry) = merged.metric(&metric) else { continue };
        let Some((aggregate, _exact)) = entry.submetric(&filter) else { continue };
        if always || aggregate.count() > 0 {
            summaries.insert(format_key(&metric, &filter), summarize(entry, &aggregate, duration_seconds));
        }
    }
    for evaluation in evaluations {
        let threshold = &evaluation.threshold;
        let (kind, contains) = match (merged.metric(&threshold.metric), MetricKind::builtin(&threshold.metric)) {
            (Some(MetricEntry { kind: Some(kind), contains, .. }), _) => (*kind, *contains),
            (_, Some(builtin)) => builtin,
            _ => (threshold.expression.aggregation.implied_kind(), ValueKind::Default),
        };
        let empty = || MetricSummary {
            kind: Some(kind),
            contains,
            values: values(Some(kind), &Aggregate::new(kind == MetricKind::Trend), duration_seconds),
        };
        summaries.entry(threshold.metric.clone()).or_insert_with(empty);
        summaries.entry(threshold.key()).or_insert_with(empty);
    }
    summaries
}

/// (metric, filter, keep even without samples): the thresholds' sub-metrics,
/// then k6's default one when it has samples.
fn submetric_filters(evaluations: &[Evaluation]) -> Vec<(String, TagSet, bool)> {
    let named: BTreeSet<(String, TagSet)> = evaluations
        .iter()
        .map(|e| &e.threshold)
        .filter(|t| !t.filter.is_empty())
        .map(|t| (t.metric.clone(), t.filter.clone()))
        .collect();
    let default = ("http_req_duration".to_owned(), TagSet::from_pairs([("expected_response", "true")]));
    let mut filters: Vec<_> = named.iter().map(|(m, f)| (m.clone(), f.clone(), true)).collect();
    if !named.contains(&default) {
        filters.push((default.0, default.1, false));
    }
    filters
}

fn summarize(entry: &MetricEntry, aggregate: &Aggregate, duration_seconds: f64) -> MetricSummary {
    MetricSummary {
        kind: entry.kind,
        contains: entry.contains,
        values: values(entry.kind, aggregate, duration_seconds),
    }
}

/// k6's summary-export values of one aggregate. Without samples, every
/// statistic is zero, as in k6's summary.
fn values(kind: Option<MetricKind>, aggregate: &Aggregate, duration_seconds: f64) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    let empty = aggregate.count() == 0;
    let mut put = |key: &str, value: Option<f64>| {
        let value = if empty { Some(value.unwrap_or(0.0)) } else { value };
        if let Some(value) = value.filter(|v| v.is_finite()) {
            values.insert(key.to_owned(), value);
        }
    };
    match kind {
        Some(MetricKind::Trend) => {
            put("avg", aggregate.avg());
            put("min", aggregate.min());
            put("med", aggregate.median());
            put("max", aggregate.max());
            for (key, pct) in TREND_PERCENTILES {
                put(key, aggregate.percentile(pct));
            }
            put("count", Some(aggregate.count() as f64));
        }
        Some(MetricKind::Counter) => {
            put("count", Some(aggregate.sum()));
            put("rate", (duration_seconds > 0.0).then(|| aggregate.sum() / duration_seconds));
        }
        Some(MetricKind::Rate) => {
            put("rate", aggregate.rate());
            put("passes", Some(aggregate.nonzero() as f64));
            put("fails", Some((aggregate.count() - aggregate.nonzero()) as f64));
        }
        Some(MetricKind::Gauge) => {
            put("value", aggregate.last());
            put("min", aggregate.min());
            put("max", aggregate.max());
        }
        None => put("count", Some(aggregate.count() as f64)),
    }
    values
}

/// The grid's `vus` or `vus_max` ([`MetricSet::vu_gauge`]).
fn vu_summary(entry: &MetricEntry, gauge: GaugeStats) -> MetricSummary {
    let values = BTreeMap::from([
        ("value".to_owned(), gauge.last),
        ("min".to_owned(), gauge.min),
        ("max".to_owned(), gauge.max),
    ]);
    MetricSummary { kind: entry.kind.or(Some(MetricKind::Gauge)), contains: entry.contains, values }
}

/// Requests by `name` tag, busiest first (ties by name), capped at
/// [`MAX_ENDPOINT_ROWS`]; a warning says when rows were cut or the
/// breakdown is unavailable.
pub(crate) fn endpoint_summaries(
    merged: &MetricSet,
    by: Breakdown,
    duration_seconds: f64,
    warnings: &mut Vec<String>,
) -> Vec<EndpointSummary> {
    let Some(durations) = merged.metric("http_req_duration") else { return Vec::new() };
    if durations.collapsed {
        // Said once, for endpoints; scenarios go the same way.
        if let Breakdown::Endpoints = by {
            warnings.push(
                "http_req_duration was kept without its tags, so there is no per-endpoint or per-scenario breakdown"
                    .to_owned(),
            );
        }
        return Vec::new();
    }
    let failed = merged.metric("http_req_failed").map(|e| e.breakdown(by.tag())).unwrap_or_default();
    let mut rows: Vec<EndpointSummary> = durations
        .breakdown(by.tag())
        .into_iter()
        .map(|(name, aggregate)| endpoint(name.clone(), &aggregate, failed.get(&name), duration_seconds))
        .collect();
    rows.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.name.cmp(&b.name)));
    if rows.len() > MAX_ENDPOINT_ROWS {
        warnings.push(format!(
            "{} {} (`{}` tag values); only the {MAX_ENDPOINT_ROWS} busiest are listed",
            rows.len(),
            by.rows(),
            by.tag()
        ));
        rows.truncate(MAX_ENDPOINT_ROWS);
    }
    rows
}

fn endpoint(name: String, durations: &Aggregate, failed: Option<&Aggregate>, duration_seconds: f64) -> EndpointSummary {
    let requests = durations.count();
    let ms = |value: Option<f64>| value.filter(|v| v.is_finite());
    EndpointSummary {
        name,
        requests,
        failed: failed.map_or(0, Aggregate::nonzero),
        rps: if duration_seconds > 0.0 { finite(requests as f64 / duration_seconds) } else { 0.0 },
        avg_ms: ms(durations.avg()),
        p50_ms: ms(durations.median()),
        p95_ms: ms(durations.percentile(95.0)),
        p99_ms: ms(durations.percentile(99.0)),
        max_ms: ms(durations.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aggregate(histogram: bool, samples: &[f64]) -> Aggregate {
        let mut aggregate = Aggregate::new(histogram);
        for (i, v) in samples.iter().enumerate() {
            aggregate.record_f64(*v, i as i64);
        }
        aggregate
    }

    #[test]
    fn counter_count_is_the_sum_and_rate_is_per_second() {
        let values = values(Some(MetricKind::Counter), &aggregate(false, &[2.0, 3.0, 5.0]), 5.0);
        assert_eq!(values["count"], 10.0);
        assert_eq!(values["rate"], 2.0);
        let no_time = super::values(Some(MetricKind::Counter), &aggregate(false, &[1.0]), 0.0);
        assert!(!no_time.contains_key("rate"));
    }

    #[test]
    fn rate_passes_are_nonzero_samples() {
        let values = values(Some(MetricKind::Rate), &aggregate(false, &[1.0, 0.0, 0.0, 1.0]), 1.0);
        assert_eq!((values["rate"], values["passes"], values["fails"]), (0.5, 2.0, 2.0));
    }

    #[test]
    fn trend_uses_k6_keys_and_skips_missing_statistics() {
        let values = values(Some(MetricKind::Trend), &aggregate(true, &[1.0, 2.0, 3.0, 4.0]), 1.0);
        let keys: Vec<&str> = values.keys().map(String::as_str).collect();
        assert_eq!(keys, ["avg", "count", "max", "med", "min", "p(90)", "p(95)", "p(99)"]);
        let empty = super::values(Some(MetricKind::Trend), &Aggregate::new(true), 1.0);
        assert_eq!(empty.len(), 8, "k6 lists zeros for a trend without samples");
        assert!(empty.values().all(|v| *v == 0.0));
    }

    #[test]
    fn endpoints_are_capped_with_a_warning() {
        let mut set = MetricSet::new();
        let mut durations = MetricEntry::new(Some(MetricKind::Trend), ValueKind::Time);
        for i in 0..MAX_ENDPOINT_ROWS + 5 {
            let samples = vec![10.0; i + 1];
            durations.series.insert(TagSet::from_pairs([("name", format!("e{i:03}"))]), aggregate(true, &samples));
        }
        set.metrics.insert("http_req_duration".to_owned(), durations);
        let mut warnings = Vec::new();
        let rows = endpoint_summaries(&set, Breakdown::Endpoints, 10.0, &mut warnings);
        assert_eq!(rows.len(), MAX_ENDPOINT_ROWS);
        assert_eq!(rows[0].name, "e054", "busiest first");
        assert_eq!((rows[0].requests, rows[0].failed, rows[0].rps), (55, 0, 5.5));
        assert_eq!(warnings, ["55 endpoints (`name` tag values); only the 50 busiest are listed"]);
    }

    #[test]
    fn scenarios_are_rows_by_their_tag() {
        let mut set = MetricSet::new();
        let mut durations = MetricEntry::new(Some(MetricKind::Trend), ValueKind::Time);
        let mut failed = MetricEntry::new(Some(MetricKind::Rate), ValueKind::Default);
        for (scenario, name, samples, failures) in
            [("browse", "home", 30, 0.0), ("browse", "search", 10, 1.0), ("checkout", "pay", 5, 0.0)]
        {
            let tags = TagSet::from_pairs([("scenario", scenario.to_owned()), ("name", name.to_owned())]);
            durations.series.insert(tags.clone(), aggregate(true, &vec![20.0; samples]));
            failed.series.insert(tags, aggregate(false, &vec![failures; samples]));
        }
        set.metrics.insert("http_req_duration".to_owned(), durations);
        set.metrics.insert("http_req_failed".to_owned(), failed);
        let mut warnings = Vec::new();
        let rows = endpoint_summaries(&set, Breakdown::Scenarios, 5.0, &mut warnings);
        let rows: Vec<(&str, u64, u64, f64)> =
            rows.iter().map(|r| (r.name.as_str(), r.requests, r.failed, r.rps)).collect();
        assert_eq!(rows, [("browse", 40, 10, 8.0), ("checkout", 5, 0, 1.0)]);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn vus_come_from_the_timeline_sum() {
        let mut set = MetricSet::new();
        let mut entry = MetricEntry::new(Some(MetricKind::Gauge), ValueKind::Default);
        // The merged gauge only knows one shard's latest value.
        entry.series.insert(TagSet::new(), aggregate(false, &[4.0]));
        set.metrics.insert("vus".to_owned(), entry);
        for (t, vus) in [(10, 2), (11, 8), (12, 6)] {
            set.timeline.second_mut(t).vus = vus;
            set.timeline.second_mut(t).vus_max = 8;
        }
        let summary = &metric_summaries(&set, &[], 3.0)["vus"];
        assert_eq!((summary.values["value"], summary.values["min"], summary.values["max"]), (6.0, 2.0, 8.0));
    }
}
