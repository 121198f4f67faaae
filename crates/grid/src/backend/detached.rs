//! Shards this process did not start: `loadgrid attach` to a run whose
//! orchestrator is gone. Only the store is watched; stopping goes through
//! the run's `stop` record, which every agent polls.

use loadgrid_plan::records::StopReason;
use loadgrid_store::Store;

use super::LaunchedShards;

pub struct DetachedShards {
    pub store: Store,
    pub run_id: String,
}

#[async_trait::async_trait]
impl LaunchedShards for DetachedShards {
    fn ended(&self) -> Vec<u32> {
        Vec::new()
    }

    fn knows_ends(&self) -> bool {
        false
    }

    async fn terminate(&mut self) {
        loadgrid_agent::request_stop(&self.store, &self.run_id, StopReason::Interrupted, "interrupted by a signal")
            .await;
    }

    async fn kill(&mut self) {
        self.terminate().await;
    }
}
