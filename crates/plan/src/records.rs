//! The small JSON records shards and the orchestrator exchange through the
//! store while a run is under way: the barrier, stop requests, the
//! heartbeat, and how each shard ended.

use serde::{Deserialize, Serialize};

/// `shards/<i>/ready`: the shard's k6 is paused with setup data loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ready {
    pub shard: u32,
    pub at_ms: i64,
}

/// `go`: when every shard resumes. Written once, by the leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Go {
    pub start_at_ms: i64,
    pub written_at_ms: i64,
}

/// `heartbeat`: the orchestrator is alive. Agents stop when it goes stale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub at_ms: i64,
}

/// Why every shard must stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A threshold with `abortOnFail` crossed on the grid's merged data.
    AbortOnFail,
    /// The user interrupted the run (Ctrl-C, SIGTERM, `loadgrid stop`).
    Interrupted,
    /// A shard failed; running on would give a partial, misleading result.
    ShardFailed,
    /// The script called `test.abort()` on some shard.
    TestAbort,
    /// Not every shard was ready within the start timeout.
    StartTimeout,
}

/// `stop`: written by the orchestrator or a shard; every agent obeys it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    pub reason: StopReason,
    pub detail: String,
    pub at_ms: i64,
}

/// How a shard's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardOutcome {
    /// k6 ran the test to its end.
    Completed,
    /// Stopped early on request (a `stop` record, a signal, a stale
    /// heartbeat or the deadline); what was measured is kept.
    Stopped,
    /// k6 or the agent failed.
    Failed,
}

/// Where a shard is in its run, as the store shows it: what a live view
/// says of each shard until its status says how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardPhase {
    /// Launched; its agent has not said it is ready.
    Starting,
    /// Ready and waiting at the barrier for the grid's start.
    Ready,
    Running,
    /// Its result is stored, its status not yet.
    Uploading,
    Completed,
    Stopped,
    Failed,
}

impl ShardPhase {
    /// The one spelling every output uses, as in the JSON.
    pub fn label(self) -> &'static str {
        match self {
            ShardPhase::Starting => "starting",
            ShardPhase::Ready => "ready",
            ShardPhase::Running => "running",
            ShardPhase::Uploading => "uploading",
            ShardPhase::Completed => "completed",
            ShardPhase::Stopped => "stopped",
            ShardPhase::Failed => "failed",
        }
    }
}

impl From<ShardOutcome> for ShardPhase {
    fn from(outcome: ShardOutcome) -> ShardPhase {
        match outcome {
            ShardOutcome::Completed => ShardPhase::Completed,
            ShardOutcome::Stopped => ShardPhase::Stopped,
            ShardOutcome::Failed => ShardPhase::Failed,
        }
    }
}

/// `shards/<i>/status`: the source of truth for how a shard ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardStatus {
    pub shard: u32,
    pub outcome: ShardOutcome,
    /// Why it stopped or failed, for people.
    pub reason: Option<String>,
    pub k6_exit_code: Option<i32>,
    /// The last lines k6 wrote to stderr, when it failed.
    pub k6_stderr_tail: Vec<String>,
    pub started_at_ms: i64,
    pub resumed_at_ms: Option<i64>,
    /// When this shard's k6 test ended (k6 reported it done), before any
    /// teardown wait or upload: where k6's own test duration stops.
    #[serde(default)]
    pub test_ended_at_ms: Option<i64>,
    /// The script called `exec.test.fail()`: k6's reason (from its log), or
    /// a generic one when k6 exited 110 without a readable reason.
    #[serde(default)]
    pub marked_failed: Option<String>,
    pub ended_at_ms: i64,
    /// Whether `result` was written.
    pub has_result: bool,
    pub samples: u64,
    pub rejected_lines: u64,
    /// Metrics whose tag-set cap was hit, with the samples that overflowed.
    pub overflowed_metrics: Vec<(String, u64)>,
    /// The generator's CPU, memory, sockets and network during the test,
    /// and what k6's log said about keeping up.
    #[serde(default)]
    pub health: Option<loadgrid_health::ShardHealth>,
}

/// `shards/<i>/health`: what the shard's agent has found so far, written
/// when a finding appears, for the live view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveHealth {
    pub shard: u32,
    pub allowance: loadgrid_health::Allowance,
    pub findings: Vec<loadgrid_health::Finding>,
    pub at_ms: i64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
