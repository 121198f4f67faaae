//! The THRESHOLDS and TOTAL RESULTS sections.

use std::fmt::Write;

use loadgrid_metrics::MetricKind;

use super::{plural, text_width, Paint, Style};
use crate::format;
use crate::model::{GroupSummary, MetricSummary, RunSummary, ShardState, ThresholdOutcome, ThresholdSummary};

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

/// `✓ 'p(95)<500' p(95)=12.34ms`, `✗ …`, `✓ '…' no samples`, or `✗ '…' error: …`.
pub(crate) fn threshold_line(threshold: &ThresholdSummary, summary: &RunSummary, style: &Style) -> String {
    let paint = if threshold.outcome.ok() { Paint::Green } else { Paint::Red };
    let mut line = format!("{} '{}'", style.paint(threshold.outcome.mark(), paint), threshold.expression);
    if threshold.outcome == ThresholdOutcome::Error {
        let message = threshold.message.as_deref().unwrap_or("could not be evaluated");
        line.push_str(&format!(" {}", style.paint(&format!("error: {message}"), Paint::Red)));
    } else if let Some(observed) = summary.observed_text(threshold) {
        line.push_str(&format!(" {}={observed}", threshold.aggregation));
    }
    if threshold.no_samples {
        line.push_str(&format!(" {}", style.paint("(no samples)", Paint::Yellow)));
    }
    if !threshold.exact {
        line.push_str(&format!(" {}", style.paint("(inexact: tag-set cap reached)", Paint::Dim)));
    }
    line
}

/// The group and check tree, as k6 prints it:
///
/// ```text
///     ✓ status is 200
///
///     █ login
///
///       ✗ has token
///         ↳  97% — ✓ 97 / ✗ 3
/// ```
pub(super) fn checks(out: &mut String, summary: &RunSummary, style: &Style) {
    if summary.root_group.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", style.heading("CHECKS"));
    group_lines(out, &summary.root_group, 4, style);
    let _ = writeln!(out);
}

fn group_lines(out: &mut String, group: &GroupSummary, indent: usize, style: &Style) {
    let pad = " ".repeat(indent);
    if !group.checks.is_empty() {
        let _ = writeln!(out);
    }
    for check in &group.checks {
        if check.fails == 0 {
            let _ = writeln!(out, "{pad}{} {}", style.paint("✓", Paint::Green), check.name);
        } else {
            let total = check.passes + check.fails;
            let _ = writeln!(out, "{pad}{} {}", style.paint("✗", Paint::Red), check.name);
            let tally = format!("↳ {:>3}% — ✓ {} / ✗ {}", check.passes * 100 / total.max(1), check.passes, check.fails);
            let _ = writeln!(out, "{pad}  {}", style.paint(&tally, Paint::Dim));
        }
    }
    for child in &group.groups {
        let _ = writeln!(out);
        let _ = writeln!(out, "{pad}{}", style.paint(&format!("█ {}", child.name), Paint::Bold));
        group_lines(out, child, indent + 2, style);
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
        for outcome in [ShardState::Stopped, ShardState::Failed, ShardState::Missing] {
            let count = summary.shards.iter().filter(|s| s.outcome == outcome).count();
            if count > 0 {
                counts.push(format!("{count} {}", outcome.as_str()));
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

    use loadgrid_metrics::ValueKind;

    use super::*;

    fn metric(kind: MetricKind, contains: ValueKind, values: &[(&str, f64)]) -> MetricSummary {
        let values: BTreeMap<String, f64> = values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        MetricSummary { kind: Some(kind), contains, values }
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
