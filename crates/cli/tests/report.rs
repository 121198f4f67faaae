//! `loadgrid report`: a run's HTML report, and the trend site over the
//! history, from real k6 runs on loopback.

mod common;

use std::path::Path;

use common::Grid;

const SCRIPT: &str = r#"
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 10 } } };
export default function () { http.get(`${__ENV.BASE_URL}/ok?delay=2ms`); }
"#;

/// The `href="…"` values of a page, with the template's escaping undone.
fn hrefs(html: &str) -> Vec<String> {
    html.split(r#"href=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&#x2f;", "/").replace("&amp;", "&"))
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_site_charts_every_run_and_links_the_reports_still_stored() {
    let grid = Grid::new();
    // Runs of 20 requests are noisy: a regression against the last pass
    // may or may not show, and must not change the exit code.
    std::fs::write(grid.path("loadgrid.toml"), "[regression]\non_regression = \"warn\"\n").unwrap();
    let script = grid.script("checkout.js", SCRIPT);
    let base = format!("BASE_URL={}", grid.target_url);
    // Runs started in the same second sort by their random suffix: each
    // id is taken as the run new since the last one.
    let mut ids: Vec<String> = Vec::new();
    for baseline in [&[][..], &["--baseline", "last-pass"], &["--baseline", "last-pass"]] {
        let mut args = vec!["run", script.as_str(), "--shards", "2", "-e", &base, "-q"];
        args.extend_from_slice(baseline);
        grid.run(&args).exit(0);
        ids.push(grid.new_run(&ids));
    }
    // The oldest run's summary has expired: its record stays, its report goes.
    std::fs::remove_file(grid.run_file(&ids[0], "summary.json")).unwrap();

    grid.run(&["report", "--site", "site"]).exit(0).stderr_contains("wrote the trend site of 3 runs");
    let site = grid.path("site");
    let index = read(&site.join("index.html"));
    assert!(index.contains(">checkout</a>") && index.contains("3 recorded runs"), "{index}");
    let page = read(&site.join("tests/checkout.html"));
    for id in &ids {
        assert!(page.contains(id.as_str()), "the test page lists run {id}");
    }
    assert!(!site.join("runs").join(format!("{}.html", ids[0])).exists(), "no report without a summary");
    for id in &ids[1..] {
        let report = read(&site.join("runs").join(format!("{id}.html")));
        assert!(report.contains(id.as_str()), "the report of {id}");
        assert!(report.contains(r#"<section id="baseline">"#), "judged against the last pass: {id}");
    }
    let links: Vec<String> = hrefs(&page);
    let to_runs: Vec<&String> = links.iter().filter(|l| l.starts_with("../runs/")).collect();
    // Two runs with reports, each linked from three charts and the table.
    assert_eq!(to_runs.len(), 2 * 4, "{links:?}");
    assert!(!links.iter().any(|l| l.contains(&ids[0])), "the expired run links nowhere: {links:?}");
    for (dir, html) in [(site.join("tests"), &page), (site.clone(), &index)] {
        for link in hrefs(html) {
            assert!(!link.contains(':') && !link.starts_with('/'), "a relative link: {link}");
            assert!(dir.join(&link).is_file(), "`{link}` in {} resolves", dir.display());
        }
    }
    assert!(!page.contains("://") && !index.contains("://"), "self-contained");

    // --last bounds the charts and the reports written.
    grid.run(&["report", "--site", "recent", "--last", "1"]).exit(0);
    let written: Vec<_> = std::fs::read_dir(grid.path("recent/runs")).unwrap().collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(read(&grid.path("recent/tests/checkout.html")).contains("The last 1 of 3 runs"));

    grid.run(&["report", &ids[2], "--html", "out/x.html"]).exit(0);
    let report = read(&grid.path("out/x.html"));
    assert!(report.contains(ids[2].as_str()) && report.contains(r#"<section id="baseline">"#), "{report}");
    grid.run(&["report", "--html", "latest.html"]).exit(0);
    assert!(read(&grid.path("latest.html")).contains(ids[2].as_str()), "the latest run by default");
    let leftovers: Vec<_> = std::fs::read_dir(grid.path("out")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind: {leftovers:?}");
}

#[test]
fn usage_errors_exit_2() {
    let grid = Grid::new();
    grid.run(&["report", "--html", "x.html"]).exit(2).stderr_contains("no runs in store");
    grid.run(&["report", "--site", "site"]).exit(2).stderr_contains("no recorded runs");
    grid.run(&["report"]).exit(2);
    grid.run(&["report", "--html", "x.html", "--site", "site"]).exit(2);
    grid.run(&["report", "20240601-000000-abcd", "--site", "site"]).exit(2);
    grid.run(&["report", "--html", "x.html", "--last", "3"]).exit(2);
    assert!(!grid.path("x.html").exists() && !grid.path("site").exists());
}
