//! k6 thresholds for a whole grid: parsing, validation and evaluation.
//!
//! A k6 threshold is a metric key and a condition, e.g.
//! `http_req_duration{name:login}` and `p(95)<300`. The threshold **passes
//! while the condition is true** and is *crossed* when it is false, as in
//! k6. Each shard of a grid runs k6 without evaluating thresholds; the grid
//! evaluates them here, once, over the merged
//! [`MetricSet`](loadgrid_metrics::MetricSet).
//!
//! Thresholds come from three places ([`Origin`]), all with k6's grammar:
//!
//! - the script's `options.thresholds`, as `k6 inspect` prints them:
//!   [`from_k6_options`];
//! - the `[thresholds]` table of `loadgrid.toml`: [`from_config_table`]
//!   (items are [`ThresholdSpec`]s) or [`from_json`] on the same shape;
//! - `--threshold 'metric{tag:value}: expression[;abortOnFail,...]'` flags:
//!   [`parse_flag`].
//!
//! The grammar (see also the crate README):
//!
//! ```text
//! key         = metric [ "{" tag ":" value { "," tag ":" value } "}" ]
//! metric      = [a-zA-Z_][a-zA-Z0-9_]{0,127}
//! tag, value  = text, or text quoted with " or ' (then commas are literal);
//!               a value may contain ':' and '{...}'
//! expression  = aggregation operator number      (whitespace allowed between)
//! aggregation = avg | min | max | med | count | rate | value | p(N), 0 <= N <= 100
//! operator    = < | <= | > | >= | == | === | !=  (=== is ==)
//! number      = float: 300, -1.5, .5, 1e3, inf
//! ```
//!
//! Which aggregations apply depends on the metric type, as in k6: counters
//! have `count` (the sum of their values) and `rate` (that sum per second of
//! test time); gauges `value` (the latest); rates `rate` (share of non-zero
//! samples); trends `avg min max med p(N)`. [`Threshold::validate_static`]
//! checks k6's built-in metrics before the run; custom metrics are checked
//! by [`evaluate`] once their type is known.
//!
//! Everything here is pure: no I/O, no clock.

mod duration;
mod error;
mod eval;
mod expression;
mod key;
mod spec;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use loadgrid_metrics::{MetricKind, TagSet};

pub use duration::{format_duration, parse_duration};
pub use error::ThresholdError;
pub use eval::{abort_triggers, evaluate, verdict, Evaluation, Outcome};
pub use expression::{Aggregation, Expression, Operator};
pub use key::{format_key, parse_metric_key, validate_metric_name, MAX_METRIC_NAME_LEN};
pub use spec::{from_config_table, from_json, from_k6_options, parse_flag, ThresholdSpec};

/// Where a threshold was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The k6 script's `options.thresholds`.
    Script,
    /// `loadgrid.toml`'s `[thresholds]`.
    Config,
    /// A `--threshold` flag.
    Flag,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Script => "script",
            Origin::Config => "config",
            Origin::Flag => "flag",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One threshold on one metric or sub-metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The metric name, without the tag filter.
    pub metric: String,
    /// The sub-metric's tag filter; empty for the whole metric.
    pub filter: TagSet,
    pub expression: Expression,
    /// The expression as written (trimmed), e.g. `p(95) < 300`, for display.
    pub source: String,
    /// Stop the whole grid as soon as this threshold is crossed.
    pub abort_on_fail: bool,
    /// With `abort_on_fail`: do not abort before the test has run this long.
    pub delay_abort_eval: Option<Duration>,
    pub origin: Origin,
}

impl Threshold {
    /// Parses a metric key (`metric` or `metric{tag:value,...}`) and an
    /// expression (`p(95)<300`). `abort_on_fail` starts false.
    pub fn new(key: &str, expression: &str, origin: Origin) -> Result<Threshold, ThresholdError> {
        let (metric, filter) = parse_metric_key(key)?;
        let parsed = expression::parse_expression(expression).map_err(|(reason, span)| ThresholdError::Expression {
            metric: Some(key.trim().to_owned()),
            expression: expression.to_owned(),
            reason,
            span,
        })?;
        Ok(Threshold {
            metric,
            filter,
            expression: parsed,
            source: expression.trim().to_owned(),
            abort_on_fail: false,
            delay_abort_eval: None,
            origin,
        })
    }

    /// The metric key as k6 prints it: `metric` or `metric{tag:value}`.
    pub fn key(&self) -> String {
        format_key(&self.metric, &self.filter)
    }

    /// Rejects an aggregation that a built-in k6 metric does not have (e.g.
    /// `http_req_duration: rate<0.1`), before anything runs. Custom metrics
    /// pass: their type is known only once samples arrive.
    pub fn validate_static(&self) -> Result<(), ThresholdError> {
        match MetricKind::builtin(&self.metric) {
            Some((kind, _)) => self.validate_for(kind),
            None => Ok(()),
        }
    }

    /// Rejects an aggregation that a metric of type `kind` does not have.
    pub fn validate_for(&self, kind: MetricKind) -> Result<(), ThresholdError> {
        if self.expression.aggregation.supported_by(kind) {
            return Ok(());
        }
        Err(ThresholdError::Unsupported {
            metric: self.key(),
            expression: self.source.clone(),
            aggregation: self.expression.aggregation,
            kind,
        })
    }
}

/// The flag form, which [`parse_flag`] reads back:
/// `http_req_failed: rate<0.01;abortOnFail,delayAbortEval=30s`.
impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key(), self.source)?;
        match (self.abort_on_fail, self.delay_abort_eval) {
            (false, None) => Ok(()),
            (abort, delay) => {
                f.write_str(";")?;
                if abort {
                    f.write_str("abortOnFail")?;
                } else {
                    f.write_str("abortOnFail=false")?;
                }
                if let Some(delay) = delay {
                    write!(f, ",delayAbortEval={}", format_duration(delay))?;
                }
                Ok(())
            }
        }
    }
}

/// Every tag key that some threshold filters on: the agents must keep these
/// tags (k6 `--system-tags` and loadgrid's tag handling).
pub fn referenced_tag_keys(thresholds: &[Threshold]) -> BTreeSet<String> {
    thresholds.iter().flat_map(|t| t.filter.iter().map(|(k, _)| k.to_owned())).collect()
}

/// The distinct (metric, filter) sub-metrics that thresholds name, sorted:
/// the selectors each shard must aggregate exactly (see
/// `loadgrid_metrics::MetricEntry::selectors`). Whole-metric thresholds need
/// none.
pub fn selectors(thresholds: &[Threshold]) -> Vec<(String, TagSet)> {
    let unique: BTreeSet<(String, TagSet)> =
        thresholds.iter().filter(|t| !t.filter.is_empty()).map(|t| (t.metric.clone(), t.filter.clone())).collect();
    unique.into_iter().collect()
}

#[cfg(test)]
mod tests;
