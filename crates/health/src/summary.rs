//! The run's generator health as `summary.json`, the history record and the
//! reports hold it.

use serde::{Deserialize, Serialize};

use crate::{judge, message, Allowance, ClockOffset, Finding, Grid, Limits, OnSaturation, ShardHealth};

/// Charts draw at most this many points per shard: long runs keep each
/// bucket's peak.
pub const MAX_POINTS: usize = 600;

/// Whether the run's generators kept up. The default is a run that
/// measured none (summaries written before health was measured).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HealthSummary {
    /// `healthy`, `saturated`, or `unknown` when no shard reported its health.
    pub status: HealthStatus,
    /// The `[health]` limits the shards were judged by.
    pub limits: Limits,
    /// The spread of the shards' resume times (latest minus earliest),
    /// each measured on its own clock.
    pub start_skew_ms: Option<i64>,
    /// One line per finding: shard, signal, what it means and the fix.
    pub messages: Vec<String>,
    /// One line per shard whose clock is more than 50 ms off the store's.
    #[serde(default)]
    pub clock_warnings: Vec<String>,
    /// The shards that reported their health, by shard index.
    pub shards: Vec<ShardHealthSummary>,
}

impl Default for HealthSummary {
    fn default() -> HealthSummary {
        HealthSummary {
            status: HealthStatus::Unknown,
            limits: Limits::default(),
            start_skew_ms: None,
            messages: Vec::new(),
            clock_warnings: Vec::new(),
            shards: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Saturated,
    Unknown,
}

impl HealthStatus {
    /// For people, in every output.
    pub fn label(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "generators kept up",
            HealthStatus::Saturated => "generators saturated: the numbers include the generators' own limits",
            HealthStatus::Unknown => "generator health not measured",
        }
    }
}

/// One shard's generator over its test.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ShardHealthSummary {
    pub shard: u32,
    pub allowance: Allowance,
    /// Seconds sampled (the test's, one sample a second).
    pub seconds: u32,
    /// The pool's CPU as a percentage of the allowance.
    pub cpu_peak_percent: f64,
    pub cpu_mean_percent: f64,
    /// Seconds at or above `limits.cpu_percent`.
    pub cpu_saturated_seconds: u32,
    pub memory_peak_percent: f64,
    pub k6_memory_peak_bytes: u64,
    pub sockets_peak: u32,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub findings: Vec<Finding>,
    /// The agent's clock against the store's (shared stores only).
    #[serde(default)]
    pub clock_offset: Option<ClockOffset>,
    /// Per-second CPU and memory, at most [`MAX_POINTS`] (empty in history records).
    #[serde(default)]
    pub series: Vec<Point>,
}

/// A shard's CPU and memory in one second (or the peak of a bucket of seconds).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix seconds.
    pub t: i64,
    pub cpu_percent: f64,
    pub memory_percent: f64,
}

/// What a shard hands to [`HealthSummary::build`].
pub struct ShardInput<'a> {
    pub shard: u32,
    pub health: &'a ShardHealth,
    pub dropped_iterations: u64,
}

impl HealthSummary {
    pub fn build(shards: &[ShardInput<'_>], resumed_at_ms: &[i64], limits: Limits, grid: &Grid) -> HealthSummary {
        let mut messages = Vec::new();
        let summaries: Vec<ShardHealthSummary> = shards
            .iter()
            .map(|input| {
                let summary = ShardHealthSummary::build(input, &limits);
                messages.extend(
                    summary.findings.iter().map(|finding| message(input.shard, finding, &summary.allowance, grid)),
                );
                summary
            })
            .collect();
        let status = match (summaries.is_empty(), messages.is_empty()) {
            (true, _) => HealthStatus::Unknown,
            (false, true) => HealthStatus::Healthy,
            (false, false) => HealthStatus::Saturated,
        };
        let start_skew_ms = match (resumed_at_ms.iter().min(), resumed_at_ms.iter().max()) {
            (Some(first), Some(last)) => Some(last - first),
            _ => None,
        };
        let clock_warnings = summaries
            .iter()
            .filter_map(|shard| Some((shard.shard, shard.clock_offset.filter(ClockOffset::is_off)?)))
            .map(|(shard, clock)| clock_warning(shard, &clock))
            .collect();
        HealthSummary { status, limits, start_skew_ms, messages, clock_warnings, shards: summaries }
    }

    /// Whether the run's verdict must say so.
    pub fn fails_the_run(&self) -> bool {
        self.status == HealthStatus::Saturated && self.limits.on_saturation == OnSaturation::Fail
    }
}

impl ShardHealthSummary {
    fn build(input: &ShardInput<'_>, limits: &Limits) -> ShardHealthSummary {
        let health = input.health;
        let allowance = &health.allowance;
        let samples = &health.samples;
        let cpu: Vec<f64> = samples.iter().map(|s| s.cpu_percent(allowance)).collect();
        let points: Vec<Point> = samples
            .iter()
            .zip(&cpu)
            .map(|(s, cpu)| Point {
                t: s.at_ms.div_euclid(1000),
                cpu_percent: tenth(cpu.min(100.0)),
                memory_percent: tenth(s.memory_percent(allowance)),
            })
            .collect();
        ShardHealthSummary {
            shard: input.shard,
            allowance: *allowance,
            seconds: health.seconds(),
            cpu_peak_percent: tenth(cpu.iter().copied().fold(0.0, f64::max).min(100.0)),
            cpu_mean_percent: tenth(match health.seconds() {
                0 => 0.0,
                n => {
                    samples.iter().zip(&cpu).map(|(s, c)| c.min(100.0) * f64::from(s.seconds)).sum::<f64>()
                        / f64::from(n)
                }
            }),
            cpu_saturated_seconds: samples
                .iter()
                .zip(&cpu)
                .filter(|(_, c)| **c >= limits.cpu_percent)
                .map(|(s, _)| s.seconds)
                .sum(),
            memory_peak_percent: tenth(samples.iter().map(|s| s.memory_percent(allowance)).fold(0.0, f64::max)),
            k6_memory_peak_bytes: samples.iter().map(|s| s.k6_memory_bytes).max().unwrap_or(0),
            sockets_peak: samples.iter().map(|s| s.sockets).max().unwrap_or(0),
            net_rx_bytes: samples.iter().map(|s| s.net_rx_bytes).sum(),
            net_tx_bytes: samples.iter().map(|s| s.net_tx_bytes).sum(),
            findings: judge(health, input.dropped_iterations, limits),
            clock_offset: health.clock_offset,
            series: downsample(&points, MAX_POINTS),
        }
    }
}

/// `shard 3's clock is 120 ms behind the store's (±8 ms): …`.
fn clock_warning(shard: u32, clock: &ClockOffset) -> String {
    let (side, effect) = match clock.offset_ms > 0 {
        true => ("behind", "late"),
        false => ("ahead of", "early"),
    };
    format!(
        "shard {shard}'s clock is {} ms {side} the store's (±{} ms): shards start together by their own clocks, so \
         this one started about that much {effect}; sync its clock (chrony or NTP; ECS tasks use the Amazon Time Sync \
         Service)",
        clock.offset_ms.abs(),
        clock.uncertainty_ms
    )
}

fn tenth(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// At most `max` points: consecutive points bucketed, each bucket keeping
/// its first time and its peaks, so a one-second spike still shows.
pub fn downsample(points: &[Point], max: usize) -> Vec<Point> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let per_bucket = points.len().div_ceil(max);
    points
        .chunks(per_bucket)
        .map(|bucket| Point {
            t: bucket[0].t,
            cpu_percent: bucket.iter().map(|p| p.cpu_percent).fold(0.0, f64::max),
            memory_percent: bucket.iter().map(|p| p.memory_percent).fold(0.0, f64::max),
        })
        .collect()
}
