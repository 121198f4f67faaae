//! **gate**: the verdict and exit code of a run, from how its shards ended
//! and how its thresholds came out on the merged data. The codes are k6's
//! wherever k6 has one:
//!
//! | exit | verdict |
//! | --- | --- |
//! | 0 | passed |
//! | 99 | thresholds crossed (as k6), including a grid-wide `abortOnFail` |
//! | 108 | the script called `test.abort()` on some shard (as k6) |
//! | 110 | the script called `exec.test.fail()` on some shard (as k6) |
//! | 97 | a shard's load generator saturated, with `[health] on_saturation = "fail"` |
//! | 1 | the run failed: a shard failed, was missing or the run was interrupted |
//!
//! When several apply, the first in this order wins, as in k6 (checked
//! against k6 1.1): a failed run, `test.abort()`, an `abortOnFail` stop,
//! `test.fail()`, then (loadgrid's own) saturated generators, then crossed
//! thresholds: thresholds judged on a saturated generator's numbers say
//! little about the target.

use loadgrid_health::HealthSummary;
use loadgrid_plan::records::{ShardOutcome, ShardStatus, Stop, StopReason};
use loadgrid_report::Verdict;
use loadgrid_thresholds::{Evaluation, Outcome};

/// `shards 0-3, 7: cause` once per distinct cause, in shard order.
fn by_cause(items: &[(u32, String)]) -> Vec<String> {
    let mut causes: Vec<(&str, Vec<u32>)> = Vec::new();
    for (shard, cause) in items {
        match causes.iter_mut().find(|(known, _)| known == cause) {
            Some((_, shards)) => shards.push(*shard),
            None => causes.push((cause, vec![*shard])),
        }
    }
    causes.into_iter().map(|(cause, shards)| format!("{}: {cause}", shard_ranges(&shards))).collect()
}

/// `shard 3`, `shards 0-24`, `shards 0-3, 7, 9-10` (from sorted shards).
pub fn shard_ranges(shards: &[u32]) -> String {
    let mut ranges: Vec<String> = Vec::new();
    let mut start = 0;
    while start < shards.len() {
        let mut end = start;
        while end + 1 < shards.len() && shards[end + 1] == shards[end] + 1 {
            end += 1;
        }
        ranges.push(match end - start {
            0 => shards[start].to_string(),
            _ => format!("{}-{}", shards[start], shards[end]),
        });
        start = end + 1;
    }
    let noun = if shards.len() == 1 { "shard" } else { "shards" };
    format!("{noun} {}", ranges.join(", "))
}

/// The run failed (a shard failed or never reported, the run was
/// interrupted), or loadgrid itself failed.
pub const EXIT_FAILED: i32 = 1;
/// Usage, configuration or input error: nothing was launched.
pub const EXIT_INPUT: i32 = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub verdict: Verdict,
    pub exit_code: i32,
    pub reasons: Vec<String>,
    /// The numbers cover less than the planned test.
    pub partial: bool,
    pub warnings: Vec<String>,
}

pub fn gate(
    statuses: &[Option<ShardStatus>],
    backend_notes: &[Option<String>],
    evaluations: &[Evaluation],
    stop: Option<&Stop>,
    allow_partial: bool,
    health: &HealthSummary,
) -> Gate {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let mut partial = false;
    // Causes shared by many shards are said once, with the shards' ranges.
    let mut missing: Vec<(u32, String)> = Vec::new();
    let mut failed: Vec<(u32, String)> = Vec::new();
    let mut marked: Vec<(u32, String)> = Vec::new();
    for (shard, status) in statuses.iter().enumerate() {
        let shard = shard as u32;
        match status {
            None => {
                partial = true;
                let message = match backend_notes.get(shard as usize).and_then(Option::as_deref) {
                    Some(note) => format!("never reported ({note})"),
                    None => "never reported".to_owned(),
                };
                missing.push((shard, message));
            }
            Some(status) if status.outcome == ShardOutcome::Failed => {
                partial = true;
                failed.push((shard, format!("failed: {}", status.reason.as_deref().unwrap_or("no reason given"))));
            }
            Some(status) => {
                partial |= status.outcome == ShardOutcome::Stopped;
                if let Some(reason) = &status.marked_failed {
                    marked.push((shard, reason.clone()));
                }
            }
        }
    }
    failures.extend(by_cause(&failed));
    if !missing.is_empty() {
        let causes = by_cause(&missing);
        if allow_partial {
            warnings.extend(causes.into_iter().map(|cause| format!("{cause} (allowed by --allow-partial)")));
        } else {
            failures.extend(causes);
            failures.push("pass --allow-partial to judge the shards that did report".to_owned());
        }
    }
    let mut marked_failed = by_cause(&marked);
    match stop.map(|s| s.reason) {
        Some(StopReason::StartTimeout) => failures.insert(0, stop.map_or(String::new(), |s| s.detail.clone())),
        Some(StopReason::Interrupted) => failures.push(format!("interrupted: {}", stop.map_or("", |s| &s.detail))),
        Some(StopReason::ShardFailed) if failures.is_empty() => {
            failures.push(stop.map_or(String::new(), |s| s.detail.clone()))
        }
        _ => {}
    }
    let aborted = stop.filter(|s| s.reason == StopReason::TestAbort).map(|s| s.detail.clone());
    let mut crossed: Vec<String> = Vec::new();
    for evaluation in evaluations {
        match &evaluation.outcome {
            Outcome::Crossed => crossed.push(format!(
                "threshold `{}` on `{}` crossed",
                evaluation.threshold.source,
                evaluation.threshold.key()
            )),
            Outcome::Error(message) => crossed.push(format!(
                "threshold `{}` on `{}` could not be evaluated: {message}",
                evaluation.threshold.source,
                evaluation.threshold.key()
            )),
            Outcome::Passed => {}
        }
        if evaluation.no_samples {
            warnings.push(format!(
                "threshold `{}` on `{}` saw no samples (is the metric or tag name right?)",
                evaluation.threshold.source,
                evaluation.threshold.key()
            ));
        }
        if !evaluation.exact {
            warnings.push(format!(
                "threshold on `{}` was evaluated on a tag breakdown that hit the cardinality cap: the value may be off",
                evaluation.threshold.key()
            ));
        }
    }
    // Said once: as the verdict's reasons when it fails the run, as
    // warnings otherwise.
    let mut saturated = health.messages.clone();
    let abort_on_fail = stop.filter(|s| s.reason == StopReason::AbortOnFail);
    if let Some(stop) = abort_on_fail {
        crossed.push(format!("the grid was stopped early: {}", stop.detail));
    }
    let (verdict, mut reasons) = if !failures.is_empty() {
        (Verdict::Failed, failures)
    } else if let Some(detail) = aborted {
        (Verdict::Aborted, vec![detail])
    } else if abort_on_fail.is_some() {
        (Verdict::ThresholdsCrossed, std::mem::take(&mut crossed))
    } else if !marked_failed.is_empty() {
        (Verdict::MarkedFailed, std::mem::take(&mut marked_failed))
    } else if health.fails_the_run() {
        (Verdict::GeneratorSaturated, std::mem::take(&mut saturated))
    } else if !crossed.is_empty() {
        (Verdict::ThresholdsCrossed, std::mem::take(&mut crossed))
    } else {
        (Verdict::Passed, Vec::new())
    };
    reasons.extend(marked_failed);
    reasons.extend(crossed);
    warnings.extend(saturated);
    warnings.extend(health.clock_warnings.iter().cloned());
    Gate { verdict, exit_code: verdict.exit_code(), reasons, partial, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgrid_health::{Allowance, Grid, Limits, OnSaturation, Pool, Sample, ShardHealth};
    use loadgrid_plan::records::now_ms;

    fn status(shard: u32, outcome: ShardOutcome) -> Option<ShardStatus> {
        Some(ShardStatus {
            shard,
            outcome,
            reason: Some("because".into()),
            k6_exit_code: Some(0),
            k6_stderr_tail: vec![],
            started_at_ms: 0,
            resumed_at_ms: None,
            test_ended_at_ms: None,
            marked_failed: None,
            ended_at_ms: 0,
            has_result: true,
            samples: 0,
            rejected_lines: 0,
            overflowed_metrics: vec![],
            health: None,
        })
    }

    fn marked(shard: u32) -> Option<ShardStatus> {
        let mut status = status(shard, ShardOutcome::Completed)?;
        status.marked_failed = Some("test marked as failed: bad thing".into());
        Some(status)
    }

    /// Shard 1 pegged at its CPU limit for the whole test.
    fn saturated(on_saturation: OnSaturation) -> HealthSummary {
        let allowance = Allowance { pool: Pool::Container, cpu_cores: 0.2, memory_bytes: 1 << 30 };
        let samples = (0..10).map(|i| Sample { at_ms: i * 1000, pool_cpu: 0.2, ..Sample::default() }).collect();
        let health = ShardHealth { allowance, samples, log: Default::default(), oom_kills: 0, clock_offset: None };
        let input = loadgrid_health::ShardInput { shard: 1, health: &health, dropped_iterations: 0 };
        let limits = Limits { on_saturation, ..Limits::default() };
        HealthSummary::build(&[input], &[0], limits, &Grid { shards: 2, on_this_machine: true })
    }

    /// Saturation fails the run only when asked to, below `test.fail()`
    /// and above crossed thresholds; otherwise it is a warning.
    #[test]
    fn saturated_generators_fail_the_run_only_with_on_saturation_fail() {
        let shards = [status(0, ShardOutcome::Completed), status(1, ShardOutcome::Completed)];
        let message = "shard 1 ran at 100% CPU of its container (0.2 cores) for 10 s of 10 s: its latencies include \
                       client-side queueing; use 3 shards (`loadgrid plan` sizes this) or give each shard more CPU \
                       (`--cpu`, 1024 units = 1 vCPU)";
        let warned = gate(&shards, &[], &[], None, false, &saturated(OnSaturation::Warn));
        assert_eq!((warned.verdict, warned.exit_code), (Verdict::Passed, 0));
        assert_eq!(warned.warnings, [message]);
        let failed = gate(&shards, &[], &[crossed()], None, false, &saturated(OnSaturation::Fail));
        assert_eq!((failed.verdict, failed.exit_code), (Verdict::GeneratorSaturated, 97));
        assert_eq!(failed.reasons[0], message);
        assert_eq!(failed.reasons.len(), 2, "the crossed threshold is still said: {:?}", failed.reasons);
        let marked = gate(
            &[status(0, ShardOutcome::Completed), marked(1)],
            &[],
            &[],
            None,
            false,
            &saturated(OnSaturation::Fail),
        );
        assert_eq!(marked.exit_code, 110);
        assert_eq!(marked.warnings, [message]);
    }

    fn crossed() -> Evaluation {
        let threshold =
            loadgrid_thresholds::Threshold::new("iterations", "count<1", loadgrid_thresholds::Origin::Script).unwrap();
        loadgrid_thresholds::evaluate(&[threshold], &loadgrid_metrics::MetricSet::new(), Default::default())
            .pop()
            .map(|e| Evaluation { outcome: Outcome::Crossed, ..e })
            .unwrap()
    }

    #[test]
    fn a_failed_or_missing_shard_never_passes() {
        let gate_failed = gate(
            &[status(0, ShardOutcome::Completed), status(1, ShardOutcome::Failed)],
            &[],
            &[],
            None,
            true,
            &HealthSummary::default(),
        );
        assert_eq!((gate_failed.verdict, gate_failed.exit_code), (Verdict::Failed, 1));
        let missing =
            gate(&[status(0, ShardOutcome::Completed), None], &[], &[], None, false, &HealthSummary::default());
        assert_eq!(missing.exit_code, 1);
        assert_eq!(
            missing.reasons,
            ["shard 1: never reported", "pass --allow-partial to judge the shards that did report"]
        );
        let allowed =
            gate(&[status(0, ShardOutcome::Completed), None], &[], &[], None, true, &HealthSummary::default());
        assert_eq!(allowed.exit_code, 0);
        assert!(allowed.partial);
    }

    #[test]
    fn interruption_fails_and_abort_on_fail_crosses() {
        let interrupted = Stop { reason: StopReason::Interrupted, detail: "SIGINT".into(), at_ms: now_ms() };
        let result =
            gate(&[status(0, ShardOutcome::Stopped)], &[], &[], Some(&interrupted), false, &HealthSummary::default());
        assert_eq!(result.exit_code, 1);
        assert!(result.partial);
        let aborted = Stop { reason: StopReason::AbortOnFail, detail: "p(95)<1 crossed".into(), at_ms: now_ms() };
        let result =
            gate(&[status(0, ShardOutcome::Stopped)], &[], &[], Some(&aborted), false, &HealthSummary::default());
        assert_eq!((result.verdict, result.exit_code), (Verdict::ThresholdsCrossed, 99));
    }

    /// k6 1.1: `test.fail()` alone exits 110, and beats thresholds crossed
    /// at the end; `test.abort()` exits 108 and beats it; an `abortOnFail`
    /// stop exits 99 and beats it too.
    #[test]
    fn test_fail_and_test_abort_rank_as_in_k6() {
        let shards = [status(0, ShardOutcome::Completed), marked(1)];
        let marked_only = gate(&shards, &[], &[], None, false, &HealthSummary::default());
        assert_eq!((marked_only.verdict, marked_only.exit_code), (Verdict::MarkedFailed, 110));
        assert_eq!(marked_only.reasons, ["shard 1: test marked as failed: bad thing"]);
        let with_crossed = gate(&shards, &[], &[crossed()], None, false, &HealthSummary::default());
        assert_eq!(with_crossed.exit_code, 110);
        assert_eq!(with_crossed.reasons.len(), 2, "{:?}", with_crossed.reasons);
        let abort = Stop { reason: StopReason::TestAbort, detail: "shard 0 called test.abort(): no".into(), at_ms: 0 };
        let aborted = gate(&shards, &[], &[crossed()], Some(&abort), false, &HealthSummary::default());
        assert_eq!((aborted.verdict, aborted.exit_code), (Verdict::Aborted, 108));
        assert_eq!(aborted.reasons[0], "shard 0 called test.abort(): no");
        let abort_on_fail = Stop { reason: StopReason::AbortOnFail, detail: "crossed".into(), at_ms: 0 };
        assert_eq!(gate(&shards, &[], &[], Some(&abort_on_fail), false, &HealthSummary::default()).exit_code, 99);
    }

    /// 25 shards with one cause read as one line, not 25.
    #[test]
    fn causes_are_said_once_with_shard_ranges() {
        let mut statuses: Vec<Option<ShardStatus>> = (0..25).map(|_| None).collect();
        statuses.push(status(25, ShardOutcome::Completed));
        statuses.push(None);
        let notes: Vec<Option<String>> =
            (0..27).map(|s| (s == 26).then(|| "its ECS task was never launched".to_owned())).collect();
        let result = gate(&statuses, &notes, &[], None, false, &HealthSummary::default());
        assert_eq!(
            result.reasons,
            [
                "shards 0-24: never reported",
                "shard 26: never reported (its ECS task was never launched)",
                "pass --allow-partial to judge the shards that did report"
            ]
        );
        assert_eq!(shard_ranges(&[0, 1, 2, 3, 7, 9, 10]), "shards 0-3, 7, 9-10");
    }
}
