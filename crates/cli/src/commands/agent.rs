//! `loadgrid agent`: one shard. Backends start it; see loadgrid-agent.

use loadgrid_agent::AgentConfig;
use loadgrid_store::Store;

use crate::cli::{AgentArgs, GlobalArgs};

pub fn run(args: AgentArgs, global: GlobalArgs) -> anyhow::Result<i32> {
    let k6 = loadgrid_k6::discover(global.k6.as_deref(), std::env::var_os("LOADGRID_K6"), std::env::var_os("PATH"))?;
    let store = Store::open(&args.store)?;
    let work_dir =
        args.work_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("loadgrid-agent-{}", args.run_id)));
    // One thread: k6 is spawned from it, and its parent-death signal is tied to that thread.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let interrupted = super::signal_counter()?;
        let config = AgentConfig {
            store,
            run_id: args.run_id,
            shard: args.shard,
            k6: k6.path,
            k6_address: args.k6_address,
            work_dir,
        };
        Ok(loadgrid_agent::run(config, interrupted).await)
    })
}
