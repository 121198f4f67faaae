//! History, baselines and regression rules end to end: real k6 runs on
//! loopback write one record each; a slower run regresses against the last
//! passed one; bad rules and unknown baselines stop before anything runs.

mod common;

use common::Grid;
use serde_json::Value;

const SCRIPT: &str = r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 10 } } };
export default function () { http.get(`${__ENV.BASE_URL}/ok?delay=${__ENV.DELAY}`); }
"#;

fn run(grid: &Grid, delay: &str, extra: &[&str]) -> common::Outcome {
    let script = grid.script("checkout.js", SCRIPT);
    let base = format!("BASE_URL={}", grid.target_url);
    let delay = format!("DELAY={delay}");
    let mut args = vec!["run", script.as_str(), "--shards", "2", "-e", &base, "-e", &delay, "-q"];
    args.extend_from_slice(extra);
    grid.run(&args)
}

fn history(grid: &Grid) -> Vec<Value> {
    grid.run(&["history", "--format", "json"]).exit(0).json().as_array().unwrap().clone()
}

#[test]
fn every_run_is_recorded_and_a_slower_one_regresses_against_the_last_pass() {
    let grid = Grid::new();
    // Runs of 20 requests are noisy: tolerances wide enough that only the
    // 12-times-slower run regresses.
    std::fs::write(
        grid.path("loadgrid.toml"),
        "[regression.rules]\n\"http_req_duration.p(95)\" = \"+100%\"\n\"http_req_failed.rate\" = \"+0.5pp\"\n",
    )
    .unwrap();
    let schema: Value = serde_json::from_str(include_str!("../../../schemas/history.schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();

    run(&grid, "5ms", &[]).exit(0);
    let fast = run(&grid, "5ms", &["--baseline", "last-pass"]);
    fast.exit(0);
    assert!(fast.stdout.contains("regression rules against"), "{}", fast.stdout);

    let slow = run(&grid, "60ms", &["--baseline", "last-pass"]);
    slow.exit(98);
    assert!(slow.stdout.contains("✗ regressed http_req_duration.p(95)"), "{}", slow.stdout);
    assert!(slow.stdout.contains("REGRESSED"), "{}", slow.stdout);

    let records = history(&grid);
    assert_eq!(records.len(), 3);
    for record in &records {
        let errors: Vec<String> = validator.iter_errors(record).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    let verdicts: Vec<&str> = records.iter().map(|r| r["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["passed", "passed", "regressed"]);
    let regression = &records[2]["regression"];
    assert_eq!(regression["baseline_run_id"], records[1]["run_id"], "the latest passed run is the baseline");
    assert_eq!(records[2]["exit_code"], 98);

    // The regressed run is no `last-pass`: the next fast run is judged against the second.
    let again = run(&grid, "5ms", &["--baseline", "last-pass"]);
    again.exit(0);
    assert_eq!(history(&grid)[3]["regression"]["baseline_run_id"], records[1]["run_id"]);

    let table = grid.run(&["history", "--test", "checkout"]).exit(0).stdout.clone();
    assert_eq!(table.lines().count(), 5, "header and four runs:\n{table}");
    assert!(table.contains("regressed"), "{table}");
    let csv = grid.run(&["history", "--format", "csv", "--last", "2"]).exit(0).stdout.clone();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("run_id,test,created_at,verdict,p95_ms,error_rate,rps"), "{csv}");

    let (a, b) = (records[1]["run_id"].as_str().unwrap(), records[2]["run_id"].as_str().unwrap());
    let compared = grid.run(&["compare", a, b]).exit(0).stdout.clone();
    assert!(compared.contains(a) && compared.contains(b) && compared.contains("p95 ms"), "{compared}");
    assert!(compared.contains("REGRESSED http_req_duration.p(95)"), "{compared}");
}

#[test]
fn warn_mode_reports_the_regression_and_keeps_the_exit_code() {
    let grid = Grid::new();
    std::fs::write(
        grid.path("loadgrid.toml"),
        "[regression]\nbaseline = \"last-pass\"\non_regression = \"warn\"\n[regression.rules]\n\"http_req_duration.p(95)\" = \"+100%\"\n",
    )
    .unwrap();
    run(&grid, "2ms", &[]).exit(0);
    let slow = run(&grid, "60ms", &[]);
    slow.exit(0);
    assert!(slow.stdout.contains("on_regression = \"warn\""), "{}", slow.stdout);
    assert_eq!(history(&grid)[1]["verdict"], "regressed");
}

#[test]
fn concurrent_runs_each_keep_their_record() {
    let grid = Grid::new();
    let script = grid.script("checkout.js", SCRIPT);
    let base = format!("BASE_URL={}", grid.target_url);
    let children: Vec<_> = (0..3)
        .map(|_| grid.command(&["run", &script, "-e", &base, "-e", "DELAY=1ms", "-q"]).spawn().unwrap())
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let records = history(&grid);
    assert_eq!(records.len(), 3);
    let mut ids: Vec<&str> = records.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[test]
fn bad_rules_and_unknown_baselines_stop_before_the_run() {
    let grid = Grid::new();
    std::fs::write(grid.path("loadgrid.toml"), "[regression.rules]\n\"http_req_duration.p95\" = \"+10%\"\n").unwrap();
    run(&grid, "1ms", &[]).exit(2).stderr_contains("unknown statistic");
    std::fs::write(grid.path("loadgrid.toml"), "").unwrap();
    run(&grid, "1ms", &["--baseline", "20260101-000000-dead"]).exit(2).stderr_contains("no history record for run");
    run(&grid, "1ms", &["--baseline", "../../etc"]).exit(2).stderr_contains("neither `last-pass` nor a run id");
    assert_eq!(grid.target_stats().paths.values().sum::<u64>(), 0, "nothing ran");
    assert!(grid.run_ids().is_empty());
}
