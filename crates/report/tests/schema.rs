//! `summary.json` against the committed JSON Schema
//! (`schemas/summary.schema.json`): real summaries validate, broken ones do
//! not, and the model round-trips through JSON.

mod common;

use jsonschema::Validator;
use loadgrid_report::RunSummary;
use serde_json::{json, Value};

const SCHEMA: &str = include_str!("../../../schemas/summary.schema.json");

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("the committed schema is JSON")
}

fn validator() -> Validator {
    jsonschema::draft202012::new(&schema()).expect("the committed schema compiles")
}

fn errors(document: &Value) -> Vec<String> {
    validator().iter_errors(document).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

fn fixture_json() -> Value {
    serde_json::to_value(common::summary()).unwrap()
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let schema = schema();
    assert!(jsonschema::meta::is_valid(&schema));
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

#[test]
fn built_summary_validates_against_the_committed_schema() {
    let document = fixture_json();
    let errors = errors(&document);
    assert!(errors.is_empty(), "summary.json does not match the schema:\n{}", errors.join("\n"));
    // The fixture exercises the nullable and enum-valued fields both ways.
    assert!(document["stop"].is_object());
    let outcomes: Vec<&str> =
        document["thresholds"].as_array().unwrap().iter().map(|t| t["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"passed") && outcomes.contains(&"crossed"));
    assert!(document["root_group"]["groups"][0]["groups"][0]["path"] == "::checkout::payment");
    let shards: Vec<&str> =
        document["shards"].as_array().unwrap().iter().map(|s| s["outcome"].as_str().unwrap()).collect();
    assert_eq!(shards, ["completed", "completed", "failed", "missing"]);
}

#[test]
fn minimal_summary_validates() {
    let mut document = fixture_json();
    for list in ["thresholds", "endpoints", "shards", "timeline", "warnings", "verdict_reasons"] {
        document[list] = json!([]);
    }
    document["metrics"] = json!({});
    document["stop"] = Value::Null;
    document["started_at_ms"] = Value::Null;
    document["ended_at_ms"] = Value::Null;
    document["verdict"] = json!("passed");
    document["exit_code"] = json!(0);
    assert_eq!(errors(&document), Vec::<String>::new());
}

#[test]
fn missing_verdict_fails_validation() {
    let mut document = fixture_json();
    document.as_object_mut().unwrap().remove("verdict");
    assert!(!validator().is_valid(&document));
}

#[test]
fn unknown_verdict_fails_validation() {
    let mut document = fixture_json();
    document["verdict"] = json!("mostly_passed");
    assert!(!validator().is_valid(&document));
}

#[test]
fn unknown_fields_fail_validation() {
    let mut document = fixture_json();
    document["surprise"] = json!(1);
    assert!(!validator().is_valid(&document), "top level");

    let mut document = fixture_json();
    document["shards"][0]["surprise"] = json!(1);
    assert!(!validator().is_valid(&document), "shard item");

    let mut document = fixture_json();
    document["metrics"]["http_reqs"]["values"]["p(42)"] = json!(1.0);
    assert!(!validator().is_valid(&document), "metric value key outside k6's names");
}

#[test]
fn wrong_types_and_enums_fail_validation() {
    let cases = [
        ("/thresholds/0/outcome", json!("maybe")),
        ("/shards/3/outcome", json!("lost")),
        ("/stop/reason", json!("bored")),
        ("/endpoints/0/requests", json!(-1)),
        ("/timeline/0/p95_ms", json!("12ms")),
        ("/schema_version", json!(1)),
        ("/thresholds/0/outcome", json!("no_data")),
        ("/root_group/checks/0/passes", json!(-3)),
        ("/metrics/vus/kind", json!("histogram")),
    ];
    for (pointer, value) in cases {
        let mut document = fixture_json();
        *document.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer} exists in the fixture")) = value;
        assert!(!validator().is_valid(&document), "{pointer} should be rejected");
    }
}

#[test]
fn summary_round_trips_through_json() {
    let summary = common::summary();
    let text = serde_json::to_string_pretty(&summary).unwrap();
    let back: RunSummary = serde_json::from_str(&text).unwrap();
    assert_eq!(back, summary);
}
