use std::ops::Range;

use loadgrid_metrics::MetricKind;

use crate::Aggregation;

/// Why a threshold could not be read or does not fit its metric.
///
/// The one-line [`Display`](std::fmt::Display) form names the whole text
/// that was rejected and the offending part, e.g.
/// ``invalid threshold `p(95)<<300` on `http_req_duration`: unknown operator `<<`; expected one of < <= > >= == === !=``.
/// [`ThresholdError::render`] adds the text again with a caret under the
/// offending part, for terminals.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// An expression such as `p(95)<300` could not be parsed. `span` is a
    /// byte range in `expression`.
    #[error("invalid threshold `{expression}`{on}: {reason}", on = on_metric(metric.as_deref()))]
    Expression { metric: Option<String>, expression: String, reason: String, span: Range<usize> },

    /// A metric key such as `http_req_duration{name:login}` could not be
    /// parsed. `span` is a byte range in `key`.
    #[error("invalid metric key `{key}`: {reason}")]
    MetricKey { key: String, reason: String, span: Range<usize> },

    /// The aggregation does not exist for the metric's type (k6 rejects
    /// `rate` on a trend, for instance).
    #[error(
        "invalid threshold `{expression}` on `{metric}`: {}",
        unsupported_reason(*aggregation, *kind, metric)
    )]
    Unsupported { metric: String, expression: String, aggregation: Aggregation, kind: MetricKind },

    /// `abortOnFail`, `delayAbortEval` or the object form of one threshold
    /// is wrong.
    #[error("invalid threshold `{expression}` on `{metric}`: {reason}")]
    Options { metric: String, expression: String, reason: String },

    /// A `--threshold` flag could not be split into its parts. `span` is a
    /// byte range in `flag`.
    #[error("invalid threshold flag `{flag}`: {reason}")]
    Flag { flag: String, reason: String, span: Range<usize> },

    /// The thresholds table does not have k6's shape.
    #[error("invalid thresholds{at}: {reason}", at = at_context(context))]
    Shape { context: String, reason: String },
}

fn on_metric(metric: Option<&str>) -> String {
    metric.map(|m| format!(" on `{m}`")).unwrap_or_default()
}

fn at_context(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" for `{context}`")
    }
}

/// The message for an aggregation that a metric type does not have.
pub(crate) fn unsupported_reason(aggregation: Aggregation, kind: MetricKind, metric: &str) -> String {
    let metric = metric.split('{').next().unwrap_or(metric);
    format!(
        "`{}` does not apply to `{metric}`, a {} metric; {} metrics support {}",
        aggregation.keyword(),
        kind.as_str(),
        kind.as_str(),
        Aggregation::allowed_for(kind)
    )
}

impl ThresholdError {
    /// The text the error is about and the byte range of the offending part
    /// in it, when there is one.
    pub fn span(&self) -> Option<(&str, Range<usize>)> {
        match self {
            ThresholdError::Expression { expression, span, .. } => Some((expression, span.clone())),
            ThresholdError::MetricKey { key, span, .. } => Some((key, span.clone())),
            ThresholdError::Flag { flag, span, .. } => Some((flag, span.clone())),
            _ => None,
        }
    }

    /// The message, then the offending text with a caret line under the
    /// part at fault:
    ///
    /// ```text
    /// invalid threshold `p(95)<<300` on `http_req_duration`: unknown operator `<<`; expected one of < <= > >= == === !=
    ///   p(95)<<300
    ///        ^^
    /// ```
    pub fn render(&self) -> String {
        let mut out = self.to_string();
        if let Some((text, span)) = self.span() {
            out.push('\n');
            out.push_str(&caret(text, span));
        }
        out
    }
}

/// Two lines: `text` indented by two spaces, and carets under `span`.
pub(crate) fn caret(text: &str, span: Range<usize>) -> String {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let end = floor_char_boundary(text, span.end.min(text.len())).max(start);
    let column = text[..start].chars().count();
    let width = text[start..end].chars().count().max(1);
    format!("  {text}\n  {}{}", " ".repeat(column), "^".repeat(width))
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// A reason and the byte range it is about, before the caller knows which
/// text and metric to name in the error.
pub(crate) type Located = (String, Range<usize>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_puts_a_caret_under_the_offending_part() {
        let error = ThresholdError::Expression {
            metric: Some("http_req_duration".into()),
            expression: "p(95)<<300".into(),
            reason: "unknown operator `<<`".into(),
            span: 5..7,
        };
        assert_eq!(
            error.render(),
            "invalid threshold `p(95)<<300` on `http_req_duration`: unknown operator `<<`\n  p(95)<<300\n       ^^"
        );
    }

    #[test]
    fn caret_counts_characters_not_bytes() {
        assert_eq!(caret("é<x", 2..3), "  é<x\n   ^");
        assert_eq!(caret("abc", 3..3), "  abc\n     ^");
    }

    #[test]
    fn expression_without_metric_omits_the_metric() {
        let error = ThresholdError::Expression {
            metric: None,
            expression: "avg".into(),
            reason: "missing operator".into(),
            span: 0..3,
        };
        assert_eq!(error.to_string(), "invalid threshold `avg`: missing operator");
    }
}
