//! The summary model: what `summary.json` holds.
//!
//! This is a versioned contract that other tools read. Field names, the
//! spelling of every enum and string outcome, and the meaning of each value
//! are stable within a [`SUMMARY_SCHEMA_VERSION`]; the committed JSON Schema
//! (`schemas/summary.schema.json`) describes exactly this shape, and a test
//! checks the two agree. Adding, removing or renaming a field means a new
//! schema version.
//!
//! Every field is always written (absent values as `null`), so a reader never
//! has to guess whether a field was omitted or unknown.

use std::collections::BTreeMap;
use std::fmt;

use loadgrid_health::HealthSummary;
use loadgrid_metrics::{MetricKind, ValueKind};
use loadgrid_plan::records::{ShardOutcome, StopReason};
use loadgrid_thresholds::Origin;
use serde::{Deserialize, Serialize};

use crate::format;

/// The version of the `summary.json` shape written by this crate.
///
/// 4: `scenarios` (requests by the `scenario` tag, as `endpoints` are by
/// `name`) and each timeline second's `data_sent` and `data_received`.
///
/// 3: `health` (generator health: per-shard CPU, memory, sockets, network,
/// findings and the start skew) and the verdict `generator_saturated`
/// (exit 97).
///
/// 2: verdicts `aborted` (exit 108) and `marked_failed` (exit 110);
/// thresholds name their `aggregation` and say `no_samples` (the
/// `no_data` outcome is gone: such thresholds are judged on zeros, as k6
/// does); shards can be `missing`; `root_group` holds the group and check
/// tree; `duration_seconds` is the test's time as k6 counts it.
pub const SUMMARY_SCHEMA_VERSION: u32 = 4;

/// One run, summarised: `runs/<run-id>/summary.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Always [`SUMMARY_SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    pub run_id: String,
    pub test_name: String,
    /// The script as the user named it.
    pub script: String,
    /// When the run was planned, RFC 3339 UTC (from the manifest).
    pub created_at: String,
    pub backend: String,
    pub k6_version: String,
    pub verdict: Verdict,
    /// The process exit code that goes with the verdict: 0 passed, 99
    /// thresholds crossed, 108 aborted, 110 marked failed, 1 run failed.
    pub exit_code: i32,
    /// Why the run did not pass, for people. Empty when it passed.
    pub verdict_reasons: Vec<String>,
    /// Some shard stopped early, failed or never reported: the numbers cover
    /// less than the planned test.
    pub partial: bool,
    /// Why the grid was told to stop early, if it was.
    pub stop: Option<StopSummary>,
    pub shards_planned: u32,
    /// When the grid's test started (the shared start) and when the last
    /// shard's test ended, in milliseconds since the Unix epoch.
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// The test's time, from the shared start to the end of the last
    /// shard's test (k6's `testRunDurationMs`, without the grid's own
    /// start-up and upload time): what counter rates (`/s`) are divided by.
    pub duration_seconds: f64,
    /// Grid-wide metrics keyed by metric name, plus the sub-metrics the
    /// thresholds name (`http_req_duration{name:login}`), as k6's
    /// `--summary-export` does. Metrics that thresholds name are listed
    /// even without samples, with zero values, as k6 lists them.
    pub metrics: BTreeMap<String, MetricSummary>,
    /// Every threshold, in the order they were evaluated.
    pub thresholds: Vec<ThresholdSummary>,
    /// Groups and checks with their grid-wide tallies, in k6's
    /// `root_group` shape. (Empty when read from a version 1 summary.)
    #[serde(default)]
    pub root_group: GroupSummary,
    /// Requests by their `name` tag, busiest first.
    pub endpoints: Vec<EndpointSummary>,
    /// Requests by their `scenario` tag, busiest first. (Empty when read
    /// from an earlier summary.)
    #[serde(default)]
    pub scenarios: Vec<EndpointSummary>,
    /// One row per planned shard, by shard index.
    pub shards: Vec<ShardSummary>,
    /// Grid-wide per-second series.
    pub timeline: Vec<TimelinePoint>,
    /// Whether each shard's load generator kept up: its CPU, memory,
    /// sockets and network, what k6 said, the findings with their fixes,
    /// and the spread of the shards' start. (`unknown` when read from an
    /// earlier summary.)
    #[serde(default)]
    pub health: HealthSummary,
    pub warnings: Vec<String>,
}

impl RunSummary {
    /// A threshold's observed value in its metric's unit, the one way every
    /// output shows it: `312.5ms` (a trend of time), `1.20%` (a rate),
    /// `4250/s` (a counter's `rate`), `1200` (a `count`), `8` (a gauge).
    /// `None` when nothing was compared.
    pub fn observed_text(&self, threshold: &ThresholdSummary) -> Option<String> {
        let observed = threshold.observed?;
        let base = threshold.metric.split('{').next().unwrap_or(&threshold.metric);
        let (kind, contains) = match self.metrics.get(&threshold.metric).or_else(|| self.metrics.get(base)) {
            Some(metric) => (metric.kind, metric.contains),
            None => MetricKind::builtin(base).map_or((None, ValueKind::Default), |(k, c)| (Some(k), c)),
        };
        let aggregation = match threshold.aggregation.as_str() {
            "" => aggregation_of(&threshold.expression),
            known => known.to_owned(),
        };
        Some(match (aggregation.as_str(), kind) {
            ("rate", Some(MetricKind::Counter)) => format::per_second(observed, contains),
            ("count", _) => format::quantity(observed, contains),
            _ => format::value(observed, kind, contains),
        })
    }
}

/// The aggregation an expression compares (`p(95)` of `p( 95 ) < 300`),
/// for summaries written before thresholds named it.
fn aggregation_of(expression: &str) -> String {
    let end = expression.find(['<', '>', '=', '!']).unwrap_or(expression.len());
    expression[..end].chars().filter(|c| !c.is_whitespace()).collect()
}

/// How the run came out, as the exit code says it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every threshold passed and the run completed (exit 0).
    Passed,
    /// A threshold was crossed or could not be evaluated, or `abortOnFail`
    /// stopped the grid (exit 99, as k6).
    ThresholdsCrossed,
    /// The script called `test.abort()` on some shard, or in `setup()` or
    /// `teardown()` (exit 108, as k6).
    Aborted,
    /// The script called `exec.test.fail()` on some shard (exit 110, as
    /// k6): the run never passes, whatever the thresholds say.
    MarkedFailed,
    /// A shard's load generator saturated and `[health] on_saturation` is
    /// `fail` (exit 97): the numbers measure the generator, not only the target.
    GeneratorSaturated,
    /// The run failed: a shard failed, shards are missing, infrastructure
    /// broke, or it was interrupted (exit 1).
    Failed,
}

impl Verdict {
    /// The JSON spelling: `passed`, `thresholds_crossed`, `aborted`,
    /// `marked_failed`, `generator_saturated`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::ThresholdsCrossed => "thresholds_crossed",
            Verdict::Aborted => "aborted",
            Verdict::MarkedFailed => "marked_failed",
            Verdict::GeneratorSaturated => "generator_saturated",
            Verdict::Failed => "failed",
        }
    }

    /// For people, in every output: `passed`, `thresholds crossed`, ….
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::ThresholdsCrossed => "thresholds crossed",
            Verdict::Aborted => "aborted by test.abort()",
            Verdict::MarkedFailed => "marked failed by test.fail()",
            Verdict::GeneratorSaturated => "load generators saturated",
            Verdict::Failed => "failed",
        }
    }

    /// The documented exit code for this verdict.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Passed => 0,
            Verdict::ThresholdsCrossed => 99,
            Verdict::Aborted => 108,
            Verdict::MarkedFailed => 110,
            Verdict::GeneratorSaturated => 97,
            Verdict::Failed => 1,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the grid stopped early.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StopSummary {
    /// `abort_on_fail`, `interrupted`, `shard_failed` or `test_abort`.
    pub reason: StopReason,
    pub detail: String,
}

/// One metric (or sub-metric) over the whole grid.
///
/// `values` uses k6's `--summary-export` names:
///
/// | kind | keys |
/// | --- | --- |
/// | trend | `avg min med max p(90) p(95) p(99) count` |
/// | counter | `count` (the sum of the values, as k6) and `rate` (count per second of test time) |
/// | rate | `rate` (share of non-zero samples), `passes` (non-zero samples), `fails` |
/// | gauge | `value` (latest), `min`, `max` |
/// | unknown | `count` (number of samples) |
///
/// A statistic that has no value (a trend without samples has no `avg`) is
/// left out rather than written as `null`. Time values are milliseconds,
/// data values bytes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MetricSummary {
    /// `counter`, `gauge`, `rate`, `trend`, or `unknown` for a custom metric
    /// whose type was never learnt.
    #[serde(with = "kind_or_unknown")]
    pub kind: Option<MetricKind>,
    /// `default`, `time` (milliseconds) or `data` (bytes), as k6's `contains`.
    pub contains: ValueKind,
    pub values: BTreeMap<String, f64>,
}

/// One threshold and how it came out.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ThresholdSummary {
    /// The metric key as k6 prints it: `http_req_duration{name:login}`.
    pub metric: String,
    /// The expression as written: `p(95)<300`.
    pub expression: String,
    /// The statistic the expression compares: `p(95)`, `rate`, `count`….
    /// (Empty when read from a version 1 summary.)
    #[serde(default)]
    pub aggregation: String,
    pub origin: Origin,
    pub abort_on_fail: bool,
    /// The aggregated value compared with the threshold's bound.
    pub observed: Option<f64>,
    pub outcome: ThresholdOutcome,
    /// Why an `error` happened.
    pub message: Option<String>,
    /// False when the value came from a tag breakdown that lost samples to
    /// the tag-set cap.
    pub exact: bool,
    /// The metric had no samples: judged on zeros (a rate passes), as k6
    /// does; often a typo in a metric or tag name.
    #[serde(default)]
    pub no_samples: bool,
}

/// How one threshold came out.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdOutcome {
    /// The condition held. (Version 1 summaries said `no_data` for a
    /// threshold without samples, which passed.)
    #[serde(alias = "no_data")]
    Passed,
    /// The condition did not hold (k6's `ok: false`).
    Crossed,
    /// It could not be evaluated; fails the run.
    Error,
}

impl ThresholdOutcome {
    /// k6's `ok`.
    pub fn ok(self) -> bool {
        self == ThresholdOutcome::Passed
    }

    /// `✓` or `✗`, as k6 marks thresholds.
    pub fn mark(self) -> &'static str {
        if self.ok() {
            "✓"
        } else {
            "✗"
        }
    }

    /// For people: `passed`, `crossed`, `error`.
    pub fn label(self) -> &'static str {
        match self {
            ThresholdOutcome::Passed => "passed",
            ThresholdOutcome::Crossed => "crossed",
            ThresholdOutcome::Error => "error",
        }
    }
}

/// A group of k6's `root_group`: the same field names, so that a script's
/// `handleSummary` reads it as k6's own.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct GroupSummary {
    /// The group's name (`""` for the root).
    pub name: String,
    /// `::outer::inner` (`""` for the root).
    pub path: String,
    /// k6's id: the MD5 of the path, in hex.
    pub id: String,
    pub groups: Vec<GroupSummary>,
    pub checks: Vec<CheckSummary>,
}

/// One check of a group, with its grid-wide tally.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CheckSummary {
    pub name: String,
    /// The group's path, `::`, the check's name.
    pub path: String,
    /// k6's id: the MD5 of the path, in hex.
    pub id: String,
    pub passes: u64,
    pub fails: u64,
}

impl GroupSummary {
    /// Every check of this group and the groups below it, depth first.
    pub fn all_checks(&self) -> Vec<&CheckSummary> {
        let mut checks: Vec<&CheckSummary> = self.checks.iter().collect();
        for group in &self.groups {
            checks.extend(group.all_checks());
        }
        checks
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.checks.is_empty()
    }
}

/// Requests of one `name` tag value.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EndpointSummary {
    pub name: String,
    pub requests: u64,
    /// Requests `http_req_failed` counted as failed.
    pub failed: u64,
    /// Requests per second of test time.
    pub rps: f64,
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// How one shard ended and what it measured on its own.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ShardSummary {
    pub shard: u32,
    pub outcome: ShardState,
    pub reason: Option<String>,
    pub k6_exit_code: Option<i32>,
    /// The shard's `http_reqs` total.
    pub requests: u64,
    /// The shard's `iterations` total.
    pub iterations: u64,
    /// The shard's own `http_req_duration` p(95).
    pub p95_ms: Option<f64>,
    pub samples: u64,
    pub rejected_lines: u64,
    pub resumed_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// How the backend saw the shard end (e.g. an ECS task's stop code and
    /// exit code): a second opinion beside `outcome`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_note: Option<String>,
}

/// How a shard ended, as the summary reports it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    /// k6 ran the shard's part of the test to its end.
    Completed,
    /// Stopped early on request; what it measured is kept.
    Stopped,
    /// k6 or the agent failed.
    Failed,
    /// The shard never wrote its status.
    Missing,
}

impl ShardState {
    /// The JSON spelling, also what people read.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardState::Completed => "completed",
            ShardState::Stopped => "stopped",
            ShardState::Failed => "failed",
            ShardState::Missing => "missing",
        }
    }
}

impl From<ShardOutcome> for ShardState {
    fn from(outcome: ShardOutcome) -> ShardState {
        match outcome {
            ShardOutcome::Completed => ShardState::Completed,
            ShardOutcome::Stopped => ShardState::Stopped,
            ShardOutcome::Failed => ShardState::Failed,
        }
    }
}

/// One second of the run, grid-wide.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TimelinePoint {
    /// Unix seconds.
    pub t: i64,
    /// Requests in this second.
    pub rps: u64,
    /// Failed requests in this second.
    pub failed: u64,
    pub iterations: u64,
    /// Active VUs, summed over shards.
    pub vus: u64,
    /// Bytes sent and received in this second. (0 when read from an
    /// earlier summary.)
    #[serde(default)]
    pub data_sent: u64,
    #[serde(default)]
    pub data_received: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Writes `Option<MetricKind>` as the kind's name, or `"unknown"`.
mod kind_or_unknown {
    use loadgrid_metrics::MetricKind;
    use serde::{Deserialize, Deserializer, Serializer};

    const UNKNOWN: &str = "unknown";

    pub fn serialize<S: Serializer>(kind: &Option<MetricKind>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(kind.map_or(UNKNOWN, MetricKind::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<MetricKind>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Known(MetricKind),
            Other(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Known(kind) => Ok(Some(kind)),
            Repr::Other(text) if text == UNKNOWN => Ok(None),
            Repr::Other(text) => {
                Err(serde::de::Error::unknown_variant(&text, &["counter", "gauge", "rate", "trend", UNKNOWN]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_spell_and_exit_as_documented() {
        assert_eq!(serde_json::to_string(&Verdict::ThresholdsCrossed).unwrap(), "\"thresholds_crossed\"");
        assert_eq!(Verdict::Passed.exit_code(), 0);
        assert_eq!(Verdict::ThresholdsCrossed.exit_code(), 99);
        assert_eq!(Verdict::Failed.exit_code(), 1);
        assert_eq!(Verdict::Aborted.exit_code(), 108);
        assert_eq!(Verdict::MarkedFailed.exit_code(), 110);
        assert_eq!(serde_json::to_string(&Verdict::MarkedFailed).unwrap(), "\"marked_failed\"");
        assert_eq!(serde_json::to_string(&ThresholdOutcome::Crossed).unwrap(), "\"crossed\"");
        assert_eq!(serde_json::to_string(&ShardState::Missing).unwrap(), "\"missing\"");
    }

    #[test]
    fn version_1_threshold_outcomes_still_read() {
        let v1 = r#"{"metric":"http_req_duration{name:x}","expression":"p( 95 ) < 300","origin":"flag",
            "abort_on_fail":false,"observed":null,"outcome":"no_data","message":null,"exact":true}"#;
        let threshold: ThresholdSummary = serde_json::from_str(v1).unwrap();
        assert_eq!((threshold.outcome, threshold.aggregation.as_str()), (ThresholdOutcome::Passed, ""));
        assert_eq!(aggregation_of(&threshold.expression), "p(95)");
    }

    #[test]
    fn metric_kind_unknown_round_trips() {
        for kind in [None, Some(MetricKind::Trend), Some(MetricKind::Counter)] {
            let summary = MetricSummary { kind, contains: ValueKind::Default, values: BTreeMap::new() };
            let json = serde_json::to_string(&summary).unwrap();
            let back: MetricSummary = serde_json::from_str(&json).unwrap();
            assert_eq!(back, summary, "{json}");
        }
        let json = r#"{"kind":"unknown","contains":"default","values":{}}"#;
        assert_eq!(serde_json::from_str::<MetricSummary>(json).unwrap().kind, None);
        let bad = r#"{"kind":"histogram","contains":"default","values":{}}"#;
        assert!(serde_json::from_str::<MetricSummary>(bad).is_err());
    }

    /// Found by fuzzing (fuzz/corpus/summary/regression-float-read-back):
    /// a stored summary's numbers read back one unit in the last place off
    /// (`42.03380736` became `42.033807360000004`), so `report` and
    /// `compare` showed values the run never wrote.
    #[test]
    fn stored_numbers_read_back_exactly() {
        let json = r#"{"kind":"trend","contains":"time","values":{"p(99)":42.03380736,"rate":1.6605778811026235}}"#;
        let metric: MetricSummary = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&metric).unwrap(), json);
    }
}
