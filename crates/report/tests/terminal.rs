//! The k6-style terminal summary of the fixture run.

mod common;

use std::collections::BTreeMap;

use loadgrid_metrics::ValueKind;
use loadgrid_report::{render_terminal, MetricSummary, RunSummary, Style, ThresholdOutcome, Verdict};

fn plain() -> Style {
    Style { color: false, width: 100 }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn has_line(text: &str, expected: &str) {
    assert!(lines(text).contains(&expected), "missing line {expected:?} in:\n{text}");
}

fn has_line_starting(text: &str, prefix: &str) {
    assert!(lines(text).iter().any(|l| l.starts_with(prefix)), "no line starts with {prefix:?} in:\n{text}");
}

/// The fixture with every threshold state and an unknown-type metric.
fn eventful() -> RunSummary {
    let mut summary = common::summary();
    summary.thresholds[0].outcome = ThresholdOutcome::Error;
    summary.thresholds[0].observed = None;
    summary.thresholds[0].message = Some("no histogram was kept for this trend".to_owned());
    summary.thresholds[4].exact = false;
    let unknown =
        MetricSummary { kind: None, contains: ValueKind::Default, values: BTreeMap::from([("count".to_owned(), 3.0)]) };
    summary.metrics.insert("mystery".to_owned(), unknown);
    summary
}

#[test]
fn rendered_summary_has_k6_style_key_lines() {
    let text = render_terminal(&common::summary(), &plain());
    has_line(&text, "  █ THRESHOLDS");
    has_line(&text, "    http_req_duration{name:login}");
    has_line_starting(&text, "    ✗ 'p(95)<300' p(95)=4");
    has_line_starting(&text, "    ✓ 'p(95)<500' p(95)=4");
    has_line(&text, "    ✓ 'rate<0.05' rate=0.64%");
    has_line(&text, "    ✓ 'p(99)<800' p(99)=0s (no samples)");
    has_line(&text, "    ✓ 'count>10' count=232");
    has_line(&text, "  █ TOTAL RESULTS  (grid of 4 shards, merged; PARTIAL: 1 failed, 1 missing)");
    has_line(&text, "    HTTP");
    has_line_starting(&text, "    http_req_duration..............: avg=");
    has_line_starting(&text, "      { name:login }...............: avg=");
    has_line(&text, "    http_req_failed................: 0.64%  6 out of 928");
    has_line(&text, "    http_reqs......................: 928    30.931271/s");
    has_line(&text, "    EXECUTION");
    has_line(&text, "    iterations.....................: 464    15.465636/s");
    has_line(&text, "    vus............................: 0      min=0        max=8");
    has_line(&text, "    NETWORK");
    has_line(&text, "    data_received..................: 1.9 MB 62 kB/s");
    has_line(&text, "    CUSTOM");
    has_line(&text, "    orders_placed..................: 232    7.732818/s");
    has_line(&text, "  █ CHECKS");
    has_line(&text, "    ✗ status is 200");
    has_line(&text, "      ↳  90% — ✓ 54 / ✗ 6");
    has_line(&text, "    █ checkout");
    has_line(&text, "      ✓ order placed");
    has_line(&text, "      █ payment");
    has_line(&text, "  █ ENDPOINTS (by name)");
    has_line(&text, "    name   requests  failed  rps    p50       p95      p99      max");
    has_line_starting(&text, "    login  464       6       15.47  ");
    has_line(&text, "    shard  outcome    requests  iterations  p95       k6 exit  note");
    has_line(
        &text,
        "    2      failed     0         0           -         255      k6 exited with code 255: bad config",
    );
    has_line(&text, "    3      missing    0         0           -         -        the shard never reported");
    has_line(&text, "    ! vus (8) split unevenly");
    has_line(&text, "  stopped early: shard_failed — shard 2 failed");
    has_line(&text, "  verdict: FAILED (exit 1) — shard 2 failed; shard 3 never reported");
}

#[test]
fn sections_come_in_k6_order() {
    let text = render_terminal(&common::summary(), &plain());
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} missing"));
    let order = ["█ THRESHOLDS", "█ TOTAL RESULTS", "█ CHECKS", "█ ENDPOINTS", "█ SHARDS", "█ WARNINGS", "verdict:"];
    let positions: Vec<usize> = order.iter().map(|s| at(s)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(text.ends_with('\n'));
}

#[test]
fn no_colour_means_no_ansi_escapes() {
    for summary in [common::summary(), eventful()] {
        let text = render_terminal(&summary, &plain());
        assert!(!text.contains('\x1b'), "escape in:\n{text}");
    }
}

#[test]
fn colour_paints_marks_and_verdict() {
    let text = render_terminal(&common::summary(), &Style { color: true, width: 100 });
    assert!(text.contains("\x1b[32m✓\x1b[0m"), "green ✓");
    assert!(text.contains("\x1b[31m✗\x1b[0m"), "red ✗");
    assert!(text.contains("\x1b[33m(no samples)\x1b[0m"), "yellow no samples");
    assert!(text.contains("\x1b[31mFAILED (exit 1)\x1b[0m"), "red verdict");
}

#[test]
fn error_inexact_and_unknown_are_explained() {
    let text = render_terminal(&eventful(), &plain());
    has_line(&text, "    ✗ 'p(95)<500' error: no histogram was kept for this trend");
    has_line(&text, "    ✓ 'count>10' count=232 (inexact: tag-set cap reached)");
    has_line(&text, "    mystery........................: 3 samples (type unknown)");
}

#[test]
fn verdict_lines_for_test_abort_and_test_fail() {
    let mut summary = common::summary();
    summary.verdict = Verdict::Aborted;
    summary.exit_code = 108;
    summary.verdict_reasons = vec!["shard 1 called test.abort(): no db".to_owned()];
    has_line(
        &render_terminal(&summary, &plain()),
        "  verdict: ABORTED BY TEST.ABORT() (exit 108) — shard 1 called test.abort(): no db",
    );
    summary.verdict = Verdict::MarkedFailed;
    summary.exit_code = 110;
    summary.verdict_reasons = vec!["shard 0: test marked as failed: bad thing".to_owned()];
    has_line(
        &render_terminal(&summary, &plain()),
        "  verdict: MARKED FAILED BY TEST.FAIL() (exit 110) — shard 0: test marked as failed: bad thing",
    );
}

/// One renderer for observed values, whatever the output: a counter's
/// `rate` is per second, never a percentage.
#[test]
fn observed_values_use_the_metric_unit() {
    let summary = common::summary();
    let mut threshold = summary.thresholds[0].clone();
    let mut text = |metric: &str, aggregation: &str, value: f64| {
        threshold.metric = metric.to_owned();
        threshold.aggregation = aggregation.to_owned();
        threshold.observed = Some(value);
        summary.observed_text(&threshold).unwrap()
    };
    assert_eq!(text("http_req_duration{name:login}", "p(95)", 12.34), "12.34ms");
    assert_eq!(text("http_req_failed", "rate", 0.0123), "1.23%");
    assert_eq!(text("http_reqs", "rate", 4250.0), "4250/s");
    assert_eq!(text("http_reqs", "count", 1200.0), "1200");
    assert_eq!(text("data_received", "rate", 40_000.0), "40 kB/s");
    assert_eq!(text("vus", "value", 8.0), "8");
}

#[test]
fn verdict_line_for_crossed_and_passed_runs() {
    let mut summary = common::summary();
    summary.verdict = Verdict::ThresholdsCrossed;
    summary.exit_code = 99;
    summary.verdict_reasons = vec!["1 threshold crossed".to_owned()];
    summary.stop = None;
    let text = render_terminal(&summary, &plain());
    has_line(&text, "  verdict: THRESHOLDS CROSSED (exit 99) — 1 threshold crossed");
    assert!(!text.contains("stopped early"));

    summary.verdict = Verdict::Passed;
    summary.exit_code = 0;
    summary.verdict_reasons.clear();
    summary.partial = false;
    summary.thresholds.clear();
    summary.warnings.clear();
    let text = render_terminal(&summary, &plain());
    has_line(&text, "  verdict: PASSED (exit 0)");
    has_line(&text, "  █ TOTAL RESULTS  (grid of 4 shards, merged)");
    assert!(!text.contains("█ THRESHOLDS") && !text.contains("█ WARNINGS"), "{text}");
}

#[test]
fn tables_fit_a_narrow_terminal() {
    let mut summary = common::summary();
    summary.endpoints[0].name = format!("https://shop.example.com/{}/cart", "very-long-segment/".repeat(8));
    summary.shards[2].reason = Some("k6 failed: ".repeat(20));
    let style = Style { color: false, width: 100 };
    let text = render_terminal(&summary, &style);
    let start = text.find("█ ENDPOINTS").unwrap();
    let end = text.find("█ WARNINGS").unwrap();
    for line in text[start..end].lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    assert!(text.contains("https://shop") && text.contains("/cart"), "both ends of a long name stay:\n{text}");
    assert!(text.contains("k6 failed: k6 failed:") && text.contains('…'));
}
