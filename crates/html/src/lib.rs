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
    let charts: Vec<Value> = view::charts(summary)
        .into_iter()
        // The SVG is built from numbers and fixed labels only (see `charts`).
        .map(|chart| context! { title => chart.title, svg => Value::from_safe_string(chart.svg) })
        .collect();
    let health_charts: Vec<Value> = view::health_charts(&summary.health)
        .into_iter()
        .map(|chart| context! { title => chart.title, svg => Value::from_safe_string(chart.svg) })
        .collect();
    let html = env
        .get_template(RUN_TEMPLATE)?
        .render(context! { page => Value::from(Serde(&page)), charts, health_charts })?;
    Ok(html)
}

fn environment() -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    // A misspelt field fails the render (and the tests) instead of printing nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template("charts.css", include_str!("../templates/charts.css"))?;
    env.add_template(RUN_TEMPLATE, include_str!("../templates/run.html"))?;
    env.add_template(site::INDEX_TEMPLATE, include_str!("../templates/index.html"))?;
    env.add_template(site::TEST_TEMPLATE, include_str!("../templates/test.html"))?;
    Ok(env)
}
