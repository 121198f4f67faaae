//! The task sizes Fargate offers (Linux), checked before anything launches.

/// `(cpu units, lowest MiB, highest MiB, step MiB)`, from the ECS developer
/// guide's "Task CPU and memory" table.
const SIZES: &[(u32, u32, u32, u32)] = &[
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

/// Fails with the valid choices when Fargate has no such task size.
pub fn check_task_size(cpu: u32, memory: u32) -> Result<(), String> {
    let Some(&(_, low, high, step)) = SIZES.iter().find(|(units, ..)| *units == cpu) else {
        let valid: Vec<String> = SIZES.iter().map(|(units, ..)| units.to_string()).collect();
        return Err(format!("Fargate has no task with cpu {cpu}; valid cpu units: {}", valid.join(", ")));
    };
    // 256 CPU units also allows 512 MiB, which the 512 step below covers.
    if memory < low || memory > high || !(memory - low).is_multiple_of(step) {
        return Err(format!(
            "Fargate has no task with cpu {cpu} and memory {memory} MiB; with cpu {cpu}, memory is {low} to {high} MiB \
             in steps of {step}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_sizes_pass_and_others_say_what_is_valid() {
        for (cpu, memory) in [(256, 512), (1024, 2048), (4096, 16384), (4096, 30720), (16384, 122880)] {
            assert_eq!(check_task_size(cpu, memory), Ok(()), "{cpu}/{memory}");
        }
        let error = check_task_size(1024, 1024).unwrap_err();
        assert!(error.contains("2048 to 8192"), "{error}");
        assert!(check_task_size(8192, 18432).is_err(), "8 vCPU memory goes in 4 GiB steps");
        assert!(check_task_size(3000, 8192).unwrap_err().contains("valid cpu units"));
    }
}

/// Fargate list prices, Linux/x86, us-east-1, as published in 2025–2026.
/// `loadgrid cost` (with overrides) is the place for other regions and
/// architectures; these serve the running-cost estimate of `loadgrid ps`.
pub const VCPU_HOUR_USD: f64 = 0.04048;
pub const GB_HOUR_USD: f64 = 0.004445;
/// Fargate Spot's usual discount on the on-demand price (AWS: "up to 70%").
pub const SPOT_DISCOUNT: f64 = 0.70;

/// What one task of `cpu` units and `memory` MiB costs for `seconds`:
/// billed per second, with a one-minute minimum.
pub fn task_cost_usd(cpu: u32, memory: u32, seconds: f64, spot: bool) -> f64 {
    let billed_hours = seconds.max(60.0) / 3600.0;
    let hourly = f64::from(cpu) / 1024.0 * VCPU_HOUR_USD + f64::from(memory) / 1024.0 * GB_HOUR_USD;
    hourly * billed_hours * if spot { 1.0 - SPOT_DISCOUNT } else { 1.0 }
}

#[cfg(test)]
mod cost_tests {
    use super::*;

    #[test]
    fn billing_is_per_second_with_a_one_minute_minimum() {
        let hour = task_cost_usd(4096, 16384, 3600.0, false);
        assert!((hour - 0.233).abs() < 0.01, "4 vCPU / 16 GB: {hour}");
        assert_eq!(task_cost_usd(1024, 2048, 10.0, false), task_cost_usd(1024, 2048, 60.0, false));
        assert!(task_cost_usd(1024, 2048, 61.0, false) > task_cost_usd(1024, 2048, 60.0, false));
        let spot = task_cost_usd(1024, 2048, 600.0, true) / task_cost_usd(1024, 2048, 600.0, false);
        assert!((spot - 0.3).abs() < 1e-9);
    }
}
