//! Behaviour of the k6 CSV ingest: parsing, tags, caps, selectors, timeline.
//! (JSON-specific behaviour and the CSV/JSON equality are in `ingest_json.rs`.)

mod common;

use std::collections::BTreeMap;

use loadgrid_metrics::ingest::{Ingest, IngestConfig, OutputFormat};
use loadgrid_metrics::{MetricKind, Second, ShardResult, TagSet, ValueKind, LIVE_LATENCY_SECONDS, VALUE_SCALE};
use proptest::prelude::*;

use common::{ingest_with, series_counts, tags};

const HEADER: &str =
    "metric_name,timestamp,metric_value,check,expected_response,group,method,name,scenario,status,extra_tags,metadata\n";
const FIXTURE: &str = include_str!("fixtures/k6-small.csv");

/// The default configuration, reading CSV.
fn csv_config() -> IngestConfig {
    IngestConfig { format: OutputFormat::Csv, ..IngestConfig::default() }
}

fn ingest(csv: &str) -> ShardResult {
    ingest_with(csv_config(), csv)
}

#[test]
fn reads_the_documented_example() {
    let csv = format!(
        "{HEADER}\
http_reqs,1795312265501730,1.000000,,false,::setup,GET,http://127.0.0.1:8765/setup,,404,,
http_req_duration,1795312265501730,0.961246,,false,::setup,GET,http://127.0.0.1:8765/setup,,404,,
http_reqs,1795312265504295,1.000000,,false,,GET,foo,a,404,mytag=v&shard=0,
vus,1795312219872878,0.000000,,,,,,,,shard=0,
"
    );
    let result = ingest(&csv);
    assert_eq!(result.samples, 4);
    assert_eq!(result.rejected_lines, 0);
    // The VU gauge is sampled while k6 is paused too: it does not count.
    assert_eq!(result.first_sample_us, Some(1795312265501730));
    assert_eq!(result.last_sample_us, Some(1795312265504295));
    let requests = series_counts(&result, "http_reqs");
    let setup = tags(&[
        ("expected_response", "false"),
        ("group", "::setup"),
        ("method", "GET"),
        ("name", "http://127.0.0.1:8765/setup"),
        ("status", "404"),
    ]);
    let foo = tags(&[
        ("expected_response", "false"),
        ("method", "GET"),
        ("name", "foo"),
        ("scenario", "a"),
        ("status", "404"),
        ("mytag", "v"),
    ]);
    assert_eq!(requests, BTreeMap::from([(setup.clone(), 1), (foo, 1)]));
    let duration = &result.metrics.metric("http_req_duration").unwrap().series[&setup];
    assert_eq!(duration.sum(), 0.961246);
    assert_eq!(result.metrics.metric("http_req_duration").unwrap().kind, Some(MetricKind::Trend));
    assert_eq!(result.metrics.metric("vus").unwrap().kind, Some(MetricKind::Gauge));
    assert_eq!(result.metrics.metric("vus").unwrap().series.keys().collect::<Vec<_>>(), [&TagSet::new()]);
}

#[test]
fn header_decides_the_columns() {
    // Extra system tags (url, error_code) in k6's sorted order.
    let with_url = "metric_name,timestamp,metric_value,error_code,name,status,url,extra_tags,metadata\n\
http_reqs,1000000,1.000000,1501,login,500,http://x/login,,\n";
    let result = ingest(with_url);
    let expected = tags(&[("error_code", "1501"), ("name", "login"), ("status", "500"), ("url", "http://x/login")]);
    assert_eq!(series_counts(&result, "http_reqs"), BTreeMap::from([(expected, 1)]));

    // No system tags at all, and no metadata column.
    let minimal = "metric_name,timestamp,metric_value,extra_tags\nhttp_reqs,1000000,1.000000,a=1\n";
    assert_eq!(series_counts(&ingest(minimal), "http_reqs"), BTreeMap::from([(tags(&[("a", "1")]), 1)]));

    // Columns in another order, tag columns not next to each other.
    let shuffled = "name,metric_value,metric_name,status,timestamp,metadata,extra_tags\n\
login,2.500000,http_req_duration,200,1000000,meta=1,b=2\n\
login,3.500000,http_req_duration,200,1000001,,b=2\n";
    let result = ingest(shuffled);
    let expected = tags(&[("b", "2"), ("name", "login"), ("status", "200")]);
    assert_eq!(series_counts(&result, "http_req_duration"), BTreeMap::from([(expected, 2)]));
    assert_eq!(result.metrics.metric("http_req_duration").unwrap().total().sum(), 6.0);
}

#[test]
fn a_header_without_required_columns_rejects_every_line() {
    let result = ingest("metric_name,value\nhttp_reqs,1\nhttp_reqs,1\n");
    assert_eq!(result.samples, 0);
    assert_eq!(result.rejected_lines, 3, "the header and both lines");
}

#[test]
fn quoted_fields_keep_their_commas_quotes_and_newlines() {
    let csv = format!(
        "{HEADER}\
checks,1000000,1.000000,\"status is 200, logged in\",,\"::auth, login\",,,browse,,,
checks,1000001,0.000000,\"status is 200, logged in\",,\"::auth, login\",,,browse,,,
checks,1000002,1.000000,\"say \"\"hi\"\"\",,,,,,,,
checks,1000003,1.000000,\"two
lines\",,,,,,,,
"
    );
    let result = ingest(&csv);
    assert_eq!(result.rejected_lines, 0);
    let checks = series_counts(&result, "checks");
    assert_eq!(
        checks[&tags(&[("check", "status is 200, logged in"), ("group", "::auth, login"), ("scenario", "browse")])],
        2
    );
    assert_eq!(checks[&tags(&[("check", "say \"hi\"")])], 1);
    assert_eq!(checks[&tags(&[("check", "two\nlines")])], 1);
    assert_eq!(result.metrics.metric("checks").unwrap().total().nonzero(), 3);
}

#[test]
fn extra_tags_in_any_order_land_in_one_series() {
    let csv = format!(
        "{HEADER}\
http_reqs,1000000,1.000000,,,,,,,,a=1&b=2&shard=3,
http_reqs,1000001,1.000000,,,,,,,,b=2&shard=3&a=1,
http_reqs,1000002,1.000000,,,,,,,,shard=3&b=2&a=1,
"
    );
    let result = ingest(&csv);
    assert_eq!(series_counts(&result, "http_reqs"), BTreeMap::from([(tags(&[("a", "1"), ("b", "2")]), 3)]));
}

#[test]
fn dropped_tags_are_not_kept_but_still_select() {
    let config = IngestConfig {
        selectors: vec![("http_reqs".into(), tags(&[("shard", "3")])), ("http_reqs".into(), tags(&[("shard", "4")]))],
        ..csv_config()
    };
    let csv = format!("{HEADER}http_reqs,1000000,1.000000,,,,,login,,,shard=3,\n");
    let result = ingest_with(config, &csv);
    let entry = result.metrics.metric("http_reqs").unwrap();
    assert_eq!(entry.series.keys().cloned().collect::<Vec<_>>(), [tags(&[("name", "login")])]);
    assert_eq!(entry.selectors[&tags(&[("shard", "3")])].count(), 1);
    assert_eq!(entry.selectors[&tags(&[("shard", "4")])].count(), 0, "configured selectors exist even when empty");

    let keep_everything = IngestConfig { dropped_tags: Vec::new(), ..csv_config() };
    let result = ingest_with(keep_everything, &csv);
    assert_eq!(
        series_counts(&result, "http_reqs").into_keys().collect::<Vec<_>>(),
        [tags(&[("name", "login"), ("shard", "3")])]
    );
}

/// `count` lines of `metric` with value `i` ms and tags name=e{i % names}.
fn lines(metric: &str, count: usize, names: usize, start_us: i64) -> String {
    (0..count)
        .map(|i| format!("{metric},{},{}.000000,,,,,e{},,200,,\n", start_us + i as i64 * 1000, i + 1, i % names))
        .collect()
}

#[test]
fn sub_timings_are_collapsed_but_selectors_stay_exact() {
    let config = IngestConfig { selectors: vec![("http_req_waiting".into(), tags(&[("name", "e1")]))], ..csv_config() };
    let csv = format!(
        "{HEADER}{}{}",
        lines("http_req_waiting", 30, 3, 1_000_000),
        lines("http_req_duration", 30, 3, 1_000_000)
    );
    let result = ingest_with(config, &csv);
    let waiting = result.metrics.metric("http_req_waiting").unwrap();
    assert!(waiting.collapsed);
    assert_eq!(waiting.series.keys().collect::<Vec<_>>(), [&TagSet::new()]);
    assert_eq!(waiting.total().count(), 30);
    let selected = &waiting.selectors[&tags(&[("name", "e1")])];
    // e1 is every third line from the second: values 2, 5, ..., 29 ms.
    assert_eq!(selected.count(), 10);
    assert_eq!(selected.min(), Some(2.0));
    assert_eq!(selected.max(), Some(29.0));
    assert_eq!(selected.sum(), (0..10).map(|i| 2.0 + 3.0 * i as f64).sum::<f64>());
    assert!(selected.has_histogram(), "trend selectors keep percentiles");
    let (via_submetric, exact) = waiting.submetric(&tags(&[("name", "e1")])).unwrap();
    assert!(exact);
    assert_eq!(&via_submetric, selected);
    // The request duration itself keeps its tag sets.
    let duration = result.metrics.metric("http_req_duration").unwrap();
    assert!(!duration.collapsed);
    assert_eq!(duration.series.len(), 3);
}

#[test]
fn the_cap_sends_new_tag_sets_to_overflow_and_totals_stay_exact() {
    let config = IngestConfig {
        max_series_per_metric: 2,
        selectors: vec![("http_req_duration".into(), tags(&[("name", "e4")]))],
        ..csv_config()
    };
    let mut ingest = Ingest::new(config);
    ingest.feed(format!("{HEADER}{}", lines("http_req_duration", 50, 5, 1_000_000)).as_bytes());
    assert_eq!(ingest.overflowed_metrics(), [("http_req_duration".to_owned(), 30)]);
    let result = ingest.into_result();
    let entry = result.metrics.metric("http_req_duration").unwrap();
    assert_eq!(entry.series.len(), 2);
    assert_eq!(entry.overflow.as_ref().unwrap().count(), 30);
    assert_eq!(result.metrics.overflow_samples, 30);
    let total = entry.total();
    assert_eq!(total.count(), 50);
    assert_eq!(total.sum(), (1..=50).sum::<i32>() as f64);
    assert_eq!(total.max(), Some(50.0));
    assert!(total.percentile(99.0).is_some(), "overflow keeps its histogram");
    // e4 overflowed, but its selector saw every sample.
    let selected = &entry.selectors[&tags(&[("name", "e4")])];
    assert_eq!(selected.count(), 10);
    assert_eq!(selected.sum(), (0..10).map(|i| 5.0 + 5.0 * i as f64).sum::<f64>());
    let (_, exact) = entry.submetric(&tags(&[("name", "e4")])).unwrap();
    assert!(exact);
    let (_, exact) = entry.submetric(&tags(&[("name", "e0")])).unwrap();
    assert!(!exact, "without a selector, an overflowed metric's sub-metrics are not exact");
}

#[test]
fn the_timeline_counts_per_second() {
    let csv = format!(
        "{HEADER}\
vus,100000000,2.000000,,,,,,,,,
vus_max,100000000,10.000000,,,,,,,,,
http_reqs,100100000,1.000000,,,,,a,,200,,
http_req_duration,100100000,10.000000,,,,,a,,200,,
http_req_failed,100100000,0.000000,,,,,a,,200,,
http_reqs,100900000,1.000000,,,,,a,,500,,
http_req_duration,100900000,30.000000,,,,,a,,500,,
http_req_failed,100900000,1.000000,,,,,a,,500,,
iterations,100950000,1.000000,,,,,,,,,
vus,100999999,5.000000,,,,,,,,,
vus,100500000,4.000000,,,,,,,,,
http_reqs,103000000,1.000000,,,,,a,,200,,
"
    );
    let result = ingest(&csv);
    let seconds: Vec<_> = result.metrics.timeline.iter().collect();
    assert_eq!(seconds.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [100, 101, 102, 103]);
    let first = seconds[0].1;
    assert_eq!((first.requests, first.failed_requests, first.iterations), (2, 1, 1));
    assert_eq!(first.vus, 5, "the latest vus sample of the second wins");
    assert_eq!(first.vus_max, 10);
    assert_eq!(first.latency.as_ref().unwrap().len(), 2);
    assert!((first.latency_percentile(100.0).unwrap() - 30.0).abs() < 0.3);
    // A shard's seconds without a gauge sample hold none (the grid carries
    // values forward when it sums shards).
    assert_eq!((seconds[2].1.vus, seconds[2].1.vus_max, seconds[2].1.requests), (0, 0, 0));
    assert_eq!(seconds[3].1.requests, 1);
    // The rate itself keeps both samples.
    assert_eq!(result.metrics.metric("http_req_failed").unwrap().total().rate(), Some(0.5));
}

#[test]
fn bad_lines_are_counted_and_skipped() {
    let csv = format!(
        "{HEADER}\
http_reqs,1000000,1.000000,,,,,a,,200,,
http_reqs,1000000,1.000000,,,,,a,,200
http_reqs,10000x0,1.000000,,,,,a,,200,,
http_reqs,1000000,one,,,,,a,,200,,
http_reqs,1000000,NaN,,,,,a,,200,,
,1000000,1.000000,,,,,a,,200,,
http_reqs,1000000,1.000000,,,,,a\"b,,200,,
http_reqs,1000000,1.000000,,,,,\"a\"b,,200,,
http_reqs,1000000,1.000000,,,,,\"unclosed,,200,,
http_reqs,1000001,1.000000,,,,,a,,200,,

http_reqs,1000002,1.000000,,,,,a,,200,,\r
"
    );
    let result = ingest(&csv);
    assert_eq!(result.rejected_lines, 8);
    assert_eq!(result.samples, 3, "good lines around bad ones still count, the unclosed quote swallows nothing");
    assert_eq!(series_counts(&result, "http_reqs"), BTreeMap::from([(tags(&[("name", "a"), ("status", "200")]), 3)]));
}

#[test]
fn a_bad_line_with_a_cached_route_is_still_rejected() {
    // The same tag bytes once well-formed, then with a bad number: the route
    // cache must not make the second line pass.
    let csv = format!("{HEADER}http_reqs,1000000,1.000000,,,,,a,,200,,\nhttp_reqs,1000000,1.0000x0,,,,,a,,200,,\n");
    let result = ingest(&csv);
    assert_eq!((result.samples, result.rejected_lines), (1, 1));
}

#[test]
fn values_are_exact_fixed_point() {
    let csv: String = std::iter::once(HEADER.to_owned())
        .chain((0..1000).map(|i| format!("data_sent,{},0.100001,,,,,,,,,\n", 1_000_000 + i)))
        .chain(std::iter::once("data_sent,2000000,-0.000001,,,,,,,,,\n".to_owned()))
        .chain(std::iter::once("data_sent,2000000,1.5e3,,,,,,,,,\n".to_owned()))
        .collect();
    let result = ingest(&csv);
    let total = result.metrics.metric("data_sent").unwrap().total();
    assert_eq!(total.sum(), (1000 * 100_001 - 1 + 1_500_000_000) as f64 / VALUE_SCALE as f64);
    assert_eq!(total.min(), Some(-0.000001));
}

#[test]
fn custom_metric_kinds_settle_histograms() {
    let csv = format!(
        "{HEADER}\
logins,1000000,1.000000,,,,,,,,,
latency_custom,1000000,12.500000,,,,,,,,,
mystery,1000000,3.000000,,,,,,,,,
"
    );
    let mut ingest = Ingest::new(csv_config());
    ingest.set_metric_kind("latency_custom", MetricKind::Trend, ValueKind::Time);
    ingest.feed(csv.as_bytes());
    ingest.set_metric_kind("logins", MetricKind::Counter, ValueKind::Default);
    // Repeated calls are harmless.
    ingest.set_metric_kind("logins", MetricKind::Counter, ValueKind::Default);
    ingest.feed(b"logins,1000001,1.000000,,,,,,,,,\n");
    let result = ingest.into_result();
    let logins = result.metrics.metric("logins").unwrap();
    assert_eq!(logins.kind, Some(MetricKind::Counter));
    assert_eq!(logins.total().count(), 2);
    assert!(logins.series.values().all(|a| !a.has_histogram()), "a counter keeps no histogram");
    let custom = result.metrics.metric("latency_custom").unwrap();
    assert_eq!((custom.kind, custom.contains), (Some(MetricKind::Trend), ValueKind::Time));
    assert_eq!(custom.total().percentile(50.0), Some(12.5));
    let mystery = result.metrics.metric("mystery").unwrap();
    assert_eq!(mystery.kind, None);
    assert!(mystery.series.values().all(|a| a.has_histogram()), "unknown kinds keep a histogram until resolved");
}

#[test]
fn snapshot_reports_totals_and_the_recent_window() {
    let mut csv = HEADER.to_owned();
    // Seconds 100..=104: 10 requests each, of 10 ms, every 5th failed;
    // second 105 has begun (one request) and is not complete.
    for second in 100..105 {
        for i in 0..10 {
            let us = second * 1_000_000 + i * 1000;
            csv += &format!("http_reqs,{us},1.000000,,,,,a,,200,,\n");
            csv += &format!("http_req_duration,{us},{}.000000,,,,,a,,200,,\n", 10 + i);
            csv += &format!("http_req_failed,{us},{}.000000,,,,,a,,200,,\n", u8::from(i % 5 == 0));
        }
        csv += &format!("iterations,{},1.000000,,,,,,,,,\n", second * 1_000_000);
        csv += &format!("vus,{},{}.000000,,,,,,,,,\n", second * 1_000_000, second - 97);
    }
    csv += "http_reqs,105000000,1.000000,,,,,a,,200,,\n";
    let mut ingest = Ingest::new(csv_config());
    assert_eq!(ingest.snapshot(10), Default::default());
    ingest.feed(csv.as_bytes());
    let snapshot = ingest.snapshot(2);
    assert_eq!((snapshot.requests, snapshot.failed_requests, snapshot.iterations, snapshot.vus), (51, 10, 5, 7));
    assert_eq!(snapshot.rps, 10.0);
    assert_eq!(snapshot.error_rate, Some(0.2));
    let p95 = snapshot.p95_ms.unwrap();
    assert!((p95 - 19.0).abs() <= 0.2, "p95 = {p95}");
    assert_eq!(snapshot.samples, 5 * 32 + 1);
    // A window longer than the run so far averages over what there is.
    assert_eq!(ingest.snapshot(60).rps, 10.0);
}

/// The live object is the final result with the latency histograms of
/// its last `LIVE_LATENCY_SECONDS` seconds only (the dashboard's per-second
/// latency reads them; older ones would make the object grow every second).
#[test]
fn live_result_is_what_into_result_would_be_with_only_the_recent_latency() {
    let mut ingest = Ingest::new(csv_config());
    ingest.feed(FIXTURE.as_bytes());
    let live = ingest.live_result();
    let last = ingest.into_result();
    assert_eq!(live.metrics.metrics, last.metrics.metrics);
    assert_eq!(live.metrics.groups, last.metrics.groups);
    assert_eq!(
        (live.samples, live.first_sample_us, live.last_sample_us),
        (last.samples, last.first_sample_us, last.last_sample_us)
    );
    assert!(last.metrics.timeline.iter().any(|(_, second)| second.latency.is_some()), "the fixture has latencies");
    let without_latency = |result: &ShardResult| -> Vec<(i64, Second)> {
        result.metrics.timeline.iter().map(|(t, second)| (t, Second { latency: None, ..second.clone() })).collect()
    };
    assert_eq!(without_latency(&live), without_latency(&last));
    let newest = last.metrics.timeline.iter().next_back().unwrap().0;
    for ((t, live_second), (_, last_second)) in live.metrics.timeline.iter().zip(last.metrics.timeline.iter()) {
        let expected = if newest - t < LIVE_LATENCY_SECONDS as i64 { last_second.latency.clone() } else { None };
        assert_eq!(live_second.latency, expected, "second {t}");
    }
}

/// A small, independent reading of Go-style CSV for checking the fixture.
fn reference_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (c, _) => field.push(c),
        }
    }
    records
}

#[test]
fn real_k6_output_is_read_completely() {
    let records = reference_records(FIXTURE);
    let header = &records[0];
    let result = ingest(FIXTURE);
    assert_eq!(result.rejected_lines, 0);
    assert_eq!(result.samples as usize, records.len() - 1);

    // Per metric: count and exact sum of millionths, from the reference reading.
    let mut expected: BTreeMap<&str, (u64, i128)> = BTreeMap::new();
    for record in &records[1..] {
        let millionths: i128 = record[2].replace('.', "").parse().unwrap();
        let entry = expected.entry(record[0].as_str()).or_default();
        entry.0 += 1;
        entry.1 += millionths;
    }
    assert!(expected["http_reqs"].0 > 20, "the fixture has requests");
    for (metric, (count, millionths)) in &expected {
        let total = result.metrics.metric(metric).unwrap().total();
        assert_eq!(total.count(), *count, "{metric}");
        assert_eq!(total.sum(), *millionths as f64 / 1e6, "{metric}");
    }
    let requests: u64 = result.metrics.timeline.iter().map(|(_, s)| s.requests).sum();
    assert_eq!(requests, expected["http_reqs"].0);
    let iterations: u64 = result.metrics.timeline.iter().map(|(_, s)| s.iterations).sum();
    assert_eq!(iterations, expected["iterations"].0);

    // Tag sets: checks by name, with the comma-holding group name intact.
    let check_column = header.iter().position(|c| c == "check").unwrap();
    let login_checks =
        records.iter().filter(|r| r[0] == "checks" && r[check_column] == "status is 200, logged in").count();
    assert!(login_checks > 0);
    let checks = result.metrics.metric("checks").unwrap();
    let (selected, exact) = checks.submetric(&tags(&[("check", "status is 200, logged in")])).unwrap();
    assert!(exact);
    assert_eq!(selected.count() as usize, login_checks);
    assert!(checks.series.keys().any(|t| t.get("group") == Some("::auth, login")));
    assert!(checks.series.keys().all(|t| t.get("shard").is_none()));
    // Sub-timings collapsed, the request duration broken down by name.
    assert!(result.metrics.metric("http_req_blocked").unwrap().collapsed);
    let by_name = result.metrics.metric("http_req_duration").unwrap().breakdown("name");
    assert!(by_name.contains_key("login") && by_name.contains_key("items"));
}

/// Input exercising every path of the reader: the real fixture followed by
/// quoted, multi-line, bad, blank and CRLF lines and no final newline.
fn tricky_input() -> String {
    format!(
        "{FIXTURE}\
checks,1795312782397101,1.000000,\"multi
line, check\",,,,,,,x=1,
http_reqs,1795312782397102,1.000000,,,,,\"a\"\"b\",,200,b=2&a=1,
http_reqs,1795312782397102,1.000000,,,,,\"a\"\"b\",,200,a=1&b=2,
garbage\"line
http_reqs,bad,1.000000,,,,,a,,200,,

vus,1795312782397103,3.000000,,,,,,,,,\r
http_req_duration,1795312783397104,12.250000,,,,,a,,200,,"
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn chunk_boundaries_do_not_change_the_result(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let input = tricky_input();
        let bytes = input.as_bytes();
        let whole = ingest(&input);
        let mut positions: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
        positions.sort_unstable();
        let chunked = common::ingest_in_chunks(csv_config(), bytes, &positions);
        prop_assert_eq!(chunked.rejected_lines, 2);
        prop_assert_eq!(&chunked, &whole);
    }
}

#[test]
fn byte_at_a_time_matches_one_chunk() {
    let input = tricky_input();
    let result = common::ingest_bytewise(csv_config(), input.as_bytes());
    assert_eq!(result, self::ingest(&input));
    assert_eq!(result.rejected_lines, 2);
    let multi_line = tags(&[("check", "multi\nline, check"), ("x", "1")]);
    assert_eq!(result.metrics.metric("checks").unwrap().series[&multi_line].count(), 1);
    assert_eq!(
        series_counts(&result, "http_reqs")[&tags(&[("a", "1"), ("b", "2"), ("name", "a\"b"), ("status", "200")])],
        2
    );
}

#[test]
fn an_endless_line_is_rejected_without_holding_it() {
    let mut ingest = Ingest::new(csv_config());
    ingest.feed(HEADER.as_bytes());
    let garbage = vec![b'x'; 64 * 1024];
    for _ in 0..40 {
        ingest.feed(&garbage);
    }
    ingest.feed(b"\nhttp_reqs,1000000,1.000000,,,,,a,,200,,\n");
    ingest.finish_input();
    let result = ingest.into_result();
    assert_eq!((result.rejected_lines, result.samples), (1, 1));
}
