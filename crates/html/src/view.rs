//! What the template shows: the summary turned into display strings, so
//! that the template only lays them out (and escapes them).

use loadgrid_health::{HealthStatus, HealthSummary, OnSaturation, Point, ShardHealthSummary};
use loadgrid_report::format;
use loadgrid_report::{GroupSummary, RunSummary, ShardState, ThresholdOutcome, ThresholdSummary};
use serde::Serialize;

use crate::charts::{self, Chart, Series};
use crate::{LiveStatus, ReportExtras, RuleOutcome};
use loadgrid_plan::records::ShardPhase;

#[derive(Serialize)]
pub(crate) struct Page {
    pub test_name: String,
    pub run_id: String,
    pub script: String,
    pub verdict: &'static str,
    pub verdict_label: &'static str,
    pub exit_code: i32,
    pub verdict_reasons: Vec<String>,
    pub facts: Vec<Fact>,
    pub partial: bool,
    pub stop: Option<Fact>,
    pub warnings: Vec<String>,
    pub headline: Vec<Fact>,
    pub thresholds: Vec<ThresholdRow>,
    pub checks: Vec<CheckRow>,
    /// Requests by endpoint (`name`), then by scenario.
    pub request_tables: Vec<RequestTable>,
    pub shards: Vec<ShardRow>,
    pub baseline: Option<Vec<BaselineRow>>,
    pub cost: Option<String>,
    pub generated_by: String,
    /// `None` when the run measured no generator health.
    pub health: Option<HealthView>,
    /// A live dashboard's view of a run still going; `None` in a report.
    pub live: Option<LivePage>,
}

/// What a live dashboard shows of a run still going.
#[derive(Serialize)]
pub(crate) struct LivePage {
    /// A CSS class from a fixed set: [`LivePhase`]'s spellings.
    pub phase: &'static str,
    pub phase_label: &'static str,
    /// `34s of 1m 0s · 26s left`, or how long the grid has been starting.
    pub progress: String,
    pub cost: Option<String>,
    /// Some threshold is crossed already.
    pub crossed: bool,
    pub shards: Vec<LiveShardRow>,
}

#[derive(Serialize)]
pub(crate) struct LiveShardRow {
    pub shard: u32,
    pub phase: &'static str,
    pub tone: &'static str,
    pub backend: String,
    pub requests: String,
    pub rps: String,
    pub findings: Vec<String>,
}

/// `2 running, 2 uploading`: how many shards are in each phase, in shard order.
pub(crate) fn phase_counts(live: &LiveStatus) -> String {
    tally(live.shards.iter().map(|shard| shard.phase.label())).join(", ")
}

/// `["3 completed", "1 failed"]`: how many times each label comes, in the
/// order labels first come.
fn tally(labels: impl Iterator<Item = &'static str>) -> Vec<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for label in labels {
        match counts.iter_mut().find(|(seen, _)| *seen == label) {
            Some((_, n)) => *n += 1,
            None => counts.push((label, 1)),
        }
    }
    counts.iter().map(|(label, n)| format!("{n} {label}")).collect()
}

pub(crate) fn live_page(summary: &RunSummary, live: &LiveStatus) -> LivePage {
    // Whole seconds: an update a second, and a clock that reads as one.
    let duration = |ms: u64| format::duration_ms((ms / 1000 * 1000) as f64);
    let progress = match live.elapsed_ms.map(|ms| ms / 1000 * 1000) {
        Some(elapsed) => format!(
            "{} of at most {} · {} left",
            duration(elapsed),
            duration(live.planned_ms),
            duration(live.planned_ms.saturating_sub(elapsed))
        ),
        None => format!("planned for {}", duration(live.planned_ms)),
    };
    LivePage {
        phase: live.phase.as_str(),
        phase_label: live.phase.label(),
        progress,
        cost: live.cost_usd.filter(|c| c.is_finite()).map(usd),
        crossed: summary.thresholds.iter().any(|t| !t.outcome.ok()),
        shards: live
            .shards
            .iter()
            .map(|shard| LiveShardRow {
                shard: shard.shard,
                phase: shard.phase.label(),
                tone: match shard.phase {
                    ShardPhase::Failed => "bad",
                    ShardPhase::Stopped => "warn",
                    ShardPhase::Completed | ShardPhase::Running => "good",
                    ShardPhase::Starting | ShardPhase::Ready | ShardPhase::Uploading => "neutral",
                },
                backend: shard.backend.clone().unwrap_or_default(),
                requests: shard.requests.map_or("-".to_owned(), |r| format::number(r as f64)),
                rps: shard.rps.map_or("-".to_owned(), |r| format!("{}/s", format::decimal(r, 1))),
                findings: shard.findings.clone(),
            })
            .collect(),
    }
}

/// Whether the generators kept up, for the report's health section.
#[derive(Serialize)]
pub(crate) struct HealthView {
    pub status: &'static str,
    pub tone: &'static str,
    pub start_skew: String,
    pub limits: String,
    pub rows: Vec<HealthRow>,
}

#[derive(Serialize)]
pub(crate) struct HealthRow {
    pub shard: u32,
    pub tone: &'static str,
    pub cpu_peak: String,
    pub cpu_mean: String,
    pub cpu_bound: String,
    pub memory_peak: String,
    pub k6_memory: String,
    pub sockets: String,
    pub network: String,
    pub allowance: String,
}

/// A label, its value, and an optional note under it.
#[derive(Serialize)]
pub(crate) struct Fact {
    /// The label as an element id: `p95-latency`.
    pub id: String,
    pub label: String,
    pub value: String,
    pub note: Option<String>,
}

fn fact(label: &str, value: String) -> Fact {
    let id = label.to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join("-");
    Fact { id, label: label.to_owned(), value, note: None }
}

#[derive(Serialize)]
pub(crate) struct ThresholdRow {
    pub metric: String,
    pub expression: String,
    pub observed: String,
    pub outcome: &'static str,
    /// A CSS class from a fixed set: `good`, `bad`, `warn`.
    pub tone: &'static str,
    pub notes: Vec<String>,
}

/// One line of the group and check tree: a group heading or a check.
#[derive(Serialize)]
pub(crate) struct CheckRow {
    /// Nesting depth, for the indent (a fixed set of CSS classes).
    pub depth: usize,
    pub is_group: bool,
    pub name: String,
    pub passes: String,
    pub fails: String,
    pub rate: String,
    pub tone: &'static str,
}

/// Requests broken down by one tag.
#[derive(Serialize)]
pub(crate) struct RequestTable {
    /// The section's id: `endpoints`, `scenarios`.
    pub id: &'static str,
    pub title: &'static str,
    pub tag: &'static str,
    pub rows: Vec<EndpointRow>,
}

#[derive(Serialize)]
pub(crate) struct EndpointRow {
    pub name: String,
    pub requests: String,
    pub failed: String,
    pub rps: String,
    pub avg: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub max: String,
}

#[derive(Serialize)]
pub(crate) struct ShardRow {
    pub shard: u32,
    pub outcome: String,
    pub tone: &'static str,
    pub reason: String,
    pub backend_note: String,
    pub k6_exit_code: String,
    pub requests: String,
    pub iterations: String,
    pub p95: String,
}

#[derive(Serialize)]
pub(crate) struct BaselineRow {
    pub metric: String,
    pub baseline: String,
    pub current: String,
    pub delta: String,
    pub outcome: String,
    pub tone: &'static str,
}

/// A chart's markup, built by [`charts`] from numbers only.
pub(crate) struct ChartView {
    pub title: &'static str,
    pub svg: String,
}

pub(crate) fn page(summary: &RunSummary, extras: &ReportExtras) -> Page {
    Page {
        test_name: summary.test_name.clone(),
        run_id: summary.run_id.clone(),
        script: summary.script.clone(),
        verdict: summary.verdict.as_str(),
        verdict_label: summary.verdict.label(),
        exit_code: summary.exit_code,
        verdict_reasons: summary.verdict_reasons.clone(),
        facts: facts(summary),
        partial: summary.partial,
        stop: summary.stop.as_ref().map(|stop| {
            let reason = serde_json::to_value(stop.reason).ok().and_then(|v| v.as_str().map(str::to_owned));
            fact("stopped early", reason.unwrap_or_default()).with_note(stop.detail.clone())
        }),
        warnings: summary.warnings.clone(),
        headline: headline(summary),
        thresholds: summary.thresholds.iter().map(|t| threshold_row(t, summary)).collect(),
        checks: check_rows(&summary.root_group),
        request_tables: vec![
            RequestTable {
                id: "endpoints",
                title: "Endpoints",
                tag: "name",
                rows: summary.endpoints.iter().map(endpoint_row).collect(),
            },
            RequestTable {
                id: "scenarios",
                title: "Scenarios",
                tag: "scenario",
                rows: summary.scenarios.iter().map(endpoint_row).collect(),
            },
        ],
        shards: summary.shards.iter().map(shard_row).collect(),
        baseline: extras.baseline.as_ref().map(|rows| {
            rows.iter()
                .map(|row| BaselineRow {
                    metric: row.metric.clone(),
                    baseline: row.baseline.map_or("-".to_owned(), format::number),
                    current: row.current.map_or("-".to_owned(), format::number),
                    delta: row.delta_text.clone(),
                    outcome: row.outcome.label().to_owned(),
                    tone: match row.outcome {
                        RuleOutcome::Ok => "good",
                        RuleOutcome::Regressed => "bad",
                        RuleOutcome::NotJudged => "neutral",
                    },
                })
                .collect()
        }),
        cost: extras.cost_usd.filter(|c| c.is_finite()).map(usd),
        generated_by: extras.generated_by.clone(),
        health: health_view(&summary.health),
        live: None,
    }
}

fn health_view(health: &HealthSummary) -> Option<HealthView> {
    if health.status == HealthStatus::Unknown {
        return None;
    }
    let percent = |value: f64| format!("{}%", format::decimal(value, 1));
    let limits = &health.limits;
    Some(HealthView {
        status: health.status.label(),
        tone: if health.status == HealthStatus::Healthy { "good" } else { "bad" },
        start_skew: health.start_skew_ms.map_or("-".to_owned(), |ms| format!("{ms} ms")),
        limits: format!(
            "saturated at {}% CPU for more than {}% of the test, {}% memory, any dropped iteration or client-side error; on saturation: {}",
            limits.cpu_percent,
            limits.cpu_time_percent,
            limits.memory_percent,
            match limits.on_saturation {
                OnSaturation::Warn => "warn",
                OnSaturation::Fail => "fail (exit 97)",
            }
        ),
        rows: health
            .shards
            .iter()
            .map(|shard| HealthRow {
                shard: shard.shard,
                tone: if shard.findings.is_empty() { "good" } else { "bad" },
                cpu_peak: percent(shard.cpu_peak_percent),
                cpu_mean: percent(shard.cpu_mean_percent),
                cpu_bound: format!("{} of {} s", shard.cpu_saturated_seconds, shard.seconds),
                memory_peak: percent(shard.memory_peak_percent),
                k6_memory: format::bytes(shard.k6_memory_peak_bytes as f64),
                sockets: shard.sockets_peak.to_string(),
                network: format::bytes((shard.net_rx_bytes + shard.net_tx_bytes) as f64),
                allowance: shard.allowance.describe(),
            })
            .collect(),
    })
}

/// Charts draw at most this many shards: the busiest, by peak.
const MAX_HEALTH_SERIES: usize = 8;
const SHARD_COLORS: [&str; MAX_HEALTH_SERIES] =
    ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

/// Each shard's generator CPU and memory over the test (the busiest
/// [`MAX_HEALTH_SERIES`] shards when there are more).
pub(crate) fn health_charts(health: &HealthSummary) -> Vec<ChartView> {
    if health.status == HealthStatus::Unknown {
        return Vec::new();
    }
    let mut shards: Vec<&ShardHealthSummary> = health.shards.iter().collect();
    shards.sort_by(|a, b| {
        b.cpu_peak_percent.max(b.memory_peak_percent).total_cmp(&a.cpu_peak_percent.max(a.memory_peak_percent))
    });
    shards.truncate(MAX_HEALTH_SERIES);
    shards.sort_by_key(|shard| shard.shard);
    let mut times: Vec<i64> = shards.iter().flat_map(|shard| shard.series.iter().map(|p| p.t)).collect();
    times.sort_unstable();
    times.dedup();
    let column = |shard: &ShardHealthSummary, value: fn(&Point) -> f64| -> Vec<Option<f64>> {
        times.iter().map(|t| shard.series.iter().find(|p| p.t == *t).map(value)).collect()
    };
    let lines = |value: fn(&Point) -> f64| -> Vec<Series> {
        shards
            .iter()
            .zip(SHARD_COLORS)
            .map(|(shard, color)| Series {
                label: format!("shard {}", shard.shard),
                color,
                values: column(shard, value),
            })
            .collect()
    };
    let percent = |v: f64| format!("{}%", format::decimal(v, 0));
    [
        Chart {
            id: "chart-generator-cpu",
            title: "Generator CPU (% of each shard's allowance)",
            times: &times,
            series: lines(|p| p.cpu_percent),
            format_y: percent,
            min_y_max: 100.0,
        },
        Chart {
            id: "chart-generator-memory",
            title: "Generator memory (% of each shard's limit)",
            times: &times,
            series: lines(|p| p.memory_percent),
            format_y: percent,
            min_y_max: 100.0,
        },
    ]
    .iter()
    .map(|chart| ChartView { title: chart.title, svg: charts::render(chart) })
    .collect()
}

impl Fact {
    fn with_note(mut self, note: String) -> Fact {
        self.note = (!note.is_empty()).then_some(note);
        self
    }
}

fn facts(summary: &RunSummary) -> Vec<Fact> {
    let outcomes = tally(summary.shards.iter().map(|shard| shard.outcome.as_str()));
    let time = |ms: Option<i64>| ms.map_or("-".to_owned(), utc);
    vec![
        fact("created", created(&summary.created_at)),
        fact("started", time(summary.started_at_ms)),
        fact("ended", time(summary.ended_at_ms)),
        fact("duration", format::duration_ms(summary.duration_seconds * 1000.0)),
        fact("backend", summary.backend.clone()),
        fact("shards", summary.shards_planned.to_string()).with_note(outcomes.join(", ")),
        fact("k6", summary.k6_version.clone()),
        fact("script", summary.script.clone()),
    ]
}

fn stat(summary: &RunSummary, metric: &str, key: &str) -> Option<f64> {
    summary.metrics.get(metric).and_then(|m| m.values.get(key)).copied().filter(|v| v.is_finite())
}

fn headline(summary: &RunSummary) -> Vec<Fact> {
    let or_dash = |v: Option<f64>, f: fn(f64) -> String| v.map_or("-".to_owned(), f);
    let latency = |key: &str| or_dash(stat(summary, "http_req_duration", key), format::duration_ms);
    let failed = stat(summary, "http_req_failed", "passes");
    let total = failed.zip(stat(summary, "http_req_failed", "fails")).map(|(p, f)| p + f);
    let vus_max = stat(summary, "vus_max", "max")
        .or_else(|| stat(summary, "vus", "max"))
        .or_else(|| summary.timeline.iter().map(|p| p.vus).max().map(|v| v as f64));
    vec![
        fact("requests", or_dash(stat(summary, "http_reqs", "count"), format::number)),
        fact("RPS", or_dash(stat(summary, "http_reqs", "rate"), |r| format!("{}/s", format::decimal(r, 2)))),
        fact("p50 latency", latency("med")),
        fact("p95 latency", latency("p(95)")),
        fact("p99 latency", latency("p(99)")),
        fact("error rate", or_dash(stat(summary, "http_req_failed", "rate"), format::percent)).with_note(
            failed
                .zip(total)
                .map(|(f, t)| format!("{} of {} requests", format::number(f), format::number(t)))
                .unwrap_or_default(),
        ),
        fact("VUs max", or_dash(vus_max, format::number)),
        fact("iterations", or_dash(stat(summary, "iterations", "count"), format::number)),
        data_fact("data sent", summary, "data_sent"),
        data_fact("data received", summary, "data_received"),
    ]
}

/// A byte counter's total, with its rate as the note.
fn data_fact(label: &str, summary: &RunSummary, metric: &str) -> Fact {
    let total = stat(summary, metric, "count").map_or("-".to_owned(), format::bytes);
    let rate = stat(summary, metric, "rate").map(|r| format!("{}/s", format::bytes(r)));
    fact(label, total).with_note(rate.unwrap_or_default())
}

fn threshold_row(threshold: &ThresholdSummary, summary: &RunSummary) -> ThresholdRow {
    let tone = match threshold.outcome {
        ThresholdOutcome::Passed if threshold.no_samples => "warn",
        ThresholdOutcome::Passed => "good",
        ThresholdOutcome::Crossed | ThresholdOutcome::Error => "bad",
    };
    let mut notes = Vec::new();
    notes.extend(threshold.message.clone());
    if threshold.no_samples {
        notes.push("no samples: judged on zeros, as k6 does".to_owned());
    }
    if !threshold.exact {
        notes.push("inexact: tag-set cap reached".to_owned());
    }
    if threshold.abort_on_fail {
        notes.push("abortOnFail".to_owned());
    }
    ThresholdRow {
        metric: threshold.metric.clone(),
        expression: threshold.expression.clone(),
        observed: summary.observed_text(threshold).unwrap_or_else(|| "-".to_owned()),
        outcome: threshold.outcome.label(),
        tone,
        notes,
    }
}

/// The tree, depth first: each group's checks, then its groups.
fn check_rows(root: &GroupSummary) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    add_group_rows(root, 0, &mut rows);
    rows
}

fn add_group_rows(group: &GroupSummary, depth: usize, rows: &mut Vec<CheckRow>) {
    for check in &group.checks {
        let total = check.passes + check.fails;
        rows.push(CheckRow {
            depth,
            is_group: false,
            name: check.name.clone(),
            passes: check.passes.to_string(),
            fails: check.fails.to_string(),
            rate: if total > 0 { format::percent(check.passes as f64 / total as f64) } else { "-".to_owned() },
            tone: if check.fails == 0 { "good" } else { "bad" },
        });
    }
    for child in &group.groups {
        rows.push(CheckRow {
            depth,
            is_group: true,
            name: child.name.clone(),
            passes: String::new(),
            fails: String::new(),
            rate: String::new(),
            tone: "neutral",
        });
        add_group_rows(child, (depth + 1).min(MAX_INDENT), rows);
    }
}

/// Deeper groups share the last indent class.
const MAX_INDENT: usize = 5;

fn endpoint_row(endpoint: &loadgrid_report::EndpointSummary) -> EndpointRow {
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), format::duration_ms);
    let share = if endpoint.requests > 0 { endpoint.failed as f64 / endpoint.requests as f64 } else { 0.0 };
    EndpointRow {
        name: endpoint.name.clone(),
        requests: endpoint.requests.to_string(),
        failed: format!("{} ({})", endpoint.failed, format::percent(share)),
        rps: format!("{}/s", format::decimal(endpoint.rps, 2)),
        avg: ms(endpoint.avg_ms),
        p50: ms(endpoint.p50_ms),
        p95: ms(endpoint.p95_ms),
        p99: ms(endpoint.p99_ms),
        max: ms(endpoint.max_ms),
    }
}

fn shard_row(shard: &loadgrid_report::ShardSummary) -> ShardRow {
    ShardRow {
        shard: shard.shard,
        outcome: shard.outcome.as_str().to_owned(),
        tone: match shard.outcome {
            ShardState::Completed => "good",
            ShardState::Stopped => "warn",
            ShardState::Failed | ShardState::Missing => "bad",
        },
        reason: shard.reason.clone().unwrap_or_default(),
        backend_note: shard.backend_note.clone().unwrap_or_default(),
        k6_exit_code: shard.k6_exit_code.map_or("-".to_owned(), |c| c.to_string()),
        requests: shard.requests.to_string(),
        iterations: shard.iterations.to_string(),
        p95: shard.p95_ms.map_or("-".to_owned(), format::duration_ms),
    }
}

pub(crate) fn usd(cost: f64) -> String {
    if cost >= 1.0 {
        format!("${cost:.2}")
    } else {
        format!("${cost:.4}")
    }
}

/// The charts over the run's seconds.
pub(crate) fn charts(summary: &RunSummary) -> Vec<ChartView> {
    let times: Vec<i64> = summary.timeline.iter().map(|p| p.t).collect();
    let column = |f: fn(&loadgrid_report::TimelinePoint) -> Option<f64>| summary.timeline.iter().map(f).collect();
    let series = |label: &str, color, values| Series { label: label.to_owned(), color, values };
    let charts = [
        Chart {
            id: "chart-rps",
            title: "Requests per second",
            times: &times,
            series: vec![series("requests/s", "#2563eb", column(|p| Some(p.rps as f64)))],
            format_y: |v| format!("{}/s", format::decimal(v, 1)),
            min_y_max: 1.0,
        },
        Chart {
            id: "chart-latency",
            title: "Latency (http_req_duration)",
            times: &times,
            series: vec![
                series("p50", "#16a34a", column(|p| p.p50_ms)),
                series("p95", "#d97706", column(|p| p.p95_ms)),
                series("p99", "#dc2626", column(|p| p.p99_ms)),
            ],
            format_y: format::duration_ms,
            min_y_max: 1.0,
        },
        Chart {
            id: "chart-errors",
            title: "Error rate (failed requests / requests)",
            times: &times,
            series: vec![series("failed", "#dc2626", column(|p| (p.rps > 0).then(|| p.failed as f64 / p.rps as f64)))],
            format_y: format::percent,
            min_y_max: 0.01,
        },
        Chart {
            id: "chart-vus",
            title: "Virtual users",
            times: &times,
            series: vec![series("VUs", "#7c3aed", column(|p| Some(p.vus as f64)))],
            format_y: |v| format::decimal(v, 1),
            min_y_max: 1.0,
        },
        Chart {
            id: "chart-iterations",
            title: "Iterations per second",
            times: &times,
            series: vec![series("iterations/s", "#0891b2", column(|p| Some(p.iterations as f64)))],
            format_y: |v| format!("{}/s", format::decimal(v, 1)),
            min_y_max: 1.0,
        },
        Chart {
            id: "chart-data",
            title: "Data per second",
            times: &times,
            series: vec![
                series("sent", "#9333ea", column(|p| Some(p.data_sent as f64))),
                series("received", "#0d9488", column(|p| Some(p.data_received as f64))),
            ],
            format_y: |v| format!("{}/s", format::bytes(v)),
            min_y_max: 1024.0,
        },
    ];
    charts.iter().map(|chart| ChartView { title: chart.title, svg: charts::render(chart) }).collect()
}

/// An RFC 3339 UTC time (`2024-06-01T12:00:00.123Z`) as the other times
/// read, to the second; anything else as written.
pub(crate) fn created(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(10..11), rfc3339.get(11..19)) {
        (Some(date), Some("T"), Some(time)) if rfc3339.ends_with('Z') => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// Milliseconds since the Unix epoch as `2024-06-01 12:00:00 UTC`.
pub(crate) fn utc(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (second_of_day / 3600, second_of_day % 3600 / 60, second_of_day % 60);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(-1000), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn created_times_read_like_the_others() {
        assert_eq!(created("2026-12-01T21:12:59.958441112Z"), "2026-12-01 21:12:59 UTC");
        assert_eq!(created("2024-06-01T12:00:00Z"), "2024-06-01 12:00:00 UTC");
        assert_eq!(created("yesterday"), "yesterday");
        assert_eq!(created("2024-06-01T12:00:00+02:00"), "2024-06-01T12:00:00+02:00");
    }

    #[test]
    fn dollars_keep_cents_or_four_places() {
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(0.01234), "$0.0123");
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;
    use loadgrid_health::{Allowance, Grid, Limits, Pool, Sample, ShardHealth, ShardInput};

    /// Ten shards, shard i peaking at 10·i % CPU.
    fn ten_shards() -> HealthSummary {
        let allowance = Allowance { pool: Pool::Task, cpu_cores: 1.0, memory_bytes: 1 << 30 };
        let healths: Vec<ShardHealth> = (0..10)
            .map(|i| ShardHealth {
                allowance,
                samples: (0..5)
                    .map(|s| Sample { at_ms: 1000 * s, pool_cpu: 0.1 * i as f64, ..Sample::default() })
                    .collect(),
                log: Default::default(),
                oom_kills: 0,
                clock_offset: None,
            })
            .collect();
        let inputs: Vec<ShardInput> = healths
            .iter()
            .enumerate()
            .map(|(i, health)| ShardInput { shard: i as u32, health, dropped_iterations: 0 })
            .collect();
        HealthSummary::build(&inputs, &[], Limits::default(), &Grid { shards: 10, on_this_machine: false })
    }

    #[test]
    fn health_charts_draw_the_busiest_shards_by_number() {
        let charts = health_charts(&ten_shards());
        assert_eq!(charts.len(), 2);
        let cpu = &charts[0].svg;
        assert_eq!(cpu.matches("data-series=").count(), MAX_HEALTH_SERIES);
        assert!(!cpu.contains(r#"data-series="shard 0""#) && !cpu.contains(r#"data-series="shard 1""#), "{cpu}");
        assert!(cpu.contains(r#"data-series="shard 9""#), "{cpu}");
        assert!(health_charts(&HealthSummary::default()).is_empty());
    }

    #[test]
    fn the_health_table_says_each_shards_allowance_once_and_alike() {
        let view = health_view(&ten_shards()).unwrap();
        assert_eq!(view.rows.len(), 10);
        assert_eq!(view.rows[9].allowance, "its task: 1 core, 1024 MiB");
        assert_eq!((view.rows[9].tone, view.rows[0].tone), ("bad", "good"));
        assert!(health_view(&HealthSummary::default()).is_none());
    }
}
