//! The self-contained HTML report of one loadgrid run
//! (`runs/<run-id>/report.html`), and the trend site over the history.
//!
//! [`run_report`] renders a [`RunSummary`] into one HTML file that needs
//! nothing else: inline CSS, charts as inline SVG drawn by this crate from
//! the per-second timeline, no script, no font, image or style from
//! anywhere. A Content-Security-Policy in the page (`default-src 'none'`)
//! makes the browser refuse any request and any script, should one ever
//! slip in.
//!
//! Every string that comes from users (test name, endpoint and tag names,
//! threshold expressions, warnings, reasons) goes through the template's
//! HTML auto-escaping; only the chart markup is inserted as is, and it is
//! built from numbers and this crate's own labels (module `charts`).
//!
//! [`site()`] renders history records into a small static site: an index of
//! every test with its latest verdict, and a page per test with trend
//! charts (p95, error rate, RPS) over its last runs, each point linking to
//! the run's report. The same rules hold: self-contained, escaped, and
//! relative links only.
//!
//! [`dashboard_page`] and [`live_body`] render the same content for a run
//! still going, from a summary of its live numbers: the page `loadgrid run
//! --dashboard` serves, and each update it pushes. The page's only script
//! (`dashboard.js`) and stylesheet (the report's own) are files the same
//! server serves, under a policy that allows nothing else.
//!
//! Pure: no I/O, no clock, no environment.

mod charts;
mod site;
mod view;

pub use site::site;

use std::fmt;

use loadgrid_report::RunSummary;
use minijinja::value::{Serde, Value};
use minijinja::{context, AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

const RUN_TEMPLATE: &str = "run.html";
const BODY_TEMPLATE: &str = "report_body.html";
const DASHBOARD_TEMPLATE: &str = "dashboard.html";

/// The live dashboard's script: listens to the server's events, swaps each
/// update in, and turns the page into the final report at the end.
pub const DASHBOARD_JS: &str = include_str!("../templates/dashboard.js");

/// What a live dashboard shows beyond the numbers so far.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatus {
    pub phase: LivePhase,
    /// Since the grid's start; `None` before it.
    pub elapsed_ms: Option<u64>,
    /// The test's planned length, from the plan.
    pub planned_ms: u64,
    /// What the shards have cost so far, in US dollars, when it is known.
    pub cost_usd: Option<f64>,
    pub shards: Vec<LiveShard>,
}

/// Where a live run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivePhase {
    /// Shards are launching or waiting at the barrier.
    Starting,
    Running,
    /// The grid was asked to stop (abortOnFail, a signal, a lost shard).
    Stopping,
    /// Every shard has ended: its numbers are being merged and judged.
    Judging,
}

impl LivePhase {
    /// The CSS class and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LivePhase::Starting => "starting",
            LivePhase::Running => "running",
            LivePhase::Stopping => "stopping",
            LivePhase::Judging => "judging",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LivePhase::Starting => "starting",
            LivePhase::Running => "running",
            LivePhase::Stopping => "stopping",
            LivePhase::Judging => "merging and judging",
        }
    }
}

/// One shard as a live dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveShard {
    pub shard: u32,
    pub phase: loadgrid_plan::records::ShardPhase,
    /// The backend's own state (an ECS task's `lastStatus`), when it has one.
    pub backend: Option<String>,
    /// From the shard's live object; `None` before its first.
    pub requests: Option<u64>,
    pub rps: Option<f64>,
    /// Generator health findings so far, each as one sentence.
    pub findings: Vec<String>,
}

/// What the report shows beyond the summary, when the caller knows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportExtras {
    /// Comparison with a baseline run; the "Baseline" section appears only
    /// when this is `Some`.
    pub baseline: Option<Vec<BaselineDelta>>,
    /// What the run cost, in US dollars; shown only when known.
    pub cost_usd: Option<f64>,
    /// Who wrote the report, e.g. `loadgrid 0.1.0`.
    pub generated_by: String,
}

/// One metric compared with the baseline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineDelta {
    pub metric: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// The change as people read it: `+12.5%`, `-3ms`.
    pub delta_text: String,
    pub outcome: RuleOutcome,
}

/// How a regression rule came out against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    /// Within the rule.
    Ok,
    /// Past the rule.
    Regressed,
    /// A value was missing on one side.
    NotJudged,
}

impl RuleOutcome {
    pub fn label(self) -> &'static str {
        match self {
            RuleOutcome::Ok => "ok",
            RuleOutcome::Regressed => "regressed",
            RuleOutcome::NotJudged => "not judged",
        }
    }
}

/// The report could not be rendered: a bug in this crate's template.
#[derive(Debug)]
pub struct Error(minijinja::Error);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot render the HTML report (this is a bug in loadgrid: please report it)")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<minijinja::Error> for Error {
    fn from(error: minijinja::Error) -> Error {
        Error(error)
    }
}

/// The run's report as one self-contained HTML document.
pub fn run_report(summary: &RunSummary, extras: &ReportExtras) -> Result<String, Error> {
    let env = environment()?;
    let page = view::page(summary, extras);
    let charts = chart_values(view::charts(summary));
    let health_charts = chart_values(view::health_charts(&summary.health));
    let html = env
        .get_template(RUN_TEMPLATE)?
        .render(context! { page => Value::from(Serde(&page)), charts, health_charts })?;
    Ok(html)
}

/// The content of a live dashboard's `<main>`: the report's sections over
/// the numbers so far, with the run's progress and each shard's state.
/// `summary` is built from the live merge, its verdict provisional.
pub fn live_body(summary: &RunSummary, live: &LiveStatus) -> Result<String, Error> {
    let env = environment()?;
    Ok(env.get_template(BODY_TEMPLATE)?.render(live_context(summary, live))?)
}

/// The live dashboard's page as first served: the same content as
/// [`live_body`], with the stylesheet and script it loads from its server
/// (`dashboard.css`, `dashboard.js`, relative, so that a proxy's path
/// prefix still works).
pub fn dashboard_page(summary: &RunSummary, live: &LiveStatus) -> Result<String, Error> {
    let env = environment()?;
    Ok(env.get_template(DASHBOARD_TEMPLATE)?.render(live_context(summary, live))?)
}

/// The dashboard's page before the run's first numbers.
pub fn dashboard_waiting_page() -> Result<String, Error> {
    let env = environment()?;
    let none = Value::from(());
    Ok(env.get_template(DASHBOARD_TEMPLATE)?.render(context! { page => none })?)
}

/// The stylesheet the dashboard page loads: the report's own.
pub fn dashboard_css() -> Result<String, Error> {
    let env = environment()?;
    Ok(env.get_template("report.css")?.render(context! {})?)
}

fn live_context(summary: &RunSummary, live: &LiveStatus) -> Value {
    let extras = ReportExtras {
        generated_by: format!("loadgrid {} · live", env!("CARGO_PKG_VERSION")),
        ..ReportExtras::default()
    };
    let mut page = view::page(summary, &extras);
    // The run has not ended: the summary's end is only the latest update,
    // and its shards have no outcome yet, only a phase.
    page.facts.retain(|fact| fact.id != "ended");
    if let Some(shards) = page.facts.iter_mut().find(|fact| fact.id == "shards") {
        shards.note = Some(view::phase_counts(live));
    }
    page.live = Some(view::live_page(summary, live));
    context! { page => Value::from(Serde(&page)), charts => chart_values(view::charts(summary)), health_charts => Vec::<Value>::new() }
}

fn chart_values(charts: Vec<view::ChartView>) -> Vec<Value> {
    charts
        .into_iter()
        // The SVG is built from numbers and fixed labels only (see `charts`).
        .map(|chart| context! { title => chart.title, svg => Value::from_safe_string(chart.svg) })
        .collect()
}

fn environment() -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    // A misspelt field fails the render (and the tests) instead of printing nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template("charts.css", include_str!("../templates/charts.css"))?;
    env.add_template("report.css", include_str!("../templates/report.css"))?;
    env.add_template(BODY_TEMPLATE, include_str!("../templates/report_body.html"))?;
    env.add_template(RUN_TEMPLATE, include_str!("../templates/run.html"))?;
    env.add_template(DASHBOARD_TEMPLATE, include_str!("../templates/dashboard.html"))?;
    env.add_template(site::INDEX_TEMPLATE, include_str!("../templates/index.html"))?;
    env.add_template(site::TEST_TEMPLATE, include_str!("../templates/test.html"))?;
    Ok(env)
}
