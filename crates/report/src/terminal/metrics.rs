//! The THRESHOLDS and TOTAL RESULTS sections.

use std::fmt::Write;

use loadgrid_metrics::{MetricKind, ValueKind};

use super::{plural, text_width, Paint, Style};
use crate::format;
use crate::model::{MetricSummary, RunSummary, ThresholdSummary};

/// Trend statistics in the order k6 prints them.
const TREND_STATS: [&str; 7] = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"];

/// Thresholds grouped by metric key, in the order they were declared.
pub(super) fn thresholds(out: &mut String, summary: &RunSummary, style: &Style) {
    if summary.thresholds.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", style.heading("THRESHOLDS"));
    let _ = writeln!(out);
    let mut keys: Vec<&str> = Vec::new();
    for threshold in &summary.thresholds {
        if !keys.contains(&threshold.metric.as_str()) {
            keys.push(&threshold.metric);
        }
    }
    for key in keys {
        let _ = writeln!(out, "    {key}");
        for threshold in summary.thresholds.iter().filter(|t| t.metric == key) {
            let _ = writeln!(out, "    {}", threshold_line(threshold, summary, style));
        }
        let _ = writeln!(out);
    }
}

/// `✓ 'p(95)<500' p(95)=12.34ms`, `✗ …`, `? '…' no samples`, or `✗ '…' error: …`.
pub(crate) fn threshold_line(threshold: &ThresholdSummary, summary: &RunSummary, style: &Style) -> String {
    let (mark, paint) = match threshold.outcome.as_str() {
        "passed" => ("✓", Paint::Green),
        "no_data" => ("?", Paint::Yellow),
        _ => ("✗", Paint::Red),
    };
    let mut line = format!("{} '{}'", style.paint(mark, paint), threshold.expression);
    match (threshold.outcome.as_str(), threshold.observed) {
        ("no_data", _) => line.push_str(&format!(" {}", style.paint("no samples", Paint::Dim))),
        ("error", _) => {
            let message = threshold.message.as_deref().unwrap_or("could not be evaluated");
            line.push_str(&format!(" {}", style.paint(&format!("error: {message}"), Paint::Red)));
        }
        (_, Some(observed)) => {
            let label = aggregation_label(&threshold.expression);
            let (kind, contains) = metric_type(summary, &threshold.metric);
            line.push_str(&format!(" {label}={}", observed_text(&label, observed, kind, contains)));
        }
        (_, None) => {}
    }
    if !threshold.exact {
        line.push_str(&format!(" {}", style.paint("(inexact: tag-set cap reached)", Paint::Dim)));
    }
    line
}

/// The aggregation an expression compares: `p(95)` of `p( 95 ) < 300`.
fn aggregation_label(expression: &str) -> String {
    let end = expression.find(['<', '>', '=', '!']).unwrap_or(expression.len());
    expression[..end].chars().filter(|c| !c.is_whitespace()).collect()
}

/// The metric's type and unit, from the summary or k6's built-ins.
fn metric_type(summary: &RunSummary, key: &str) -> (Option<MetricKind>, ValueKind) {
    let base = key.split('{').next().unwrap_or(key);
    if let Some(metric) = summary.metrics.get(key).or_else(|| summary.metrics.get(base)) {
        return (metric.kind, metric.contains);
    }
    MetricKind::builtin(base).map_or((None, ValueKind::Default), |(kind, contains)| (Some(kind), contains))
}

/// A threshold's observed value: a counter's `rate` is per second and its
/// `count` a total; everything else is in the metric's own unit.
fn observed_text(label: &str, observed: f64, kind: Option<MetricKind>, contains: ValueKind) -> String {
    match (label, kind) {
        ("rate", Some(MetricKind::Counter)) => format::per_second(observed, contains),
        ("count", _) => format::quantity(observed, contains),
        _ => format::value(observed, kind, contains),
    }
}

/// One line of TOTAL RESULTS.
struct Row {
    group: (u8, &'static str),
    /// Parent metric, then whether this is a sub-metric, then the key.
    order: (String, bool, String),
    name: String,
    columns: Vec<String>,
    trend: bool,
}

/// Every metric and sub-metric, grouped like k6 (HTTP, EXECUTION, NETWORK,
/// …, CUSTOM), names dotted to one width and value columns aligned.
pub(super) fn totals(out: &mut String, summary: &RunSummary, style: &Style) {
    let context = totals_context(summary);
    let _ = writeln!(out, "{}  {}", style.heading("TOTAL RESULTS"), style.paint(&context, Paint::Dim));
    let mut rows: Vec<Row> = summary.metrics.iter().map(|(key, metric)| row(key, metric)).collect();
    if rows.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "    {}", style.paint("no metrics were recorded", Paint::Dim));
        let _ = writeln!(out);
        return;
    }
    rows.sort_by(|a, b| (a.group.0, &a.order).cmp(&(b.group.0, &b.order)));
    let name_width = rows.iter().map(|r| text_width(&r.name)).max().unwrap_or(0) + 3;
    let widths = [column_widths(&rows, false), column_widths(&rows, true)];
    let mut group = None;
    for row in &rows {
        if group != Some(row.group.0) {
            group = Some(row.group.0);
            let _ = writeln!(out);
            if !row.group.1.is_empty() {
                let _ = writeln!(out, "    {}", row.group.1);
            }
        }
        let dots = ".".repeat(name_width - text_width(&row.name));
        let values = aligned(&row.columns, &widths[usize::from(row.trend)]);
        let _ = writeln!(out, "    {}{}: {values}", row.name, style.paint(&dots, Paint::Dim));
    }
    let _ = writeln!(out);
}

/// `(grid of 4 shards, merged)`, plus what is missing from a partial run.
fn totals_context(summary: &RunSummary) -> String {
    let shards = summary.shards_planned;
    let mut context = format!("(grid of {shards} shard{}, merged", plural(shards as usize));
    if summary.partial {
        let mut counts: Vec<String> = Vec::new();
        for outcome in ["stopped", "failed", "missing"] {
            let count = summary.shards.iter().filter(|s| s.outcome == outcome).count();
            if count > 0 {
                counts.push(format!("{count} {outcome}"));
            }
        }
        context.push_str("; PARTIAL");
        if !counts.is_empty() {
            context.push_str(&format!(": {}", counts.join(", ")));
        }
    }
    context.push(')');
    context
}

fn row(key: &str, metric: &MetricSummary) -> Row {
    let (parent, filter) = match key.find('{') {
        Some(at) => (&key[..at], Some(&key[at..])),
        None => (key, None),
    };
    let name = match filter {
        // k6 prints sub-metrics indented, with spaces inside the braces.
        Some(filter) => format!("  {{ {} }}", filter.trim_start_matches('{').trim_end_matches('}')),
        None => key.to_owned(),
    };
    Row {
        group: group(parent),
        order: (parent.to_owned(), filter.is_some(), key.to_owned()),
        name,
        columns: columns(metric),
        trend: metric.kind == Some(MetricKind::Trend),
    }
}

/// The section a metric belongs to: (order, title).
fn group(metric: &str) -> (u8, &'static str) {
    match metric {
        "checks" => (0, ""),
        m if m.starts_with("http_") => (1, "HTTP"),
        "iterations" | "iteration_duration" | "dropped_iterations" | "vus" | "vus_max" | "group_duration" => {
            (2, "EXECUTION")
        }
        "data_sent" | "data_received" => (3, "NETWORK"),
        m if m.starts_with("grpc_") => (4, "GRPC"),
        m if m.starts_with("ws_") => (5, "WEBSOCKETS"),
        m if m.starts_with("browser_") => (6, "BROWSER"),
        _ => (7, "CUSTOM"),
    }
}

/// The value columns of one metric, as k6 shows each type.
fn columns(metric: &MetricSummary) -> Vec<String> {
    let values = &metric.values;
    let get = |key: &str| values.get(key).copied();
    let show = |value: f64| format::value(value, metric.kind, metric.contains);
    match metric.kind {
        Some(MetricKind::Trend) => {
            if TREND_STATS.iter().all(|stat| get(stat).is_none()) {
                return vec!["no samples".to_owned()];
            }
            TREND_STATS.iter().map(|stat| format!("{stat}={}", get(stat).map_or("-".to_owned(), show))).collect()
        }
        Some(MetricKind::Counter) => {
            let mut columns = vec![format::quantity(get("count").unwrap_or(0.0), metric.contains)];
            columns.extend(get("rate").map(|rate| format::per_second(rate, metric.contains)));
            columns
        }
        Some(MetricKind::Rate) => {
            let passes = get("passes").unwrap_or(0.0);
            let total = passes + get("fails").unwrap_or(0.0);
            let out_of = format!("{} out of {}", format::number(passes), format::number(total));
            vec![format::percent(get("rate").unwrap_or(0.0)), out_of]
        }
        Some(MetricKind::Gauge) => match get("value") {
            None => vec!["no samples".to_owned()],
            Some(value) => {
                let bound = |key: &str| format!("{key}={}", get(key).map_or("-".to_owned(), show));
                vec![show(value), bound("min"), bound("max")]
            }
        },
        None => {
            vec![format!("{} samples", format::number(get("count").unwrap_or(0.0))), "(type unknown)".to_owned()]
        }
    }
}

/// The widest text of each column among trend rows (`trend`) or the others.
fn column_widths(rows: &[Row], trend: bool) -> Vec<usize> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows.iter().filter(|r| r.trend == trend) {
        for (i, column) in row.columns.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(text_width(column));
        }
    }
    widths
}

/// Columns padded to `widths`, one space apart; the last is not padded.
fn aligned(columns: &[String], widths: &[usize]) -> String {
    let last = columns.len().saturating_sub(1);
    let mut line = String::new();
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        if i == last {
            line.push_str(column);
        } else {
            let width = widths.get(i).copied().unwrap_or(0);
            line.push_str(&format!("{column:<width$}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn metric(kind: MetricKind, contains: ValueKind, values: &[(&str, f64)]) -> MetricSummary {
        let values: BTreeMap<String, f64> = values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        MetricSummary { kind: Some(kind), contains, values }
    }

    #[test]
    fn aggregation_labels_come_from_the_expression() {
        assert_eq!(aggregation_label("p(95)<500"), "p(95)");
        assert_eq!(aggregation_label("p( 99.9 ) <= 1e3"), "p(99.9)");
        assert_eq!(aggregation_label("rate!=0"), "rate");
        assert_eq!(aggregation_label("count"), "count");
    }

    #[test]
    fn observed_values_use_the_metric_unit() {
        assert_eq!(observed_text("p(95)", 12.34, Some(MetricKind::Trend), ValueKind::Time), "12.34ms");
        assert_eq!(observed_text("rate", 0.0123, Some(MetricKind::Rate), ValueKind::Default), "1.23%");
        assert_eq!(observed_text("rate", 40.0, Some(MetricKind::Counter), ValueKind::Default), "40/s");
        assert_eq!(observed_text("count", 1200.0, Some(MetricKind::Counter), ValueKind::Default), "1200");
        assert_eq!(observed_text("value", 8.0, Some(MetricKind::Gauge), ValueKind::Default), "8");
    }

    #[test]
    fn columns_follow_k6_per_type() {
        let rate = metric(MetricKind::Rate, ValueKind::Default, &[("rate", 0.0), ("passes", 0.0), ("fails", 1200.0)]);
        assert_eq!(columns(&rate), ["0.00%", "0 out of 1200"]);
        let data = metric(MetricKind::Counter, ValueKind::Data, &[("count", 1_200_000.0), ("rate", 40_000.0)]);
        assert_eq!(columns(&data), ["1.2 MB", "40 kB/s"]);
        let vus = metric(MetricKind::Gauge, ValueKind::Default, &[("value", 8.0), ("min", 0.0), ("max", 8.0)]);
        assert_eq!(columns(&vus), ["8", "min=0", "max=8"]);
        let empty = metric(MetricKind::Trend, ValueKind::Time, &[("count", 0.0)]);
        assert_eq!(columns(&empty), ["no samples"]);
    }

    #[test]
    fn sub_metrics_sort_under_their_parent() {
        let trend = metric(MetricKind::Trend, ValueKind::Time, &[("avg", 1.0)]);
        let mut rows: Vec<Row> = ["http_req_duration_x", "http_req_duration{name:login}", "http_req_duration"]
            .iter()
            .map(|key| row(key, &trend))
            .collect();
        rows.sort_by(|a, b| (a.group.0, &a.order).cmp(&(b.group.0, &b.order)));
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["http_req_duration", "  { name:login }", "http_req_duration_x"]);
    }
}
