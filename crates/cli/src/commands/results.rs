use crate::cli::ResultsArgs;
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &ResultsArgs) -> anyhow::Result<i32> {
    let extra = settings.thresholds(&args.thresholds)?;
    let store = settings.store().await?;
    let summary = loadgrid_grid::orchestrate::results(&store, &args.run_id, &extra).await?;
    output::print_summary(&summary, args.json)
}
