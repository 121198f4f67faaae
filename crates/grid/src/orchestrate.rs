//! One run end to end, and the re-judging of a stored run.

use std::path::PathBuf;

use loadgrid_k6::K6;
use loadgrid_report::{build_summary, RunSummary, ShardInput, SummaryInput};
use loadgrid_store::{layout, Store};
use loadgrid_thresholds::Threshold;
use tokio::sync::watch;

use crate::backend::local::{self, LocalBackend};
use crate::collect::{collect, Collected};
use crate::gate::gate;
use crate::prepare::{prepare, thresholds_of, RunRequest};
use crate::watch::{watch_grid, ProgressMode};

pub struct RunOptions {
    /// The `loadgrid` binary agents run from.
    pub exe: PathBuf,
    pub progress: ProgressMode,
    /// Counts SIGINT/SIGTERM received.
    pub signals: watch::Receiver<u32>,
    /// Called once the run is stored, before launch.
    pub on_planned: Box<dyn FnOnce(&loadgrid_plan::Manifest) + Send>,
}

/// Plans, bundles, launches locally, watches, collects, merges and gates.
/// Bad input returns an [`crate::InputError`] before anything is stored or launched.
pub async fn run_local(
    request: &RunRequest,
    k6: &K6,
    store: &Store,
    options: RunOptions,
) -> anyhow::Result<RunSummary> {
    let prepared = prepare(request, k6).await?;
    let manifest = &prepared.manifest;
    let run_id = &manifest.run_id;

    store.put_file(&layout::archive(run_id), &prepared.archive).await?;
    // The manifest goes last: a run without one is not listed, so a failed
    // upload leaves nothing that looks like a run.
    store.put(&layout::manifest(run_id), manifest.to_json()).await?;
    (options.on_planned)(manifest);

    let work_dir = std::env::temp_dir().join(format!("loadgrid-{run_id}"));
    let backend = LocalBackend {
        exe: options.exe,
        k6: k6.path.clone(),
        store_url: store.url().to_owned(),
        log_dir: local::log_dir(store.local_root(), run_id),
        work_dir: work_dir.clone(),
    };
    let mut shards = backend.launch(manifest)?;
    let watched =
        watch_grid(store, manifest, &prepared.thresholds, &mut shards, options.signals, options.progress).await;
    shards.wait_all();
    let _ = std::fs::remove_dir_all(&work_dir);
    watched?;

    let summary = judge(store, run_id, &prepared.thresholds).await?;
    store.put(&layout::summary(run_id), serde_json::to_vec_pretty(&summary)?).await?;
    Ok(summary)
}

/// Merges and gates a stored run from its shard results, with its own
/// thresholds plus `extra`.
pub async fn results(store: &Store, run_id: &str, extra: &[Threshold]) -> anyhow::Result<RunSummary> {
    let manifest = crate::collect::read_manifest(store, run_id).await?;
    let mut thresholds = thresholds_of(&manifest)?;
    thresholds.extend(extra.iter().cloned());
    judge(store, run_id, &thresholds).await
}

async fn judge(store: &Store, run_id: &str, thresholds: &[Threshold]) -> anyhow::Result<RunSummary> {
    let collected = collect(store, run_id).await?;
    Ok(summarize(&collected, thresholds))
}

pub fn summarize(collected: &Collected, thresholds: &[Threshold]) -> RunSummary {
    let shards: Vec<ShardInput> = (0..collected.manifest.shards as usize)
        .map(|i| ShardInput {
            shard: i as u32,
            status: collected.statuses[i].as_ref(),
            result: collected.results[i].as_ref(),
        })
        .collect();
    let test_duration = loadgrid_report::test_duration(&shards, &collected.merged);
    let evaluations = loadgrid_thresholds::evaluate(thresholds, &collected.merged, test_duration);
    let gate = gate(&collected.statuses, &evaluations, collected.stop.as_ref(), collected.manifest.allow_partial);
    let mut warnings = collected.manifest.warnings.clone();
    warnings.extend(gate.warnings.iter().cloned());
    for status in collected.statuses.iter().flatten() {
        for (metric, samples) in &status.overflowed_metrics {
            warnings.push(format!(
                "shard {}: metric `{metric}` hit the tag-set cap; {samples} samples are in totals but not in the per-tag breakdown",
                status.shard
            ));
        }
        if status.rejected_lines > 0 {
            warnings.push(format!(
                "shard {}: {} lines of k6 output could not be read",
                status.shard, status.rejected_lines
            ));
        }
    }
    build_summary(&SummaryInput {
        manifest: &collected.manifest,
        merged: &collected.merged,
        shards,
        evaluations: &evaluations,
        verdict: gate.verdict,
        exit_code: gate.exit_code,
        verdict_reasons: gate.reasons,
        partial: gate.partial,
        stop: collected.stop.as_ref(),
        warnings,
    })
}
