//! Faults injected into real local runs: the store stops answering, an
//! agent or a k6 is killed, a shard reports after its watcher stopped
//! waiting. In every case the run ends within its bounds with the cause
//! named, what reached an agent is not lost, and nothing is left running.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{pid_of, processes_mentioning, value, Grid, Outcome};
use nix::sys::signal::{kill, Signal};

/// 240 iterations over 3 shards, about 2 s of load.
const FIXED_WORK: &str = r#"
import http from 'k6/http';
export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations: 240, maxDuration: '60s' } },
  teardownTimeout: '1s',
};
export default function () { http.get(`${__ENV.BASE_URL}/?delay=25ms`); }
"#;

/// 20 s of load unless something stops it first.
const LONG_LOAD: &str = r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 3, duration: '20s' } } };
export default function () { http.get(`${__ENV.BASE_URL}/?delay=20ms`); }
"#;

/// Takes the store away as a failed disk or mount would: every read and
/// write fails (a file stands where its directory was) until `restore`.
struct Outage {
    store: PathBuf,
    away: PathBuf,
}

impl Outage {
    fn begin(store: &Path) -> Outage {
        let away = store.with_extension("away");
        std::fs::rename(store, &away).unwrap();
        std::fs::write(store, "not a directory").unwrap();
        Outage { store: store.to_owned(), away }
    }

    fn restore(self) {
        std::fs::remove_file(&self.store).unwrap();
        std::fs::rename(&self.away, &self.store).unwrap();
    }
}

fn base_url(grid: &Grid) -> String {
    format!("BASE_URL={}", grid.target_url)
}

fn finish(child: std::process::Child) -> Outcome {
    Outcome::from(child.wait_with_output().unwrap())
}

/// Where the local backend's agents work for a run.
fn agents_dir(run_id: &str) -> PathBuf {
    std::env::temp_dir().join("loadgrid-agents").join(run_id)
}

fn assert_nothing_left_running(run_id: &str) {
    let left = processes_mentioning(run_id);
    assert!(left.is_empty(), "left running: {left:?}");
}

/// Starts 3 shards of [`FIXED_WORK`] and takes the store away 1 s into the
/// test: the run, its id, its store's URL and the outage.
fn fixed_work_until_the_store_goes(grid: &Grid) -> (std::process::Child, String, String, Outage) {
    let script = grid.script("work.js", FIXED_WORK);
    let child = grid.spawn(&["run", &script, "--shards", "3", "-e", &base_url(grid), "--json"]);
    let run_id = grid.started_run();
    let store_url = grid.store().canonicalize().unwrap().display().to_string();
    std::thread::sleep(Duration::from_secs(1));
    (child, run_id, store_url, Outage::begin(&grid.store()))
}

#[test]
fn a_store_that_stops_answering_mid_run_loses_nothing() {
    let grid = Grid::new();
    // Down from 1 s into the 2 s test until 3 s after its end: every
    // shard finishes measuring while the store is away.
    let (child, run_id, store_url, outage) = fixed_work_until_the_store_goes(&grid);
    std::thread::sleep(Duration::from_secs(4));
    outage.restore();

    let outcome = finish(child);
    outcome
        .exit(0)
        .stderr_contains(&format!("warning: the store `{store_url}` does not answer ("))
        .stderr_contains("the shards keep measuring, keep their results and retry")
        .stderr_contains(&format!("the store `{store_url}` answers again, after "));
    let summary = outcome.json();
    assert_eq!(value(&summary, "iterations", "count"), 240.0, "every iteration is in the merge");
    assert_eq!(value(&summary, "http_reqs", "count"), 240.0);
    for shard in 0..3 {
        assert_eq!(grid.shard_status(&run_id, shard)["outcome"], "completed");
    }
    assert_nothing_left_running(&run_id);
    assert!(!agents_dir(&run_id).exists(), "nothing is kept once the store has it");
}

#[test]
fn a_store_that_never_comes_back_ends_the_run_and_keeps_the_results_to_copy_in() {
    let grid = Grid::new();
    std::fs::write(grid.path("loadgrid.toml"), "[run]\ngrace = \"1s\"\nupload_window = \"2s\"\n").unwrap();
    let (child, run_id, store_url, outage) = fixed_work_until_the_store_goes(&grid);
    let outcome = finish(child);
    outage.restore();

    let kept = |shard: u32| agents_dir(&run_id).join(format!("shard-{shard}")).join("kept");
    outcome
        .exit(1)
        .stderr_contains(&format!("warning: the store `{store_url}` does not answer ("))
        .stderr_contains(&format!(
            "shard 1: its agent exited with code 1; what it measured is kept in `{}`",
            kept(1).display()
        ))
        .stderr_contains(&format!(
            "store `{store_url}`: read `runs/{run_id}/manifest.json` failed (check that the store is reachable and \
             writable, or name another with --store)"
        ));
    let agent_log = std::fs::read_to_string(grid.run_file(&run_id, "logs/shard-1.log")).unwrap();
    assert!(
        agent_log.contains(&format!(
            "shard 1 could not store its result and status within the upload window (2s): store `{store_url}`: \
             write `runs/{run_id}/shards/1/result` failed"
        )) && agent_log.contains(&format!("then run `loadgrid results {run_id}`")),
        "{agent_log}"
    );
    assert_nothing_left_running(&run_id);

    // What the agents kept is the store's own layout: copied in, the run
    // is whole again.
    for shard in 0..3 {
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(kept(shard).join("runs"))
            .arg(grid.store())
            .status()
            .unwrap();
        assert!(copied.success());
    }
    std::fs::remove_dir_all(agents_dir(&run_id)).unwrap();
    let results = grid.run(&["results", &run_id, "--json"]);
    let summary = results.exit(0).json();
    assert_eq!(value(&summary, "iterations", "count"), 240.0, "nothing measured was lost");
}

#[test]
fn an_agent_killed_mid_run_stops_the_grid_and_is_named() {
    let grid = Grid::new();
    let script = grid.script("long.js", LONG_LOAD);
    let child = grid.spawn(&["run", &script, "--shards", "3", "-e", &base_url(&grid), "--json"]);
    let run_id = grid.started_run();
    std::thread::sleep(Duration::from_secs(1));
    kill(pid_of(&["agent", &run_id, "--shard 1 "]), Signal::SIGKILL).unwrap();

    let outcome = finish(child);
    outcome.exit(1).stderr_contains(
        "shard 1 ended during the test, without reporting (its agent was killed by SIGKILL): without it the grid \
         measures another test; stopping every shard",
    );
    let summary = outcome.json();
    assert_eq!(summary["stop"]["reason"], "shard_failed");
    let reasons = summary["verdict_reasons"].to_string();
    assert!(
        reasons.contains("shard 1: failed: ended during the test, without reporting (its agent was killed by SIGKILL)"),
        "{reasons}"
    );
    for shard in [0, 2] {
        let status = grid.shard_status(&run_id, shard);
        assert_eq!(status["outcome"], "stopped", "{status}");
        assert!(grid.shard_result(&run_id, shard).samples > 0, "what shard {shard} measured is kept");
    }
    // Shard 1's k6 went with its agent.
    assert_nothing_left_running(&run_id);
}

#[test]
fn k6_killed_mid_run_fails_its_shard_and_keeps_what_it_measured() {
    let grid = Grid::new();
    let script = grid.script("long.js", LONG_LOAD);
    let child = grid.spawn(&["run", &script, "--shards", "3", "-e", &base_url(&grid), "--json"]);
    let run_id = grid.started_run();
    std::thread::sleep(Duration::from_secs(1));
    kill(pid_of(&["k6", "run", &run_id, "archive-1.tar"]), Signal::SIGKILL).unwrap();

    let outcome = finish(child);
    outcome.exit(1);
    let summary = outcome.json();
    assert_eq!(summary["stop"]["reason"], "shard_failed");
    assert_eq!(summary["stop"]["detail"], "shard 1 failed: k6 was killed by SIGKILL");
    let reasons = summary["verdict_reasons"].to_string();
    assert!(reasons.contains("shard 1: failed: k6 was killed by SIGKILL"), "{reasons}");
    let status = grid.shard_status(&run_id, 1);
    assert_eq!(status["outcome"], "failed");
    assert_eq!(status["k6_exit_code"], 137);
    assert!(grid.shard_result(&run_id, 1).samples > 0, "what shard 1 measured before k6 died is kept");
    assert_nothing_left_running(&run_id);
}

/// A shard stalls (its agent frozen) while a watcher that attached judges
/// the run: the watcher stops waiting at the last moment the result could
/// arrive; the result arrives later, is kept, and `results` merges it.
#[test]
fn a_result_that_arrives_after_the_watcher_gave_up_is_kept_and_merged_later() {
    let grid = Grid::new();
    std::fs::write(grid.path("loadgrid.toml"), "[run]\ngrace = \"1s\"\nupload_window = \"2s\"\n").unwrap();
    let script = grid.script(
        "short.js",
        r#"
import http from 'k6/http';
export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '2s', gracefulStop: '0s' } },
  teardownTimeout: '1s',
};
export default function () { http.get(`${__ENV.BASE_URL}/?delay=20ms`); }
"#,
    );
    let mut orchestrator = grid.spawn(&["run", &script, "--shards", "2", "-e", &base_url(&grid), "-q"]);
    let run_id = grid.started_run();
    // The orchestrator dies; its agents are on their own. (Frozen before,
    // the agent would get the SIGHUP the kernel sends a stopped orphan.)
    orchestrator.kill().unwrap();
    orchestrator.wait().unwrap();
    let frozen = pid_of(&["agent", &run_id, "--shard 1 "]);
    kill(frozen, Signal::SIGSTOP).unwrap();

    let attached = grid.run(&["attach", &run_id, "--json"]);
    attached.exit(1).stderr_contains(
        "shard 1 had not reported by the last moment a result could arrive; judging the run without it",
    );
    let judged = attached.json();
    assert_eq!(judged["shards"][1]["outcome"], "missing");

    kill(frozen, Signal::SIGCONT).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !grid.run_file(&run_id, "shards/1/status").exists() {
        assert!(std::time::Instant::now() < deadline, "shard 1 never reported");
        std::thread::sleep(Duration::from_millis(100));
    }
    let results = grid.run(&["results", &run_id, "--json"]);
    let merged = results.exit(0).json();
    assert_eq!(merged["shards"][1]["outcome"], "completed");
    assert!(value(&merged, "http_reqs", "count") > value(&judged, "http_reqs", "count"));
    let warnings = merged["warnings"].to_string();
    assert!(
        warnings.contains(
            "shard 1 reported after the run was judged: this merge includes what shard 1 measured; the run's \
             stored summary and history record do not"
        ),
        "{warnings}"
    );
    assert_nothing_left_running(&run_id);
}

/// Twenty runs started at once on one store: twenty intact runs, twenty
/// history records, every one of them judged on its own numbers.
#[test]
fn twenty_runs_at_once_on_one_store_stay_apart() {
    let grid = Grid::new();
    let script = grid.script(
        "small.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 1, iterations: 5 } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    let children: Vec<_> = (0..20)
        .map(|i| grid.spawn(&["run", &script, "--name", &format!("t{i}"), "-e", &base_url(&grid), "--json"]))
        .collect();
    for child in children {
        let summary = finish(child).exit(0).json();
        assert_eq!(value(&summary, "iterations", "count"), 5.0, "{summary}");
    }
    let runs = grid.run_ids();
    assert_eq!(runs.len(), 20, "{runs:?}");
    let mut names = std::collections::BTreeSet::new();
    for run_id in &runs {
        let summary = grid.stored_summary(run_id);
        assert_eq!(summary["run_id"], run_id.as_str());
        assert_eq!(value(&summary, "http_reqs", "count"), 5.0, "{run_id}");
        names.insert(summary["test_name"].as_str().unwrap().to_owned());
    }
    assert_eq!(names.len(), 20, "each run is its own: {names:?}");
    let history = grid.run(&["history", "--format", "json"]).exit(0).json();
    let recorded: std::collections::BTreeSet<&str> =
        history.as_array().unwrap().iter().map(|record| record["run_id"].as_str().unwrap()).collect();
    assert_eq!(recorded, runs.iter().map(String::as_str).collect(), "one history record per run");
}
