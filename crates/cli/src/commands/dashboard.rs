//! The live dashboard: `--dashboard` on `run`, `attach` and `demo`, and
//! `loadgrid dashboard <run-id>` for a run watched from anywhere that reads
//! its store. The server is `loadgrid-dashboard`; the frames come from the
//! watch loop (`loadgrid_grid::live`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use loadgrid_dashboard::{Dashboard, Serving, Token};
use loadgrid_grid::live::{CostSoFar, LiveFeed};
use loadgrid_grid::{history, input_error};
use loadgrid_history::HistoryRecord;
use loadgrid_report::RunSummary;
use loadgrid_store::layout;

use crate::cli::{DashboardArgs, DashboardFlag};
use crate::settings::Settings;

/// Once every shard has reported, how long `loadgrid dashboard` waits for
/// the run's live orchestrator to store its summary before merging the run
/// itself, as `report --html` does.
const SUMMARY_WAIT: Duration = Duration::from_secs(30);

/// With `--dashboard`: the dashboard, bound and printed, and the feed the
/// watch loop publishes to. Binding comes before anything is launched: a
/// taken port is bad input (exit 2), not a run without its page.
pub async fn open(settings: &Settings, flag: &DashboardFlag) -> anyhow::Result<(Option<Serving>, Option<LiveFeed>)> {
    let Some(addr) = flag.addr else { return Ok((None, None)) };
    let (serving, feed) = serve(settings, addr).await?;
    Ok((Some(serving), Some(feed)))
}

async fn serve(settings: &Settings, addr: SocketAddr) -> anyhow::Result<(Serving, LiveFeed)> {
    let dashboard = bind(addr).await?;
    let (feed, frames) = LiveFeed::new(cost_so_far(settings));
    Ok((dashboard.serve(frames), feed))
}

async fn bind(addr: SocketAddr) -> anyhow::Result<Dashboard> {
    let token = match addr.ip().is_loopback() {
        true => None,
        false => Some(Token::from_env_or_random().map_err(|error| input_error(error.to_string()))?),
    };
    let dashboard = Dashboard::bind(addr, token).await.map_err(|error| input_error(error.to_string()))?;
    let reach = match addr.ip().is_unspecified() {
        true => " (on every address of this machine: put its name or IP in place of the zeros)",
        false => "",
    };
    eprintln!("dashboard: {}{reach}", dashboard.url());
    Ok(dashboard)
}

/// The run has ended: every open page becomes its report, the one `loadgrid
/// report --html` writes.
pub fn show_report(serving: &Serving, summary: &RunSummary, record: Option<&HistoryRecord>) {
    match loadgrid_html::run_report(summary, &super::report::extras(record)) {
        Ok(html) => serving.show_report(html),
        Err(error) => eprintln!("warning: the dashboard cannot show the report: {error:#}"),
    }
}

/// What the shards have cost so far, priced as the run's cost line prices
/// them once it has ended (as on Fargate, for local and docker runs).
fn cost_so_far(settings: &Settings) -> Option<CostSoFar> {
    let prices = settings.prices().ok()?;
    let (cpu, memory, spot) = super::history::task_size(settings);
    Some(Box::new(move |seconds: &[f64]| loadgrid_cost::billing::run_cost(&prices, seconds, cpu, memory, spot).total()))
}

/// `loadgrid dashboard <run-id>`: serves the run's page, live until it
/// ends, then its report, until interrupted. It only reads the store: a
/// viewer never changes the run it shows.
pub async fn run(settings: &Settings, args: &DashboardArgs) -> anyhow::Result<i32> {
    let store = settings.store().await?;
    let manifest = loadgrid_grid::collect::read_manifest(&store, &args.run_id).await?;
    let run_id = &manifest.run_id;
    let (serving, mut feed) = serve(settings, args.addr).await?;
    // A run on the EC2 pool pays for instances, which shard seconds do not
    // price: its price is said when it ends.
    let launched = loadgrid_aws::ecs::read_launched(&store, run_id).await.ok().flatten();
    if launched.is_some_and(|launched| launched.pool.is_some()) {
        feed.unpriced();
    }
    let mut signals = super::signal_counter()?;

    if !store.exists(&layout::summary(run_id)).await? {
        eprintln!("run {run_id} (`{}`): live until it ends; Ctrl-C stops this page, never the run", manifest.test_name);
        if !loadgrid_grid::live::observe(&store, &manifest, &feed, signals.clone()).await? {
            return Ok(0);
        }
        // Only a live orchestrator will store the summary.
        let waiting_since = Instant::now();
        while !store.exists(&layout::summary(run_id)).await.unwrap_or(false)
            && waiting_since.elapsed() < SUMMARY_WAIT
            && loadgrid_grid::watch::has_live_orchestrator(&store, &manifest).await
        {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = signals.changed() => return Ok(0),
            }
        }
    }
    let summary = super::report::stored_summary(&store, run_id).await?;
    let record = history::find(&store, run_id).await.ok();
    show_report(&serving, &summary, record.as_ref());
    eprintln!("run {run_id} has ended: the page shows its report; Ctrl-C stops serving it");
    let _ = signals.changed().await;
    Ok(0)
}
