//! One run end to end, and the re-judging of a stored run.

use std::path::{Path, PathBuf};

use loadgrid_health::HealthSummary;
use loadgrid_k6::K6;
use loadgrid_plan::Manifest;
use loadgrid_report::{build_summary, RunSummary, ShardInput, SummaryInput};
use loadgrid_store::{layout, Store};
use loadgrid_thresholds::Threshold;
use tokio::sync::watch;

use crate::backend::detached::DetachedShards;
use crate::backend::local::{self, LocalBackend};
use crate::backend::LaunchedShards;
use crate::collect::{collect, Collected};
use crate::gate::gate;
use crate::handle_summary::{handle_summary, Handled, SummaryHandling};
use crate::live::LiveFeed;
use crate::prepare::{prepare, thresholds_of, RunRequest};
use crate::watch::{record_end_notes, watch_grid, ProgressMode};

pub struct RunOptions {
    /// Called once the run is stored, before launch.
    pub on_planned: Box<dyn FnOnce(&Manifest) + Send>,
    /// Return once the shards are launched; they finish on their own.
    pub detach: bool,
    pub watch: WatchOptions,
}

/// How a run is watched and judged once launched.
pub struct WatchOptions {
    pub progress: ProgressMode,
    /// Counts SIGINT/SIGTERM received.
    pub signals: watch::Receiver<u32>,
    /// Run the script's `handleSummary()` once the grid is merged; `None`
    /// where no k6 is at hand.
    pub summary: Option<SummaryHandling>,
    /// Where live frames go while the grid runs, for a dashboard.
    pub live: Option<LiveFeed>,
}

/// Where a run's shards are started.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Checks everything this backend needs for `manifest` (network,
    /// cluster, secrets...). Runs before anything is stored or launched;
    /// bad input is an [`crate::InputError`].
    async fn validate(&self, manifest: &Manifest) -> anyhow::Result<()>;
    async fn launch(&self, manifest: &Manifest, store: &Store) -> anyhow::Result<Box<dyn LaunchedShards>>;
    /// The shards of a run launched earlier, possibly from another machine.
    async fn reattach(&self, manifest: &Manifest, store: &Store) -> anyhow::Result<Box<dyn LaunchedShards>>;
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    async fn validate(&self, manifest: &Manifest) -> anyhow::Result<()> {
        if let Some(containers) = &self.containers {
            containers.validate().map_err(crate::input_error)?;
        }
        if manifest.shards > local::MAX_LOCAL_SHARDS {
            return Err(crate::input_error(format!(
                "{} shards on this machine: each is a k6 process beside its agent, and at most {} fit one machine; use fewer, or `--backend ecs` for a bigger grid",
                manifest.shards,
                local::MAX_LOCAL_SHARDS
            )));
        }
        Ok(())
    }

    async fn launch(&self, manifest: &Manifest, store: &Store) -> anyhow::Result<Box<dyn LaunchedShards>> {
        let backend = LocalBackend { log_dir: local::log_dir(store.local_root(), &manifest.run_id), ..self.clone() };
        Ok(Box::new(backend.launch(manifest)?))
    }

    async fn reattach(&self, manifest: &Manifest, store: &Store) -> anyhow::Result<Box<dyn LaunchedShards>> {
        Ok(Box::new(DetachedShards { store: store.clone(), run_id: manifest.run_id.clone() }))
    }
}

/// A judged run: its summary, and what the script's `handleSummary()` did.
pub struct Judgement {
    pub summary: RunSummary,
    pub handled: Handled,
}

pub enum RunOutcome {
    Judged(Judgement),
    /// `--detach`: launched; `loadgrid attach <run-id>` judges it later.
    Detached(Manifest),
}

/// Plans, bundles, launches on `backend`, watches, collects, merges and gates.
/// Bad input returns an [`crate::InputError`] before anything is stored or launched.
pub async fn run_grid(
    request: &RunRequest,
    k6: &K6,
    store: &Store,
    backend: &dyn Backend,
    options: RunOptions,
) -> anyhow::Result<RunOutcome> {
    let prepared = prepare(request, k6).await?;
    let manifest = &prepared.manifest;
    let run_id = &manifest.run_id;
    backend.validate(manifest).await?;

    store.put_file(&layout::archive(run_id), &prepared.archive).await?;
    // The manifest goes last: a run without one is not listed, so a failed
    // upload leaves nothing that looks like a run.
    store.put(&layout::manifest(run_id), manifest.to_json()).await?;
    (options.on_planned)(manifest);

    let mut shards = backend.launch(manifest, store).await?;
    if options.detach {
        return Ok(RunOutcome::Detached(manifest.clone()));
    }
    let judgement = watch_and_judge(store, manifest, &prepared.thresholds, shards.as_mut(), options.watch).await?;
    Ok(RunOutcome::Judged(judgement))
}

/// Re-attaches to a run (started detached, or whose orchestrator died):
/// live progress, then merge and gate as if it had never been left.
pub async fn attach(
    store: &Store,
    run_id: &str,
    backend: &dyn Backend,
    options: RunOptions,
) -> anyhow::Result<Judgement> {
    let manifest = crate::collect::read_manifest(store, run_id).await?;
    let thresholds = thresholds_of(&manifest)?;
    (options.on_planned)(&manifest);
    let mut shards = backend.reattach(&manifest, store).await?;
    watch_and_judge(store, &manifest, &thresholds, shards.as_mut(), options.watch).await
}

async fn watch_and_judge(
    store: &Store,
    manifest: &Manifest,
    thresholds: &[Threshold],
    shards: &mut dyn LaunchedShards,
    options: WatchOptions,
) -> anyhow::Result<Judgement> {
    let watched =
        watch_grid(store, manifest, thresholds, shards, options.signals, options.progress, options.live.as_ref()).await;
    if let Err(error) = watched {
        if error.downcast_ref::<crate::watch::InterruptedTwice>().is_none() {
            shards.finish().await;
        }
        return Err(error);
    }
    shards.finish().await;
    record_end_notes(store, &manifest.run_id, shards).await?;
    let (summary, collected) = judge(store, &manifest.run_id, thresholds).await?;
    store.put(&layout::summary(&manifest.run_id), serde_json::to_vec_pretty(&summary)?).await?;
    let handled = match &options.summary {
        Some(handling) => handle_summary(store, &collected, &summary, handling).await,
        None => Handled::NotDefined,
    };
    Ok(Judgement { summary, handled })
}

/// The local backend for runs of this process: agents run from `exe`.
/// Their logs go next to each run (see [`local::log_dir`]).
pub fn local_backend(exe: PathBuf, k6: &K6, store: &Store) -> LocalBackend {
    LocalBackend {
        exe,
        k6: k6.path.clone(),
        store_url: store.url().to_owned(),
        log_dir: PathBuf::new(),
        work_dir: std::env::temp_dir().join("loadgrid-agents"),
        containers: None,
        local_store: store.local_root().map(Path::to_path_buf),
    }
}

/// Merges and gates a stored run from its shard results, with its own
/// thresholds plus `extra`; runs the script's `handleSummary()` again when
/// asked to.
pub async fn results(
    store: &Store,
    run_id: &str,
    extra: &[Threshold],
    allow_partial: bool,
    summary_handling: Option<&SummaryHandling>,
) -> anyhow::Result<Judgement> {
    let manifest = crate::collect::read_manifest(store, run_id).await?;
    let mut thresholds = thresholds_of(&manifest)?;
    thresholds.extend(extra.iter().cloned());
    let mut collected = collect(store, run_id).await?;
    collected.manifest.allow_partial |= allow_partial;
    let mut summary = summarize(&collected, &thresholds);
    if let Some(late) = reported_since_judged(store, &summary).await {
        summary.warnings.push(format!(
            "{late} reported after the run was judged: this merge includes what {late} measured; the run's stored \
             summary and history record do not"
        ));
    }
    let handled = match summary_handling {
        Some(handling) => handle_summary(store, &collected, &summary, handling).await,
        None => Handled::NotDefined,
    };
    Ok(Judgement { summary, handled })
}

/// Shards missing from the run's stored judgement that have reported
/// since (e.g. a result that arrived after its watcher stopped waiting).
async fn reported_since_judged(store: &Store, summary: &RunSummary) -> Option<String> {
    let stored = store.get(&layout::summary(&summary.run_id)).await.ok()??;
    let stored: RunSummary = serde_json::from_slice(&stored).ok()?;
    let missing = |shards: &[loadgrid_report::ShardSummary], shard: u32| {
        shards.iter().any(|s| s.shard == shard && s.outcome == loadgrid_report::ShardState::Missing)
    };
    let late: Vec<u32> = summary
        .shards
        .iter()
        .map(|s| s.shard)
        .filter(|&shard| missing(&stored.shards, shard) && !missing(&summary.shards, shard))
        .collect();
    (!late.is_empty()).then(|| crate::gate::shard_ranges(&late))
}

async fn judge(store: &Store, run_id: &str, thresholds: &[Threshold]) -> anyhow::Result<(RunSummary, Collected)> {
    let collected = collect(store, run_id).await?;
    Ok((summarize(&collected, thresholds), collected))
}

pub fn summarize(collected: &Collected, thresholds: &[Threshold]) -> RunSummary {
    let shards: Vec<ShardInput> = (0..collected.manifest.shards as usize)
        .map(|i| ShardInput {
            shard: i as u32,
            status: collected.statuses[i].as_ref(),
            result: collected.results[i].as_ref(),
            backend_note: collected.backend_notes[i].as_deref(),
        })
        .collect();
    let test_time =
        loadgrid_report::test_time(collected.go.as_ref().map(|go| go.start_at_ms), &shards, &collected.merged);
    let evaluations = loadgrid_thresholds::evaluate(thresholds, &collected.merged, test_time.duration());
    let health = health_summary(collected);
    let gate = gate(
        &collected.statuses,
        &collected.backend_notes,
        &evaluations,
        collected.stop.as_ref(),
        collected.manifest.allow_partial,
        &health,
    );
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
        test_time,
        evaluations: &evaluations,
        verdict: gate.verdict,
        exit_code: gate.exit_code,
        verdict_reasons: gate.reasons,
        partial: gate.partial,
        stop: collected.stop.as_ref(),
        warnings,
        health,
    })
}

/// Judges each reporting shard's generator with the run's `[health]` limits.
fn health_summary(collected: &Collected) -> HealthSummary {
    let manifest = &collected.manifest;
    let dropped = |shard: usize| {
        collected.results[shard]
            .as_ref()
            .and_then(|result| result.metrics.metric("dropped_iterations"))
            .map_or(0, loadgrid_metrics::MetricEntry::counter_sum)
    };
    let inputs: Vec<loadgrid_health::ShardInput> = collected
        .statuses
        .iter()
        .enumerate()
        .filter_map(|(i, status)| {
            let health = status.as_ref()?.health.as_ref()?;
            Some(loadgrid_health::ShardInput { shard: i as u32, health, dropped_iterations: dropped(i) })
        })
        .collect();
    let resumed: Vec<i64> = collected.statuses.iter().flatten().filter_map(|s| s.resumed_at_ms).collect();
    HealthSummary::build(&inputs, &resumed, manifest.health, &health_grid(manifest))
}

/// The grid a health finding's fix is worded for.
pub fn health_grid(manifest: &Manifest) -> loadgrid_health::Grid {
    loadgrid_health::Grid { shards: manifest.shards, on_this_machine: !manifest.backend.is_remote() }
}
