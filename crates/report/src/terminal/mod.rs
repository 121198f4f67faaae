//! The end-of-test summary for a terminal, modelled on k6's:
//!
//! ```text
//!   █ THRESHOLDS
//!
//!     http_req_duration
//!     ✓ 'p(95)<500' p(95)=12.34ms
//!
//!   █ TOTAL RESULTS  (grid of 4 shards, merged)
//!
//!     HTTP
//!     http_req_duration..............: avg=10.2ms min=1.1ms med=9ms max=80ms p(90)=20ms p(95)=25ms p(99)=40ms
//!     http_req_failed................: 0.00%  0 out of 1200
//!     http_reqs......................: 1200   40/s
//!
//!   █ CHECKS
//!
//!     ✓ status is 200
//!
//!   █ ENDPOINTS (by name)
//!   █ SHARDS
//!   █ GENERATOR HEALTH
//!   █ WARNINGS
//!
//!   verdict: THRESHOLDS CROSSED (exit 99) — 1 threshold crossed
//! ```
//!
//! Colour is opt-in through [`Style::color`]: without it the output holds no
//! ANSI escape at all. [`Style::width`] bounds the flexible table columns
//! (endpoint names, shard notes) and wraps warnings.

mod metrics;
mod tables;

use std::fmt::Write;

use crate::format;
use crate::model::{RunSummary, Verdict};

/// How to render: the caller decides colour (from `NO_COLOR` and whether
/// the output is a terminal) and the terminal's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Emit ANSI colours. When false, no escape sequence is written.
    pub color: bool,
    /// Columns available; long names and notes are shortened to fit.
    pub width: usize,
}

impl Default for Style {
    /// No colour, 100 columns.
    fn default() -> Self {
        Style { color: false, width: 100 }
    }
}

/// The narrowest width the renderer lays out for; smaller values are raised
/// to this.
const MIN_WIDTH: usize = 60;

/// A colour or emphasis, applied only when [`Style::color`] is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paint {
    Green,
    Red,
    Yellow,
    Dim,
    Bold,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Green => "32",
            Paint::Red => "31",
            Paint::Yellow => "33",
            Paint::Dim => "2",
            Paint::Bold => "1",
        }
    }
}

impl Style {
    /// `text` in `paint`, or unchanged without colour.
    pub(crate) fn paint(&self, text: &str, paint: Paint) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{}m{text}\x1b[0m", paint.code())
        } else {
            text.to_owned()
        }
    }

    fn width(&self) -> usize {
        self.width.max(MIN_WIDTH)
    }

    /// A section heading: `  █ TITLE`.
    pub(crate) fn heading(&self, title: &str) -> String {
        format!("  {}", self.paint(&format!("█ {title}"), Paint::Bold))
    }
}

/// Renders the whole summary. Every line ends with `\n`.
pub fn render_terminal(summary: &RunSummary, style: &Style) -> String {
    let mut out = String::new();
    header(&mut out, summary, style);
    metrics::thresholds(&mut out, summary, style);
    metrics::totals(&mut out, summary, style);
    metrics::checks(&mut out, summary, style);
    tables::endpoints(&mut out, summary, style);
    tables::shards(&mut out, summary, style);
    tables::health(&mut out, summary, style);
    warnings(&mut out, summary, style);
    verdict(&mut out, summary, style);
    out
}

fn header(out: &mut String, summary: &RunSummary, style: &Style) {
    let label = |text: &str| style.paint(&format!("{text:<9}"), Paint::Dim);
    let _ = writeln!(out);
    let _ = writeln!(out, "  {}{} ({})", label("run:"), summary.run_id, summary.test_name);
    let _ = writeln!(out, "  {}{}", label("script:"), summary.script);
    let _ = writeln!(
        out,
        "  {}{}, {} shard{}, k6 {}, {}",
        label("grid:"),
        summary.backend,
        summary.shards_planned,
        plural(summary.shards_planned as usize),
        summary.k6_version,
        format::duration_ms(summary.duration_seconds * 1000.0)
    );
    let _ = writeln!(out);
}

fn warnings(out: &mut String, summary: &RunSummary, style: &Style) {
    if summary.warnings.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", style.heading("WARNINGS"));
    let _ = writeln!(out);
    let text_width = style.width().saturating_sub(6);
    for warning in &summary.warnings {
        for (i, line) in wrap(warning, text_width).iter().enumerate() {
            let bullet = if i == 0 { style.paint("!", Paint::Yellow) } else { " ".to_owned() };
            let _ = writeln!(out, "    {bullet} {line}");
        }
    }
    let _ = writeln!(out);
}

fn verdict(out: &mut String, summary: &RunSummary, style: &Style) {
    if let Some(stop) = &summary.stop {
        let reason = serde_json::to_value(stop.reason).ok().and_then(|v| v.as_str().map(str::to_owned));
        let reason = reason.unwrap_or_default();
        let detail = if stop.detail.is_empty() { String::new() } else { format!(" — {}", stop.detail) };
        let _ = writeln!(out, "  {} {reason}{detail}", style.paint("stopped early:", Paint::Dim));
    }
    let paint = if summary.verdict == Verdict::Passed { Paint::Green } else { Paint::Red };
    let word = summary.verdict.label().to_uppercase();
    let shown = style.paint(&format!("{word} (exit {})", summary.exit_code), paint);
    let reasons = if summary.verdict_reasons.is_empty() {
        String::new()
    } else {
        format!(" — {}", summary.verdict_reasons.join("; "))
    };
    let _ = writeln!(out, "  {} {shown}{reasons}", style.paint("verdict:", Paint::Bold));
}

pub(crate) fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// Number of terminal columns `text` takes (one per character: the
/// renderer only uses single-width symbols).
pub(crate) fn text_width(text: &str) -> usize {
    text.chars().count()
}

/// `text` cut to `width` columns, with `…` at the end when cut.
pub(crate) fn truncate_end(text: &str, width: usize) -> String {
    if text_width(text) <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// `text` cut to `width` columns by dropping its middle: URLs keep their
/// host and their last path segment.
pub(crate) fn truncate_middle(text: &str, width: usize) -> String {
    let length = text_width(text);
    if length <= width {
        return text.to_owned();
    }
    if width < 5 {
        return truncate_end(text, width);
    }
    let head = (width - 1) / 2;
    let tail = width - 1 - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(length - tail).collect();
    format!("{start}…{end}")
}

/// Greedy word wrap to `width` columns; words longer than a line are split.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(10);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_owned();
        while text_width(&word) > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let rest = word.chars().skip(width).collect();
            lines.push(word.chars().take(width).collect());
            word = rest;
        }
        if !line.is_empty() && text_width(&line) + 1 + text_width(&word) > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_is_a_no_op_without_colour() {
        let plain = Style { color: false, width: 80 };
        assert_eq!(plain.paint("✓", Paint::Green), "✓");
        let colored = Style { color: true, width: 80 };
        assert_eq!(colored.paint("✓", Paint::Green), "\x1b[32m✓\x1b[0m");
    }

    #[test]
    fn truncation_keeps_width() {
        assert_eq!(truncate_end("abcdef", 4), "abc…");
        assert_eq!(truncate_end("abc", 4), "abc");
        let url = "https://example.com/api/v1/users/login";
        let short = truncate_middle(url, 20);
        assert_eq!(text_width(&short), 20);
        assert!(short.starts_with("https://e") && short.ends_with("/login"), "{short}");
    }

    #[test]
    fn wrap_breaks_on_words_and_splits_long_ones() {
        assert_eq!(wrap("one two three four", 10), ["one two", "three four"]);
        assert_eq!(wrap("abcdefghijklmnop xy", 10), ["abcdefghij", "klmnop xy"]);
        assert_eq!(wrap("", 10), [""]);
    }
}
