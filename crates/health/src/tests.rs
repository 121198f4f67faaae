use super::*;

const MIB: u64 = 1024 * 1024;

fn task(cpu_cores: f64) -> Allowance {
    Allowance { pool: Pool::Task, cpu_cores, memory_bytes: 8192 * MIB }
}

/// `seconds` samples, the first `busy` of them at `busy_cores`, the rest calm.
fn health(allowance: Allowance, seconds: usize, busy: usize, busy_cores: f64) -> ShardHealth {
    let samples = (0..seconds)
        .map(|i| {
            let cores = if i < busy { busy_cores } else { 0.2 * allowance.cpu_cores };
            Sample {
                at_ms: 1_700_000_000_000 + 1000 * i as i64,
                k6_cpu: cores * 0.9,
                pool_cpu: cores,
                k6_memory_bytes: allowance.memory_bytes / 20,
                pool_memory_bytes: allowance.memory_bytes / 10,
                sockets: 20,
                net_rx_bytes: 1000,
                net_tx_bytes: 100,
                seconds: 1,
            }
        })
        .collect();
    ShardHealth { allowance, samples, log: LogSignals::default(), oom_kills: 0, clock_offset: None }
}

const FOUR_SHARDS_ON_ECS: Grid = Grid { shards: 4, on_this_machine: false };

#[test]
fn a_shard_pegged_for_41_of_60_seconds_is_named_with_its_signal_and_fix() {
    let health = health(task(4.0), 60, 41, 3.92);
    let findings = judge(&health, 0, &Limits::default());
    assert_eq!(findings, vec![Finding::Cpu { saturated_seconds: 41, seconds: 60, peak_percent: 98.0 }]);
    assert_eq!(
        message(2, &findings[0], &health.allowance, &FOUR_SHARDS_ON_ECS),
        "shard 2 ran at 98% CPU of its task (4 cores) for 41 s of 60 s: its latencies include client-side queueing; \
         use 6 shards (`loadgrid plan` sizes this) or give each shard more CPU (`--cpu`, 1024 units = 1 vCPU)"
    );
}

#[test]
fn busy_seconds_up_to_the_time_limit_are_not_saturation() {
    // 6 of 60 seconds is exactly 10%: not more than it.
    assert_eq!(judge(&health(task(4.0), 60, 6, 4.0), 0, &Limits::default()), vec![]);
    assert_eq!(judge(&health(task(4.0), 60, 7, 4.0).clone(), 0, &Limits::default()).len(), 1);
    // Below the CPU limit, however long.
    assert_eq!(judge(&health(task(4.0), 60, 60, 3.5), 0, &Limits::default()), vec![]);
}

#[test]
fn one_busy_second_in_a_short_test_is_noise() {
    assert_eq!(judge(&health(task(1.0), 3, 1, 1.0), 0, &Limits::default()), vec![]);
    assert_eq!(judge(&health(task(1.0), 3, 2, 1.0), 0, &Limits::default()).len(), 1);
}

#[test]
fn limits_from_config_change_the_judgement() {
    let strict = Limits { cpu_percent: 50.0, cpu_time_percent: 5.0, ..Limits::default() };
    assert_eq!(judge(&health(task(4.0), 60, 4, 2.4), 0, &strict).len(), 1);
    assert_eq!(judge(&health(task(4.0), 60, 4, 2.4), 0, &Limits::default()), vec![]);
}

#[test]
fn a_host_with_more_shards_than_cores_says_so() {
    let host = Allowance { pool: Pool::Host, cpu_cores: 2.0, memory_bytes: 24 * 1024 * MIB };
    let finding = Finding::Cpu { saturated_seconds: 9, seconds: 10, peak_percent: 100.0 };
    assert_eq!(
        message(1, &finding, &host, &Grid { shards: 3, on_this_machine: true }),
        "shard 1 ran at 100% CPU of this machine (2 cores) for 9 s of 10 s: its latencies include client-side queueing; \
         run at most 2 shards on this machine's 2 cores, or on ECS (`--backend ecs`)"
    );
    assert!(message(1, &finding, &host, &Grid { shards: 2, on_this_machine: true }).ends_with(
        "this machine cannot generate this load: run it on ECS (`--backend ecs`; `loadgrid plan` sizes the grid)"
    ));
}

#[test]
fn memory_near_the_limit_is_saturation() {
    let container = Allowance { pool: Pool::Container, cpu_cores: 0.5, memory_bytes: 256 * MIB };
    let mut health = health(container, 10, 0, 0.0);
    health.samples[7].pool_memory_bytes = 245 * MIB;
    let findings = judge(&health, 0, &Limits::default());
    assert_eq!(findings.len(), 1);
    assert_eq!(
        message(0, &findings[0], &container, &Grid { shards: 1, on_this_machine: true }),
        "shard 0 used 96% of the memory of its container (256 MiB): k6 may be killed for memory before the test ends; \
         give each shard more memory (`--memory`, MiB) or use 2 shards"
    );
}

#[test]
fn a_kill_for_memory_is_named_as_the_cause() {
    let container = Allowance { pool: Pool::Container, cpu_cores: 1.0, memory_bytes: 96 * MIB };
    let health = ShardHealth { oom_kills: 1, ..health(container, 4, 0, 0.0) };
    let findings = judge(&health, 0, &Limits::default());
    assert_eq!(findings, [Finding::OutOfMemory { kills: 1, limit_bytes: 96 * MIB }]);
    assert_eq!(
        message(1, &findings[0], &container, &Grid { shards: 2, on_this_machine: true }),
        "shard 1 ran out of the memory of its container (96 MiB): the kernel killed 1 process: the shard's test was \
         cut short; give each shard more memory (`--memory`, MiB) or use 3 shards"
    );
}

#[test]
fn k6s_own_signals_are_findings() {
    let mut health = health(task(1.0), 10, 0, 0.0);
    for line in [
        r#"time="2026-12-02T10:00:01Z" level=warning msg="Insufficient VUs, reached 20 active VUs and cannot initialize more" executor=constant-arrival-rate scenario=default"#,
        r#"time="2026-12-02T10:00:02Z" level=warning msg="Request Failed" error="Get \"http://127.0.0.1:8089/\": dial tcp 127.0.0.1:8089: socket: too many open files""#,
        r#"time="2026-12-02T10:00:02Z" level=warning msg="Request Failed" error="Get \"http://127.0.0.1:8089/\": dial tcp 127.0.0.1:8089: socket: too many open files""#,
        r#"time="2026-12-02T10:00:03Z" level=warning msg="Request Failed" error="Get \"http://10.0.0.1/\": dial tcp 10.0.0.1:80: i/o timeout""#,
        r#"time="2026-12-02T10:00:03Z" level=warning msg="Request Failed" error="Get \"http://127.0.0.1:1/\": dial tcp 127.0.0.1:1: connect: connection refused""#,
        r#"time="2026-12-02T10:00:04Z" level=info msg="a line the script logged""#,
    ] {
        health.log.read(line);
    }
    assert_eq!(health.log.insufficient_vus, 1);
    // A refused connection is the target's answer, not the generator's limit.
    assert_eq!(
        health.log.client_errors,
        [("dial timeout".to_owned(), 1), ("too many open files".to_owned(), 2)].into_iter().collect()
    );
    let findings = judge(&health, 12, &Limits::default());
    let problems: Vec<String> = findings.iter().map(|f| f.problem(&health.allowance)).collect();
    assert_eq!(
        problems,
        [
            "dropped 12 iterations",
            "logged 1 \"Insufficient VUs\" warning",
            "hit 3 client-side request errors (too many open files)"
        ]
    );
}

#[test]
fn limits_must_be_percentages() {
    assert_eq!(Limits::default().check(), Ok(()));
    assert_eq!(
        Limits { cpu_percent: 0.0, ..Limits::default() }.check(),
        Err("[health] cpu_percent is 0: it is a percentage above 0 and at most 100".to_owned())
    );
    assert_eq!(
        Limits { memory_percent: 150.0, ..Limits::default() }.check(),
        Err("[health] memory_percent is 150: it is a percentage above 0 and at most 100".to_owned())
    );
}

#[test]
fn the_summary_says_saturated_names_the_messages_and_measures_start_skew() {
    let calm = health(task(4.0), 60, 0, 0.0);
    let busy = health(task(4.0), 60, 41, 3.92);
    let inputs = [
        ShardInput { shard: 0, health: &calm, dropped_iterations: 0 },
        ShardInput { shard: 1, health: &busy, dropped_iterations: 0 },
    ];
    let fail = Limits { on_saturation: OnSaturation::Fail, ..Limits::default() };
    let summary = HealthSummary::build(&inputs, &[1000, 1012], fail, &Grid { shards: 2, on_this_machine: false });
    assert_eq!(summary.status, HealthStatus::Saturated);
    assert!(summary.fails_the_run());
    assert_eq!(summary.start_skew_ms, Some(12));
    assert_eq!(summary.messages.len(), 1);
    assert!(summary.messages[0].starts_with("shard 1 ran at 98% CPU"), "{}", summary.messages[0]);
    assert_eq!(summary.shards[1].cpu_saturated_seconds, 41);
    assert_eq!(summary.shards[0].cpu_peak_percent, 20.0);
    assert_eq!(summary.shards[0].net_rx_bytes, 60_000);

    let calm_only = HealthSummary::build(&inputs[..1], &[1000], fail, &Grid { shards: 1, on_this_machine: false });
    assert_eq!((calm_only.status, calm_only.fails_the_run()), (HealthStatus::Healthy, false));
    assert_eq!(HealthSummary::build(&[], &[], fail, &FOUR_SHARDS_ON_ECS).status, HealthStatus::Unknown);
}

#[test]
fn a_clock_surely_off_by_more_than_50_ms_is_a_warning_not_a_finding() {
    let mut late = health(task(1.0), 10, 0, 0.0);
    late.clock_offset = Some(ClockOffset { offset_ms: 120, uncertainty_ms: 8 });
    let mut close = health(task(1.0), 10, 0, 0.0);
    close.clock_offset = Some(ClockOffset { offset_ms: -30, uncertainty_ms: 4 });
    let inputs = [
        ShardInput { shard: 0, health: &close, dropped_iterations: 0 },
        ShardInput { shard: 3, health: &late, dropped_iterations: 0 },
    ];
    let summary = HealthSummary::build(&inputs, &[0, 0], Limits::default(), &FOUR_SHARDS_ON_ECS);
    assert_eq!(summary.status, HealthStatus::Healthy);
    assert_eq!(
        summary.clock_warnings,
        [
            "shard 3's clock is 120 ms behind the store's (±8 ms): shards start together by their own clocks, so this \
          one started about that much late; sync its clock (chrony or NTP; ECS tasks use the Amazon Time Sync Service)"
        ]
    );
    assert_eq!(summary.shards[0].clock_offset, Some(ClockOffset { offset_ms: -30, uncertainty_ms: 4 }));
}

/// Eight hours of samples: a status of at most [`MAX_SAMPLES`] samples
/// that still counts every second and keeps the peaks.
#[test]
fn a_long_test_keeps_bounded_samples_with_every_second_and_peak() {
    let mut long = health(task(4.0), 8 * 3600, 3600, 3.92);
    long.samples[20_000].pool_memory_bytes = long.allowance.memory_bytes;
    long.bound();
    assert!(long.samples.len() <= MAX_SAMPLES, "{}", long.samples.len());
    assert_eq!(long.seconds(), 8 * 3600);
    let findings = judge(&long, 0, &Limits::default());
    // The busy hour ends inside a folded bucket, which counts as busy whole:
    // the count errs by less than one bucket, towards saying so.
    let bucket = long.samples[0].seconds;
    match findings.as_slice() {
        [Finding::Cpu { saturated_seconds, seconds: 28_800, peak_percent }, Finding::Memory { peak_percent: memory, .. }] =>
        {
            assert!(
                (3600..3600 + bucket).contains(saturated_seconds),
                "{saturated_seconds} with buckets of {bucket} s"
            );
            assert_eq!((*peak_percent, *memory), (98.0, 100.0));
        }
        other => panic!("{other:?}"),
    }
    let bytes = serde_json::to_vec(&long).unwrap().len();
    assert!(bytes < 250_000, "{bytes} bytes");
}

#[test]
fn long_runs_are_downsampled_keeping_each_buckets_peak() {
    let mut points: Vec<Point> = (0..8 * 3600).map(|t| Point { t, cpu_percent: 30.0, memory_percent: 10.0 }).collect();
    points[12_345].cpu_percent = 99.0;
    let drawn = downsample(&points, MAX_POINTS);
    assert!(drawn.len() <= MAX_POINTS, "{}", drawn.len());
    assert_eq!(drawn.iter().map(|p| p.cpu_percent).fold(0.0, f64::max), 99.0);
    assert_eq!(drawn[0].t, 0);
}

#[test]
fn findings_are_spelled_by_signal_in_json() {
    let finding = Finding::DroppedIterations { count: 3 };
    assert_eq!(serde_json::to_string(&finding).unwrap(), r#"{"signal":"dropped_iterations","count":3}"#);
    assert_eq!(finding.signal(), "dropped_iterations");
}
