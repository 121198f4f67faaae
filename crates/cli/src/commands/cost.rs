//! `loadgrid cost` (a month of runs priced three ways) and `loadgrid plan`
//! (shards and task size for a script and a target).

use crate::output::outln;
use loadgrid_cost::capacity::{self, Demand, DEFAULT_PER_VCPU_RPS};
use loadgrid_cost::planner::{self, NetworkMode, OptionCost, Workload};
use loadgrid_cost::{Arch, CostError};
use loadgrid_grid::input_error;

use crate::cli::{CostArgs, PlanArgs};
use crate::settings::Settings;

fn cost_error(error: CostError) -> anyhow::Error {
    input_error(error.0)
}

pub fn monthly(settings: &Settings, args: &CostArgs) -> anyhow::Result<i32> {
    let prices = settings.prices()?;
    let config = &settings.config;
    if args.avg_duration.starts_with('-') {
        return Err(input_error(format!("--avg-duration must be 0s or more, not `{}`", args.avg_duration)));
    }
    let run_seconds = loadgrid_thresholds::parse_duration(&args.avg_duration)
        .map_err(|e| input_error(format!("--avg-duration: {e}")))?
        .as_secs_f64();
    let network = match &args.network {
        Some(network) => NetworkMode::parse(network).map_err(cost_error)?,
        None => NetworkMode::parse(config.infra.network.as_deref().unwrap_or("default-vpc")).map_err(cost_error)?,
    };
    let workload = Workload {
        runs_per_month: args.runs_per_month,
        run_seconds,
        shards: args.shards.or(config.run.shards).unwrap_or(1),
        cpu: args.cpu.or(config.ecs.cpu).or(config.infra.task_cpu).unwrap_or(1024),
        memory: args.memory.or(config.ecs.memory).or(config.infra.task_memory).unwrap_or(2048),
        arch: if args.arch == "arm" { Arch::Arm } else { Arch::X86 },
        network,
        nat_gateways: if args.nat_per_az || config.infra.nat_per_az == Some(true) { 2 } else { 1 },
        nat_gb_per_run: args.nat_gb_per_run,
        results_gb: args.results_gb,
        instance: args.instance.clone(),
    };
    let plan = planner::plan(&prices, &workload).map_err(cost_error)?;
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    let spot = config.ecs.spot.unwrap_or(false);
    let shown: Vec<&OptionCost> =
        if args.compare { plan.options.iter().collect() } else { vec![&plan.options[usize::from(spot)]] };
    if args.json {
        let options: Vec<_> = shown
            .iter()
            .map(|o| {
                let lines = |lines: &[planner::Line]| {
                    lines.iter().map(|l| serde_json::json!({ "item": l.item, "usd": l.usd })).collect::<Vec<_>>()
                };
                serde_json::json!({
                    "option": o.name, "mode": o.mode, "run": o.mode.how_to_run(),
                    "unit": { "item": o.unit.item, "usd_per_hour": o.unit.usd },
                    "fixed": lines(&o.fixed), "variable": lines(&o.variable),
                    "fixed_usd": o.fixed_total(), "variable_usd": o.variable_total(), "total_usd": o.total(),
                    "usd_per_grid_hour": o.per_hour,
                })
            })
            .collect();
        let value = serde_json::json!({
            "prices_as_of": loadgrid_cost::prices::PRICES_AS_OF,
            "grid_hours_per_month": workload.hours(),
            "options": options,
            "nat_fee_in_ec2_hours": plan.nat_fee_in_ec2_hours,
            "warnings": plan.warnings,
            "crossover_hours": plan.crossovers.iter().map(|(n, h)| serde_json::json!({ "option": n, "hours": h })).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(0);
    }
    outln!(
        "{} runs/month x {} x {} shard(s) of {} vCPU / {} GB, network {}: {:.1} grid hours a month",
        workload.runs_per_month,
        args.avg_duration,
        workload.shards,
        f64::from(workload.cpu) / 1024.0,
        f64::from(workload.memory) / 1024.0,
        if network == NetworkMode::StaticIp { "static-ip" } else { "public" },
        workload.hours()
    );
    outln!("prices: {} list prices (override under [cost])\n", loadgrid_cost::prices::PRICES_AS_OF);
    for option in &shown {
        outln!("{}", option.name);
        outln!("  run       {}", option.mode.how_to_run());
        outln!("  unit      {:<40} ${:>9.4}/h", option.unit.item, option.unit.usd);
        for line in &option.fixed {
            outln!("  fixed     {:<40} ${:>9.2}", line.item, line.usd);
        }
        for line in &option.variable {
            outln!("  variable  {:<40} ${:>9.2}", line.item, line.usd);
        }
        outln!(
            "  total     {:<40} ${:>9.2}   (fixed ${:.2} + variable ${:.2}; ${:.4} per grid hour)\n",
            "a month",
            option.total(),
            option.fixed_total(),
            option.variable_total(),
            option.per_hour
        );
    }
    if args.compare {
        if let Some(hours) = plan.nat_fee_in_ec2_hours {
            outln!(
                "break-even: the NAT gateway's monthly fee buys {hours:.0} h of {}; below that many hours of use a month, EC2 start/stop costs less than the fee alone",
                plan.instance
            );
        }
        for (name, hours) in &plan.crossovers {
            match hours {
                Some(h) => outln!("crossover: {name} and EC2 cost the same at {h:.0} grid hours a month"),
                None => outln!("crossover: {name} and EC2 never cost the same (one is cheaper at any use)"),
            }
        }
    }
    Ok(0)
}

pub async fn plan(settings: &Settings, args: &PlanArgs) -> anyhow::Result<i32> {
    let prices = settings.prices()?;
    let k6 = settings.k6()?;
    loadgrid_grid::prepare::check_script(&args.script)?;
    let inspected = k6.inspect(&args.script).await.map_err(|e| input_error(e.to_string()))?;
    let options = loadgrid_plan::inspect::parse(&inspected).map_err(|e| input_error(format!("k6 inspect: {e}")))?;
    let demand = Demand {
        target_rps: args.target_rps,
        max_vus: args.target_vus.unwrap_or(options.max_vus),
        per_vcpu_rps: args.per_vcpu_rps.unwrap_or(DEFAULT_PER_VCPU_RPS),
    };
    let suggestion = capacity::suggest(&prices, &demand).map_err(cost_error)?;
    outln!(
        "script: {} VUs at most, {}s in all (k6 inspect --execution-requirements)",
        options.max_vus,
        options.total_duration.as_secs()
    );
    if let Some(rps) = demand.target_rps {
        outln!(
            "target: {rps:.0} req/s at ~{:.0} req/s per vCPU, {:.0} % CPU headroom",
            demand.per_vcpu_rps,
            (1.0 - capacity::CPU_HEADROOM) * 100.0
        );
    }
    outln!(
        "suggested: --shards {} --cpu {} --memory {}   (${:.3} per hour of grid on Fargate on-demand)",
        suggestion.shards,
        suggestion.cpu,
        suggestion.memory,
        suggestion.usd_per_hour
    );
    let configured = (
        settings.config.ecs.cpu.or(settings.config.infra.task_cpu),
        settings.config.ecs.memory.or(settings.config.infra.task_memory),
    );
    if let (Some(cpu), Some(memory)) = configured {
        let shards = settings.config.run.shards.unwrap_or(1);
        for warning in capacity::starvation_warnings(&demand, shards, cpu, memory) {
            outln!("warning (your config: {shards} shards of {cpu}/{memory}): {warning}");
        }
    }
    for warning in &suggestion.warnings {
        outln!("warning: {warning}");
    }
    Ok(0)
}
