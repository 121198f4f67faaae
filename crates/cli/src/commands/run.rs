use crate::output::outln;
use loadgrid_aws::ecs::Capacity;
use loadgrid_dashboard::Serving;
use loadgrid_grid::history::RegressionSettings;
use loadgrid_grid::input_error;
use loadgrid_grid::orchestrate::{local_backend, run_grid, Backend, Judgement, RunOptions, RunOutcome, WatchOptions};
use loadgrid_store::Store;

use loadgrid_plan::BackendKind;

use crate::cli::{PublishArgs, RunArgs};
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &RunArgs) -> anyhow::Result<i32> {
    let k6 = settings.k6()?;
    run_with(settings, args, &k6).await
}

/// Runs `args` on the configured backend with a given k6 and prints the
/// summary. Everything that can be wrong with the input is found before a
/// run exists.
pub async fn run_with(settings: &Settings, args: &RunArgs, k6: &loadgrid_k6::K6) -> anyhow::Result<i32> {
    let request = settings.run_request(args)?;
    let regression = settings.regression(args.baseline.as_deref())?;
    let store = settings.store().await?;
    super::history::check_baseline(&store, &regression).await?;
    if args.detach && request.backend != BackendKind::Ecs {
        return Err(input_error(format!(
            "--detach needs the ecs backend: {} shards are this process's children",
            request.backend
        )));
    }
    if args.detach && args.dashboard.addr.is_some() {
        return Err(input_error(
            "--dashboard serves the page of a run watched from here; with --detach, `loadgrid dashboard <run-id>` \
             serves it from any machine that reads the store",
        ));
    }
    let (serving, mut live) = super::dashboard::open(settings, &args.dashboard).await?;
    let signals = super::signal_counter()?;
    let backend: Box<dyn Backend> = match request.backend {
        BackendKind::Ecs => {
            let mut backend = super::ecs_backend(settings, &args.ecs, Some(args), &store).await?;
            backend.interrupts = Some(signals.clone());
            if let (Capacity::Ec2(_), Some(live)) = (&backend.settings.capacity, live.as_mut()) {
                live.unpriced();
            }
            Box::new(backend)
        }
        BackendKind::Docker => Box::new(super::docker_backend(settings, args, k6, &store)?),
        BackendKind::Local => Box::new(local_backend(std::env::current_exe()?, k6, &store)),
    };
    let outcome = run_grid(
        &request,
        k6,
        &store,
        backend.as_ref(),
        RunOptions {
            on_planned: Box::new(announce),
            detach: args.detach,
            watch: WatchOptions {
                progress: output::progress_mode(args.quiet),
                signals,
                summary: Some(output::summary_handling(k6.clone(), args.json)?),
                live,
            },
        },
    )
    .await?;
    match outcome {
        RunOutcome::Judged(judgement) => {
            conclude(settings, &store, &judgement, &regression, &args.publish, args.json, serving).await
        }
        RunOutcome::Detached(manifest) => {
            eprintln!("detached: the shards finish on their own; `loadgrid attach {}` judges the run", manifest.run_id);
            outln!("{}", manifest.run_id);
            Ok(0)
        }
    }
}

/// What follows a judged run, for `run` and `attach` alike. The record
/// first: whatever happens to the output, the run is in the history. Then
/// the dashboard's pages turn into the report, the output, the
/// notifications, and the dashboard closes once its pages have the report.
pub async fn conclude(
    settings: &Settings,
    store: &Store,
    judgement: &Judgement,
    regression: &RegressionSettings,
    publish: &PublishArgs,
    json: bool,
    serving: Option<Serving>,
) -> anyhow::Result<i32> {
    let summary = &judgement.summary;
    let cost = super::history::estimate_cost(settings, store, summary).await;
    let (code, record) = super::history::record(store, summary, regression, cost).await?;
    if let Some(serving) = &serving {
        super::dashboard::show_report(serving, summary, Some(&record));
    }
    output::print_stored_run(&summary.run_id, || {
        output::print_judgement(judgement, json)?;
        super::history::print_regression(&record, regression, json)
    })?;
    super::publish::publish(settings, store, summary, &record, publish, json).await;
    if let Some(serving) = serving {
        serving.close().await;
    }
    Ok(code)
}

pub fn announce(manifest: &loadgrid_plan::Manifest) {
    eprintln!(
        "run {}: `{}` on {} {} shard{} (k6 {})",
        manifest.run_id,
        manifest.test_name,
        manifest.shards,
        manifest.backend,
        if manifest.shards == 1 { "" } else { "s" },
        manifest.k6_version
    );
    for warning in manifest.warnings.iter().cloned().chain(loadgrid_grid::prepare::shards_beyond_cores(manifest)) {
        eprintln!("warning: {warning}");
    }
}
