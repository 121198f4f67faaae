//! EC2 capacity: the stack's pool of container instances, each with its own
//! Elastic IP, started for a run and stopped after it.
//!
//! - A run takes a hold on the instances its shards go on, in the pool's
//!   lease in the store (`pools/<cluster>/lease`, a compare-and-swap over
//!   numbered versions; the placement rules are `loadgrid_plan::pool`).
//! - It starts the stopped ones and waits until each is `running` and
//!   registered `ACTIVE`, agent connected, in the cluster.
//! - When it ends, however it ends, it lets go; the instances no other run
//!   holds are stopped by it. A second run that finds them running uses
//!   them, and the last one to finish stops them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::InstanceStateName;
use loadgrid_grid::input_error;
use loadgrid_plan::pool::{Hold, PoolLease};
use loadgrid_plan::records::now_ms;
use loadgrid_store::{layout, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::clients::AwsContext;
use crate::error::sdk_message;

/// The pool as the stack describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub instances: Vec<String>,
    pub instance_type: String,
    /// The host-network, EC2-compatible task definition.
    pub task_definition: String,
}

/// What a run holds of the pool, kept in its `launched.json` so that
/// `attach` and `stop` from any machine let go of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolUse {
    pub instance_type: String,
    /// Instance → how many of the run's shards it carries.
    pub instances: BTreeMap<String, u32>,
    /// When the run took its hold: ms since the Unix epoch.
    pub held_at_ms: i64,
}

/// One instance's time that a run paid for: from its start (or the run's
/// hold, if it was running already) to the run's letting go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceBilling {
    pub instance_id: String,
    pub instance_type: String,
    pub seconds: f64,
}

/// How often the instances are described while they start.
const START_POLL: Duration = Duration::from_secs(2);
/// Lost compare-and-swaps before the lease is given up on.
const LEASE_ATTEMPTS: u32 = 20;

/// Shards of `cpu` units and `memory` MiB one instance of `instance_type`
/// carries; an input error when the type is not one loadgrid knows.
pub fn tasks_per_instance(instance_type: &str, cpu: u32, memory: u32) -> anyhow::Result<u32> {
    loadgrid_cost::prices::tasks_per_instance(instance_type, cpu, memory).ok_or_else(|| {
        let known: Vec<&str> = loadgrid_cost::prices::EC2_SIZES.iter().map(|(name, ..)| *name).collect();
        input_error(format!(
            "the pool's instance type `{instance_type}` is not one loadgrid sizes and prices ({}). Next step: set \
             `instance_type` under [infra] to one of them and `loadgrid infra deploy`",
            known.join(", ")
        ))
    })
}

/// The lease's newest version and its number (0: no run has held the pool yet).
async fn read_lease(store: &Store, cluster: &str) -> anyhow::Result<(u64, PoolLease)> {
    let key = layout::pool_lease(cluster);
    let Some((version, bytes)) = store.latest_version(&key).await? else { return Ok((0, PoolLease::default())) };
    let lease = serde_json::from_slice::<PoolLease>(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "the pool's lease `{key}` is unreadable ({e}). Next step: stop the pool's instances by hand if no run \
             uses them, and delete `{key}` from the store"
        )
    })?;
    Ok((version, lease))
}

/// Changes the lease with `change`, again on the newest version until the
/// write wins the compare-and-swap.
async fn update_lease<R>(
    store: &Store,
    cluster: &str,
    mut change: impl FnMut(&mut PoolLease) -> R,
) -> anyhow::Result<(R, PoolLease)> {
    let key = layout::pool_lease(cluster);
    for _ in 0..LEASE_ATTEMPTS {
        let (version, mut lease) = read_lease(store, cluster).await?;
        let outcome = change(&mut lease);
        if store.put_version(&key, version + 1, serde_json::to_vec_pretty(&lease)?).await? {
            return Ok((outcome, lease));
        }
        tokio::time::sleep(Duration::from_millis(50 + rand::random::<u64>() % 200)).await;
    }
    anyhow::bail!("the pool's lease `{key}` kept changing under this run ({LEASE_ATTEMPTS} tries)")
}

/// The run takes a hold on room for `shards` in the pool, until
/// `expires_at_ms`. Nothing is started yet.
pub async fn hold(
    store: &Store,
    cluster: &str,
    pool: &Pool,
    run_id: &str,
    per_instance: u32,
    shards: u32,
    expires_at_ms: i64,
) -> anyhow::Result<PoolUse> {
    let held_at_ms = now_ms();
    let (placed, _) = update_lease(store, cluster, |lease| {
        let placed = lease.place(&pool.instances, per_instance, shards, held_at_ms)?;
        lease.take(run_id, Hold { instances: placed.clone(), expires_at_ms });
        Ok::<_, loadgrid_plan::pool::PoolFull>(placed)
    })
    .await?;
    let placed = placed.map_err(|full| {
        anyhow::anyhow!(
            "{full}: nothing was started. Next step: wait for the other runs to end (`loadgrid ps`), use fewer shards, \
             or a bigger pool (`instances` under [infra], then `loadgrid infra deploy`)"
        )
    })?;
    Ok(PoolUse { instance_type: pool.instance_type.clone(), instances: placed, held_at_ms })
}

/// The instances that runs which have not ended hold, by the lease.
pub async fn held_instances(store: &Store, cluster: &str) -> anyhow::Result<Vec<String>> {
    let (_, lease) = read_lease(store, cluster).await?;
    Ok(lease.in_use(now_ms()).into_keys().collect())
}

/// One instance of the pool for `loadgrid ps`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceStatus {
    pub instance_id: String,
    /// `running`, `stopped`...
    pub state: String,
    /// Runs holding it, with how many of their shards it carries.
    pub held_by: BTreeMap<String, u32>,
}

/// Each instance of the pool: its state, and which runs hold it.
pub async fn status(
    aws: &AwsContext,
    store: &Store,
    cluster: &str,
    pool: &Pool,
) -> anyhow::Result<Vec<InstanceStatus>> {
    let (_, lease) = read_lease(store, cluster).await?;
    let views = describe(aws, cluster, &pool.instances).await?;
    let now = now_ms();
    Ok(pool
        .instances
        .iter()
        .map(|id| InstanceStatus {
            instance_id: id.clone(),
            state: views.get(id).and_then(|v| v.state.as_ref()).map_or("missing", |s| s.as_str()).to_owned(),
            held_by: lease.holders_of(id, now),
        })
        .collect())
}

/// One instance as EC2 and the cluster see it.
#[derive(Debug, Clone, Default)]
struct InstanceView {
    state: Option<InstanceStateName>,
    launched_at_ms: Option<i64>,
    /// Registered in the cluster, `ACTIVE`, its agent connected.
    in_cluster: bool,
}

async fn describe(aws: &AwsContext, cluster: &str, ids: &[String]) -> anyhow::Result<BTreeMap<String, InstanceView>> {
    let described =
        aws.ec2().describe_instances().set_instance_ids(Some(ids.to_vec())).send().await.map_err(|e| {
            anyhow::anyhow!("cannot describe the pool's instances {}: {}", ids.join(", "), sdk_message(&e))
        })?;
    let mut views: BTreeMap<String, InstanceView> = BTreeMap::new();
    for instance in described.reservations().iter().flat_map(|r| r.instances()) {
        let Some(id) = instance.instance_id() else { continue };
        views.insert(
            id.to_owned(),
            InstanceView {
                state: instance.state().and_then(|s| s.name()).cloned(),
                launched_at_ms: instance.launch_time().and_then(|t| t.to_millis().ok()),
                in_cluster: false,
            },
        );
    }
    for (instance, _) in container_instances(aws, cluster).await?.into_iter().filter(|(_, ready)| *ready) {
        if let Some(view) = views.get_mut(&instance) {
            view.in_cluster = true;
        }
    }
    Ok(views)
}

/// The cluster's container instances: EC2 instance id → whether ECS may
/// place tasks on it (`ACTIVE`, agent connected).
async fn container_instances(aws: &AwsContext, cluster: &str) -> anyhow::Result<Vec<(String, bool)>> {
    let ecs = aws.ecs();
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page =
            ecs.list_container_instances().cluster(cluster).set_next_token(token).send().await.map_err(|e| {
                anyhow::anyhow!("cannot list the container instances of `{cluster}`: {}", sdk_message(&e))
            })?;
        arns.extend(page.container_instance_arns().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    for chunk in arns.chunks(100) {
        let described = ecs
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot describe the container instances of `{cluster}`: {}", sdk_message(&e))
            })?;
        for instance in described.container_instances() {
            if let Some(id) = instance.ec2_instance_id() {
                found.push((id.to_owned(), instance.status() == Some("ACTIVE") && instance.agent_connected()));
            }
        }
    }
    Ok(found)
}

/// Starts what is stopped of `used` and waits until every instance runs
/// and is in the cluster: a stopping one (another run let go of it a
/// moment ago) is waited for and started again. Gives up after `timeout`
/// or at an interrupt.
pub async fn start(
    aws: &AwsContext,
    cluster: &str,
    used: &PoolUse,
    timeout: Duration,
    mut interrupted: Option<watch::Receiver<u32>>,
) -> anyhow::Result<()> {
    let ids: Vec<String> = used.instances.keys().cloned().collect();
    let began = Instant::now();
    // Counted once: an interrupt that comes while AWS is being asked is
    // still one.
    let signals_before = interrupted.as_ref().map_or(0, |signals| *signals.borrow());
    let mut announced = false;
    loop {
        let views = describe(aws, cluster, &ids).await?;
        if let Some(missing) = ids.iter().find(|id| !views.contains_key(*id)) {
            anyhow::bail!(
                "the pool's instance {missing} does not exist. Next step: `loadgrid infra deploy` recreates it"
            );
        }
        let gone: Vec<&String> = ids
            .iter()
            .filter(|id| {
                matches!(views[*id].state, Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown))
            })
            .collect();
        if let Some(id) = gone.first() {
            anyhow::bail!("the pool's instance {id} is terminated. Next step: `loadgrid infra deploy` recreates it");
        }
        let stopped: Vec<String> =
            ids.iter().filter(|id| views[*id].state == Some(InstanceStateName::Stopped)).cloned().collect();
        if !announced {
            let kind = &used.instance_type;
            let others = ids.len() - stopped.len();
            let line = match (stopped.len(), others) {
                (0, n) => format!("this run uses {n} {kind} instance{} that {} already running", plural(n), is_are(n)),
                (n, 0) => format!("starting {n} {kind} instance{} for this run", plural(n)),
                (n, more) => format!(
                    "starting {n} {kind} instance{} for this run; {more} more {} already running",
                    plural(n),
                    is_are(more)
                ),
            };
            eprintln!("pool: {line}");
            announced = true;
        }
        if !stopped.is_empty() {
            aws.ec2().start_instances().set_instance_ids(Some(stopped.clone())).send().await.map_err(|e| {
                anyhow::anyhow!("cannot start the pool's instances {}: {}", stopped.join(", "), sdk_message(&e))
            })?;
        }
        let ready = ids.iter().all(|id| views[id].state == Some(InstanceStateName::Running) && views[id].in_cluster);
        if ready {
            eprintln!("pool: {} ready in {:.0}s", ids.join(", "), began.elapsed().as_secs_f64());
            return Ok(());
        }
        if began.elapsed() >= timeout {
            let waiting: Vec<String> = ids
                .iter()
                .filter(|id| !(views[*id].state == Some(InstanceStateName::Running) && views[*id].in_cluster))
                .map(|id| {
                    let view = &views[id];
                    match &view.state {
                        Some(InstanceStateName::Running) => format!("{id} runs but is not ACTIVE in `{cluster}`"),
                        Some(state) => format!("{id} is {}", state.as_str()),
                        None => format!("{id} has no state"),
                    }
                })
                .collect();
            anyhow::bail!(
                "the pool was not ready after {}s: {}. Next step: check the instances' ECS agent (`ECS_CLUSTER` in \
                 the user data, the instance role) with `loadgrid infra doctor`",
                timeout.as_secs(),
                waiting.join("; ")
            );
        }
        match interrupted.as_mut() {
            Some(signals) => {
                tokio::select! {
                    _ = tokio::time::sleep(START_POLL) => {}
                    _ = signals.wait_for(|count| *count > signals_before) => {
                        anyhow::bail!("interrupted while the pool's instances started")
                    }
                }
            }
            None => tokio::time::sleep(START_POLL).await,
        }
    }
}

/// The run lets go of the pool; the instances nobody else holds are
/// stopped. Returns what was done, for the log, and the instance time the
/// run paid for.
pub async fn let_go(
    aws: &AwsContext,
    store: &Store,
    cluster: &str,
    run_id: &str,
    used: &PoolUse,
) -> (String, Vec<InstanceBilling>) {
    let ids: Vec<String> = used.instances.keys().cloned().collect();
    let now = now_ms();
    let views = describe(aws, cluster, &ids).await.unwrap_or_default();
    let billing = ids
        .iter()
        .map(|id| {
            let since =
                views.get(id).and_then(|v| v.launched_at_ms).map_or(used.held_at_ms, |l| l.max(used.held_at_ms));
            InstanceBilling {
                instance_id: id.clone(),
                instance_type: used.instance_type.clone(),
                seconds: ((now - since) as f64 / 1000.0).max(0.0),
            }
        })
        .collect();
    let (to_stop, lease) = match update_lease(store, cluster, |lease| lease.let_go(run_id, now)).await {
        Ok(updated) => updated,
        Err(error) => {
            // Without the lease, another run may be using them: stopping
            // them would break it, and the idle guard stops them anyway.
            return (
                format!(
                    "could not let go of the pool ({error:#}); its instances {} stop on their own after {} idle \
                     minutes, or `loadgrid stop {run_id}`",
                    ids.join(", "),
                    loadgrid_infra::template::capacity::IDLE_MINUTES
                ),
                billing,
            );
        }
    };
    // The rest are held by another run, or were let go of before (a run
    // interrupted twice, then `loadgrid stop`).
    let (held_by_others, let_go_before): (Vec<&String>, Vec<&String>) =
        ids.iter().filter(|id| !to_stop.contains(id)).partition(|id| !lease.holders_of(id, now).is_empty());
    let mut kept = match held_by_others.len() {
        0 => String::new(),
        n => format!("; {} stay{} up for another run", join(&held_by_others), if n == 1 { "s" } else { "" }),
    };
    if !let_go_before.is_empty() {
        kept += &format!("; this run had already let go of {}", join(&let_go_before));
    }
    if to_stop.is_empty() {
        return (format!("pool: nothing to stop{kept}"), billing);
    }
    // Just before stopping: a run that took one of them since keeps it.
    let still = match read_lease(store, cluster).await {
        Ok((_, lease)) => lease.still_stopping_by(run_id, &to_stop),
        Err(_) => Vec::new(),
    };
    if still.is_empty() {
        return (format!("pool: another run took {} before they stopped{kept}", to_stop.join(", ")), billing);
    }
    let stopped = aws.ec2().stop_instances().set_instance_ids(Some(still.clone())).send().await;
    let note = match stopped {
        Ok(_) => {
            let _ = update_lease(store, cluster, |lease| lease.stopped(run_id, &still)).await;
            format!("pool: stopped {}{kept}", still.join(", "))
        }
        Err(error) => format!(
            "pool: could not stop {} ({}); they stop on their own after {} idle minutes, or stop them with `aws ec2 \
             stop-instances --instance-ids {}`{kept}",
            still.join(", "),
            sdk_message(&error),
            loadgrid_infra::template::capacity::IDLE_MINUTES,
            still.join(" ")
        ),
    };
    (note, billing)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn is_are(n: usize) -> &'static str {
    if n == 1 {
        "is"
    } else {
        "are"
    }
}

fn join(ids: &[&String]) -> String {
    ids.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_lease_lives_where_the_ci_role_may_hold_it() {
        let key = loadgrid_store::layout::pool_lease("loadgrid");
        assert!(key.starts_with(&format!("{}/", loadgrid_infra::policy::POOL_PREFIX)), "{key}");
    }
}
