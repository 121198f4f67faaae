//! The history record: one per run, written once, never changed.

use std::collections::BTreeMap;

use loadgrid_health::{HealthSummary, ShardHealthSummary};
use loadgrid_report::{GroupSummary, RunSummary, ThresholdOutcome, Verdict};
use serde::{Deserialize, Serialize};

use crate::regression::RegressionReport;

/// The version of the history record's shape. Adding, removing or renaming a
/// field means a new version.
///
/// 3: `health` (the run's generator health without its per-second
/// series) and the verdict `generator_saturated`.
///
/// 2: verdicts `aborted` and `marked_failed`; threshold outcomes without
/// `no_data`; the group and check tree (`root_group`). Version 1 records
/// still read.
pub const HISTORY_SCHEMA_VERSION: u32 = 3;

/// How the run came out once the baseline has been judged too.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FinalVerdict {
    Passed,
    /// The thresholds passed, but a regression rule against the baseline failed.
    Regressed,
    ThresholdsCrossed,
    /// The script called `test.abort()`.
    Aborted,
    /// The script called `exec.test.fail()`.
    MarkedFailed,
    /// A load generator saturated, with `on_saturation = "fail"`.
    GeneratorSaturated,
    Failed,
}

impl FinalVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            FinalVerdict::Passed => "passed",
            FinalVerdict::Regressed => "regressed",
            FinalVerdict::ThresholdsCrossed => "thresholds_crossed",
            FinalVerdict::Aborted => "aborted",
            FinalVerdict::MarkedFailed => "marked_failed",
            FinalVerdict::GeneratorSaturated => "generator_saturated",
            FinalVerdict::Failed => "failed",
        }
    }

    /// For people, in every output (the trend site, notifications).
    pub fn label(self) -> &'static str {
        match self {
            FinalVerdict::Regressed => "regressed",
            other => other.run_verdict().map_or("regressed", Verdict::label),
        }
    }

    /// The run's own verdict, when this is one.
    fn run_verdict(self) -> Option<Verdict> {
        Some(match self {
            FinalVerdict::Passed => Verdict::Passed,
            FinalVerdict::Regressed => return None,
            FinalVerdict::ThresholdsCrossed => Verdict::ThresholdsCrossed,
            FinalVerdict::Aborted => Verdict::Aborted,
            FinalVerdict::MarkedFailed => Verdict::MarkedFailed,
            FinalVerdict::GeneratorSaturated => Verdict::GeneratorSaturated,
            FinalVerdict::Failed => Verdict::Failed,
        })
    }
}

/// Where the run came from: the commit and the CI run, when known.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct GitContext {
    pub sha: Option<String>,
    pub branch: Option<String>,
    /// `schedule`, `workflow_dispatch`, `push`, `pull_request`... (GitHub's
    /// event name), or `local`.
    pub trigger: Option<String>,
    pub repository: Option<String>,
    /// The CI run's web page.
    pub run_url: Option<String>,
}

impl GitContext {
    /// From GitHub Actions' environment (`lookup` reads a variable).
    pub fn from_github_env(lookup: &dyn Fn(&str) -> Option<String>) -> Option<GitContext> {
        lookup("GITHUB_ACTIONS").filter(|v| v == "true")?;
        let repository = lookup("GITHUB_REPOSITORY");
        let run_url = match (lookup("GITHUB_SERVER_URL"), &repository, lookup("GITHUB_RUN_ID")) {
            (Some(server), Some(repo), Some(id)) => Some(format!("{server}/{repo}/actions/runs/{id}")),
            _ => None,
        };
        // A pull request's branch is its head, not the merge ref.
        let branch = lookup("GITHUB_HEAD_REF").filter(|b| !b.is_empty()).or_else(|| lookup("GITHUB_REF_NAME"));
        Some(GitContext {
            sha: lookup("GITHUB_SHA"),
            branch,
            trigger: lookup("GITHUB_EVENT_NAME"),
            repository,
            run_url,
        })
    }
}

/// The numbers a trend shows, taken from the summary.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Headline {
    pub requests: Option<f64>,
    pub rps: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// `http_req_failed`'s rate: the share of failed requests.
    pub error_rate: Option<f64>,
    pub vus_max: Option<f64>,
    pub iterations: Option<f64>,
}

/// One threshold's outcome.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ThresholdRecord {
    pub metric: String,
    pub expression: String,
    pub observed: Option<f64>,
    pub outcome: ThresholdOutcome,
}

/// `history/<test>/<start>-<run-id>.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HistoryRecord {
    pub schema_version: u32,
    pub run_id: String,
    pub test_name: String,
    pub script: String,
    pub created_at: String,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub duration_seconds: f64,
    pub backend: String,
    pub shards_planned: u32,
    pub partial: bool,
    pub verdict: FinalVerdict,
    pub exit_code: i32,
    pub verdict_reasons: Vec<String>,
    pub headline: Headline,
    /// Every metric's values (k6 summary-export names), so that later runs
    /// can be judged against this one after `runs/` has expired.
    pub metrics: BTreeMap<String, BTreeMap<String, f64>>,
    pub thresholds: Vec<ThresholdRecord>,
    /// Groups and checks with their tallies, k6's `root_group` (empty in
    /// version 1 records).
    #[serde(default)]
    pub root_group: GroupSummary,
    pub regression: Option<RegressionReport>,
    /// Whether the generators kept up, without the per-second series
    /// (`unknown` in earlier records).
    #[serde(default)]
    pub health: HealthSummary,
    pub git: Option<GitContext>,
    /// The run's compute cost in US dollars, when known.
    pub cost_usd: Option<f64>,
}

impl HistoryRecord {
    /// The record of a judged run. `regression` is its judgement against a
    /// baseline, if one was asked for; `exit_code` is the process's.
    pub fn from_summary(
        summary: &RunSummary,
        regression: Option<RegressionReport>,
        regression_fails: bool,
        git: Option<GitContext>,
    ) -> HistoryRecord {
        let value = |metric: &str, stat: &str| summary.metrics.get(metric).and_then(|m| m.values.get(stat)).copied();
        let regressed = regression.as_ref().is_some_and(|r| r.regressed());
        let verdict = match summary.verdict {
            Verdict::Passed if regressed => FinalVerdict::Regressed,
            Verdict::Passed => FinalVerdict::Passed,
            Verdict::ThresholdsCrossed => FinalVerdict::ThresholdsCrossed,
            Verdict::Aborted => FinalVerdict::Aborted,
            Verdict::MarkedFailed => FinalVerdict::MarkedFailed,
            Verdict::GeneratorSaturated => FinalVerdict::GeneratorSaturated,
            Verdict::Failed => FinalVerdict::Failed,
        };
        let mut reasons = summary.verdict_reasons.clone();
        if let Some(report) = regression.as_ref().filter(|r| r.regressed()) {
            reasons.extend(
                report
                    .results
                    .iter()
                    .filter(|r| r.regressed)
                    .map(|r| format!("regressed against {}: {} {}", report.baseline_run_id, r.key(), r.delta_text)),
            );
        }
        HistoryRecord {
            schema_version: HISTORY_SCHEMA_VERSION,
            run_id: summary.run_id.clone(),
            test_name: summary.test_name.clone(),
            script: summary.script.clone(),
            created_at: summary.created_at.clone(),
            started_at_ms: summary.started_at_ms,
            ended_at_ms: summary.ended_at_ms,
            duration_seconds: summary.duration_seconds,
            backend: summary.backend.clone(),
            shards_planned: summary.shards_planned,
            partial: summary.partial,
            verdict,
            exit_code: exit_code(summary, verdict, regression_fails),
            verdict_reasons: reasons,
            headline: Headline {
                requests: value("http_reqs", "count"),
                rps: value("http_reqs", "rate"),
                p50_ms: value("http_req_duration", "med"),
                p95_ms: value("http_req_duration", "p(95)"),
                p99_ms: value("http_req_duration", "p(99)"),
                error_rate: value("http_req_failed", "rate"),
                vus_max: value("vus_max", "max").or(value("vus", "max")),
                iterations: value("iterations", "count"),
            },
            metrics: summary.metrics.iter().map(|(name, m)| (name.clone(), m.values.clone())).collect(),
            thresholds: summary
                .thresholds
                .iter()
                .map(|t| ThresholdRecord {
                    metric: t.metric.clone(),
                    expression: t.expression.clone(),
                    observed: t.observed,
                    outcome: t.outcome,
                })
                .collect(),
            root_group: summary.root_group.clone(),
            regression,
            health: HealthSummary {
                shards: summary
                    .health
                    .shards
                    .iter()
                    .map(|shard| ShardHealthSummary { series: Vec::new(), ..shard.clone() })
                    .collect(),
                ..summary.health.clone()
            },
            git,
            cost_usd: None,
        }
    }

    /// The store key: sorts by start time within the test.
    pub fn key(&self) -> String {
        format!("history/{}/{}-{}.json", path_segment(&self.test_name), self.created_at_compact(), self.run_id)
    }

    fn created_at_compact(&self) -> String {
        self.created_at.chars().filter(|c| c.is_ascii_digit()).take(14).collect()
    }

    pub fn passed(&self) -> bool {
        self.verdict == FinalVerdict::Passed
    }
}

/// The process exit code: the summary's (0, 99, 108, 110, 1), or
/// [`EXIT_REGRESSED`] when the thresholds passed, a rule regressed and
/// regressions fail the run.
pub fn exit_code(summary: &RunSummary, verdict: FinalVerdict, regression_fails: bool) -> i32 {
    if verdict == FinalVerdict::Regressed && regression_fails {
        EXIT_REGRESSED
    } else {
        summary.exit_code
    }
}

/// Thresholds passed but the run regressed against its baseline (with
/// `on_regression = "fail"`, the default).
pub const EXIT_REGRESSED: i32 = 98;

/// A test name as one path segment of the store: letters, digits, `._-`.
pub fn path_segment(test_name: &str) -> String {
    let cleaned: String =
        test_name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    let cleaned = cleaned.trim_matches('.').to_owned();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}
