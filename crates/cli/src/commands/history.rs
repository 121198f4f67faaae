//! `loadgrid history` and `loadgrid compare`, and what every judged run
//! adds to the history.

use crate::output::{out, outln};
use loadgrid_grid::history::{self, Baseline, RegressionSettings};
use loadgrid_history::{compare as comparison, GitContext, HistoryRecord};
use loadgrid_report::RunSummary;
use loadgrid_store::Store;

use crate::cli::{CompareArgs, HistoryArgs};
use crate::settings::Settings;

pub async fn list(settings: &Settings, args: &HistoryArgs) -> anyhow::Result<i32> {
    let store = settings.store().await?;
    let (records, unreadable) = history::list(&store, args.test.as_deref()).await?;
    for problem in &unreadable {
        eprintln!("warning: skipped an unreadable history record: {problem}");
    }
    let records = &records[records.len().saturating_sub(args.last)..];
    match args.format.as_str() {
        "json" => outln!("{}", serde_json::to_string_pretty(records)?),
        "csv" => out!("{}", csv(records)),
        _ if records.is_empty() => eprintln!("no recorded runs yet in {}", store.url()),
        _ => out!("{}", table(records)),
    }
    Ok(0)
}

const COLUMNS: [&str; 13] = [
    "run_id",
    "test",
    "created_at",
    "verdict",
    "p95_ms",
    "error_rate",
    "rps",
    "requests",
    "vus_max",
    "shards",
    "backend",
    "cost_usd",
    "git_sha",
];

fn cells(record: &HistoryRecord) -> [String; 13] {
    let number = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    [
        record.run_id.clone(),
        record.test_name.clone(),
        record.created_at.clone(),
        record.verdict.as_str().to_owned(),
        number(record.headline.p95_ms, 2),
        number(record.headline.error_rate, 4),
        number(record.headline.rps, 1),
        number(record.headline.requests, 0),
        number(record.headline.vus_max, 0),
        record.shards_planned.to_string(),
        record.backend.clone(),
        number(record.cost_usd, 4),
        record.git.as_ref().and_then(|g| g.sha.clone()).map(|s| s.chars().take(12).collect()).unwrap_or_default(),
    ]
}

fn table(records: &[HistoryRecord]) -> String {
    let rows: Vec<[String; 13]> = records.iter().map(cells).collect();
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([COLUMNS[i].len()]).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    let line = |values: Vec<&str>| {
        values.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_owned()
            + "\n"
    };
    text.push_str(&line(COLUMNS.to_vec()));
    for row in &rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// RFC 4180: fields with a comma, quote or newline are quoted.
fn csv(records: &[HistoryRecord]) -> String {
    let field = |value: &str| {
        if value.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_owned()
        }
    };
    let mut text = COLUMNS.join(",") + "\n";
    for record in records {
        text.push_str(&cells(record).iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        text.push('\n');
    }
    text
}

pub async fn compare(settings: &Settings, args: &CompareArgs) -> anyhow::Result<i32> {
    let store = settings.store().await?;
    let a = history::find(&store, &args.run_a).await?;
    let b = history::find(&store, &args.run_b).await?;
    if args.json {
        let rows: Vec<_> = comparison::rows(&a, &b)
            .iter()
            .map(|r| serde_json::json!({ "metric": r.label, "a": r.a, "b": r.b, "change_percent": r.change_percent }))
            .collect();
        let moved: Vec<_> = comparison::moved_thresholds(&a, &b)
            .into_iter()
            .map(|(threshold, before, after)| serde_json::json!({ "threshold": threshold, "a": before, "b": after }))
            .collect();
        let value = serde_json::json!({
            "a": a.run_id, "b": b.run_id, "verdicts": [a.verdict.as_str(), b.verdict.as_str()],
            "metrics": rows, "thresholds_moved": moved, "regression": b.regression,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        out!("{}", comparison::render(&a, &b));
    }
    Ok(0)
}

/// Checks a named baseline exists before anything runs.
pub async fn check_baseline(store: &Store, settings: &RegressionSettings) -> anyhow::Result<()> {
    if let Some(Baseline::RunId(run_id)) = &settings.baseline {
        history::find(store, run_id).await?;
    }
    Ok(())
}

/// Judges `summary` against its baseline, writes its history record, prints
/// the regression judgement, and returns the run's exit code and record.
pub async fn record(
    store: &Store,
    summary: &RunSummary,
    settings: &RegressionSettings,
    cost: Option<f64>,
) -> anyhow::Result<(i32, HistoryRecord)> {
    let (record, note) = history::record_run(store, summary, settings, git_context(), cost).await?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    Ok((record.exit_code, record))
}

/// Prints how the run fared against its baseline, if it was judged
/// against one (on standard error when standard output carries JSON).
pub fn print_regression(record: &HistoryRecord, settings: &RegressionSettings, json: bool) -> anyhow::Result<()> {
    let Some(report) = &record.regression else { return Ok(()) };
    let mut text = format!("\nregression rules against {}:\n", report.baseline_run_id);
    for result in &report.results {
        let verdict = if result.regressed { "✗ regressed" } else { "✓" };
        let values = match (result.baseline, result.current) {
            (Some(b), Some(c)) => format!("{b:.4} -> {c:.4}"),
            _ => result.note.clone().unwrap_or_default(),
        };
        text.push_str(&format!(
            "  {verdict} {} {} (allowed {}): {values}\n",
            result.key(),
            result.delta_text,
            result.rule
        ));
    }
    if report.regressed() {
        text.push_str(if settings.fail {
            "verdict: REGRESSED against the baseline (exit 98)\n"
        } else {
            "verdict: regressed against the baseline (on_regression = \"warn\": the exit code is the thresholds')\n"
        });
    }
    if json {
        eprint!("{text}");
    } else {
        out!("{text}");
    }
    Ok(())
}

/// The task size and capacity a run is priced at when ECS billed nothing
/// (a local or docker run, or one still going): CPU units, MiB, Spot.
pub fn task_size(settings: &crate::settings::Settings) -> (u32, u32, bool) {
    let config = &settings.config;
    let cpu = config.ecs.cpu.or(config.infra.task_cpu).unwrap_or(1024);
    let memory = config.ecs.memory.or(config.infra.task_memory).unwrap_or(2048);
    (cpu, memory, config.ecs.spot.unwrap_or(false))
}

/// What the run cost. An ECS run is priced from what ECS reports of each
/// task (image pull to stop, Spot or not: `billing.json`), or on the EC2
/// pool from its instances' time;
/// a local run from its shards' run times, as the same run on Fargate, with
/// the task size of `[ecs]`/`[infra]` (default 1 vCPU / 2 GB) and
/// `[ecs] spot` (an estimate: Fargate would also bill the tasks' start-up).
/// Log ingestion is included. Prints it.
pub async fn estimate_cost(settings: &crate::settings::Settings, store: &Store, summary: &RunSummary) -> Option<f64> {
    let prices = settings.prices().ok()?;
    let (default_cpu, default_memory, spot) = task_size(settings);
    let billing = loadgrid_aws::ecs::read_billing(store, &summary.run_id).await;
    if let Some(billing) = billing.as_ref().filter(|b| !b.instances.is_empty()) {
        return pool_cost(&prices, billing);
    }
    let billing = billing.filter(|b| !b.tasks.is_empty());
    let (cost, basis, cpu, memory) = match &billing {
        Some(billing) => {
            let (cpu, memory) = (billing.cpu.unwrap_or(default_cpu), billing.memory.unwrap_or(default_memory));
            let mut total = loadgrid_cost::billing::RunCost { compute_usd: 0.0, logs_usd: 0.0 };
            for task in &billing.tasks {
                let one = loadgrid_cost::billing::run_cost(&prices, &[task.seconds], cpu, memory, task.spot);
                total.compute_usd += one.compute_usd;
                total.logs_usd += one.logs_usd;
            }
            let seconds: f64 = billing.tasks.iter().map(|t| t.seconds).sum();
            (total, format!("{} task(s) billed {seconds:.0} s in all by ECS", billing.tasks.len()), cpu, memory)
        }
        None => {
            let seconds: Vec<f64> = summary
                .shards
                .iter()
                .filter_map(|s| Some((s.ended_at_ms? - s.resumed_at_ms?) as f64 / 1000.0))
                .collect();
            if seconds.is_empty() {
                return None;
            }
            let cost = loadgrid_cost::billing::run_cost(&prices, &seconds, default_cpu, default_memory, spot);
            let basis = format!(
                "as on Fargate: {} shard(s) ran {:.0} s in all{}",
                seconds.len(),
                seconds.iter().sum::<f64>(),
                if spot { ", Spot" } else { "" }
            );
            (cost, basis, default_cpu, default_memory)
        }
    };
    eprintln!(
        "cost: ~${:.4} ({basis}; {} vCPU / {} GB; logs ${:.4})",
        cost.total(),
        f64::from(cpu) / 1024.0,
        f64::from(memory) / 1024.0,
        cost.logs_usd
    );
    Some(cost.total())
}

/// A run on the EC2 pool: the instances' time it paid for, with their
/// Elastic IPs and volumes, and the tasks' logs. Prints it.
fn pool_cost(prices: &loadgrid_cost::Prices, billing: &loadgrid_aws::ecs::Billing) -> Option<f64> {
    let instances: Vec<loadgrid_cost::billing::InstanceTime> = billing
        .instances
        .iter()
        .map(|i| loadgrid_cost::billing::InstanceTime { instance_type: i.instance_type.clone(), seconds: i.seconds })
        .collect();
    let task_seconds: Vec<f64> = billing.tasks.iter().map(|t| t.seconds).collect();
    let cost = match loadgrid_cost::billing::pool_run_cost(prices, &instances, &task_seconds) {
        Ok(cost) => cost,
        Err(error) => {
            eprintln!("cost: unknown ({error})");
            return None;
        }
    };
    let seconds: f64 = instances.iter().map(|i| i.seconds.max(loadgrid_cost::billing::MINIMUM_BILLED_SECONDS)).sum();
    let types: std::collections::BTreeSet<&str> = instances.iter().map(|i| i.instance_type.as_str()).collect();
    eprintln!(
        "cost: ~${:.4} ({} {} instance{} of the EC2 pool billed {seconds:.0} s in all, with their Elastic IPs and \
         volumes; logs ${:.4})",
        cost.total(),
        instances.len(),
        types.into_iter().collect::<Vec<_>>().join("/"),
        if instances.len() == 1 { "" } else { "s" },
        cost.logs_usd
    );
    Some(cost.total())
}

/// The commit and CI run: GitHub Actions' environment, else the local git
/// checkout (trigger `local`), else nothing.
fn git_context() -> Option<GitContext> {
    if let Some(context) = GitContext::from_github_env(&|key| std::env::var(key).ok()) {
        return Some(context);
    }
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git").args(args).stderr(std::process::Stdio::null()).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let sha = git(&["rev-parse", "HEAD"])?;
    Some(GitContext {
        sha: Some(sha),
        branch: git(&["rev-parse", "--abbrev-ref", "HEAD"]),
        trigger: Some("local".into()),
        repository: None,
        run_url: None,
    })
}
