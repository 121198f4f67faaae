//! The ECS backend end to end against moto, with the harness playing
//! Fargate's container runtime (see `common/aws.rs`). Every AWS call
//! loadgrid makes crosses the real wire protocols.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::aws::{AwsWorld, FakeFargate, Fault};
use common::{interrupt, k6_path, value, Grid, Outcome};

/// 20 s of steady load, for tests that act mid-run.
const LONG_SCRIPT: &str = r#"
import http from "k6/http";
import { sleep } from "k6";
export const options = { vus: 4, duration: "20s" };
export default function () {
  http.get(`${__ENV.BASE_URL}/ok?delay=10ms`);
  sleep(0.05);
}
"#;

const CAPACITY_FAILURE: &str = r#"{"tasks":[],"failures":[{"reason":"Capacity is unavailable at this time. Please try again later or in a different availability zone"}]}"#;

const SCRIPT: &str = r#"
import http from "k6/http";
export const options = {
  scenarios: { main: { executor: "per-vu-iterations", vus: 8, iterations: 5, maxDuration: "60s" } },
};
export default function () {
  http.get(`${__ENV.BASE_URL}/ok?delay=5ms`);
  http.get(`${__ENV.BASE_URL}/other?delay=1ms`);
}
"#;

struct EcsGrid {
    grid: Grid,
    world: AwsWorld,
    fargate: Option<FakeFargate>,
}

impl EcsGrid {
    fn new(extra_run: &str) -> EcsGrid {
        let grid = Grid::new();
        let world = AwsWorld::new();
        std::fs::write(grid.path("loadgrid.toml"), world.config_toml(extra_run)).unwrap();
        let agent_env = vec![("LOADGRID_K6".to_owned(), k6_path().display().to_string())];
        let fargate = FakeFargate::start(&world, &grid.path("tasks"), agent_env);
        EcsGrid { grid, world, fargate: Some(fargate) }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = self.grid.command(args);
        command.envs(self.world.env());
        command
    }

    fn run(&self, args: &[&str]) -> Outcome {
        Outcome::from(self.command(args).output().unwrap())
    }

    /// Starts `loadgrid` with its output captured; `wait_with_output` ends it.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    fn script(&self) -> String {
        self.grid.script("checkout.js", SCRIPT)
    }

    fn base_url(&self) -> String {
        format!("BASE_URL={}", self.grid.target_url)
    }

    /// Fargate's runtime starting the real runner image for every task,
    /// with the task's container overrides.
    fn with_image() -> EcsGrid {
        let grid = Grid::new();
        let image = common::docker::runner_image(&grid);
        let world = AwsWorld::new();
        std::fs::write(grid.path("loadgrid.toml"), world.config_toml("")).unwrap();
        let fargate = FakeFargate::start_image(&world, image);
        EcsGrid { grid, world, fargate: Some(fargate) }
    }

    /// Without the fake runtime: tasks stay RUNNING in moto with no agent,
    /// for tests of launching and stopping only.
    fn without_runtime(extra_run: &str) -> EcsGrid {
        let grid = Grid::new();
        let world = AwsWorld::new();
        std::fs::write(grid.path("loadgrid.toml"), world.config_toml(extra_run)).unwrap();
        EcsGrid { grid, world, fargate: None }
    }

    /// Waits until the store holds an object whose key ends with `suffix`; returns the run id.
    fn wait_for_object(&self, suffix: &str, timeout: Duration) -> String {
        self.world.wait_for_object(suffix, timeout)
    }

    fn summary(&self, run_id: &str) -> serde_json::Value {
        let key = format!("team/runs/{run_id}/summary.json");
        let (_, bytes) = self.world.bucket_objects().into_iter().find(|(k, _)| *k == key).expect("summary.json");
        serde_json::from_slice(&bytes).unwrap()
    }

    fn running_tasks(&self) -> usize {
        self.world.task_statuses().values().filter(|s| *s != "STOPPED").count()
    }
}

impl Drop for EcsGrid {
    fn drop(&mut self) {
        self.fargate.take();
    }
}

/// Every task a container of the real runner image (uid 10001, read-only
/// root), started with the `RunTask` call's overrides: the grid runs, merges
/// and stops as with agent processes.
#[test]
fn the_real_runner_image_runs_an_ecs_grid() {
    let ecs = EcsGrid::with_image();
    let script = ecs.script();
    let summary = ecs.run(&["run", &script, "--shards", "2", "-e", &ecs.base_url(), "--json"]).exit(0).json();
    assert_eq!(value(&summary, "iterations", "count"), 40.0);
    assert_eq!(value(&summary, "http_reqs", "count"), 80.0);
    for shard in summary["shards"].as_array().unwrap() {
        assert_eq!(shard["outcome"], "completed", "{shard}");
    }
    assert_eq!(ecs.fargate.as_ref().unwrap().started.lock().unwrap().len(), 2, "two tasks ran the image");
    // Each shard judged against its task's size, its clock read against
    // the store's (the same machine's clock here: no warning).
    let health = &summary["health"];
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["clock_warnings"], serde_json::json!([]));
    for shard in health["shards"].as_array().unwrap() {
        assert_eq!(shard["allowance"]["pool"], "task", "{shard}");
        assert_eq!(shard["allowance"]["cpu_cores"], 1.0, "the task definition's 1024 CPU units: {shard}");
        let clock = &shard["clock_offset"];
        let (offset, uncertainty) = (clock["offset_ms"].as_i64().unwrap(), clock["uncertainty_ms"].as_i64().unwrap());
        // A test this short leaves time for a few probes only: the reading
        // is unsure, and agrees with no offset at all.
        assert!(uncertainty < 1000 && offset.abs() <= uncertainty + 20, "{clock}");
    }
    assert!(
        ecs.world.log_lines().iter().any(|line| line.contains("loadgrid agent: shard 1 resumed")),
        "the containers' output reached the tasks' log streams"
    );
    assert_eq!(ecs.running_tasks(), 0, "no task of the run is left RUNNING");
}

#[test]
fn four_shards_on_ecs_match_the_local_grid() {
    let ecs = EcsGrid::new("");
    let script = ecs.script();
    let base = ecs.base_url();
    let on_ecs =
        ecs.run(&["run", &script, "--shards", "4", "-e", &base, "--json", "--threshold", "http_reqs: count==80"]);
    on_ecs.exit(0);
    let on_ecs_stderr = on_ecs.stderr.clone();
    let local = ecs.run(&[
        "run",
        &script,
        "--shards",
        "4",
        "-e",
        &base,
        "--json",
        "--backend",
        "local",
        "--store",
        ".loadgrid",
        "--threshold",
        "http_reqs: count==80",
    ]);
    local.exit(0);
    let (on_ecs, local) = (on_ecs.json(), local.json());
    for (metric, key) in [("http_reqs", "count"), ("iterations", "count"), ("checks", "passes")] {
        if on_ecs["metrics"].get(metric).is_none() {
            continue;
        }
        assert_eq!(value(&on_ecs, metric, key), value(&local, metric, key), "{metric}.{key}");
    }
    assert_eq!(value(&on_ecs, "http_reqs", "count"), 80.0);
    assert_eq!(value(&on_ecs, "iterations", "count"), 40.0);
    assert_eq!(on_ecs["shards"].as_array().unwrap().len(), 4);
    for shard in on_ecs["shards"].as_array().unwrap() {
        assert_eq!(shard["outcome"], "completed", "{shard}");
        assert_eq!(shard["iterations"], 10, "8 VUs × 5 iterations over 4 shards: {shard}");
    }
    assert_eq!(ecs.running_tasks(), 0, "every task of the run has stopped");

    // The agents' output is in CloudWatch Logs, by shard.
    let run_id = on_ecs["run_id"].as_str().unwrap();
    let logs = ecs.run(&["logs", run_id, "--shard", "2"]);
    logs.exit(0);
    assert!(logs.stdout.contains("[shard 2] loadgrid agent: task"), "{}", logs.stdout);
    assert!(!logs.stdout.contains("[shard 1]"), "{}", logs.stdout);

    // The run is priced. ECS's task timestamps (billing.json) are what real
    // runs are priced from; moto reports none, so this run falls back to the
    // shards' run times.
    let objects = ecs.world.bucket_objects();
    assert!(objects.iter().any(|(key, _)| key.ends_with(&format!("runs/{run_id}/billing.json"))));
    let record =
        objects.iter().find(|(key, _)| key.contains("/history/") && key.ends_with(&format!("-{run_id}.json"))).unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record.1).unwrap();
    assert!(record["cost_usd"].as_f64().unwrap() > 0.0, "{record}");
    assert!(on_ecs_stderr.contains("cost: ~$"), "{on_ecs_stderr}");

    // The same thresholds decide the exit code on both backends.
    let crossed = ecs.run(&["run", &script, "--shards", "4", "-e", &base, "--threshold", "http_reqs: count<80"]);
    crossed.exit(99);
}

#[test]
fn launching_25_shards_takes_3_run_task_calls() {
    let ecs = EcsGrid::without_runtime("");
    // A VU for every shard: fewer would leave tasks with nothing to do.
    let script = ecs.grid.script("wide.js", &SCRIPT.replace("vus: 8", "vus: 25"));
    let outcome = ecs.run(&["run", &script, "--shards", "25", "--name", "checkout", "-e", &ecs.base_url(), "--detach"]);
    outcome.exit(0);
    let run_id = outcome.stdout.trim().to_owned();
    assert_eq!(ecs.world.proxy.count("ecs:RunTask"), 3, "10 + 10 + 5");
    let statuses = ecs.world.task_statuses();
    assert_eq!(statuses.len(), 25);
    assert!(statuses.values().all(|s| s == "RUNNING"));

    // `loadgrid ps` lists the grid by its tags.
    let grids = ecs.run(&["ps", "--json"]);
    let grids = grids.exit(0).json();
    assert_eq!(grids.as_array().unwrap().len(), 1, "{grids}");
    assert_eq!(grids[0]["run_id"], run_id.as_str());
    assert_eq!(grids[0]["tasks"], 25);
    assert_eq!(grids[0]["test"], "checkout");

    // `loadgrid stop` finds them by run and stops every one.
    ecs.run(&["stop", &run_id]).exit(0).stderr_contains("stop 25 tasks");
    assert_eq!(ecs.running_tasks(), 0);
}

#[test]
fn capacity_failures_are_retried_without_extra_tasks() {
    let ecs = EcsGrid::without_runtime("");
    ecs.world.proxy.inject(Fault {
        action: "ecs:RunTask".into(),
        body_contains: None,
        times: 2,
        response: CAPACITY_FAILURE.into(),
        forward: false,
    });
    let outcome = ecs.run(&["run", &ecs.script(), "--shards", "4", "-e", &ecs.base_url(), "--detach"]);
    outcome.exit(0).stderr_contains("retrying in");
    assert_eq!(ecs.world.proxy.count("ecs:RunTask"), 3, "two refusals, then the launch");
    assert_eq!(ecs.world.task_statuses().len(), 4, "exactly the grid's tasks, none extra");
    ecs.run(&["stop", "--all"]).exit(0);
    assert_eq!(ecs.running_tasks(), 0);
}

/// A `RunTask` that AWS carried out but whose answer was lost (here: an
/// answer that cannot be read): the tasks it started are found by the
/// run, stopped, and the message says only what was checked.
#[test]
fn an_ambiguous_launch_leaves_no_orphan_and_does_not_lie() {
    let ecs = EcsGrid::without_runtime("");
    ecs.world.proxy.inject(Fault {
        action: "ecs:RunTask".into(),
        body_contains: None,
        times: 1,
        response: r#"{"tasks": [{"taskArn": 17, "cpu": {}}], "failures": "garbled"}"#.into(),
        forward: true,
    });
    let script = ecs.grid.script("wide.js", &SCRIPT.replace("vus: 8", "vus: 12"));
    let outcome = ecs.run(&["run", &script, "--shards", "12", "-e", &ecs.base_url(), "--detach"]);
    outcome
        .exit(1)
        .stderr_contains("error: could not launch every shard: shards ")
        .stderr_contains("RunTask failed")
        .stderr_contains("12 tasks of this run started and 12 were stopped: none is left running");
    assert_eq!(ecs.world.task_statuses().len(), 12, "the garbled call did start its tasks");
    assert_eq!(ecs.running_tasks(), 0, "and none was left behind");
}

/// Tasks that run but never get ready (an agent that cannot reach the
/// store, a bad image) stop the grid at the start timeout, with the cause,
/// and leave no task running.
#[test]
fn tasks_that_never_get_ready_stop_at_the_start_timeout() {
    let ecs = EcsGrid::without_runtime("");
    let started = std::time::Instant::now();
    let outcome = ecs.run(&["run", &ecs.script(), "--shards", "4", "-e", &ecs.base_url(), "--start-timeout", "3s"]);
    outcome
        .exit(1)
        .stderr_contains("the grid did not start within 3s: shards 0-3 never got ready")
        .stderr_contains("stopping every shard");
    outcome.json_or_text_contains(
        "verdict: FAILED (exit 1) — the grid did not start within 3s: shards 0-3 never got ready",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(40), "took {:?}", started.elapsed());
    assert_eq!(ecs.running_tasks(), 0);
}

/// The price a minute is said before any task starts, and a grid over
/// `[ecs] max_tasks` needs `--yes` when there is no terminal to ask on.
#[test]
fn large_grids_need_approval_and_every_launch_says_its_price() {
    let ecs = EcsGrid::without_runtime("");
    let mut config = std::fs::read_to_string(ecs.grid.path("loadgrid.toml")).unwrap();
    config = config.replace("[ecs]\n", "[ecs]\nmax_tasks = 3\n");
    std::fs::write(ecs.grid.path("loadgrid.toml"), config).unwrap();
    let refused = ecs.run(&["run", &ecs.script(), "--shards", "4", "-e", &ecs.base_url(), "--detach"]);
    refused.exit(2).stderr_contains("launch: 4 Fargate tasks of 1 vCPU / 2 GB: about $0.").stderr_contains(
        "error: 4 tasks is more than [ecs] max_tasks (3), and there is no terminal to ask on: pass --yes to approve \
             it (as in CI), or raise `max_tasks` under [ecs]; nothing was started",
    );
    assert_eq!(ecs.world.proxy.count("ecs:RunTask"), 0);
    assert!(ecs.world.bucket_objects().is_empty(), "nothing was stored");
    let approved = ecs.run(&["run", &ecs.script(), "--shards", "4", "-e", &ecs.base_url(), "--detach", "--yes"]);
    approved.exit(0).stderr_contains("a minute at list prices");
    assert_eq!(ecs.world.task_statuses().len(), 4);
    ecs.run(&["stop", "--all"]).exit(0);
}

#[test]
fn spot_without_capacity_falls_back_to_on_demand() {
    let ecs = EcsGrid::without_runtime("");
    ecs.world.proxy.inject(Fault {
        action: "ecs:RunTask".into(),
        body_contains: Some("FARGATE_SPOT".into()),
        times: 100,
        response: CAPACITY_FAILURE.into(),
        forward: false,
    });
    let outcome = ecs.run(&["run", &ecs.script(), "--shards", "4", "-e", &ecs.base_url(), "--detach", "--spot"]);
    outcome.exit(0).stderr_contains("falling back to FARGATE");
    assert_eq!(ecs.world.proxy.count("ecs:RunTask"), 2, "one Spot attempt, one on-demand launch");
    assert_eq!(ecs.world.task_statuses().len(), 4);
    ecs.run(&["stop", "--all"]).exit(0);
}

#[test]
fn interrupt_stops_every_task_and_keeps_what_was_measured() {
    let ecs = EcsGrid::new("");
    let script = ecs.grid.script("long.js", LONG_SCRIPT);
    let child = ecs.spawn(&["run", &script, "--shards", "2", "-e", &ecs.base_url(), "--json"]);
    let run_id = ecs.wait_for_object("/go", Duration::from_secs(60));
    // `go` is written 2 s ahead of the start; plain progress lines come every 5 s.
    std::thread::sleep(Duration::from_secs(11));
    interrupt(&child);
    let outcome = Outcome::from(child.wait_with_output().unwrap());
    assert_ne!(outcome.code, 0, "an interrupted run never passes:\n{}", outcome.stderr);
    outcome.stderr_contains("interrupted: stopping every shard");
    // The live view had grid-wide numbers from the agents' log lines.
    let live = outcome.stderr.lines().rfind(|l| l.starts_with("running ")).expect("a live line");
    let field = |name: &str| live.split_whitespace().find_map(|w| w.strip_prefix(name)).unwrap().to_owned();
    assert!(field("rps=").parse::<f64>().unwrap() > 0.0, "{live}");
    assert!(field("p95=").ends_with("ms"), "{live}");
    assert_eq!(field("vus="), "4", "{live}");
    assert_eq!(ecs.running_tasks(), 0, "no task of the run is left RUNNING");
    let summary = ecs.summary(&run_id);
    assert_eq!(summary["partial"], true);
    assert!(value(&summary, "http_reqs", "count") > 0.0, "what was measured is kept");
}

/// AWS goes away for 8 s from just after the start (moto's state would not
/// survive a restart, so the proxies drop the calls): the orchestrator's
/// every call and the agents' store calls fail while the shards finish
/// measuring. The run waits, every result arrives, nothing is left running.
#[test]
fn an_aws_outage_mid_run_loses_nothing() {
    let ecs = EcsGrid::new("");
    let script = ecs.grid.script(
        "work.js",
        r#"
import http from "k6/http";
export const options = {
  scenarios: { s: { executor: "shared-iterations", vus: 2, iterations: 100, maxDuration: "60s" } },
};
export default function () { http.get(`${__ENV.BASE_URL}/ok?delay=20ms`); }
"#,
    );
    let child = ecs.spawn(&["run", &script, "--shards", "2", "-e", &ecs.base_url(), "--json"]);
    ecs.wait_for_object("/go", Duration::from_secs(60));
    // `go` is 2 s ahead of the start; the shards need about 1 s.
    std::thread::sleep(Duration::from_millis(2500));
    ecs.world.proxy.outage("", Duration::from_secs(8));
    ecs.world.direct.outage("s3:", Duration::from_secs(8));

    let outcome = Outcome::from(child.wait_with_output().unwrap());
    // The S3 and AWS clients retry with backoff: the outage costs time, not data.
    let summary = outcome.exit(0).json();
    let cut_off = (ecs.world.proxy.dropped("s3:"), ecs.world.proxy.dropped("ecs:"));
    assert!(cut_off.0 + cut_off.1 > 0, "the orchestrator was cut off: (s3, ecs) calls dropped {cut_off:?}");
    assert!(ecs.world.direct.dropped("s3:") > 0, "the agents were cut off");
    assert_eq!(value(&summary, "iterations", "count"), 100.0, "every iteration is in the merge");
    for shard in summary["shards"].as_array().unwrap() {
        assert_eq!(shard["outcome"], "completed", "{shard}");
    }
    assert_eq!(ecs.running_tasks(), 0, "no task of the run is left RUNNING");
}

/// moto answers `RunTask`, `DescribeTasks` and `StopTask` with numbers
/// where the SDK expects strings, so the SDK cannot read them: the launch,
/// the watch, `ps` and `stop` read what they need from the answer anyway.
#[test]
fn answers_the_sdk_cannot_read_neither_stop_a_run_nor_hide_its_tasks() {
    let ecs = EcsGrid::new("");
    ecs.world.proxy.keep_moto_quirks();
    let script = ecs.script();
    let summary = ecs.run(&["run", &script, "--shards", "2", "-e", &ecs.base_url(), "--json"]).exit(0).json();
    assert_eq!(value(&summary, "iterations", "count"), 40.0);
    assert!(summary["shards"][0]["backend_note"].as_str().is_some_and(|n| n.contains("container exit code 0")));

    let long = ecs.grid.script("long.js", LONG_SCRIPT);
    let detached = ecs.run(&["run", &long, "--shards", "2", "-e", &ecs.base_url(), "--detach"]);
    detached.exit(0);
    let run_id = detached.stderr.split("`loadgrid attach ").nth(1).and_then(|rest| rest.split('`').next()).unwrap();
    let ps = ecs.run(&["ps"]);
    assert!(ps.exit(0).stdout.contains(run_id), "{}", ps.stdout);
    assert!(ps.stdout.contains("RUNNING 2"), "{}", ps.stdout);
    ecs.run(&["stop", run_id]).exit(0).stderr_contains("asked ECS to stop 2 tasks");
    let deadline = Instant::now() + Duration::from_secs(30);
    while ecs.running_tasks() > 0 {
        assert!(Instant::now() < deadline, "tasks still running");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn killed_orchestrator_agents_stop_at_the_heartbeat_timeout_and_attach_merges() {
    let ecs = EcsGrid::new("");
    let script = ecs.grid.script("long.js", LONG_SCRIPT);
    let mut child = ecs
        .command(&["run", &script, "--shards", "2", "-e", &ecs.base_url(), "--heartbeat-timeout", "3s", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let run_id = ecs.wait_for_object("/go", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap();
    child.wait().unwrap();
    // Both shards save and report on their own (an attach would refresh the heartbeat).
    ecs.wait_for_object("/shards/0/status", Duration::from_secs(15));
    ecs.wait_for_object("/shards/1/status", Duration::from_secs(15));

    let attached = ecs.run(&["attach", &run_id, "--json"]);
    let summary = attached.json();
    for shard in summary["shards"].as_array().unwrap() {
        assert_eq!(shard["outcome"], "stopped", "{shard}");
        assert!(shard["reason"].as_str().unwrap().contains("heartbeat"), "{shard}");
    }
    assert!(value(&summary, "http_reqs", "count") > 0.0);
    assert_eq!(ecs.running_tasks(), 0);
}

/// The dashboard of an ECS grid: from the machine that runs it, with each
/// task's ECS state beside its shard's, and from another that only reads
/// the store (`loadgrid dashboard <run-id>`); both end as the report.
#[test]
fn the_dashboard_shows_an_ecs_grid_from_its_orchestrator_and_from_any_store_reader() {
    use common::browser::{artifacts, watched, Browser};
    let ecs = EcsGrid::new("");
    let script = ecs.grid.script("long.js", LONG_SCRIPT);
    let base = ecs.base_url();
    let mut run =
        watched(ecs.spawn(&["run", &script, "--shards", "2", "-e", &base, "--json", "--dashboard=127.0.0.1:0"]));
    let run_id = ecs.wait_for_object("/go", Duration::from_secs(120));
    let viewer_command = ecs
        .command(&["dashboard", &run_id, "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut viewer = watched(viewer_command);
    let mut browser = Browser::start();

    let mut page = browser.open(&run.url, 1280, 2000);
    let tasks = "Array.from(document.querySelectorAll('#shards tbody tr')).map(r => `${r.cells[1].textContent} ${r.cells[2].textContent}`).join('|')";
    page.wait_for(&format!("{tasks} === 'running task RUNNING|running task RUNNING'"), Duration::from_secs(90));
    page.wait_for(
        "Number(document.querySelector('#headline-requests .value')?.textContent) > 0",
        Duration::from_secs(30),
    );
    assert!(run.running());
    page.screenshot(&artifacts().join("dashboard-ecs.png"));
    drop(page);
    let mut elsewhere = browser.open(&viewer.url, 1280, 2000);
    let phases = "Array.from(document.querySelectorAll('#shards tbody tr')).map(r => r.cells[1].textContent).join('|')";
    elsewhere.wait_for(&format!("{phases} === 'running|running'"), Duration::from_secs(60));
    elsewhere.wait_for(
        "Number(document.querySelector('#headline-requests .value')?.textContent) > 0",
        Duration::from_secs(30),
    );
    assert!(run.running(), "a reader of the store sees the run live");

    assert_eq!(run.exit_code(), 0, "{}", run.stderr.lock().unwrap());
    let summary: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    elsewhere.wait_for("document.getElementById('dashboard')?.dataset.final === 'true'", Duration::from_secs(60));
    let requests = elsewhere.eval("document.querySelector('#headline-requests .value').textContent");
    assert_eq!(requests.as_str().unwrap().parse::<f64>().unwrap(), value(&summary, "http_reqs", "count"));
    assert_eq!(elsewhere.eval("document.getElementById('verdict').textContent"), "passed");
    drop(elsewhere);
    assert!(viewer.running(), "the reader serves the report until interrupted");
    interrupt(&viewer.child);
    assert_eq!(viewer.exit_code(), 0, "{}", viewer.stderr.lock().unwrap());
    assert!(viewer.stderr.lock().unwrap().contains(&format!("run {run_id} has ended: the page shows its report")));
    let console = browser.console();
    assert!(console.is_empty(), "{console:#?}");
}

#[test]
fn detach_then_attach_gives_the_attached_summary() {
    let ecs = EcsGrid::new("");
    let script = ecs.script();
    let base = ecs.base_url();
    let attached = ecs.run(&["run", &script, "--shards", "3", "-e", &base, "--json"]);
    attached.exit(0);
    let detached = ecs.run(&["run", &script, "--shards", "3", "-e", &base, "--detach"]);
    detached.exit(0);
    let run_id = detached.stdout.trim();
    let later = ecs.run(&["attach", run_id, "--json"]);
    later.exit(0);
    let (attached, later) = (attached.json(), later.json());
    for (metric, key) in [("http_reqs", "count"), ("iterations", "count")] {
        assert_eq!(value(&attached, metric, key), value(&later, metric, key), "{metric}");
    }
    assert_eq!(attached["verdict"], later["verdict"]);
    assert_eq!(later["run_id"], run_id);
}

#[test]
fn secret_values_never_leave_the_agent() {
    let canary = format!("canary-{:016x}{:016x}", rand_u64(), rand_u64());
    let ecs = EcsGrid::new("");
    ecs.world.create_secret("loadgrid/test/token", &canary);
    let script = ecs.grid.script(
        "secret.js",
        r#"
import http from "k6/http";
import { check } from "k6";
export const options = { vus: 2, iterations: 4 };
export default function () {
  const token = __ENV.API_TOKEN || "";
  check(token, { "the secret reached k6": (t) => t.startsWith("canary-") && t.length == 39 });
  http.get(`${__ENV.BASE_URL}/ok`, { headers: { Authorization: `Bearer ${token}` } });
}
"#,
    );
    let outcome = ecs.run(&[
        "run",
        &script,
        "--shards",
        "2",
        "-e",
        &ecs.base_url(),
        "--secret",
        "API_TOKEN=loadgrid/test/token",
        "--json",
    ]);
    outcome.exit(0);
    let summary = outcome.json();
    assert_eq!(value(&summary, "checks", "rate"), 1.0, "k6 got the secret");
    assert!(!outcome.stdout.contains(&canary) && !outcome.stderr.contains(&canary), "stdout/stderr");
    let objects = ecs.world.bucket_objects();
    assert!(
        objects.iter().any(|(key, bytes)| key.ends_with("/shards/1/result") && !bytes.is_empty()),
        "the run was stored"
    );
    for (key, bytes) in objects {
        assert!(!String::from_utf8_lossy(&bytes).contains(&canary), "store object {key}");
    }
    let lines = ecs.world.log_lines();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| !l.contains(&canary)), "logs");
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}

#[test]
fn bad_inputs_are_refused_before_any_task_starts() {
    let ecs = EcsGrid::without_runtime("");
    let script = ecs.script();
    let base = ecs.base_url();
    /// name, extra flags, extra environment, what stderr must say
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("missing cluster", vec!["--cluster", "nope"], vec![], "ECS cluster `nope` does not exist"),
        ("bad subnet", vec!["--subnet", "subnet-0bad"], vec![], "subnet-0bad"),
        ("no bucket", vec!["--store", "s3://no-such-bucket/x"], vec![], "no-such-bucket"),
        (
            "unreachable endpoint",
            vec![],
            vec![("AWS_ENDPOINT_URL", "http://127.0.0.1:9"), ("LOADGRID_AWS_MAX_ATTEMPTS", "1")],
            "cannot reach the AWS endpoint",
        ),
    ];
    for (name, flags, env, expected) in cases {
        let mut args = vec!["run", script.as_str(), "--shards", "2", "-e", base.as_str()];
        args.extend(flags);
        let mut command = ecs.command(&args);
        command.envs(env);
        let outcome = Outcome::from(command.output().unwrap());
        assert_eq!(outcome.code, 2, "{name}: exit code\n{}", outcome.stderr);
        assert!(outcome.stderr.contains(expected), "{name}: stderr lacks `{expected}`:\n{}", outcome.stderr);
        assert!(outcome.stderr.contains("Next step") || outcome.stderr.contains("check"), "{name}: {}", outcome.stderr);
    }

    let mut no_credentials = ecs.command(&["run", &script, "--shards", "2", "-e", &base]);
    for variable in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        no_credentials.env_remove(variable);
    }
    no_credentials.env("AWS_CONFIG_FILE", "/nonexistent").env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    let outcome = Outcome::from(no_credentials.output().unwrap());
    outcome.exit(2).stderr_contains("no AWS credentials were found. Next step");

    assert_eq!(ecs.world.proxy.count("ecs:RunTask"), 0, "nothing was launched");
    assert!(ecs.world.task_statuses().is_empty());
}

#[test]
fn a_task_that_never_starts_fails_the_run_fast_and_says_why() {
    let ecs = EcsGrid::new("");
    *ecs.fargate.as_ref().unwrap().fail_next.lock().unwrap() =
        (1, "CannotPullContainerError: pull image manifest has been retried 5 time(s)".into());
    let started = Instant::now();
    let outcome = ecs.run(&["run", &ecs.script(), "--shards", "2", "-e", &ecs.base_url(), "--json"]);
    outcome.exit(1);
    assert!(started.elapsed() < Duration::from_secs(60), "no wait for the barrier's timeout");
    let summary = outcome.json();
    let shards = summary["shards"].as_array().unwrap();
    let missing: Vec<_> = shards.iter().filter(|s| s["outcome"] == "missing").collect();
    assert_eq!(missing.len(), 1, "{shards:#?}");
    assert!(missing[0]["backend_note"].as_str().unwrap().contains("CannotPullContainerError"), "{shards:#?}");
    assert!(outcome.stderr.contains("CannotPullContainerError"), "{}", outcome.stderr);
    assert_eq!(ecs.running_tasks(), 0);
}

#[test]
fn settings_come_from_the_stack_outputs() {
    let ecs = EcsGrid::without_runtime("");
    ecs.world.create_outputs_stack("loadgrid");
    std::fs::write(
        ecs.grid.path("loadgrid.toml"),
        format!("store = \"s3://{}/team\"\nbackend = \"ecs\"\n\n[ecs]\nstack = \"loadgrid\"\n", common::aws::BUCKET),
    )
    .unwrap();
    let outcome = ecs.run(&["run", &ecs.script(), "--shards", "2", "-e", &ecs.base_url(), "--detach"]);
    outcome.exit(0);
    assert_eq!(ecs.world.task_statuses().len(), 2, "launched on the stack's cluster, task definition and network");
    ecs.run(&["stop", "--all"]).exit(0);
}

#[test]
fn settings_come_from_terraform_outputs() {
    let ecs = EcsGrid::without_runtime("");
    // What `terraform output -json` prints for a root module that outputs the whole module.
    let outputs = serde_json::json!({
        "loadgrid": { "sensitive": false, "type": ["object", {}], "value": {
            "cluster_name": common::aws::CLUSTER,
            "task_definition_arn": common::aws::TASK_FAMILY,
            "container_name": common::aws::CONTAINER,
            "task_subnet_ids": [ecs.world.subnet],
            "task_security_group_id": ecs.world.security_group,
            "assign_public_ip": "ENABLED",
        }}
    });
    std::fs::write(ecs.grid.path("outputs.json"), outputs.to_string()).unwrap();
    let config = format!(
        "store = \"s3://{}/team\"\nbackend = \"ecs\"\n\n[ecs]\nterraform_outputs = \"outputs.json\"\n",
        common::aws::BUCKET
    );
    std::fs::write(ecs.grid.path("loadgrid.toml"), &config).unwrap();
    ecs.run(&["run", &ecs.script(), "--shards", "2", "-e", &ecs.base_url(), "--detach"]).exit(0);
    assert_eq!(
        ecs.world.task_statuses().len(),
        2,
        "launched on the cluster, task definition and network the outputs name"
    );
    ecs.run(&["stop", "--all"]).exit(0);

    std::fs::write(ecs.grid.path("outputs.json"), "{\"vpc\": {\"value\": \"x\"}}").unwrap();
    ecs.run(&["run", &ecs.script(), "--shards", "2"]).exit(2).stderr_contains(
        "[ecs] terraform_outputs `outputs.json`: it has none of the loadgrid module's outputs (`cluster_name`, \
         `task_definition_arn`...): re-export them from the root module, or output the whole module",
    );
    std::fs::write(ecs.grid.path("loadgrid.toml"), config.replace("outputs.json", "missing.json")).unwrap();
    ecs.run(&["run", &ecs.script(), "--shards", "2"]).exit(2).stderr_contains(
        "cannot read [ecs] terraform_outputs `missing.json`: No such file or directory (os error 2). Next step: \
         `terraform output -json > missing.json` in the root module that uses loadgrid's module",
    );
    assert_eq!(ecs.world.task_statuses().len(), 2, "nothing more was launched");
}

#[test]
fn the_s3_store_writes_conditionally_and_uploads_large_archives_in_parts() {
    let world = AwsWorld::new();
    for (key, value) in world.env() {
        // This test process is the only user of its environment (nextest runs each test alone in its process).
        std::env::set_var(key, value);
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("archive.tar");
    let content: Vec<u8> = (0..17 * 1024 * 1024 + 321).map(|i: usize| (i % 253) as u8).collect();
    std::fs::write(&big, &content).unwrap();
    world.runtime.block_on(async {
        let aws = loadgrid_aws::AwsContext::load(&loadgrid_aws::AwsSettings::default()).await.unwrap();
        let store = loadgrid_aws::s3::open(&aws, &format!("s3://{}/team", common::aws::BUCKET)).unwrap();
        loadgrid_aws::s3::check_bucket(&store).await.unwrap();

        assert!(store.put_if_absent("runs/r/go", "first").await.unwrap());
        assert!(!store.put_if_absent("runs/r/go", "second").await.unwrap(), "the second writer loses");
        assert_eq!(store.get("runs/r/go").await.unwrap().unwrap(), "first");

        store.put_file("runs/r/archive.tar", &big).await.unwrap();
        let back = dir.path().join("back.tar");
        assert!(store.get_to_file("runs/r/archive.tar", &back).await.unwrap());
        assert_eq!(std::fs::read(back).unwrap(), content);

        let missing = loadgrid_aws::s3::open(&aws, "s3://no-such-bucket/x").unwrap();
        let error = loadgrid_aws::s3::check_bucket(&missing).await.unwrap_err().to_string();
        assert!(error.contains("no-such-bucket") && error.contains("Next step"), "{error}");
    });
    // CreateMultipartUpload and CompleteMultipartUpload are POSTs; each 8 MiB part is a PUT.
    assert_eq!(world.proxy.count("s3:POST"), 2, "one multipart upload");
    assert!(world.proxy.count("s3:PUT") >= 3 + 2, "three parts plus the two small writes");
}

/// The stack's EC2 pool, played by the harness: the started instances
/// register as container instances, as the ECS agent would, and their
/// tasks run as agent processes.
struct PoolGrid {
    ecs: EcsGrid,
    instances: Vec<String>,
}

impl PoolGrid {
    /// `count` stopped instances of `instance_type` (moto gives each 4096
    /// CPU units and 7482 MiB, whatever the type); config from the stack.
    fn new(count: i32, instance_type: &str) -> PoolGrid {
        let grid = Grid::new();
        let world = AwsWorld::new();
        let instances = world.create_pool_stack("loadgrid", count, instance_type);
        std::fs::write(
            grid.path("loadgrid.toml"),
            format!(
                "store = \"s3://{}/team\"\nbackend = \"ecs\"\n\n[ecs]\nstack = \"loadgrid\"\n",
                common::aws::BUCKET
            ),
        )
        .unwrap();
        let agent_env = vec![("LOADGRID_K6".to_owned(), k6_path().display().to_string())];
        let fargate = FakeFargate::start_with_pool(&world, &grid.path("tasks"), agent_env);
        PoolGrid { ecs: EcsGrid { grid, world, fargate: Some(fargate) }, instances }
    }

    /// Instances `indexes` of the pool as loadgrid lists them: by id.
    fn listed(&self, indexes: &[usize]) -> String {
        let mut ids: Vec<&str> = indexes.iter().map(|&i| self.instances[i].as_str()).collect();
        ids.sort();
        ids.join(", ")
    }

    fn states(&self) -> Vec<String> {
        let states = self.ecs.world.instance_states();
        self.instances.iter().map(|id| states[id].clone()).collect()
    }

    fn assert_all_stopped(&self, after: &str) {
        assert_eq!(self.states(), vec!["stopped"; self.instances.len()], "every instance is stopped after {after}");
    }

    /// The pool's lease as the store holds it now.
    fn lease(&self) -> serde_json::Value {
        let prefix = format!("team/pools/{}/lease/", common::aws::CLUSTER);
        let (_, bytes) =
            self.ecs.world.bucket_objects().into_iter().rfind(|(k, _)| k.starts_with(&prefix)).expect("a lease");
        serde_json::from_slice(&bytes).unwrap()
    }
}

#[test]
fn an_ec2_pool_run_starts_only_what_it_needs_matches_the_local_totals_and_stops_after() {
    // t3.large: 2 vCPU and 8 GiB, so 2 shards of 1 vCPU / 2 GB each.
    let pool = PoolGrid::new(3, "t3.large");
    let ecs = &pool.ecs;
    let outcome = ecs.run(&["run", &ecs.script(), "--shards", "4", "-e", &ecs.base_url(), "--json"]);
    outcome.exit(0).stderr_contains(
        "launch: 4 tasks of 1 vCPU / 2 GB on at most 2 of the pool's 3 t3.large instances: about $0.0028 a minute",
    );
    outcome.stderr_contains("pool: starting 2 t3.large instances for this run");
    // Filled in the stack's order: the first two; the third stays stopped.
    outcome.stderr_contains(&format!("pool: {} ready in", pool.listed(&[0, 1])));
    outcome.stderr_contains(&format!("pool: stopped {}", pool.listed(&[0, 1])));
    outcome.stderr_contains("instances of the EC2 pool billed");
    let summary = outcome.json();
    // The local grid's totals for this script (`four_shards_on_ecs_match_the_local_grid`).
    assert_eq!(value(&summary, "iterations", "count"), 40.0);
    assert_eq!(value(&summary, "http_reqs", "count"), 80.0);
    for shard in summary["shards"].as_array().unwrap() {
        assert_eq!(shard["outcome"], "completed", "{shard}");
    }
    assert_eq!(ecs.world.proxy.count("query:StartInstances"), 1, "one call starts both");
    pool.assert_all_stopped("a pass");
    let lease = pool.lease();
    assert_eq!(lease["holders"], serde_json::json!({}), "{lease}");
    assert_eq!(lease["stopping"], serde_json::json!({}), "{lease}");
    // The run's cost is its instances' time, recorded per instance.
    let run_id = summary["run_id"].as_str().unwrap();
    let key = format!("team/runs/{run_id}/billing.json");
    let (_, bytes) = ecs.world.bucket_objects().into_iter().find(|(k, _)| *k == key).expect("billing.json");
    let billing: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let billed: Vec<&str> =
        billing["instances"].as_array().unwrap().iter().map(|i| i["instance_id"].as_str().unwrap()).collect();
    assert_eq!(billed.join(", "), pool.listed(&[0, 1]));
}

#[test]
fn overlapping_pool_runs_share_an_instance_and_the_last_to_end_stops_it() {
    let pool = PoolGrid::new(1, "t3.large");
    let ecs = &pool.ecs;
    let long = ecs.grid.script("long.js", LONG_SCRIPT);
    let first = ecs.spawn(&["run", &long, "--shards", "1", "-e", &ecs.base_url()]);
    ecs.wait_for_object("/go", Duration::from_secs(60));
    // The second run fits beside the first on its instance, and fails its threshold.
    let second =
        ecs.run(&["run", &ecs.script(), "--shards", "1", "-e", &ecs.base_url(), "--threshold", "http_reqs: count<10"]);
    let instance = &pool.instances[0];
    second
        .exit(99)
        .stderr_contains("pool: this run uses 1 t3.large instance that is already running")
        .stderr_contains(&format!("pool: nothing to stop; {instance} stays up for another run"));
    assert_eq!(pool.states(), vec!["running"], "the first run still uses it");
    let first = Outcome::from(first.wait_with_output().unwrap());
    first.exit(0).stderr_contains(&format!("pool: stopped {instance}"));
    pool.assert_all_stopped("the last run");
    assert_eq!(ecs.world.proxy.count("query:StartInstances"), 1, "started once, by the first run");
}

#[test]
fn a_task_that_never_starts_an_interrupt_a_crossed_threshold_and_a_double_interrupt_all_stop_the_pool() {
    let pool = PoolGrid::new(2, "t3.large");
    let ecs = &pool.ecs;
    *ecs.fargate.as_ref().unwrap().fail_next.lock().unwrap() =
        (1, "CannotPullContainerError: pull image manifest has been retried 5 time(s)".into());
    ecs.run(&["run", &ecs.script(), "--shards", "2", "-e", &ecs.base_url()])
        .exit(1)
        .stderr_contains("CannotPullContainerError")
        .stderr_contains(&format!("pool: stopped {}", pool.instances[0]));
    pool.assert_all_stopped("a task that never started");

    let long = ecs.grid.script("long.js", LONG_SCRIPT);
    let child = ecs.spawn(&["run", &long, "--shards", "4", "-e", &ecs.base_url()]);
    let run_id = ecs.wait_for_object("/go", Duration::from_secs(60));
    assert_eq!(pool.states(), vec!["running", "running"]);
    std::thread::sleep(Duration::from_secs(4));
    interrupt(&child);
    Outcome::from(child.wait_with_output().unwrap())
        .exit(1)
        .stderr_contains("interrupted: stopping every shard")
        .stderr_contains(&format!("pool: stopped {}", pool.listed(&[0, 1])));
    pool.assert_all_stopped("an interrupt");
    assert_eq!(ecs.summary(&run_id)["partial"], true);

    ecs.run(&["run", &ecs.script(), "--shards", "2", "-e", &ecs.base_url(), "--threshold", "http_reqs: count<10"])
        .exit(99)
        .stderr_contains(&format!("pool: stopped {}", pool.instances[0]));
    pool.assert_all_stopped("a crossed threshold");

    // Interrupted twice, the run exits at once, and still lets go first.
    let known = ecs.world.runs_with("/go");
    let child = ecs.spawn(&["run", &long, "--shards", "4", "-e", &ecs.base_url()]);
    let run_id = ecs.world.wait_for_object_of_a_new_run("/go", &known, Duration::from_secs(60));
    assert_eq!(pool.states(), vec!["running", "running"]);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    Outcome::from(child.wait_with_output().unwrap())
        .exit(1)
        .stderr_contains(&format!("pool: stopped {}", pool.listed(&[0, 1])))
        .stderr_contains(&format!("error: interrupted twice: run {run_id} was left as it is"));
    pool.assert_all_stopped("a double interrupt");
    ecs.run(&["stop", &run_id])
        .exit(0)
        .stderr_contains("asked ECS to stop 0 tasks")
        .stderr_contains(&format!("pool: nothing to stop; this run had already let go of {}", pool.listed(&[0, 1])));
}

/// Instances that start but never join the cluster (their ECS agent is
/// down): the run gives up at its start timeout, or at Ctrl-C while it
/// waits, and either way stops what it started, with no task launched.
#[test]
fn a_pool_that_never_joins_the_cluster_is_stopped_at_the_start_timeout_or_an_interrupt() {
    let pool = PoolGrid::new(1, "t3.large");
    let ecs = &pool.ecs;
    let instance = &pool.instances[0];
    ecs.fargate.as_ref().unwrap().ecs_agents_down.store(true, std::sync::atomic::Ordering::SeqCst);
    ecs.run(&["run", &ecs.script(), "--shards", "2", "-e", &ecs.base_url(), "--start-timeout", "3s"])
        .exit(1)
        .stderr_contains(&format!(
            "the pool was not ready after 3s: {instance} runs but is not ACTIVE in `{}`. Next step: check the \
             instances' ECS agent (`ECS_CLUSTER` in the user data, the instance role) with `loadgrid infra doctor`; \
             no task was started; pool: stopped {instance}",
            common::aws::CLUSTER
        ));
    pool.assert_all_stopped("a start timeout");

    let child = ecs.spawn(&["run", &ecs.script(), "--shards", "2", "-e", &ecs.base_url()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.states() != ["running"] {
        assert!(Instant::now() < deadline, "the instance never started: {:?}", pool.states());
        std::thread::sleep(Duration::from_millis(100));
    }
    interrupt(&child);
    Outcome::from(child.wait_with_output().unwrap()).exit(1).stderr_contains(&format!(
        "interrupted while the pool's instances started; no task was started; pool: stopped {instance}"
    ));
    pool.assert_all_stopped("an interrupt while the pool started");
    assert!(ecs.world.task_statuses().is_empty(), "no task was launched: {:?}", ecs.world.task_statuses());
}

#[test]
fn bad_pool_inputs_start_no_instance() {
    let pool = PoolGrid::new(1, "t3.large");
    let ecs = &pool.ecs;
    let script = ecs.script();
    let base_url = ecs.base_url();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", script.as_str(), "-e", base_url.as_str()];
        args.extend_from_slice(extra);
        ecs.run(&args)
    };
    run(&["--shards", "3"]).exit(2).stderr_contains(
        "3 shards of 1 vCPU / 2 GB need 2 t3.large instances (2 shards each) and the pool has 1: nothing was \
         started. Next step: at most 2 shards, smaller tasks (--cpu/--memory), or a bigger pool (`instances` under \
         [infra], then `loadgrid infra deploy`)",
    );
    run(&["--shards", "1", "--cpu", "4096", "--memory", "8192"]).exit(2).stderr_contains(
        "a task of 4 vCPU / 8 GB does not fit a t3.large of the pool (less 512 MiB for the ECS agent). Next step: \
         smaller tasks (--cpu/--memory), or a larger `instance_type` under [infra] and `loadgrid infra deploy`",
    );
    run(&["--shards", "1", "--spot"]).exit(2).stderr_contains(
        "--spot is Fargate Spot; the EC2 pool's instances are on-demand. Next step: drop --spot, or run on Fargate \
         with --capacity fargate",
    );

    ecs.world.create_stack_with_outputs(
        "odd",
        &[
            ("PoolInstances", &pool.instances[0]),
            ("PoolInstanceType", "x9.huge"),
            ("PoolTaskDefinition", common::aws::POOL_TASK_FAMILY),
        ],
    );
    ecs.world.create_outputs_stack("fargate-only");
    for (stack, message) in [
        (
            "odd",
            "the pool's instance type `x9.huge` is not one loadgrid sizes and prices (t3.medium, t3.large, t3.xlarge, \
             t3.2xlarge, c6i.large, c6i.xlarge, c6i.2xlarge, c7i.xlarge, m6i.xlarge, m6i.2xlarge). Next step: set \
             `instance_type` under [infra] to one of them and `loadgrid infra deploy`",
        ),
        (
            "fargate-only",
            "`capacity = \"ec2\"`, but stack `fargate-only` has no EC2 pool: nothing was started. Next step: \
             `capacity = \"ec2\"` under [infra] and `loadgrid infra deploy`, or run on Fargate with --capacity fargate",
        ),
    ] {
        std::fs::write(
            ecs.grid.path("loadgrid.toml"),
            format!("store = \"s3://{}/team\"\nbackend = \"ecs\"\n\n[ecs]\nstack = \"{stack}\"\n", common::aws::BUCKET),
        )
        .unwrap();
        run(&["--shards", "1", "--capacity", "ec2"]).exit(2).stderr_contains(message);
    }
    assert_eq!(ecs.world.proxy.count("query:StartInstances"), 0, "no instance was started");
    assert_eq!(ecs.world.proxy.count("ecs:RunTask"), 0, "no task was started");
    pool.assert_all_stopped("bad input");
}

#[test]
fn a_detached_pool_run_is_listed_by_ps_and_stop_stops_its_instances() {
    let pool = PoolGrid::new(2, "t3.large");
    let ecs = &pool.ecs;
    let long = ecs.grid.script("long.js", LONG_SCRIPT);
    let detached = ecs.run(&["run", &long, "--shards", "2", "-e", &ecs.base_url(), "--detach"]);
    detached.exit(0);
    let run_id = detached.stdout.trim().to_owned();
    ecs.wait_for_object("/go", Duration::from_secs(60));
    assert_eq!(pool.states(), vec!["running", "stopped"], "two shards fit the first instance");

    let listed = ecs.run(&["ps"]);
    listed.exit(0);
    let first = &pool.instances[0];
    let row = |id: &str, state: &str, held: &str| format!("{id:<22} {state:<10} {held}\n");
    assert!(listed.stdout.contains(&row(first, "running", &format!("{run_id} (2 shards)"))), "{}", listed.stdout);
    assert!(listed.stdout.contains(&row(&pool.instances[1], "stopped", "-")), "{}", listed.stdout);
    let rows = ecs.run(&["ps", "--json"]).exit(0).json();
    assert_eq!(rows[0]["run_id"], run_id.as_str());
    assert_eq!(rows[0]["instances"], serde_json::json!([{ "instance_id": first, "state": "running", "shards": 2 }]));

    ecs.run(&["stop", &run_id]).exit(0).stderr_contains(&format!("pool: stopped {first}"));
    pool.assert_all_stopped("`loadgrid stop`");
    assert_eq!(pool.lease()["holders"], serde_json::json!({}));
}

#[test]
fn attach_judges_a_detached_pool_run_and_lets_go_of_its_instance() {
    let pool = PoolGrid::new(1, "t3.large");
    let ecs = &pool.ecs;
    let detached = ecs.run(&["run", &ecs.script(), "--shards", "2", "-e", &ecs.base_url(), "--detach"]);
    detached.exit(0);
    let run_id = detached.stdout.trim().to_owned();
    assert_eq!(pool.states(), vec!["running"], "a detached run holds its instance");
    let attached = ecs.run(&["attach", &run_id, "--json"]);
    attached.exit(0).stderr_contains(&format!("pool: stopped {}", pool.instances[0]));
    assert_eq!(value(&attached.json(), "http_reqs", "count"), 80.0);
    pool.assert_all_stopped("attach");
}
