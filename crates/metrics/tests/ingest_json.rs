//! Behaviour of the k6 JSON ingest (what the agent uses), and its agreement
//! with the CSV ingest on the same k6 run.

mod common;

use std::collections::BTreeMap;

use loadgrid_metrics::ingest::{Ingest, IngestConfig, OutputFormat};
use loadgrid_metrics::{MetricKind, ShardResult, TagSet, ValueKind};
use proptest::prelude::*;

use common::{ingest_with, series_counts, tags};

/// One k6 run (`SLEEP=0.1 record.sh tests/fixtures/k6-small 1s 1`) written
/// by k6 in both formats at once.
const FIXTURE: &str = include_str!("fixtures/k6-small.json");
const FIXTURE_CSV: &str = include_str!("fixtures/k6-small.csv");

fn ingest(json: &str) -> ShardResult {
    ingest_with(IngestConfig::default(), json)
}

/// A `Point` line in k6's layout.
fn point(metric: &str, time: &str, value: &str, tags: &str) -> String {
    format!(r#"{{"metric":"{metric}","type":"Point","data":{{"time":"{time}","value":{value},"tags":{tags}}}}}"#)
}

#[test]
fn json_is_the_default_format() {
    assert_eq!(IngestConfig::default().format, OutputFormat::Json);
}

#[test]
fn reads_the_documented_example() {
    let json = r#"{"type":"Metric","data":{"name":"my_t","type":"trend","contains":"time","thresholds":[],"submetrics":null},"metric":"my_t"}
{"metric":"my_t","type":"Point","data":{"time":"2026-11-22T03:21:28.065004739Z","value":1.23456789,"tags":{"group":"","scenario":"default"}}}
{"metric":"http_reqs","type":"Point","data":{"time":"2026-11-22T03:21:28.066939989Z","value":1,"tags":{"expected_response":"true","group":"","method":"GET","name":"a,b\"c","scenario":"default","status":"200","team":"x","shard":"0"}}}
"#;
    let result = ingest(json);
    assert_eq!((result.samples, result.rejected_lines), (2, 0));
    assert_eq!(result.first_sample_us, Some(1_795_317_688_065_004));
    assert_eq!(result.last_sample_us, Some(1_795_317_688_066_939));
    let my_t = result.metrics.metric("my_t").unwrap();
    assert_eq!((my_t.kind, my_t.contains), (Some(MetricKind::Trend), ValueKind::Time));
    assert_eq!(my_t.series[&tags(&[("scenario", "default")])].sum(), 1.234568, "rounded to millionths");
    let expected = tags(&[
        ("expected_response", "true"),
        ("method", "GET"),
        ("name", "a,b\"c"),
        ("scenario", "default"),
        ("status", "200"),
        ("team", "x"),
    ]);
    assert_eq!(series_counts(&result, "http_reqs"), BTreeMap::from([(expected, 1)]), "no group, no shard");
}

/// k6 wrote this run as CSV and as JSON at the same time: both readings must
/// give the same result. The one thing CSV lacks is the type of custom
/// metrics (`logins`, `items_size`), which JSON's `Metric` lines carry and
/// the agent otherwise learns from k6's REST API; it is given to the CSV
/// ingest the way the agent would.
#[test]
fn the_same_run_in_both_formats_gives_equal_results() {
    let json = ingest(FIXTURE);
    let mut csv_ingest = Ingest::new(IngestConfig { format: OutputFormat::Csv, ..IngestConfig::default() });
    csv_ingest.feed(FIXTURE_CSV.as_bytes());
    csv_ingest.finish_input();
    let untyped = csv_ingest.live_result();
    let custom: Vec<&str> =
        untyped.metrics.metrics.iter().filter(|(_, e)| e.kind.is_none()).map(|(n, _)| n.as_str()).collect();
    assert_eq!(custom, ["items_size", "logins"], "CSV alone cannot type custom metrics");
    for name in custom {
        let entry = json.metrics.metric(name).unwrap();
        csv_ingest.set_metric_kind(name, entry.kind.unwrap(), entry.contains);
    }
    let csv = csv_ingest.into_result();
    assert_eq!((json.rejected_lines, csv.rejected_lines), (0, 0));
    assert!(json.samples > 300);
    assert_eq!(json.metrics.metrics.keys().collect::<Vec<_>>(), csv.metrics.metrics.keys().collect::<Vec<_>>());
    for (name, entry) in &json.metrics.metrics {
        assert_eq!(Some(entry), csv.metrics.metric(name), "{name}");
    }
    assert_eq!(json.metrics.timeline, csv.metrics.timeline);
    assert_eq!(json, csv);
}

#[test]
fn real_k6_json_is_read_completely() {
    // An independent reading with serde_json: count and sum per metric.
    let mut expected: BTreeMap<String, (u64, i128)> = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    for line in FIXTURE.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let metric = value["metric"].as_str().unwrap().to_owned();
        if value["type"] == "Metric" {
            kinds.insert(metric, value["data"]["type"].as_str().unwrap().to_owned());
            continue;
        }
        let millionths = (value["data"]["value"].as_f64().unwrap() * 1e6).round() as i128;
        let entry = expected.entry(metric).or_default();
        entry.0 += 1;
        entry.1 += millionths;
    }
    let result = ingest(FIXTURE);
    assert_eq!(result.rejected_lines, 0);
    assert_eq!(result.samples, expected.values().map(|(count, _)| count).sum::<u64>());
    for (metric, (count, millionths)) in &expected {
        let entry = result.metrics.metric(metric).unwrap();
        assert_eq!(entry.total().count(), *count, "{metric}");
        assert_eq!(entry.total().sum(), *millionths as f64 / 1e6, "{metric}");
        assert_eq!(entry.kind.map(MetricKind::as_str), Some(kinds[metric].as_str()), "{metric}");
    }
    let checks = result.metrics.metric("checks").unwrap();
    assert!(checks.series.keys().any(|t| t.get("group") == Some("::auth, login")));
    assert!(checks.series.keys().all(|t| t.get("shard").is_none()));
    assert!(result.metrics.metric("http_req_blocked").unwrap().collapsed);
}

#[test]
fn metric_lines_set_kinds() {
    let json = [
        point("logins", "2026-11-22T03:21:28Z", "1", "{}"),
        r#"{"type":"Metric","data":{"name":"logins","type":"counter","contains":"default","thresholds":[],"submetrics":null},"metric":"logins"}"#.to_owned(),
        r#"{"type":"Metric","data":{"name":"payload","type":"trend","contains":"data","thresholds":["p(95)<5"],"submetrics":null},"metric":"payload"}"#.to_owned(),
        point("logins", "2026-11-22T03:21:29Z", "1", "{}"),
        point("payload", "2026-11-22T03:21:29Z", "1024", "{}"),
        point("mystery", "2026-11-22T03:21:29Z", "3", "{}"),
    ]
    .join("\n");
    let result = ingest(&json);
    assert_eq!(result.rejected_lines, 0);
    let logins = result.metrics.metric("logins").unwrap();
    assert_eq!((logins.kind, logins.contains), (Some(MetricKind::Counter), ValueKind::Default));
    assert_eq!(logins.total().count(), 2);
    assert!(logins.series.values().all(|a| !a.has_histogram()), "a counter keeps no histogram");
    let payload = result.metrics.metric("payload").unwrap();
    assert_eq!((payload.kind, payload.contains), (Some(MetricKind::Trend), ValueKind::Data));
    assert_eq!(result.metrics.metric("mystery").unwrap().kind, None);
}

#[test]
fn escaped_tag_values_are_unescaped() {
    let json = [
        point(
            "checks",
            "2026-11-22T03:21:28Z",
            "1",
            r#"{"check":"say \"hi\", {ok}","path":"C:\\tmp\\x","u":"\u00e9\u003c\ud83d\ude00"}"#,
        ),
        // The same tags escaped differently: another route key, the same series.
        point(
            "checks",
            "2026-11-22T03:21:28Z",
            "0",
            r#"{"check":"say \u0022hi\u0022, {ok}","path":"C:\\tmp\\x","u":"é<😀"}"#,
        ),
        point("checks", "2026-11-22T03:21:28Z", "1", r#"{"check":"}\\","path":"\\\"","u":"\/"}"#),
    ]
    .join("\n");
    let result = ingest(&json);
    assert_eq!(result.rejected_lines, 0);
    let expected = BTreeMap::from([
        (tags(&[("check", "say \"hi\", {ok}"), ("path", "C:\\tmp\\x"), ("u", "é<😀")]), 2),
        (tags(&[("check", "}\\"), ("path", "\\\""), ("u", "/")]), 1),
    ]);
    assert_eq!(series_counts(&result, "checks"), expected);
}

#[test]
fn times_with_zones_and_trimmed_fractions() {
    let base = 1_795_317_688_000_000; // 2026-11-22T03:21:28Z
    let json = [
        point("vus", "2026-11-22T03:21:28Z", "1", "{}"),
        point("vus", "2026-11-22T03:21:28.5Z", "2", "{}"),
        point("vus", "2026-11-22T05:21:29.000001+02:00", "3", "{}"),
        point("vus", "2026-11-21T23:51:30.999999999-03:30", "4", "{}"),
    ]
    .join("\n");
    let result = ingest(&json);
    assert_eq!(result.rejected_lines, 0);
    // VU gauges say nothing of when the test ran (k6 samples them while paused).
    assert_eq!((result.first_sample_us, result.last_sample_us), (None, None));
    let vus: Vec<(i64, u64)> = result.metrics.timeline.iter().map(|(second, s)| (second, s.vus)).collect();
    assert_eq!(vus, [(base / 1_000_000, 2), (base / 1_000_000 + 1, 3), (base / 1_000_000 + 2, 4)]);
    assert_eq!(result.metrics.metric("vus").unwrap().total().last(), Some(4.0));
}

#[test]
fn exponent_and_long_values_round_to_millionths() {
    let values = ["1e-7", "5e-7", "1.5e+3", "2.0000005", "-0.0000015", "12345.678", "0"];
    let json: Vec<String> = values.iter().map(|v| point("data_sent", "2026-11-22T03:21:28Z", v, "{}")).collect();
    let result = ingest(&json.join("\n"));
    assert_eq!(result.rejected_lines, 0);
    let total = result.metrics.metric("data_sent").unwrap().total();
    let millionths: i64 = 1 + 1_500_000_000 + 2_000_001 - 2 + 12_345_678_000;
    assert_eq!(total.sum(), millionths as f64 / 1e6);
    assert_eq!(total.min(), Some(-0.000002));
}

#[test]
fn metadata_is_not_a_tag() {
    let with_metadata = r#"{"metric":"http_reqs","type":"Point","data":{"time":"2026-11-22T03:21:28Z","value":1,"tags":{"name":"a"},"metadata":{"trace_id":"x\"}}}","tags":"no"}}}"#;
    let json = format!("{with_metadata}\n{}\n", point("http_reqs", "2026-11-22T03:21:28Z", "1", r#"{"name":"a"}"#));
    let result = ingest(&json);
    assert_eq!(result.rejected_lines, 0);
    assert_eq!(series_counts(&result, "http_reqs"), BTreeMap::from([(tags(&[("name", "a")]), 2)]));
}

#[test]
fn empty_values_are_absent_and_dropped_tags_still_select() {
    let config =
        IngestConfig { selectors: vec![("http_reqs".into(), tags(&[("shard", "3")]))], ..IngestConfig::default() };
    let json = [
        point("http_reqs", "2026-11-22T03:21:28Z", "1", r#"{"group":"","name":"a","shard":"3"}"#),
        point("http_reqs", "2026-11-22T03:21:28Z", "1", r#"{"name":"a","shard":"4"}"#),
        point("vus", "2026-11-22T03:21:28Z", "1", "null"),
    ]
    .join("\n");
    let result = ingest_with(config, &json);
    assert_eq!(result.rejected_lines, 0);
    let entry = result.metrics.metric("http_reqs").unwrap();
    assert_eq!(series_counts(&result, "http_reqs"), BTreeMap::from([(tags(&[("name", "a")]), 2)]));
    assert_eq!(entry.selectors[&tags(&[("shard", "3")])].count(), 1);
    assert_eq!(series_counts(&result, "vus"), BTreeMap::from([(TagSet::new(), 1)]));
}

#[test]
fn other_field_orders_and_whitespace_are_read() {
    let json = r#"{ "type": "Point", "metric": "http_reqs", "data": { "tags": { "name": "a" }, "value": 1, "time": "2026-11-22T03:21:28Z" } }"#;
    let crlf = point("http_reqs", "2026-11-22T03:21:28Z", "1", r#"{"name":"a"}"#) + "\r\n";
    let result = ingest(&format!("{json}\n\n   \n{crlf}"));
    assert_eq!((result.samples, result.rejected_lines), (2, 0));
    assert_eq!(series_counts(&result, "http_reqs"), BTreeMap::from([(tags(&[("name", "a")]), 2)]));
}

#[test]
fn bad_lines_are_counted_and_skipped() {
    let good = point("http_reqs", "2026-11-22T03:21:28Z", "1", r#"{"name":"a"}"#);
    let bad = [
        good[..good.len() - 10].to_owned(),                                       // truncated
        good.replace("\"value\":1", "\"value\":one"),                             // unparsable value
        good.replace("\"value\":1", "\"value\":1e400"),                           // out of range
        good.replace("\"value\":1", "\"value\":\"1\""),                           // value as a string
        good.replace("03:21:28Z", "03:21:28"),                                    // time without zone
        good.replace("\"metric\":\"http_reqs\"", "\"metric\":\"\""),              // empty name
        good.replace(r#"{"name":"a"}"#, r#"{"name":1}"#),                         // non-string tag
        good.replace(r#"{"name":"a"}"#, r#"{"name":"a\q"}"#),                     // bad escape
        good.replace("Point", "Pont"),                                            // unknown type
        good.clone() + "}",                                                       // trailing garbage
        r#"{"type":"Metric","data":{"name":"x","type":"histogram"}}"#.to_owned(), // unknown kind
        "[1,2,3]".to_owned(),
        "{\"metric\":\"http_reqs".to_owned(), // a quote left open: must not swallow the next line
        "garbage".to_owned(),
    ];
    let json = format!("{good}\n{}\n{good}\n\n{good}", bad.join("\n"));
    let result = ingest(&json);
    assert_eq!(result.rejected_lines, bad.len() as u64);
    assert_eq!(result.samples, 3);
    assert_eq!(series_counts(&result, "http_reqs"), BTreeMap::from([(tags(&[("name", "a")]), 3)]));
}

#[test]
fn a_bad_line_with_a_cached_route_is_still_rejected() {
    let good = point("http_reqs", "2026-11-22T03:21:28Z", "1", r#"{"name":"a"}"#);
    let json = format!("{good}\n{}\n", good.replace("\"value\":1", "\"value\":1x"));
    let result = ingest(&json);
    assert_eq!((result.samples, result.rejected_lines), (1, 1));
}

/// Found by fuzzing (fuzz/corpus/ingest_json/regression-seconds-not-digits):
/// a time in the minute of the line before, with letters for its seconds,
/// overflowed while reading them.
#[test]
fn seconds_that_are_not_digits_reject_the_line() {
    let good = point("http_reqs", "2026-12-02T05:07:34Z", "1", r#"{"name":"a"}"#);
    let json = format!("{good}\n{}\n", good.replace("05:07:34Z", "05:07:geZ"));
    let result = ingest(&json);
    assert_eq!((result.samples, result.rejected_lines), (1, 1));
}

/// The real fixture followed by lines for every path of the reader: escapes,
/// metadata, another layout, bad, blank and CRLF lines, no final newline.
fn tricky_input() -> String {
    let lines = [
        point("checks", "2026-11-22T03:24:05.1+01:00", "1", r#"{"check":"a,b\"c}\\","x":"1"}"#),
        r#"{"metric":"checks","type":"Point","data":{"time":"2026-11-22T03:24:05Z","value":0,"tags":{"check":"x"},"metadata":{"id":"}}"}}}"#.to_owned(),
        r#"{"data":{"value":5e-7,"time":"2026-11-22T03:24:05Z","tags":null},"type":"Point","metric":"vus"}"#.to_owned(),
        "{\"metric\":\"http_reqs\",\"type\":\"Point\",\"data\":{\"time\":\"bad\"".to_owned(),
        String::new(),
        point("http_reqs", "2026-11-22T03:24:05Z", "1", r#"{"name":"a"}"#) + "\r",
        "not json".to_owned(),
        point("http_req_duration", "2026-11-22T03:24:06.25Z", "12.25", r#"{"name":"a"}"#),
    ];
    format!("{FIXTURE}{}", lines.join("\n"))
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
        let chunked = common::ingest_in_chunks(IngestConfig::default(), bytes, &positions);
        prop_assert_eq!(chunked.rejected_lines, 2);
        prop_assert_eq!(&chunked, &whole);
    }
}

#[test]
fn byte_at_a_time_matches_one_chunk() {
    let input = tricky_input();
    let result = common::ingest_bytewise(IngestConfig::default(), input.as_bytes());
    assert_eq!(result, self::ingest(&input));
    assert_eq!(result.rejected_lines, 2);
    assert_eq!(result.samples, 392 + 5);
    let checks = series_counts(&result, "checks");
    assert_eq!(checks[&tags(&[("check", "a,b\"c}\\"), ("x", "1")])], 1);
    assert_eq!(checks[&tags(&[("check", "x")])], 1);
    assert_eq!(result.metrics.metric("http_req_duration").unwrap().series[&tags(&[("name", "a")])].sum(), 12.25);
}

#[test]
fn an_endless_line_is_rejected_without_holding_it() {
    let mut ingest = Ingest::new(IngestConfig::default());
    let garbage = vec![b'x'; 64 * 1024];
    for _ in 0..40 {
        ingest.feed(&garbage);
    }
    ingest.feed(format!("\n{}\n", point("http_reqs", "2026-11-22T03:21:28Z", "1", "{}")).as_bytes());
    ingest.finish_input();
    let result = ingest.into_result();
    assert_eq!((result.rejected_lines, result.samples), (1, 1));
}

#[test]
fn the_tag_caches_stay_right_when_they_fill_up() {
    // More distinct tag objects than the caches hold, interleaved with a
    // repeated one (the "same tags as the previous line" case included).
    let mut json = String::new();
    for i in 0..70_000 {
        json += &point("http_reqs", "2026-11-22T03:21:28Z", "1", &format!(r#"{{"id":"{i}"}}"#));
        json.push('\n');
        for _ in 0..2 {
            json += &point("http_reqs", "2026-11-22T03:21:28Z", "2", r#"{"name":"a"}"#);
            json.push('\n');
        }
    }
    let config = IngestConfig { max_series_per_metric: 10, ..IngestConfig::default() };
    let result = ingest_with(config, &json);
    assert_eq!((result.samples, result.rejected_lines), (210_000, 0));
    let entry = result.metrics.metric("http_reqs").unwrap();
    assert_eq!(entry.series[&tags(&[("name", "a")])].count(), 140_000);
    assert_eq!(entry.series[&tags(&[("name", "a")])].sum(), 280_000.0);
    assert_eq!(entry.total().count(), 210_000);
    assert_eq!(entry.overflow.as_ref().unwrap().count(), 70_000 - 9);
}

/// k6's `root_group` from its samples: checks tallied by group and name,
/// groups from `group_duration`, parents implied, kept exactly even when
/// the `checks` series hit the tag-set cap.
#[test]
fn groups_and_checks_are_tallied_exactly() {
    let check = |time: &str, group: &str, name: &str, value: &str, vu: u32| {
        point("checks", time, value, &format!(r#"{{"check":"{name}","group":"{group}","scenario":"s","vu":"{vu}"}}"#))
    };
    let json = [
        check("2026-11-22T03:21:28.1Z", "", "root ok", "1", 1),
        // One check() call: same instant, its checks in the order written.
        check("2026-11-22T03:21:28.15Z", "", "zz first", "1", 1),
        check("2026-11-22T03:21:28.15Z", "", "aa second", "1", 1),
        check("2026-11-22T03:21:28.2Z", "::login", "status is 200", "1", 2),
        check("2026-11-22T03:21:28.3Z", "::login", "status is 200", "0", 3),
        check("2026-11-22T03:21:28.4Z", "::login::form", "has token", "0", 4),
        point("group_duration", "2026-11-22T03:21:28.5Z", "12.5", r#"{"group":"::login::form","scenario":"s"}"#),
        point("group_duration", "2026-11-22T03:21:28.6Z", "20", r#"{"group":"::login","scenario":"s"}"#),
        point("group_duration", "2026-11-22T03:21:29Z", "3", r#"{"group":"::empty","scenario":"s"}"#),
    ]
    .join("\n");
    let capped = IngestConfig { max_series_per_metric: 1, ..IngestConfig::default() };
    let tree = ingest_with(capped, &json).metrics.groups;
    let tally = |group: &str, name: &str| {
        let t = tree.checks[&(group.to_owned(), name.to_owned())];
        (t.passes, t.fails)
    };
    assert_eq!(tally("", "root ok"), (1, 0));
    assert_eq!(tally("::login", "status is 200"), (1, 1));
    assert_eq!(tally("::login::form", "has token"), (0, 1));
    let names = |parent: &str| tree.children(parent).into_iter().map(|(name, _)| name).collect::<Vec<_>>();
    assert_eq!(names(""), ["login", "empty"], "in the order first seen");
    let root_checks: Vec<&str> = tree.checks_of("").into_iter().map(|(name, _)| name).collect();
    assert_eq!(root_checks, ["root ok", "zz first", "aa second"]);
    assert_eq!(names("::login"), ["form"]);
}

/// k6 samples `vus` and `vus_max` every second from start to exit, paused
/// and lingering included; only the samples inside the shard's test count.
#[test]
fn vu_gauges_outside_the_test_window_are_ignored() {
    let json = [
        point("vus", "2026-11-22T03:21:28.1Z", "0", "{}"),
        point("vus_max", "2026-11-22T03:21:28.1Z", "4", "{}"),
        point("vus", "2026-11-22T03:21:29.1Z", "4", "{}"),
        point("vus_max", "2026-11-22T03:21:29.1Z", "4", "{}"),
        point("vus", "2026-11-22T03:21:31.1Z", "0", "{}"),
        point("vus_max", "2026-11-22T03:21:31.1Z", "4", "{}"),
    ]
    .join("\n");
    let second = 1_795_317_688; // 2026-11-22T03:21:28Z
    let mut ingest = Ingest::new(IngestConfig::default());
    ingest.feed(json.as_bytes());
    ingest.feed(b"\n");
    ingest.set_test_window(loadgrid_metrics::ingest::TestWindow {
        start_us: Some((second * 1_000_000) + 500_000),
        end_us: Some((second + 3) * 1_000_000),
    });
    let result = ingest.into_result();
    let vus: Vec<(i64, u64, u64)> =
        result.metrics.timeline.iter().filter(|(_, s)| s.vus_max > 0).map(|(t, s)| (t, s.vus, s.vus_max)).collect();
    assert_eq!(vus, [(second + 1, 4, 4)]);
}

/// The dashboard's data chart: each second's bytes, which add up to k6's
/// own `data_sent` and `data_received` totals.
#[test]
fn each_seconds_bytes_add_up_to_the_data_totals() {
    let result = ingest(FIXTURE);
    let timeline = &result.metrics.timeline;
    for (metric, per_second) in [
        ("data_sent", timeline.iter().map(|(_, s)| s.data_sent).sum::<u64>()),
        ("data_received", timeline.iter().map(|(_, s)| s.data_received).sum::<u64>()),
    ] {
        let total = result.metrics.metric(metric).unwrap_or_else(|| panic!("the fixture has {metric}")).counter_sum();
        assert!(total > 0, "{metric}");
        assert_eq!(per_second, total, "{metric}");
    }
    let mut two_seconds = point("data_sent", "2026-11-22T03:21:28.1Z", "100", "{}");
    two_seconds.push('\n');
    two_seconds.push_str(&point("data_sent", "2026-11-22T03:21:29.9Z", "250", "{}"));
    let seconds: Vec<u64> = ingest(&two_seconds).metrics.timeline.iter().map(|(_, s)| s.data_sent).collect();
    assert_eq!(seconds, [100, 250]);
}
