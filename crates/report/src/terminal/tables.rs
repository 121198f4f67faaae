//! The ENDPOINTS, SHARDS and GENERATOR HEALTH tables.

use std::fmt::Write;

use super::{text_width, truncate_end, truncate_middle, Paint, Style};
use crate::format;
use crate::model::{EndpointSummary, RunSummary, ShardState, ShardSummary};
use loadgrid_health::{HealthStatus, ShardHealthSummary};

/// Columns between a table's cells.
const GAP: &str = "  ";
/// The narrowest a flexible column is squeezed to.
const MIN_FLEX_WIDTH: usize = 8;

/// One table cell: its text and, with colour on, its paint.
type Cell = (String, Option<Paint>);

fn plain(text: impl Into<String>) -> Cell {
    (text.into(), None)
}

fn ms(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), format::duration_ms)
}

pub(super) fn endpoints(out: &mut String, summary: &RunSummary, style: &Style) {
    if summary.endpoints.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", style.heading("ENDPOINTS (by name)"));
    let _ = writeln!(out);
    let headers = ["name", "requests", "failed", "rps", "p50", "p95", "p99", "max"];
    let rows = summary.endpoints.iter().map(endpoint_row).collect();
    table(out, style, &headers, rows, Flexible { column: 0, truncate: truncate_middle });
    let _ = writeln!(out);
}

fn endpoint_row(endpoint: &EndpointSummary) -> Vec<Cell> {
    let failed_paint = (endpoint.failed > 0).then_some(Paint::Red);
    vec![
        plain(endpoint.name.clone()),
        plain(endpoint.requests.to_string()),
        (endpoint.failed.to_string(), failed_paint),
        plain(format::decimal(endpoint.rps, 2)),
        plain(ms(endpoint.p50_ms)),
        plain(ms(endpoint.p95_ms)),
        plain(ms(endpoint.p99_ms)),
        plain(ms(endpoint.max_ms)),
    ]
}

pub(super) fn shards(out: &mut String, summary: &RunSummary, style: &Style) {
    if summary.shards.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", style.heading("SHARDS"));
    let _ = writeln!(out);
    let headers = ["shard", "outcome", "requests", "iterations", "p95", "k6 exit", "note"];
    let rows = summary.shards.iter().map(shard_row).collect();
    table(out, style, &headers, rows, Flexible { column: 6, truncate: truncate_end });
    let _ = writeln!(out);
}

fn shard_row(shard: &ShardSummary) -> Vec<Cell> {
    let outcome_paint = match shard.outcome {
        ShardState::Completed => Paint::Green,
        ShardState::Stopped => Paint::Yellow,
        ShardState::Failed | ShardState::Missing => Paint::Red,
    };
    let mut note = shard.reason.clone().unwrap_or_default();
    let mut add = |extra: String| note = if note.is_empty() { extra } else { format!("{note}; {extra}") };
    if shard.rejected_lines > 0 {
        add(format!("{} unreadable k6 lines", shard.rejected_lines));
    }
    // The backend's view matters when the shard did not complete on its own.
    if let Some(backend) = shard.backend_note.as_ref().filter(|_| shard.outcome != ShardState::Completed) {
        add(backend.clone());
    }
    vec![
        plain(shard.shard.to_string()),
        (shard.outcome.as_str().to_owned(), Some(outcome_paint)),
        plain(shard.requests.to_string()),
        plain(shard.iterations.to_string()),
        plain(ms(shard.p95_ms)),
        plain(shard.k6_exit_code.map_or("-".to_owned(), |code| code.to_string())),
        plain(note.replace('\n', " ")),
    ]
}

/// Each shard's generator: how busy its CPU and memory were against what it
/// may use, its sockets and network. The findings, with their fixes, are
/// the run's warnings (or its verdict's reasons).
pub(super) fn health(out: &mut String, summary: &RunSummary, style: &Style) {
    let health = &summary.health;
    if health.status == HealthStatus::Unknown {
        return;
    }
    let status = match health.status {
        HealthStatus::Healthy => style.paint(health.status.label(), Paint::Green),
        _ => style.paint(health.status.label(), Paint::Red),
    };
    let skew = health.start_skew_ms.map_or(String::new(), |ms| format!("; start skew {ms} ms"));
    let _ = writeln!(out, "{}", style.heading("GENERATOR HEALTH"));
    let _ = writeln!(out);
    let _ = writeln!(out, "    {status}{skew}");
    let _ = writeln!(out);
    let headers =
        ["shard", "cpu peak", "cpu mean", "cpu-bound", "memory peak", "k6 memory", "sockets", "network", "allowance"];
    let rows = health.shards.iter().map(|shard| health_row(shard, &health.limits)).collect();
    table(out, style, &headers, rows, Flexible { column: 8, truncate: truncate_end });
    let _ = writeln!(out);
}

fn health_row(shard: &ShardHealthSummary, limits: &loadgrid_health::Limits) -> Vec<Cell> {
    let busy = |value: f64, limit: f64| (value >= limit).then_some(Paint::Red);
    let percent = |value: f64| format!("{}%", format::decimal(value, 1));
    vec![
        plain(shard.shard.to_string()),
        (percent(shard.cpu_peak_percent), busy(shard.cpu_peak_percent, limits.cpu_percent)),
        plain(percent(shard.cpu_mean_percent)),
        (
            format!("{} of {} s", shard.cpu_saturated_seconds, shard.seconds),
            shard.findings.iter().any(|f| f.signal() == "cpu").then_some(Paint::Red),
        ),
        (percent(shard.memory_peak_percent), busy(shard.memory_peak_percent, limits.memory_percent)),
        plain(format::bytes(shard.k6_memory_peak_bytes as f64)),
        plain(shard.sockets_peak.to_string()),
        plain(format::bytes((shard.net_rx_bytes + shard.net_tx_bytes) as f64)),
        plain(shard.allowance.describe()),
    ]
}

/// The column that gives way when the table is wider than the terminal,
/// and how its cells are shortened.
struct Flexible {
    column: usize,
    truncate: fn(&str, usize) -> String,
}

/// Left-aligned columns with a dim header row; the flexible column shrinks
/// so that rows fit [`Style::width`] where possible.
fn table(out: &mut String, style: &Style, headers: &[&str], mut rows: Vec<Vec<Cell>>, flexible: Flexible) {
    let mut widths: Vec<usize> = headers.iter().map(|h| text_width(h)).collect();
    for row in &rows {
        for (i, (text, _)) in row.iter().enumerate() {
            widths[i] = widths[i].max(text_width(text));
        }
    }
    let fixed: usize = widths.iter().enumerate().filter(|(i, _)| *i != flexible.column).map(|(_, w)| w).sum();
    let available = style.width().saturating_sub(4 + fixed + GAP.len() * (headers.len() - 1));
    let flex_width = widths[flexible.column].min(available.max(MIN_FLEX_WIDTH));
    widths[flexible.column] = flex_width;
    for row in &mut rows {
        let cell = &mut row[flexible.column].0;
        *cell = (flexible.truncate)(cell, flex_width);
    }
    let header: Vec<Cell> = headers.iter().map(|h| ((*h).to_owned(), Some(Paint::Dim))).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(out, "    {}", table_line(row, &widths, style));
    }
}

fn table_line(row: &[Cell], widths: &[usize], style: &Style) -> String {
    let mut line = String::new();
    for (i, ((text, paint), width)) in row.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str(GAP);
        }
        line.push_str(&paint.map_or_else(|| text.clone(), |paint| style.paint(text, paint)));
        if i + 1 < row.len() {
            line.push_str(&" ".repeat(width.saturating_sub(text_width(text))));
        }
    }
    line.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str, requests: u64, failed: u64) -> EndpointSummary {
        EndpointSummary {
            name: name.to_owned(),
            requests,
            failed,
            rps: requests as f64 / 30.0,
            avg_ms: Some(10.0),
            p50_ms: Some(9.0),
            p95_ms: Some(25.5),
            p99_ms: Some(40.0),
            max_ms: None,
        }
    }

    #[test]
    fn endpoint_rows_format_units() {
        let cells: Vec<String> = endpoint_row(&endpoint("login", 1200, 3)).into_iter().map(|c| c.0).collect();
        assert_eq!(cells, ["login", "1200", "3", "40", "9ms", "25.5ms", "40ms", "-"]);
    }

    #[test]
    fn flexible_column_shrinks_to_the_width() {
        let style = Style { color: false, width: 80 };
        let long = format!("https://example.com/{}/end", "x".repeat(80));
        let mut out = String::new();
        let headers = ["name", "requests", "failed", "rps", "p50", "p95", "p99", "max"];
        let rows = vec![endpoint_row(&endpoint(&long, 5, 0))];
        table(&mut out, &style, &headers, rows, Flexible { column: 0, truncate: truncate_middle });
        for line in out.lines() {
            assert!(text_width(line) <= 80, "{line:?} is {} wide", text_width(line));
        }
        assert!(out.contains("https://"), "{out}");
        assert!(out.contains("/end"), "{out}");
    }
}
