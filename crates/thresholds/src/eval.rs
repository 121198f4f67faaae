use std::fmt;
use std::time::Duration;

use loadgrid_metrics::{Aggregate, MetricKind, MetricSet};

use crate::error::unsupported_reason;
use crate::{Aggregation, Threshold};

/// How one threshold came out.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The condition held.
    Passed,
    /// The condition did not hold: the run fails (exit code 99).
    Crossed,
    /// The threshold could not be evaluated: the aggregation does not apply
    /// to the metric's actual type, the sub-metric was not kept, and so on.
    /// The run fails.
    Error(String),
}

impl Outcome {
    /// Whether this outcome fails the run.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Crossed | Outcome::Error(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.write_str("passed"),
            Outcome::Crossed => f.write_str("crossed"),
            Outcome::Error(message) => write!(f, "error: {message}"),
        }
    }
}

/// One threshold evaluated over merged metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub threshold: Threshold,
    /// The aggregated value the expression was compared with; `None` when
    /// nothing was compared (a rate without samples, an error).
    pub observed: Option<f64>,
    pub outcome: Outcome,
    /// False when the sub-metric was computed from a tag breakdown that lost
    /// samples to the cardinality cap (no exact selector was kept): the
    /// value is a lower bound of what k6 would see, and callers should say
    /// so. Percentiles are always within the trend histograms' precision
    /// (3 significant digits) whatever this says.
    pub exact: bool,
    /// The metric or sub-metric had no samples. k6 then compares zeros (and
    /// passes a rate), and so does this; callers should warn, because a
    /// typo in a metric or tag name looks exactly like this.
    pub no_samples: bool,
}

impl Evaluation {
    fn new(threshold: &Threshold, observed: Option<f64>, outcome: Outcome, exact: bool) -> Evaluation {
        Evaluation { threshold: threshold.clone(), observed, outcome, exact, no_samples: false }
    }

    fn error(threshold: &Threshold, message: String) -> Evaluation {
        Evaluation::new(threshold, None, Outcome::Error(message), true)
    }
}

/// Evaluates every threshold over the grid's merged metrics, in order.
///
/// `test_duration` is the time the test ran; k6 divides a counter's total by
/// it for a counter's `rate`.
///
/// - No tag filter: the whole metric ([`MetricEntry::total`]); with one: the
///   sub-metric ([`MetricEntry::submetric`]).
/// - `count` of a counter is the sum of its values (k6's counter sink), not
///   the number of samples; `rate` of a counter is that sum per second.
/// - A counter with no samples has a total of 0 in k6, so `count` and `rate`
///   thresholds on it are compared with 0 (`http_reqs{status:500}: count<1`
///   passes, `iterations: count>0` is crossed). As in k6's end-of-test
///   evaluation, a trend or gauge with no samples is compared as zero, and
///   a rate with no samples passes; [`Evaluation::no_samples`] says so.
/// - The aggregation is checked against the metric's type as recorded (or
///   k6's built-in type); a mismatch, or a custom metric of unknown type
///   with samples, is an [`Outcome::Error`]. A custom metric that never got
///   a sample has the type its aggregation implies (`rate` a rate).
///
/// [`MetricEntry::total`]: loadgrid_metrics::MetricEntry::total
/// [`MetricEntry::submetric`]: loadgrid_metrics::MetricEntry::submetric
pub fn evaluate(thresholds: &[Threshold], metrics: &MetricSet, test_duration: Duration) -> Vec<Evaluation> {
    thresholds.iter().map(|threshold| evaluate_one(threshold, metrics, test_duration)).collect()
}

fn evaluate_one(threshold: &Threshold, metrics: &MetricSet, test_duration: Duration) -> Evaluation {
    let entry = metrics.metric(&threshold.metric);
    let builtin = MetricKind::builtin(&threshold.metric).map(|(kind, _)| kind);
    let kind = entry.and_then(|e| e.kind).or(builtin);
    let aggregation = threshold.expression.aggregation;
    if let Some(kind) = kind {
        if !aggregation.supported_by(kind) {
            return Evaluation::error(threshold, unsupported_reason(aggregation, kind, &threshold.metric));
        }
    }
    let (aggregate, exact) = match entry {
        None => (Aggregate::new(false), true),
        Some(entry) => match entry.submetric(&threshold.filter) {
            Some(found) => found,
            None => {
                return Evaluation::error(
                    threshold,
                    format!(
                        "sub-metric `{}` is unavailable: `{}` was stored without its tags to save memory, and no exact \
                         aggregate for `{}` was kept during the run; thresholds must be known before the run starts \
                         (script, loadgrid.toml or --threshold) for the agents to keep their sub-metrics",
                        threshold.key(),
                        threshold.metric,
                        threshold.filter
                    ),
                )
            }
        },
    };
    if aggregate.count() == 0 {
        return without_samples(threshold, kind.unwrap_or_else(|| aggregation.implied_kind()), exact);
    }
    let Some(kind) = kind else {
        return Evaluation::error(
            threshold,
            format!(
                "the type of custom metric `{}` is unknown, so `{aggregation}` cannot be computed",
                threshold.metric
            ),
        );
    };
    // The grid's VUs are a sum over shards at one instant, not one shard's
    // latest value.
    if let (Aggregation::Value, Some(gauge)) = (aggregation, metrics.vu_gauge(&threshold.metric)) {
        let outcome = if threshold.expression.holds(gauge.last) { Outcome::Passed } else { Outcome::Crossed };
        return Evaluation::new(threshold, Some(gauge.last), outcome, exact);
    }
    let observed = match observe(aggregation, kind, &threshold.metric, &aggregate, test_duration) {
        Ok(value) => value,
        Err(message) => return Evaluation { exact, ..Evaluation::error(threshold, message) },
    };
    let outcome = if threshold.expression.holds(observed) { Outcome::Passed } else { Outcome::Crossed };
    Evaluation::new(threshold, Some(observed), outcome, exact)
}

/// A threshold on a metric without samples, as k6 judges it at the end of a
/// test: a rate passes, everything else is compared as zero.
fn without_samples(threshold: &Threshold, kind: MetricKind, exact: bool) -> Evaluation {
    let evaluation = if kind == MetricKind::Rate {
        Evaluation::new(threshold, None, Outcome::Passed, exact)
    } else {
        let outcome = if threshold.expression.holds(0.0) { Outcome::Passed } else { Outcome::Crossed };
        Evaluation::new(threshold, Some(0.0), outcome, exact)
    };
    Evaluation { no_samples: true, ..evaluation }
}

/// The value an aggregation takes on a metric of type `kind`, as k6's
/// `Thresholds.Run` computes it from its sinks.
fn observe(
    aggregation: Aggregation,
    kind: MetricKind,
    metric: &str,
    aggregate: &Aggregate,
    test_duration: Duration,
) -> Result<f64, String> {
    let value = match (aggregation, kind) {
        (Aggregation::Count, MetricKind::Counter) => Some(aggregate.sum()),
        (Aggregation::Rate, MetricKind::Counter) => {
            if test_duration.is_zero() {
                return Err("a counter's `rate` is its total per second of test time, and the test time is zero".into());
            }
            Some(aggregate.sum() / test_duration.as_secs_f64())
        }
        (Aggregation::Rate, MetricKind::Rate) => aggregate.rate(),
        (Aggregation::Value, MetricKind::Gauge) => aggregate.last(),
        (Aggregation::Avg, MetricKind::Trend) => aggregate.avg(),
        (Aggregation::Min, MetricKind::Trend) => aggregate.min(),
        (Aggregation::Max, MetricKind::Trend) => aggregate.max(),
        (Aggregation::Med | Aggregation::Percentile(_), MetricKind::Trend) if !aggregate.has_histogram() => {
            return Err("no histogram was kept for this trend, so percentiles are unavailable".into());
        }
        (Aggregation::Med, MetricKind::Trend) => aggregate.median(),
        (Aggregation::Percentile(p), MetricKind::Trend) => aggregate.percentile(p),
        (aggregation, kind) => return Err(unsupported_reason(aggregation, kind, metric)),
    };
    value.ok_or_else(|| format!("`{aggregation}` has no value on these samples"))
}

/// Whether the run passes its thresholds: nothing crossed and nothing that
/// could not be evaluated.
pub fn verdict(evaluations: &[Evaluation]) -> bool {
    !evaluations.iter().any(|e| e.outcome.is_failure())
}

/// The crossed evaluations that should stop the grid now, `elapsed` into the
/// test: those whose threshold has `abortOnFail` and whose `delayAbortEval`
/// is over. As in k6, without `delayAbortEval` the abort is immediate, and
/// with it the test must have run strictly longer than the delay.
pub fn abort_triggers(evaluations: &[Evaluation], elapsed: Duration) -> Vec<&Evaluation> {
    evaluations
        .iter()
        // k6 skips thresholds on empty metrics while the test runs.
        .filter(|e| e.outcome == Outcome::Crossed && e.threshold.abort_on_fail && !e.no_samples)
        .filter(|e| e.threshold.delay_abort_eval.is_none_or(|delay| elapsed > delay))
        .collect()
}
