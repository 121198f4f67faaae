//! The live dashboard's page and updates: the report's sections over the
//! numbers so far, the run's progress and each shard's phase, escaped and
//! loading nothing but the page's own stylesheet and script.

mod common;

use common::{summary, HOSTILE};
use loadgrid_html::{dashboard_page, dashboard_waiting_page, live_body, LivePhase, LiveShard, LiveStatus};
use loadgrid_plan::records::ShardPhase;

fn live() -> LiveStatus {
    let shard = |shard, phase, findings: Vec<String>| LiveShard {
        shard,
        phase,
        backend: (shard == 1).then(|| "task RUNNING".to_owned()),
        requests: Some(1200 + u64::from(shard)),
        rps: Some(40.0),
        findings,
    };
    LiveStatus {
        phase: LivePhase::Running,
        elapsed_ms: Some(34_400),
        planned_ms: 60_000,
        cost_usd: Some(0.0123),
        shards: vec![
            shard(0, ShardPhase::Running, Vec::new()),
            shard(1, ShardPhase::Running, vec!["shard 1 ran at 100% CPU <of its container>".to_owned()]),
            shard(2, ShardPhase::Uploading, Vec::new()),
        ],
    }
}

#[test]
fn an_update_shows_progress_phases_and_findings_instead_of_a_verdict() {
    let body = live_body(&summary("checkout"), &live()).unwrap();
    assert!(body.contains(r#"<span class="badge running" id="verdict">running</span>"#), "{body}");
    assert!(
        body.contains("34s of at most 1m0s · 26s left · about <span id=\"live-cost\">$0.0123</span> so far"),
        "{body}"
    );
    assert!(body.contains("<dd>3 <span class=\"note\">(2 running, 1 uploading)</span></dd>"), "{body}");
    assert!(!body.contains("<dt>ended</dt>"), "a live run has not ended");
    assert!(!body.contains("exit code"), "nor an exit code");
    let shards = body.split(r#"<section id="shards">"#).nth(1).unwrap().split("</section>").next().unwrap();
    assert!(shards.contains(r#"<tr id="shard-1"><td class="num">1</td><td><span class="outcome good">running</span></td><td class="text">task RUNNING</td><td class="num">1201</td><td class="num">40&#x2f;s</td>"#), "{shards}");
    assert!(
        shards
            .contains("<span class=\"outcome bad\">saturated</span> shard 1 ran at 100% CPU &lt;of its container&gt;"),
        "{shards}"
    );
    assert!(shards.contains(r#"<span class="outcome neutral">uploading</span>"#), "{shards}");
    assert!(body.contains("Crossed so far (the verdict comes when the run ends)"), "the fixture crosses a threshold");
    for section in ["headline", "charts", "thresholds", "checks", "endpoints"] {
        assert!(body.contains(&format!(r#"<section id="{section}">"#)), "the report's {section} section is live too");
    }
    assert!(!body.contains("<html") && !body.contains("<main"), "an update is the content of <main> only");
}

#[test]
fn the_page_loads_only_its_own_stylesheet_and_script_and_escapes_user_text() {
    let page = dashboard_page(&summary(HOSTILE), &live()).unwrap();
    let tags: Vec<&str> = page.split('<').skip(1).map(|rest| rest.split('>').next().unwrap()).collect();
    let loading: Vec<&&str> =
        tags.iter().filter(|tag| tag.contains("src=") || tag.contains("href=") || tag.contains("style=")).collect();
    assert_eq!(loading, [&r#"link rel="stylesheet" href="dashboard.css""#, &r#"script src="dashboard.js" defer"#]);
    assert_eq!(page.matches("<script").count(), 1, "no inline script");
    assert!(!page.contains("<style"), "no inline style");
    assert!(!page.contains("<script>alert(1)</script>") && page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
    assert!(page.contains(r#"<main id="dashboard">"#) && page.contains(r#"<div id="connection""#));

    let waiting = dashboard_waiting_page().unwrap();
    assert!(
        waiting.contains("Waiting for the run's first numbers") && waiting.contains("<title>live · loadgrid</title>")
    );
    assert!(
        loadgrid_html::dashboard_css().unwrap().contains(".badge.running"),
        "the report's stylesheet, and the live badges"
    );
}
