//! How big a grid must be: shards and task size for a target RPS or VU
//! count, from the script's execution requirements and measured per-vCPU
//! throughput.
//!
//! The throughput figures were measured on this project's 2-core VM with k6
//! 1.1.0 (BENCHMARKS.md, "Built-in target"): one k6 core served 5.8k-8.5k
//! requests/s of a trivial GET. Real scripts do more per request (checks,
//! JSON parsing, larger bodies), so the planner assumes 4,000 req/s per vCPU
//! and keeps 30 % headroom; override with `per_vcpu_rps`.

use crate::billing::{task_hour_usd, Arch};
use crate::prices::Prices;
use crate::CostError;

pub const DEFAULT_PER_VCPU_RPS: f64 = 4000.0;
/// Share of a task's CPU the plan fills; the rest absorbs spikes and GC.
pub const CPU_HEADROOM: f64 = 0.7;
/// k6's memory per VU (DESIGN.md: ~0.22 MB), doubled for scripts that hold data.
pub const MB_PER_VU: f64 = 0.44;
/// k6, the agent and the OS before any VU.
pub const BASE_MB: f64 = 300.0;

const CPU_OPTIONS: [u32; 5] = [1024, 2048, 4096, 8192, 16384];

/// What the grid must carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub target_rps: Option<f64>,
    /// The script's maximum VUs (`k6 inspect --execution-requirements`).
    pub max_vus: u64,
    pub per_vcpu_rps: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub shards: u32,
    pub cpu: u32,
    pub memory: u32,
    pub usd_per_hour: f64,
    pub warnings: Vec<String>,
}

/// The cheapest grid that carries `demand`, fewest shards on a tie.
pub fn suggest(prices: &Prices, demand: &Demand) -> Result<Suggestion, CostError> {
    if demand.target_rps.is_some_and(|r| !r.is_finite() || r <= 0.0) {
        return Err(CostError("--target-rps must be a positive number".into()));
    }
    if !demand.per_vcpu_rps.is_finite() || demand.per_vcpu_rps <= 0.0 {
        return Err(CostError("per-vCPU throughput must be a positive number".into()));
    }
    let vcpus_needed = demand.target_rps.map_or(0.0, |rps| rps / (demand.per_vcpu_rps * CPU_HEADROOM));
    let mut best: Option<Suggestion> = None;
    for cpu in CPU_OPTIONS {
        let vcpu = f64::from(cpu) / 1024.0;
        let mut shards = (vcpus_needed / vcpu).ceil().max(1.0) as u32;
        // Shards share VUs: never more shards than VUs.
        if demand.max_vus > 0 {
            shards = shards.min(demand.max_vus as u32).max(1);
        }
        let vus_per_shard = (demand.max_vus as f64 / f64::from(shards)).ceil();
        let memory_needed = BASE_MB + vus_per_shard * MB_PER_VU;
        let Some(memory) = smallest_memory(cpu, memory_needed) else { continue };
        let usd_per_hour = f64::from(shards) * task_hour_usd(prices, cpu, memory, Arch::X86);
        let candidate = Suggestion { shards, cpu, memory, usd_per_hour, warnings: Vec::new() };
        let better = best.as_ref().is_none_or(|b| {
            candidate.usd_per_hour < b.usd_per_hour - 1e-9
                || ((candidate.usd_per_hour - b.usd_per_hour).abs() < 1e-9 && candidate.shards < b.shards)
        });
        if better {
            best = Some(candidate);
        }
    }
    let mut suggestion = best.ok_or_else(|| CostError("no Fargate task size holds this many VUs per shard".into()))?;
    suggestion.warnings = starvation_warnings(demand, suggestion.shards, suggestion.cpu, suggestion.memory);
    Ok(suggestion)
}

/// Where one shard of `cpu`/`memory` would be starved.
pub fn starvation_warnings(demand: &Demand, shards: u32, cpu: u32, memory: u32) -> Vec<String> {
    let mut warnings = Vec::new();
    let vcpu = f64::from(cpu) / 1024.0;
    if let Some(rps) = demand.target_rps {
        let per_shard = rps / f64::from(shards);
        let capacity = vcpu * demand.per_vcpu_rps;
        if per_shard > capacity * CPU_HEADROOM {
            warnings.push(format!(
                "each shard must send {per_shard:.0} req/s but {vcpu} vCPU carries about {capacity:.0}: CPU-starved shards under-deliver and inflate latency; add shards or CPU"
            ));
        }
    }
    let vus_per_shard = (demand.max_vus as f64 / f64::from(shards.max(1))).ceil();
    let needed = BASE_MB + vus_per_shard * MB_PER_VU;
    if needed > f64::from(memory) {
        warnings.push(format!(
            "{vus_per_shard:.0} VUs per shard need about {needed:.0} MiB but the task has {memory}: k6 will be killed for memory (OutOfMemory); add shards or memory"
        ));
    }
    if demand.max_vus > 0 && !demand.max_vus.is_multiple_of(u64::from(shards)) {
        warnings.push(format!("{} VUs do not split evenly over {shards} shards", demand.max_vus));
    }
    warnings
}

/// The smallest memory Fargate offers with `cpu` that holds `needed` MiB.
fn smallest_memory(cpu: u32, needed: f64) -> Option<u32> {
    (512..=122_880u32)
        .step_by(512)
        .find(|&memory| f64::from(memory) >= needed && loadgrid_plan::fargate::check_task_size(cpu, memory).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(rps: Option<f64>, vus: u64) -> Demand {
        Demand { target_rps: rps, max_vus: vus, per_vcpu_rps: DEFAULT_PER_VCPU_RPS }
    }

    #[test]
    fn a_target_rps_sizes_the_grid_with_headroom() {
        let suggestion = suggest(&Prices::default(), &demand(Some(20_000.0), 400)).unwrap();
        let vcpus = f64::from(suggestion.shards) * f64::from(suggestion.cpu) / 1024.0;
        assert!(vcpus * DEFAULT_PER_VCPU_RPS * CPU_HEADROOM >= 20_000.0, "{suggestion:?}");
        assert!(vcpus <= 8.0, "no more than needed: {suggestion:?}");
        assert!(suggestion.warnings.is_empty(), "{:?}", suggestion.warnings);
    }

    #[test]
    fn many_vus_get_enough_memory() {
        let suggestion = suggest(&Prices::default(), &demand(None, 20_000)).unwrap();
        let per_shard = 20_000.0 / f64::from(suggestion.shards);
        assert!(f64::from(suggestion.memory) >= BASE_MB + per_shard * MB_PER_VU, "{suggestion:?}");
    }

    #[test]
    fn starved_shards_are_warned_about() {
        let d = demand(Some(50_000.0), 1000);
        let warnings = starvation_warnings(&d, 2, 1024, 2048);
        assert!(warnings.iter().any(|w| w.contains("CPU-starved")), "{warnings:?}");
        let warnings = starvation_warnings(&demand(None, 10_000), 1, 1024, 2048);
        assert!(warnings.iter().any(|w| w.contains("OutOfMemory")), "{warnings:?}");
        assert!(starvation_warnings(&demand(None, 10), 3, 1024, 2048).iter().any(|w| w.contains("evenly")));
    }

    #[test]
    fn bad_targets_are_refused() {
        assert!(suggest(&Prices::default(), &demand(Some(-5.0), 10)).is_err());
    }
}
