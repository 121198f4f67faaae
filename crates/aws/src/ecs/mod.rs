//! The ECS backend: shards are tasks of one task definition, on Fargate or
//! on the stack's pool of EC2 instances.
//!
//! - [`launch`]: `RunTask` in batches of 10, in parallel, with retries.
//! - [`pool`]: EC2 capacity: the pool's lease, starting and stopping its
//!   instances around runs.
//! - [`shards`]: watching the launched tasks (`DescribeTasks` per 100
//!   tasks, spaced out), their live numbers from CloudWatch Logs, stopping.
//! - [`admin`]: `loadgrid ps` and `loadgrid stop` from any machine, by tag.
//!
//! Nothing is launched before [`EcsBackend::validate`] has checked the
//! cluster, task definition, network, task size, secrets and store.

pub mod admin;
pub mod launch;
mod lenient;
pub mod pool;
pub mod shards;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use loadgrid_grid::backend::LaunchedShards;
use loadgrid_grid::input_error;
use loadgrid_grid::orchestrate::Backend;
use loadgrid_plan::Manifest;
use loadgrid_store::{layout, Store};
use serde::{Deserialize, Serialize};

use crate::clients::AwsContext;
use crate::error::sdk_message;
use launch::{batches, Launcher, PARALLEL_CALLS};
use shards::EcsShards;
pub use shards::{read_billing, Billing, TaskBilling};

pub const TAG_RUN_ID: &str = "loadgrid:run-id";
pub const TAG_TEST: &str = "loadgrid:test";
/// The shard the task's agent claimed, tagged once it has.
pub const TAG_SHARD: &str = "loadgrid:shard";
/// The shard range of the `RunTask` call that started the task.
pub const TAG_SHARDS: &str = "loadgrid:shards";
/// Every loadgrid task's `startedBy` starts with this.
pub const STARTED_BY_PREFIX: &str = "loadgrid-";
pub const DEFAULT_CONTAINER: &str = "loadgrid";

/// `startedBy` (at most 36 characters): lets `ListTasks` find a run's tasks.
pub fn started_by(run_id: &str) -> String {
    format!("{STARTED_BY_PREFIX}{run_id}")
}

pub fn group(run_id: &str) -> String {
    format!("loadgrid:{run_id}")
}

/// Where and how shards run, resolved from flags, config and stack outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EcsSettings {
    pub cluster: String,
    pub task_definition: String,
    pub container: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub spot: bool,
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    pub capacity: Capacity,
}

/// What the tasks run on.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Capacity {
    #[default]
    Fargate,
    /// The stack's pool of EC2 instances with Elastic IPs.
    Ec2(pool::Pool),
}

/// What was launched, stored as `runs/<id>/launched.json` so that any
/// machine can attach to, list, stop or read the logs of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Launched {
    pub backend: String,
    pub region: String,
    pub cluster: String,
    pub container: String,
    pub task_arns: Vec<String>,
    /// The awslogs group and stream prefix of the runner container.
    pub log_group: Option<String>,
    pub log_stream_prefix: Option<String>,
    /// Task size in CPU units and MiB, for cost estimates.
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    /// What the run holds of the EC2 pool, on EC2 capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<pool::PoolUse>,
}

impl Launched {
    /// The awslogs stream of a task: `<prefix>/<container>/<task id>`.
    pub fn log_stream(&self, task_arn: &str) -> Option<String> {
        let prefix = self.log_stream_prefix.as_ref()?;
        Some(format!("{prefix}/{}/{}", self.container, task_id(task_arn)))
    }
}

/// The pool lease's name: the cluster's name, from its name or ARN.
pub fn pool_key(cluster: &str) -> &str {
    cluster.rsplit('/').next().unwrap_or(cluster)
}

/// The last part of a task ARN.
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// What validation learned from the task definition.
#[derive(Debug, Clone, Default)]
struct TaskDefinitionFacts {
    log_group: Option<String>,
    log_stream_prefix: Option<String>,
    cpu: Option<u32>,
    memory: Option<u32>,
}

pub struct EcsBackend {
    pub aws: AwsContext,
    pub settings: EcsSettings,
    /// The S3 store the agents use.
    pub store_url: String,
    /// What is said and asked before tasks are paid for.
    pub guard: LaunchGuard,
    /// SIGINT/SIGTERM so far: the EC2 pool's start is given up on one.
    pub interrupts: Option<tokio::sync::watch::Receiver<u32>>,
    facts: Mutex<Option<TaskDefinitionFacts>>,
}

/// Before any task starts: its price per minute is said, and a grid of more
/// than `max_tasks` tasks needs an explicit yes.
pub struct LaunchGuard {
    /// `[ecs] max_tasks`: above this, a launch must be approved.
    pub max_tasks: u32,
    pub approval: Approval,
    pub prices: loadgrid_cost::Prices,
}

/// How a launch above `max_tasks` is approved.
pub enum Approval {
    /// `--yes`.
    Given,
    /// Asked on the terminal: the question, then whether the answer was yes.
    Ask(Box<dyn Fn(&str) -> bool + Send + Sync>),
    /// No terminal to ask on and no `--yes`.
    Unavailable,
}

/// The default `[ecs] max_tasks`.
pub const DEFAULT_MAX_TASKS: u32 = 100;

impl EcsBackend {
    pub fn new(aws: AwsContext, settings: EcsSettings, store_url: String, guard: LaunchGuard) -> EcsBackend {
        EcsBackend { aws, settings, store_url, guard, interrupts: None, facts: Mutex::new(None) }
    }

    /// The task size in CPU units and MiB: `--cpu`/`--memory`, else the
    /// task definition's, else 1 vCPU and 2 GiB.
    fn task_size(&self, facts: &TaskDefinitionFacts) -> (u32, u32) {
        (self.settings.cpu.or(facts.cpu).unwrap_or(1024), self.settings.memory.or(facts.memory).unwrap_or(2048))
    }

    /// The task definition the shards run: the pool's on EC2 capacity.
    fn task_family(&self) -> &str {
        match &self.settings.capacity {
            Capacity::Fargate => &self.settings.task_definition,
            Capacity::Ec2(pool) => &pool.task_definition,
        }
    }

    /// Says what the grid costs a minute, and has a large one approved.
    fn approve_launch(&self, shards: u32, facts: &TaskDefinitionFacts) -> anyhow::Result<()> {
        let (cpu, memory) = self.task_size(facts);
        let plan = match &self.settings.capacity {
            Capacity::Fargate => self.fargate_plan(shards, cpu, memory),
            Capacity::Ec2(pool) => self.pool_plan(pool, shards, cpu, memory)?,
        };
        eprintln!("launch: {plan}");
        if shards <= self.guard.max_tasks {
            return Ok(());
        }
        let over = format!("{shards} tasks is more than [ecs] max_tasks ({})", self.guard.max_tasks);
        match &self.guard.approval {
            Approval::Given => Ok(()),
            Approval::Ask(ask) if ask(&format!("{over}: launch {plan}?")) => Ok(()),
            Approval::Ask(_) => {
                Err(input_error(format!("{over}, and the launch was not approved: nothing was started")))
            }
            Approval::Unavailable => Err(input_error(format!(
                "{over}, and there is no terminal to ask on: pass --yes to approve it (as in CI), or raise \
                 `max_tasks` under [ecs]; nothing was started"
            ))),
        }
    }

    fn fargate_plan(&self, shards: u32, cpu: u32, memory: u32) -> String {
        let one = loadgrid_cost::task_cost_usd(
            &self.guard.prices,
            cpu,
            memory,
            60.0,
            loadgrid_cost::Arch::X86,
            self.settings.spot,
        );
        format!(
            "{shards} Fargate task{} of {} vCPU / {} GB{}: about ${:.4} a minute at list prices",
            if shards == 1 { "" } else { "s" },
            f64::from(cpu) / 1024.0,
            f64::from(memory) / 1024.0,
            if self.settings.spot { " on Spot" } else { "" },
            one * f64::from(shards)
        )
    }

    /// How many of the pool's instances the shards need, and what they
    /// cost a minute; an input error when the pool cannot carry them.
    fn pool_plan(&self, pool: &pool::Pool, shards: u32, cpu: u32, memory: u32) -> anyhow::Result<String> {
        let per_instance = pool::tasks_per_instance(&pool.instance_type, cpu, memory)?;
        let size = format!("{} vCPU / {} GB", f64::from(cpu) / 1024.0, f64::from(memory) / 1024.0);
        let Some(needed) = loadgrid_plan::pool::instances_needed(shards, per_instance) else {
            return Err(input_error(format!(
                "a task of {size} does not fit a {} of the pool (less {} MiB for the ECS agent). Next step: smaller \
                 tasks (--cpu/--memory), or a larger `instance_type` under [infra] and `loadgrid infra deploy`",
                pool.instance_type,
                loadgrid_cost::prices::INSTANCE_RESERVED_MIB
            )));
        };
        let available = pool.instances.len() as u32;
        if needed > available {
            return Err(input_error(format!(
                "{shards} shards of {size} need {needed} {} instances ({per_instance} shards each) and the pool has \
                 {available}: nothing was started. Next step: at most {} shards, smaller tasks (--cpu/--memory), or \
                 a bigger pool (`instances` under [infra], then `loadgrid infra deploy`)",
                pool.instance_type,
                per_instance * available
            )));
        }
        let hourly = self.guard.prices.ec2_hour(&pool.instance_type).map_err(|e| input_error(e.to_string()))?;
        Ok(format!(
            "{shards} task{} of {size} on at most {needed} of the pool's {available} {} instances: about ${:.4} a \
             minute at list prices, while they run",
            if shards == 1 { "" } else { "s" },
            pool.instance_type,
            hourly / 60.0 * f64::from(needed)
        ))
    }

    async fn check_cluster(&self) -> anyhow::Result<()> {
        let cluster = &self.settings.cluster;
        if cluster.is_empty() {
            return Err(input_error(
                "no ECS cluster is set. Next step: --cluster, `cluster` under [ecs] in loadgrid.toml, or a stack \
                 from `loadgrid infra deploy` under [ecs] stack",
            ));
        }
        let response = self
            .aws
            .ecs()
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(|e| input_error(format!("cannot look up ECS cluster `{cluster}`: {}", sdk_message(&e))))?;
        let active = response.clusters().iter().any(|c| c.status() == Some("ACTIVE"));
        if !active {
            return Err(input_error(format!(
                "ECS cluster `{cluster}` does not exist (or is not active) in region {}. Next step: check the name and \
                 region, or create it with `loadgrid infra deploy`",
                self.aws.region()
            )));
        }
        Ok(())
    }

    async fn check_task_definition(&self) -> anyhow::Result<TaskDefinitionFacts> {
        let family = self.task_family();
        if family.is_empty() {
            return Err(input_error(
                "no ECS task definition is set. Next step: --task-definition or `task_definition` under [ecs]",
            ));
        }
        let response = self.aws.ecs().describe_task_definition().task_definition(family).send().await.map_err(|e| {
            input_error(format!(
                "ECS task definition `{family}` cannot be used: {}. Next step: check the family name, or register \
                     it with `loadgrid infra deploy`",
                sdk_message(&e)
            ))
        })?;
        let definition = response.task_definition().context("DescribeTaskDefinition returned nothing")?;
        let names: Vec<&str> = definition.container_definitions().iter().filter_map(|c| c.name()).collect();
        let container = definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(self.settings.container.as_str()))
            .ok_or_else(|| {
                input_error(format!(
                    "task definition `{family}` has no container `{}` (it has: {}). Next step: set `container` under \
                     [ecs]",
                    self.settings.container,
                    names.join(", ")
                ))
            })?;
        let options = container.log_configuration().and_then(|l| l.options());
        let option = |key: &str| options.and_then(|o| o.get(key)).cloned();
        Ok(TaskDefinitionFacts {
            log_group: option("awslogs-group"),
            log_stream_prefix: option("awslogs-stream-prefix"),
            cpu: definition.cpu().and_then(|c| c.parse().ok()),
            memory: definition.memory().and_then(|m| m.parse().ok()),
        })
    }

    async fn check_network(&self) -> anyhow::Result<()> {
        let settings = &self.settings;
        if settings.subnets.is_empty() {
            return Err(input_error(
                "no subnets are set for the ECS tasks. Next step: --subnet, `subnets` under [ecs], or a stack from \
                 `loadgrid infra deploy`",
            ));
        }
        if settings.security_groups.is_empty() {
            return Err(input_error(
                "no security group is set for the ECS tasks. Next step: --security-group or `security_groups` under \
                 [ecs] (egress only is enough)",
            ));
        }
        let ec2 = self.aws.ec2();
        ec2.describe_subnets().set_subnet_ids(Some(settings.subnets.clone())).send().await.map_err(|e| {
            input_error(format!(
                "subnets {} cannot be used: {}. Next step: check the subnet ids and the region ({})",
                settings.subnets.join(", "),
                sdk_message(&e),
                self.aws.region()
            ))
        })?;
        ec2.describe_security_groups().set_group_ids(Some(settings.security_groups.clone())).send().await.map_err(
            |e| {
                input_error(format!(
                    "security groups {} cannot be used: {}. Next step: check the ids and the region",
                    settings.security_groups.join(", "),
                    sdk_message(&e)
                ))
            },
        )?;
        Ok(())
    }

    /// The pool's instances exist and none is terminated.
    async fn check_pool(&self, pool: &pool::Pool) -> anyhow::Result<()> {
        if pool.instances.is_empty() {
            return Err(input_error(
                "the stack's EC2 pool has no instances. Next step: `instances` under [infra], then `loadgrid infra \
                 deploy`",
            ));
        }
        let described =
            self.aws.ec2().describe_instances().set_instance_ids(Some(pool.instances.clone())).send().await.map_err(
                |e| {
                    input_error(format!(
                        "the pool's instances {} cannot be used: {}. Next step: `loadgrid infra doctor`, then \
                         `loadgrid infra deploy` to recreate them",
                        pool.instances.join(", "),
                        sdk_message(&e)
                    ))
                },
            )?;
        let terminated: Vec<&str> = described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                matches!(
                    i.state().and_then(|s| s.name()),
                    Some(aws_sdk_ec2::types::InstanceStateName::Terminated)
                        | Some(aws_sdk_ec2::types::InstanceStateName::ShuttingDown)
                )
            })
            .filter_map(|i| i.instance_id())
            .collect();
        if !terminated.is_empty() {
            return Err(input_error(format!(
                "the pool's instance{} {} {} terminated. Next step: `loadgrid infra deploy` recreates {}",
                if terminated.len() == 1 { "" } else { "s" },
                terminated.join(", "),
                if terminated.len() == 1 { "is" } else { "are" },
                if terminated.len() == 1 { "it" } else { "them" }
            )));
        }
        Ok(())
    }

    async fn check_secrets(&self, secrets: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let client = self.aws.secrets();
        for (name, secret_id) in secrets {
            client.describe_secret().secret_id(secret_id).send().await.map_err(|e| {
                input_error(format!(
                    "secret `{secret_id}` (for `{name}`) cannot be used: {}. Next step: create it in Secrets Manager \
                     under the `loadgrid/` prefix, which the task role may read",
                    sdk_message(&e)
                ))
            })?;
        }
        Ok(())
    }

    /// Stops every task of `run_id`, named (`known`) or found by its
    /// `startedBy`, then lists the run's tasks again; says what it found.
    async fn stop_every_task_of(&self, run_id: &str, known: &[String]) -> String {
        let ecs = self.aws.ecs();
        let cluster = &self.settings.cluster;
        let mut arns: Vec<String> = known.to_vec();
        let listed = admin::run_task_arns(&ecs, cluster, run_id, false).await;
        if let Ok(found) = &listed {
            arns.extend(found.iter().filter(|arn| !known.contains(arn)).cloned());
        }
        let asked = admin::stop_tasks(&ecs, cluster, &arns, "loadgrid: the grid could not be launched whole").await;
        let still = admin::run_task_arns(&ecs, cluster, run_id, false).await;
        let started = format!("{} task{} of this run started", arns.len(), if arns.len() == 1 { "" } else { "s" });
        match (listed, still) {
            (Ok(_), Ok(still)) if still.is_empty() => {
                format!("{started} and {asked} were stopped: none is left running")
            }
            (Ok(_), Ok(still)) => format!(
                "{started}; {} still run{}: `loadgrid stop {run_id}` stops them",
                still.len(),
                if still.len() == 1 { "s" } else { "" }
            ),
            _ => format!(
                "{started} that loadgrid knows of, and it asked ECS to stop {asked}; the cluster's task list could not \
                 be read to check for more: run `loadgrid stop {run_id}`"
            ),
        }
    }

    /// Takes the run's hold on the pool and starts what it needs; lets go
    /// again if the instances do not come up.
    async fn start_pool(&self, pool: &pool::Pool, manifest: &Manifest, store: &Store) -> anyhow::Result<pool::PoolUse> {
        let facts = self.facts.lock().expect("facts lock").clone().unwrap_or_default();
        let (cpu, memory) = self.task_size(&facts);
        let per_instance = pool::tasks_per_instance(&pool.instance_type, cpu, memory)?;
        let start_timeout = Duration::from_millis(manifest.timing.start_timeout_ms);
        let lasts = start_timeout + manifest.results_due(0);
        let expires_at_ms = loadgrid_plan::records::now_ms() + lasts.as_millis() as i64;
        let cluster = pool_key(&self.settings.cluster);
        let used =
            pool::hold(store, cluster, pool, &manifest.run_id, per_instance, manifest.shards, expires_at_ms).await?;
        if let Err(error) = pool::start(&self.aws, cluster, &used, start_timeout, self.interrupts.clone()).await {
            let (note, _) = pool::let_go(&self.aws, store, cluster, &manifest.run_id, &used).await;
            anyhow::bail!("{error:#}; no task was started; {note}");
        }
        Ok(used)
    }

    fn launched_record(&self, task_arns: Vec<String>, pool: Option<pool::PoolUse>) -> Launched {
        let facts = self.facts.lock().expect("facts lock").clone().unwrap_or_default();
        Launched {
            backend: "ecs".into(),
            region: self.aws.region(),
            cluster: self.settings.cluster.clone(),
            container: self.settings.container.clone(),
            task_arns,
            log_group: facts.log_group,
            log_stream_prefix: facts.log_stream_prefix,
            cpu: self.settings.cpu.or(facts.cpu),
            memory: self.settings.memory.or(facts.memory),
            pool,
        }
    }
}

#[async_trait::async_trait]
impl Backend for EcsBackend {
    async fn validate(&self, manifest: &Manifest) -> anyhow::Result<()> {
        if !self.store_url.starts_with("s3://") {
            return Err(input_error(format!(
                "the ecs backend needs an S3 store that the tasks can reach, not `{}`. Next step: --store \
                 s3://bucket/prefix or `store` in loadgrid.toml",
                self.store_url
            )));
        }
        self.check_cluster().await?;
        let facts = self.check_task_definition().await?;
        match &self.settings.capacity {
            Capacity::Fargate => {
                if let (Some(cpu), Some(memory)) =
                    (self.settings.cpu.or(facts.cpu), self.settings.memory.or(facts.memory))
                {
                    loadgrid_plan::fargate::check_task_size(cpu, memory).map_err(input_error)?;
                }
                self.check_network().await?;
            }
            Capacity::Ec2(pool) => {
                if self.settings.spot {
                    return Err(input_error(
                        "--spot is Fargate Spot; the EC2 pool's instances are on-demand. Next step: drop --spot, or \
                         run on Fargate with --capacity fargate",
                    ));
                }
                self.check_pool(pool).await?;
            }
        }
        self.check_secrets(&manifest.secrets).await?;
        self.approve_launch(manifest.shards, &facts)?;
        *self.facts.lock().expect("facts lock") = Some(facts);
        Ok(())
    }

    async fn launch(&self, manifest: &Manifest, store: &Store) -> anyhow::Result<Box<dyn LaunchedShards>> {
        let ecs = self.aws.ecs();
        let region = self.aws.region();
        let pool_use = match &self.settings.capacity {
            Capacity::Fargate => None,
            Capacity::Ec2(pool) => Some(self.start_pool(pool, manifest, store).await?),
        };
        let mut settings = self.settings.clone();
        settings.task_definition = self.task_family().to_owned();
        let launcher = Launcher {
            ecs: &ecs,
            settings: &settings,
            manifest,
            store_url: &self.store_url,
            region: &region,
            container: &self.settings.container,
        };
        let batches = match &pool_use {
            Some(used) => launch::pool_batches(&used.instances),
            None => batches(manifest.shards),
        };
        let launches: Vec<_> = futures::stream::iter(batches.into_iter().enumerate())
            .map(|(index, batch)| launcher.launch_batch(index, batch))
            .buffer_unordered(PARALLEL_CALLS)
            .collect()
            .await;
        let mut task_arns = Vec::new();
        let mut errors = Vec::new();
        for launch in &launches {
            for note in &launch.notes {
                eprintln!("launch: {note}");
            }
            task_arns.extend(launch.task_arns.iter().cloned());
            if let Some(error) = &launch.error {
                errors.push(format!("shards {}-{}: {error}", launch.range.start, launch.range.end - 1));
            }
        }
        if !errors.is_empty() && manifest.allow_partial {
            // Tasks of a call that failed after AWS took it are the run's too.
            if let Ok(found) = admin::run_task_arns(&ecs, &self.settings.cluster, &manifest.run_id, false).await {
                for arn in found {
                    if !task_arns.contains(&arn) {
                        task_arns.push(arn);
                    }
                }
            }
        }
        if !errors.is_empty() && !manifest.allow_partial {
            // A grid with missing shards measures a different test: stop
            // what started. A call that failed after AWS took it (a timeout,
            // an unreadable answer) may have started tasks it never named,
            // so the run's tasks are found by `startedBy`, stopped, and
            // counted again: the message says only what was checked.
            let mut cleanup = self.stop_every_task_of(&manifest.run_id, &task_arns).await;
            if let Some(used) = &pool_use {
                let (note, _) =
                    pool::let_go(&self.aws, store, pool_key(&self.settings.cluster), &manifest.run_id, used).await;
                cleanup = format!("{cleanup}; {note}");
            }
            let launched = self.launched_record(task_arns, pool_use);
            let _ = store.put(&layout::launched(&manifest.run_id), serde_json::to_vec_pretty(&launched)?).await;
            anyhow::bail!(
                "could not launch every shard: {}. {cleanup}. Next step: retry later, use fewer or smaller shards, \
                 or --allow-partial",
                errors.join("; ")
            );
        }
        let launched = self.launched_record(task_arns, pool_use);
        let shards = EcsShards::new(&self.aws, store.clone(), manifest, launched.clone());
        for error in &errors {
            eprintln!("warning: {error} (continuing: --allow-partial)");
        }
        store.put(&layout::launched(&manifest.run_id), serde_json::to_vec_pretty(&launched)?).await?;
        Ok(Box::new(shards))
    }

    async fn reattach(&self, manifest: &Manifest, store: &Store) -> anyhow::Result<Box<dyn LaunchedShards>> {
        let launched = match read_launched(store, &manifest.run_id).await? {
            Some(launched) => launched,
            None => {
                // The orchestrator died mid-launch: find the tasks by `startedBy`.
                let task_arns =
                    admin::run_task_arns(&self.aws.ecs(), &self.settings.cluster, &manifest.run_id, true).await?;
                let facts = self.check_task_definition().await.ok();
                *self.facts.lock().expect("facts lock") = facts;
                self.launched_record(task_arns, None)
            }
        };
        Ok(Box::new(EcsShards::new(&self.aws, store.clone(), manifest, launched)))
    }
}

/// Reads a run's `launched.json`, if its backend wrote one.
pub async fn read_launched(store: &Store, run_id: &str) -> anyhow::Result<Option<Launched>> {
    match store.get(&layout::launched(run_id)).await? {
        Some(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).with_context(|| format!("run `{run_id}`: unreadable launched.json"))?,
        )),
        None => Ok(None),
    }
}

/// The environment variable ECS sets in every container of a task.
pub const TASK_METADATA_ENV: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// What the ECS task metadata endpoint (v4) says about the task this
/// container is part of.
pub struct OwnTask {
    pub arn: String,
    /// The task size (`Limits`): vCPUs and MiB, when the task has one.
    pub cpu_vcpus: Option<f64>,
    pub memory_mib: Option<u64>,
}

/// This task, from the ECS task metadata endpoint (v4) that Fargate gives
/// every container.
pub async fn own_task() -> anyhow::Result<OwnTask> {
    let base = std::env::var(TASK_METADATA_ENV)
        .with_context(|| format!("{TASK_METADATA_ENV} is not set: not running as an ECS task"))?;
    let url = format!("{}/task", base.trim_end_matches('/'));
    let metadata: serde_json::Value = reqwest::get(&url)
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("cannot read task metadata from {url}"))?
        .json()
        .await
        .context("unreadable task metadata")?;
    Ok(OwnTask {
        arn: metadata["TaskARN"].as_str().map(str::to_owned).context("task metadata has no TaskARN")?,
        cpu_vcpus: metadata["Limits"]["CPU"].as_f64().filter(|cpu| *cpu > 0.0),
        memory_mib: metadata["Limits"]["Memory"].as_u64().filter(|memory| *memory > 0),
    })
}
