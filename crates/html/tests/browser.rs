//! The report in a real browser: Debian's Chromium, headless, installed by
//! `scripts/chromium` (which `scripts/test` runs). Without it these tests
//! fail: they never pass silently.
//!
//! Every Chromium here runs with the network cut off: host names resolve to
//! nothing (`--host-resolver-rules`) and HTTP goes to a closed proxy port.
//! A request the page makes is then still *attempted*, and so shows in the
//! net log (`--log-net-log`), but never leaves the machine.
//!
//! "The page requests nothing from outside" is checked three ways:
//! - the net log holds no http(s)/ws(s) request made for the page. Chromium
//!   makes requests of its own (component updates, account checks) that no
//!   flag fully silences; they are told apart by the page's file:// origin,
//!   which Chromium logs as the request's `initiator` and network isolation
//!   key. A control page with an external image proves the check sees page
//!   requests on this Chromium, so a clean log is not a blind one;
//! - the console is silent: the report's Content-Security-Policy blocks any
//!   external load or script before the network, and reports each as a
//!   console message, which `--enable-logging=stderr` prints;
//! - the DOM Chromium built has no element or attribute that loads anything.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{extras, history, summary, HOSTILE};

const CHROMIUM: &str = "/usr/bin/chromium";
const TIMEOUT: Duration = Duration::from_secs(120);

/// What one headless Chromium run left behind.
struct Run {
    stdout: String,
    stderr: String,
    net_log: serde_json::Value,
}

/// Runs Chromium on `page` with `args` (`--dump-dom`, `--screenshot=…`), a
/// fresh profile and the network cut off.
fn chromium(page: &Path, args: &[String]) -> Run {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/chromium (it installs Debian's chromium package)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (stdout_path, stderr_path, net_log_path) =
        (dir.path().join("stdout"), dir.path().join("stderr"), dir.path().join("net-log.json"));
    let profile = dir.path().join("profile");
    let mut child = Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--log-net-log={}", net_log_path.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        // Keep Chromium's dot-files in the temporary directory.
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("XDG_CACHE_HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_path).unwrap())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}: run scripts/chromium"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took more than {TIMEOUT:?}:\n{}", fs::read_to_string(&stderr_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    let net_log = fs::read_to_string(&net_log_path).unwrap_or_else(|e| panic!("no net log: {e}\n{stderr}"));
    let net_log = serde_json::from_str(&net_log).unwrap_or_else(|e| panic!("the net log is not JSON: {e}"));
    Run { stdout: fs::read_to_string(&stdout_path).unwrap(), stderr, net_log }
}

/// URLs other than local ones that Chromium requested on behalf of a
/// file:// page (not for itself).
fn page_requests(net_log: &serde_json::Value) -> Vec<String> {
    let start_job = &net_log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    assert!(start_job.is_number(), "the net log names no URL_REQUEST_START_JOB events");
    let events = net_log["events"].as_array().expect("net log events");
    events
        .iter()
        .filter(|event| &event["type"] == start_job)
        .map(|event| &event["params"])
        .filter(|params| {
            let initiator = params["initiator"].as_str().unwrap_or_default();
            let isolation = params["network_isolation_key"].as_str().unwrap_or_default();
            // Chromium's own requests have no initiating origin.
            initiator != "not an origin" || isolation.contains("file://")
        })
        .filter_map(|params| params["url"].as_str())
        .filter(|url| ["http:", "https:", "ws:", "wss:", "ftp:"].iter().any(|scheme| url.starts_with(scheme)))
        .map(str::to_owned)
        .collect()
}

/// `target/test-artifacts`, where screenshots stay for people to look at.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("test-artifacts");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The report of the fixture run, written to `dir/report.html`.
fn report_file(dir: &Path) -> PathBuf {
    let html = loadgrid_html::run_report(&summary(HOSTILE), &extras()).unwrap();
    let path = dir.join("report.html");
    fs::write(&path, html).unwrap();
    path
}

#[test]
fn the_report_renders_to_a_full_page_screenshot() {
    let dir = tempfile::tempdir().unwrap();
    let page = report_file(dir.path());
    let png = artifacts().join("html-report.png");
    let _ = fs::remove_file(&png);
    chromium(
        &page,
        &[format!("--screenshot={}", png.display()), "--window-size=1280,2400".into(), "--hide-scrollbars".into()],
    );
    let bytes = fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let dimension = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((dimension(16), dimension(20)), (1280, 2400), "the IHDR size is the window's");
    // A blank page of this size compresses to a few kB; charts, tables and text do not.
    assert!(bytes.len() > 60_000, "a screenshot of {} bytes looks empty", bytes.len());
    fs::copy(&page, artifacts().join("html-report.html")).unwrap();
}

#[test]
fn the_browser_draws_the_charts_runs_no_script_and_requests_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let page = report_file(dir.path());
    let run = chromium(&page, &["--dump-dom".into()]);
    let dom = &run.stdout;

    for id in [
        "chart-rps",
        "chart-latency",
        "chart-errors",
        "chart-vus",
        "chart-iterations",
        "chart-data",
        "chart-generator-cpu",
        "chart-generator-memory",
    ] {
        let start = dom.find(&format!(r#"<svg id="{id}""#)).unwrap_or_else(|| panic!("no <svg> `{id}` in the DOM"));
        let svg = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        let lines: Vec<&str> = svg
            .split("<path ")
            .skip(1)
            .filter(|path| path.contains(r#"class="series""#))
            .filter_map(|path| path.split(r#" d=""#).nth(1)?.split('"').next())
            .collect();
        assert!(!lines.is_empty(), "`{id}` has no series path: {svg}");
        for d in lines {
            let points = d.matches(['M', 'L']).count();
            assert!(points >= 50, "`{id}`: a path of {points} points for a minute of data: {d}");
        }
    }

    assert!(!dom.contains("<script"), "no script element in the DOM");
    assert!(dom.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt;<span"), "the test name is text");
    assert!(dom.contains("<td class=\"text\">&lt;script&gt;alert(1)&lt;/script&gt;</td>"), "so is the endpoint name");
    assert!(dom.contains("&lt;img src=x onerror=alert(2)&gt;"), "a threshold expression stays text");

    let requests = page_requests(&run.net_log);
    assert!(requests.is_empty(), "the report requested {requests:?}");
    let console: Vec<&str> = run.stderr.lines().filter(|line| line.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "the page logged to the console (a CSP violation?): {console:#?}");
    // Text's `<` is serialized as `&lt;`: each `<` opens an element.
    for tag in dom.split('<').skip(1).map(|rest| rest.split('>').next().unwrap()) {
        let name = tag.split_whitespace().next().unwrap_or_default();
        assert!(!["script", "img", "link", "iframe", "object", "embed", "image", "use"].contains(&name), "<{tag}>");
        let loads = [" src=", " href=", " srcset=", " xlink:href=", " style=", "url("];
        assert!(!loads.iter().any(|attribute| tag.contains(attribute)), "the DOM loads something: <{tag}>");
    }
}

#[test]
fn the_net_log_check_sees_what_a_page_requests() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("control.html");
    fs::write(&page, r#"<!DOCTYPE html><title>control</title><img src="http://cdn.example.invalid/logo.png">"#)
        .unwrap();
    let run = chromium(&page, &["--dump-dom".into()]);
    assert_eq!(page_requests(&run.net_log), vec!["http://cdn.example.invalid/logo.png".to_owned()]);
}

/// The trend site of 20 runs of one test, written under `dir`; returns the
/// test's page. Every other run has a report (a stand-in page).
fn trend_site(dir: &Path) -> PathBuf {
    let records = history("checkout", 20);
    let link = |r: &loadgrid_history::HistoryRecord| {
        r.run_id.ends_with(['0', '2', '4', '6', '8']).then(|| format!("runs/{}.html", r.run_id))
    };
    for (path, html) in loadgrid_html::site(&records, 30, &link).unwrap() {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, html).unwrap();
    }
    dir.join("tests/checkout.html")
}

#[test]
fn the_trend_page_draws_its_charts_links_relatively_and_requests_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let page = trend_site(dir.path());
    let run = chromium(&page, &["--dump-dom".into()]);
    let dom = &run.stdout;

    for id in ["trend-p95", "trend-errors", "trend-rps"] {
        let start = dom.find(&format!(r#"<svg id="{id}""#)).unwrap_or_else(|| panic!("no <svg> `{id}` in the DOM"));
        let svg = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        let d = svg
            .split(r#"class="series trend""#)
            .nth(1)
            .and_then(|rest| rest.split(r#" d=""#).nth(1)?.split('"').next())
            .unwrap_or_else(|| panic!("`{id}` has no trend line: {svg}"));
        assert_eq!(d.matches(['M', 'L']).count(), 20, "`{id}`: a point per run: {d}");
        let marks = ["mark passed", "mark regressed", "mark failed"].map(|class| svg.matches(class).count());
        assert_eq!(marks.iter().sum::<usize>(), 20, "`{id}`: a mark per run: {marks:?}");
        assert!(marks.iter().all(|&n| n > 0), "`{id}`: passes, regressions and failures all show: {marks:?}");
        assert_eq!(svg.matches("<circle class=\"mark passed\"").count(), marks[0], "passes are circles");
        let links: Vec<&str> =
            svg.split(r#"<a class="run" href=""#).skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
        assert_eq!(links.len(), 10, "`{id}`: the runs with a report link to it: {links:?}");
        for link in links {
            assert!(link.starts_with("../runs/") && link.ends_with(".html"), "a relative link: {link}");
        }
    }
    assert!(!dom.contains("<script"), "no script element in the DOM");

    let requests = page_requests(&run.net_log);
    assert!(requests.is_empty(), "the trend page requested {requests:?}");
    let console: Vec<&str> = run.stderr.lines().filter(|line| line.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "the page logged to the console (a CSP violation?): {console:#?}");
    for tag in dom.split('<').skip(1).map(|rest| rest.split('>').next().unwrap()) {
        let name = tag.split_whitespace().next().unwrap_or_default();
        assert!(!["script", "img", "link", "iframe", "object", "embed", "image", "use"].contains(&name), "<{tag}>");
        assert!(
            ![" src=", " srcset=", " xlink:href=", " style=", "url(", "://"].iter().any(|a| tag.contains(a)),
            "<{tag}>"
        );
    }

    let png = artifacts().join("trend-page.png");
    let _ = fs::remove_file(&png);
    chromium(
        &page,
        &[format!("--screenshot={}", png.display()), "--window-size=1280,1400".into(), "--hide-scrollbars".into()],
    );
    let bytes = fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert!(bytes.len() > 40_000, "a screenshot of {} bytes looks empty", bytes.len());
    fs::copy(&page, artifacts().join("trend-page.html")).unwrap();
}
