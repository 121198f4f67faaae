//! `runs/<id>/manifest.json`: the validated plan, as every agent reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Bump on any incompatible change; agents refuse manifests they don't know.
pub const MANIFEST_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub run_id: String,
    pub test_name: String,
    /// The script as the user named it.
    pub script: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub backend: BackendKind,
    pub shards: u32,
    /// `segments[i]` is shard i's `--execution-segment`.
    pub segments: Vec<String>,
    pub segment_sequence: String,
    pub k6_version: String,
    pub env: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// k6 system tags every shard keeps (`--system-tags`).
    pub system_tags: Vec<String>,
    pub thresholds: Vec<ThresholdRecord>,
    /// Sub-metrics thresholds name; agents keep exact aggregates for them.
    pub selectors: Vec<(String, loadgrid_metrics::TagSet)>,
    pub total_duration_ms: u64,
    pub max_vus: u64,
    pub setup_timeout_ms: u64,
    pub teardown_timeout_ms: u64,
    /// The script's `summaryTrendStats` and `summaryTimeUnit`, for the
    /// data its `handleSummary()` receives.
    #[serde(default = "crate::inspect::default_trend_stats")]
    pub summary_trend_stats: Vec<String>,
    #[serde(default)]
    pub summary_time_unit: String,
    pub timing: Timing,
    pub max_series_per_metric: usize,
    pub allow_partial: bool,
    /// Environment variables for k6 whose values each agent reads from
    /// Secrets Manager: name → secret id. Only ids are stored, never values.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// When a shard's generator counts as saturated (`[health]`).
    #[serde(default)]
    pub health: loadgrid_health::Limits,
    pub warnings: Vec<String>,
}

/// Where a run's shards run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// `loadgrid agent` processes on this machine.
    Local,
    /// Containers of the runner image on this machine, sized as Fargate tasks.
    Docker,
    /// ECS tasks.
    Ecs,
}

impl BackendKind {
    pub const NAMES: [&'static str; 3] = ["local", "docker", "ecs"];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Docker => "docker",
            BackendKind::Ecs => "ecs",
        }
    }

    /// Whether its shards start slowly and reach the store over a network
    /// (their clocks are those of [`Timing::remote`]).
    pub fn is_remote(self) -> bool {
        self == BackendKind::Ecs
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;

    fn from_str(text: &str) -> Result<BackendKind, String> {
        match text {
            "local" => Ok(BackendKind::Local),
            "docker" => Ok(BackendKind::Docker),
            "ecs" => Ok(BackendKind::Ecs),
            other => Err(format!("unknown backend `{other}`; use `local`, `docker` or `ecs`")),
        }
    }
}

/// A threshold as text, so that `loadgrid results` parses it again exactly
/// as the run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRecord {
    /// `metric` or `metric{tag:value}`.
    pub metric: String,
    pub expression: String,
    pub abort_on_fail: bool,
    pub delay_abort_eval_ms: Option<u64>,
    /// `script`, `config` or `flag`.
    pub origin: String,
}

/// How long k6 gets to end gracefully after an agent asks it to stop,
/// before the agent kills it.
pub const K6_STOP_GRACE: Duration = Duration::from_secs(30);

/// Clocks of the run. Local and object-store backends want different ones:
/// polling S3 every 20 ms would cost money and gain nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// How often agents poll the store for barrier markers.
    pub poll_interval_ms: u64,
    /// How far in the future the leader sets the start time.
    pub start_lead_ms: u64,
    /// How often agents publish live aggregates and print a snapshot line.
    pub live_interval_ms: u64,
    /// Slack past k6's total duration before an agent stops its shard hard.
    pub grace_ms: u64,
    /// Agents stop when the orchestrator's heartbeat is older than this;
    /// `None` for detached runs.
    pub heartbeat_timeout_ms: Option<u64>,
    /// How long an agent waits for the other shards at the barrier.
    pub barrier_timeout_ms: u64,
    /// How long the orchestrator waits for every shard to be ready before
    /// it stops the grid (a task that runs but whose agent never starts).
    #[serde(default = "default_start_timeout_ms")]
    pub start_timeout_ms: u64,
    /// How long an agent keeps retrying to upload its result and status
    /// when the store does not answer; meanwhile both are kept on its disk.
    #[serde(default = "default_upload_window_ms")]
    pub upload_window_ms: u64,
}

fn default_start_timeout_ms() -> u64 {
    Timing::remote().start_timeout_ms
}

fn default_upload_window_ms() -> u64 {
    Timing::remote().upload_window_ms
}

impl Timing {
    /// For object stores and remote tasks: every poll is a paid request
    /// with tens of milliseconds of latency, and tasks take a while to start.
    pub fn remote() -> Timing {
        Timing {
            poll_interval_ms: 500,
            start_lead_ms: 2_000,
            live_interval_ms: 2_000,
            grace_ms: 60_000,
            heartbeat_timeout_ms: Some(60_000),
            barrier_timeout_ms: 600_000,
            start_timeout_ms: 300_000,
            upload_window_ms: 120_000,
        }
    }

    pub fn local() -> Timing {
        Timing {
            poll_interval_ms: 20,
            start_lead_ms: 250,
            live_interval_ms: 1000,
            grace_ms: 30_000,
            heartbeat_timeout_ms: Some(15_000),
            barrier_timeout_ms: 120_000,
            start_timeout_ms: 60_000,
            upload_window_ms: 30_000,
        }
    }
}

impl Manifest {
    /// How long a shard may run after its start before it is stopped hard.
    pub fn run_deadline(&self) -> Duration {
        Duration::from_millis(self.total_duration_ms + self.timing.grace_ms)
    }

    /// The latest a shard can still store its result, counted from the
    /// grid's start: its deadline, k6's stop grace, and the upload window;
    /// the leader (shard 0) also waits for the others and runs `teardown()`.
    /// Past it, a watcher stops waiting for the shard.
    pub fn results_due(&self, shard: u32) -> Duration {
        let mut due = self.run_deadline() + K6_STOP_GRACE + Duration::from_millis(self.timing.upload_window_ms);
        if shard == 0 {
            due += Duration::from_millis(2 * self.teardown_timeout_ms + self.timing.grace_ms);
        }
        due
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifest serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| format!("unreadable manifest: {e}"))?;
        if manifest.schema != MANIFEST_SCHEMA {
            return Err(format!(
                "manifest schema {} is not supported by this loadgrid (it reads {MANIFEST_SCHEMA})",
                manifest.schema
            ));
        }
        // Sizes in stored data are bounded as flags are: a damaged manifest
        // must not make a reader loop or allocate for billions of shards.
        if !(1..=crate::split::MAX_SHARDS).contains(&manifest.shards)
            || manifest.segments.len() != manifest.shards as usize
        {
            return Err(format!(
                "corrupt manifest: {} shards with {} execution segments (1 to {} shards, one segment each)",
                manifest.shards,
                manifest.segments.len(),
                crate::split::MAX_SHARDS
            ));
        }
        if let Some((name, ms)) = manifest.durations_ms().find(|(_, ms)| *ms > MAX_STORED_DURATION_MS) {
            return Err(format!("corrupt manifest: {name} is {ms} ms (at most a year)"));
        }
        Ok(manifest)
    }

    /// Every duration the manifest holds, by its field's name.
    fn durations_ms(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let timing = &self.timing;
        [
            ("total_duration_ms", Some(self.total_duration_ms)),
            ("setup_timeout_ms", Some(self.setup_timeout_ms)),
            ("teardown_timeout_ms", Some(self.teardown_timeout_ms)),
            ("timing.poll_interval_ms", Some(timing.poll_interval_ms)),
            ("timing.start_lead_ms", Some(timing.start_lead_ms)),
            ("timing.live_interval_ms", Some(timing.live_interval_ms)),
            ("timing.grace_ms", Some(timing.grace_ms)),
            ("timing.heartbeat_timeout_ms", timing.heartbeat_timeout_ms),
            ("timing.barrier_timeout_ms", Some(timing.barrier_timeout_ms)),
            ("timing.start_timeout_ms", Some(timing.start_timeout_ms)),
            ("timing.upload_window_ms", Some(timing.upload_window_ms)),
        ]
        .into_iter()
        .filter_map(|(name, ms)| Some((name, ms?)))
        .chain(
            self.thresholds.iter().filter_map(|t| Some(("a threshold's delay_abort_eval_ms", t.delay_abort_eval_ms?))),
        )
    }
}

/// A year: far beyond any test, and small enough that deadlines computed
/// from a stored manifest cannot overflow a clock.
const MAX_STORED_DURATION_MS: u64 = 365 * 24 * 3600 * 1000;
