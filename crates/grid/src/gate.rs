//! **gate**: the verdict and exit code of a run, from how its shards ended
//! and how its thresholds came out on the merged data.
//!
//! | exit | verdict |
//! | --- | --- |
//! | 0 | passed |
//! | 99 | thresholds crossed (as k6), including a grid-wide `abortOnFail` |
//! | 1 | the run failed: a shard failed, was missing or the run was interrupted |

use loadgrid_plan::records::{ShardOutcome, ShardStatus, Stop, StopReason};
use loadgrid_report::Verdict;
use loadgrid_thresholds::{Evaluation, Outcome};

pub const EXIT_PASSED: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_INPUT: i32 = 2;
pub const EXIT_THRESHOLDS: i32 = 99;

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
) -> Gate {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let mut partial = false;
    for (shard, status) in statuses.iter().enumerate() {
        match status {
            None => {
                partial = true;
                let message = match backend_notes.get(shard).and_then(Option::as_deref) {
                    Some(note) => format!("shard {shard} never reported ({note})"),
                    None => format!("shard {shard} never reported"),
                };
                if allow_partial {
                    warnings.push(format!("{message} (allowed by --allow-partial)"));
                } else {
                    failures.push(format!("{message}; pass --allow-partial to judge the shards that did"));
                }
            }
            Some(status) if status.outcome == ShardOutcome::Failed => {
                partial = true;
                failures
                    .push(format!("shard {shard} failed: {}", status.reason.as_deref().unwrap_or("no reason given")));
            }
            Some(status) if status.outcome == ShardOutcome::Stopped => partial = true,
            Some(_) => {}
        }
    }
    match stop.map(|s| s.reason) {
        Some(StopReason::Interrupted) => failures.push(format!("interrupted: {}", stop.map_or("", |s| &s.detail))),
        Some(StopReason::TestAbort) => failures.push(stop.map_or(String::new(), |s| s.detail.clone())),
        Some(StopReason::ShardFailed) if failures.is_empty() => {
            failures.push(stop.map_or(String::new(), |s| s.detail.clone()))
        }
        _ => {}
    }
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
            Outcome::NoData => warnings.push(format!(
                "threshold `{}` on `{}` saw no samples (is the metric or tag name right?)",
                evaluation.threshold.source,
                evaluation.threshold.key()
            )),
            Outcome::Passed => {}
        }
        if !evaluation.exact {
            warnings.push(format!(
                "threshold on `{}` was evaluated on a tag breakdown that hit the cardinality cap: the value may be off",
                evaluation.threshold.key()
            ));
        }
    }
    if let Some(stop) = stop.filter(|s| s.reason == StopReason::AbortOnFail) {
        crossed.push(format!("the grid was stopped early: {}", stop.detail));
    }
    let (verdict, exit_code, reasons) = if !failures.is_empty() {
        let mut reasons = failures;
        reasons.extend(crossed);
        (Verdict::Failed, EXIT_FAILED, reasons)
    } else if !crossed.is_empty() {
        (Verdict::ThresholdsCrossed, EXIT_THRESHOLDS, crossed)
    } else {
        (Verdict::Passed, EXIT_PASSED, Vec::new())
    };
    Gate { verdict, exit_code, reasons, partial, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            ended_at_ms: 0,
            has_result: true,
            samples: 0,
            rejected_lines: 0,
            overflowed_metrics: vec![],
        })
    }

    #[test]
    fn a_failed_or_missing_shard_never_passes() {
        let gate_failed =
            gate(&[status(0, ShardOutcome::Completed), status(1, ShardOutcome::Failed)], &[], &[], None, true);
        assert_eq!((gate_failed.verdict, gate_failed.exit_code), (Verdict::Failed, EXIT_FAILED));
        let missing = gate(&[status(0, ShardOutcome::Completed), None], &[], &[], None, false);
        assert_eq!(missing.exit_code, EXIT_FAILED);
        assert!(missing.reasons[0].contains("--allow-partial"));
        let allowed = gate(&[status(0, ShardOutcome::Completed), None], &[], &[], None, true);
        assert_eq!(allowed.exit_code, EXIT_PASSED);
        assert!(allowed.partial);
    }

    #[test]
    fn interruption_fails_and_abort_on_fail_crosses() {
        let interrupted = Stop { reason: StopReason::Interrupted, detail: "SIGINT".into(), at_ms: now_ms() };
        let result = gate(&[status(0, ShardOutcome::Stopped)], &[], &[], Some(&interrupted), false);
        assert_eq!(result.exit_code, EXIT_FAILED);
        assert!(result.partial);
        let aborted = Stop { reason: StopReason::AbortOnFail, detail: "p(95)<1 crossed".into(), at_ms: now_ms() };
        let result = gate(&[status(0, ShardOutcome::Stopped)], &[], &[], Some(&aborted), false);
        assert_eq!((result.verdict, result.exit_code), (Verdict::ThresholdsCrossed, EXIT_THRESHOLDS));
    }
}
