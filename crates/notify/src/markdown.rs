//! The Markdown summary of a run: GitHub's step summary, the PR comment and
//! the body of a failing test's issue.
//!
//! Every string that comes from users (test, metric and endpoint names,
//! threshold expressions, reasons) goes through [`escape`], so that a `|`
//! cannot break a table and a `<` cannot open an HTML tag.

use std::fmt::Write;

use loadgrid_history::{compare, FinalVerdict, HistoryRecord};
use loadgrid_report::{format, RunSummary, ThresholdOutcome};

use crate::verdict_emoji;

/// The whole summary. `link` is the full report (e.g. the CI run's page).
pub fn summary(summary: &RunSummary, record: &HistoryRecord, link: Option<&str>) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### {} loadgrid: {} {}\n",
        verdict_emoji(record.verdict),
        escape(&record.test_name),
        FinalVerdict::label(record.verdict)
    );
    for reason in &record.verdict_reasons {
        let _ = writeln!(md, "- {}", escape(reason));
    }
    if !record.verdict_reasons.is_empty() {
        md.push('\n');
    }
    headline(&mut md, record);
    thresholds(&mut md, summary);
    if let Some(report) = &record.regression {
        let _ = writeln!(md, "**Regression rules** against baseline {}\n", escape(&report.baseline_run_id));
        md.push_str("| | rule | baseline | current | change | allowed |\n|---|---|---|---|---|---|\n");
        for r in &report.results {
            let mark = if r.regressed {
                "⚠️"
            } else if r.note.is_some() {
                "➖"
            } else {
                "✅"
            };
            let _ = writeln!(
                md,
                "| {mark} | {} | {} | {} | {} | {} |",
                escape(&r.key()),
                r.baseline.map_or("–".into(), |v| format::decimal(v, 4)),
                r.current.map_or("–".into(), |v| format::decimal(v, 4)),
                escape(&r.delta_text),
                escape(&r.rule)
            );
        }
        md.push('\n');
    }
    let _ = write!(
        md,
        "<sub>run {} · {} · {} shard{}",
        escape(&record.run_id),
        escape(&record.backend),
        record.shards_planned,
        if record.shards_planned == 1 { "" } else { "s" }
    );
    if let Some(link) = link {
        let _ = write!(md, " · [report]({})", link_target(link));
    }
    md.push_str("</sub>\n");
    md
}

fn headline(md: &mut String, record: &HistoryRecord) {
    let h = &record.headline;
    let or_dash = |v: Option<f64>, f: fn(f64) -> String| v.map_or("–".to_owned(), f);
    md.push_str("| requests | RPS | p50 | p95 | p99 | error rate | VUs |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} | {} |\n",
        or_dash(h.requests, |v| format::decimal(v, 0)),
        or_dash(h.rps, |v| format::decimal(v, 1)),
        or_dash(h.p50_ms, format::duration_ms),
        or_dash(h.p95_ms, format::duration_ms),
        or_dash(h.p99_ms, format::duration_ms),
        or_dash(h.error_rate, format::percent),
        or_dash(h.vus_max, |v| format::decimal(v, 0)),
    );
}

fn thresholds(md: &mut String, summary: &RunSummary) {
    if summary.thresholds.is_empty() {
        return;
    }
    md.push_str("**Thresholds**\n\n| | metric | threshold | observed |\n|---|---|---|---:|\n");
    for t in &summary.thresholds {
        let mark = match t.outcome {
            ThresholdOutcome::Passed if t.no_samples => "➖",
            ThresholdOutcome::Passed => "✅",
            ThresholdOutcome::Crossed | ThresholdOutcome::Error => "❌",
        };
        let observed = match (summary.observed_text(t), t.message.as_deref()) {
            (_, Some(message)) if t.outcome == ThresholdOutcome::Error => format!("error: {message}"),
            (Some(observed), _) if t.no_samples => format!("{observed} (no samples)"),
            (Some(observed), _) => observed,
            (None, _) if t.no_samples => "no samples".to_owned(),
            (None, _) => "–".to_owned(),
        };
        let _ = writeln!(md, "| {mark} | {} | {} | {} |", escape(&t.metric), escape(&t.expression), escape(&observed));
    }
    md.push('\n');
}

/// How this run differs from the last green one: the headline numbers and
/// the thresholds whose outcome changed. For a failing test's issue.
pub fn diff_table(current: &HistoryRecord, last_green: Option<&HistoryRecord>) -> String {
    let Some(green) = last_green else {
        return "No earlier green run of this test to compare with.\n".to_owned();
    };
    let mut md = format!(
        "**Since the last green run** ({}, {})\n\n| | last green | this run | change |\n|---|---:|---:|---:|\n",
        escape(&green.run_id),
        escape(&green.created_at)
    );
    for row in compare::rows(green, current) {
        let value = |v: Option<f64>| match (v, row.label) {
            (None, _) => "–".to_owned(),
            (Some(v), "error rate") => format::percent(v),
            (Some(v), label) if label.ends_with("ms") => format::duration_ms(v),
            (Some(v), _) => format::decimal(v, 1),
        };
        let change = row.change_percent.map_or("–".to_owned(), |c| format!("{c:+.1}%"));
        let _ = writeln!(md, "| {} | {} | {} | {change} |", row.label, value(row.a), value(row.b));
    }
    let moved = compare::moved_thresholds(green, current);
    if !moved.is_empty() {
        md.push_str("\nThresholds that changed:\n\n");
        for (threshold, before, after) in moved {
            let _ = writeln!(md, "- {}: {} → {}", escape(&threshold), escape(&before), escape(&after));
        }
    }
    md
}

/// A user string for Markdown text or a table cell: `\` `|` and backticks
/// backslash-escaped, `&` `<` `>` as entities, line breaks as spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '`' => out.push_str("\\`"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A URL as a link target: `<…>` keeps spaces and parentheses from ending it.
fn link_target(url: &str) -> String {
    let cleaned: String = url.chars().filter(|c| !matches!(c, '<' | '>' | '\n' | '\r')).collect();
    format!("<{cleaned}>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn escaping_keeps_user_strings_out_of_the_markup() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("<script>"), "&lt;script&gt;");
        assert_eq!(escape("`x`"), "\\`x\\`");
        assert_eq!(escape("a\\|b"), "a\\\\\\|b", "a backslash cannot cancel the pipe's escape");
        assert_eq!(escape("one\ntwo"), "one two");
    }

    #[test]
    fn the_summary_has_verdict_headline_thresholds_and_regressions() {
        let summary = fixtures::summary(fixtures::NASTY_NAME);
        let record = fixtures::record(&summary, Some(fixtures::regression()));
        let md = super::summary(&summary, &record, Some("https://example.com/run (1)"));
        assert!(
            md.starts_with("### ❌ loadgrid: check&lt;out&gt; &amp; \"pay\" 'n' \\|go\\| \\`x\\` thresholds crossed")
        );
        assert!(md.contains("| 1000 | 100 | 100ms | 312.5ms | 400ms | 1.20% | 10 |"), "{md}");
        assert!(md.contains("| ❌ | http_req_duration | p(95)&lt;300 | 312.5ms |"), "{md}");
        assert!(md.contains("| ✅ | http_req_duration{name:&lt;login&gt;} | p(95)&lt;100 | 90ms |"), "{md}");
        assert!(md.contains("error: cannot evaluate &lt;this&gt; &amp; that"), "{md}");
        assert!(md.contains("**Regression rules** against baseline 20251231-020000-beef"), "{md}");
        assert!(md.contains("| ⚠️ | http_req_duration.p(95) | 250 | 312.5 | +25.0% | +10% |"), "{md}");
        assert!(md.contains("| ➖ | http_req_failed{name:a\\|b}.rate |"), "{md}");
        assert!(md.contains("run 20260101-020000-abcd") && md.contains("[report](<https://example.com/run (1)>)"));
        for line in md.lines().filter(|l| l.starts_with('|')) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(cells == 5 || cells == 7 || cells == 8, "a cell was split: {line}");
        }
    }

    #[test]
    fn a_passed_run_says_so_without_regressions() {
        let green = fixtures::green();
        let md = super::summary(&fixtures::summary("checkout"), &green, None);
        assert!(md.starts_with("### ✅ loadgrid: checkout passed"), "{md}");
        assert!(!md.contains("Regression rules") && !md.contains("[report]"), "{md}");
    }

    #[test]
    fn the_diff_table_compares_with_the_last_green_run() {
        let summary = fixtures::summary("checkout");
        let current = fixtures::record(&summary, None);
        assert!(diff_table(&current, None).contains("No earlier green run"));
        let md = diff_table(&current, Some(&fixtures::green()));
        assert!(md.contains("**Since the last green run** (20251231-020000-beef"), "{md}");
        assert!(md.contains("| p95 ms | 250ms | 312.5ms | +25.0% |"), "{md}");
        assert!(md.contains("- http_req_duration: p(95)&lt;300: passed → crossed"), "{md}");
    }
}
