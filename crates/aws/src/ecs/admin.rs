//! `loadgrid ps` and `loadgrid stop`: loadgrid's tasks on a cluster, found
//! by their `startedBy` and tags, so they work from any machine.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{DesiredStatus, TaskField};
use futures::StreamExt;

use super::shards::{view_of, TaskView, DESCRIBE_BATCH};
use super::{STARTED_BY_PREFIX, TAG_RUN_ID, TAG_TEST};
use crate::error::sdk_message;

/// The tasks of a run by their `startedBy`: those meant to run, and with
/// `include_stopped` the stopped ones too.
pub async fn run_task_arns(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    run_id: &str,
    include_stopped: bool,
) -> anyhow::Result<Vec<String>> {
    let mut arns = Vec::new();
    let statuses: &[DesiredStatus] =
        if include_stopped { &[DesiredStatus::Running, DesiredStatus::Stopped] } else { &[DesiredStatus::Running] };
    for status in statuses.iter().cloned() {
        arns.extend(list_tasks(ecs, cluster, Some(&super::started_by(run_id)), status).await?);
    }
    Ok(arns)
}

async fn list_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    started_by: Option<&str>,
    status: DesiredStatus,
) -> anyhow::Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let output = ecs
            .list_tasks()
            .cluster(cluster)
            .set_started_by(started_by.map(str::to_owned))
            .desired_status(status.clone())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot list the tasks of cluster `{cluster}`: {}", sdk_message(&e)))?;
        arns.extend(output.task_arns().iter().cloned());
        token = output.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(arns);
        }
    }
}

/// One running grid on a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct GridTasks {
    pub run_id: String,
    pub test: String,
    pub tasks: Vec<TaskView>,
    /// Seconds since the oldest task was created.
    pub age_seconds: f64,
    /// Compute cost of the tasks so far, at Fargate list prices.
    pub cost_usd: f64,
}

/// loadgrid's running tasks on `cluster`, grouped by run (their tags).
/// `prices` price the tasks' runtime so far (Fargate bills per second).
pub async fn running_grids(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    prices: &loadgrid_cost::Prices,
) -> anyhow::Result<Vec<GridTasks>> {
    let arns = list_tasks(ecs, cluster, None, DesiredStatus::Running).await?;
    let mut grids: BTreeMap<String, GridTasks> = BTreeMap::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    for chunk in arns.chunks(DESCRIBE_BATCH) {
        let answer = match ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .include(TaskField::Tags)
            .send()
            .await
        {
            Ok(output) => super::lenient::TasksAnswer::read(output.tasks(), &[]),
            Err(error) => super::lenient::tasks_answer(&error).ok_or_else(|| {
                anyhow::anyhow!("cannot describe the tasks of cluster `{cluster}`: {}", sdk_message(&error))
            })?,
        };
        for task in &answer.tasks {
            let is_ours = task.started_by().is_some_and(|s| s.starts_with(STARTED_BY_PREFIX));
            let tag = |key: &str| {
                task.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned)
            };
            let run_id = tag(TAG_RUN_ID)
                .or_else(|| task.started_by().and_then(|s| s.strip_prefix(STARTED_BY_PREFIX)).map(str::to_owned));
            let (true, Some(run_id)) = (is_ours, run_id) else { continue };
            let grid = grids.entry(run_id.clone()).or_insert_with(|| GridTasks {
                run_id,
                test: tag(TAG_TEST).unwrap_or_default(),
                tasks: Vec::new(),
                age_seconds: 0.0,
                cost_usd: 0.0,
            });
            let created = task.created_at().map(|t| t.as_secs_f64()).unwrap_or(now);
            let started = task.started_at().map(|t| t.as_secs_f64());
            grid.age_seconds = grid.age_seconds.max(now - created);
            // A task on the EC2 pool costs nothing by itself: its run pays
            // for the instances, once it lets go of them.
            let on_fargate = task.launch_type() != Some(&aws_sdk_ecs::types::LaunchType::Ec2);
            if let (true, Some(started), Some(cpu), Some(memory)) = (
                on_fargate,
                started,
                task.cpu().and_then(|c| c.parse::<u32>().ok()),
                task.memory().and_then(|m| m.parse::<u32>().ok()),
            ) {
                let spot = task.capacity_provider_name() == Some("FARGATE_SPOT");
                grid.cost_usd +=
                    loadgrid_cost::task_cost_usd(prices, cpu, memory, now - started, loadgrid_cost::Arch::X86, spot);
            }
            grid.tasks.push(view_of(task));
        }
    }
    Ok(grids.into_values().collect())
}

/// `StopTask` calls in flight at once; the SDK retries throttling with
/// backoff.
const PARALLEL_STOPS: usize = 32;

/// Stops the given tasks; returns how many stop requests ECS accepted. An
/// answer ECS sent with success but that cannot be read (a field loadgrid
/// does not need, in a shape the SDK did not expect) counts as accepted:
/// the task is stopping.
pub async fn stop_tasks(ecs: &aws_sdk_ecs::Client, cluster: &str, arns: &[String], reason: &str) -> usize {
    let results: Vec<bool> = futures::stream::iter(arns.to_vec())
        .map(|arn| {
            let request = ecs.stop_task().cluster(cluster).task(arn.clone()).reason(reason);
            async move {
                match request.send().await {
                    Ok(_) => true,
                    Err(aws_sdk_ecs::error::SdkError::ResponseError(response))
                        if response.raw().status().is_success() =>
                    {
                        true
                    }
                    Err(error) => {
                        eprintln!("warning: cannot stop task {}: {}", super::task_id(&arn), sdk_message(&error));
                        false
                    }
                }
            }
        })
        .buffer_unordered(PARALLEL_STOPS)
        .collect()
        .await;
    results.into_iter().filter(|ok| *ok).count()
}
