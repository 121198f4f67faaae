//! Acceptance tests of the local grid run: real k6, real agents, the
//! built-in target, all on loopback.

mod common;

use std::time::{Duration, Instant};

use common::{interrupt, processes_mentioning, value, Grid};

fn base(grid: &Grid) -> String {
    format!("BASE_URL={}", grid.target_url)
}

#[test]
fn exact_totals_per_vu_iterations_over_four_shards() {
    let grid = Grid::new();
    let script = grid.script(
        "totals.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 8, iterations: 25 } } };
export default function () {
  http.get(`${__ENV.BASE_URL}/a`);
  http.get(`${__ENV.BASE_URL}/b?status=201`);
}
"#,
    );
    let summary = grid.run(&["run", &script, "--shards", "4", "-e", &base(&grid), "--json", "-q"]).exit(0).json();
    assert_eq!(value(&summary, "iterations", "count"), 200.0);
    assert_eq!(value(&summary, "http_reqs", "count"), 400.0);
    assert_eq!(grid.target_stats().paths["/a"], 200);
    let shards = summary["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 4);
    for shard in shards {
        assert_eq!(shard["outcome"], "completed");
        assert_eq!(shard["iterations"], 50, "every shard runs 2 of the 8 VUs");
    }
}

#[test]
fn arrival_rate_splits_within_one_percent() {
    let grid = Grid::new();
    let script = grid.script(
        "arrival.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: {
  executor: 'constant-arrival-rate', rate: 200, timeUnit: '1s', duration: '5s', preAllocatedVUs: 8, maxVUs: 8 } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    let outcome = grid.run(&["run", &script, "--shards", "4", "-e", &base(&grid), "--json", "-q"]);
    let summary = outcome.exit(0).json();
    let iterations = value(&summary, "iterations", "count");
    assert!((iterations - 1000.0).abs() <= 10.0, "iterations = {iterations}, expected 1000 ± 1%");
    assert!(summary["warnings"].as_array().unwrap().is_empty(), "8 VUs split evenly: {}", summary["warnings"]);
}

#[test]
fn uneven_split_is_warned_about_before_the_run() {
    let grid = Grid::new();
    let script = grid.script(
        "uneven.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations: 4 } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    let outcome = grid.run(&["run", &script, "--shards", "2", "-e", &base(&grid), "--json", "-q"]);
    outcome
        .exit(0)
        .stderr_contains("warning: scenario `s`: 3 VUs do not split evenly over 2 shards; some shards run more");
    assert_eq!(value(&outcome.json(), "http_reqs", "count"), 4.0);
}

/// Two checks of loadgrid's numbers against k6's own:
///
/// - the same samples: a plain `k6 run` writes its samples (`--out json`)
///   and its own summary of them (`--summary-export`); the samples go
///   through loadgrid's ingest, and every statistic must agree within 0.5%
///   (the trend histograms hold 3 significant digits);
/// - a grid of one shard of the same script, whose latency is dominated by
///   a deterministic server delay per iteration: the central statistics
///   must agree within 0.5% too. (Its max and p(99) are one or two samples
///   and move with scheduling noise between runs, so they are compared on
///   the same samples above.)
#[test]
fn one_shard_agrees_with_plain_k6() {
    let grid = Grid::new();
    let script = grid.script(
        "plain.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 10, iterations: 30 } } };
export default function () {
  const k = ((__VU * 37) + (__ITER * 11)) % 100;
  http.get(`${__ENV.BASE_URL}/d?delay=${300 + 3 * k}ms`);
}
"#,
    );
    let env = base(&grid);
    let export = grid.path("k6-summary.json");
    let samples = grid.path("k6-samples.json");
    let status = std::process::Command::new(common::k6_path())
        .args(["run", "--quiet", "--no-usage-report", "--address", "127.0.0.1:0", "--summary-export"])
        .arg(&export)
        .args(["--summary-trend-stats", "avg,min,med,max,p(90),p(95),p(99)", "--out"])
        .arg(format!("json={}", samples.display()))
        .args(["-e", &env, &script])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let plain: serde_json::Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    let mut ingest = loadgrid_metrics::ingest::Ingest::new(loadgrid_metrics::ingest::IngestConfig::default());
    ingest.feed(&std::fs::read(&samples).unwrap());
    ingest.finish_input();
    let ingested = ingest.into_result().metrics;
    let durations = ingested.metric("http_req_duration").unwrap().total();
    let same_samples = serde_json::json!({ "metrics": {
        "http_req_duration": {
            "avg": durations.avg(), "min": durations.min(), "med": durations.median(), "max": durations.max(),
            "p(90)": durations.percentile(90.0), "p(95)": durations.percentile(95.0), "p(99)": durations.percentile(99.0),
        },
        "http_reqs": { "count": ingested.metric("http_reqs").unwrap().total().sum() },
    }});
    let all = ["med", "p(90)", "p(95)", "p(99)", "avg", "min", "max"];
    assert_agree(&same_samples, &plain, &all);
    assert_eq!(same_samples["metrics"]["http_reqs"]["count"].as_f64(), plain["metrics"]["http_reqs"]["count"].as_f64());

    // Another run of the same workload: its latencies differ by the
    // machine's scheduling noise (a few milliseconds on ~580), hence 1%.
    let summary = grid.run(&["run", &script, "--shards", "1", "-e", &env, "--json", "-q"]).exit(0).json();
    assert_agree_within(&summary_values(&summary), &plain, &["med", "p(90)", "p(95)", "avg", "min"], 0.01);
    assert_eq!(value(&summary, "http_reqs", "count"), plain["metrics"]["http_reqs"]["count"].as_f64().unwrap());
}

/// A summary's metrics in `--summary-export`'s shape (values straight under
/// the metric).
fn summary_values(summary: &serde_json::Value) -> serde_json::Value {
    let metrics = summary["metrics"].as_object().unwrap();
    serde_json::json!({ "metrics": metrics.iter().map(|(k, v)| (k.clone(), v["values"].clone())).collect::<serde_json::Map<_, _>>() })
}

fn assert_agree(ours: &serde_json::Value, k6: &serde_json::Value, statistics: &[&str]) {
    assert_agree_within(ours, k6, statistics, 0.005);
}

fn assert_agree_within(ours: &serde_json::Value, k6: &serde_json::Value, statistics: &[&str], tolerance: f64) {
    for statistic in statistics {
        let ours = ours["metrics"]["http_req_duration"][statistic].as_f64().unwrap();
        let theirs = k6["metrics"]["http_req_duration"][statistic].as_f64().unwrap();
        eprintln!(
            "http_req_duration {statistic}: loadgrid {ours:.3} k6 {theirs:.3} ({:+.4}%)",
            (ours - theirs) / theirs * 100.0
        );
        assert!((ours - theirs).abs() / theirs <= tolerance, "{statistic}: loadgrid {ours} vs k6 {theirs}");
    }
}

#[test]
fn thresholds_decide_the_exit_code_on_merged_data() {
    let grid = Grid::new();
    let script = grid.script(
        "endpoints.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 4, iterations: 5 } } };
export default function () {
  http.get(`${__ENV.BASE_URL}/fast`, { tags: { name: 'fast' } });
  http.get(`${__ENV.BASE_URL}/slow?delay=150ms`, { tags: { name: 'slow' } });
}
"#,
    );
    let run = |thresholds: &[&str]| {
        let mut args = vec!["run", &script, "--shards", "2", "-q", "--json"];
        let env = base(&grid);
        args.extend(["-e", &env]);
        for threshold in thresholds {
            args.extend(["--threshold", threshold]);
        }
        grid.run(&args)
    };
    run(&["http_req_duration: p(95)<10000"]).exit(0);
    run(&["http_req_duration: max<0"]).exit(99);
    let summary =
        run(&["http_req_duration{name:slow}: p(95)<100", "http_req_duration{name:fast}: p(95)<100"]).exit(99).json();
    let outcomes: Vec<(String, String)> = summary["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["metric"].as_str().unwrap().to_owned(), t["outcome"].as_str().unwrap().to_owned()))
        .collect();
    assert!(outcomes.contains(&("http_req_duration{name:slow}".into(), "crossed".into())), "{outcomes:?}");
    assert!(outcomes.contains(&("http_req_duration{name:fast}".into(), "passed".into())), "{outcomes:?}");
}

#[test]
fn shards_start_together() {
    let grid = Grid::new();
    let script = grid.script(
        "sync.js",
        r#"
import http from 'k6/http';
import exec from 'k6/execution';
import { Gauge } from 'k6/metrics';
const scenarioStart = new Gauge('scenario_start');
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 4, iterations: 2 } } };
export default function () {
  scenarioStart.add(exec.scenario.startTime);
  http.get(`${__ENV.BASE_URL}/`);
}
"#,
    );
    grid.run(&["run", &script, "--shards", "4", "-e", &base(&grid), "-q"]).exit(0);
    let run_id = grid.run_ids().pop().unwrap();
    let starts: Vec<f64> = (0..4)
        .map(|shard| {
            grid.shard_result(&run_id, shard).metrics.metric("scenario_start").unwrap().total().last().unwrap()
        })
        .collect();
    let spread = starts.iter().cloned().fold(f64::MIN, f64::max) - starts.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread <= 50.0, "scenario start times {starts:?} spread {spread} ms");
}

#[test]
fn setup_runs_once_and_every_shard_gets_its_data() {
    let grid = Grid::new();
    let script = grid.script(
        "setup.js",
        r#"
import http from 'k6/http';
import { check } from 'k6';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 4, iterations: 3 } } };
export function setup() {
  http.get(`${__ENV.BASE_URL}/setup-once`);
  return { token: `t${Math.floor(Math.random() * 1e9)}` };
}
export default function (data) {
  check(data, { 'has setup data': (d) => d && d.token && d.token.startsWith('t') });
  http.get(`${__ENV.BASE_URL}/token/${data.token}`);
}
export function teardown(data) { http.get(`${__ENV.BASE_URL}/teardown-once`); }
"#,
    );
    let summary = grid.run(&["run", &script, "--shards", "4", "-e", &base(&grid), "--json", "-q"]).exit(0).json();
    let stats = grid.target_stats();
    assert_eq!(stats.paths.get("/setup-once"), Some(&1), "{stats:?}");
    assert_eq!(stats.paths.get("/teardown-once"), Some(&1), "{stats:?}");
    let tokens: Vec<_> = stats.paths.keys().filter(|p| p.starts_with("/token/")).collect();
    assert_eq!(tokens.len(), 1, "every shard used the leader's token: {tokens:?}");
    assert_eq!(stats.paths[tokens[0]], 12);
    assert_eq!(value(&summary, "checks", "rate"), 1.0);
    let run_id = grid.run_ids().pop().unwrap();
    for shard in 0..4 {
        let checks = grid.shard_result(&run_id, shard).metrics.metric("checks").unwrap().total();
        assert_eq!(checks.rate(), Some(1.0), "shard {shard} got setup data");
    }
}

#[test]
fn abort_on_fail_stops_every_shard() {
    let grid = Grid::new();
    let script = grid.script(
        "abort.js",
        r#"
import http from 'k6/http';
export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 4, duration: '60s' } },
  thresholds: { http_req_duration: [{ threshold: 'p(95)<1', abortOnFail: true, delayAbortEval: '1s' }] },
};
export default function () { http.get(`${__ENV.BASE_URL}/?delay=20ms`); }
"#,
    );
    let started = Instant::now();
    let summary = grid.run(&["run", &script, "--shards", "4", "-e", &base(&grid), "--json", "-q"]).exit(99).json();
    assert!(started.elapsed() < Duration::from_secs(40), "the 60 s test was stopped early");
    assert_eq!(summary["stop"]["reason"], "abort_on_fail");
    for shard in summary["shards"].as_array().unwrap() {
        assert_eq!(shard["outcome"], "stopped", "{shard}");
    }
}

#[test]
fn interrupt_saves_partial_results_and_leaves_no_k6_behind() {
    let grid = Grid::new();
    let script = grid.script(
        "long.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 4, duration: '60s' } } };
export default function () { http.get(`${__ENV.BASE_URL}/?delay=10ms`); }
"#,
    );
    let env = base(&grid);
    let mut child = grid.command(&["run", &script, "--shards", "2", "-e", &env, "-q"]).spawn().unwrap();
    let run_id = grid.started_run();
    std::thread::sleep(Duration::from_secs(2));
    interrupt(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "interrupted runs fail");
    assert!(processes_mentioning(&run_id).is_empty(), "left behind: {:?}", processes_mentioning(&run_id));
    let summary = grid.stored_summary(&run_id);
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["stop"]["reason"], "interrupted");
    assert!(value(&summary, "http_reqs", "count") > 0.0, "what was measured is kept");
    let log = std::fs::read_to_string(grid.run_file(&run_id, "logs/shard-1.log")).unwrap();
    let snapshot = log.lines().find(|line| line.starts_with("{\"_aws\"")).expect("a periodic snapshot line");
    let snapshot: serde_json::Value = serde_json::from_str(snapshot).unwrap();
    assert_eq!(snapshot["shard"], 1);
    assert!(snapshot["rps"].as_f64().is_some(), "{snapshot}");
}

/// A second interrupt ends loadgrid at once, says how to stop what may
/// remain, and (locally) leaves no process behind.
#[test]
fn a_second_interrupt_exits_at_once() {
    let grid = Grid::new();
    let script = grid.script(
        "long.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 4, duration: '60s' } } };
export default function () { http.get(`${__ENV.BASE_URL}/?delay=10ms`); }
"#,
    );
    let env = base(&grid);
    let child = grid
        .command(&["run", &script, "--shards", "2", "-e", &env, "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run_id = grid.started_run();
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    assert!(second.elapsed() < Duration::from_secs(3), "exited {:?} after the second interrupt", second.elapsed());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: interrupted twice: run {run_id} was left as it is; what is still running stops at its heartbeat \
             timeout, or now with `loadgrid stop {run_id}`"
        )),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(processes_mentioning(&run_id).is_empty(), "left behind: {:?}", processes_mentioning(&run_id));
}

#[test]
fn stored_runs_are_listed_and_judged_again() {
    let grid = Grid::new();
    let script = grid.script(
        "again.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 10 } } };
export default function () { http.get(`${__ENV.BASE_URL}/?delay=5ms`); }
"#,
    );
    let first = grid.run(&["run", &script, "--shards", "2", "-e", &base(&grid), "--json", "-q"]).exit(0).json();
    let run_id = first["run_id"].as_str().unwrap();
    let listed = grid.run(&["runs", "--json"]).exit(0).json();
    assert_eq!(listed[0]["run_id"], run_id);
    assert_eq!(listed[0]["verdict"], "passed");
    let again = grid.run(&["results", run_id, "--json"]).exit(0).json();
    assert_eq!(again["metrics"], first["metrics"], "merging the stored results again gives the same numbers");
    grid.run(&["results", run_id, "--threshold", "http_req_duration: p(50)<1"]).exit(99);
}

#[test]
fn corrupted_shard_result_is_a_clear_error() {
    let grid = Grid::new();
    let script = grid.script(
        "small.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    grid.run(&["run", &script, "--shards", "2", "-e", &base(&grid), "-q"]).exit(0);
    let run_id = grid.run_ids().pop().unwrap();
    let result = grid.run_file(&run_id, "shards/1/result");
    let mut bytes = std::fs::read(&result).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&result, bytes).unwrap();
    let outcome = grid.run(&["results", &run_id]);
    outcome.exit(2).stderr_contains("shard 1's result").stderr_contains("corrupt");
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
}

#[test]
fn config_file_then_environment_then_flags() {
    let grid = Grid::new();
    let script = grid.script(
        "layers.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 4, iterations: 1 } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    std::fs::write(
        grid.path("loadgrid.toml"),
        format!("[run]\nshards = 2\nenv = {{ BASE_URL = \"{}\" }}\n", grid.target_url),
    )
    .unwrap();
    let shards = |outcome: common::Outcome| outcome.exit(0).json()["shards"].as_array().unwrap().len();
    assert_eq!(shards(grid.run(&["run", &script, "--json", "-q"])), 2, "from loadgrid.toml");
    let from_env = grid.command(&["run", &script, "--json", "-q"]).env("LOADGRID_SHARDS", "4").output().unwrap();
    assert_eq!(shards(from_env.into()), 4, "LOADGRID_SHARDS beats the file");
    let from_flag =
        grid.command(&["run", &script, "--json", "-q", "--shards", "1"]).env("LOADGRID_SHARDS", "4").output().unwrap();
    assert_eq!(shards(from_flag.into()), 1, "a flag beats the environment");
}

#[test]
fn k6_overrides_and_tags_pass_through_to_every_shard() {
    let grid = Grid::new();
    let script = grid.script(
        "overrides.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 1, iterations: 1 } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    let env = base(&grid);
    let args = ["run", &script, "--shards", "2", "-e", &env, "--json", "-q", "--vus", "2", "--iterations", "6"];
    let mut args = args.to_vec();
    args.extend(["--tag", "team=checkout", "--threshold", "http_reqs{team:checkout}: count==6"]);
    let summary = grid.run(&args).exit(0).json();
    assert_eq!(value(&summary, "iterations", "count"), 6.0, "--vus/--iterations replace the script's scenario");
    assert_eq!(summary["thresholds"][0]["outcome"], "passed", "the --tag reached every sample");
}

#[test]
fn summary_json_matches_its_committed_schema() {
    let grid = Grid::new();
    let script = grid.script(
        "schema.js",
        r#"
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
const orders = new Counter('orders');
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 3 } },
  thresholds: { http_req_failed: ['rate<0.6'], 'http_req_duration{name:home}': ['p(99)<5000'] } };
export default function () {
  check(http.get(`${__ENV.BASE_URL}/`, { tags: { name: 'home' } }), { ok: (r) => r.status === 200 });
  http.get(`${__ENV.BASE_URL}/missing?status=404`, { tags: { name: 'missing' } });
  orders.add(2);
}
"#,
    );
    let run = grid.run(&["run", &script, "--shards", "2", "-e", &base(&grid), "--json", "-q"]).exit(0).json();
    assert_eq!(value(&run, "orders", "count"), 12.0, "custom counters merge too");
    let schema_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/summary.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let stored_path = grid.run_file(run["run_id"].as_str().unwrap(), "summary.json");
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(stored_path).unwrap()).unwrap();
    for document in [&run, &stored] {
        let errors: Vec<String> = validator.iter_errors(document).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "summary does not match its schema: {errors:?}");
    }
}

#[test]
fn a_failing_setup_fails_the_run_and_stops_every_shard() {
    let grid = Grid::new();
    let script = grid.script(
        "setup-fails.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '30s' } } };
export function setup() { throw new Error('database is down'); }
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    let summary = grid.run(&["run", &script, "--shards", "2", "-e", &base(&grid), "--json", "-q"]).exit(1).json();
    let shards = summary["shards"].as_array().unwrap();
    assert_eq!(shards[0]["outcome"], "failed");
    assert!(shards[0]["reason"].as_str().unwrap().contains("database is down"), "{}", shards[0]);
    assert_eq!(shards[1]["outcome"], "stopped");
    assert_eq!(grid.target_stats().requests, 0, "no VU ran without setup data");
    assert!(processes_mentioning(summary["run_id"].as_str().unwrap()).is_empty());
}

#[test]
fn tag_set_cap_warns_and_keeps_totals_exact() {
    let grid = Grid::new();
    let script = grid.script(
        "cardinality.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 20 } } };
export default function () {
  http.get(`${__ENV.BASE_URL}/item/${__ITER}`, { tags: { name: `item-${__ITER}` } });
}
"#,
    );
    std::fs::write(grid.path("loadgrid.toml"), "[run]\nmax_series_per_metric = 5\n").unwrap();
    let summary = grid
        .run(&[
            "run",
            &script,
            "--shards",
            "2",
            "-e",
            &base(&grid),
            "--json",
            "-q",
            "--threshold",
            "http_reqs: count==40",
        ])
        .exit(0)
        .json();
    assert_eq!(value(&summary, "http_reqs", "count"), 40.0, "totals stay exact past the cap");
    let warnings = summary["warnings"].to_string();
    assert!(warnings.contains("http_req_duration") && warnings.contains("cap"), "{warnings}");
}
