//! One Fargate task's bill: vCPU-hours and GB-hours, billed per second with
//! a one-minute minimum, Spot as a discount.

use crate::prices::Prices;
use crate::CostError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arch {
    #[default]
    X86,
    Arm,
}

/// Fargate bills each task from image pull to stop, per second, at least a
/// minute; EC2 (Linux) bills each start of an instance the same way.
pub const MINIMUM_BILLED_SECONDS: f64 = 60.0;

/// The hourly price of a task of `cpu` units (1024 = 1 vCPU) and `memory` MiB.
pub fn task_hour_usd(prices: &Prices, cpu: u32, memory: u32, arch: Arch) -> f64 {
    let (vcpu, gb) = match arch {
        Arch::X86 => (prices.fargate_vcpu_hour, prices.fargate_gb_hour),
        Arch::Arm => (prices.fargate_arm_vcpu_hour, prices.fargate_arm_gb_hour),
    };
    f64::from(cpu) / 1024.0 * vcpu + f64::from(memory) / 1024.0 * gb
}

/// What one task costs for `seconds` of runtime.
pub fn task_cost_usd(prices: &Prices, cpu: u32, memory: u32, seconds: f64, arch: Arch, spot: bool) -> f64 {
    let billed_seconds = seconds.max(0.0).ceil().max(MINIMUM_BILLED_SECONDS);
    let on_demand = task_hour_usd(prices, cpu, memory, arch) * billed_seconds / 3600.0;
    if spot {
        on_demand * (1.0 - prices.spot_discount)
    } else {
        on_demand
    }
}

/// Dollars rounded to the cent, half away from zero, for display.
pub fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_vcpu_sixteen_gb_is_the_published_hourly_price() {
        let hour = task_hour_usd(&Prices::default(), 4096, 16384, Arch::X86);
        assert!((hour - 0.233).abs() < 0.01, "{hour}");
        assert_eq!(cents(hour), 0.23);
    }

    #[test]
    fn billing_is_per_second_with_a_one_minute_minimum() {
        let prices = Prices::default();
        let cost = |seconds| task_cost_usd(&prices, 1024, 2048, seconds, Arch::X86, false);
        assert_eq!(cost(1.0), cost(60.0), "anything under a minute bills a minute");
        assert_eq!(cost(0.0), cost(60.0));
        assert!(cost(61.0) > cost(60.0));
        assert_eq!(cost(60.2), cost(61.0), "partial seconds bill as whole seconds");
        let per_second = task_hour_usd(&prices, 1024, 2048, Arch::X86) / 3600.0;
        assert!((cost(3600.0) - per_second * 3600.0).abs() < 1e-12);
    }

    #[test]
    fn spot_is_the_configured_discount() {
        let mut prices = Prices::default();
        let ratio = |p: &Prices| {
            task_cost_usd(p, 2048, 4096, 600.0, Arch::X86, true) / task_cost_usd(p, 2048, 4096, 600.0, Arch::X86, false)
        };
        assert!((ratio(&prices) - 0.30).abs() < 1e-12);
        prices.spot_discount = 0.5;
        assert!((ratio(&prices) - 0.50).abs() < 1e-12);
    }

    #[test]
    fn arm_is_cheaper_than_x86() {
        let prices = Prices::default();
        assert!(task_hour_usd(&prices, 1024, 2048, Arch::Arm) < task_hour_usd(&prices, 1024, 2048, Arch::X86));
    }

    #[test]
    fn cents_round_half_away_from_zero() {
        assert_eq!(cents(0.125), 0.13);
        assert_eq!(cents(32.849), 32.85);
    }
}

/// A run's price on Fargate: every shard billed for its runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCost {
    pub compute_usd: f64,
    /// The agents' snapshot lines into CloudWatch Logs.
    pub logs_usd: f64,
}

impl RunCost {
    pub fn total(&self) -> f64 {
        self.compute_usd + self.logs_usd
    }
}

/// Prices a run from each shard's runtime in seconds.
pub fn run_cost(prices: &Prices, shard_seconds: &[f64], cpu: u32, memory: u32, spot: bool) -> RunCost {
    let compute_usd = shard_seconds.iter().map(|s| task_cost_usd(prices, cpu, memory, *s, Arch::X86, spot)).sum();
    let shard_hours: f64 = shard_seconds.iter().map(|s| s.max(0.0) / 3600.0).sum();
    let logs_usd = shard_hours * crate::planner::LOG_GB_PER_SHARD_HOUR * prices.logs_ingest_gb;
    RunCost { compute_usd, logs_usd }
}

/// One pool instance's time a run paid for.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceTime {
    pub instance_type: String,
    pub seconds: f64,
}

/// Prices a run on the EC2 pool: each instance per second from its start
/// (at least a minute), with its Elastic IP and root volume for that time;
/// logs from the shards' runtime.
pub fn pool_run_cost(prices: &Prices, instances: &[InstanceTime], shard_seconds: &[f64]) -> Result<RunCost, CostError> {
    let mut compute_usd = 0.0;
    for instance in instances {
        let hours = instance.seconds.max(MINIMUM_BILLED_SECONDS) / 3600.0;
        let volume_hour =
            f64::from(crate::planner::EC2_ROOT_VOLUME_GB) * prices.ebs_gb_month / crate::planner::HOURS_PER_MONTH;
        compute_usd += hours * (prices.ec2_hour(&instance.instance_type)? + prices.public_ipv4_hour + volume_hour);
    }
    let shard_hours = shard_seconds.iter().fold(0.0, |hours, s| hours + s.max(0.0) / 3600.0);
    let logs_usd = shard_hours * crate::planner::LOG_GB_PER_SHARD_HOUR * prices.logs_ingest_gb;
    Ok(RunCost { compute_usd, logs_usd })
}

#[cfg(test)]
mod run_cost_tests {
    use super::*;

    #[test]
    fn a_pool_run_pays_each_instance_per_second_with_its_address_and_volume() {
        let prices = Prices::default();
        let instance = |seconds| InstanceTime { instance_type: "t3.xlarge".into(), seconds };
        let cost = pool_run_cost(&prices, &[instance(1800.0), instance(20.0)], &[]).unwrap();
        let hourly = 0.1664 + prices.public_ipv4_hour + 30.0 * prices.ebs_gb_month / 730.0;
        // Half an hour, and a start's one-minute minimum.
        assert!((cost.compute_usd - hourly * (0.5 + 1.0 / 60.0)).abs() < 1e-12, "{cost:?}");
        assert_eq!(cost.logs_usd, 0.0);
        let unknown = InstanceTime { instance_type: "x9.huge".into(), seconds: 60.0 };
        assert!(pool_run_cost(&prices, &[unknown], &[]).is_err());
    }

    #[test]
    fn a_run_bills_every_shard_with_its_own_minimum() {
        let prices = Prices::default();
        let cost = run_cost(&prices, &[30.0, 600.0], 1024, 2048, false);
        let expected = task_cost_usd(&prices, 1024, 2048, 60.0, Arch::X86, false)
            + task_cost_usd(&prices, 1024, 2048, 600.0, Arch::X86, false);
        assert!((cost.compute_usd - expected).abs() < 1e-12);
        assert!(cost.logs_usd > 0.0 && cost.logs_usd < cost.compute_usd);
        let spot = run_cost(&prices, &[30.0, 600.0], 1024, 2048, true);
        assert!((spot.compute_usd - expected * 0.3).abs() < 1e-12);
    }
}
