//! k6 parity: every script in `tests/parity/` (one k6 feature each) runs
//! with plain `k6 run` and as a grid of three shards, against the built-in
//! target, and the grid must answer as one k6 does:
//!
//! - the same exit code, and the one the script is written to give;
//! - every threshold with the same outcome;
//! - the same set of metrics and sub-metrics;
//! - the same counts where the workload is deterministic (iterations,
//!   requests, custom counters, every check's passes and fails, the group
//!   paths), and close ones where an executor runs for a duration.
//!
//! Each run writes what the script's `handleSummary()` returns in a
//! directory of its own, so those outputs can be compared too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use common::{k6_path, Grid, Outcome};

/// One script's two runs, to be compared.
struct Parity {
    script: &'static str,
    env: Vec<String>,
    exit: i32,
    counts: Counts,
    shards: u32,
}

/// How the two runs' counts compare.
#[derive(Clone, Copy, PartialEq)]
enum Counts {
    /// A fixed number of iterations: equal.
    Exact,
    /// An executor that runs for a duration: within 5% (timers).
    Close,
    /// The test stops itself early (`abortOnFail`, `test.abort()`): how much
    /// ran before the stop reached every VU depends on timing, one k6 or
    /// many.
    UntilStopped,
}

/// What plain k6 gave: its exit code and `--summary-export`.
struct K6Run {
    outcome: Outcome,
    export: Value,
    dir: PathBuf,
}

/// Both runs, and the scratch directory that holds what they wrote.
struct Runs {
    k6: K6Run,
    grid: GridRun,
    _scratch: Grid,
}

/// What the grid gave: its exit code, output and `summary.json`.
struct GridRun {
    outcome: Outcome,
    summary: Value,
    dir: PathBuf,
}

fn parity(script: &'static str) -> Parity {
    Parity { script, env: Vec::new(), exit: 0, counts: Counts::Exact, shards: 3 }
}

impl Parity {
    fn env(mut self, pair: &str) -> Parity {
        self.env.push(pair.to_owned());
        self
    }

    /// The exit code the script is written to give, with k6 and the grid.
    fn exits(mut self, code: i32) -> Parity {
        self.exit = code;
        self
    }

    /// The executor runs for a duration: counts agree within a few percent
    /// (timers and scheduling), not exactly.
    fn approximate(mut self) -> Parity {
        self.counts = Counts::Close;
        self
    }

    /// A script with fewer VUs than three: one shard a VU.
    fn shards(mut self, shards: u32) -> Parity {
        self.shards = shards;
        self
    }

    /// The script stops the test itself: counts are not compared.
    fn stops_itself(mut self) -> Parity {
        self.counts = Counts::UntilStopped;
        self
    }

    fn script_path(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity").join(self.script)
    }

    /// Runs the script both ways, asserts parity, and returns both runs for
    /// the script's own assertions.
    fn check(self) -> Runs {
        let grid = Grid::new();
        let mut env = vec![format!("BASE_URL={}", grid.target_url)];
        env.extend(self.env.iter().cloned());
        let k6 = self.run_k6(&grid, &env);
        let loadgrid = self.run_grid(&grid, &env);
        eprintln!("{}: k6 exit {}, grid exit {}", self.script, k6.outcome.code, loadgrid.outcome.code);
        k6.outcome.exit(self.exit);
        loadgrid.outcome.exit(self.exit);
        assert_same_thresholds(&k6.export, &loadgrid.summary);
        assert_same_metrics(&k6.export, &loadgrid.summary, self.counts);
        assert_same_checks(&k6.export, &loadgrid.summary, self.counts);
        assert_same_counts(&k6.export, &loadgrid.summary, self.counts);
        Runs { k6, grid: loadgrid, _scratch: grid }
    }

    fn run_k6(&self, grid: &Grid, env: &[String]) -> K6Run {
        let dir = grid.path("k6");
        std::fs::create_dir_all(&dir).unwrap();
        let export = dir.join("export.json");
        let mut command = Command::new(k6_path());
        command
            .args(["run", "--quiet", "--no-usage-report", "--address", "127.0.0.1:0", "--summary-export"])
            .arg(&export)
            .args(env.iter().flat_map(|pair| ["-e", pair]))
            .arg(self.script_path())
            .current_dir(&dir)
            // As the grid is run (see `Grid::command`).
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        let outcome = Outcome::from(command.output().unwrap());
        let export = serde_json::from_slice(&std::fs::read(&export).unwrap_or_default()).unwrap_or_else(|e| {
            panic!("k6 wrote no summary export ({e})\n--- stderr\n{}", outcome.stderr);
        });
        K6Run { outcome, export, dir }
    }

    fn run_grid(&self, grid: &Grid, env: &[String]) -> GridRun {
        let dir = grid.path("grid");
        std::fs::create_dir_all(&dir).unwrap();
        let script = self.script_path().display().to_string();
        let store = grid.store().display().to_string();
        let shards = self.shards.to_string();
        let mut args = vec!["run", &script, "--shards", &shards, "-q", "--store", &store];
        args.extend(env.iter().flat_map(|pair| ["-e", pair.as_str()]));
        let outcome = Outcome::from(grid.command(&args).current_dir(&dir).output().unwrap());
        let run_id = grid.run_ids().pop().unwrap_or_else(|| panic!("no run stored\n{}", outcome.stderr));
        let summary = serde_json::from_slice(&std::fs::read(grid.run_file(&run_id, "summary.json")).unwrap())
            .unwrap_or_else(|e| panic!("no summary.json ({e})\n{}", outcome.stderr));
        GridRun { outcome, summary, dir }
    }
}

/// Every threshold of k6's export (`{expression: failed}`) has the grid's
/// same outcome, and the grid has no other.
fn assert_same_thresholds(export: &Value, summary: &Value) {
    let mut k6: BTreeMap<String, bool> = BTreeMap::new();
    for (metric, values) in export["metrics"].as_object().unwrap() {
        for (expression, failed) in values["thresholds"].as_object().into_iter().flatten() {
            k6.insert(format!("{metric}: {expression}"), !failed.as_bool().unwrap());
        }
    }
    let grid: BTreeMap<String, bool> = summary["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                format!("{}: {}", t["metric"].as_str().unwrap(), t["expression"].as_str().unwrap()),
                t["outcome"] == "passed",
            )
        })
        .collect();
    assert_eq!(grid, k6, "threshold outcomes (true: passed), grid vs k6");
}

/// The same metrics and sub-metrics. A test that stops itself may run long
/// enough on a grid (the stop travels through the store) for a VU gauge
/// sample that one k6, stopping sooner, never took.
fn assert_same_metrics(export: &Value, summary: &Value, counts: Counts) {
    let names = |metrics: &Value| {
        let mut names = metrics.as_object().unwrap().keys().cloned().collect::<BTreeSet<String>>();
        if counts == Counts::UntilStopped {
            names.retain(|name| name != "vus" && name != "vus_max");
        }
        names
    };
    assert_eq!(names(&summary["metrics"]), names(&export["metrics"]), "metric sets, grid vs k6");
}

/// Every check by path, with its passes and fails, and every group path.
fn assert_same_checks(export: &Value, summary: &Value, counts: Counts) {
    let (k6_checks, k6_groups) = tree(&export["root_group"]);
    let (grid_checks, grid_groups) = tree(&summary["root_group"]);
    assert_eq!(grid_groups, k6_groups, "group paths, grid vs k6");
    if counts == Counts::Exact {
        assert_eq!(grid_checks, k6_checks, "checks (passes, fails), grid vs k6");
    } else {
        let paths = |checks: &BTreeMap<String, (u64, u64)>| checks.keys().cloned().collect::<Vec<_>>();
        assert_eq!(paths(&grid_checks), paths(&k6_checks), "check paths, grid vs k6");
    }
}

/// (check path → (passes, fails), group paths) of a `root_group`, in
/// `summary.json`'s shape (lists) or `--summary-export`'s (objects by name).
fn tree(group: &Value) -> (BTreeMap<String, (u64, u64)>, BTreeSet<String>) {
    let items = |value: &Value| -> Vec<Value> {
        match value {
            Value::Array(items) => items.clone(),
            Value::Object(by_name) => by_name.values().cloned().collect(),
            _ => Vec::new(),
        }
    };
    let mut checks = BTreeMap::new();
    let mut groups = BTreeSet::new();
    for check in items(&group["checks"]) {
        let tally = (check["passes"].as_u64().unwrap(), check["fails"].as_u64().unwrap());
        checks.insert(check["path"].as_str().unwrap().to_owned(), tally);
    }
    for child in items(&group["groups"]) {
        groups.insert(child["path"].as_str().unwrap().to_owned());
        let (more_checks, more_groups) = tree(&child);
        checks.extend(more_checks);
        groups.extend(more_groups);
    }
    (checks, groups)
}

/// Every counter's total (iterations, requests, custom counters, their
/// sub-metrics) and every trend's sample count: equal, or within 5%.
fn assert_same_counts(export: &Value, summary: &Value, counts: Counts) {
    for (name, k6_values) in export["metrics"].as_object().unwrap() {
        // Bytes depend on header lengths, not on the workload.
        let Some(k6_count) = k6_values["count"].as_f64().filter(|_| !name.starts_with("data_")) else { continue };
        let grid_values = &summary["metrics"][name]["values"];
        let grid_count = grid_values["count"].as_f64().unwrap_or_else(|| panic!("grid has no {name}.count"));
        match counts {
            Counts::Exact => assert_eq!(grid_count, k6_count, "{name} count, grid vs k6"),
            Counts::Close => {
                let tolerance = (k6_count * 0.05).max(3.0);
                assert!((grid_count - k6_count).abs() <= tolerance, "{name} count: grid {grid_count}, k6 {k6_count}");
            }
            Counts::UntilStopped => {}
        }
    }
}

#[test]
fn shared_iterations() {
    parity("shared_iterations.js").check();
}

#[test]
fn per_vu_iterations() {
    parity("per_vu_iterations.js").check();
}

#[test]
fn constant_vus() {
    let grid = parity("constant_vus.js").approximate().check().grid;
    let vus = &grid.summary["metrics"]["vus"]["values"];
    assert_eq!((vus["value"].as_f64(), vus["max"].as_f64()), (Some(3.0), Some(3.0)), "summed at one instant");
}

#[test]
fn ramping_vus() {
    parity("ramping_vus.js").approximate().check();
}

#[test]
fn constant_arrival_rate() {
    parity("constant_arrival_rate.js").approximate().check();
}

#[test]
fn ramping_arrival_rate() {
    parity("ramping_arrival_rate.js").approximate().check();
}

#[test]
fn groups_and_checks() {
    let grid = parity("groups_checks.js").check().grid;
    // The grid's own summary shows the tree too.
    let text = &grid.outcome.stdout;
    for line in [
        "  █ CHECKS",
        "    ✓ at the root",
        "    █ shop",
        "      ✗ every fifth fails",
        "      █ cart",
        "    █ empty group",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
}

#[test]
fn custom_metrics_of_every_type() {
    parity("custom_metrics.js").check();
}

#[test]
fn tagged_thresholds_crossed() {
    parity("thresholds_crossed.js").exits(99).check();
}

#[test]
fn abort_on_fail_stops_the_grid() {
    let grid = parity("abort_on_fail.js").exits(99).stops_itself().check().grid;
    assert!(grid.summary["duration_seconds"].as_f64().unwrap() < 15.0, "stopped long before its 20 s");
    assert_eq!(grid.summary["stop"]["reason"], "abort_on_fail");
}

#[test]
fn setup_once_and_teardown_once() {
    parity("setup_teardown.js").check();
}

#[test]
fn test_abort() {
    let grid = parity("test_abort.js").exits(108).stops_itself().check().grid;
    assert_eq!(grid.summary["verdict"], "aborted");
    assert!(
        grid.summary["verdict_reasons"][0].as_str().unwrap().ends_with("called test.abort(): the backend is down"),
        "{}",
        grid.summary
    );
}

#[test]
fn test_abort_in_setup() {
    let grid = parity("setup_abort.js").exits(108).check().grid;
    assert_eq!(grid.summary["verdict_reasons"][0], "shard 0: setup() called test.abort(): no database");
}

#[test]
fn test_fail() {
    let grid = parity("test_fail.js").exits(110).check().grid;
    assert_eq!(grid.summary["verdict"], "marked_failed");
    assert_eq!(
        grid.summary["verdict_reasons"][0].as_str().unwrap().split_once(": ").unwrap().1,
        "the script called exec.test.fail(): one order was lost"
    );
}

#[test]
fn handle_summary_gets_the_whole_grid() {
    let Runs { k6, grid, _scratch } = parity("handle_summary.js").check();
    assert_eq!(grid.outcome.stdout, k6.outcome.stdout, "what handleSummary() wrote to stdout");
    let digest = |dir: &Path| std::fs::read_to_string(dir.join("digest.json")).unwrap();
    assert_eq!(digest(&grid.dir), digest(&k6.dir), "what handleSummary() wrote to a file");
    assert!(grid.outcome.stderr.contains("verdict: PASSED (exit 0)"), "the grid's own summary went to stderr");
}

#[test]
fn http_batch() {
    parity("http_batch.js").check();
}

#[test]
fn cookies() {
    parity("cookies.js").check();
}

#[test]
fn open_files_travel_in_the_archive() {
    parity("open_file.js").check();
}

#[test]
fn env_values() {
    parity("env.js").env("TEAM=checkout").env("ITERATIONS=7").check();
}

#[test]
fn scenarios_with_exec_env_and_tags() {
    parity("scenarios.js").check();
}

#[test]
fn a_realistic_login_flow() {
    parity("realistic_api.js").check();
}

/// One VU, so one shard: more would be refused, having no VU to run.
#[test]
fn iterations_without_vus() {
    parity("iterations_only.js").shards(1).check();
}

/// What a grid cannot do is refused before anything runs, with the way out.
#[test]
fn externally_controlled_is_refused_with_the_way_out() {
    let grid = Grid::new();
    let script = parity("externally_controlled.js").script_path().display().to_string();
    let env = format!("BASE_URL={}", grid.target_url);
    grid.run(&["run", &script, "--shards", "3", "-e", &env]).exit(2).stderr_contains(
        "error: scenario `remote` uses the externally-controlled executor, which cannot be split into shards; run \
         it with --shards 1",
    );
    assert!(grid.run_ids().is_empty(), "nothing was stored");
    assert_eq!(grid.target_stats().requests, 0, "nothing was launched");
}
