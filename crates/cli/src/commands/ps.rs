//! `loadgrid ps` and `loadgrid stop`: loadgrid's tasks on the ECS cluster,
//! found by tag and `startedBy`, from any machine with access.

use crate::output::outln;
use std::collections::BTreeMap;

use loadgrid_aws::ecs::{admin, pool, pool_key, read_launched, Capacity};
use loadgrid_grid::input_error;

use crate::cli::{PsArgs, StopArgs};
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &PsArgs) -> anyhow::Result<i32> {
    let aws = settings.aws().await?;
    let ecs = settings.ecs_settings(&aws, &args.ecs, None).await?;
    if ecs.cluster.is_empty() {
        return Err(input_error("no ECS cluster is set: --cluster or `cluster` under [ecs]"));
    }
    let grids = admin::running_grids(&aws.ecs(), &ecs.cluster, &settings.prices()?).await?;
    let instances = match &ecs.capacity {
        Capacity::Ec2(pool) => {
            let store = settings.store().await?;
            pool::status(&aws, &store, pool_key(&ecs.cluster), pool).await?
        }
        Capacity::Fargate => Vec::new(),
    };
    if args.json {
        let rows: Vec<serde_json::Value> = grids
            .iter()
            .map(|grid| {
                let states = states_of(grid);
                serde_json::json!({
                    "run_id": grid.run_id,
                    "test": grid.test,
                    "tasks": grid.tasks.len(),
                    "states": states,
                    "age_seconds": grid.age_seconds.round(),
                    "cost_so_far_usd": (grid.cost_usd * 10_000.0).round() / 10_000.0,
                    "instances": instances
                        .iter()
                        .filter_map(|i| Some(serde_json::json!({
                            "instance_id": i.instance_id,
                            "state": i.state,
                            "shards": i.held_by.get(&grid.run_id)?,
                        })))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    print_pool(&instances)?;
    if grids.is_empty() {
        eprintln!("no loadgrid tasks are running on cluster `{}`", ecs.cluster);
        return Ok(0);
    }
    outln!("{:<24} {:<20} {:>5}  {:<28} {:>8} {:>10}", "RUN", "TEST", "TASKS", "STATES", "AGE", "COST");
    for grid in &grids {
        let states: Vec<String> = states_of(grid).iter().map(|(s, n)| format!("{s} {n}")).collect();
        outln!(
            "{:<24} {:<20} {:>5}  {:<28} {:>7}s {:>9.4}$",
            grid.run_id,
            grid.test,
            grid.tasks.len(),
            states.join(", "),
            grid.age_seconds.round(),
            grid.cost_usd
        );
    }
    eprintln!("cost so far: compute at Fargate us-east-1 list prices, per second with a one-minute minimum");
    if !instances.is_empty() {
        eprintln!("a run on the EC2 pool is priced from its instances' time when it ends");
    }
    Ok(0)
}

/// The EC2 pool's instances: state, and the runs holding each.
fn print_pool(instances: &[pool::InstanceStatus]) -> anyhow::Result<()> {
    if instances.is_empty() {
        return Ok(());
    }
    outln!("{:<22} {:<10} HELD BY", "POOL INSTANCE", "STATE");
    for instance in instances {
        let held: Vec<String> = instance
            .held_by
            .iter()
            .map(|(run, shards)| format!("{run} ({shards} shard{})", if *shards == 1 { "" } else { "s" }))
            .collect();
        outln!(
            "{:<22} {:<10} {}",
            instance.instance_id,
            instance.state,
            if held.is_empty() { "-".to_owned() } else { held.join(", ") }
        );
    }
    outln!("");
    Ok(())
}

fn states_of(grid: &admin::GridTasks) -> BTreeMap<String, usize> {
    let mut states = BTreeMap::new();
    for task in &grid.tasks {
        *states.entry(task.last_status.clone()).or_insert(0) += 1;
    }
    states
}

pub async fn stop(settings: &Settings, args: &StopArgs) -> anyhow::Result<i32> {
    let aws = settings.aws().await?;
    let ecs_settings = settings.ecs_settings(&aws, &args.ecs, None).await?;
    let ecs = aws.ecs();
    let store = settings.store().await.ok();
    let (cluster, arns, run_ids) = match &args.run_id {
        Some(run_id) => {
            if !loadgrid_grid::run_id::is_valid(run_id) {
                return Err(input_error(format!("`{run_id}` is not a run id; `loadgrid ps` lists the running grids")));
            }
            // The run's own record knows its cluster; the tags find it otherwise.
            let mut known = false;
            let mut launched = None;
            if let Some(store) = &store {
                known = store.exists(&loadgrid_store::layout::manifest(run_id)).await.unwrap_or(false);
                launched = read_launched(store, run_id).await.ok().flatten();
                // Only a run that exists gets a stop record.
                if known {
                    loadgrid_agent::request_stop(
                        store,
                        run_id,
                        loadgrid_plan::records::StopReason::Interrupted,
                        "stopped by `loadgrid stop`",
                    )
                    .await;
                }
            }
            let cluster = launched.as_ref().map(|l| l.cluster.clone()).unwrap_or(ecs_settings.cluster.clone());
            if cluster.is_empty() {
                return Err(input_error("no ECS cluster is set: --cluster or `cluster` under [ecs]"));
            }
            let arns = admin::run_task_arns(&ecs, &cluster, run_id, false).await?;
            if !known && arns.is_empty() {
                return Err(input_error(format!(
                    "no run `{run_id}` in the store and no running task of it on cluster `{cluster}`; `loadgrid ps` \
                     lists the running grids"
                )));
            }
            (cluster, arns, vec![run_id.clone()])
        }
        None => {
            if ecs_settings.cluster.is_empty() {
                return Err(input_error("no ECS cluster is set: --cluster or `cluster` under [ecs]"));
            }
            let grids = admin::running_grids(&ecs, &ecs_settings.cluster, &settings.prices()?).await?;
            let arns = grids.iter().flat_map(|g| g.tasks.iter().map(|t| t.arn.clone())).collect();
            let run_ids = grids.iter().map(|g| g.run_id.clone()).collect();
            (ecs_settings.cluster.clone(), arns, run_ids)
        }
    };
    let stopped = admin::stop_tasks(&ecs, &cluster, &arns, "loadgrid stop").await;
    eprintln!("asked ECS to stop {stopped} task{} on cluster `{cluster}`", if stopped == 1 { "" } else { "s" });
    // The runs' holds on the EC2 pool: the instances no other run uses stop.
    if let Some(store) = &store {
        for run_id in &run_ids {
            let Some(launched) = read_launched(store, run_id).await.ok().flatten() else { continue };
            let Some(used) = &launched.pool else { continue };
            let (note, _) = pool::let_go(&aws, store, pool_key(&launched.cluster), run_id, used).await;
            eprintln!("{note}");
        }
    }
    Ok(if stopped == arns.len() { 0 } else { 1 })
}
