//! Regression rules: how much worse than the baseline a metric may get.
//!
//! A rule names a metric statistic and the change it tolerates:
//!
//! | rule | regressed when |
//! | --- | --- |
//! | `"http_req_duration.p(95)" = "+10%"` | p95 rose by more than 10 % |
//! | `"http_req_failed.rate" = "+0.5pp"` | the error rate rose by more than 0.5 percentage points |
//! | `"http_reqs.rate" = "-10%"` | RPS fell by more than 10 % |
//! | `"http_req_duration{name:login}.avg" = "+20ms"` | the average rose by more than 20 (the metric's unit) |
//!
//! `+` tolerates a rise up to the amount (higher is worse), `-` a fall
//! (lower is worse).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("regression rule `{key} = \"{rule}\"`: {message}")]
pub struct RuleError {
    pub key: String,
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tolerance {
    /// Relative change, as a fraction (0.10 for 10 %).
    Percent(f64),
    /// Absolute change of a rate, in percentage points.
    PercentagePoints(f64),
    /// Absolute change in the metric's own unit (ms for time metrics).
    Absolute(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionRule {
    /// `http_req_duration` or `http_req_duration{name:login}`.
    pub metric: String,
    /// k6 summary-export statistic: `p(95)`, `avg`, `med`, `rate`, `count`...
    pub stat: String,
    /// True when a rise is the regression (`+`), false for a fall (`-`).
    pub higher_is_worse: bool,
    pub tolerance: Tolerance,
    /// As written.
    pub text: String,
}

impl RegressionRule {
    /// Parses `key = "rule"` from `[regression.rules]`.
    pub fn parse(key: &str, rule: &str) -> Result<RegressionRule, RuleError> {
        let error =
            |message: &str| RuleError { key: key.to_owned(), rule: rule.to_owned(), message: message.to_owned() };
        // The statistic follows the last `.` outside the tag filter's braces.
        let split = key.rfind('.').filter(|&i| !key[i..].contains('}'));
        let Some(split) = split else {
            return Err(error("the key is `metric.statistic`, e.g. `http_req_duration.p(95)`"));
        };
        let (metric, stat) = (&key[..split], &key[split + 1..]);
        if metric.is_empty() || !is_stat(stat) {
            return Err(error("unknown statistic; use avg, min, med, max, p(N), count, rate or value"));
        }
        let text = rule.trim();
        let higher_is_worse = match text.chars().next() {
            Some('+') => true,
            Some('-') => false,
            _ => return Err(error("start with `+` (a rise is worse) or `-` (a fall is worse), e.g. `+10%`")),
        };
        let body = &text[1..];
        let (number, tolerance): (&str, fn(f64) -> Tolerance) = if let Some(n) = body.strip_suffix("pp") {
            (n, Tolerance::PercentagePoints)
        } else if let Some(n) = body.strip_suffix('%') {
            (n, |v| Tolerance::Percent(v / 100.0))
        } else if let Some(n) = body.strip_suffix("ms") {
            (n, Tolerance::Absolute)
        } else {
            (body, Tolerance::Absolute)
        };
        let amount: f64 =
            number.trim().parse().map_err(|_| error("the amount is a number: `+10%`, `+0.5pp`, `+20ms`, `-5`"))?;
        if !amount.is_finite() || amount < 0.0 {
            return Err(error("the amount must be a non-negative number"));
        }
        if matches!(tolerance(amount), Tolerance::PercentagePoints(_)) && stat != "rate" {
            return Err(error("percentage points (`pp`) apply to a `rate`"));
        }
        Ok(RegressionRule {
            metric: metric.to_owned(),
            stat: stat.to_owned(),
            higher_is_worse,
            tolerance: tolerance(amount),
            text: text.to_owned(),
        })
    }

    pub fn key(&self) -> String {
        format!("{}.{}", self.metric, self.stat)
    }

    /// Judges `current` against `baseline`.
    pub fn judge(&self, baseline: Option<f64>, current: Option<f64>) -> RuleResult {
        let mut result = RuleResult {
            metric: self.metric.clone(),
            stat: self.stat.clone(),
            rule: self.text.clone(),
            baseline,
            current,
            delta_text: String::new(),
            regressed: false,
            note: None,
        };
        let (Some(base), Some(now)) = (baseline, current) else {
            result.note = Some("no value in one of the runs: not judged".into());
            result.delta_text = "n/a".into();
            return result;
        };
        let worse_by = if self.higher_is_worse { now - base } else { base - now };
        let (allowed, delta_text) = match self.tolerance {
            Tolerance::Percent(fraction) => {
                let relative = if base == 0.0 {
                    if now == base {
                        0.0
                    } else {
                        f64::INFINITY
                    }
                } else {
                    (now - base) / base.abs()
                };
                let allowed = fraction * base.abs();
                (allowed, format!("{:+.1}%", relative * 100.0))
            }
            Tolerance::PercentagePoints(points) => (points / 100.0, format!("{:+.2}pp", (now - base) * 100.0)),
            Tolerance::Absolute(amount) => (amount, format!("{:+.2}", now - base)),
        };
        result.delta_text = delta_text;
        // A tiny epsilon keeps "exactly at the limit" from flapping on float noise.
        result.regressed = worse_by > allowed + 1e-9 * base.abs().max(1.0);
        result
    }
}

fn is_stat(stat: &str) -> bool {
    matches!(stat, "avg" | "min" | "med" | "max" | "count" | "rate" | "value" | "passes" | "fails")
        || stat.strip_prefix("p(").and_then(|s| s.strip_suffix(')')).is_some_and(|n| n.parse::<f64>().is_ok())
}

/// One rule's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    pub metric: String,
    pub stat: String,
    pub rule: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// `+12.3%`, `+0.70pp`, `+4.00`.
    pub delta_text: String,
    pub regressed: bool,
    pub note: Option<String>,
}

impl RuleResult {
    pub fn key(&self) -> String {
        format!("{}.{}", self.metric, self.stat)
    }
}

/// The run judged against its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    pub baseline_run_id: String,
    pub results: Vec<RuleResult>,
}

impl RegressionReport {
    pub fn regressed(&self) -> bool {
        self.results.iter().any(|r| r.regressed)
    }
}

/// Parses `[regression.rules]`.
pub fn parse_rules(rules: &BTreeMap<String, String>) -> Result<Vec<RegressionRule>, RuleError> {
    rules.iter().map(|(key, rule)| RegressionRule::parse(key, rule)).collect()
}

/// The default rules: p95 +10 %, error rate +0.5 pp, RPS −10 %.
pub fn default_rules() -> Vec<RegressionRule> {
    [("http_req_duration.p(95)", "+10%"), ("http_req_failed.rate", "+0.5pp"), ("http_reqs.rate", "-10%")]
        .iter()
        .map(|(key, rule)| RegressionRule::parse(key, rule).expect("default rules parse"))
        .collect()
}

/// Judges every rule: `baseline` and `current` are metric values by metric
/// name, then statistic (a history record's `metrics`).
pub fn judge(
    rules: &[RegressionRule],
    baseline_run_id: &str,
    baseline: &BTreeMap<String, BTreeMap<String, f64>>,
    current: &BTreeMap<String, BTreeMap<String, f64>>,
) -> RegressionReport {
    let value = |metrics: &BTreeMap<String, BTreeMap<String, f64>>, rule: &RegressionRule| {
        metrics.get(&rule.metric).and_then(|m| m.get(&rule.stat)).copied()
    };
    RegressionReport {
        baseline_run_id: baseline_run_id.to_owned(),
        results: rules.iter().map(|rule| rule.judge(value(baseline, rule), value(current, rule))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(key: &str, text: &str) -> RegressionRule {
        RegressionRule::parse(key, text).unwrap()
    }

    #[test]
    fn rules_parse_with_sub_metrics_and_units() {
        let r = rule("http_req_duration{name:a.b}.p(95)", "+10%");
        assert_eq!((r.metric.as_str(), r.stat.as_str()), ("http_req_duration{name:a.b}", "p(95)"));
        assert_eq!(r.tolerance, Tolerance::Percent(0.10));
        assert_eq!(rule("http_req_failed.rate", "+0.5pp").tolerance, Tolerance::PercentagePoints(0.5));
        assert_eq!(rule("http_req_duration.avg", "+20ms").tolerance, Tolerance::Absolute(20.0));
        assert!(!rule("http_reqs.rate", "-10%").higher_is_worse);
    }

    #[test]
    fn bad_rules_say_what_is_expected() {
        let message = |k: &str, r: &str| RegressionRule::parse(k, r).unwrap_err().message;
        assert!(message("http_req_duration", "+10%").contains("metric.statistic"));
        assert!(message("http_req_duration.p95", "+10%").contains("unknown statistic"));
        assert!(message("http_req_duration.p(95)", "10%").contains("start with"));
        assert!(message("http_req_duration.p(95)", "+ten%").contains("number"));
        assert!(message("http_req_duration.p(95)", "+1pp").contains("rate"));
    }

    #[test]
    fn the_published_rules_judge_as_written() {
        let p95 = rule("http_req_duration.p(95)", "+10%");
        assert!(!p95.judge(Some(100.0), Some(110.0)).regressed, "exactly +10% is tolerated");
        let worse = p95.judge(Some(100.0), Some(110.5));
        assert!(worse.regressed);
        assert_eq!(worse.delta_text, "+10.5%");
        assert!(!p95.judge(Some(100.0), Some(50.0)).regressed, "faster is never a regression");

        let errors = rule("http_req_failed.rate", "+0.5pp");
        assert!(!errors.judge(Some(0.010), Some(0.015)).regressed);
        let worse = errors.judge(Some(0.010), Some(0.0151));
        assert!(worse.regressed);
        assert_eq!(worse.delta_text, "+0.51pp");

        let rps = rule("http_reqs.rate", "-10%");
        assert!(!rps.judge(Some(1000.0), Some(900.0)).regressed);
        assert!(rps.judge(Some(1000.0), Some(899.0)).regressed);
        assert!(!rps.judge(Some(1000.0), Some(2000.0)).regressed);

        let missing = p95.judge(None, Some(1.0));
        assert!(!missing.regressed && missing.note.is_some());
    }

    #[test]
    fn a_zero_baseline_regresses_on_any_rise_of_a_percent_rule() {
        let p95 = rule("http_req_duration.p(95)", "+10%");
        assert!(p95.judge(Some(0.0), Some(1.0)).regressed);
        assert!(!p95.judge(Some(0.0), Some(0.0)).regressed);
    }
}
