//! What `build_summary` makes of the fixture run.

mod common;

use loadgrid_metrics::MetricKind;
use loadgrid_report::{test_time, ShardInput, ShardState};

#[test]
fn run_facts_come_from_the_manifest_and_statuses() {
    let summary = common::summary();
    assert_eq!(summary.schema_version, loadgrid_report::SUMMARY_SCHEMA_VERSION);
    assert_eq!(summary.run_id, "20240601T120000Z-abc123");
    assert_eq!(summary.shards_planned, 4);
    // Earliest resume (shard 0) to latest end (shard 2).
    assert_eq!(summary.started_at_ms, Some(common::START_S * 1000));
    assert_eq!(summary.ended_at_ms, Some((common::START_S + common::SECONDS) * 1000 + 2));
    assert_eq!(summary.duration_seconds, 30.002);
    assert_eq!(summary.stop.as_ref().unwrap().detail, "shard 2 failed");
}

#[test]
fn metrics_use_k6_summary_export_values() {
    let summary = common::summary();
    let reqs = &summary.metrics["http_reqs"];
    // Two shards × 29 busy seconds × 8 iterations × 2 requests.
    assert_eq!(reqs.values["count"], 928.0);
    assert!((reqs.values["rate"] - 928.0 / 30.002).abs() < 1e-9);
    let failed = &summary.metrics["http_req_failed"];
    assert_eq!((failed.values["passes"], failed.values["fails"]), (6.0, 922.0));
    let duration = &summary.metrics["http_req_duration"];
    assert_eq!(duration.kind, Some(MetricKind::Trend));
    for key in ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"] {
        assert!(duration.values.contains_key(key), "{key}");
    }
    // Sub-metrics thresholds name, and k6's default one.
    assert!(summary.metrics.contains_key("http_req_duration{name:login}"));
    assert!(summary.metrics.contains_key("http_req_duration{expected_response:true}"));
    assert_eq!(summary.metrics["http_req_duration{name:checkout}"].values["count"], 0.0);
    assert_eq!(summary.metrics["orders_placed"].values["count"], 232.0);
}

#[test]
fn vus_are_grid_wide_from_the_timeline() {
    let summary = common::summary();
    let vus = &summary.metrics["vus"].values;
    assert_eq!((vus["value"], vus["min"], vus["max"]), (0.0, 0.0, 8.0));
    assert_eq!(summary.metrics["vus"].kind, Some(MetricKind::Gauge));
    assert_eq!(summary.timeline.len(), common::SECONDS as usize);
    assert_eq!(summary.timeline[0].vus, 8);
    assert_eq!(summary.timeline[0].rps, 32);
    assert_eq!(summary.timeline[0].iterations, 16);
    assert!(summary.timeline[0].p95_ms.is_some());
}

#[test]
fn thresholds_keep_order_outcome_and_origin() {
    let summary = common::summary();
    let outcomes: Vec<(&str, &str)> =
        summary.thresholds.iter().map(|t| (t.metric.as_str(), t.outcome.label())).collect();
    assert_eq!(
        outcomes,
        [
            ("http_req_duration", "passed"),
            ("http_req_duration{name:login}", "crossed"),
            ("http_req_failed", "passed"),
            ("http_req_duration{name:checkout}", "passed"),
            ("orders_placed", "passed"),
        ]
    );
    assert!(summary.thresholds[2].abort_on_fail);
    assert_eq!(summary.thresholds[4].origin, loadgrid_thresholds::Origin::Config);
    assert!(summary.thresholds[1].observed.unwrap() > 300.0);
    assert_eq!(summary.thresholds[1].aggregation, "p(95)");
    // No samples: judged on zeros, as k6 does.
    assert_eq!((summary.thresholds[3].observed, summary.thresholds[3].no_samples), (Some(0.0), true));
}

#[test]
fn endpoints_are_busiest_first_with_failures() {
    let summary = common::summary();
    let names: Vec<&str> = summary.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["home", "login"], "equal requests sort by name");
    let login = &summary.endpoints[1];
    assert_eq!((login.requests, login.failed), (464, 6));
    assert!(login.p95_ms.unwrap() > login.p50_ms.unwrap());
    assert!((login.rps - 464.0 / 30.002).abs() < 1e-9);
}

#[test]
fn shards_cover_the_plan_with_their_own_numbers() {
    let summary = common::summary();
    let shards = &summary.shards;
    assert_eq!(shards.len(), 4);
    assert_eq!((shards[0].requests, shards[0].iterations), (464, 232));
    assert!(shards[1].p95_ms.unwrap() > shards[0].p95_ms.unwrap(), "shard 1 has the slow logins");
    assert_eq!(shards[1].rejected_lines, 3);
    assert_eq!((shards[2].outcome.as_str(), shards[2].k6_exit_code, shards[2].requests), ("failed", Some(255), 0));
    assert_eq!(shards[3].outcome, ShardState::Missing);
    assert_eq!(shards[3].ended_at_ms, None);
}

#[test]
fn warnings_keep_the_callers_and_add_derived_ones() {
    let summary = common::summary();
    assert_eq!(summary.warnings[0], "vus (8) split unevenly");
    assert!(summary
        .warnings
        .iter()
        .any(|w| w.contains("http_req_duration{name:checkout}") && w.contains("no samples")));
    assert!(summary.warnings.iter().any(|w| w.contains("3 lines of k6 output")));
}

/// The test's time is k6's: from the shared start to the end of the last
/// shard's test, not to when the shards finished uploading.
#[test]
fn test_time_is_from_the_shared_start_to_the_last_test_end() {
    let run = common::run();
    let shard = |i: usize| ShardInput {
        shard: i as u32,
        status: run.statuses.get(i),
        result: run.results.get(i),
        backend_note: None,
    };
    let go = common::START_S * 1000 - 3;
    let time = test_time(Some(go), &[shard(0), shard(1), shard(2)], &run.merged);
    assert_eq!(time.started_at_ms, Some(go));
    assert_eq!(time.ended_at_ms, Some((common::START_S + common::SECONDS) * 1000 + 2));
    let without_go = test_time(None, &[shard(0), shard(1)], &run.merged);
    assert_eq!(without_go.started_at_ms, Some(common::START_S * 1000), "the first resume");
    // No statuses: the shards' first and last samples.
    let samples_only = [ShardInput { shard: 0, status: None, result: Some(&run.results[0]), backend_note: None }];
    let from_samples = test_time(None, &samples_only, &run.merged);
    assert_eq!(from_samples.started_at_ms, Some(common::START_S * 1000));
    assert_eq!(from_samples.duration_seconds, 29.999);
    // Nothing from the shards: the merged timeline's whole seconds.
    let from_timeline = test_time(None, &[], &run.merged);
    assert_eq!(from_timeline.duration_seconds, common::SECONDS as f64);
    assert_eq!(from_timeline.ended_at_ms, Some((common::START_S + common::SECONDS) * 1000));
}

#[test]
fn groups_and_checks_form_k6_s_root_group() {
    let root = common::summary().root_group;
    assert_eq!((root.name.as_str(), root.path.as_str()), ("", ""));
    assert_eq!(root.id, "d41d8cd98f00b204e9800998ecf8427e");
    let check = &root.checks[0];
    assert_eq!((check.name.as_str(), check.path.as_str()), ("status is 200", "::status is 200"));
    // Two shards × 30 seconds, three of them failing.
    assert_eq!((check.passes, check.fails), (54, 6));
    let checkout = &root.groups[0];
    assert_eq!((checkout.name.as_str(), checkout.path.as_str()), ("checkout", "::checkout"));
    assert_eq!(checkout.checks[0].path, "::checkout::order placed");
    assert_eq!(checkout.groups[0].path, "::checkout::payment");
    assert!(checkout.groups[0].checks.is_empty(), "a group without checks is listed, as k6 does");
}
