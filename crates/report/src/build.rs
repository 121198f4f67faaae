//! Building a [`RunSummary`] from what a run left behind: the manifest, the
//! merged metrics, each shard's status and result, and the threshold
//! evaluations.

use std::collections::{BTreeMap, BTreeSet};

use loadgrid_health::HealthSummary;
use loadgrid_metrics::{GroupTree, MetricEntry, MetricSet, ShardResult, Timeline, GROUP_SEPARATOR};
use loadgrid_plan::records::{ShardStatus, Stop};
use loadgrid_plan::Manifest;
use loadgrid_thresholds::{Evaluation, Outcome};

use crate::model::{
    CheckSummary, GroupSummary, RunSummary, ShardState, ShardSummary, StopSummary, ThresholdOutcome, ThresholdSummary,
    TimelinePoint, Verdict,
};
use crate::values::{endpoint_summaries, finite, metric_summaries, Breakdown};
use crate::SUMMARY_SCHEMA_VERSION;

/// One planned shard: how it ended (`status`) and what it measured
/// (`result`). Either may be missing: a shard that never reported has
/// neither.
#[derive(Clone, Copy, Debug)]
pub struct ShardInput<'a> {
    pub shard: u32,
    pub status: Option<&'a ShardStatus>,
    pub result: Option<&'a ShardResult>,
    /// How the backend saw the shard end, when it said.
    pub backend_note: Option<&'a str>,
}

/// Everything [`build_summary`] reads. The verdict, exit code, reasons and
/// partial flag are decided by the caller (the gate); this crate only
/// reports them.
#[derive(Clone, Debug)]
pub struct SummaryInput<'a> {
    pub manifest: &'a Manifest,
    /// The grid's merged metrics.
    pub merged: &'a MetricSet,
    /// The shards that reported anything. Planned shards absent from this
    /// list appear in the summary as `missing`.
    pub shards: Vec<ShardInput<'a>>,
    /// The test's time, from [`test_time`]: the same the thresholds used.
    pub test_time: TestTime,
    pub evaluations: &'a [Evaluation],
    pub verdict: Verdict,
    pub exit_code: i32,
    pub verdict_reasons: Vec<String>,
    pub partial: bool,
    pub stop: Option<&'a Stop>,
    /// Warnings to carry into the summary (for example the plan's). The
    /// builder appends its own (thresholds without data, inexact
    /// sub-metrics, lost tag detail, unreadable k6 output); duplicates are
    /// dropped.
    pub warnings: Vec<String>,
    /// The generators' health, judged by the caller (it also decides the verdict).
    pub health: HealthSummary,
}

/// Summarises a run.
///
/// - **Test time** (`started_at_ms`, `ended_at_ms`, `duration_seconds`, the
///   divisor of every `/s` rate): see [`test_time`].
/// - **Metrics**: see [`MetricSummary`](crate::MetricSummary). The `vus` and
///   `vus_max` gauges come from the grid-wide timeline (each second the sum
///   over shards at the same instant), over the seconds in which every
///   shard with VUs was reporting, as one k6 samples them only while its
///   test runs. Metrics the thresholds name are listed even without
///   samples, with zero values, as k6 lists them.
/// - **Groups and checks**: k6's `root_group`, ordered as the script first
///   ran them.
/// - **Endpoints**: `http_req_duration` and `http_req_failed` broken down by
///   the `name` tag, busiest first, at most [`MAX_ENDPOINT_ROWS`](crate::MAX_ENDPOINT_ROWS).
/// - **Scenarios**: the same, by the `scenario` tag.
/// - **Shards**: one row per planned shard, numbers from the shard's own
///   result.
pub fn build_summary(input: &SummaryInput) -> RunSummary {
    let manifest = input.manifest;
    let time = input.test_time;
    let duration = time.duration_seconds;
    let mut warnings = input.warnings.clone();
    let metrics = metric_summaries(input.merged, input.evaluations, duration);
    let endpoints = endpoint_summaries(input.merged, Breakdown::Endpoints, duration, &mut warnings);
    let scenarios = endpoint_summaries(input.merged, Breakdown::Scenarios, duration, &mut warnings);
    let shards = shard_summaries(input);
    warnings.extend(derived_warnings(input, &shards));
    RunSummary {
        schema_version: SUMMARY_SCHEMA_VERSION,
        run_id: manifest.run_id.clone(),
        test_name: manifest.test_name.clone(),
        script: manifest.script.clone(),
        created_at: manifest.created_at.clone(),
        backend: manifest.backend.to_string(),
        k6_version: manifest.k6_version.clone(),
        verdict: input.verdict,
        exit_code: input.exit_code,
        verdict_reasons: input.verdict_reasons.clone(),
        partial: input.partial,
        stop: input.stop.map(|stop| StopSummary { reason: stop.reason, detail: stop.detail.clone() }),
        shards_planned: manifest.shards,
        started_at_ms: time.started_at_ms,
        ended_at_ms: time.ended_at_ms,
        duration_seconds: duration,
        metrics,
        thresholds: input.evaluations.iter().map(threshold_summary).collect(),
        root_group: root_group(&input.merged.groups),
        endpoints,
        scenarios,
        shards,
        timeline: timeline_points(&input.merged.timeline),
        health: input.health.clone(),
        warnings: dedupe(warnings),
    }
}

/// When the grid's test ran, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestTime {
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub duration_seconds: f64,
}

impl TestTime {
    /// A span from two ends, if both are known and in order.
    fn between(started: Option<i64>, ended: Option<i64>) -> Option<TestTime> {
        let (start, end) = (started?, ended?);
        (end >= start).then(|| TestTime {
            started_at_ms: Some(start),
            ended_at_ms: Some(end),
            duration_seconds: finite((end - start) as f64 / 1000.0),
        })
    }

    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.duration_seconds.max(0.0))
    }
}

/// How long the grid's test ran, as k6's `testRunDurationMs` counts one
/// k6's: from the shared start (`go_start_at_ms`, else the first shard's
/// resume) to the moment the last shard's k6 test ended, never the grid's
/// own start-up, teardown wait or upload time. Without those records, the
/// shards' first and last samples, else the merged timeline's span. The
/// one duration counters' `rate` is computed with, in thresholds and in
/// the summary alike.
pub fn test_time(go_start_at_ms: Option<i64>, shards: &[ShardInput], merged: &MetricSet) -> TestTime {
    let statuses = || shards.iter().filter_map(|s| s.status);
    let results = || shards.iter().filter_map(|s| s.result);
    let from_status = || {
        let start = go_start_at_ms.or_else(|| statuses().filter_map(|s| s.resumed_at_ms).min());
        TestTime::between(start, statuses().map(|s| s.test_ended_at_ms.unwrap_or(s.ended_at_ms)).max())
    };
    let from_samples = || {
        TestTime::between(
            results().filter_map(|r| r.first_sample_us).min().map(|us| us.div_euclid(1000)),
            results().filter_map(|r| r.last_sample_us).max().map(|us| us.div_euclid(1000)),
        )
    };
    let from_timeline = || {
        let seconds = || merged.timeline.iter().map(|(t, _)| t);
        TestTime::between(seconds().min().map(|t| t * 1000), seconds().max().map(|t| (t + 1) * 1000))
    };
    from_status().or_else(from_samples).or_else(from_timeline).unwrap_or(TestTime {
        started_at_ms: None,
        ended_at_ms: None,
        duration_seconds: 0.0,
    })
}

/// k6's `root_group` from the merged tree.
fn root_group(tree: &GroupTree) -> GroupSummary {
    group_summary(tree, "", "")
}

fn group_summary(tree: &GroupTree, name: &str, path: &str) -> GroupSummary {
    GroupSummary {
        name: name.to_owned(),
        path: path.to_owned(),
        id: k6_id(path),
        groups: tree.children(path).into_iter().map(|(name, path)| group_summary(tree, &name, &path)).collect(),
        checks: tree
            .checks_of(path)
            .into_iter()
            .map(|(name, tally)| {
                let check_path = format!("{path}{GROUP_SEPARATOR}{name}");
                CheckSummary {
                    name: name.to_owned(),
                    id: k6_id(&check_path),
                    path: check_path,
                    passes: tally.passes,
                    fails: tally.fails,
                }
            })
            .collect(),
    }
}

/// k6 names groups and checks by the MD5 of their path, in hex.
fn k6_id(path: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(path.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn threshold_summary(evaluation: &Evaluation) -> ThresholdSummary {
    let threshold = &evaluation.threshold;
    let (outcome, message) = match &evaluation.outcome {
        Outcome::Passed => (ThresholdOutcome::Passed, None),
        Outcome::Crossed => (ThresholdOutcome::Crossed, None),
        Outcome::Error(message) => (ThresholdOutcome::Error, Some(message.clone())),
    };
    ThresholdSummary {
        metric: threshold.key(),
        expression: threshold.source.clone(),
        aggregation: threshold.expression.aggregation.to_string(),
        origin: threshold.origin,
        abort_on_fail: threshold.abort_on_fail,
        observed: evaluation.observed.filter(|v| v.is_finite()),
        outcome,
        message,
        exact: evaluation.exact,
        no_samples: evaluation.no_samples,
    }
}

/// One row per shard that reported and per planned shard that did not.
fn shard_summaries(input: &SummaryInput) -> Vec<ShardSummary> {
    let mut rows: BTreeMap<u32, ShardSummary> = input.shards.iter().map(|s| (s.shard, shard_summary(s))).collect();
    for shard in 0..input.manifest.shards {
        rows.entry(shard)
            .or_insert_with(|| shard_summary(&ShardInput { shard, status: None, result: None, backend_note: None }));
    }
    rows.into_values().collect()
}

fn shard_summary(input: &ShardInput) -> ShardSummary {
    let metrics = input.result.map(|r| &r.metrics);
    let total = |name: &str| metrics.and_then(|m| m.metric(name)).map(|e| e.total());
    let counter = |name: &str| metrics.and_then(|m| m.metric(name)).map_or(0, MetricEntry::counter_sum);
    let (outcome, reason) = match input.status {
        Some(status) => (ShardState::from(status.outcome), status.reason.clone()),
        None if input.result.is_some() => {
            (ShardState::Missing, Some("no status was written (a result was)".to_owned()))
        }
        None => (ShardState::Missing, Some("the shard never reported".to_owned())),
    };
    ShardSummary {
        shard: input.shard,
        outcome,
        reason,
        k6_exit_code: input.status.and_then(|s| s.k6_exit_code),
        requests: counter("http_reqs"),
        iterations: counter("iterations"),
        p95_ms: total("http_req_duration").and_then(|a| a.percentile(95.0)).filter(|v| v.is_finite()),
        samples: input.result.map(|r| r.samples).or(input.status.map(|s| s.samples)).unwrap_or(0),
        rejected_lines: input.result.map(|r| r.rejected_lines).or(input.status.map(|s| s.rejected_lines)).unwrap_or(0),
        resumed_at_ms: input.status.and_then(|s| s.resumed_at_ms),
        ended_at_ms: input.status.map(|s| s.ended_at_ms),
        backend_note: input.backend_note.map(str::to_owned),
    }
}

fn timeline_points(timeline: &Timeline) -> Vec<TimelinePoint> {
    let percentile =
        |second: &loadgrid_metrics::Second, pct: f64| second.latency_percentile(pct).filter(|v| v.is_finite());
    timeline
        .iter()
        .map(|(t, second)| TimelinePoint {
            t,
            rps: second.requests,
            failed: second.failed_requests,
            iterations: second.iterations,
            vus: second.vus,
            data_sent: second.data_sent,
            data_received: second.data_received,
            p50_ms: percentile(second, 50.0),
            p95_ms: percentile(second, 95.0),
            p99_ms: percentile(second, 99.0),
        })
        .collect()
}

/// Warnings the numbers themselves call for.
fn derived_warnings(input: &SummaryInput, shards: &[ShardSummary]) -> Vec<String> {
    let mut warnings = Vec::new();
    for evaluation in input.evaluations {
        let threshold = &evaluation.threshold;
        let named = format!("threshold `{}: {}`", threshold.key(), threshold.source);
        if evaluation.no_samples {
            warnings.push(format!(
                "{named} had no samples; it was judged on zeros as k6 does (a rate passes), but check the metric \
                 name and tags for typos"
            ));
        }
        if !evaluation.exact {
            warnings.push(format!(
                "{named} was computed from a tag breakdown that lost samples to the tag-set cap; its value is inexact"
            ));
        }
    }
    if input.merged.overflow_samples > 0 {
        warnings.push(format!(
            "{} samples went past the per-metric tag-set cap: totals are exact, but per-tag breakdowns (endpoints, \
             sub-metrics no threshold named) are incomplete",
            input.merged.overflow_samples
        ));
    }
    let rejected: u64 = shards.iter().map(|s| s.rejected_lines).sum();
    if rejected > 0 {
        warnings.push(format!("{rejected} lines of k6 output could not be read and were skipped"));
    }
    warnings
}

fn dedupe(warnings: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    warnings.into_iter().filter(|w| seen.insert(w.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_time_needs_both_ends_in_order() {
        assert_eq!(TestTime::between(Some(1_000), None), None);
        assert_eq!(TestTime::between(Some(2_000), Some(1_000)), None);
        let time = TestTime::between(Some(1_000), Some(31_500)).unwrap();
        assert_eq!(time.duration_seconds, 30.5);
    }

    #[test]
    fn ids_are_k6_s() {
        // As k6 1.1 gave them in handleSummary's root_group.
        assert_eq!(k6_id(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(k6_id("::g1"), "9ccb03cc5acd728a2fe595bbd1f14da3");
        assert_eq!(k6_id("::g1::sub::zero truthy"), "1616633af170efa3ea0f8466f85bc1e6");
    }

    #[test]
    fn dedupe_keeps_first_occurrence_order() {
        let warnings = vec!["b".to_owned(), "a".to_owned(), "b".to_owned()];
        assert_eq!(dedupe(warnings), vec!["b".to_owned(), "a".to_owned()]);
    }
}
