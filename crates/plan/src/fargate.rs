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
