//! `loadgrid agent`: one shard. Backends start it; see loadgrid-agent.
//!
//! On ECS, tasks started by one `RunTask` call share a shard range: the
//! agent claims the first free shard of it, naming its task (from the task
//! metadata endpoint).

use std::sync::Arc;

use loadgrid_agent::{AgentConfig, SecretSource};
use loadgrid_aws::{AwsContext, AwsSettings};
use loadgrid_store::Store;

use crate::cli::{AgentArgs, GlobalArgs};

pub fn run(args: AgentArgs, global: GlobalArgs) -> anyhow::Result<i32> {
    let k6 = loadgrid_k6::discover(global.k6.as_deref(), std::env::var_os("LOADGRID_K6"), std::env::var_os("PATH"))?;
    let work_dir =
        args.work_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("loadgrid-agent-{}", args.run_id)));
    let aws_settings = AwsSettings {
        region: global.aws.region.clone(),
        profile: global.aws.profile.clone(),
        endpoint_url: global.aws.endpoint_url.clone(),
        max_attempts: global.aws.max_attempts,
    };
    // One thread: k6 is spawned from it, and its parent-death signal is tied to that thread.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let interrupted = super::signal_counter()?;
        let mut aws: Option<AwsContext> = None;
        let store = if args.store.starts_with("s3://") {
            let context = AwsContext::load(&aws_settings).await?;
            let store = loadgrid_aws::s3::open(&context, &args.store)?;
            aws = Some(context);
            store
        } else {
            Store::open(&args.store)?
        };
        // As an ECS task, the task's size is what the shard's generator
        // health is judged against.
        let own_task = match std::env::var_os(loadgrid_aws::ecs::TASK_METADATA_ENV) {
            Some(_) => Some(loadgrid_aws::ecs::own_task().await?),
            None => None,
        };
        let task_allowance = own_task.as_ref().and_then(|task| {
            Some(loadgrid_health::Allowance {
                pool: loadgrid_health::Pool::Task,
                cpu_cores: task.cpu_vcpus?,
                memory_bytes: task.memory_mib? * 1024 * 1024,
            })
        });
        let shard = match (args.shard, args.shard_range) {
            (Some(shard), _) => shard,
            (None, Some(range)) => {
                let task = match &own_task {
                    Some(task) => task.arn.clone(),
                    None => loadgrid_aws::ecs::own_task().await?.arn,
                };
                match loadgrid_agent::claim_shard(&store, &args.run_id, range.clone(), &task).await? {
                    Some(shard) => {
                        eprintln!("loadgrid agent: task {task} runs shard {shard}");
                        shard
                    }
                    None => {
                        eprintln!(
                            "loadgrid agent: every shard of {}-{} is taken; this task has nothing to run",
                            range.start,
                            range.end - 1
                        );
                        return Ok(0);
                    }
                }
            }
            (None, None) => anyhow::bail!("--shard or --shard-range is required"),
        };
        let secrets: Arc<dyn SecretSource> = Arc::new(LazySecrets { settings: aws_settings, aws });
        let config = AgentConfig {
            store,
            run_id: args.run_id,
            shard,
            secrets: Some(secrets),
            k6: k6.path,
            k6_address: k6_address(&args.k6_address)?,
            work_dir,
            task_allowance,
        };
        Ok(loadgrid_agent::run(config, interrupted).await)
    })
}

/// k6's REST address; port 0 takes a free loopback port (as the local
/// backend picks them), for shards that share a host's network (tasks on
/// one instance of the EC2 pool).
fn k6_address(given: &str) -> anyhow::Result<String> {
    let address: std::net::SocketAddr =
        given.parse().map_err(|e| anyhow::anyhow!("--k6-address `{given}` is not an address: {e}"))?;
    if address.port() != 0 {
        return Ok(given.to_owned());
    }
    if !address.ip().is_loopback() {
        anyhow::bail!("--k6-address `{given}`: a free port (0) is picked on loopback only; k6's API is for this agent");
    }
    let port = loadgrid_grid::backend::local::free_ports(1)?[0];
    Ok(std::net::SocketAddr::new(address.ip(), port).to_string())
}

/// Reaches AWS only if the run has secrets: local runs without any need no
/// credentials.
struct LazySecrets {
    settings: AwsSettings,
    aws: Option<AwsContext>,
}

#[async_trait::async_trait]
impl SecretSource for LazySecrets {
    async fn read(&self, secret_id: &str) -> anyhow::Result<String> {
        let aws = match &self.aws {
            Some(aws) => aws.clone(),
            None => AwsContext::load(&self.settings).await?,
        };
        loadgrid_aws::secrets::SecretsManager::new(&aws).read(secret_id).await
    }
}
