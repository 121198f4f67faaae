//! **launch**: where shards run. Each backend starts `loadgrid agent` N
//! times and can tell when those processes have ended; everything else
//! (barrier, results, status) goes through the store, whatever the backend.

pub mod local;

/// The launched shards of one run, as their backend sees them.
pub trait LaunchedShards: Send {
    /// Shards whose process has ended, whatever it wrote to the store.
    fn ended(&mut self) -> Vec<u32>;
    /// Asks every shard to stop gracefully (the agents save what they have).
    fn terminate(&mut self);
    /// Stops every shard now.
    fn kill(&mut self);
}
