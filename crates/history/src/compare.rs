//! Two runs side by side: the headline numbers with their change, and the
//! thresholds and regression rules whose outcome moved.

use std::fmt::Write;

use crate::record::HistoryRecord;

/// One compared number.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// `b - a` relative to `a`, in percent.
    pub change_percent: Option<f64>,
}

pub fn rows(a: &HistoryRecord, b: &HistoryRecord) -> Vec<Row> {
    let pairs: [(&'static str, Option<f64>, Option<f64>); 8] = [
        ("requests", a.headline.requests, b.headline.requests),
        ("rps", a.headline.rps, b.headline.rps),
        ("p50 ms", a.headline.p50_ms, b.headline.p50_ms),
        ("p95 ms", a.headline.p95_ms, b.headline.p95_ms),
        ("p99 ms", a.headline.p99_ms, b.headline.p99_ms),
        ("error rate", a.headline.error_rate, b.headline.error_rate),
        ("vus max", a.headline.vus_max, b.headline.vus_max),
        ("iterations", a.headline.iterations, b.headline.iterations),
    ];
    pairs
        .into_iter()
        .map(|(label, a, b)| Row {
            label,
            a,
            b,
            change_percent: match (a, b) {
                (Some(a), Some(b)) if a != 0.0 => Some((b - a) / a.abs() * 100.0),
                _ => None,
            },
        })
        .collect()
}

/// Thresholds (by metric and expression) whose outcome differs between the runs.
pub fn moved_thresholds(a: &HistoryRecord, b: &HistoryRecord) -> Vec<(String, String, String)> {
    b.thresholds
        .iter()
        .filter_map(|tb| {
            let ta = a.thresholds.iter().find(|t| t.metric == tb.metric && t.expression == tb.expression);
            let before = ta.map_or("absent", |t| t.outcome.label());
            let after = tb.outcome.label();
            (before != after)
                .then(|| (format!("{}: {}", tb.metric, tb.expression), before.to_owned(), after.to_owned()))
        })
        .collect()
}

fn number(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if v.abs() < 1.0 && v != 0.0 => format!("{v:.4}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// The comparison as a text table.
pub fn render(a: &HistoryRecord, b: &HistoryRecord) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{:<12} {:>22} {:>22} {:>9}", "", a.run_id, b.run_id, "change");
    let _ = writeln!(text, "{:<12} {:>22} {:>22}", "verdict", a.verdict.as_str(), b.verdict.as_str());
    for row in rows(a, b) {
        let change = row.change_percent.map_or("-".into(), |c| format!("{c:+.1}%"));
        let _ = writeln!(text, "{:<12} {:>22} {:>22} {:>9}", row.label, number(row.a), number(row.b), change);
    }
    let moved = moved_thresholds(a, b);
    if !moved.is_empty() {
        let _ = writeln!(text, "\nthresholds that moved:");
        for (threshold, before, after) in moved {
            let _ = writeln!(text, "  {threshold}: {before} -> {after}");
        }
    }
    if let Some(report) = &b.regression {
        let _ = writeln!(text, "\nregression rules of {} (baseline {}):", b.run_id, report.baseline_run_id);
        for result in &report.results {
            let verdict = if result.regressed { "REGRESSED" } else { "ok" };
            let _ = writeln!(text, "  {:<9} {} {} ({})", verdict, result.key(), result.delta_text, result.rule);
        }
    }
    text
}
