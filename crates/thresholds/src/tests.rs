use std::collections::BTreeMap;
use std::time::Duration;

use loadgrid_metrics::{Aggregate, MetricEntry, MetricKind, MetricSet, TagSet, ValueKind};
use serde_json::json;

use super::*;

fn threshold(key: &str, expression: &str) -> Threshold {
    Threshold::new(key, expression, Origin::Config).unwrap_or_else(|e| panic!("{key}: {expression}: {e}"))
}

fn tags(pairs: &[(&str, &str)]) -> TagSet {
    TagSet::from_pairs(pairs.iter().copied())
}

// ---------------------------------------------------------------- parsing

#[test]
fn error_message_names_expression_metric_and_offending_operator() {
    let error = Threshold::new("http_req_duration", "p(95)<<300", Origin::Script).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid threshold `p(95)<<300` on `http_req_duration`: unknown operator `<<`; expected one of < <= > >= == === !="
    );
    assert!(error.render().ends_with("\n  p(95)<<300\n       ^^"), "{}", error.render());
}

#[test]
fn bad_expressions_point_at_the_problem() {
    let cases = [
        ("p95<3", "unknown aggregation `p95`", "^^^"),
        ("avg <", "missing number after `<`", "    ^"),
        ("p(101)<3", "percentile `101` is out of range", "  ^^^"),
        ("avg 300", "missing comparison operator", "^^^^^^^"),
        ("avg < 3 ms", "invalid number `3 ms`", "      ^^^^"),
    ];
    for (expression, reason, carets) in cases {
        let error = Threshold::new("http_req_duration{name:login}", expression, Origin::Flag).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("invalid threshold `{expression}` on `http_req_duration{{name:login}}`: ")),
            "{message}"
        );
        assert!(message.contains(reason), "{message}");
        let rendered = error.render();
        assert_eq!(rendered.lines().last(), Some(format!("  {carets}").as_str()), "{rendered}");
    }
}

#[test]
fn bad_keys_point_at_the_problem() {
    let error = Threshold::new("http_req_duration{name:login", "p(95)<1", Origin::Script).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid metric key `http_req_duration{name:login`: missing closing `}` of the tag filter"
    );
    assert!(error.render().ends_with("                   ^^^^^^^^^^^"), "{}", error.render());
    let error = Threshold::new("", "p(95)<1", Origin::Script).unwrap_err();
    assert_eq!(error.to_string(), "invalid metric key ``: empty metric name");
    let error = Threshold::new("{name:login}", "p(95)<1", Origin::Script).unwrap_err();
    assert!(error.to_string().contains("empty metric name"), "{error}");
}

#[test]
fn threshold_keeps_source_and_prints_normalised_key() {
    let t = threshold(" http_req_duration{ status:200, name : login } ", " p(99.9) <= 1.5 ");
    assert_eq!(t.metric, "http_req_duration");
    assert_eq!(t.filter, tags(&[("name", "login"), ("status", "200")]));
    assert_eq!(t.source, "p(99.9) <= 1.5");
    assert_eq!(t.expression.to_string(), "p(99.9)<=1.5");
    assert_eq!(t.key(), "http_req_duration{name:login,status:200}");
    assert_eq!(t.to_string(), "http_req_duration{name:login,status:200}: p(99.9) <= 1.5");
}

#[test]
fn k6_options_string_and_object_items() {
    let options = json!({
        "http_req_duration": ["p(95)<500", "avg < 200"],
        "http_req_duration{name:foo}": [{"threshold": "avg<100", "abortOnFail": true, "delayAbortEval": "5s"}],
        "http_req_failed": [{"threshold": "rate<0.01", "abortOnFail": true, "delayAbortEval": null}],
        "checks": [{"threshold": "rate>0.9", "abortOnFail": false}],
        "iterations": [{"threshold": "count>10", "abortOnFail": true, "delayAbortEval": 1500}],
    });
    let thresholds = from_k6_options(&options).unwrap();
    assert_eq!(thresholds.len(), 6);
    assert!(thresholds.iter().all(|t| t.origin == Origin::Script));
    let by_source = |source: &str| thresholds.iter().find(|t| t.source == source).unwrap();

    let foo = by_source("avg<100");
    assert_eq!(foo.key(), "http_req_duration{name:foo}");
    assert!(foo.abort_on_fail);
    assert_eq!(foo.delay_abort_eval, Some(Duration::from_secs(5)));

    let failed = by_source("rate<0.01");
    assert!(failed.abort_on_fail);
    assert_eq!(failed.delay_abort_eval, None);

    assert!(!by_source("rate>0.9").abort_on_fail);
    assert!(!by_source("p(95)<500").abort_on_fail);
    // A number is milliseconds, as k6's durations read it.
    assert_eq!(by_source("count>10").delay_abort_eval, Some(Duration::from_millis(1500)));
}

#[test]
fn k6_options_null_is_no_thresholds() {
    assert_eq!(from_k6_options(&serde_json::Value::Null).unwrap(), Vec::new());
    assert_eq!(from_k6_options(&json!({})).unwrap(), Vec::new());
}

#[test]
fn k6_options_objects_read_like_go_json() {
    // Go's encoding/json matches field names case-insensitively and ignores unknown ones.
    let options = json!({"http_reqs": [{"Threshold": "count>1", "ABORTONFAIL": true, "comment": "x"}]});
    let thresholds = from_k6_options(&options).unwrap();
    assert!(thresholds[0].abort_on_fail);
    // Our own config is strict instead.
    let error =
        from_json(&json!({"http_reqs": [{"threshold": "count>1", "abortOnfail": true}]}), Origin::Config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid thresholds for `http_reqs`: unknown field `abortOnfail` in a threshold object; expected threshold, abortOnFail, delayAbortEval"
    );
}

#[test]
fn k6_options_bad_shapes() {
    let error = from_k6_options(&json!(["p(95)<1"])).unwrap_err();
    assert!(error.to_string().contains("expected an object mapping metric keys"), "{error}");
    let error = from_k6_options(&json!({"http_req_duration": "p(95)<1"})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid thresholds for `http_req_duration`: expected a list of thresholds such as [\"p(95)<500\"], got a string"
    );
    let error = from_k6_options(&json!({"http_req_duration": [95]})).unwrap_err();
    assert!(error.to_string().contains("got a number"), "{error}");
    let error = from_k6_options(&json!({"http_req_duration": [{"abortOnFail": true}]})).unwrap_err();
    assert!(error.to_string().contains("needs a `threshold` expression"), "{error}");
    let error =
        from_k6_options(&json!({"http_req_duration": [{"threshold": "avg<1", "abortOnFail": "yes"}]})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid threshold `avg<1` on `http_req_duration`: abortOnFail must be true or false, got a string"
    );
}

#[test]
fn bad_delay_abort_eval_names_the_threshold() {
    let options = json!({"http_req_duration{name:a}": [{"threshold": "avg<100", "abortOnFail": true, "delayAbortEval": "5 sec"}]});
    let error = from_k6_options(&options).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid threshold `avg<100` on `http_req_duration{name:a}`: delayAbortEval: invalid duration `5 sec`: unknown unit ` sec`; expected one of ns, us, ms, s, m, h, d"
    );
    let options = json!({"http_reqs": [{"threshold": "count>1", "delayAbortEval": "-1s"}]});
    assert!(from_k6_options(&options).unwrap_err().to_string().contains("negative"));
}

#[test]
fn expression_errors_surface_from_k6_options() {
    let error = from_k6_options(&json!({"http_req_duration": ["p(95)<300", "p95<300"]})).unwrap_err();
    assert!(
        error.to_string().starts_with("invalid threshold `p95<300` on `http_req_duration`: unknown aggregation `p95`"),
        "{error}"
    );
}

#[test]
fn threshold_spec_deserializes_from_toml_and_json() {
    let table: BTreeMap<String, Vec<ThresholdSpec>> = toml::from_str(
        r#"
"http_req_duration{name:login}" = ["p(95)<300", { threshold = "avg<100", abortOnFail = true }]
http_req_failed = [{ threshold = "rate<0.01", abortOnFail = true, delayAbortEval = "1m30s" }]
iterations = [{ threshold = "count>0", delayAbortEval = 250 }]
"#,
    )
    .unwrap();
    assert_eq!(
        table["http_req_duration{name:login}"],
        [
            ThresholdSpec::Expression("p(95)<300".into()),
            ThresholdSpec::Detailed { threshold: "avg<100".into(), abort_on_fail: true, delay_abort_eval: None },
        ]
    );
    let thresholds = from_config_table(&table).unwrap();
    assert_eq!(thresholds.len(), 4);
    assert!(thresholds.iter().all(|t| t.origin == Origin::Config));
    let failed = thresholds.iter().find(|t| t.metric == "http_req_failed").unwrap();
    assert_eq!(failed.delay_abort_eval, Some(Duration::from_secs(90)));
    let iterations = thresholds.iter().find(|t| t.metric == "iterations").unwrap();
    assert_eq!(iterations.delay_abort_eval, Some(Duration::from_millis(250)));
    assert!(!iterations.abort_on_fail);

    let spec: ThresholdSpec = serde_json::from_value(json!({"threshold": "avg<1", "abortOnFail": null})).unwrap();
    assert_eq!(
        spec,
        ThresholdSpec::Detailed { threshold: "avg<1".into(), abort_on_fail: false, delay_abort_eval: None }
    );
}

#[test]
fn threshold_spec_rejects_unknown_fields_and_wrong_types() {
    let error = toml::from_str::<BTreeMap<String, Vec<ThresholdSpec>>>(
        "http_reqs = [{ threshold = \"count>1\", abortOnfail = true }]",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("unknown field `abortOnfail`"), "{error}");
    assert!(error.contains("abortOnFail"), "{error}");
    let error = toml::from_str::<BTreeMap<String, Vec<ThresholdSpec>>>("http_reqs = [{ abortOnFail = true }]")
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing field `threshold`"), "{error}");
    let error = serde_json::from_value::<ThresholdSpec>(json!(5)).unwrap_err().to_string();
    assert!(error.contains("a threshold expression such as"), "{error}");
}

#[test]
fn threshold_spec_serializes_to_the_shape_it_reads() {
    let specs = vec![
        ThresholdSpec::Expression("p(95)<300".into()),
        ThresholdSpec::Detailed {
            threshold: "avg<100".into(),
            abort_on_fail: true,
            delay_abort_eval: Some("5s".into()),
        },
        ThresholdSpec::Detailed { threshold: "avg<200".into(), abort_on_fail: true, delay_abort_eval: None },
    ];
    let value = serde_json::to_value(&specs).unwrap();
    assert_eq!(
        value,
        json!(["p(95)<300", {"threshold": "avg<100", "abortOnFail": true, "delayAbortEval": "5s"}, {"threshold": "avg<200", "abortOnFail": true}])
    );
    assert_eq!(serde_json::from_value::<Vec<ThresholdSpec>>(value).unwrap(), specs);
}

#[test]
fn to_spec_reads_back() {
    let thresholds = from_k6_options(&json!({
        "http_req_duration{name:\"a, b\"}": ["p(95) < 300", {"threshold": "avg<100", "abortOnFail": true, "delayAbortEval": "1m30s"}],
    }))
    .unwrap();
    for t in &thresholds {
        let again = t.to_spec().to_threshold(&t.key(), Origin::Script).unwrap();
        assert_eq!(&again, t);
    }
}

#[test]
fn flag_form() {
    let t = parse_flag("http_req_duration{name:login}: p(95)<300").unwrap();
    assert_eq!(
        (t.metric.as_str(), t.key().as_str(), t.source.as_str()),
        ("http_req_duration", "http_req_duration{name:login}", "p(95)<300")
    );
    assert_eq!(t.origin, Origin::Flag);
    assert!(!t.abort_on_fail);

    let t = parse_flag("http_req_duration{url:https://x:8443/a}:avg<1").unwrap();
    assert_eq!(t.filter.get("url"), Some("https://x:8443/a"));
    let t = parse_flag("http_req_duration{name:/users/{id}}: med < 10").unwrap();
    assert_eq!(t.filter.get("name"), Some("/users/{id}"));
    let t = parse_flag(r#"checks{check:"a: b, c"}: rate>0.99"#).unwrap();
    assert_eq!(t.filter.get("check"), Some("a: b, c"));
    let t = parse_flag("checks{check:it's ok}: rate>0.99").unwrap();
    assert_eq!(t.filter.get("check"), Some("it's ok"));
    let t = parse_flag("vus: value <= 100").unwrap();
    assert_eq!(t.expression.op, Operator::Le);
}

#[test]
fn flag_form_abort_options() {
    let t = parse_flag("http_req_failed: rate<0.01;abortOnFail").unwrap();
    assert!(t.abort_on_fail);
    assert_eq!(t.delay_abort_eval, None);
    let t = parse_flag("http_req_failed: rate<0.01 ; abortOnFail , delayAbortEval=10s").unwrap();
    assert!(t.abort_on_fail);
    assert_eq!(t.delay_abort_eval, Some(Duration::from_secs(10)));
    assert_eq!(t.source, "rate<0.01");
    let t = parse_flag("http_req_failed: rate<0.01;abortOnFail=false").unwrap();
    assert!(!t.abort_on_fail);
}

#[test]
fn flag_form_display_round_trips() {
    for flag in [
        "http_req_duration{name:login}: p(95)<300",
        "http_req_failed: rate<0.01;abortOnFail",
        "http_req_failed: rate<0.01;abortOnFail,delayAbortEval=1m30s",
        "http_req_failed: rate<0.01;abortOnFail=false,delayAbortEval=500ms",
        r#"checks{check:"a, b"}: rate>0.9"#,
    ] {
        let t = parse_flag(flag).unwrap();
        assert_eq!(t.to_string(), flag);
        assert_eq!(parse_flag(&t.to_string()).unwrap(), t);
    }
}

/// Found by fuzzing (fuzz/corpus/threshold_flag/regression-brace-in-tag-name
/// and regression-quote-after-colon): a quoted tag name or value with an
/// unmatched brace, or with a quote after a colon, was printed without its
/// quotes, and the printed flag no longer read back.
#[test]
fn flag_form_quotes_unmatched_braces() {
    let t = parse_flag(r#"e{"}":''}:rate==1"#).unwrap();
    assert_eq!(t.filter, tags(&[("}", "")]));
    assert_eq!(t.to_string(), r#"e{"}":""}: rate==1"#);
    assert_eq!(parse_flag(&t.to_string()).unwrap(), t);
    let t = parse_flag("m{name:'{id'}: avg<1").unwrap();
    assert_eq!(t.to_string(), r#"m{name:"{id"}: avg<1"#);
    assert_eq!(parse_flag(&t.to_string()).unwrap(), t);
    // A quote after a colon inside a value would start a quoted value.
    let t = parse_flag(r#"m{name:'a:"b'}: avg<1"#).unwrap();
    assert_eq!(t.to_string(), r#"m{name:'a:"b'}: avg<1"#);
    assert_eq!(parse_flag(&t.to_string()).unwrap(), t);
    // Balanced braces need no quotes, as k6 writes them.
    assert_eq!(parse_flag("m{name:/users/{id}}: avg<1").unwrap().to_string(), "m{name:/users/{id}}: avg<1");
}

#[test]
fn flag_form_errors() {
    let error = parse_flag("http_req_duration p(95)<300").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid threshold flag `http_req_duration p(95)<300`: expected `<metric>: <expression>`"),
        "{error}"
    );
    let error = parse_flag("http_req_duration{name:login: p(95)<300").unwrap_err();
    assert!(error.to_string().contains("expected `<metric>: <expression>`"), "{error}");
    let error = parse_flag("http_req_failed: rate<0.01;abortOnFial").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid threshold flag `http_req_failed: rate<0.01;abortOnFial`: unknown option `abortOnFial`; expected `abortOnFail`, `abortOnFail=false` or `delayAbortEval=<duration>`"
    );
    assert!(error.render().ends_with("                            ^^^^^^^^^^^"), "{}", error.render());
    let error = parse_flag("http_req_failed: rate<0.01;abortOnFail,delayAbortEval=soon").unwrap_err();
    assert!(error.to_string().contains("delayAbortEval: invalid duration `soon`"), "{error}");
    let error = parse_flag("http_req_failed: rate<0.01;delayAbortEval").unwrap_err();
    assert!(error.to_string().contains("needs a duration"), "{error}");
    let error = parse_flag("http_req_failed: rate<0.01;").unwrap_err();
    assert!(error.to_string().contains("nothing after `;`"), "{error}");
    let error = parse_flag("http_req_failed: rate<<0.01").unwrap_err();
    assert!(error.to_string().contains("unknown operator `<<`"), "{error}");
}

// ------------------------------------------------------------- validation

#[test]
fn static_validation_rejects_wrong_aggregation_for_builtin_metrics() {
    let error = threshold("http_req_duration", "rate<0.1").validate_static().unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid threshold `rate<0.1` on `http_req_duration`: `rate` does not apply to `http_req_duration`, a trend metric; trend metrics support avg, min, max, med, p(N)"
    );
    let error = threshold("http_reqs{name:a}", "p(95)<1").validate_static().unwrap_err();
    assert!(error.to_string().contains("a counter metric; counter metrics support count, rate"), "{error}");
    let error = threshold("vus", "max<10").validate_static().unwrap_err();
    assert!(error.to_string().contains("gauge metrics support value"), "{error}");
    let error = threshold("http_req_failed", "count<10").validate_static().unwrap_err();
    assert!(error.to_string().contains("rate metrics support rate"), "{error}");

    for (key, expression) in [
        ("http_req_duration{name:a}", "p(99.9)<1"),
        ("http_req_duration", "med<1"),
        ("http_reqs", "count>1"),
        ("http_reqs", "rate>1"),
        ("vus", "value<10"),
        ("checks", "rate>0.9"),
        ("my_custom_metric", "rate<0.1"),
    ] {
        threshold(key, expression).validate_static().unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn tag_keys_and_selectors() {
    let thresholds = [
        threshold("http_req_duration{name:login}", "p(95)<300"),
        threshold("http_req_duration{name:login}", "avg<100"),
        threshold("http_req_duration{name:home,method:GET}", "p(95)<300"),
        threshold("http_req_failed{scenario:api}", "rate<0.01"),
        threshold("http_req_duration", "p(99)<1000"),
    ];
    assert_eq!(referenced_tag_keys(&thresholds).into_iter().collect::<Vec<_>>(), ["method", "name", "scenario"]);
    assert_eq!(
        selectors(&thresholds),
        [
            ("http_req_duration".to_owned(), tags(&[("method", "GET"), ("name", "home")])),
            ("http_req_duration".to_owned(), tags(&[("name", "login")])),
            ("http_req_failed".to_owned(), tags(&[("scenario", "api")])),
        ]
    );
    assert!(selectors(&thresholds[4..]).is_empty());
}

// ------------------------------------------------------------- evaluation

fn aggregate(kind: MetricKind, values: &[f64]) -> Aggregate {
    let mut aggregate = Aggregate::new(kind == MetricKind::Trend);
    for (i, v) in values.iter().enumerate() {
        aggregate.record_f64(*v, i as i64);
    }
    aggregate
}

/// Tag pairs and the values recorded under them.
type Series<'a> = (&'a [(&'a str, &'a str)], &'a [f64]);

fn entry(kind: MetricKind, series: &[Series<'_>]) -> MetricEntry {
    let mut entry = MetricEntry::new(Some(kind), ValueKind::Default);
    for (tag_pairs, values) in series {
        entry.series.insert(tags(tag_pairs), aggregate(kind, values));
    }
    entry
}

/// A run with a slow `login` endpoint and a fast `home` one.
fn grid_metrics() -> MetricSet {
    let mut set = MetricSet::new();
    let slow: Vec<f64> = (1..=100).map(|i| 400.0 + f64::from(i)).collect();
    let fast: Vec<f64> = (1..=100).map(f64::from).collect();
    set.metrics.insert(
        "http_req_duration".into(),
        entry(MetricKind::Trend, &[(&[("name", "login")], &slow), (&[("name", "home"), ("status", "200")], &fast)]),
    );
    set.metrics.insert(
        "http_reqs".into(),
        entry(MetricKind::Counter, &[(&[("name", "login")], &[1.0; 100]), (&[("name", "home")], &[1.0; 200])]),
    );
    set.metrics.insert("http_req_failed".into(), entry(MetricKind::Rate, &[(&[], &[0.0, 0.0, 0.0, 1.0])]));
    set.metrics.insert("vus".into(), entry(MetricKind::Gauge, &[(&[], &[10.0, 50.0, 20.0])]));
    set
}

fn run(key: &str, expression: &str, metrics: &MetricSet) -> Evaluation {
    evaluate(&[threshold(key, expression)], metrics, Duration::from_secs(60)).remove(0)
}

#[test]
fn same_threshold_crosses_on_slow_endpoint_and_passes_on_fast_one() {
    let metrics = grid_metrics();
    let evaluations = evaluate(
        &[
            threshold("http_req_duration{name:login}", "p(95)<300"),
            threshold("http_req_duration{name:home}", "p(95)<300"),
        ],
        &metrics,
        Duration::from_secs(60),
    );
    assert_eq!(evaluations[0].outcome, Outcome::Crossed);
    assert!((evaluations[0].observed.unwrap() - 495.05).abs() < 0.5, "{:?}", evaluations[0].observed);
    assert_eq!(evaluations[1].outcome, Outcome::Passed);
    assert!((evaluations[1].observed.unwrap() - 95.05).abs() < 0.1, "{:?}", evaluations[1].observed);
    assert!(evaluations.iter().all(|e| e.exact));
    assert!(!verdict(&evaluations));
    assert!(verdict(&evaluations[1..]));
}

#[test]
fn every_trend_aggregation() {
    let metrics = grid_metrics();
    // home: 1..=100
    let home = "http_req_duration{name:home}";
    assert_eq!(run(home, "avg==50.5", &metrics).outcome, Outcome::Passed);
    assert_eq!(run(home, "min===1", &metrics).outcome, Outcome::Passed);
    assert_eq!(run(home, "max>=100", &metrics).outcome, Outcome::Passed);
    assert_eq!(run(home, "max>100", &metrics).outcome, Outcome::Crossed);
    let med = run(home, "med<50", &metrics);
    assert_eq!(med.outcome, Outcome::Crossed);
    assert!((med.observed.unwrap() - 50.5).abs() < 0.1, "{:?}", med.observed);
    let p999 = run(home, "p(99.9)<=100", &metrics);
    assert_eq!(p999.outcome, Outcome::Passed);
    assert!((p999.observed.unwrap() - 99.9).abs() < 0.1, "{:?}", p999.observed);
    assert_eq!(run(home, "p(0)!=1", &metrics).outcome, Outcome::Crossed);
    // The whole metric: both endpoints.
    let all = run("http_req_duration", "max<1000", &metrics);
    assert_eq!((all.outcome, all.observed), (Outcome::Passed, Some(500.0)));
}

#[test]
fn counter_count_is_the_sum_and_rate_is_per_second() {
    let mut metrics = grid_metrics();
    // Values other than 1 show that `count` sums values rather than counting samples.
    metrics.metrics.insert("data_sent".into(), entry(MetricKind::Counter, &[(&[], &[1000.0, 500.0, 2500.0])]));
    let count = run("data_sent", "count==4000", &metrics);
    assert_eq!((count.outcome, count.observed), (Outcome::Passed, Some(4000.0)));
    let evaluations = evaluate(&[threshold("data_sent", "rate>=100")], &metrics, Duration::from_secs(40));
    assert_eq!((evaluations[0].outcome.clone(), evaluations[0].observed), (Outcome::Passed, Some(100.0)));
    let evaluations = evaluate(&[threshold("data_sent", "rate>=100")], &metrics, Duration::from_secs(50));
    assert_eq!((evaluations[0].outcome.clone(), evaluations[0].observed), (Outcome::Crossed, Some(80.0)));

    let reqs = run("http_reqs{name:login}", "count<100", &metrics);
    assert_eq!((reqs.outcome, reqs.observed), (Outcome::Crossed, Some(100.0)));
    let reqs = run("http_reqs", "rate>4.9", &metrics);
    assert_eq!((reqs.outcome, reqs.observed), (Outcome::Passed, Some(5.0)));

    let zero_time = evaluate(&[threshold("http_reqs", "rate>1")], &metrics, Duration::ZERO).remove(0);
    assert!(
        matches!(&zero_time.outcome, Outcome::Error(m) if m.contains("test time is zero")),
        "{:?}",
        zero_time.outcome
    );
}

#[test]
fn counters_without_samples_are_zero_as_in_k6() {
    let metrics = grid_metrics();
    let no_errors = run("http_reqs{status:500}", "count<1", &metrics);
    assert_eq!((no_errors.outcome, no_errors.observed), (Outcome::Passed, Some(0.0)));
    // A built-in counter that never appeared at all.
    let dropped = run("dropped_iterations", "count>0", &metrics);
    assert_eq!((dropped.outcome, dropped.observed), (Outcome::Crossed, Some(0.0)));
}

#[test]
fn rate_and_gauge() {
    let metrics = grid_metrics();
    let failed = run("http_req_failed", "rate<0.1", &metrics);
    assert_eq!((failed.outcome, failed.observed), (Outcome::Crossed, Some(0.25)));
    assert_eq!(run("http_req_failed", "rate<=0.25", &metrics).outcome, Outcome::Passed);
    let vus = run("vus", "value==20", &metrics);
    assert_eq!((vus.outcome, vus.observed), (Outcome::Passed, Some(20.0)));
}

/// k6 judges thresholds on metrics without samples at the end of a test by
/// comparing zeros, except a rate, which passes (checked against k6 1.1:
/// `never_trend: p(95)>5` and `never_gauge: value>1` cross, `never_rate:
/// rate>0.5` passes, `http_reqs{status:500}: count>0` crosses).
#[test]
fn no_samples_compare_zeros_as_k6_does() {
    let metrics = grid_metrics();
    let evaluations = evaluate(
        &[
            threshold("http_req_duration{name:checkout}", "p(95)<300"),
            threshold("my_custom_trend", "avg<1"),
            threshold("http_req_failed{name:checkout}", "rate<0.01"),
            threshold("never_rate", "rate>0.5"),
            threshold("never_trend", "p(95)>5"),
            threshold("never_gauge", "value>1"),
            threshold("http_reqs{status:599}", "count>0"),
        ],
        &metrics,
        Duration::from_secs(60),
    );
    let outcomes: Vec<(Outcome, Option<f64>)> = evaluations.iter().map(|e| (e.outcome.clone(), e.observed)).collect();
    assert_eq!(
        outcomes,
        [
            (Outcome::Passed, Some(0.0)),
            (Outcome::Passed, Some(0.0)),
            (Outcome::Passed, None),
            (Outcome::Passed, None),
            (Outcome::Crossed, Some(0.0)),
            (Outcome::Crossed, Some(0.0)),
            (Outcome::Crossed, Some(0.0)),
        ]
    );
    assert!(evaluations.iter().all(|e| e.no_samples));
    assert!(!verdict(&evaluations));
    let mut aborting = threshold("never_trend", "p(95)>5");
    aborting.abort_on_fail = true;
    let live = evaluate(&[aborting], &metrics, Duration::from_secs(5));
    assert!(abort_triggers(&live, Duration::from_secs(5)).is_empty(), "k6 skips empty metrics while running");
}

#[test]
fn collapsed_metric_without_selector_is_an_error() {
    let mut metrics = grid_metrics();
    let duration = metrics.metrics.get_mut("http_req_duration").unwrap();
    let total = duration.total();
    duration.series = BTreeMap::from([(TagSet::new(), total)]);
    duration.collapsed = true;
    let mut login = Aggregate::new(true);
    login.record_f64(200.0, 0);
    duration.selectors.insert(tags(&[("name", "login")]), login);

    let evaluations = evaluate(
        &[
            threshold("http_req_duration{name:home}", "p(95)<300"),
            threshold("http_req_duration{name:login}", "p(95)<300"),
        ],
        &metrics,
        Duration::from_secs(60),
    );
    let Outcome::Error(message) = &evaluations[0].outcome else { panic!("{:?}", evaluations[0].outcome) };
    assert!(message.starts_with("sub-metric `http_req_duration{name:home}` is unavailable"), "{message}");
    assert!(message.contains("stored without its tags"), "{message}");
    assert!(message.contains("before the run starts"), "{message}");
    assert!(!verdict(&evaluations));
    // The filter that had a selector is still answered, exactly.
    assert_eq!((evaluations[1].outcome.clone(), evaluations[1].observed), (Outcome::Passed, Some(200.0)));
    assert!(evaluations[1].exact);
}

#[test]
fn overflowed_breakdown_is_evaluated_but_marked_inexact() {
    let mut metrics = grid_metrics();
    metrics.metrics.get_mut("http_req_duration").unwrap().overflow = Some(aggregate(MetricKind::Trend, &[5000.0]));
    let home = run("http_req_duration{name:home}", "p(95)<300", &metrics);
    assert_eq!(home.outcome, Outcome::Passed);
    assert!(!home.exact);
    let whole = run("http_req_duration", "max<1000", &metrics);
    assert_eq!((whole.outcome, whole.exact), (Outcome::Crossed, true));
}

#[test]
fn custom_metric_with_wrong_aggregation_is_an_error_at_evaluation() {
    let mut metrics = grid_metrics();
    metrics.metrics.insert("my_counter".into(), entry(MetricKind::Counter, &[(&[], &[3.0])]));
    let t = threshold("my_counter", "p(95)<1");
    assert!(t.validate_static().is_ok(), "the type of a custom metric is unknown before the run");
    let evaluation = evaluate(&[t], &metrics, Duration::from_secs(1)).remove(0);
    assert_eq!(
        evaluation.outcome,
        Outcome::Error(
            "`p(N)` does not apply to `my_counter`, a counter metric; counter metrics support count, rate".into()
        )
    );
    assert!(!verdict(&[evaluation]));

    let mut unknown = MetricEntry::new(None, ValueKind::Default);
    unknown.series.insert(TagSet::new(), aggregate(MetricKind::Trend, &[1.0]));
    metrics.metrics.insert("mystery".into(), unknown);
    let evaluation = run("mystery", "avg<1", &metrics);
    assert!(
        matches!(&evaluation.outcome, Outcome::Error(m) if m.contains("type of custom metric `mystery` is unknown"))
    );
}

#[test]
fn abort_triggers_honour_abort_on_fail_and_delay() {
    let metrics = grid_metrics();
    let mut immediate = threshold("http_req_failed", "rate<0.1");
    immediate.abort_on_fail = true;
    let mut delayed = threshold("http_req_duration{name:login}", "p(95)<300");
    delayed.abort_on_fail = true;
    delayed.delay_abort_eval = Some(Duration::from_secs(30));
    let not_aborting = threshold("http_req_duration", "max<10");
    let mut passing = threshold("vus", "value<100");
    passing.abort_on_fail = true;
    let evaluations = evaluate(&[immediate, delayed, not_aborting, passing], &metrics, Duration::from_secs(10));
    assert_eq!(evaluations.iter().filter(|e| e.outcome == Outcome::Crossed).count(), 3);

    let keys = |elapsed| abort_triggers(&evaluations, elapsed).iter().map(|e| e.threshold.key()).collect::<Vec<_>>();
    assert_eq!(keys(Duration::from_secs(10)), ["http_req_failed"]);
    assert_eq!(keys(Duration::from_secs(30)), ["http_req_failed"], "k6 waits until strictly past the delay");
    assert_eq!(keys(Duration::from_secs(31)), ["http_req_failed", "http_req_duration{name:login}"]);
}

#[test]
fn outcome_display() {
    assert_eq!(Outcome::Passed.to_string(), "passed");
    assert_eq!(Outcome::Crossed.to_string(), "crossed");
    assert_eq!(Outcome::Error("x".into()).to_string(), "error: x");
}
