use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use loadgrid_metrics::MetricKind;

use crate::error::Located;
use crate::ThresholdError;

/// What a threshold measures: k6's aggregation methods.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Aggregation {
    Avg,
    Min,
    Max,
    Med,
    /// A counter's total (the sum of its values, not the number of samples).
    Count,
    /// A rate's share of non-zero samples, or a counter's total per second.
    Rate,
    /// A gauge's latest value.
    Value,
    /// `p(N)`, N from 0 to 100.
    Percentile(f64),
}

impl Aggregation {
    /// The keyword as k6 spells it; `p(N)` for every percentile.
    pub fn keyword(self) -> &'static str {
        match self {
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Med => "med",
            Aggregation::Count => "count",
            Aggregation::Rate => "rate",
            Aggregation::Value => "value",
            Aggregation::Percentile(_) => "p(N)",
        }
    }

    /// k6's rule (`MetricType.supportedAggregationMethods`): counters have
    /// `count` and `rate`, gauges `value`, rates `rate`, trends `avg`, `min`,
    /// `max`, `med` and `p(N)`.
    /// The metric type this aggregation implies, for a custom metric whose
    /// type was never learnt: `rate` is taken for a rate.
    pub fn implied_kind(self) -> MetricKind {
        match self {
            Aggregation::Count => MetricKind::Counter,
            Aggregation::Rate => MetricKind::Rate,
            Aggregation::Value => MetricKind::Gauge,
            Aggregation::Avg | Aggregation::Min | Aggregation::Max | Aggregation::Med | Aggregation::Percentile(_) => {
                MetricKind::Trend
            }
        }
    }

    pub fn supported_by(self, kind: MetricKind) -> bool {
        match kind {
            MetricKind::Counter => matches!(self, Aggregation::Count | Aggregation::Rate),
            MetricKind::Gauge => matches!(self, Aggregation::Value),
            MetricKind::Rate => matches!(self, Aggregation::Rate),
            MetricKind::Trend => matches!(
                self,
                Aggregation::Avg | Aggregation::Min | Aggregation::Max | Aggregation::Med | Aggregation::Percentile(_)
            ),
        }
    }

    /// The aggregations a metric type supports, for messages.
    pub fn allowed_for(kind: MetricKind) -> &'static str {
        match kind {
            MetricKind::Counter => "count, rate",
            MetricKind::Gauge => "value",
            MetricKind::Rate => "rate",
            MetricKind::Trend => "avg, min, max, med, p(N)",
        }
    }
}

/// k6's text: `avg`, `p(99.9)`.
impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregation::Percentile(p) => write!(f, "p({p})"),
            other => f.write_str(other.keyword()),
        }
    }
}

/// A comparison. k6's `===` is the same as `==`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Eq => "==",
            Operator::Ne => "!=",
        }
    }

    /// `lhs op rhs`, with exact float comparison as k6 does.
    #[allow(clippy::float_cmp)]
    pub fn apply(self, lhs: f64, rhs: f64) -> bool {
        match self {
            Operator::Lt => lhs < rhs,
            Operator::Le => lhs <= rhs,
            Operator::Gt => lhs > rhs,
            Operator::Ge => lhs >= rhs,
            Operator::Eq => lhs == rhs,
            Operator::Ne => lhs != rhs,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One threshold condition, `<aggregation> <operator> <number>`. The
/// threshold passes while the condition is true.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expression {
    pub aggregation: Aggregation,
    pub op: Operator,
    pub value: f64,
}

impl Expression {
    /// Whether the condition holds for an observed value (the threshold
    /// passes).
    pub fn holds(&self, observed: f64) -> bool {
        self.op.apply(observed, self.value)
    }
}

/// k6's text without spaces: `p(95)<300`.
impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.aggregation, self.op, self.value)
    }
}

/// Parses an expression on its own; errors name no metric.
impl FromStr for Expression {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_expression(s).map_err(|(reason, span)| ThresholdError::Expression {
            metric: None,
            expression: s.to_owned(),
            reason,
            span,
        })
    }
}

const OPERATORS: &str = "< <= > >= == === !=";
const AGGREGATIONS: &str = "avg, min, max, med, count, rate, value, p(N)";

fn is_operator_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!')
}

/// The trimmed part of `text[range]` and its byte range in `text`.
fn trimmed(text: &str, range: Range<usize>) -> (&str, Range<usize>) {
    let part = &text[range.clone()];
    let start = range.start + (part.len() - part.trim_start().len());
    let end = range.start + part.trim_end().len();
    if start >= end {
        (&text[range.start..range.start], range.start..range.start)
    } else {
        (&text[start..end], start..end)
    }
}

/// Parses `<aggregation> <operator> <number>` like k6's
/// `parseThresholdExpression`: the operator is found by scanning, and
/// whitespace around the three parts is ignored. Errors carry a byte range
/// in `text`.
pub(crate) fn parse_expression(text: &str) -> Result<Expression, Located> {
    let (whole, whole_span) = trimmed(text, 0..text.len());
    if whole.is_empty() {
        return Err((
            "empty expression; expected `<aggregation> <operator> <number>`, e.g. `p(95)<300`".into(),
            0..text.len(),
        ));
    }
    let Some(op_start) = text.find(is_operator_char) else {
        return Err((
            format!("missing comparison operator; expected one of {OPERATORS}, e.g. `p(95)<300`"),
            whole_span,
        ));
    };
    let op_end = text[op_start..].find(|c| !is_operator_char(c)).map_or(text.len(), |i| op_start + i);
    let op = match &text[op_start..op_end] {
        "<" => Operator::Lt,
        "<=" => Operator::Le,
        ">" => Operator::Gt,
        ">=" => Operator::Ge,
        "==" | "===" => Operator::Eq,
        "!=" => Operator::Ne,
        other => {
            return Err((format!("unknown operator `{other}`; expected one of {OPERATORS}"), op_start..op_end));
        }
    };
    let op_text = &text[op_start..op_end];

    let (lhs, lhs_span) = trimmed(text, 0..op_start);
    if lhs.is_empty() {
        return Err((
            format!("missing aggregation before `{op_text}`; expected one of {AGGREGATIONS}"),
            op_start..op_end,
        ));
    }
    let aggregation = parse_aggregation(lhs, lhs_span)?;

    let (rhs, rhs_span) = trimmed(text, op_end..text.len());
    if rhs.is_empty() {
        return Err((format!("missing number after `{op_text}`"), op_start..op_end));
    }
    if let Some(i) = rhs.find(is_operator_char) {
        let second_start = rhs_span.start + i;
        let second_end = text[second_start..].find(|c| !is_operator_char(c)).map_or(text.len(), |j| second_start + j);
        if i == 0 {
            // `< =`: one operator split by a space.
            let written = &text[op_start..second_end];
            return Err((format!("unknown operator `{written}`; expected one of {OPERATORS}"), op_start..second_end));
        }
        return Err((
            format!(
                "unexpected second operator `{}`; a threshold has exactly one comparison",
                &text[second_start..second_end]
            ),
            second_start..second_end,
        ));
    }
    let value =
        parse_number(rhs).ok_or_else(|| (format!("invalid number `{rhs}` after `{op_text}`"), rhs_span.clone()))?;
    if value.is_nan() {
        return Err(("`NaN` is not a usable threshold value: no comparison with it is ever true".into(), rhs_span));
    }
    Ok(Expression { aggregation, op, value })
}

/// A float as Go's `strconv.ParseFloat` reads the usual forms: sign,
/// decimals, exponent, `Inf`.
fn parse_number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok()
}

fn parse_aggregation(lhs: &str, span: Range<usize>) -> Result<Aggregation, Located> {
    Ok(match lhs {
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        "count" => Aggregation::Count,
        "rate" => Aggregation::Rate,
        "value" => Aggregation::Value,
        _ if lhs.starts_with("p(") => {
            if !lhs.ends_with(')') || lhs.len() < 3 {
                return Err((format!("unclosed `p(` in `{lhs}`; expected `p(N)` with N from 0 to 100"), span));
            }
            let inner = &lhs[2..lhs.len() - 1];
            let inner_span = span.start + 2..span.end - 1;
            if inner.is_empty() {
                return Err(("missing percentile in `p()`; expected `p(N)` with N from 0 to 100".into(), span));
            }
            let Some(pct) = parse_number(inner) else {
                return Err((
                    format!("invalid percentile `{inner}`; expected `p(N)` with N a number from 0 to 100"),
                    inner_span,
                ));
            };
            if !(0.0..=100.0).contains(&pct) {
                return Err((
                    format!("percentile `{inner}` is out of range; expected a number from 0 to 100"),
                    inner_span,
                ));
            }
            Aggregation::Percentile(pct)
        }
        _ => return Err((format!("unknown aggregation `{lhs}`; expected one of {AGGREGATIONS}{}", hint(lhs)), span)),
    })
}

/// A suggestion for a misspelt aggregation.
fn hint(lhs: &str) -> String {
    let lower = lhs.to_ascii_lowercase();
    if lower != lhs && parse_aggregation(&lower, 0..lower.len()).is_ok() {
        return format!(" (aggregations are lowercase: `{lower}`)");
    }
    if let Some(rest) = lower.strip_prefix('p') {
        if let Some(pct) = parse_number(rest).filter(|p| (0.0..=100.0).contains(p)) {
            return format!(" (did you mean `p({pct})`?)");
        }
    }
    match lower.as_str() {
        "median" => " (did you mean `med`?)".into(),
        "average" | "mean" => " (did you mean `avg`?)".into(),
        "minimum" => " (did you mean `min`?)".into(),
        "maximum" => " (did you mean `max`?)".into(),
        "p" | "percentile" => " (percentiles are written `p(95)`)".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Expression {
        text.parse().unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
    }

    fn error(text: &str) -> (String, Range<usize>) {
        match parse_expression(text) {
            Ok(expression) => panic!("`{text}` should not parse, got {expression:?}"),
            Err(located) => located,
        }
    }

    #[test]
    fn every_aggregation() {
        let cases = [
            ("avg<1", Aggregation::Avg),
            ("min<1", Aggregation::Min),
            ("max<1", Aggregation::Max),
            ("med<1", Aggregation::Med),
            ("count<1", Aggregation::Count),
            ("rate<1", Aggregation::Rate),
            ("value<1", Aggregation::Value),
            ("p(95)<1", Aggregation::Percentile(95.0)),
            ("p(99.9)<1", Aggregation::Percentile(99.9)),
            ("p(0)<1", Aggregation::Percentile(0.0)),
            ("p(100)<1", Aggregation::Percentile(100.0)),
        ];
        for (text, aggregation) in cases {
            assert_eq!(parse(text).aggregation, aggregation, "{text}");
        }
    }

    #[test]
    fn every_operator() {
        let cases = [
            ("avg<1", Operator::Lt),
            ("avg<=1", Operator::Le),
            ("avg>1", Operator::Gt),
            ("avg>=1", Operator::Ge),
            ("avg==1", Operator::Eq),
            ("avg===1", Operator::Eq),
            ("avg!=1", Operator::Ne),
        ];
        for (text, op) in cases {
            assert_eq!(parse(text).op, op, "{text}");
        }
    }

    #[test]
    fn operators_compare_exactly() {
        assert!(Operator::Lt.apply(1.0, 2.0) && !Operator::Lt.apply(2.0, 2.0));
        assert!(Operator::Le.apply(2.0, 2.0) && !Operator::Le.apply(2.1, 2.0));
        assert!(Operator::Gt.apply(3.0, 2.0) && !Operator::Gt.apply(2.0, 2.0));
        assert!(Operator::Ge.apply(2.0, 2.0) && !Operator::Ge.apply(1.9, 2.0));
        assert!(Operator::Eq.apply(0.5, 0.5) && !Operator::Eq.apply(0.1 + 0.2, 0.3));
        assert!(Operator::Ne.apply(0.1 + 0.2, 0.3) && !Operator::Ne.apply(1.0, 1.0));
    }

    #[test]
    fn numbers_in_every_form() {
        assert_eq!(parse("avg<300").value, 300.0);
        assert_eq!(parse("avg>-5").value, -5.0);
        assert_eq!(parse("rate<0.01").value, 0.01);
        assert_eq!(parse("rate<.5").value, 0.5);
        assert_eq!(parse("count>1e3").value, 1000.0);
        assert_eq!(parse("count>2.5E-2").value, 0.025);
        assert_eq!(parse("count>+7").value, 7.0);
        assert_eq!(parse("avg<inf").value, f64::INFINITY);
    }

    #[test]
    fn whitespace_anywhere_between_parts() {
        let expected = Expression { aggregation: Aggregation::Percentile(95.0), op: Operator::Lt, value: 300.0 };
        for text in ["p(95)<300", "p(95) < 300", "  p(95)<  300 ", "p(95)\t<\t300", "\np(95) <300\n"] {
            assert_eq!(parse(text), expected, "{text:?}");
        }
        assert_eq!(parse("avg >= -1.5").value, -1.5);
    }

    #[test]
    fn display_is_k6_text() {
        assert_eq!(parse("p(95) < 300").to_string(), "p(95)<300");
        assert_eq!(parse("p(99.9)<=1.5").to_string(), "p(99.9)<=1.5");
        assert_eq!(parse("count === 0").to_string(), "count==0");
        assert_eq!(parse("rate != -0.25").to_string(), "rate!=-0.25");
        for text in ["avg<1", "min>2", "max<=3", "med>=4", "value==5", "rate!=0.5", "p(50)<1e21"] {
            let expression = parse(text);
            assert_eq!(parse(&expression.to_string()), expression, "{text}");
        }
    }

    #[test]
    fn unknown_aggregation_suggests_the_k6_spelling() {
        let (reason, span) = error("p95<3");
        assert!(reason.contains("unknown aggregation `p95`"), "{reason}");
        assert!(reason.contains("did you mean `p(95)`?"), "{reason}");
        assert_eq!(span, 0..3);
        let (reason, _) = error("AVG<3");
        assert!(reason.contains("lowercase: `avg`"), "{reason}");
        let (reason, _) = error("median<3");
        assert!(reason.contains("did you mean `med`?"), "{reason}");
        let (reason, span) = error("  sum > 3");
        assert!(reason.starts_with("unknown aggregation `sum`; expected one of avg, min"), "{reason}");
        assert_eq!(span, 2..5);
    }

    #[test]
    fn bad_operator_is_pointed_at() {
        let (reason, span) = error("p(95)<<300");
        assert_eq!(reason, "unknown operator `<<`; expected one of < <= > >= == === !=");
        assert_eq!(span, 5..7);
        let (reason, span) = error("avg => 3");
        assert!(reason.starts_with("unknown operator `=>`"), "{reason}");
        assert_eq!(span, 4..6);
        let (reason, span) = error("avg < = 3");
        assert!(reason.starts_with("unknown operator `< =`"), "{reason}");
        assert_eq!(span, 4..7);
        let (reason, span) = error("avg = 3");
        assert!(reason.starts_with("unknown operator `=`"), "{reason}");
        assert_eq!(span, 4..5);
        let (reason, span) = error("avg < 3 < 4");
        assert!(reason.starts_with("unexpected second operator `<`"), "{reason}");
        assert_eq!(span, 8..9);
    }

    #[test]
    fn missing_parts_are_named() {
        let (reason, span) = error("p(95)<");
        assert_eq!(reason, "missing number after `<`");
        assert_eq!(span, 5..6);
        let (reason, _) = error("< 300");
        assert!(reason.starts_with("missing aggregation before `<`"), "{reason}");
        let (reason, span) = error(" avg 300 ");
        assert!(reason.starts_with("missing comparison operator"), "{reason}");
        assert_eq!(span, 1..8);
        let (reason, _) = error("   ");
        assert!(reason.starts_with("empty expression"), "{reason}");
    }

    #[test]
    fn bad_numbers_are_pointed_at() {
        let (reason, span) = error("avg < 300ms");
        assert_eq!(reason, "invalid number `300ms` after `<`");
        assert_eq!(span, 6..11);
        let (reason, _) = error("avg < 1_000");
        assert!(reason.starts_with("invalid number `1_000`"), "{reason}");
        let (reason, _) = error("avg != NaN");
        assert!(reason.contains("`NaN`"), "{reason}");
    }

    #[test]
    fn bad_percentiles_are_pointed_at() {
        let (reason, span) = error("p(101)<3");
        assert_eq!(reason, "percentile `101` is out of range; expected a number from 0 to 100");
        assert_eq!(span, 2..5);
        let (reason, _) = error("p(-1)<3");
        assert!(reason.starts_with("percentile `-1` is out of range"), "{reason}");
        let (reason, span) = error("p(abc)<3");
        assert!(reason.starts_with("invalid percentile `abc`"), "{reason}");
        assert_eq!(span, 2..5);
        let (reason, _) = error("p()<3");
        assert!(reason.starts_with("missing percentile in `p()`"), "{reason}");
        let (reason, _) = error("p(95<3");
        assert!(reason.starts_with("unclosed `p(`"), "{reason}");
        // k6 does not trim inside the parentheses either.
        let (reason, _) = error("p( 95 )<3");
        assert!(reason.starts_with("invalid percentile ` 95 `"), "{reason}");
    }

    #[test]
    fn holds_means_the_threshold_passes() {
        let expression = parse("p(95)<300");
        assert!(expression.holds(299.9));
        assert!(!expression.holds(300.0));
    }

    #[test]
    fn support_matrix_follows_k6() {
        use MetricKind::*;
        let all = [
            Aggregation::Avg,
            Aggregation::Min,
            Aggregation::Max,
            Aggregation::Med,
            Aggregation::Count,
            Aggregation::Rate,
            Aggregation::Value,
            Aggregation::Percentile(90.0),
        ];
        let supported = |kind| all.iter().filter(|a| a.supported_by(kind)).map(|a| a.keyword()).collect::<Vec<_>>();
        assert_eq!(supported(Counter), ["count", "rate"]);
        assert_eq!(supported(Gauge), ["value"]);
        assert_eq!(supported(Rate), ["rate"]);
        assert_eq!(supported(Trend), ["avg", "min", "max", "med", "p(N)"]);
    }
}
