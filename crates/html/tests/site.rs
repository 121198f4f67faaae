//! The trend site: an index of tests, a page of trends per test, escaped,
//! self-contained, with relative links only.

mod common;

use std::collections::BTreeMap;

use common::{history, HOSTILE};
use loadgrid_history::{FinalVerdict, HistoryRecord};

type Pages = BTreeMap<String, String>;

fn render(records: &[HistoryRecord], last_n: usize, link: &dyn Fn(&HistoryRecord) -> Option<String>) -> Pages {
    let pages = loadgrid_html::site(records, last_n, link).expect("the site renders");
    assert_eq!(pages.last().map(|(path, _)| path.as_str()), Some("index.html"), "the index comes last");
    let count = pages.len();
    let pages: Pages = pages.into_iter().collect();
    assert_eq!(pages.len(), count, "no page is written twice");
    pages
}

fn every_run_linked(record: &HistoryRecord) -> Option<String> {
    Some(format!("runs/{}.html", record.run_id))
}

/// The `<svg id="…">…</svg>` element of one chart.
fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!(r#"<svg id="{id}""#)).unwrap_or_else(|| panic!("no chart `{id}`:\n{html}"));
    &html[start..start + html[start..].find("</svg>").unwrap()]
}

/// The value of every `href="…"`, with the template's escaping undone.
fn hrefs(html: &str) -> Vec<String> {
    html.split(r#"href=""#).skip(1).map(|rest| rest.split('"').next().unwrap().replace("&#x2f;", "/")).collect()
}

#[test]
fn the_index_lists_each_test_once_with_its_latest_verdict() {
    let mut records = history("checkout", 6);
    records.extend(history("search", 4));
    records.reverse(); // any order: the site sorts by time
    let pages = render(&records, 30, &every_run_linked);
    assert_eq!(pages.keys().collect::<Vec<_>>(), ["index.html", "tests/checkout.html", "tests/search.html"]);
    let index = &pages["index.html"];
    let rows: Vec<&str> = index.split(r#"<tr class="test">"#).skip(1).collect();
    assert_eq!(rows.len(), 2, "{index}");
    // checkout's latest is its 6th run (i = 5), search's its 4th (i = 3).
    for (row, name, runs, verdict) in
        [(rows[0], "checkout", 6, "thresholds_crossed"), (rows[1], "search", 4, "regressed")]
    {
        assert_eq!(index.matches(&format!(">{name}</a>")).count(), 1, "{name} is listed once");
        assert!(row.contains(&format!("tests&#x2f;{name}.html")), "{row}");
        assert!(row.contains(&format!(r#"<span class="badge {verdict}">"#)), "{name}: {row}");
        assert!(row.contains(&format!(r#"<td class="num">{runs}</td>"#)), "{name}: {row}");
        assert!(row.contains("2024-06-0"), "the latest run's time: {row}");
    }
    assert!(rows[0].contains("20240606T120000Z-r005"), "checkout's latest run id: {}", rows[0]);
    assert!(index.contains("2 tests, 10 recorded runs"), "{index}");
}

#[test]
fn a_test_page_has_a_mark_per_run_and_links_where_a_report_exists() {
    let records = history("checkout", 12);
    // Reports of even runs only: the odd ones have expired.
    let link = |r: &HistoryRecord| {
        let i: usize = r.run_id.rsplit("-r").next().unwrap().parse().unwrap();
        i.is_multiple_of(2).then(|| format!("runs/{}.html", r.run_id))
    };
    let pages = render(&records, 10, &link);
    let page = &pages["tests/checkout.html"];
    let shown = &records[2..];
    assert!(page.contains("The last 10 of 12 runs"), "{page}");

    for id in ["trend-p95", "trend-errors", "trend-rps"] {
        let svg = chart(page, id);
        let line = svg.split(r#"class="series trend""#).nth(1).unwrap_or_else(|| panic!("`{id}` has no line"));
        let d = line.split(r#"d=""#).nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(d.matches(['M', 'L']).count(), 10, "{id}: a point per run: {d}");

        let marks = |class: &str| svg.matches(&format!(r#"class="mark {class}""#)).count();
        let expected = |f: fn(FinalVerdict) -> bool| shown.iter().filter(|r| f(r.verdict)).count();
        assert_eq!(marks("passed"), expected(|v| v == FinalVerdict::Passed), "{id}");
        assert_eq!(marks("regressed"), expected(|v| v == FinalVerdict::Regressed), "{id}");
        assert_eq!(
            marks("failed"),
            expected(|v| matches!(v, FinalVerdict::Failed | FinalVerdict::ThresholdsCrossed)),
            "{id}"
        );
        assert!(marks("passed") > 0 && marks("regressed") > 0 && marks("failed") > 0, "the fixture has all three");
        assert!(svg.contains(r#"<circle class="mark passed""#), "passes are circles");
        assert!(svg.contains(r#"<path class="mark failed""#) && svg.contains(r#"<path class="mark regressed""#));
        for class in ["key passed", "key regressed", "key failed"] {
            assert_eq!(svg.matches(class).count(), 1, "{id}: a legend entry `{class}`");
        }

        let linked: Vec<String> = hrefs(svg);
        let expected: Vec<String> = shown.iter().filter_map(&link).map(|l| format!("../{l}")).collect();
        assert_eq!(linked, expected, "{id}: links only to the runs with a report");
        assert_eq!(svg.matches(r#"<g class="run">"#).count(), 5, "{id}: the others are unlinked marks");
    }

    let rows: Vec<&str> = page.split(r#"<tr class="run">"#).skip(1).collect();
    assert_eq!(rows.len(), 10, "the table lists the shown runs");
    assert!(rows[0].contains("20240612T120000Z-r011") && !rows[0].contains("href"), "newest first: {}", rows[0]);
    assert!(rows[1].contains(r#"href="..&#x2f;runs&#x2f;20240611T120000Z-r010.html""#), "{}", rows[1]);
    assert!(rows[1].contains("10c0ffee1234<") && rows[1].contains("$0.1353"), "git sha and cost: {}", rows[1]);
    assert!(page.contains(r#"href="../index.html""#), "back to the index");
}

#[test]
fn test_names_stay_text_and_pages_load_nothing() {
    let mut records = history(HOSTILE, 3);
    records.extend(history("a b", 2));
    records.extend(history("a_b", 2));
    records[0].git.as_mut().unwrap().sha = Some("<img src=x>".into());
    let pages = render(&records, 30, &every_run_linked);
    assert_eq!(
        pages.keys().collect::<Vec<_>>(),
        ["index.html", "tests/_script_alert_1___script_.html", "tests/a_b-2.html", "tests/a_b.html"],
        "names that clean up alike still get a page each"
    );
    for (path, html) in &pages {
        assert!(!html.contains("<script") && !html.contains("<img"), "{path}: markup from a user string");
        assert!(!html.contains("://"), "{path}: no URL in the page");
        assert!(html.contains(r#"content="default-src 'none';"#), "{path}: the CSP");
        for tag in html.split('<').skip(1).map(|rest| rest.split('>').next().unwrap()) {
            let name = tag.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
            assert!(
                !["script", "link", "iframe", "img", "image", "use", "base", "form"].contains(&name.as_str()),
                "<{tag}>"
            );
            assert!(!tag.contains(" src=") && !tag.contains(" style=") && !tag.contains(" on"), "{path}: <{tag}>");
        }
        for href in hrefs(html) {
            assert!(!href.starts_with('/') && !href.contains(':'), "{path}: `{href}` is not relative");
        }
    }
    let escaped = "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;";
    let page = &pages["tests/_script_alert_1___script_.html"];
    assert!(page.contains(&format!("<h1>{escaped}<span")), "{page}");
    assert!(page.contains(&format!("<title>{escaped} · trends")), "{page}");
    assert!(page.contains("&lt;img src=x&gt;"), "{page}");
    assert!(pages["index.html"].contains(&format!(">{escaped}</a>")));
}

#[test]
fn a_lone_run_and_missing_numbers_still_draw() {
    let mut records = history("checkout", 1);
    records[0].headline.error_rate = None;
    let pages = render(&records, 0, &|_| None);
    let page = &pages["tests/checkout.html"];
    assert!(chart(page, "trend-p95").contains(r#"class="mark"#), "one run, one mark");
    assert!(chart(page, "trend-errors").contains("no data"), "no error rate recorded");
    assert!(hrefs(page).iter().all(|h| h == "../index.html"), "no report, no link");
    assert!(render(&[], 30, &every_run_linked)["index.html"].contains("No recorded runs yet"));
}
