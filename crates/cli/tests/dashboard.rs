//! The live dashboard in a real browser (Debian's Chromium, headless, over
//! the DevTools protocol) during real local grid runs: real k6, real
//! agents, the built-in target, all on loopback. Screenshots go to
//! `target/test-artifacts`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use common::browser::{artifacts, watched, Browser, Page};
use common::{interrupt, value, Grid};

const PAGE_WIDTH: u32 = 1280;
const PAGE_HEIGHT: u32 = 2000;

/// A number as the page prints it (`1234`, `12.5`), or `None` for `-`.
fn number(page: &mut Page, selector: &str) -> Option<f64> {
    text(page, selector).trim().parse().ok()
}

/// The points of every line of chart `id`.
fn chart_points(page: &mut Page, id: &str) -> u64 {
    page.eval(&format!(
        "Array.from(document.querySelectorAll('#{id} path.series'))
           .map(p => (p.getAttribute('d').match(/[ML]/g) || []).length).reduce((a, b) => a + b, 0)"
    ))
    .as_u64()
    .unwrap()
}

fn text(page: &mut Page, selector: &str) -> String {
    page.eval(&format!("document.querySelector('{selector}')?.textContent ?? ''")).as_str().unwrap().to_owned()
}

const UPDATES: &str = "Number(document.getElementById('dashboard')?.dataset.updates || 0)";
const FINAL: &str = "document.getElementById('dashboard')?.dataset.final === 'true'";

#[test]
fn a_four_shard_run_grows_on_the_page_and_ends_as_its_report() {
    let grid = Grid::new();
    let script = grid.script(
        "live.js",
        r#"
import http from 'k6/http';
import { check, group } from 'k6';
export const options = {
  scenarios: { browse: { executor: 'constant-vus', vus: 8, duration: '14s' } },
  thresholds: { http_req_duration: ['p(95)<2000'] },
};
export default function () {
  group('home', () => {
    const res = http.get(`${__ENV.BASE_URL}/delay/20ms`, { tags: { name: 'home' } });
    check(res, { 'status is 200': (r) => r.status === 200 });
  });
}
"#,
    );
    let base = format!("BASE_URL={}", grid.target_url);
    let mut run = watched(grid.spawn(&[
        "run",
        &script,
        "--shards",
        "4",
        "-e",
        &base,
        "--dashboard=127.0.0.1:0",
        "--json",
        "--name",
        "live",
    ]));
    assert!(run.url.starts_with("http://127.0.0.1:") && run.url.ends_with('/'), "{}", run.url);
    let origin = run.url.trim_end_matches('/').to_owned();
    let mut browser = Browser::start();
    let mut page = browser.open(&run.url, PAGE_WIDTH, PAGE_HEIGHT);

    // Two readings a few seconds apart, both while the run goes.
    page.wait_for(
        &format!("{UPDATES} >= 1 && Number(document.querySelector('#headline-requests .value')?.textContent) > 0"),
        Duration::from_secs(60),
    );
    let first = (number(&mut page, "#headline-requests .value").unwrap(), chart_points(&mut page, "chart-rps"));
    std::thread::sleep(Duration::from_secs(3));
    let second = (number(&mut page, "#headline-requests .value").unwrap(), chart_points(&mut page, "chart-rps"));
    assert!(run.running(), "both readings are taken while the run goes");
    assert!(second.0 > first.0, "the request count grows: {first:?} then {second:?}");
    assert!(second.1 > first.1, "the RPS chart gains points: {first:?} then {second:?}");
    assert_eq!(text(&mut page, "#verdict"), "running");
    assert!(chart_points(&mut page, "chart-latency") > 0, "p50/p95/p99 are drawn live");
    let phases =
        page.eval("Array.from(document.querySelectorAll('#shards tbody tr')).map(r => r.cells[1].textContent)");
    assert_eq!(phases, serde_json::json!(["running", "running", "running", "running"]));
    assert_eq!(text(&mut page, "#endpoints tbody tr td"), "home", "the per-endpoint table is live");
    let live_png = page.screenshot(&artifacts().join("dashboard-live.png"));
    assert!(live_png.len() > 60_000, "a live screenshot of {} bytes looks empty", live_png.len());

    assert_eq!(run.exit_code(), 0, "{}", run.stderr.lock().unwrap());
    let stdout = run.stdout();
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    page.wait_for(FINAL, Duration::from_secs(30));
    assert_eq!(text(&mut page, "#verdict"), "passed", "the page is the report now");
    for (card, metric) in [("requests", "http_reqs"), ("iterations", "iterations")] {
        let on_page = number(&mut page, &format!("#headline-{card} .value")).unwrap();
        assert_eq!(on_page, value(&summary, metric, "count"), "the page's {card} are summary.json's");
    }
    assert_eq!(
        page.eval("document.getElementById('download').hidden === false && document.getElementById('download').href.startsWith('blob:')"),
        serde_json::json!(true),
        "the report is offered for download"
    );
    page.screenshot(&artifacts().join("dashboard-final.png"));

    let console = browser.console();
    assert!(console.is_empty(), "the page logged to the console (a CSP violation?): {console:#?}");
    let requests = browser.page_requests();
    let foreign: Vec<&String> = requests.iter().filter(|url| !url.starts_with(&origin)).collect();
    assert!(foreign.is_empty(), "the page requested {foreign:?}");
    assert!(requests.iter().any(|url| url == &format!("{origin}/events")), "the net log sees the page: {requests:?}");
}

#[test]
fn a_threshold_crossed_mid_run_turns_red_before_the_run_ends() {
    let grid = Grid::new();
    let script = grid.script(
        "crossing.js",
        r#"
import http from 'k6/http';
export const options = {
  scenarios: { steady: { executor: 'constant-arrival-rate', rate: 40, timeUnit: '1s', duration: '16s', preAllocatedVUs: 4 } },
  thresholds: { http_reqs: ['count<120'], http_req_failed: ['rate<0.5'] },
};
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    let base = format!("BASE_URL={}", grid.target_url);
    // Any address but loopback: the page is reached with the token printed.
    let mut command = grid.command(&["run", &script, "--shards", "2", "-e", &base, "--dashboard=0.0.0.0:0", "--json"]);
    command.env("LOADGRID_DASHBOARD_TOKEN", "crossing-token-0123456789");
    let mut run = watched(command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let port = run.url.trim_start_matches("http://0.0.0.0:").split('/').next().unwrap().to_owned();
    assert_eq!(run.url, format!("http://0.0.0.0:{port}/?token=crossing-token-0123456789"));
    assert_eq!(get(&port, "/").0, "HTTP/1.1 403 Forbidden", "without its token the page is refused");
    let mut browser = Browser::start();
    let mut page =
        browser.open(&format!("http://127.0.0.1:{port}/?token=crossing-token-0123456789"), PAGE_WIDTH, PAGE_HEIGHT);

    // 40 requests a second pass 120 in about 3 s of a 16 s test.
    page.wait_for("document.querySelector('#thresholds .outcome.bad') !== null", Duration::from_secs(60));
    assert!(run.running(), "the threshold is red while the run goes");
    assert_eq!(text(&mut page, "#verdict"), "running");
    let crossed = page.eval(
        "Array.from(document.querySelectorAll('#thresholds tbody tr')).map(r => [r.cells[0].textContent, r.cells[3].textContent]).sort()",
    );
    assert_eq!(crossed, serde_json::json!([["http_req_failed", "passed"], ["http_reqs", "crossed"]]));
    assert!(
        text(&mut page, "#verdict-reasons").starts_with("Crossed so far"),
        "{}",
        text(&mut page, "#verdict-reasons")
    );
    page.screenshot(&artifacts().join("dashboard-threshold-crossed.png"));

    assert_eq!(run.exit_code(), 99, "{}", run.stderr.lock().unwrap());
    page.wait_for(FINAL, Duration::from_secs(30));
    assert_eq!(text(&mut page, "#verdict"), "thresholds crossed");
    drop(page);
    let console = browser.console();
    assert!(console.is_empty(), "the page logged to the console (a CSP violation?): {console:#?}");
}

#[test]
fn a_taken_port_or_a_bad_address_stops_the_run_before_it_exists() {
    let grid = Grid::new();
    let script = grid.script("t.js", "export default function () {}\n");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    grid.run(&["run", &script, &format!("--dashboard=127.0.0.1:{port}")]).exit(2).stderr_contains(&format!(
        "the dashboard cannot listen on 127.0.0.1:{port}: Address already in use (os error 98); pass another \
         address, e.g. `--dashboard 127.0.0.1:{}`, or `--dashboard :0` for any free port",
        port + 1
    ));
    grid.run(&["run", &script, "--dashboard=my-laptop"]).exit(2).stderr_contains(
        "`--dashboard my-laptop` is not an address: give IP:PORT (127.0.0.1:5665), :PORT for this machine only, or \
         :0 for any free port",
    );
    let mut bad_token = grid.command(&["run", &script, "--dashboard=0.0.0.0:0"]);
    bad_token.env("LOADGRID_DASHBOARD_TOKEN", "short");
    common::Outcome::from(bad_token.output().unwrap()).exit(2).stderr_contains(
        "LOADGRID_DASHBOARD_TOKEN must be at least 16 letters, digits, `-` or `_`; e.g. `export \
         LOADGRID_DASHBOARD_TOKEN=$(openssl rand -hex 16)`",
    );
    assert!(grid.run_ids().is_empty(), "no run was stored: {:?}", grid.run_ids());
}

/// A plain GET on loopback: the status line and the body.
fn get(port: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// `loadgrid dashboard <run-id>` on a run whose orchestrator and shards are
/// all gone (a machine that died mid-run): a shard never reports, and once
/// its result could no longer arrive the page becomes the report of what
/// the run stored, instead of waiting for ever.
#[test]
fn the_dashboard_of_a_run_that_died_shows_what_it_stored() {
    let grid = Grid::new();
    let script = grid.script(
        "two.js",
        r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 5 } } };
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
    );
    grid.run(&["run", &script, "--shards", "2", "-q", "-e", &format!("BASE_URL={}", grid.target_url)]).exit(0);
    let run_id = grid.new_run(&[]);
    // As the store looks when everything died before shard 1 reported and
    // before the run was judged: its grid started an hour ago, and its
    // orchestrator's last heartbeat is as old.
    std::fs::remove_file(grid.run_file(&run_id, "shards/1/status")).unwrap();
    std::fs::remove_file(grid.run_file(&run_id, "summary.json")).unwrap();
    let hour_ago =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - 3_600_000;
    std::fs::write(grid.run_file(&run_id, "go"), format!(r#"{{"start_at_ms":{hour_ago},"written_at_ms":{hour_ago}}}"#))
        .unwrap();
    std::fs::write(grid.run_file(&run_id, "heartbeat"), format!(r#"{{"at_ms":{hour_ago}}}"#)).unwrap();

    let viewer = grid.command(&["dashboard", &run_id, "--addr", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut viewer = watched(viewer);
    let port = viewer.url.trim_start_matches("http://127.0.0.1:").split('/').next().unwrap().to_owned();
    let ended = format!("run {run_id} has ended: the page shows its report");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !viewer.stderr.lock().unwrap().contains(&ended) {
        assert!(std::time::Instant::now() < deadline, "still waiting:\n{}", viewer.stderr.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    let stderr = viewer.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains(
            "shard 1 had not reported by the last moment a result could arrive: showing what the run stored without it"
        ),
        "{stderr}"
    );
    let (status, report) = get(&port, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(report.contains(&run_id), "the page is the run's report");
    assert!(report.contains("shard 1: never reported"), "the report says which shard is missing");
    interrupt(&viewer.child);
    assert_eq!(viewer.exit_code(), 0, "{}", viewer.stderr.lock().unwrap());
}
