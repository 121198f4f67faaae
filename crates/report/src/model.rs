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

use loadgrid_metrics::{MetricKind, ValueKind};
use loadgrid_plan::records::StopReason;
use serde::{Deserialize, Serialize};

/// The version of the `summary.json` shape written by this crate.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

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
    /// thresholds crossed, 1 run failed.
    pub exit_code: i32,
    /// Why the run did not pass, for people. Empty when it passed.
    pub verdict_reasons: Vec<String>,
    /// Some shard stopped early, failed or never reported: the numbers cover
    /// less than the planned test.
    pub partial: bool,
    /// Why the grid was told to stop early, if it was.
    pub stop: Option<StopSummary>,
    pub shards_planned: u32,
    /// When the shards resumed (the earliest) and ended (the latest), in
    /// milliseconds since the Unix epoch.
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// The test time that counter rates (`/s`) are divided by.
    pub duration_seconds: f64,
    /// Grid-wide metrics keyed by metric name, plus the sub-metrics the
    /// thresholds name (`http_req_duration{name:login}`), as k6's
    /// `--summary-export` does.
    pub metrics: BTreeMap<String, MetricSummary>,
    /// Every threshold, in the order they were evaluated.
    pub thresholds: Vec<ThresholdSummary>,
    /// Requests by their `name` tag, busiest first.
    pub endpoints: Vec<EndpointSummary>,
    /// One row per planned shard, by shard index.
    pub shards: Vec<ShardSummary>,
    /// Grid-wide per-second series.
    pub timeline: Vec<TimelinePoint>,
    pub warnings: Vec<String>,
}

/// How the run came out, as the exit code says it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every threshold passed and the run completed (exit 0).
    Passed,
    /// A threshold was crossed or could not be evaluated (exit 99, as k6).
    ThresholdsCrossed,
    /// The run failed: a shard failed, shards are missing, infrastructure
    /// broke (exit 1).
    Failed,
}

impl Verdict {
    /// The JSON spelling: `passed`, `thresholds_crossed`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::ThresholdsCrossed => "thresholds_crossed",
            Verdict::Failed => "failed",
        }
    }

    /// The documented exit code for this verdict.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Passed => 0,
            Verdict::ThresholdsCrossed => 99,
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
    /// `script`, `config` or `flag`.
    pub origin: String,
    pub abort_on_fail: bool,
    /// The aggregated value compared with the threshold's bound.
    pub observed: Option<f64>,
    /// `passed`, `crossed`, `no_data` (no samples: passes, as in k6) or
    /// `error` (could not be evaluated: fails).
    pub outcome: String,
    /// Why an `error` happened.
    pub message: Option<String>,
    /// False when the value came from a tag breakdown that lost samples to
    /// the tag-set cap.
    pub exact: bool,
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
    /// `completed`, `stopped`, `failed`, or `missing` when the shard never
    /// wrote its status.
    pub outcome: String,
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
}
