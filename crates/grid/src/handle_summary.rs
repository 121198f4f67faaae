//! **report**: the script's `handleSummary()`, once for the whole grid,
//! with the merged data in k6's own shape (see `loadgrid_k6::summary`).

use std::path::PathBuf;

use loadgrid_k6::summary::{SummaryRecord, SummaryStdout};
use loadgrid_k6::K6;
use loadgrid_report::k6_data::{k6_summary_data, SummaryOptions, Terminals};
use loadgrid_report::RunSummary;
use loadgrid_store::{layout, Store};

use crate::collect::Collected;

/// How to run `handleSummary()`: with which k6, where its `stdout` goes,
/// what it is told about the terminal, and the directory its file paths
/// are relative to.
#[derive(Debug, Clone)]
pub struct SummaryHandling {
    pub k6: K6,
    pub stdout: SummaryStdout,
    pub terminals: Terminals,
    pub no_color: bool,
    pub working_dir: PathBuf,
}

/// What became of the script's `handleSummary()`.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// The script has none: the default summary stands.
    NotDefined,
    /// It ran; `record` says what it returned, or what it threw.
    Ran(SummaryRecord),
    /// It could not be run (k6 failed); the default summary stands.
    Failed(String),
}

/// Runs the script's `handleSummary()` on the merged grid, and keeps what
/// it returned in the store (`runs/<id>/handle-summary.json`).
pub async fn handle_summary(
    store: &Store,
    collected: &Collected,
    summary: &RunSummary,
    handling: &SummaryHandling,
) -> Handled {
    match run(store, collected, summary, handling).await {
        Ok(handled) => handled,
        Err(error) => Handled::Failed(format!("{error:#}")),
    }
}

async fn run(
    store: &Store,
    collected: &Collected,
    summary: &RunSummary,
    handling: &SummaryHandling,
) -> anyhow::Result<Handled> {
    let run_id = &collected.manifest.run_id;
    let work = tempfile::Builder::new().prefix("loadgrid-archive-").tempdir()?;
    let archive = work.path().join("archive.tar");
    if !store.get_to_file(&layout::archive(run_id), &archive).await? {
        anyhow::bail!("run `{run_id}` has no archive in the store");
    }
    let options = SummaryOptions {
        trend_stats: collected.manifest.summary_trend_stats.clone(),
        time_unit: collected.manifest.summary_time_unit.clone(),
        no_color: handling.no_color,
    };
    let data = k6_summary_data(summary, &collected.merged, &options, handling.terminals);
    let record = handling.k6.handle_summary(&archive, &data, &handling.working_dir, handling.stdout).await?;
    if !record.defined {
        return Ok(Handled::NotDefined);
    }
    store.put(&layout::handle_summary(run_id), serde_json::to_vec_pretty(&record)?).await?;
    Ok(Handled::Ran(record))
}
