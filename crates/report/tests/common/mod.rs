//! A realistic grid run to summarise: four planned shards (two completed,
//! one failed, one missing), HTTP traffic to two endpoints, VUs on the
//! timeline, a custom counter, and thresholds that pass, cross and find no
//! data.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use loadgrid_metrics::{Aggregate, MetricEntry, MetricKind, MetricSet, ShardResult, TagSet, ValueKind, VALUE_SCALE};
use loadgrid_plan::manifest::{Manifest, Timing, MANIFEST_SCHEMA};
use loadgrid_plan::records::{ShardOutcome, ShardStatus, Stop, StopReason};
use loadgrid_report::{build_summary, test_time, RunSummary, ShardInput, SummaryInput, Verdict};
use loadgrid_thresholds::{evaluate, Evaluation, Origin, Threshold};

/// Unix second the test resumed at.
pub const START_S: i64 = 1_700_000_000;
/// Seconds the test ran.
pub const SECONDS: i64 = 30;

pub fn manifest() -> Manifest {
    Manifest {
        schema: MANIFEST_SCHEMA,
        run_id: "20240601T120000Z-abc123".to_owned(),
        test_name: "checkout".to_owned(),
        script: "tests/checkout.js".to_owned(),
        created_at: "2024-06-01T12:00:00Z".to_owned(),
        backend: loadgrid_plan::BackendKind::Local,
        shards: 4,
        segments: vec!["0:1/4".into(), "1/4:2/4".into(), "2/4:3/4".into(), "3/4:1".into()],
        segment_sequence: "0,1/4,2/4,3/4,1".to_owned(),
        k6_version: "v1.1.0".to_owned(),
        env: BTreeMap::new(),
        tags: BTreeMap::new(),
        system_tags: vec!["name".into(), "status".into(), "expected_response".into()],
        thresholds: Vec::new(),
        selectors: Vec::new(),
        total_duration_ms: 30_000,
        max_vus: 8,
        setup_timeout_ms: 60_000,
        teardown_timeout_ms: 60_000,
        summary_trend_stats: loadgrid_plan::inspect::default_trend_stats(),
        summary_time_unit: String::new(),
        timing: Timing::local(),
        max_series_per_metric: 1000,
        allow_partial: false,
        secrets: Default::default(),
        health: Default::default(),
        warnings: Vec::new(),
    }
}

fn entry<'a>(set: &'a mut MetricSet, name: &str, kind: MetricKind, contains: ValueKind) -> &'a mut MetricEntry {
    set.metrics.entry(name.to_owned()).or_insert_with(|| MetricEntry::new(Some(kind), contains))
}

fn record(entry: &mut MetricEntry, tags: &TagSet, value: f64, time_us: i64) {
    let histogram = entry.wants_histogram();
    entry.series.entry(tags.clone()).or_insert_with(|| Aggregate::new(histogram)).record_f64(value, time_us);
}

/// One HTTP request as k6 reports it: duration, count, failure, bytes, and
/// the timeline's second.
fn request(set: &mut MetricSet, name: &str, status: u16, ms: f64, t: i64) {
    let failed = status >= 400;
    let tags = TagSet::from_pairs([
        ("name", name.to_owned()),
        ("status", status.to_string()),
        ("expected_response", (!failed).to_string()),
    ]);
    let time_us = t * 1_000_000;
    record(entry(set, "http_req_duration", MetricKind::Trend, ValueKind::Time), &tags, ms, time_us);
    record(entry(set, "http_reqs", MetricKind::Counter, ValueKind::Default), &tags, 1.0, time_us);
    record(
        entry(set, "http_req_failed", MetricKind::Rate, ValueKind::Default),
        &tags,
        f64::from(u8::from(failed)),
        time_us,
    );
    record(entry(set, "data_received", MetricKind::Counter, ValueKind::Data), &tags, 2_000.0, time_us);
    record(entry(set, "data_sent", MetricKind::Counter, ValueKind::Data), &tags, 300.0, time_us);
    let second = set.timeline.second_mut(t);
    second.requests += 1;
    second.failed_requests += u64::from(failed);
    set.timeline.record_latency(t, (ms * VALUE_SCALE as f64) as i64);
}

/// One completed shard's metrics: `vus` VUs, each second two iterations
/// per VU, each iteration a login and a home request.
pub fn shard_metrics(vus: u64, login_ms: f64) -> MetricSet {
    let mut set = MetricSet::new();
    let none = TagSet::new();
    for t in START_S..START_S + SECONDS {
        let ramp = if t == START_S + SECONDS - 1 { 0 } else { vus };
        for i in 0..ramp * 2 {
            let jitter = (i % 5) as f64;
            let status = if t % 10 == 0 && i == 0 { 500 } else { 200 };
            request(&mut set, "login", status, login_ms + jitter * 10.0, t);
            request(&mut set, "home", 200, 8.0 + jitter, t);
            let time_us = t * 1_000_000;
            record(entry(&mut set, "iterations", MetricKind::Counter, ValueKind::Default), &none, 1.0, time_us);
            let duration = login_ms + 20.0 + jitter;
            record(entry(&mut set, "iteration_duration", MetricKind::Trend, ValueKind::Time), &none, duration, time_us);
            set.timeline.second_mut(t).iterations += 1;
        }
        let gauge = entry(&mut set, "vus", MetricKind::Gauge, ValueKind::Default);
        record(gauge, &none, ramp as f64, t * 1_000_000);
        let second = set.timeline.second_mut(t);
        second.vus = ramp;
        second.vus_max = vus;
        let orders = entry(&mut set, "orders_placed", MetricKind::Counter, ValueKind::Default);
        record(orders, &none, ramp as f64, t * 1_000_000);
        let time_us = t * 1_000_000 + 1;
        set.groups.record_check("", "status is 200", t % 10 != 0, time_us);
        set.groups.record_check("::checkout", "order placed", true, time_us + 1);
        set.groups.see_group("::checkout::payment", time_us + 2);
    }
    set
}

pub fn thresholds() -> Vec<Threshold> {
    let threshold = |key: &str, expression: &str| Threshold::new(key, expression, Origin::Script).unwrap();
    let mut abort = threshold("http_req_failed", "rate<0.05");
    abort.abort_on_fail = true;
    vec![
        threshold("http_req_duration", "p(95)<500"),
        threshold("http_req_duration{name:login}", "p(95)<300"),
        abort,
        threshold("http_req_duration{name:checkout}", "p(99)<800"),
        Threshold::new("orders_placed", "count>10", Origin::Config).unwrap(),
    ]
}

pub fn status(shard: u32, outcome: ShardOutcome, exit: i32, samples: u64) -> ShardStatus {
    let start_ms = START_S * 1000;
    ShardStatus {
        shard,
        outcome,
        reason: (outcome == ShardOutcome::Failed).then(|| "k6 exited with code 255: bad config".to_owned()),
        k6_exit_code: Some(exit),
        k6_stderr_tail: Vec::new(),
        started_at_ms: start_ms - 2_000,
        resumed_at_ms: Some(start_ms + i64::from(shard)),
        test_ended_at_ms: Some(start_ms + SECONDS * 1000 + i64::from(shard)),
        marked_failed: None,
        ended_at_ms: start_ms + SECONDS * 1000 + 500 + i64::from(shard),
        has_result: outcome != ShardOutcome::Failed,
        samples,
        rejected_lines: if shard == 1 { 3 } else { 0 },
        overflowed_metrics: Vec::new(),
        health: None,
    }
}

pub fn result(shard: u32, metrics: MetricSet) -> ShardResult {
    ShardResult {
        shard,
        metrics,
        first_sample_us: Some(START_S * 1_000_000),
        last_sample_us: Some((START_S + SECONDS) * 1_000_000 - 1),
        samples: 10_000 + u64::from(shard),
        rejected_lines: if shard == 1 { 3 } else { 0 },
    }
}

/// Everything a summary is built from, owned so that tests can borrow it.
pub struct Run {
    pub manifest: Manifest,
    pub merged: MetricSet,
    pub statuses: Vec<ShardStatus>,
    pub results: Vec<ShardResult>,
    pub evaluations: Vec<Evaluation>,
    pub stop: Stop,
}

pub fn run() -> Run {
    let results = vec![result(0, shard_metrics(4, 120.0)), result(1, shard_metrics(4, 400.0))];
    let merged = MetricSet::merge_shards(results.iter().map(|r| &r.metrics));
    let evaluations = evaluate(&thresholds(), &merged, Duration::from_secs(SECONDS as u64));
    let statuses = vec![
        status(0, ShardOutcome::Completed, 0, 10_000),
        status(1, ShardOutcome::Completed, 0, 10_001),
        status(2, ShardOutcome::Failed, 255, 0),
    ];
    let stop = Stop { reason: StopReason::ShardFailed, detail: "shard 2 failed".to_owned(), at_ms: START_S * 1000 };
    Run { manifest: manifest(), merged, statuses, results, evaluations, stop }
}

impl Run {
    pub fn summary(&self) -> RunSummary {
        let shard = |i: usize| ShardInput {
            shard: i as u32,
            status: self.statuses.get(i),
            result: self.results.get(i),
            backend_note: None,
        };
        let shards = vec![shard(0), shard(1), shard(2)];
        build_summary(&SummaryInput {
            manifest: &self.manifest,
            merged: &self.merged,
            test_time: test_time(Some(START_S * 1000), &shards, &self.merged),
            shards,
            evaluations: &self.evaluations,
            verdict: Verdict::Failed,
            exit_code: 1,
            verdict_reasons: vec!["shard 2 failed".to_owned(), "shard 3 never reported".to_owned()],
            partial: true,
            stop: Some(&self.stop),
            warnings: vec!["vus (8) split unevenly".to_owned()],
            health: Default::default(),
        })
    }
}

/// The fixture's summary.
pub fn summary() -> RunSummary {
    run().summary()
}
