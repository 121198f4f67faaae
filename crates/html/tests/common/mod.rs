//! A realistic run to report: a minute of traffic on three shards (one
//! failed), thresholds that pass, cross and find no data, and user strings
//! that try to inject markup; and a history of runs for the trend site.

#![allow(dead_code)]

use loadgrid_history::record::{GitContext, Headline};
use loadgrid_history::{FinalVerdict, HistoryRecord, HISTORY_SCHEMA_VERSION};
use loadgrid_html::{BaselineDelta, ReportExtras, RuleOutcome};
use loadgrid_report::RunSummary;
use serde_json::json;

/// A test name, endpoint name and warning that must never become markup.
pub const HOSTILE: &str = "<script>alert(1)</script>";

pub const START_S: i64 = 1_717_243_200;
pub const SECONDS: i64 = 60;

/// The summary, with `test_name` as the test's name. It goes through
/// serde, so it has the exact shape `summary.json` has.
pub fn summary(test_name: &str) -> RunSummary {
    let timeline: Vec<_> = (0..SECONDS)
        .map(|i| {
            let ramp = (i.min(20) * 5) as u64; // up to 100 VUs in 20 s
            let rps = ramp * 4 + (i % 7) as u64;
            let failed = if i % 10 == 9 { rps / 20 } else { 0 };
            let base = 40.0 + (i % 13) as f64 * 2.5;
            json!({
                "t": START_S + i, "rps": rps, "failed": failed, "iterations": rps / 2, "vus": ramp,
                "data_sent": rps * 120, "data_received": rps * 2_300,
                // The first second has no requests, hence no latency.
                "p50_ms": (rps > 0).then_some(base),
                "p95_ms": (rps > 0).then_some(base * 2.2),
                "p99_ms": (rps > 0).then_some(base * 3.9),
            })
        })
        .collect();
    let value = json!({
        "schema_version": 2,
        "run_id": "20240601T120000Z-abc123",
        "test_name": test_name,
        "script": "tests/checkout.js",
        "created_at": "2024-06-01T11:59:50Z",
        "backend": "local",
        "k6_version": "v1.1.0",
        "verdict": "thresholds_crossed",
        "exit_code": 99,
        "verdict_reasons": ["threshold `http_req_duration{name:<b>login</b>}` 'p(95)<200' crossed"],
        "partial": true,
        "stop": {"reason": "shard_failed", "detail": "shard 2 failed: k6 exited with <code> 107"},
        "shards_planned": 3,
        "started_at_ms": START_S * 1000,
        "ended_at_ms": (START_S + SECONDS) * 1000,
        "duration_seconds": SECONDS as f64,
        "metrics": {
            "http_reqs": {"kind": "counter", "contains": "default", "values": {"count": 21_000.0, "rate": 350.0}},
            "http_req_duration": {"kind": "trend", "contains": "time", "values": {
                "avg": 61.2, "min": 3.1, "med": 48.5, "max": 812.0, "p(90)": 101.0, "p(95)": 131.7, "p(99)": 240.3, "count": 21_000.0}},
            "http_req_duration{name:<b>login</b>}": {"kind": "trend", "contains": "time", "values": {
                "avg": 120.0, "med": 110.0, "p(95)": 230.5, "count": 7_000.0}},
            "http_req_failed": {"kind": "rate", "contains": "default", "values": {"rate": 0.0123, "passes": 258.0, "fails": 20_742.0}},
            "iterations": {"kind": "counter", "contains": "default", "values": {"count": 10_500.0, "rate": 175.0}},
            "vus": {"kind": "gauge", "contains": "default", "values": {"value": 0.0, "min": 0.0, "max": 100.0}},
            "vus_max": {"kind": "gauge", "contains": "default", "values": {"value": 100.0, "min": 100.0, "max": 100.0}},
        },
        "thresholds": [
            {"metric": "http_req_failed", "expression": "rate<0.05", "aggregation": "rate", "origin": "script",
             "abort_on_fail": true, "observed": 0.0123, "outcome": "passed", "message": null, "exact": true,
             "no_samples": false},
            {"metric": "http_req_duration{name:<b>login</b>}", "expression": "p(95)<200", "aggregation": "p(95)",
             "origin": "config", "abort_on_fail": false, "observed": 230.5, "outcome": "crossed", "message": null,
             "exact": true, "no_samples": false},
            {"metric": "checks", "expression": "rate>0.99 && <img src=x onerror=alert(2)>", "aggregation": "rate",
             "origin": "flag", "abort_on_fail": false, "observed": null, "outcome": "passed", "message": null,
             "exact": true, "no_samples": true},
        ],
        "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": [
            {"name": "login <form>", "path": "::login <form>", "id": "a", "groups": [], "checks": [
                {"name": HOSTILE, "path": format!("::login <form>::{HOSTILE}"), "id": "b", "passes": 97, "fails": 3}]}
        ], "checks": [{"name": "status is 200", "path": "::status is 200", "id": "c", "passes": 10_500, "fails": 0}]},
        "endpoints": [
            {"name": "home", "requests": 14_000, "failed": 58, "rps": 233.3, "avg_ms": 30.2, "p50_ms": 28.0,
             "p95_ms": 70.1, "p99_ms": 120.9, "max_ms": 400.0},
            {"name": HOSTILE, "requests": 7_000, "failed": 200, "rps": 116.7, "avg_ms": 120.0, "p50_ms": 110.0,
             "p95_ms": 230.5, "p99_ms": 390.0, "max_ms": 812.0},
        ],
        "scenarios": [
            {"name": "browse", "requests": 21_000, "failed": 258, "rps": 350.0, "avg_ms": 60.1, "p50_ms": 40.0,
             "p95_ms": 180.5, "p99_ms": 350.0, "max_ms": 812.0},
        ],
        "shards": [
            {"shard": 0, "outcome": "completed", "reason": null, "k6_exit_code": 0, "requests": 8_000, "iterations": 4_000,
             "p95_ms": 128.0, "samples": 90_000, "rejected_lines": 0, "resumed_at_ms": START_S * 1000,
             "ended_at_ms": (START_S + SECONDS) * 1000},
            {"shard": 1, "outcome": "completed", "reason": null, "k6_exit_code": 0, "requests": 8_000, "iterations": 4_000,
             "p95_ms": 133.0, "samples": 90_000, "rejected_lines": 0, "resumed_at_ms": START_S * 1000,
             "ended_at_ms": (START_S + SECONDS) * 1000},
            {"shard": 2, "outcome": "failed", "reason": "k6 exited with 107: <oops>", "k6_exit_code": 107,
             "requests": 5_000, "iterations": 2_500, "p95_ms": 150.0, "samples": 50_000, "rejected_lines": 3,
             "resumed_at_ms": START_S * 1000, "ended_at_ms": (START_S + 40) * 1000,
             "backend_note": "ecs: EssentialContainerExited, exit 107 & <more>"},
        ],
        "timeline": timeline,
        "health": health(),
        "warnings": ["`vus` 100 is not a multiple of 3 shards: <i>uneven</i>", "see https://example.com/docs"],
    });
    serde_json::from_value(value).expect("the fixture is a valid summary")
}

/// Two shards' generators over the minute: shard 1 pegged from second 20.
fn health() -> serde_json::Value {
    let shard = |shard: u32, busy: bool| {
        let series: Vec<_> = (0..SECONDS)
            .map(|i| {
                let cpu = if busy && i >= 20 { 99.0 } else { 30.0 + (i % 5) as f64 };
                json!({"t": START_S + i, "cpu_percent": cpu, "memory_percent": 20.0 + i as f64 / 10.0})
            })
            .collect();
        let findings = if busy {
            json!([{"signal": "cpu", "saturated_seconds": 40, "seconds": 60, "peak_percent": 99.0}])
        } else {
            json!([])
        };
        json!({
            "shard": shard, "allowance": {"pool": "task", "cpu_cores": 1.0, "memory_bytes": 2_147_483_648u64},
            "seconds": SECONDS, "cpu_peak_percent": if busy { 99.0 } else { 34.0 }, "cpu_mean_percent": 50.0,
            "cpu_saturated_seconds": if busy { 40 } else { 0 }, "memory_peak_percent": 26.0,
            "k6_memory_peak_bytes": 90_000_000u64, "sockets_peak": 50, "net_rx_bytes": 5_000_000u64,
            "net_tx_bytes": 400_000u64, "findings": findings, "series": series,
        })
    };
    json!({
        "status": "saturated",
        "limits": {"cpu_percent": 90.0, "cpu_time_percent": 10.0, "memory_percent": 90.0, "on_saturation": "warn"},
        "start_skew_ms": 4,
        "messages": ["shard 1 ran at 99% CPU of its task (1 core) for 40 s of 60 s: <b>queueing</b>"],
        "shards": [shard(0, false), shard(1, true)],
    })
}

pub fn extras() -> ReportExtras {
    ReportExtras {
        baseline: Some(vec![
            BaselineDelta {
                metric: "http_req_duration p(95)".into(),
                baseline: Some(120.0),
                current: Some(131.7),
                delta_text: "+9.7%".into(),
                outcome: RuleOutcome::Regressed,
            },
            BaselineDelta {
                metric: "<em>rps</em>".into(),
                baseline: None,
                current: Some(350.0),
                delta_text: "new".into(),
                outcome: RuleOutcome::NotJudged,
            },
        ]),
        cost_usd: Some(0.4213),
        generated_by: "loadgrid 0.1.0".into(),
    }
}

/// The verdicts of [`history`]'s runs, in turn: mostly passes, with a
/// regression and a crossed threshold or failure now and then.
pub fn verdict_of(i: usize) -> FinalVerdict {
    match i % 7 {
        3 => FinalVerdict::Regressed,
        5 => FinalVerdict::ThresholdsCrossed,
        6 if i.is_multiple_of(2) => FinalVerdict::Failed,
        _ => FinalVerdict::Passed,
    }
}

/// `runs` history records of `test_name`, a day apart, oldest first; run
/// ids `<test-ish>-<i>`, with p95, error rate and RPS that wander.
pub fn history(test_name: &str, runs: usize) -> Vec<HistoryRecord> {
    (0..runs)
        .map(|i| {
            let verdict = verdict_of(i);
            let passed = verdict == FinalVerdict::Passed;
            let p95 = 120.0 + (i % 5) as f64 * 9.0 + if passed { 0.0 } else { 60.0 };
            let run_id = format!("20240{}{:02}T120000Z-r{i:03}", 6 + i / 28, 1 + i % 28);
            HistoryRecord {
                schema_version: HISTORY_SCHEMA_VERSION,
                run_id,
                test_name: test_name.to_owned(),
                script: "tests/checkout.js".into(),
                created_at: format!("2024-0{}-{:02}T12:00:00Z", 6 + i / 28, 1 + i % 28),
                started_at_ms: None,
                ended_at_ms: None,
                duration_seconds: 60.0,
                backend: "local".into(),
                shards_planned: 2,
                partial: false,
                verdict,
                exit_code: if passed { 0 } else { 99 },
                verdict_reasons: Vec::new(),
                headline: Headline {
                    requests: Some(21_000.0),
                    rps: Some(350.0 - (i % 4) as f64 * 12.5),
                    p50_ms: Some(p95 / 2.0),
                    p95_ms: Some(p95),
                    p99_ms: Some(p95 * 1.6),
                    error_rate: Some(if passed { 0.001 * (i % 3) as f64 } else { 0.031 }),
                    vus_max: Some(100.0),
                    iterations: Some(10_500.0),
                },
                metrics: Default::default(),
                thresholds: Vec::new(),
                root_group: Default::default(),
                regression: None,
                health: Default::default(),
                git: Some(GitContext { sha: Some(format!("{i:02}c0ffee1234567890")), ..Default::default() }),
                cost_usd: Some(0.0123 * (i + 1) as f64),
            }
        })
        .collect()
}
