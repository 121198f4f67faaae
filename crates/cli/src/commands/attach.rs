//! `loadgrid attach <run-id>`: watch a run started elsewhere (detached, or
//! whose terminal or CI job died), then merge and gate it as if never left.

use loadgrid_grid::orchestrate::{attach, local_backend, Backend, RunOptions, WatchOptions};

use loadgrid_plan::BackendKind;

use crate::cli::AttachArgs;
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &AttachArgs) -> anyhow::Result<i32> {
    let regression = settings.regression(args.baseline.as_deref())?;
    let store = settings.store().await?;
    super::history::check_baseline(&store, &regression).await?;
    let manifest = loadgrid_grid::collect::read_manifest(&store, &args.run_id).await?;
    // A local or docker run's shards are watched through the store only.
    let backend: Box<dyn Backend> = match manifest.backend {
        BackendKind::Ecs => Box::new(super::ecs_backend(settings, &args.ecs, None, &store).await?),
        BackendKind::Local | BackendKind::Docker => {
            Box::new(local_backend(std::env::current_exe()?, &settings.k6()?, &store))
        }
    };
    // handleSummary() needs k6; a machine that only watches an ECS grid may
    // have none, and `loadgrid results --handle-summary` can run it later.
    let summary_handling = match settings.k6() {
        Ok(k6) => Some(output::summary_handling(k6, args.json)?),
        Err(error) => {
            eprintln!("note: handleSummary() will not run here ({error:#}); `loadgrid results {} --handle-summary` runs it where k6 is", args.run_id);
            None
        }
    };
    let (serving, live) = super::dashboard::open(settings, &args.dashboard).await?;
    let judgement = attach(
        &store,
        &args.run_id,
        backend.as_ref(),
        RunOptions {
            on_planned: Box::new(|manifest| {
                eprintln!("attached to run {} (`{}`)", manifest.run_id, manifest.test_name)
            }),
            detach: false,
            watch: WatchOptions {
                progress: output::progress_mode(args.quiet),
                signals: super::signal_counter()?,
                summary: summary_handling,
                live,
            },
        },
    )
    .await?;
    super::run::conclude(settings, &store, &judgement, &regression, &args.publish, args.json, serving).await
}
