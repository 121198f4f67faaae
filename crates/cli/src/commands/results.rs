use crate::cli::ResultsArgs;
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &ResultsArgs) -> anyhow::Result<i32> {
    let extra = settings.thresholds(&args.thresholds)?;
    let handling = match args.handle_summary {
        true => Some(output::summary_handling(settings.k6()?, args.json)?),
        false => None,
    };
    let store = settings.store().await?;
    let judgement =
        loadgrid_grid::orchestrate::results(&store, &args.run_id, &extra, args.allow_partial, handling.as_ref())
            .await?;
    output::print_judgement(&judgement, args.json)
}
