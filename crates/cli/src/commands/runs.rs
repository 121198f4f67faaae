//! `loadgrid runs`: the stored runs, oldest first (run ids sort by time).

use crate::output::outln;
use loadgrid_report::RunSummary;
use loadgrid_store::layout;
use serde::Serialize;

use crate::cli::RunsArgs;
use crate::settings::Settings;

#[derive(Serialize)]
struct RunRow {
    run_id: String,
    test_name: String,
    created_at: String,
    shards: u32,
    /// `passed`, `thresholds_crossed`, `failed`, or `unfinished` when no summary was written.
    verdict: &'static str,
    partial: Option<bool>,
    requests: Option<f64>,
    p95_ms: Option<f64>,
}

pub async fn run(settings: &Settings, args: &RunsArgs) -> anyhow::Result<i32> {
    let store = settings.store().await?;
    let mut rows = Vec::new();
    for run_id in store.list_dirs(layout::RUNS).await? {
        let Some(manifest) = store.get(&layout::manifest(&run_id)).await? else { continue };
        let manifest = match loadgrid_plan::Manifest::from_json(&manifest) {
            Ok(manifest) => manifest,
            Err(error) => {
                eprintln!(
                    "warning: skipped run {run_id}: {error} (its `{}` was damaged after the run was stored)",
                    layout::manifest(&run_id)
                );
                continue;
            }
        };
        let summary: Option<RunSummary> =
            store.get(&layout::summary(&run_id)).await?.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let metric = |name: &str, key: &str| {
            summary.as_ref().and_then(|s| s.metrics.get(name)).and_then(|m| m.values.get(key)).copied()
        };
        rows.push(RunRow {
            run_id,
            test_name: manifest.test_name,
            created_at: manifest.created_at,
            shards: manifest.shards,
            verdict: summary.as_ref().map_or("unfinished", |s| s.verdict.as_str()),
            partial: summary.as_ref().map(|s| s.partial),
            requests: metric("http_reqs", "count"),
            p95_ms: metric("http_req_duration", "p(95)"),
        });
    }
    // Run ids sort by the second they started in; within one second the
    // manifests' creation time orders them.
    rows.sort_by(|a, b| (&a.created_at, &a.run_id).cmp(&(&b.created_at, &b.run_id)));
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if rows.is_empty() {
        eprintln!("no runs in store `{}`: start one with `loadgrid run`, or name the store with --store", store.url());
        return Ok(0);
    }
    outln!(
        "{:<24} {:<20} {:<21} {:>6} {:<19} {:>10} {:>10}",
        "RUN",
        "TEST",
        "CREATED",
        "SHARDS",
        "VERDICT",
        "REQUESTS",
        "P95"
    );
    for row in rows {
        let verdict =
            if row.partial == Some(true) { format!("{} (partial)", row.verdict) } else { row.verdict.to_owned() };
        outln!(
            "{:<24} {:<20} {:<21} {:>6} {:<19} {:>10} {:>10}",
            row.run_id,
            row.test_name,
            row.created_at.get(..19).unwrap_or(&row.created_at).replace('T', " "),
            row.shards,
            verdict,
            row.requests.map_or("-".into(), |v| format!("{v:.0}")),
            row.p95_ms.map_or("-".into(), |v| format!("{v:.2}ms")),
        );
    }
    Ok(0)
}
