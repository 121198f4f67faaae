//! `--backend docker`: every shard a container of the real runner image,
//! run with the ECS task definition's settings. Needs a Docker engine and
//! the offline base image (`scripts/base-image`; `scripts/test` makes both
//! ready); the tests fail, never skip, without them.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::aws::{AwsWorld, BUCKET};
use common::docker::{containers_of, inspect, runner_image};
use common::{interrupt, value, Grid, Outcome};

const EXACT: &str = r#"
import http from "k6/http";
import { check, group } from "k6";
export const options = {
  scenarios: { s: { executor: "shared-iterations", vus: 8, iterations: 400, maxDuration: "60s" } },
};
export default function () {
  group("home", () => {
    const response = http.get(`${__ENV.BASE_URL}/`);
    check(response, { "status is 200": (r) => r.status === 200 });
  });
}
"#;

const LONG: &str = r#"
import http from "k6/http";
import { sleep } from "k6";
export const options = { scenarios: { s: { executor: "constant-vus", vus: 2, duration: "30s" } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); sleep(0.05); }
"#;

/// The same script on four local agents and on four containers of the
/// image: the same exact totals.
#[test]
fn four_docker_shards_give_the_local_grid_totals() {
    let grid = Grid::new();
    let image = runner_image(&grid);
    let script = grid.script("exact.js", EXACT);
    let env = format!("BASE_URL={}", grid.target_url);
    let local = grid.run(&["run", &script, "--shards", "4", "-e", &env, "--json"]).exit(0).json();
    let docker =
        grid.run(&["run", &script, "--shards", "4", "-e", &env, "--json", "--backend", "docker", "--image", image]);
    let docker = docker.exit(0).json();

    assert_eq!(docker["backend"], "docker");
    for (metric, key) in [("iterations", "count"), ("http_reqs", "count"), ("checks", "passes"), ("data_sent", "count")]
    {
        assert_eq!(value(&docker, metric, key), value(&local, metric, key), "{metric}.{key}");
    }
    assert_eq!(value(&docker, "iterations", "count"), 400.0);
    assert_eq!(docker["root_group"]["groups"][0]["checks"][0]["passes"], 400);
    for shard in docker["shards"].as_array().unwrap() {
        assert_eq!(shard["outcome"], "completed", "{shard}");
    }
}

/// Against an S3 store (moto), as on ECS: the containers run with the task
/// definition's settings; `docker stop` of one shard (SIGTERM, then SIGKILL
/// after the stop timeout, as ECS stops a task) keeps what it measured and
/// fails the run, naming why.
#[test]
fn a_docker_stop_of_one_shard_fails_the_run_and_keeps_what_it_measured() {
    let grid = Grid::new();
    let image = runner_image(&grid);
    let world = AwsWorld::new();
    std::fs::write(grid.path("loadgrid.toml"), format!("store = \"s3://{BUCKET}/team\"\n")).unwrap();
    let script = grid.script("long.js", LONG);
    let env = format!("BASE_URL={}", grid.target_url);
    let mut command =
        grid.command(&["run", &script, "--shards", "2", "-e", &env, "--json", "--backend", "docker", "--image", image]);
    let child = command
        .envs(world.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run_id = world.wait_for_object("/go", Duration::from_secs(60));
    assert_eq!(containers_of(&run_id), [format!("loadgrid-{run_id}-0"), format!("loadgrid-{run_id}-1")]);

    let container = inspect(&format!("loadgrid-{run_id}-1"));
    let host = &container["HostConfig"];
    assert_eq!(container["Config"]["User"], "10001:10001");
    assert_eq!(host["ReadonlyRootfs"], true);
    assert!(host["Tmpfs"]["/tmp"].is_string(), "{}", host["Tmpfs"]);
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(host["SecurityOpt"], serde_json::json!(["no-new-privileges"]));
    assert_eq!(host["NetworkMode"], "host");
    assert_eq!(host["Ulimits"][0]["Name"], "nofile");
    assert_eq!(host["NanoCpus"], 1_000_000_000u64, "1 vCPU");
    assert_eq!(host["Memory"], 2048u64 << 20, "2 GiB");
    assert_eq!(container["Config"]["StopTimeout"], 60);

    // Once the shard has measured for a while.
    world.wait_for_object("/shards/1/live", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    let stopped_at = Instant::now();
    let stop = Command::new("docker").args(["stop", &format!("loadgrid-{run_id}-1")]).output().unwrap();
    assert!(stop.status.success(), "{}", String::from_utf8_lossy(&stop.stderr));
    assert!(stopped_at.elapsed() < Duration::from_secs(30), "the agent saved and exited before the SIGKILL");

    let outcome = Outcome::from(child.wait_with_output().unwrap());
    let summary = outcome.exit(1).json();
    let why = "stopped from outside the run: its agent got SIGTERM or SIGINT while loadgrid had asked for no stop \
               (`docker stop`, an ECS StopTask, a Spot interruption)";
    assert_eq!(summary["verdict_reasons"], serde_json::json!([format!("shard 1: failed: {why}")]));
    assert_eq!(summary["stop"]["detail"], format!("shard 1 was {why}"));
    assert_eq!(summary["verdict"], "failed");
    let stopped_shard = &summary["shards"][1];
    assert_eq!(stopped_shard["outcome"], "failed", "{stopped_shard}");
    assert!(stopped_shard["requests"].as_u64().unwrap() > 10, "its partial result was uploaded: {stopped_shard}");
    assert_eq!(summary["shards"][0]["outcome"], "stopped", "the other shard stopped with the grid");
    assert!(summary["duration_seconds"].as_f64().unwrap() < 20.0, "the grid stopped long before its 30 s");
    assert!(containers_of(&run_id).is_empty(), "no container of the run is left");
}

/// Ctrl-C is `docker stop` of every container, as ECS stops tasks: each
/// shard saves what it measured, the run is judged partial, and no
/// container is left.
#[test]
fn an_interrupt_stops_every_container_and_keeps_what_was_measured() {
    let grid = Grid::new();
    let image = runner_image(&grid);
    let script = grid.script("long.js", LONG);
    let env = format!("BASE_URL={}", grid.target_url);
    let child = grid.spawn(&["run", &script, "--shards", "2", "-e", &env, "--backend", "docker", "--image", image]);
    let run_id = grid.started_run();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(containers_of(&run_id).len(), 2);
    interrupt(&child);
    Outcome::from(child.wait_with_output().unwrap()).exit(1).stderr_contains("interrupted: stopping every shard");
    let summary = grid.stored_summary(&run_id);
    assert_eq!(summary["stop"]["reason"], "interrupted");
    for shard in summary["shards"].as_array().unwrap() {
        assert_eq!(shard["outcome"], "stopped", "{shard}");
        assert!(shard["requests"].as_u64().unwrap() > 0, "{shard}");
    }
    assert!(containers_of(&run_id).is_empty(), "no container of the run is left");
}

/// A missing image is bad input: refused with the next step, before
/// anything is stored.
#[test]
fn a_missing_image_is_refused_before_anything_is_stored() {
    let grid = Grid::new();
    let script = grid.script("exact.js", EXACT);
    grid.run(&["run", &script, "--backend", "docker", "--image", "loadgrid-runner:missing"]).exit(2).stderr_contains(
        "the docker backend runs the image `loadgrid-runner:missing`, which this Docker engine does not have. Next \
         step: `loadgrid image build --tag loadgrid-runner:missing`",
    );
    assert!(grid.run_ids().is_empty(), "no run was stored");
}

/// One VU spinning on the CPU lands on shard 0 (k6 gives a lone VU to the
/// first execution segment); the other shard only sleeps.
const ONE_BURNING_VU: &str = r#"
import { sleep } from "k6";
export const options = {
  scenarios: {
    burn: { executor: "constant-vus", vus: 1, duration: "6s", exec: "burn" },
    calm: { executor: "constant-vus", vus: 2, duration: "6s", exec: "calm" },
  },
};
export function burn() { const end = Date.now() + 50; while (Date.now() < end) {} }
export function calm() { sleep(0.1); }
"#;

/// A quarter of a core for a shard that needs a whole one: that shard, and
/// only it, is named with its container's allowance and the fix, live and
/// in the verdict (`--on-saturation fail`: exit 97).
#[test]
fn a_cpu_starved_container_is_named_and_the_calm_one_is_not() {
    let grid = Grid::new();
    let image = runner_image(&grid);
    let script = grid.script("burn.js", ONE_BURNING_VU);
    let args = ["run", &script, "--shards", "2", "--backend", "docker", "--image", image, "--cpu", "256"];
    let outcome = grid.run(&[&args[..], &["--memory", "512", "--on-saturation", "fail", "--json"]].concat());
    let summary = outcome.exit(97).json();
    let fix = "its latencies include client-side queueing; use 3 shards (`loadgrid plan` sizes this) or give each \
               shard more CPU (`--cpu`, 1024 units = 1 vCPU)";
    outcome.stderr_contains("generator saturated: shard 0 ran at ").stderr_contains(fix);
    assert_eq!(summary["verdict"], "generator_saturated");
    let reasons = summary["verdict_reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    let reason = reasons[0].as_str().unwrap();
    assert!(
        reason.starts_with("shard 0 ran at ") && reason.contains("% CPU of its container (0.25 cores) for "),
        "{reason}"
    );
    assert!(reason.ends_with(&format!(": {fix}")), "{reason}");
    let shards = summary["health"]["shards"].as_array().unwrap();
    assert_eq!(shards[0]["allowance"]["pool"], "container");
    assert_eq!(shards[0]["allowance"]["cpu_cores"], 0.25);
    assert_eq!(shards[0]["findings"][0]["signal"], "cpu");
    assert_eq!(shards[1]["findings"], serde_json::json!([]), "the calm shard: {}", shards[1]);
    assert!(shards[1]["cpu_peak_percent"].as_f64().unwrap() < 50.0, "{}", shards[1]);
}

/// Memory that only grows, about 150 MB/s: the kernel kills k6, and the
/// verdict says so: the cause, the container's size and the fix. (The live
/// memory warning comes first when a sample falls in the last tenth before
/// the kill; the kill is named either way.)
#[test]
fn a_memory_starved_container_has_its_kill_named() {
    let grid = Grid::new();
    let image = runner_image(&grid);
    let script = grid.script(
        "hoard.js",
        r#"
import { sleep } from "k6";
const hoard = [];
export const options = { scenarios: { grow: { executor: "constant-vus", vus: 1, duration: "40s" } } };
export default function () { hoard.push(new Array(1200000).fill(Math.random())); sleep(0.1); }
"#,
    );
    let args = ["run", &script, "--shards", "1", "--backend", "docker", "--image", image];
    let outcome = grid.run(&[&args[..], &["--cpu", "1024", "--memory", "2048", "--json"]].concat());
    let summary = outcome.exit(1).json();
    assert_eq!(
        summary["verdict_reasons"],
        serde_json::json!(["shard 0: failed: k6 was killed for memory: the 2048 MiB of its container ran out"])
    );
    let shard = &summary["health"]["shards"][0];
    assert!(shard["findings"].as_array().unwrap().iter().any(|f| f["signal"] == "out_of_memory"), "{shard}");
    assert!(shard["memory_peak_percent"].as_f64().unwrap() > 50.0, "sampled as it grew: {shard}");
    assert!(
        summary["warnings"].as_array().unwrap().iter().any(|w| w
            == "shard 0 ran out of the memory of its container (2048 MiB): the kernel killed 1 process: the shard's \
                test was cut short; give each shard more memory (`--memory`, MiB) or use 2 shards"),
        "{}",
        summary["warnings"]
    );
}
