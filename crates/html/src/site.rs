//! The trend site: `index.html` lists every test with its latest run, and
//! `tests/<test>.html` charts a test's last runs (p95, error rate, RPS) and
//! lists them, each linking to its run report when there is one.
//!
//! As for the run report, the chart markup is built here from numbers and
//! fixed labels, and every other string goes through the templates'
//! escaping. Links are relative paths only, percent-encoded, so that the
//! site works from a directory, a bucket or a CI artifact alike.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use loadgrid_history::record::path_segment;
use loadgrid_history::{FinalVerdict, HistoryRecord};
use loadgrid_report::format;
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::Serialize;

use crate::charts::{self, escape, BOTTOM, LEFT, RIGHT};
use crate::view::{created, usd};
use crate::Error;

pub(crate) const INDEX_TEMPLATE: &str = "index.html";
pub(crate) const TEST_TEMPLATE: &str = "test.html";
const GENERATED_BY: &str = concat!("loadgrid ", env!("CARGO_PKG_VERSION"));
/// Room between the axis and the first and last marks.
const PAD: f64 = 10.0;
/// At most this many run dates under a trend chart.
const X_LABELS: usize = 6;

/// One test on the index.
#[derive(Serialize)]
struct TestRow {
    name: String,
    /// `tests/<segment>.html`, relative to the site's root.
    page: String,
    runs: usize,
    verdict: &'static str,
    verdict_label: &'static str,
    p95: String,
    error_rate: String,
    rps: String,
    latest_time: String,
    latest_run_id: String,
    /// The latest run's report, relative to the site's root.
    latest_report: Option<String>,
}

/// One run in a test page's table.
#[derive(Serialize)]
struct RunRow {
    run_id: String,
    /// The run's report, relative to the test page.
    report: Option<String>,
    time: String,
    verdict: &'static str,
    verdict_label: &'static str,
    p95: String,
    error_rate: String,
    rps: String,
    git_sha: String,
    cost: String,
}

/// A trend chart: one value of each run.
struct Trend {
    id: &'static str,
    title: &'static str,
    value: fn(&HistoryRecord) -> Option<f64>,
    format_y: fn(f64) -> String,
    /// The y axis reaches at least this high (see `charts::Chart`).
    min_y_max: f64,
}

const TRENDS: [Trend; 3] = [
    Trend {
        id: "trend-p95",
        title: "p95 latency (http_req_duration)",
        value: |r| r.headline.p95_ms,
        format_y: format::duration_ms,
        min_y_max: 1.0,
    },
    Trend {
        id: "trend-errors",
        title: "Error rate (http_req_failed)",
        value: |r| r.headline.error_rate,
        format_y: format::percent,
        min_y_max: 0.01,
    },
    Trend { id: "trend-rps", title: "Requests per second", value: |r| r.headline.rps, format_y: rate, min_y_max: 1.0 },
];

/// The site's pages as `(path relative to the site's root, HTML)`: one page
/// per test under `tests/`, then `index.html` last, so that writing them in
/// order publishes the index once its pages exist.
///
/// Records may come in any order and mix tests; each test shows its last
/// `last_n` runs (at least one). `report_link` gives a run's report as a
/// path relative to the site's root (`runs/<run-id>.html`), or `None` when
/// it has none: its point and row then link nowhere.
pub fn site(
    records: &[HistoryRecord],
    last_n: usize,
    report_link: &dyn Fn(&HistoryRecord) -> Option<String>,
) -> Result<Vec<(String, String)>, Error> {
    let env = crate::environment()?;
    let mut by_test: BTreeMap<&str, Vec<&HistoryRecord>> = BTreeMap::new();
    for record in records {
        by_test.entry(record.test_name.as_str()).or_default().push(record);
    }
    let mut pages = Vec::new();
    let mut tests = Vec::new();
    let mut segments = BTreeSet::new();
    for (name, mut runs) in by_test {
        runs.sort_by(|a, b| (&a.created_at, &a.run_id).cmp(&(&b.created_at, &b.run_id)));
        let shown = &runs[runs.len().saturating_sub(last_n.max(1))..];
        let links: Vec<Option<String>> = shown.iter().map(|r| report_link(r).map(|l| href("../", &l))).collect();
        let latest = *runs.last().expect("a test has a run");
        let page = format!("tests/{}.html", unique_segment(name, &mut segments));
        let row = test_row(name, &page, runs.len(), latest, report_link(latest).map(|l| href("", &l)));
        let charts: Vec<Value> = TRENDS
            .iter()
            // The SVG is built from numbers and fixed labels only.
            .map(|t| context! { title => t.title, svg => Value::from_safe_string(trend_svg(t, shown, &links)) })
            .collect();
        let rows: Vec<RunRow> = shown.iter().zip(links).rev().map(|(r, link)| run_row(r, link)).collect();
        let html = env.get_template(TEST_TEMPLATE)?.render(context! {
            generated_by => GENERATED_BY,
            test => Value::from(Serde(&row)),
            shown => shown.len(),
            charts,
            runs => Value::from(Serde(&rows)),
        })?;
        pages.push((page, html));
        tests.push(row);
    }
    let html = env.get_template(INDEX_TEMPLATE)?.render(context! {
        generated_by => GENERATED_BY,
        total_runs => records.len(),
        tests => Value::from(Serde(&tests)),
    })?;
    pages.push(("index.html".to_owned(), html));
    Ok(pages)
}

/// The test's file name: its path segment, made unique should two names
/// clean up to the same one (`a b` and `a_b`).
fn unique_segment(name: &str, taken: &mut BTreeSet<String>) -> String {
    let base = path_segment(name);
    let mut segment = base.clone();
    let mut n = 1;
    while !taken.insert(segment.clone()) {
        n += 1;
        segment = format!("{base}-{n}");
    }
    segment
}

fn test_row(name: &str, page: &str, runs: usize, latest: &HistoryRecord, report: Option<String>) -> TestRow {
    TestRow {
        name: name.to_owned(),
        page: page.to_owned(),
        runs,
        verdict: latest.verdict.as_str(),
        verdict_label: FinalVerdict::label(latest.verdict),
        p95: or_dash(latest.headline.p95_ms, format::duration_ms),
        error_rate: or_dash(latest.headline.error_rate, format::percent),
        rps: or_dash(latest.headline.rps, rate),
        latest_time: created(&latest.created_at),
        latest_run_id: latest.run_id.clone(),
        latest_report: report,
    }
}

fn run_row(record: &HistoryRecord, report: Option<String>) -> RunRow {
    RunRow {
        run_id: record.run_id.clone(),
        report,
        time: created(&record.created_at),
        verdict: record.verdict.as_str(),
        verdict_label: FinalVerdict::label(record.verdict),
        p95: or_dash(record.headline.p95_ms, format::duration_ms),
        error_rate: or_dash(record.headline.error_rate, format::percent),
        rps: or_dash(record.headline.rps, rate),
        git_sha: record
            .git
            .as_ref()
            .and_then(|g| g.sha.as_deref())
            .map(|s| s.chars().take(12).collect())
            .unwrap_or_default(),
        cost: or_dash(record.cost_usd.filter(|c| c.is_finite()), usd),
    }
}

fn or_dash(value: Option<f64>, f: fn(f64) -> String) -> String {
    value.filter(|v| v.is_finite()).map_or("-".to_owned(), f)
}

fn rate(rps: f64) -> String {
    format!("{}/s", format::decimal(rps, 1))
}

/// `prefix` + `path`, percent-encoded but for `/` and URL-safe characters:
/// always a relative path (no scheme, no leading `/`, no query).
fn href(prefix: &str, path: &str) -> String {
    let mut out = prefix.to_owned();
    for byte in path.trim_start_matches('/').bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(byte as char),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// How a run's point is drawn: a fixed shape and colour per outcome.
#[derive(Clone, Copy)]
enum Mark {
    Passed,
    Regressed,
    Failed,
}

impl Mark {
    fn of(verdict: FinalVerdict) -> Mark {
        match verdict {
            FinalVerdict::Passed => Mark::Passed,
            FinalVerdict::Regressed => Mark::Regressed,
            FinalVerdict::ThresholdsCrossed
            | FinalVerdict::Aborted
            | FinalVerdict::MarkedFailed
            | FinalVerdict::GeneratorSaturated
            | FinalVerdict::Failed => Mark::Failed,
        }
    }

    /// A green circle, an amber diamond, a red cross, with the CSS class
    /// `class` (`mark` on a run, `key` in the legend) and the outcome's.
    fn draw(self, svg: &mut String, class: &str, x: f64, y: f64) {
        let _ = match self {
            Mark::Passed => {
                write!(svg, r##"<circle class="{class} passed" cx="{x:.1}" cy="{y:.1}" r="4.5" fill="#16a34a"/>"##)
            }
            Mark::Regressed => write!(
                svg,
                r##"<path class="{class} regressed" d="M{x:.1},{:.1}L{:.1},{y:.1}L{x:.1},{:.1}L{:.1},{y:.1}Z" fill="#d97706"/>"##,
                y - 6.0,
                x + 6.0,
                y + 6.0,
                x - 6.0
            ),
            Mark::Failed => write!(
                svg,
                r##"<path class="{class} failed" d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}" stroke="#dc2626" stroke-width="2.5" fill="none"/>"##,
                x - 4.5,
                y - 4.5,
                x + 4.5,
                y + 4.5,
                x + 4.5,
                y - 4.5,
                x - 4.5,
                y + 4.5
            ),
        };
    }
}

/// One trend chart over `runs` (oldest first): a grey line through the
/// values, a mark per run, each inside a link to its report when `links`
/// has one.
fn trend_svg(trend: &Trend, runs: &[&HistoryRecord], links: &[Option<String>]) -> String {
    let values: Vec<Option<f64>> = runs.iter().map(|r| (trend.value)(r).filter(|v| v.is_finite())).collect();
    let Some(max) = values.iter().flatten().copied().reduce(f64::max) else {
        return charts::empty(trend.id, trend.title, "no data");
    };
    let (y_max, ticks) = charts::nice_ceiling(max.max(trend.min_y_max));
    let last = runs.len().saturating_sub(1);
    let x = |i: i64| match last {
        0 => (LEFT + RIGHT) / 2.0,
        _ => LEFT + PAD + i as f64 / last as f64 * (RIGHT - LEFT - 2.0 * PAD),
    };
    let y = |v: f64| charts::y_at(v, y_max);

    let mut svg = charts::open(trend.id, trend.title);
    charts::y_grid(&mut svg, y_max, ticks, trend.format_y);
    for i in (0..runs.len()).step_by(runs.len().div_ceil(X_LABELS).max(1)) {
        let at = x(i as i64);
        // Centred under its mark, but for one that would run off the right edge.
        let anchor = if runs.len() > 1 && RIGHT - at < 30.0 { "end" } else { "middle" };
        let label = escape(&short_time(&runs[i].created_at).unwrap_or_else(|| format!("#{}", i + 1)));
        let _ = write!(
            svg,
            r#"<text class="tick" x="{at:.1}" y="{:.1}" text-anchor="{anchor}">{label}</text>"#,
            BOTTOM + 18.0
        );
    }
    charts::axes(&mut svg);
    let mut legend_x = RIGHT - 250.0;
    for (mark, label) in [(Mark::Passed, "passed"), (Mark::Regressed, "regressed"), (Mark::Failed, "failed")] {
        mark.draw(&mut svg, "key", legend_x + 5.0, 13.0);
        let _ = write!(svg, r#"<text class="legend" x="{:.1}" y="17">{label}</text>"#, legend_x + 14.0);
        legend_x += 30.0 + 7.0 * label.len() as f64;
    }
    let indices: Vec<i64> = (0..runs.len() as i64).collect();
    let d = charts::path_data(&indices, &values, x, y);
    let _ = write!(svg, r##"<path class="series trend" data-series="{}" stroke="#94a3b8" d="{d}"/>"##, trend.id);
    for (i, ((run, value), link)) in runs.iter().zip(&values).zip(links).enumerate() {
        let Some(value) = value else { continue };
        let tip = format!("{} · {} · {}", run.run_id, FinalVerdict::label(run.verdict), (trend.format_y)(*value));
        let (open, close) = match link {
            Some(link) => (format!(r#"<a class="run" href="{}">"#, escape(link)), "</a>"),
            None => (r#"<g class="run">"#.to_owned(), "</g>"),
        };
        let (px, py) = (x(i as i64), y(*value));
        let _ = write!(svg, "{open}<title>{}</title>", escape(&tip));
        if link.is_some() {
            // A wider target than the mark's own strokes.
            let _ = write!(svg, r#"<circle class="hit" cx="{px:.1}" cy="{py:.1}" r="9" fill="transparent"/>"#);
        }
        Mark::of(run.verdict).draw(&mut svg, "mark", px, py);
        svg.push_str(close);
    }
    svg.push_str("</svg>");
    svg
}

/// `06-01 12:00` from an RFC 3339 UTC time.
fn short_time(rfc3339: &str) -> Option<String> {
    let text = created(rfc3339);
    text.ends_with(" UTC").then(|| text.get(5..16).map(str::to_owned)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_relative_paths() {
        assert_eq!(href("../", "runs/20240601-abc.html"), "../runs/20240601-abc.html");
        assert_eq!(href("", "/etc/x"), "etc/x");
        assert_eq!(href("../", "javascript:alert(1)"), "../javascript%3Aalert%281%29");
        assert_eq!(href("", "https://example.com/?a=\"b\""), "https%3A//example.com/%3Fa%3D%22b%22");
    }

    #[test]
    fn segments_are_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique_segment("a b", &mut taken), "a_b");
        assert_eq!(unique_segment("a_b", &mut taken), "a_b-2");
        assert_eq!(unique_segment("a?b", &mut taken), "a_b-3");
        assert_eq!(short_time("2024-06-01T12:34:56Z").as_deref(), Some("06-01 12:34"));
        assert_eq!(short_time("yesterday"), None);
    }
}
