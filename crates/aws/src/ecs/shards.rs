//! A launched ECS grid as the orchestrator watches it.
//!
//! Calls are spaced and batched so that their number per interval grows
//! with N/100, not N: one `DescribeTasks` per 100 tasks every
//! [`DESCRIBE_INTERVAL`] (doubling while AWS throttles), one store listing
//! for the shard claims, and one `FilterLogEvents` per 100 log streams for
//! live numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use loadgrid_grid::backend::{LaunchedShards, LiveNumbers};
use loadgrid_plan::Manifest;
use loadgrid_store::{layout, Store};

use super::Launched;
use crate::clients::AwsContext;
use crate::error::sdk_message;
use crate::logs::LiveReader;

pub const DESCRIBE_BATCH: usize = 100;
pub const DESCRIBE_INTERVAL: Duration = Duration::from_secs(2);
/// How often tasks asked to stop are described.
const STOPPING_DESCRIBE_INTERVAL: Duration = Duration::from_millis(500);
const MAX_DESCRIBE_INTERVAL: Duration = Duration::from_secs(30);

/// One task as `DescribeTasks` last showed it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskView {
    pub arn: String,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING,
    /// DEPROVISIONING, STOPPED.
    pub last_status: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub exit_code: Option<i32>,
    pub container_reason: Option<String>,
    pub capacity_provider: Option<String>,
    /// What Fargate bills: from the image pull (else the start, else the
    /// creation) to the stop, once the task has stopped.
    pub billed_seconds: Option<f64>,
}

impl TaskView {
    pub fn is_stopped(&self) -> bool {
        self.last_status == "STOPPED"
    }

    /// One line on how the task ended: stop code, reason, exit code. No
    /// task id, so that the same end of many tasks reads as one cause.
    pub fn end_note(&self) -> String {
        let present =
            |text: &Option<String>| text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        let mut parts: Vec<String> =
            [present(&self.stop_code), present(&self.stopped_reason)].into_iter().flatten().collect();
        match (self.exit_code, present(&self.container_reason)) {
            (Some(code), Some(reason)) => parts.push(format!("container exit code {code} ({reason})")),
            (Some(code), None) => parts.push(format!("container exit code {code}")),
            (None, Some(reason)) => parts.push(format!("container: {reason}")),
            (None, None) => {}
        }
        if parts.is_empty() {
            "its ECS task stopped, with no reason given".to_owned()
        } else {
            format!("ECS task {}", parts.join("; "))
        }
    }
}

pub struct EcsShards {
    aws: AwsContext,
    ecs: aws_sdk_ecs::Client,
    store: Store,
    run_id: String,
    shards: u32,
    launched: Launched,
    tasks: BTreeMap<String, TaskView>,
    /// shard → task ARN, from the agents' claims.
    claims: BTreeMap<u32, String>,
    next_describe: Instant,
    describe_interval: Duration,
    live: Option<LiveReader>,
    live_interval: Duration,
    next_live: Instant,
    last_live: Option<LiveNumbers>,
    tag_warning_shown: bool,
    /// The pool instances' time this run paid for, once it let go of them.
    pool_billing: Option<Vec<super::pool::InstanceBilling>>,
}

impl EcsShards {
    pub fn new(aws: &AwsContext, store: Store, manifest: &Manifest, launched: Launched) -> EcsShards {
        let tasks = launched
            .task_arns
            .iter()
            .map(|arn| {
                (arn.clone(), TaskView { arn: arn.clone(), last_status: "PROVISIONING".into(), ..TaskView::default() })
            })
            .collect();
        let live = launched.log_group.clone().map(|group| LiveReader::new(aws.logs(), group));
        EcsShards {
            aws: aws.clone(),
            ecs: aws.ecs(),
            store,
            run_id: manifest.run_id.clone(),
            shards: manifest.shards,
            launched,
            tasks,
            claims: BTreeMap::new(),
            next_describe: Instant::now(),
            describe_interval: DESCRIBE_INTERVAL,
            live,
            live_interval: Duration::from_millis(manifest.timing.live_interval_ms.max(1000)),
            next_live: Instant::now(),
            last_live: None,
            tag_warning_shown: false,
            pool_billing: None,
        }
    }

    pub fn tasks(&self) -> impl Iterator<Item = &TaskView> {
        self.tasks.values()
    }

    /// `DescribeTasks` for every task not yet seen stopped, 100 per call.
    async fn describe(&mut self) {
        let open: Vec<String> = self.tasks.values().filter(|t| !t.is_stopped()).map(|t| t.arn.clone()).collect();
        let calls = open.chunks(DESCRIBE_BATCH).map(|chunk| {
            self.ecs.describe_tasks().cluster(&self.launched.cluster).set_tasks(Some(chunk.to_vec())).send()
        });
        let responses = futures::future::join_all(calls).await;
        let mut throttled = false;
        for response in responses {
            let answer = match response {
                Ok(output) => Ok(super::lenient::TasksAnswer::read(output.tasks(), output.failures())),
                Err(error) => super::lenient::tasks_answer(&error).ok_or(error),
            };
            match answer {
                Ok(answer) => {
                    for task in &answer.tasks {
                        let view = view_of(task);
                        self.tasks.insert(view.arn.clone(), view);
                    }
                    for failure in &answer.failures {
                        // MISSING: ECS forgot the task (it stopped long ago).
                        if let Some(view) = failure.arn().and_then(|arn| self.tasks.get_mut(arn)) {
                            view.last_status = "STOPPED".into();
                            view.stopped_reason =
                                Some(format!("ECS no longer knows the task ({})", failure.reason().unwrap_or("?")));
                        }
                    }
                }
                Err(error) => {
                    throttled = true;
                    eprintln!("warning: DescribeTasks failed: {}", sdk_message(&error));
                }
            }
        }
        self.describe_interval = match (throttled, self.describe_interval) {
            (true, interval) => (interval * 2).min(MAX_DESCRIBE_INTERVAL),
            (false, STOPPING_DESCRIBE_INTERVAL) => STOPPING_DESCRIBE_INTERVAL,
            (false, _) => DESCRIBE_INTERVAL,
        };
    }

    /// What each task was billed for, from ECS's own timestamps:
    /// `runs/<id>/billing.json`, which the run's cost is computed from.
    async fn write_billing(&self) {
        let tasks: Vec<TaskBilling> = self
            .tasks
            .values()
            .filter_map(|t| {
                Some(TaskBilling {
                    task_arn: t.arn.clone(),
                    seconds: t.billed_seconds?,
                    spot: t.capacity_provider.as_deref() == Some("FARGATE_SPOT"),
                })
            })
            .collect();
        let billing = Billing {
            cpu: self.launched.cpu,
            memory: self.launched.memory,
            tasks,
            instances: self.pool_billing.clone().unwrap_or_default(),
        };
        let Ok(bytes) = serde_json::to_vec_pretty(&billing) else { return };
        if let Err(error) = self.store.put(&billing_key(&self.run_id), bytes).await {
            eprintln!("warning: cannot record the tasks' billed time: {error}");
        }
    }

    /// On the EC2 pool: lets go of the run's instances, once; those no other
    /// run holds are stopped.
    async fn let_go_of_pool(&mut self) {
        let Some(used) = &self.launched.pool else { return };
        if self.pool_billing.is_some() {
            return;
        }
        let cluster = super::pool_key(&self.launched.cluster);
        let (note, billing) = super::pool::let_go(&self.aws, &self.store, cluster, &self.run_id, used).await;
        eprintln!("{note}");
        self.pool_billing = Some(billing);
    }

    /// Reads the claims written since the last look (one listing, then one
    /// read per new claim).
    async fn read_claims(&mut self) {
        if self.claims.len() >= self.shards as usize {
            return;
        }
        let prefix = format!("{}/shards", layout::run_dir(&self.run_id));
        let Ok(keys) = self.store.list_keys(&prefix).await else { return };
        for key in keys.iter().filter(|k| k.ends_with("/claim")) {
            let Some(shard) = layout::shard_of_key(key) else { continue };
            if self.claims.contains_key(&shard) {
                continue;
            }
            if let Ok(Some(bytes)) = self.store.get(key).await {
                if let Some(task) = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("task").and_then(|t| t.as_str()).map(str::to_owned))
                {
                    self.tag_with_shard(&task, shard).await;
                    self.claims.insert(shard, task);
                }
            }
        }
    }

    /// Tags a task with the shard it claimed: known only once its agent has
    /// claimed one, since ten tasks share one `RunTask` call. Best effort:
    /// the claim in the store is what loadgrid itself relies on.
    async fn tag_with_shard(&mut self, task_arn: &str, shard: u32) {
        let tag = aws_sdk_ecs::types::Tag::builder().key(super::TAG_SHARD).value(shard.to_string()).build();
        let result = self.ecs.tag_resource().resource_arn(task_arn).tags(tag).send().await;
        if let Err(error) = result {
            if !self.tag_warning_shown {
                self.tag_warning_shown = true;
                eprintln!("warning: cannot tag tasks with their shard (ecs:TagResource): {}", sdk_message(&error));
            }
        }
    }

    /// Stops every task not yet stopped. Agents get SIGTERM, save what they
    /// measured and exit; ECS kills them after the container's stop timeout.
    pub async fn stop_all(&mut self, reason: &str) {
        let open: Vec<String> = self.tasks.values().filter(|t| !t.is_stopped()).map(|t| t.arn.clone()).collect();
        super::admin::stop_tasks(&self.ecs, &self.launched.cluster, &open, reason).await;
        // Watch them stop closely: the run ends as soon as they have.
        self.describe_interval = STOPPING_DESCRIBE_INTERVAL;
        self.next_describe = Instant::now() + STOPPING_DESCRIBE_INTERVAL;
    }

    fn all_tasks_stopped(&self) -> bool {
        self.tasks.values().all(TaskView::is_stopped)
    }
}

pub(crate) fn view_of(task: &aws_sdk_ecs::types::Task) -> TaskView {
    let container = task.containers().first();
    TaskView {
        arn: task.task_arn().unwrap_or_default().to_owned(),
        last_status: task.last_status().unwrap_or("UNKNOWN").to_owned(),
        stop_code: task.stop_code().map(|c| c.as_str().to_owned()),
        stopped_reason: task.stopped_reason().map(str::to_owned),
        exit_code: container.and_then(|c| c.exit_code()),
        container_reason: container.and_then(|c| c.reason()).map(str::to_owned),
        capacity_provider: task.capacity_provider_name().map(str::to_owned),
        billed_seconds: match (task.pull_started_at().or(task.started_at()).or(task.created_at()), task.stopped_at()) {
            (Some(from), Some(to)) => Some((to.as_secs_f64() - from.as_secs_f64()).max(0.0)),
            _ => None,
        },
    }
}

#[async_trait::async_trait]
impl LaunchedShards for EcsShards {
    async fn poll(&mut self) {
        if Instant::now() < self.next_describe {
            return;
        }
        self.describe().await;
        self.read_claims().await;
        self.next_describe = Instant::now() + self.describe_interval;
    }

    fn ended(&self) -> Vec<u32> {
        if self.all_tasks_stopped() {
            return (0..self.shards).collect();
        }
        self.claims
            .iter()
            .filter(|(_, arn)| self.tasks.get(*arn).is_some_and(TaskView::is_stopped))
            .map(|(shard, _)| *shard)
            .collect()
    }

    fn states(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for task in self.tasks.values() {
            *counts.entry(task.last_status.clone()).or_insert(0) += 1;
        }
        counts
    }

    fn shard_states(&self) -> BTreeMap<u32, String> {
        self.claims
            .iter()
            .filter_map(|(shard, arn)| Some((*shard, format!("task {}", self.tasks.get(arn)?.last_status))))
            .collect()
    }

    fn lost_before_start(&self) -> Option<String> {
        // Claims are read after each DescribeTasks, so a stopped task that
        // had claimed a shard is known by now.
        let claimed: BTreeSet<&String> = self.claims.values().collect();
        let lost = self.tasks.values().find(|t| t.is_stopped() && !claimed.contains(&t.arn))?;
        Some(format!("{} stopped before it ran a shard", lost.end_note()))
    }

    fn end_notes(&self) -> BTreeMap<u32, String> {
        let mut notes = BTreeMap::new();
        for (shard, arn) in &self.claims {
            if let Some(task) = self.tasks.get(arn).filter(|t| t.is_stopped()) {
                notes.insert(*shard, task.end_note());
            }
        }
        if self.all_tasks_stopped() {
            // Tasks that never claimed a shard explain the shards nobody ran.
            let claimed: BTreeSet<&String> = self.claims.values().collect();
            let mut unclaimed_tasks = self.tasks.values().filter(|t| !claimed.contains(&t.arn));
            let launched = self.tasks.len() as u32;
            for shard in (0..self.shards).filter(|s| !self.claims.contains_key(s)) {
                let note = match unclaimed_tasks.next() {
                    Some(task) => format!("no task ran this shard; {}", task.end_note()),
                    None if launched < self.shards => "its ECS task was never launched".to_owned(),
                    None => "no ECS task claimed it".to_owned(),
                };
                notes.insert(shard, note);
            }
        }
        notes
    }

    async fn live(&mut self) -> Option<LiveNumbers> {
        let reader = self.live.as_mut()?;
        if Instant::now() >= self.next_live {
            self.next_live = Instant::now() + self.live_interval;
            let streams: Vec<String> = self.claims.values().filter_map(|arn| self.launched.log_stream(arn)).collect();
            if let Some(numbers) = reader.read(&self.run_id, &streams).await {
                self.last_live = Some(numbers);
            }
        }
        self.last_live.clone().or(Some(LiveNumbers::default()))
    }

    async fn terminate(&mut self) {
        self.stop_all("loadgrid: run interrupted").await;
    }

    async fn kill(&mut self) {
        // A second interrupt allows this a moment only: the pool's
        // instances go first, as they are what is billed (and stopping one
        // stops its tasks too).
        self.let_go_of_pool().await;
        self.stop_all("loadgrid: run interrupted twice").await;
    }

    async fn finish(&mut self) {
        // Make sure no task outlives its watched run (e.g. a hung agent).
        if !self.all_tasks_stopped() {
            self.describe().await;
            if !self.all_tasks_stopped() {
                self.stop_all("loadgrid: run finished").await;
                self.describe().await;
            }
        }
        self.let_go_of_pool().await;
        self.write_billing().await;
    }
}

/// The billed runtime of a run's tasks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Billing {
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    pub tasks: Vec<TaskBilling>,
    /// On the EC2 pool, what is paid for is the instances' time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<super::pool::InstanceBilling>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskBilling {
    pub task_arn: String,
    pub seconds: f64,
    pub spot: bool,
}

pub fn billing_key(run_id: &str) -> String {
    format!("{}/billing.json", layout::run_dir(run_id))
}

/// The run's billing record, if its ECS backend wrote one.
pub async fn read_billing(store: &Store, run_id: &str) -> Option<Billing> {
    let bytes = store.get(&billing_key(run_id)).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::primitives::DateTime;
    use aws_sdk_ecs::types::Task;

    use super::view_of;

    #[test]
    fn billed_time_runs_from_the_image_pull_to_the_stop() {
        let task = Task::builder()
            .task_arn("arn:aws:ecs:us-east-1:1:task/c/abc")
            .last_status("STOPPED")
            .created_at(DateTime::from_secs(1_000))
            .pull_started_at(DateTime::from_secs(1_010))
            .started_at(DateTime::from_secs(1_030))
            .stopped_at(DateTime::from_secs(1_630))
            .capacity_provider_name("FARGATE_SPOT")
            .build();
        let view = view_of(&task);
        assert_eq!(view.billed_seconds, Some(620.0));
        let running = Task::builder().task_arn("a").last_status("RUNNING").started_at(DateTime::from_secs(5)).build();
        assert_eq!(view_of(&running).billed_seconds, None, "not billed until it stops");
    }
}
