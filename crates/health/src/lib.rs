//! Generator health: whether each shard's load generator kept up.
//!
//! A load test measures two systems, the target and the generator. When a
//! shard's k6 is starved of CPU or memory, its latencies include
//! client-side queueing and the run measures the generator instead of the
//! target. Each agent samples its k6 and the CPU and memory pool it runs
//! in once a second ([`Sample`]) and counts what k6's own log says
//! ([`LogSignals`]); [`judge`] turns that into [`Finding`]s with the same
//! rules live (the orchestrator's notice) and at the end (the summary and
//! the verdict).
//!
//! This crate does no I/O: the agent reads `/proc` and the cgroup, and
//! hands the numbers here.

use serde::{Deserialize, Serialize};

pub mod clock;
mod log;
mod summary;

pub use clock::ClockOffset;
pub use log::LogSignals;
pub use summary::{downsample, HealthStatus, HealthSummary, Point, ShardHealthSummary, ShardInput, MAX_POINTS};

/// Where a shard's CPU and memory allowance comes from.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// A process on a machine it shares: the cores it may run on and the
    /// machine's memory, used by everything else there too (other shards,
    /// a target on the same machine).
    Host,
    /// A container with a CPU quota or memory limit (its cgroup's).
    Container,
    /// An ECS task: the task size from the ECS task metadata endpoint.
    Task,
}

impl Pool {
    /// For people: `this machine`, `its container`, `its task`.
    pub fn label(self) -> &'static str {
        match self {
            Pool::Host => "this machine",
            Pool::Container => "its container",
            Pool::Task => "its task",
        }
    }
}

/// How much CPU and memory a shard's generator may use.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Allowance {
    pub pool: Pool,
    /// Cores (a CPU quota of 0.5 cores is 0.5).
    pub cpu_cores: f64,
    pub memory_bytes: u64,
}

impl Allowance {
    /// `its container: 0.25 cores, 512 MiB`: every output says it so.
    pub fn describe(&self) -> String {
        format!("{}: {}, {}", self.pool.label(), cores(self.cpu_cores), mebibytes(self.memory_bytes))
    }
}

/// One second of a shard's generator, taken while its test runs (or, in
/// a long test, the peaks of a few seconds: see [`ShardHealth::bound`]).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix milliseconds when it was taken.
    pub at_ms: i64,
    /// Cores k6 used since the previous sample.
    pub k6_cpu: f64,
    /// Cores the whole pool used since the previous sample: k6 is starved
    /// when this reaches the allowance, whoever used it.
    pub pool_cpu: f64,
    /// k6's resident memory.
    pub k6_memory_bytes: u64,
    /// Memory in use in the pool (without reclaimable page cache).
    pub pool_memory_bytes: u64,
    /// k6's open sockets.
    pub sockets: u32,
    /// Network bytes received and sent since the previous sample.
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    /// The seconds this sample stands for.
    #[serde(default = "one")]
    pub seconds: u32,
}

fn one() -> u32 {
    1
}

impl Default for Sample {
    fn default() -> Sample {
        Sample {
            at_ms: 0,
            k6_cpu: 0.0,
            pool_cpu: 0.0,
            k6_memory_bytes: 0,
            pool_memory_bytes: 0,
            sockets: 0,
            net_rx_bytes: 0,
            net_tx_bytes: 0,
            seconds: 1,
        }
    }
}

impl Sample {
    /// Two neighbours as one: their peaks and their sums.
    fn fold(self, next: Sample) -> Sample {
        Sample {
            at_ms: self.at_ms,
            k6_cpu: self.k6_cpu.max(next.k6_cpu),
            pool_cpu: self.pool_cpu.max(next.pool_cpu),
            k6_memory_bytes: self.k6_memory_bytes.max(next.k6_memory_bytes),
            pool_memory_bytes: self.pool_memory_bytes.max(next.pool_memory_bytes),
            sockets: self.sockets.max(next.sockets),
            net_rx_bytes: self.net_rx_bytes + next.net_rx_bytes,
            net_tx_bytes: self.net_tx_bytes + next.net_tx_bytes,
            seconds: self.seconds + next.seconds,
        }
    }

    /// The pool's CPU use as a percentage of the allowance.
    pub fn cpu_percent(&self, allowance: &Allowance) -> f64 {
        percent(self.pool_cpu.max(self.k6_cpu), allowance.cpu_cores)
    }

    /// The pool's memory use as a percentage of the allowance.
    pub fn memory_percent(&self, allowance: &Allowance) -> f64 {
        percent(self.pool_memory_bytes.max(self.k6_memory_bytes) as f64, allowance.memory_bytes as f64)
    }
}

fn percent(used: f64, allowed: f64) -> f64 {
    if allowed > 0.0 {
        100.0 * used / allowed
    } else {
        0.0
    }
}

/// What one shard's generator did during its test: the agent's record.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ShardHealth {
    pub allowance: Allowance,
    pub samples: Vec<Sample>,
    #[serde(default)]
    pub log: LogSignals,
    /// Processes of the pool the kernel killed for memory during the test
    /// (the cgroup's `oom_kill` count; 0 where it cannot be read).
    #[serde(default)]
    pub oom_kills: u64,
    /// The agent's clock against the store's (shared stores only).
    #[serde(default)]
    pub clock_offset: Option<ClockOffset>,
}

/// A shard keeps at most this many samples: every second of the first 20
/// minutes, then neighbours fold into one, so that a long test's status
/// stays about 200 KB.
pub const MAX_SAMPLES: usize = 1200;

impl ShardHealth {
    /// Folds neighbouring samples pairwise (their peaks, the sum of their
    /// seconds and bytes) while there are more than [`MAX_SAMPLES`]. A
    /// folded pair counts as CPU-bound for both its seconds when either
    /// was: the judgement errs towards saying so.
    pub fn bound(&mut self) {
        while self.samples.len() > MAX_SAMPLES {
            self.samples = self
                .samples
                .chunks(2)
                .map(|pair| match pair {
                    [first, second] => first.fold(*second),
                    [only] => *only,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
        }
    }

    /// The seconds the samples stand for.
    pub fn seconds(&self) -> u32 {
        self.samples.iter().map(|sample| sample.seconds).sum()
    }
}

/// When a shard counts as saturated: `[health]` in loadgrid.toml.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A second is CPU-saturated at or above this percentage of the allowance.
    pub cpu_percent: f64,
    /// A shard is saturated when more than this percentage of its test's
    /// seconds were CPU-saturated.
    pub cpu_time_percent: f64,
    /// A shard is saturated when its memory reaches this percentage of the limit.
    pub memory_percent: f64,
    pub on_saturation: OnSaturation,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { cpu_percent: 90.0, cpu_time_percent: 10.0, memory_percent: 90.0, on_saturation: OnSaturation::Warn }
    }
}

impl Limits {
    /// Each percentage must be above 0 and at most 100.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("cpu_percent", self.cpu_percent),
            ("cpu_time_percent", self.cpu_time_percent),
            ("memory_percent", self.memory_percent),
        ] {
            if !(value > 0.0 && value <= 100.0) {
                return Err(format!("[health] {name} is {value}: it is a percentage above 0 and at most 100"));
            }
        }
        Ok(())
    }
}

/// What a saturated generator does to the run's verdict.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnSaturation {
    /// Say so in every output; the verdict stands.
    #[default]
    Warn,
    /// The run fails with verdict `generator_saturated` (exit 3).
    Fail,
}

impl OnSaturation {
    pub const NAMES: [&'static str; 2] = ["warn", "fail"];

    pub fn parse(text: &str) -> Option<OnSaturation> {
        match text {
            "warn" => Some(OnSaturation::Warn),
            "fail" => Some(OnSaturation::Fail),
            _ => None,
        }
    }
}

/// One reason a shard's numbers cannot be trusted.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum Finding {
    /// The pool's CPU was at or above the limit for too much of the test.
    Cpu { saturated_seconds: u32, seconds: u32, peak_percent: f64 },
    /// Memory reached the limit's share.
    Memory { peak_percent: f64, limit_bytes: u64 },
    /// The kernel killed a process of the pool (k6, most likely) for memory.
    OutOfMemory { kills: u64, limit_bytes: u64 },
    /// k6 could not start iterations when the scenario said to.
    DroppedIterations { count: u64 },
    /// k6 warned that it ran out of VUs.
    InsufficientVus { warnings: u64 },
    /// Requests failed on the generator's side (open files, local ports).
    ClientErrors { count: u64, kind: String },
}

/// The grid a finding's fix is worded for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub shards: u32,
    /// Whether shards run on the machine that started the run (local
    /// processes or containers), where more shards share the same cores.
    pub on_this_machine: bool,
}

/// Rather than go to the limit, a suggestion leaves this much headroom.
const TARGET_CPU_SHARE: f64 = 0.7;

impl Finding {
    /// What happened, without the shard: `ran at 98% CPU for 41 s of 60 s`.
    pub fn problem(&self, allowance: &Allowance) -> String {
        match self {
            Finding::Cpu { saturated_seconds, seconds, peak_percent } => format!(
                "ran at {}% CPU of {} ({}) for {saturated_seconds} s of {seconds} s",
                peak_percent.round(),
                allowance.pool.label(),
                cores(allowance.cpu_cores)
            ),
            Finding::Memory { peak_percent, limit_bytes } => format!(
                "used {}% of the memory of {} ({})",
                peak_percent.round(),
                allowance.pool.label(),
                mebibytes(*limit_bytes)
            ),
            Finding::OutOfMemory { kills, limit_bytes } => format!(
                "ran out of the memory of {} ({}): the kernel killed {kills} process{}",
                allowance.pool.label(),
                mebibytes(*limit_bytes),
                if *kills == 1 { "" } else { "es" }
            ),
            Finding::DroppedIterations { count } => format!("dropped {count} iterations"),
            Finding::InsufficientVus { warnings } => {
                format!("logged {warnings} \"Insufficient VUs\" warning{}", plural(*warnings))
            }
            Finding::ClientErrors { count, kind } => {
                format!("hit {count} client-side request error{} ({kind})", plural(*count))
            }
        }
    }

    /// What it means for the numbers and what to do: the sentence after the problem.
    pub fn consequence_and_fix(&self, allowance: &Allowance, grid: &Grid) -> String {
        match self {
            Finding::Cpu { .. } => {
                let consequence = "its latencies include client-side queueing";
                if grid.on_this_machine && allowance.pool == Pool::Host {
                    let machine_cores = allowance.cpu_cores.floor().max(1.0) as u32;
                    if grid.shards > machine_cores {
                        format!("{consequence}; run at most {machine_cores} shards on this machine's {machine_cores} cores, or on ECS (`--backend ecs`)")
                    } else {
                        format!("{consequence}; this machine cannot generate this load: run it on ECS (`--backend ecs`; `loadgrid plan` sizes the grid)")
                    }
                } else {
                    format!(
                        "{consequence}; use {} shards (`loadgrid plan` sizes this) or give each shard more CPU (`--cpu`, 1024 units = 1 vCPU)",
                        suggested_shards(grid.shards)
                    )
                }
            }
            Finding::OutOfMemory { .. } => format!(
                "the shard's test was cut short; give each shard more memory (`--memory`, MiB) or use {} shards",
                suggested_shards(grid.shards)
            ),
            Finding::Memory { .. } => format!(
                "k6 may be killed for memory before the test ends; give each shard more memory (`--memory`, MiB) or use {} shards",
                suggested_shards(grid.shards)
            ),
            Finding::DroppedIterations { .. } | Finding::InsufficientVus { .. } => {
                "the target got less load than the script asked for; raise the scenario's `preAllocatedVUs`/`maxVUs`, or use more shards if the generators' CPU is the limit".to_owned()
            }
            Finding::ClientErrors { .. } => {
                "these failures are the generator's, not the target's; use more shards (each has its own open-file and port limits) or raise the open-file limit (`ulimit -n`)".to_owned()
            }
        }
    }

    /// The signal's name, as `summary.json` spells it.
    pub fn signal(&self) -> &'static str {
        match self {
            Finding::Cpu { .. } => "cpu",
            Finding::Memory { .. } => "memory",
            Finding::OutOfMemory { .. } => "out_of_memory",
            Finding::DroppedIterations { .. } => "dropped_iterations",
            Finding::InsufficientVus { .. } => "insufficient_vus",
            Finding::ClientErrors { .. } => "client_errors",
        }
    }
}

/// A CPU-bound grid pegged at its allowance needs at least this many
/// shards to run at [`TARGET_CPU_SHARE`].
fn suggested_shards(shards: u32) -> u32 {
    ((f64::from(shards) / TARGET_CPU_SHARE).ceil() as u32).max(shards + 1)
}

fn cores(cores: f64) -> String {
    let text = format!("{cores:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {}", if cores == 1.0 { "core" } else { "cores" })
}

/// `512 MiB`.
pub fn mebibytes(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

fn plural(count: u64) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// Fewer CPU-saturated seconds than this are never a finding: one busy
/// second in a short test is noise, not starvation.
const MIN_SATURATED_SECONDS: u32 = 2;

/// The findings for one shard's health and the iterations its k6 dropped.
pub fn judge(health: &ShardHealth, dropped_iterations: u64, limits: &Limits) -> Vec<Finding> {
    let allowance = &health.allowance;
    let mut findings = Vec::new();
    let seconds = health.seconds();
    let saturated_seconds: u32 = health
        .samples
        .iter()
        .filter(|sample| sample.cpu_percent(allowance) >= limits.cpu_percent)
        .map(|sample| sample.seconds)
        .sum();
    if saturated_seconds >= MIN_SATURATED_SECONDS
        && f64::from(saturated_seconds) > f64::from(seconds) * limits.cpu_time_percent / 100.0
    {
        let peak_percent = health.samples.iter().map(|s| s.cpu_percent(allowance)).fold(0.0, f64::max);
        findings.push(Finding::Cpu { saturated_seconds, seconds, peak_percent: peak_percent.min(100.0) });
    }
    let memory_peak = health.samples.iter().map(|s| s.memory_percent(allowance)).fold(0.0, f64::max);
    if memory_peak >= limits.memory_percent {
        findings.push(Finding::Memory { peak_percent: memory_peak, limit_bytes: allowance.memory_bytes });
    }
    if health.oom_kills > 0 {
        findings.push(Finding::OutOfMemory { kills: health.oom_kills, limit_bytes: allowance.memory_bytes });
    }
    if dropped_iterations > 0 {
        findings.push(Finding::DroppedIterations { count: dropped_iterations });
    }
    if health.log.insufficient_vus > 0 {
        findings.push(Finding::InsufficientVus { warnings: health.log.insufficient_vus });
    }
    if let Some((kind, _)) = health.log.client_errors.iter().max_by_key(|(_, count)| **count) {
        let count = health.log.client_errors.values().sum();
        findings.push(Finding::ClientErrors { count, kind: kind.clone() });
    }
    findings
}

/// `shard 2 ran at 98% CPU of its task (4 cores) for 41 s of 60 s: its
/// latencies include client-side queueing; use 6 shards (…)`: the one
/// sentence every output gives for a finding.
pub fn message(shard: u32, finding: &Finding, allowance: &Allowance, grid: &Grid) -> String {
    format!("shard {shard} {}: {}", finding.problem(allowance), finding.consequence_and_fix(allowance, grid))
}

#[cfg(test)]
mod tests;
