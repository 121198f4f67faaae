//! Thresholds objects in k6's JSON shape, as `from_json` reads them from
//! `k6 inspect` (lenient, `Origin::Script`) and from the config
//! (strict, `Origin::Config`), and as `loadgrid.toml`'s table deserializes
//! into `ThresholdSpec`s. Every threshold read writes back, through
//! `to_spec`, as JSON that reads to the same threshold.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use loadgrid_thresholds::{from_config_table, from_json, Origin, Threshold, ThresholdSpec};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    for origin in [Origin::Script, Origin::Config] {
        match from_json(&value, origin) {
            Ok(thresholds) => thresholds.iter().for_each(|t| reads_back_through_its_spec(t, origin)),
            Err(error) => {
                error.render();
            }
        }
    }
    if let Ok(table) = serde_json::from_value::<BTreeMap<String, Vec<ThresholdSpec>>>(value) {
        match from_config_table(&table) {
            Ok(thresholds) => thresholds.iter().for_each(|t| reads_back_through_its_spec(t, Origin::Config)),
            Err(error) => {
                error.render();
            }
        }
    }
});

fn reads_back_through_its_spec(threshold: &Threshold, origin: Origin) {
    let spec = serde_json::to_value(threshold.to_spec()).expect("a spec serializes");
    let written = serde_json::json!({ threshold.key(): [spec] });
    let again = from_json(&written, origin).unwrap_or_else(|e| panic!("{written} does not read back: {}", e.render()));
    assert_eq!(again, std::slice::from_ref(threshold), "written as {written}");
}
