//! Building a [`RunSummary`] from what a run left behind: the manifest, the
//! merged metrics, each shard's status and result, and the threshold
//! evaluations.

use std::collections::{BTreeMap, BTreeSet};

use loadgrid_metrics::{MetricSet, ShardResult, Timeline};
use loadgrid_plan::records::{ShardOutcome, ShardStatus, Stop};
use loadgrid_plan::Manifest;
use loadgrid_thresholds::{Evaluation, Outcome};

use crate::model::{RunSummary, ShardSummary, StopSummary, ThresholdSummary, TimelinePoint, Verdict};
use crate::values::{endpoint_summaries, finite, metric_summaries};
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
}

/// Summarises a run.
///
/// - **Test time** (`started_at_ms`, `ended_at_ms`, `duration_seconds`, the
///   divisor of every `/s` rate): from the earliest shard `resumed_at_ms` to
///   the latest shard `ended_at_ms` when both are known; else from the
///   shards' first and last samples; else the span of the merged timeline
///   (whole seconds); else zero, and rates are left out.
/// - **Metrics**: see [`MetricSummary`](crate::MetricSummary). The `vus` and
///   `vus_max` gauges come from the grid-wide timeline (each second the sum
///   over shards), not from the merged gauge aggregate: merging gauges keeps
///   only the latest shard's value, which is one shard's VUs, not the grid's.
///   `value` is the last second's VUs, `min` and `max` are over the seconds.
/// - **Endpoints**: `http_req_duration` and `http_req_failed` broken down by
///   the `name` tag, busiest first, at most [`MAX_ENDPOINT_ROWS`](crate::MAX_ENDPOINT_ROWS).
/// - **Shards**: one row per planned shard, numbers from the shard's own
///   result.
pub fn build_summary(input: &SummaryInput) -> RunSummary {
    let manifest = input.manifest;
    let span = run_span(input);
    let duration = span.duration_seconds;
    let mut warnings = input.warnings.clone();
    let metrics = metric_summaries(input.merged, input.evaluations, duration);
    let endpoints = endpoint_summaries(input.merged, duration, &mut warnings);
    let shards = shard_summaries(input);
    warnings.extend(derived_warnings(input, &shards));
    RunSummary {
        schema_version: SUMMARY_SCHEMA_VERSION,
        run_id: manifest.run_id.clone(),
        test_name: manifest.test_name.clone(),
        script: manifest.script.clone(),
        created_at: manifest.created_at.clone(),
        backend: manifest.backend.clone(),
        k6_version: manifest.k6_version.clone(),
        verdict: input.verdict,
        exit_code: input.exit_code,
        verdict_reasons: input.verdict_reasons.clone(),
        partial: input.partial,
        stop: input.stop.map(|stop| StopSummary { reason: stop.reason, detail: stop.detail.clone() }),
        shards_planned: manifest.shards,
        started_at_ms: span.started_at_ms,
        ended_at_ms: span.ended_at_ms,
        duration_seconds: duration,
        metrics,
        thresholds: input.evaluations.iter().map(threshold_summary).collect(),
        endpoints,
        shards,
        timeline: timeline_points(&input.merged.timeline),
        warnings: dedupe(warnings),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    started_at_ms: Option<i64>,
    ended_at_ms: Option<i64>,
    duration_seconds: f64,
}

impl Span {
    /// A span from two ends, if both are known and in order.
    fn between(started: Option<i64>, ended: Option<i64>) -> Option<Span> {
        let (start, end) = (started?, ended?);
        (end >= start).then(|| Span {
            started_at_ms: Some(start),
            ended_at_ms: Some(end),
            duration_seconds: finite((end - start) as f64 / 1000.0),
        })
    }
}

/// How long the grid's test ran: from the first shard's resume to the last
/// shard's end (else the samples' or the timeline's span). The one duration
/// counters' `rate` is computed with, in thresholds and in the summary alike.
pub fn test_duration(shards: &[ShardInput], merged: &MetricSet) -> std::time::Duration {
    std::time::Duration::from_secs_f64(span_of(shards, merged).duration_seconds.max(0.0))
}

fn run_span(input: &SummaryInput) -> Span {
    span_of(&input.shards, input.merged)
}

fn span_of(shards: &[ShardInput], merged: &MetricSet) -> Span {
    let statuses = || shards.iter().filter_map(|s| s.status);
    let results = || shards.iter().filter_map(|s| s.result);
    let from_status =
        || Span::between(statuses().filter_map(|s| s.resumed_at_ms).min(), statuses().map(|s| s.ended_at_ms).max());
    let from_samples = || {
        Span::between(
            results().filter_map(|r| r.first_sample_us).min().map(|us| us.div_euclid(1000)),
            results().filter_map(|r| r.last_sample_us).max().map(|us| us.div_euclid(1000)),
        )
    };
    let from_timeline = || {
        let seconds = || merged.timeline.iter().map(|(t, _)| t);
        Span::between(seconds().min().map(|t| t * 1000), seconds().max().map(|t| (t + 1) * 1000))
    };
    from_status().or_else(from_samples).or_else(from_timeline).unwrap_or(Span {
        started_at_ms: None,
        ended_at_ms: None,
        duration_seconds: 0.0,
    })
}

fn threshold_summary(evaluation: &Evaluation) -> ThresholdSummary {
    let threshold = &evaluation.threshold;
    let (outcome, message) = match &evaluation.outcome {
        Outcome::Passed => ("passed", None),
        Outcome::Crossed => ("crossed", None),
        Outcome::NoData => ("no_data", None),
        Outcome::Error(message) => ("error", Some(message.clone())),
    };
    ThresholdSummary {
        metric: threshold.key(),
        expression: threshold.source.clone(),
        origin: threshold.origin.as_str().to_owned(),
        abort_on_fail: threshold.abort_on_fail,
        observed: evaluation.observed.filter(|v| v.is_finite()),
        outcome: outcome.to_owned(),
        message,
        exact: evaluation.exact,
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
    let counter = |name: &str| total(name).map_or(0, |a| a.sum().max(0.0).round() as u64);
    let (outcome, reason) = match input.status {
        Some(status) => (outcome_str(status.outcome), status.reason.clone()),
        None if input.result.is_some() => ("missing", Some("no status was written (a result was)".to_owned())),
        None => ("missing", Some("the shard never reported".to_owned())),
    };
    ShardSummary {
        shard: input.shard,
        outcome: outcome.to_owned(),
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

fn outcome_str(outcome: ShardOutcome) -> &'static str {
    match outcome {
        ShardOutcome::Completed => "completed",
        ShardOutcome::Stopped => "stopped",
        ShardOutcome::Failed => "failed",
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
        if evaluation.outcome == Outcome::NoData {
            warnings.push(format!(
                "{named} had no samples; it passes, as in k6, but check the metric name and tags for typos"
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
    fn span_needs_both_ends_in_order() {
        assert_eq!(Span::between(Some(1_000), None), None);
        assert_eq!(Span::between(Some(2_000), Some(1_000)), None);
        let span = Span::between(Some(1_000), Some(31_500)).unwrap();
        assert_eq!(span.duration_seconds, 30.5);
    }

    #[test]
    fn dedupe_keeps_first_occurrence_order() {
        let warnings = vec!["b".to_owned(), "a".to_owned(), "b".to_owned()];
        assert_eq!(dedupe(warnings), vec!["b".to_owned(), "a".to_owned()]);
    }
}
