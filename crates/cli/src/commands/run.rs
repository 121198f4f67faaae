use loadgrid_grid::orchestrate::{run_local, RunOptions};

use crate::cli::RunArgs;
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &RunArgs) -> anyhow::Result<i32> {
    let k6 = settings.k6()?;
    run_with(settings, args, &k6).await
}

/// Runs `args` on a local grid with a given k6 and prints the summary.
/// Everything that can be wrong with the input is found before a run exists.
pub async fn run_with(settings: &Settings, args: &RunArgs, k6: &loadgrid_k6::K6) -> anyhow::Result<i32> {
    let request = settings.run_request(args)?;
    let store = settings.store()?;
    let summary = run_local(
        &request,
        k6,
        &store,
        RunOptions {
            exe: std::env::current_exe()?,
            progress: output::progress_mode(args.quiet),
            signals: super::signal_counter()?,
            on_planned: Box::new(announce),
        },
    )
    .await?;
    output::print_summary(&summary, args.json)
}

pub fn announce(manifest: &loadgrid_plan::Manifest) {
    eprintln!(
        "run {}: `{}` on {} local shard{} (k6 {})",
        manifest.run_id,
        manifest.test_name,
        manifest.shards,
        if manifest.shards == 1 { "" } else { "s" },
        manifest.k6_version
    );
    for warning in &manifest.warnings {
        eprintln!("warning: {warning}");
    }
}
