//! **launch**: where shards run. Each backend starts `loadgrid agent` N
//! times and can tell when those processes have ended; everything else
//! (barrier, results, status) goes through the store, whatever the backend.
//!
//! - [`local`]: child processes on this machine.
//! - [`docker`]: containers of the runner image on this machine, sized and
//!   locked down as the ECS task definition runs them.
//! - The ECS backend lives in `loadgrid-aws`, with the rest of the AWS code.
//! - [`detached`]: a run whose shards this process did not start (`loadgrid
//!   attach` to a local run): only the store is watched.

pub mod detached;
pub mod docker;
pub mod local;

use std::collections::BTreeMap;

/// Live grid-wide numbers a backend can read faster or cheaper than the
/// store (e.g. the agents' snapshot lines in CloudWatch Logs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveNumbers {
    pub requests: u64,
    pub rps: f64,
    pub p95_ms: Option<f64>,
    pub error_rate: Option<f64>,
    pub vus: u64,
}

/// The launched shards of one run, as their backend sees them.
#[async_trait::async_trait]
pub trait LaunchedShards: Send {
    /// Refreshes what the backend knows. Called on every watch tick; a
    /// backend whose calls cost money or quota spaces them out itself.
    async fn poll(&mut self) {}
    /// Shards whose process has ended, whatever it wrote to the store.
    fn ended(&self) -> Vec<u32>;
    /// Whether the backend can tell at all when a shard has ended.
    fn knows_ends(&self) -> bool {
        true
    }
    /// How many shards are in each backend-side state (`PENDING`,
    /// `RUNNING`, ...), for the live view. Empty when the store says it all.
    fn states(&self) -> BTreeMap<String, usize> {
        BTreeMap::new()
    }
    /// Each shard's backend-side state (`task RUNNING`), for the
    /// dashboard's shard table, where the backend knows which shard is
    /// which. Empty when the store says it all.
    fn shard_states(&self) -> BTreeMap<u32, String> {
        BTreeMap::new()
    }
    /// Why some shard can no longer run at all, when the backend knows it
    /// before the store does (e.g. an ECS task stopped before it took a
    /// shard): the grid then stops instead of waiting at the barrier.
    fn lost_before_start(&self) -> Option<String> {
        None
    }
    /// How the backend saw each ended shard end (stop code, exit code).
    fn end_notes(&self) -> BTreeMap<u32, String> {
        BTreeMap::new()
    }
    /// Grid-wide live numbers, if this backend has a cheaper source than
    /// the store's live objects.
    async fn live(&mut self) -> Option<LiveNumbers> {
        None
    }
    /// Asks every shard to stop gracefully (the agents save what they have).
    async fn terminate(&mut self);
    /// Stops every shard now.
    async fn kill(&mut self);
    /// Called once the run is watched to its end: wait for and clean up
    /// after the shards.
    async fn finish(&mut self) {}
}
