//! The rendered report: self-contained, escaped, every section there.

mod common;

use common::{extras, summary, HOSTILE};
use loadgrid_html::{run_report, ReportExtras};

fn render(name: &str, extras: &ReportExtras) -> String {
    run_report(&summary(name), extras).expect("the report renders")
}

/// The `<svg id="…">…</svg>` element of one chart.
fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!(r#"<svg id="{id}""#)).unwrap_or_else(|| panic!("no chart `{id}`"));
    let end = start + html[start..].find("</svg>").unwrap();
    &html[start..end]
}

#[test]
fn user_strings_are_escaped_everywhere() {
    let html = render(HOSTILE, &extras());
    assert!(!html.contains("<script"), "no script element at all");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "test and endpoint names appear escaped");
    for raw in ["<b>login</b>", "<img src=x", "<oops>", "<more>", "<i>uneven</i>", "<code> 107", "<em>rps</em>"] {
        assert!(!html.contains(raw), "`{raw}` went into the page unescaped");
    }
    assert!(html.contains("&lt;b&gt;login&lt;&#x2f;b&gt;"), "threshold metrics are escaped");
    assert!(html.contains("█ login &lt;form&gt;"), "group names are escaped");
    assert!(html.contains(r#"<span class="outcome neutral">not judged</span>"#));
}

/// The group and check tree, as k6's summary has it: each group's checks,
/// then its groups, indented, failing checks marked.
#[test]
fn checks_show_as_a_tree_with_tallies() {
    let html = render("checkout", &extras());
    let section = html.split(r#"<section id="checks">"#).nth(1).unwrap().split("</section>").next().unwrap();
    let root = section.find("status is 200").unwrap();
    let group = section.find("█ login &lt;form&gt;").unwrap();
    let nested = section.find("&lt;script&gt;alert(1)").unwrap();
    assert!(root < group && group < nested, "{section}");
    assert!(section.contains(r#"<td class="num">97</td><td class="num">3</td><td class="num">97.00%</td>"#));
    assert!(section.contains(r#"<td class="text depth-1"><span class="outcome bad">✗</span>"#), "{section}");
}

/// Every tag of the page, from `<` to `>`: user text cannot open one,
/// since its `<` is escaped.
fn tags(html: &str) -> Vec<&str> {
    html.split('<').skip(1).map(|rest| rest.split('>').next().unwrap()).collect()
}

#[test]
fn the_page_loads_nothing_from_outside() {
    let html = render(HOSTILE, &extras());
    for tag in tags(&html) {
        let name = tag.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
        assert!(
            !["script", "link", "iframe", "object", "embed", "img", "image", "use", "base", "form"]
                .contains(&name.as_str()),
            "the report must be self-contained: <{tag}>"
        );
        for attribute in ["src=", "href=", "xlink:", "style=", "on"] {
            let found = tag.split_whitespace().skip(1).any(|a| a.to_ascii_lowercase().starts_with(attribute));
            assert!(!found, "no `{attribute}` attribute: <{tag}>");
        }
    }
    let style = html.split("<style>").nth(1).unwrap().split("</style>").next().unwrap();
    assert!(!style.contains("url(") && !style.contains("@import"), "no external CSS resources");
    assert!(html.contains(r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none';"#));
    // Not even SVG's namespace: inline SVG needs none. A URL a user wrote
    // in a warning is text, escaped.
    assert!(!html.contains("://"), "no URL in the page");
    assert!(html.contains("see https:&#x2f;&#x2f;example.com&#x2f;docs"));
}

#[test]
fn charts_draw_every_series_from_the_timeline() {
    let html = render("checkout", &extras());
    for (id, series) in [("chart-rps", 1), ("chart-latency", 3), ("chart-errors", 1), ("chart-vus", 1)] {
        let svg = chart(&html, id);
        let paths: Vec<&str> = svg
            .split(r#"class="series""#)
            .skip(1)
            .map(|rest| rest.split(r#"d=""#).nth(1).unwrap().split('"').next().unwrap())
            .collect();
        assert_eq!(paths.len(), series, "{id}: {svg}");
        for d in paths {
            assert!(d.starts_with('M') && d.matches(['M', 'L']).count() >= 50, "{id}: a line through the minute: {d}");
        }
        assert!(!svg.contains("no data"), "{id}");
    }
}

#[test]
fn empty_and_single_second_timelines_say_no_data() {
    for seconds in [0, 1] {
        let mut summary = summary("checkout");
        summary.timeline.truncate(seconds);
        let html = run_report(&summary, &ReportExtras::default()).unwrap();
        for id in ["chart-rps", "chart-latency", "chart-errors", "chart-vus"] {
            let svg = chart(&html, id);
            assert!(svg.contains("no data"), "{seconds} s, {id}: {svg}");
            assert!(!svg.contains(r#"class="series""#), "{seconds} s, {id}: {svg}");
        }
    }
}

#[test]
fn sections_show_the_summary() {
    let html = render("checkout", &extras());
    for section in
        ["run", "headline", "charts", "thresholds", "checks", "endpoints", "scenarios", "shards", "baseline", "cost"]
    {
        assert!(html.contains(&format!(r#"id="{section}""#)), "section `{section}`");
    }
    for text in [
        r#"<span class="badge thresholds_crossed" id="verdict">thresholds crossed</span>"#,
        "20240601T120000Z-abc123",
        "2024-06-01 12:00:00 UTC",
        "1m0s",
        "21000",
        "350&#x2f;s",
        "48.5ms",
        "131.7ms",
        "240.3ms",
        "1.23%",
        "258 of 21000 requests",
        "Partial run",
        "<code>shard_failed</code>",
        "1 failed",
        "ecs: EssentialContainerExited, exit 107 &amp; &lt;more&gt;",
        r#"<span class="outcome bad">crossed</span>"#,
        r#"<span class="outcome good">passed</span>"#,
        r#"<span class="outcome warn">passed</span>"#,
        "no samples: judged on zeros, as k6 does",
        "230.5ms",
        "abortOnFail",
        "+9.7%",
        "$0.4213",
        "loadgrid 0.1.0",
        // Scenarios, as endpoints are: by their tag.
        "<th>scenario</th>",
        "<td class=\"text\">browse</td><td class=\"num\">21000</td><td class=\"num\">258 (1.22%)</td>",
    ] {
        assert!(html.contains(text), "missing `{text}`");
    }
}

#[test]
fn baseline_and_cost_appear_only_when_known() {
    let html = render("checkout", &ReportExtras { generated_by: "loadgrid test".into(), ..ReportExtras::default() });
    assert!(!html.contains(r#"id="baseline""#));
    assert!(!html.contains(r#"id="cost""#));
    assert!(html.contains("loadgrid test"));
}
