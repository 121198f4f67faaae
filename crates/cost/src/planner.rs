//! A month of load tests priced three ways:
//!
//! - **Fargate on-demand** and **Fargate Spot**: tasks billed per second
//!   while a run lasts. In the `static-ip` network the NAT gateway (and its
//!   Elastic IP) is billed every hour of the month, used or not; in the
//!   `public` network each task pays for its public IPv4 while it runs.
//! - **EC2 start/stop with Elastic IPs**: one instance per shard, started
//!   for each run and stopped after. Compute is billed while running; the
//!   Elastic IPs and root volumes are billed all month.
//!
//! Fixed costs are what the month costs with no test at all; variable costs
//! grow with use.

use crate::billing::{task_cost_usd, task_hour_usd, Arch};
use crate::prices::{Prices, EC2_SIZES};
use crate::CostError;

/// AWS's month for pricing: 730 hours.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// An EC2 load generator's root volume (gp3): the ECS-optimized AMI's
/// minimum, and what the pool's instances get.
pub const EC2_ROOT_VOLUME_GB: u32 = 30;
/// What a shard's snapshot lines put into CloudWatch Logs per hour: one
/// ~1.5 KB line every 2 s.
pub const LOG_GB_PER_SHARD_HOUR: f64 = 1800.0 * 1500.0 / 1e9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Public,
    StaticIp,
}

impl NetworkMode {
    pub fn parse(text: &str) -> Result<NetworkMode, CostError> {
        match text {
            "public" | "default-vpc" | "existing" => Ok(NetworkMode::Public),
            "static-ip" => Ok(NetworkMode::StaticIp),
            other => Err(CostError(format!(
                "unknown network `{other}`; use `public` (tasks with public IPs) or `static-ip` (NAT gateway)"
            ))),
        }
    }
}

/// What the month holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub runs_per_month: f64,
    /// Each run's duration, in seconds (what every task is billed).
    pub run_seconds: f64,
    pub shards: u32,
    pub cpu: u32,
    pub memory: u32,
    pub arch: Arch,
    pub network: NetworkMode,
    /// NAT gateways in `static-ip` (2 with one per AZ).
    pub nat_gateways: u32,
    /// Data through the NAT gateway per run (requests and responses).
    pub nat_gb_per_run: f64,
    /// Results kept in the store, GB.
    pub results_gb: f64,
    /// The EC2 type to compare with; `None` picks the smallest that fits.
    pub instance: Option<String>,
}

impl Workload {
    pub fn check(&self) -> Result<(), CostError> {
        // Bounds far past any real month, so that a typo gives an error,
        // not a 309-digit total.
        let within = |name: &str, value: f64, most: f64| {
            if value.is_finite() && (0.0..=most).contains(&value) {
                Ok(())
            } else {
                let value = if value.abs() >= 1e9 { format!("{value:e}") } else { value.to_string() };
                Err(CostError(format!("{name} must be from 0 to {most}, not {value}")))
            }
        };
        within("--runs-per-month", self.runs_per_month, 100_000.0)?;
        within("--avg-duration (seconds)", self.run_seconds, HOURS_PER_MONTH * 3600.0)?;
        within("--nat-gb-per-run", self.nat_gb_per_run, 1_000_000.0)?;
        within("--results-gb", self.results_gb, 10_000_000.0)?;
        if !(1..=loadgrid_plan::split::MAX_SHARDS).contains(&self.shards) {
            return Err(CostError(format!("--shards must be from 1 to {}", loadgrid_plan::split::MAX_SHARDS)));
        }
        loadgrid_plan::fargate::check_task_size(self.cpu, self.memory).map_err(CostError)?;
        Ok(())
    }

    /// Hours a month that the grid runs (per shard).
    pub fn hours(&self) -> f64 {
        self.runs_per_month * self.run_seconds / 3600.0
    }
}

/// One line of a bill.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub item: String,
    pub usd: f64,
}

/// One way of running the month.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionCost {
    pub name: String,
    /// How loadgrid runs on it.
    pub mode: Mode,
    /// What one task or instance costs an hour, as price lists state it:
    /// `Fargate 4 vCPU / 16 GB` at $0.2330.
    pub unit: Line,
    pub fixed: Vec<Line>,
    pub variable: Vec<Line>,
    /// Variable cost per hour of grid use (all shards).
    pub per_hour: f64,
}

/// The ways loadgrid runs a grid on AWS, each priced by the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Fargate,
    FargateSpot,
    /// The stack's EC2 pool, started and stopped around runs.
    Ec2Pool,
}

impl Mode {
    /// How to run on it: the one wording for the text and JSON plans.
    pub fn how_to_run(self) -> &'static str {
        match self {
            Mode::Fargate => "loadgrid run --backend ecs",
            Mode::FargateSpot => "loadgrid run --backend ecs --spot",
            Mode::Ec2Pool => {
                "loadgrid run --backend ecs --capacity ec2 (after `capacity = \"ec2\"` under [infra] and `loadgrid \
                 infra deploy`)"
            }
        }
    }
}

impl OptionCost {
    pub fn fixed_total(&self) -> f64 {
        self.fixed.iter().map(|l| l.usd).sum()
    }
    pub fn variable_total(&self) -> f64 {
        self.variable.iter().map(|l| l.usd).sum()
    }
    pub fn total(&self) -> f64 {
        self.fixed_total() + self.variable_total()
    }
}

/// The comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub options: Vec<OptionCost>,
    pub instance: String,
    /// Hours of EC2 use a month that cost as much as the Fargate network's
    /// fixed fee (the NAT gateway): below it the fee buys more than the
    /// instances would. `None` without a fixed network fee.
    pub nat_fee_in_ec2_hours: Option<f64>,
    /// Monthly hours of grid use at which each Fargate option's total equals
    /// EC2's, if the lines cross.
    pub crossovers: Vec<(String, Option<f64>)>,
    /// E.g. a named instance type that the pool could not run the task on.
    pub warnings: Vec<String>,
}

/// The cheapest priced EC2 type that carries one task of this size as an
/// ECS container instance (its memory less what the ECS agent keeps).
pub fn fitting_instance(prices: &Prices, cpu: u32, memory: u32) -> Result<String, CostError> {
    let vcpus = f64::from(cpu) / 1024.0;
    let gib = f64::from(memory) / 1024.0;
    EC2_SIZES
        .iter()
        .filter(|(name, ..)| crate::prices::tasks_per_instance(name, cpu, memory).is_some_and(|n| n > 0))
        .filter_map(|(name, ..)| prices.ec2.get(*name).map(|price| (*name, *price)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, _)| name.to_owned())
        .ok_or_else(|| {
            CostError(format!(
                "no priced EC2 type has {vcpus} vCPUs and {gib} GiB beside the ECS agent's {} MiB; name one with \
                 --instance",
                crate::prices::INSTANCE_RESERVED_MIB
            ))
        })
}

pub fn plan(prices: &Prices, workload: &Workload) -> Result<Plan, CostError> {
    workload.check()?;
    prices.check()?;
    let shards = f64::from(workload.shards);
    let hours = workload.hours();
    let shard_runs = workload.runs_per_month * shards;

    let nat_fixed = |lines: &mut Vec<Line>| {
        if workload.network == NetworkMode::StaticIp {
            let n = f64::from(workload.nat_gateways.max(1));
            lines.push(Line {
                item: format!("NAT gateway x{n} (730 h)"),
                usd: n * HOURS_PER_MONTH * prices.nat_gateway_hour,
            });
            lines.push(Line {
                item: format!("NAT Elastic IP x{n} (730 h)"),
                usd: n * HOURS_PER_MONTH * prices.public_ipv4_hour,
            });
        }
    };
    let storage = Line {
        item: format!("results in S3 ({} GB)", workload.results_gb),
        usd: workload.results_gb * prices.s3_gb_month,
    };
    let logs = Line {
        item: "CloudWatch Logs ingestion".into(),
        usd: shards * hours * LOG_GB_PER_SHARD_HOUR * prices.logs_ingest_gb,
    };

    let fargate = |spot: bool| {
        let mut fixed = Vec::new();
        nat_fixed(&mut fixed);
        fixed.push(storage.clone());
        let task = task_cost_usd(prices, workload.cpu, workload.memory, workload.run_seconds, workload.arch, spot);
        let mut variable = vec![Line { item: format!("tasks ({shard_runs} task runs)"), usd: shard_runs * task }];
        let mut per_hour = shards
            * task_hour_usd(prices, workload.cpu, workload.memory, workload.arch)
            * if spot { 1.0 - prices.spot_discount } else { 1.0 };
        match workload.network {
            NetworkMode::Public => {
                variable.push(Line { item: "task public IPv4".into(), usd: shards * hours * prices.public_ipv4_hour });
                per_hour += shards * prices.public_ipv4_hour;
            }
            NetworkMode::StaticIp => variable.push(Line {
                item: "NAT data processing".into(),
                usd: workload.runs_per_month * workload.nat_gb_per_run * prices.nat_gateway_gb,
            }),
        }
        variable.push(logs.clone());
        per_hour += shards * LOG_GB_PER_SHARD_HOUR * prices.logs_ingest_gb;
        let size = format!("{} vCPU / {} GB", f64::from(workload.cpu) / 1024.0, f64::from(workload.memory) / 1024.0);
        OptionCost {
            name: if spot { "Fargate Spot".into() } else { "Fargate on-demand".into() },
            mode: if spot { Mode::FargateSpot } else { Mode::Fargate },
            unit: Line {
                item: format!("Fargate{} {size}", if spot { " Spot" } else { "" }),
                usd: task_hour_usd(prices, workload.cpu, workload.memory, workload.arch)
                    * if spot { 1.0 - prices.spot_discount } else { 1.0 },
            },
            fixed,
            variable,
            per_hour,
        }
    };

    let mut warnings = Vec::new();
    let instance = match &workload.instance {
        Some(name) => {
            prices.ec2_hour(name)?;
            if crate::prices::tasks_per_instance(name, workload.cpu, workload.memory) == Some(0) {
                warnings.push(format!(
                    "a {name} carries no task of {} vCPU / {} GB beside the ECS agent's {} MiB: loadgrid's EC2 pool \
                     needs a larger type (the cheapest that fits: {})",
                    f64::from(workload.cpu) / 1024.0,
                    f64::from(workload.memory) / 1024.0,
                    crate::prices::INSTANCE_RESERVED_MIB,
                    fitting_instance(prices, workload.cpu, workload.memory).unwrap_or_else(|e| e.0)
                ));
            }
            name.clone()
        }
        None => fitting_instance(prices, workload.cpu, workload.memory)?,
    };
    let ec2_hour = prices.ec2_hour(&instance)?;
    // EC2 bills per second with a one-minute minimum, like Fargate.
    let billed_hours = workload.runs_per_month * workload.run_seconds.max(60.0) / 3600.0;
    let ec2 = OptionCost {
        name: format!("EC2 pool, started and stopped around runs ({instance}, Elastic IPs)"),
        mode: Mode::Ec2Pool,
        unit: Line { item: format!("EC2 {instance}"), usd: ec2_hour },
        fixed: vec![
            Line {
                item: format!("Elastic IP x{shards} (730 h)"),
                usd: shards * HOURS_PER_MONTH * prices.public_ipv4_hour,
            },
            Line {
                item: format!("root volumes x{shards} ({EC2_ROOT_VOLUME_GB} GB gp3)"),
                usd: shards * f64::from(EC2_ROOT_VOLUME_GB) * prices.ebs_gb_month,
            },
            storage.clone(),
        ],
        variable: vec![
            Line { item: format!("instances ({shard_runs} starts)"), usd: shards * billed_hours * ec2_hour },
            logs.clone(),
        ],
        per_hour: shards * (ec2_hour + LOG_GB_PER_SHARD_HOUR * prices.logs_ingest_gb),
    };

    let options = vec![fargate(false), fargate(true), ec2];
    let network_fee: f64 = options[0].fixed.iter().filter(|l| l.item.starts_with("NAT gateway")).map(|l| l.usd).sum();
    let nat_fee_in_ec2_hours = (network_fee > 0.0).then(|| network_fee / ec2_hour);
    let ec2_option = &options[2];
    let crossovers = options[..2]
        .iter()
        .map(|option| {
            // fixed_f + h * rate_f = fixed_e + h * rate_e
            let slope = ec2_option.per_hour - option.per_hour;
            let gap = option.fixed_total() - ec2_option.fixed_total();
            let hours = (slope.abs() > 1e-12).then(|| gap / slope).filter(|h| *h > 0.0);
            (option.name.clone(), hours)
        })
        .collect();
    Ok(Plan { options, instance, nat_fee_in_ec2_hours, crossovers, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> Workload {
        Workload {
            runs_per_month: 80.0,
            run_seconds: 1800.0,
            shards: 1,
            cpu: 4096,
            memory: 16384,
            arch: Arch::X86,
            network: NetworkMode::StaticIp,
            nat_gateways: 1,
            nat_gb_per_run: 0.0,
            results_gb: 1.0,
            instance: Some("t3.xlarge".into()),
        }
    }

    #[test]
    fn the_published_figures() {
        let plan = plan(&Prices::default(), &workload()).unwrap();
        let fargate = &plan.options[0];
        let nat = fargate.fixed.iter().find(|l| l.item.starts_with("NAT gateway")).unwrap();
        assert!((nat.usd - 32.85).abs() < 1e-9, "730 h x $0.045: {}", nat.usd);
        let hourly = task_hour_usd(&Prices::default(), 4096, 16384, Arch::X86);
        assert!((hourly - 0.233).abs() < 0.01, "{hourly}");
        // The published unit prices, read directly off the plan.
        let units: Vec<(&str, String)> =
            plan.options.iter().map(|o| (o.unit.item.as_str(), format!("{:.4}", o.unit.usd))).collect();
        assert_eq!(
            units,
            [
                ("Fargate 4 vCPU / 16 GB", "0.2330".to_owned()),
                ("Fargate Spot 4 vCPU / 16 GB", "0.0699".to_owned()),
                ("EC2 t3.xlarge", "0.1664".to_owned())
            ]
        );
        let break_even = plan.nat_fee_in_ec2_hours.unwrap();
        assert!((break_even - 197.0).abs() < 1.0, "about 197 h of t3.xlarge: {break_even}");
    }

    #[test]
    fn fixed_and_variable_costs_add_up() {
        let plan = plan(&Prices::default(), &workload()).unwrap();
        let fargate = &plan.options[0];
        // 80 runs x 30 min x $0.23304/h
        let tasks = fargate.variable.iter().find(|l| l.item.starts_with("tasks")).unwrap().usd;
        assert!((tasks - 80.0 * 0.5 * 0.23304).abs() < 1e-3, "{tasks}");
        assert!((fargate.total() - fargate.fixed_total() - fargate.variable_total()).abs() < 1e-12);
        let spot = &plan.options[1];
        assert!(spot.variable_total() < fargate.variable_total());
        assert_eq!(spot.fixed_total(), fargate.fixed_total());
    }

    #[test]
    fn crossovers_are_where_totals_meet() {
        let prices = Prices::default();
        let plan = plan(&prices, &workload()).unwrap();
        let (name, hours) = &plan.crossovers[1];
        assert_eq!(name, "Fargate Spot");
        let hours = hours.expect("Spot is cheaper per hour than EC2, dearer fixed: they cross");
        let at = |option: &OptionCost| option.fixed_total() + hours * option.per_hour;
        assert!((at(&plan.options[1]) - at(&plan.options[2])).abs() < 1e-6);
        assert_eq!(plan.crossovers[0].1, None, "on-demand Fargate is dearer per hour and fixed: EC2 wins at any use");
    }

    #[test]
    fn bad_inputs_are_refused_with_the_reason() {
        let prices = Prices::default();
        let with = |f: &dyn Fn(&mut Workload)| {
            let mut w = workload();
            f(&mut w);
            plan(&prices, &w).unwrap_err().0
        };
        assert!(with(&|w| w.run_seconds = -60.0).contains("--avg-duration (seconds) must be from 0 to"));
        assert_eq!(with(&|w| w.results_gb = 1e308), "--results-gb must be from 0 to 10000000, not 1e308");
        assert!(with(&|w| w.instance = Some("t3.mega".into())).contains("unknown instance type `t3.mega`"));
        assert!(with(&|w| w.memory = 1024).contains("Fargate has no task with cpu 4096 and memory 1024"));
        assert!(with(&|w| w.shards = 0).contains("--shards"));
        assert!(NetworkMode::parse("vpn").unwrap_err().0.contains("unknown network"));
    }

    #[test]
    fn the_smallest_fitting_instance_is_picked() {
        let prices = Prices::default();
        // 16 GiB instances keep 512 MiB for the ECS agent: a 16 GiB task needs a bigger one.
        assert_eq!(fitting_instance(&prices, 4096, 16384).unwrap(), "t3.2xlarge");
        assert_eq!(fitting_instance(&prices, 4096, 15360).unwrap(), "t3.xlarge");
        assert_eq!(fitting_instance(&prices, 1024, 2048).unwrap(), "t3.medium");
        assert_eq!(fitting_instance(&prices, 8192, 16384).unwrap(), "t3.2xlarge");
    }
}
