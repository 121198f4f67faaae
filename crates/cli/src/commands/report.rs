//! `loadgrid report`: a stored run as one self-contained HTML file
//! (`--html`), or the trend site over the whole history (`--site`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use loadgrid_grid::{history, input_error};
use loadgrid_history::HistoryRecord;
use loadgrid_html::{BaselineDelta, ReportExtras, RuleOutcome};
use loadgrid_report::RunSummary;
use loadgrid_store::{layout, Store};

use crate::settings::Settings;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["html", "site"])))]
pub struct ReportArgs {
    /// The run to report on; the latest stored run when left out.
    pub run_id: Option<String>,
    /// Write the run's report to this file (its directories are created).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write the trend site to this directory: `index.html`, a page per
    /// test under `tests/`, and the reports of the runs still stored under
    /// `runs/`.
    #[arg(long, value_name = "DIR", conflicts_with = "run_id")]
    pub site: Option<PathBuf>,
    /// How many of each test's latest runs the site charts and reports.
    #[arg(long, value_name = "N", default_value_t = 30, requires = "site", value_parser = clap::value_parser!(u32).range(1..))]
    pub last: u32,
}

pub async fn run(settings: &Settings, args: &ReportArgs) -> anyhow::Result<i32> {
    let store = settings.store().await?;
    match (&args.html, &args.site) {
        (_, Some(dir)) => site(&store, dir, args.last as usize).await,
        (Some(path), None) => html(&store, args.run_id.as_deref(), path).await,
        (None, None) => unreachable!("clap requires --html or --site"),
    }
}

async fn html(store: &Store, run_id: Option<&str>, path: &Path) -> anyhow::Result<i32> {
    let run_id = match run_id {
        Some(run_id) => run_id.to_owned(),
        None => latest_run(store).await?,
    };
    let summary = stored_summary(store, &run_id).await?;
    // The history knows the run's baseline judgement and cost; a run that
    // was never judged (interrupted, or still going) has no record.
    let record = history::find(store, &run_id).await.ok();
    let html = loadgrid_html::run_report(&summary, &extras(record.as_ref()))?;
    crate::files::write_atomically(path, html.as_bytes())?;
    eprintln!("wrote the report of run {run_id} to {}", path.display());
    Ok(0)
}

/// The trend site: run reports first, then the test pages, the index
/// last, so that every link of a page that exists resolves.
async fn site(store: &Store, dir: &Path, last_n: usize) -> anyhow::Result<i32> {
    let (records, unreadable) = history::list(store, None).await?;
    for problem in &unreadable {
        eprintln!("warning: skipped an unreadable history record: {problem}");
    }
    if records.is_empty() {
        // Publishing an empty site over a good one is worse than stopping.
        return Err(input_error(format!(
            "no recorded runs in store `{}`: start one with `loadgrid run`, or name the store with --store",
            store.url()
        )));
    }
    crate::files::claim_site_dir(dir)?;
    let tests: BTreeSet<&str> = records.iter().map(|r| r.test_name.as_str()).collect();
    let mut reported = BTreeSet::new();
    for test in tests {
        let runs: Vec<&HistoryRecord> = records.iter().filter(|r| r.test_name == test).collect();
        for record in &runs[runs.len().saturating_sub(last_n)..] {
            // Run ids become file names: only well-formed ones, and only
            // while the run's summary is stored (`runs/` expires).
            if !loadgrid_grid::run_id::is_valid(&record.run_id) {
                continue;
            }
            let Some(bytes) = store.get(&layout::summary(&record.run_id)).await? else { continue };
            let Ok(summary) = serde_json::from_slice::<RunSummary>(&bytes) else {
                eprintln!("warning: skipped the report of run {}: its summary is unreadable", record.run_id);
                continue;
            };
            let html = loadgrid_html::run_report(&summary, &extras(Some(record)))?;
            crate::files::write_atomically(&dir.join(report_path(&record.run_id)), html.as_bytes())?;
            reported.insert(record.run_id.clone());
        }
    }
    let link = |r: &HistoryRecord| reported.contains(&r.run_id).then(|| report_path(&r.run_id));
    let pages = loadgrid_html::site(&records, last_n, &link)?;
    for (path, html) in &pages {
        crate::files::write_atomically(&dir.join(path), html.as_bytes())?;
    }
    eprintln!(
        "wrote the trend site of {} runs ({} pages, {} run reports) to {}",
        records.len(),
        pages.len(),
        reported.len(),
        dir.join("index.html").display()
    );
    Ok(0)
}

fn report_path(run_id: &str) -> String {
    format!("runs/{run_id}.html")
}

/// What the run report shows beyond the summary: the baseline judgement
/// and the cost, from the run's history record.
pub(crate) fn extras(record: Option<&HistoryRecord>) -> ReportExtras {
    let baseline = record.and_then(|r| r.regression.as_ref()).map(|report| {
        report
            .results
            .iter()
            .map(|result| BaselineDelta {
                metric: format!("{} (vs {})", result.key(), report.baseline_run_id),
                baseline: result.baseline,
                current: result.current,
                delta_text: result.delta_text.clone(),
                outcome: match (result.regressed, &result.note) {
                    (true, _) => RuleOutcome::Regressed,
                    (false, Some(_)) => RuleOutcome::NotJudged,
                    (false, None) => RuleOutcome::Ok,
                },
            })
            .collect()
    });
    ReportExtras {
        baseline,
        cost_usd: record.and_then(|r| r.cost_usd),
        generated_by: format!("loadgrid {}", env!("CARGO_PKG_VERSION")),
    }
}

/// Run ids sort by the second they started in; runs started in the same
/// second (a CI matrix) are told apart by their manifests' creation time.
async fn latest_run(store: &Store) -> anyhow::Result<String> {
    let runs = store.list_dirs(layout::RUNS).await?;
    let Some(last) = runs.last() else {
        return Err(input_error(format!(
            "no runs in store `{}`: start one with `loadgrid run`, or name the store with --store",
            store.url()
        )));
    };
    let second = |id: &str| id.rsplit_once('-').map(|(stamp, _)| stamp.to_owned());
    let mut latest = (String::new(), last.clone());
    for run_id in runs.iter().filter(|id| second(id) == second(last)) {
        // A run whose manifest cannot be read sorts before the others.
        let created_at = loadgrid_grid::collect::read_manifest(store, run_id).await.map(|m| m.created_at);
        latest = latest.max((created_at.unwrap_or_default(), run_id.clone()));
    }
    Ok(latest.1)
}

/// The run's `summary.json`, or, when the run never wrote one (it was
/// interrupted, or is still going), a summary merged from its shards now.
pub(crate) async fn stored_summary(store: &Store, run_id: &str) -> anyhow::Result<RunSummary> {
    // Checks the run id (it becomes a store key) and that the run exists.
    loadgrid_grid::collect::read_manifest(store, run_id).await?;
    let merged_again = || async {
        loadgrid_grid::orchestrate::results(store, run_id, &[], false, None).await.map(|judged| judged.summary)
    };
    match store.get(&layout::summary(run_id)).await? {
        Some(bytes) => match serde_json::from_slice(&bytes) {
            Ok(summary) => Ok(summary),
            Err(e) => {
                eprintln!(
                    "warning: `{}` is unreadable ({e}); reporting the run merged again from its shard results",
                    layout::summary(run_id)
                );
                merged_again().await
            }
        },
        None => merged_again().await,
    }
}
