//! The merged grid in k6's end-of-test summary shape: the `data` a
//! script's `handleSummary(data)` receives, so that jslib's `textSummary`
//! and the common HTML and JUnit reporters work unchanged on a grid.
//!
//! ```text
//! { "metrics":    { "<name or sub-metric key>": { "type", "contains", "values", "thresholds"? } },
//!   "root_group": { "name", "path", "id", "groups": [...], "checks": [...] },
//!   "options":    { "summaryTrendStats", "summaryTimeUnit", "noColor" },
//!   "state":      { "testRunDurationMs", "isStdOutTTY", "isStdErrTTY" } }
//! ```
//!
//! Trends carry the script's `summaryTrendStats` (k6's default: `avg min
//! med max p(90) p(95)`), computed from the merged histograms; counters
//! `count` and `rate`, rates `rate`, `passes` and `fails`, gauges `value`,
//! `min` and `max`, as in the run summary. A metric with thresholds has
//! `thresholds: {"<expression>": {"ok": bool}}`.

use loadgrid_metrics::{Aggregate, MetricKind, MetricSet};
use loadgrid_thresholds::parse_metric_key;
use serde_json::{json, Map, Value};

use crate::model::RunSummary;

/// The script's summary options, as `k6 inspect` reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryOptions {
    pub trend_stats: Vec<String>,
    /// `summaryTimeUnit`; empty when unset, as k6 passes it.
    pub time_unit: String,
    pub no_color: bool,
}

/// Whether loadgrid's standard output and error are terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminals {
    pub stdout: bool,
    pub stderr: bool,
}

/// The `data` for `handleSummary`, from the run summary (metric types,
/// counters, rates, gauges, thresholds, groups and checks, test time) and
/// the merged metrics (trend statistics).
pub fn k6_summary_data(
    summary: &RunSummary,
    merged: &MetricSet,
    options: &SummaryOptions,
    terminals: Terminals,
) -> Value {
    let mut metrics = Map::new();
    for (key, metric) in &summary.metrics {
        let Some(kind) = metric.kind else { continue };
        let values = match kind {
            MetricKind::Trend => trend_values(merged, key, &options.trend_stats),
            _ => {
                let mut values: Map<String, Value> = metric.values.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                // Reporters read every one of a type's keys, as k6 always
                // gives them (a counter's rate over no time is 0).
                let keys: &[&str] = match kind {
                    MetricKind::Counter => &["count", "rate"],
                    MetricKind::Rate => &["rate", "passes", "fails"],
                    _ => &["value", "min", "max"],
                };
                for key in keys {
                    values.entry(key.to_string()).or_insert(json!(0.0));
                }
                values
            }
        };
        let mut entry = json!({ "type": kind.as_str(), "contains": metric.contains, "values": values });
        let thresholds: Map<String, Value> = summary
            .thresholds
            .iter()
            .filter(|t| &t.metric == key)
            .map(|t| (t.expression.clone(), json!({ "ok": t.outcome.ok() })))
            .collect();
        if !thresholds.is_empty() {
            entry["thresholds"] = Value::Object(thresholds);
        }
        metrics.insert(key.clone(), entry);
    }
    json!({
        "metrics": metrics,
        "root_group": summary.root_group,
        "options": {
            "summaryTrendStats": options.trend_stats,
            "summaryTimeUnit": options.time_unit,
            "noColor": options.no_color,
        },
        "state": {
            "testRunDurationMs": summary.duration_seconds * 1000.0,
            "isStdOutTTY": terminals.stdout,
            "isStdErrTTY": terminals.stderr,
        },
    })
}

/// A trend's statistics, as named in `summaryTrendStats`: `avg`, `min`,
/// `med`, `max`, `count`, `p(N)`. Without samples every one is zero, as in
/// k6.
fn trend_values(merged: &MetricSet, key: &str, stats: &[String]) -> Map<String, Value> {
    let aggregate = parse_metric_key(key)
        .ok()
        .and_then(|(name, filter)| merged.metric(&name)?.submetric(&filter))
        .map(|(aggregate, _)| aggregate)
        .unwrap_or_else(|| Aggregate::new(true));
    stats
        .iter()
        .filter_map(|stat| {
            let value = match stat.as_str() {
                "avg" => aggregate.avg(),
                "min" => aggregate.min(),
                "med" => aggregate.median(),
                "max" => aggregate.max(),
                "count" => Some(aggregate.count() as f64),
                other => {
                    let pct: f64 = other.strip_prefix("p(")?.strip_suffix(')')?.trim().parse().ok()?;
                    aggregate.percentile(pct)
                }
            };
            Some((stat.clone(), json!(value.filter(|v| v.is_finite()).unwrap_or(0.0))))
        })
        .collect()
}
