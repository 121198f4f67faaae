//! Behaviour of the k6 JSON ingest: parsing, tags, caps, selectors, the
//! timeline, the live numbers.

use std::collections::BTreeMap;

use loadgrid_metrics::ingest::{Ingest, IngestConfig};
use loadgrid_metrics::{MetricKind, Second, ShardResult, TagSet, ValueKind, LIVE_LATENCY_SECONDS};
use proptest::prelude::*;

/// Ingests `input` fed in one chunk.
fn ingest_with(config: IngestConfig, input: &str) -> ShardResult {
    ingest_in_chunks(config, input.as_bytes(), &[])
}

/// Ingests `bytes` fed in chunks split at `positions` (sorted, ≤ len).
fn ingest_in_chunks(config: IngestConfig, bytes: &[u8], positions: &[usize]) -> ShardResult {
    let mut ingest = Ingest::new(config);
    let mut start = 0;
    for &position in positions {
        ingest.feed(&bytes[start..position]);
        start = position;
    }
    ingest.feed(&bytes[start..]);
    ingest.finish_input();
    ingest.into_result()
}

/// Ingests `bytes` fed one byte at a time.
fn ingest_bytewise(config: IngestConfig, bytes: &[u8]) -> ShardResult {
    let positions: Vec<usize> = (1..bytes.len()).collect();
    ingest_in_chunks(config, bytes, &positions)
}

fn tags(pairs: &[(&str, &str)]) -> TagSet {
    TagSet::from_pairs(pairs.iter().copied())
}

/// The series of `metric` as (tags, count) pairs.
fn series_counts(result: &ShardResult, metric: &str) -> BTreeMap<TagSet, u64> {
    let entry = result.metrics.metric(metric).unwrap();
    entry.series.iter().map(|(tags, aggregate)| (tags.clone(), aggregate.count())).collect()
}

/// One k6 run (`SLEEP=0.1 record.sh tests/fixtures/k6-small.json 1s 1`).
const FIXTURE: &str = include_str!("fixtures/k6-small.json");

fn ingest(json: &str) -> ShardResult {
    ingest_with(IngestConfig::default(), json)
}

/// A `Point` line in k6's layout.
fn point(metric: &str, time: &str, value: &str, tags: &str) -> String {
    format!(r#"{{"metric":"{metric}","type":"Point","data":{{"time":"{time}","value":{value},"tags":{tags}}}}}"#)
}

/// A time `us` microseconds after the epoch, as k6 writes it.
fn at(us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// `count` lines of `metric` with value `i + 1` ms and tags name=e{i % names},
/// a millisecond apart.
fn lines(metric: &str, count: usize, names: usize, start_us: i64) -> String {
    (0..count)
        .map(|i| {
            let tags = format!(r#"{{"name":"e{}","status":"200"}}"#, i % names);
            point(metric, &at(start_us + i as i64 * 1000), &(i + 1).to_string(), &tags) + "\n"
        })
        .collect()
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
    let config = IngestConfig {
        selectors: vec![("http_reqs".into(), tags(&[("shard", "3")])), ("http_reqs".into(), tags(&[("shard", "5")]))],
        ..IngestConfig::default()
    };
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
    assert_eq!(entry.selectors[&tags(&[("shard", "5")])].count(), 0, "configured selectors exist even when empty");
    assert_eq!(series_counts(&result, "vus"), BTreeMap::from([(TagSet::new(), 1)]));

    let keep_everything = IngestConfig { dropped_tags: Vec::new(), ..IngestConfig::default() };
    assert_eq!(
        series_counts(&ingest_with(keep_everything, &json), "http_reqs").into_keys().collect::<Vec<_>>(),
        [tags(&[("name", "a"), ("shard", "3")]), tags(&[("name", "a"), ("shard", "4")])]
    );
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
        let chunked = ingest_in_chunks(IngestConfig::default(), bytes, &positions);
        prop_assert_eq!(chunked.rejected_lines, 2);
        prop_assert_eq!(&chunked, &whole);
    }
}

#[test]
fn byte_at_a_time_matches_one_chunk() {
    let input = tricky_input();
    let result = ingest_bytewise(IngestConfig::default(), input.as_bytes());
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

#[test]
fn sub_timings_are_collapsed_but_selectors_stay_exact() {
    let config = IngestConfig {
        selectors: vec![("http_req_waiting".into(), tags(&[("name", "e1")]))],
        ..IngestConfig::default()
    };
    let json =
        format!("{}{}", lines("http_req_waiting", 30, 3, 1_000_000), lines("http_req_duration", 30, 3, 1_000_000));
    let result = ingest_with(config, &json);
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
        ..IngestConfig::default()
    };
    let mut ingest = Ingest::new(config);
    ingest.feed(lines("http_req_duration", 50, 5, 1_000_000).as_bytes());
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
    let request = r#"{"name":"a","status":"200"}"#;
    let failed = r#"{"name":"a","status":"500"}"#;
    let json = [
        point("vus", &at(100_000_000), "2", "{}"),
        point("vus_max", &at(100_000_000), "10", "{}"),
        point("http_reqs", &at(100_100_000), "1", request),
        point("http_req_duration", &at(100_100_000), "10", request),
        point("http_req_failed", &at(100_100_000), "0", request),
        point("http_reqs", &at(100_900_000), "1", failed),
        point("http_req_duration", &at(100_900_000), "30", failed),
        point("http_req_failed", &at(100_900_000), "1", failed),
        point("iterations", &at(100_950_000), "1", "{}"),
        point("vus", &at(100_999_999), "5", "{}"),
        point("vus", &at(100_500_000), "4", "{}"),
        point("http_reqs", &at(103_000_000), "1", request),
    ]
    .join("\n");
    let result = ingest(&json);
    assert_eq!(result.rejected_lines, 0);
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

/// Custom metrics without a `Metric` line (the agent learns their types
/// from k6's REST API too) keep histograms until their kind is known.
#[test]
fn custom_metric_kinds_settle_histograms() {
    let json = [
        point("logins", &at(1_000_000), "1", "{}"),
        point("latency_custom", &at(1_000_000), "12.5", "{}"),
        point("mystery", &at(1_000_000), "3", "{}"),
    ]
    .join("\n")
        + "\n";
    let mut ingest = Ingest::new(IngestConfig::default());
    ingest.set_metric_kind("latency_custom", MetricKind::Trend, ValueKind::Time);
    ingest.feed(json.as_bytes());
    ingest.set_metric_kind("logins", MetricKind::Counter, ValueKind::Default);
    // Repeated calls are harmless.
    ingest.set_metric_kind("logins", MetricKind::Counter, ValueKind::Default);
    ingest.feed((point("logins", &at(1_000_001), "1", "{}") + "\n").as_bytes());
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
    let request = r#"{"name":"a","status":"200"}"#;
    let mut json = String::new();
    let mut line = |metric: &str, us: i64, value: String, tags: &str| {
        json += &point(metric, &at(us), &value, tags);
        json.push('\n');
    };
    // Seconds 100..=104: 10 requests each, of 10 ms, every 5th failed;
    // second 105 has begun (one request) and is not complete.
    for second in 100..105 {
        for i in 0..10 {
            let us = second * 1_000_000 + i * 1000;
            line("http_reqs", us, "1".into(), request);
            line("http_req_duration", us, (10 + i).to_string(), request);
            line("http_req_failed", us, u8::from(i % 5 == 0).to_string(), request);
        }
        line("iterations", second * 1_000_000, "1".into(), "{}");
        line("vus", second * 1_000_000, (second - 97).to_string(), "{}");
    }
    line("http_reqs", 105_000_000, "1".into(), request);
    let mut ingest = Ingest::new(IngestConfig::default());
    assert_eq!(ingest.snapshot(10), Default::default());
    ingest.feed(json.as_bytes());
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
    let mut ingest = Ingest::new(IngestConfig::default());
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
