//! History records against the committed schema (`schemas/history.schema.json`).

use loadgrid_history::regression::{default_rules, judge};
use loadgrid_history::{GitContext, HistoryRecord};
use loadgrid_report::RunSummary;
use serde_json::{json, Value};

const SCHEMA: &str = include_str!("../../../schemas/history.schema.json");

fn summary(run_id: &str, p95: f64, verdict: &str, exit_code: i32) -> RunSummary {
    serde_json::from_value(json!({
        "schema_version": 1, "run_id": run_id, "test_name": "checkout <script>", "script": "checkout.js",
        "created_at": "2026-12-01T02:00:05Z", "backend": "ecs", "k6_version": "1.1.0",
        "verdict": verdict, "exit_code": exit_code, "verdict_reasons": [], "partial": false, "stop": null,
        "shards_planned": 4, "started_at_ms": 1_764_554_405_000i64, "ended_at_ms": 1_764_554_465_000i64,
        "duration_seconds": 60.0,
        "metrics": {
            "http_req_duration": { "kind": "trend", "contains": "time", "values": { "avg": 40.0, "med": 35.0, "p(95)": p95, "p(99)": 120.0 } },
            "http_req_failed": { "kind": "rate", "contains": "default", "values": { "rate": 0.002, "passes": 2.0, "fails": 998.0 } },
            "http_reqs": { "kind": "counter", "contains": "default", "values": { "count": 1000.0, "rate": 16.6 } },
            "vus_max": { "kind": "gauge", "contains": "default", "values": { "value": 40.0, "min": 40.0, "max": 40.0 } }
        },
        "thresholds": [{ "metric": "http_req_duration", "expression": "p(95)<300", "origin": "script",
                         "abort_on_fail": false, "observed": p95, "outcome": "passed", "message": null, "exact": true }],
        "endpoints": [], "shards": [], "timeline": [], "warnings": []
    }))
    .expect("a valid summary")
}

fn errors(record: &HistoryRecord) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the committed schema compiles");
    let document = serde_json::to_value(record).unwrap();
    validator.iter_errors(&document).map(|e| format!("{e} at {}", e.instance_path)).collect()
}

#[test]
fn records_validate_with_and_without_a_baseline() {
    let baseline = HistoryRecord::from_summary(&summary("a", 100.0, "passed", 0), None, true, None);
    assert!(errors(&baseline).is_empty(), "{:?}", errors(&baseline));
    assert_eq!(baseline.headline.p95_ms, Some(100.0));
    assert_eq!(baseline.headline.vus_max, Some(40.0));

    let current = summary("b", 125.0, "passed", 0);
    let metrics = HistoryRecord::from_summary(&current, None, true, None).metrics;
    let report = judge(&default_rules(), "a", &baseline.metrics, &metrics);
    let git = GitContext::from_github_env(&|key| {
        let value = match key {
            "GITHUB_ACTIONS" => "true",
            "GITHUB_SHA" => "0123abc",
            "GITHUB_REF_NAME" => "main",
            "GITHUB_EVENT_NAME" => "schedule",
            "GITHUB_REPOSITORY" => "acme/shop",
            "GITHUB_SERVER_URL" => "https://github.com",
            "GITHUB_RUN_ID" => "42",
            _ => return None,
        };
        Some(value.to_owned())
    });
    let record = HistoryRecord::from_summary(&current, Some(report), true, git);
    assert!(errors(&record).is_empty(), "{:?}", errors(&record));
    assert_eq!(record.verdict.as_str(), "regressed");
    assert_eq!(record.exit_code, 98);
    assert!(
        record.verdict_reasons.iter().any(|r| r.contains("http_req_duration.p(95) +25.0%")),
        "{:?}",
        record.verdict_reasons
    );
    let git = record.git.as_ref().unwrap();
    assert_eq!(git.run_url.as_deref(), Some("https://github.com/acme/shop/actions/runs/42"));
    assert_eq!(git.trigger.as_deref(), Some("schedule"));
    assert_eq!(record.key(), "history/checkout__script_/20261201020005-b.json");
}

#[test]
fn a_warn_only_regression_keeps_the_thresholds_exit_code() {
    let base = HistoryRecord::from_summary(&summary("a", 100.0, "passed", 0), None, true, None);
    let current = summary("b", 200.0, "passed", 0);
    let report =
        judge(&default_rules(), "a", &base.metrics, &HistoryRecord::from_summary(&current, None, true, None).metrics);
    let record = HistoryRecord::from_summary(&current, Some(report), false, None);
    assert_eq!(record.verdict.as_str(), "regressed");
    assert_eq!(record.exit_code, 0);
}

#[test]
fn a_record_that_breaks_the_schema_is_caught() {
    let mut document =
        serde_json::to_value(HistoryRecord::from_summary(&summary("a", 1.0, "passed", 0), None, true, None)).unwrap();
    document["verdict"] = json!("great");
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    assert!(!jsonschema::draft202012::new(&schema).unwrap().is_valid(&document));
}

/// A run the script marked failed, with its checks: the record keeps the
/// verdict, exit code and tree, and validates.
#[test]
fn marked_failed_runs_keep_their_verdict_and_checks() {
    let mut summary = summary("c", 90.0, "marked_failed", 110);
    summary.root_group = serde_json::from_value(json!({
        "name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e",
        "groups": [{ "name": "login", "path": "::login", "id": "x", "groups": [],
                     "checks": [{ "name": "ok", "path": "::login::ok", "id": "y", "passes": 9, "fails": 1 }] }],
        "checks": []
    }))
    .unwrap();
    let record = HistoryRecord::from_summary(&summary, None, true, None);
    assert!(errors(&record).is_empty(), "{:?}", errors(&record));
    assert_eq!((record.verdict.as_str(), record.exit_code), ("marked_failed", 110));
    assert_eq!(record.root_group.groups[0].checks[0].fails, 1);
}

/// Version 1 records (no tree, `no_data` outcomes) are still read: trends
/// and baselines reach back past the upgrade.
#[test]
fn version_1_records_still_read() {
    let mut document =
        serde_json::to_value(HistoryRecord::from_summary(&summary("a", 1.0, "passed", 0), None, true, None)).unwrap();
    document["schema_version"] = json!(1);
    document.as_object_mut().unwrap().remove("root_group");
    document["thresholds"][0]["outcome"] = json!("no_data");
    let record: HistoryRecord = serde_json::from_value(document).unwrap();
    assert!(record.passed());
    assert!(record.root_group.is_empty());
}
