//! A run that crossed a threshold and regressed, for the renderers' tests.

use loadgrid_history::regression::{RegressionReport, RuleResult};
use loadgrid_history::{GitContext, HistoryRecord};
use loadgrid_report::RunSummary;
use serde_json::json;

/// A test name with every character the renderers must escape.
pub const NASTY_NAME: &str = "check<out> & \"pay\" 'n' |go| `x`";

pub fn summary(test_name: &str) -> RunSummary {
    let value = json!({
        "schema_version": 1,
        "run_id": "20260101-020000-abcd",
        "test_name": test_name,
        "script": "tests/checkout.js",
        "created_at": "2026-01-01T02:00:00Z",
        "backend": "local",
        "k6_version": "1.1.0",
        "verdict": "thresholds_crossed",
        "exit_code": 99,
        "verdict_reasons": ["threshold `http_req_duration: p(95)<300` crossed"],
        "partial": false,
        "stop": null,
        "shards_planned": 2,
        "started_at_ms": 1_767_232_800_000_i64,
        "ended_at_ms": 1_767_232_810_000_i64,
        "duration_seconds": 10.0,
        "metrics": {
            "http_req_duration": { "kind": "trend", "contains": "time",
                "values": { "avg": 120.0, "med": 100.0, "p(95)": 312.5, "p(99)": 400.0, "max": 500.0 } },
            "http_req_duration{name:<login>}": { "kind": "trend", "contains": "time",
                "values": { "p(95)": 90.0 } },
            "http_req_failed": { "kind": "rate", "contains": "default",
                "values": { "rate": 0.012, "passes": 12, "fails": 988 } },
            "http_reqs": { "kind": "counter", "contains": "default", "values": { "count": 1000, "rate": 100.0 } },
            "vus_max": { "kind": "gauge", "contains": "default", "values": { "value": 10, "max": 10, "min": 10 } }
        },
        "thresholds": [
            { "metric": "http_req_duration", "expression": "p(95)<300", "origin": "script", "abort_on_fail": false,
              "observed": 312.5, "outcome": "crossed", "message": null, "exact": true },
            { "metric": "http_req_duration{name:<login>}", "expression": "p(95)<100", "origin": "flag",
              "abort_on_fail": false, "observed": 90.0, "outcome": "passed", "message": null, "exact": true },
            { "metric": "http_req_failed", "expression": "rate<0.01", "origin": "config", "abort_on_fail": false,
              "observed": 0.012, "outcome": "crossed", "message": null, "exact": true },
            { "metric": "checks", "expression": "rate>0.99", "origin": "script", "abort_on_fail": false,
              "observed": null, "outcome": "no_data", "message": null, "exact": true },
            { "metric": "custom", "expression": "p(95)<\"&'", "origin": "flag", "abort_on_fail": false,
              "observed": null, "outcome": "error", "message": "cannot evaluate <this> & that", "exact": true }
        ],
        "endpoints": [],
        "shards": [
            { "shard": 0, "outcome": "completed", "reason": null, "k6_exit_code": 0, "requests": 500,
              "iterations": 500, "p95_ms": 300.0, "samples": 6000, "rejected_lines": 0,
              "resumed_at_ms": null, "ended_at_ms": null },
            { "shard": 1, "outcome": "completed", "reason": null, "k6_exit_code": 0, "requests": 500,
              "iterations": 500, "p95_ms": 320.0, "samples": 6000, "rejected_lines": 0,
              "resumed_at_ms": null, "ended_at_ms": null }
        ],
        "timeline": [],
        "warnings": []
    });
    serde_json::from_value(value).expect("the fixture is a summary")
}

/// A failed run: one shard never reported.
pub fn failed_summary() -> RunSummary {
    let mut summary = summary("checkout");
    summary.verdict = loadgrid_report::Verdict::Failed;
    summary.exit_code = 1;
    summary.partial = true;
    summary.verdict_reasons = vec!["shard 1 never reported".into()];
    summary.shards[1].outcome = loadgrid_report::ShardState::Missing;
    summary
}

pub fn regression() -> RegressionReport {
    RegressionReport {
        baseline_run_id: "20251231-020000-beef".into(),
        results: vec![
            RuleResult {
                metric: "http_req_duration".into(),
                stat: "p(95)".into(),
                rule: "+10%".into(),
                baseline: Some(250.0),
                current: Some(312.5),
                delta_text: "+25.0%".into(),
                regressed: true,
                note: None,
            },
            RuleResult {
                metric: "http_reqs".into(),
                stat: "rate".into(),
                rule: "-10%".into(),
                baseline: Some(100.0),
                current: Some(100.0),
                delta_text: "+0.0%".into(),
                regressed: false,
                note: None,
            },
            RuleResult {
                metric: "http_req_failed{name:a|b}".into(),
                stat: "rate".into(),
                rule: "+0.5pp".into(),
                baseline: None,
                current: Some(0.012),
                delta_text: "n/a".into(),
                regressed: false,
                note: Some("no value in one of the runs: not judged".into()),
            },
        ],
    }
}

pub fn record(summary: &RunSummary, regression: Option<RegressionReport>) -> HistoryRecord {
    let git = GitContext {
        sha: Some("abc".into()),
        run_url: Some("https://github.com/acme/shop/actions/runs/1".into()),
        ..GitContext::default()
    };
    HistoryRecord::from_summary(summary, regression, true, Some(git))
}

/// The last green run: faster, fewer errors.
pub fn green() -> HistoryRecord {
    let mut summary = summary("checkout");
    summary.run_id = "20251231-020000-beef".into();
    summary.verdict = loadgrid_report::Verdict::Passed;
    summary.exit_code = 0;
    summary.verdict_reasons.clear();
    for threshold in &mut summary.thresholds {
        threshold.outcome = loadgrid_report::ThresholdOutcome::Passed;
    }
    let duration = summary.metrics.get_mut("http_req_duration").unwrap();
    duration.values.insert("p(95)".into(), 250.0);
    record(&summary, None)
}
