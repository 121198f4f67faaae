//! The `--threshold` flag (`metric{tag:value}: p(95)<300;abortOnFail`) as
//! `parse_flag` reads it. A parsed threshold prints (its `Display`) as a
//! flag that reads back the same, its key re-parses to the same metric and
//! filter, and its spec (the manifest and config form) gives it back too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgrid_thresholds::{parse_flag, parse_metric_key, Origin};

fuzz_target!(|text: &str| {
    let threshold = match parse_flag(text) {
        Ok(threshold) => threshold,
        Err(error) => {
            error.render();
            return;
        }
    };
    // A tag name or value holding both `"` and `'` has no quoted form, so
    // the flag it came from may not be printable (FUZZING.md).
    if threshold.filter.iter().any(|(name, value)| [name, value].iter().any(|t| t.contains('"') && t.contains('\''))) {
        return;
    }
    let printed = threshold.to_string();
    let again = parse_flag(&printed).unwrap_or_else(|e| panic!("`{text}` printed as `{printed}`: {}", e.render()));
    assert_eq!(again, threshold, "`{text}` printed as `{printed}`");

    let key = threshold.key();
    let (metric, filter) = parse_metric_key(&key).unwrap_or_else(|e| panic!("key `{key}` of `{text}`: {e}"));
    assert_eq!((&metric, &filter), (&threshold.metric, &threshold.filter), "key `{key}` of `{text}`");

    let from_spec = threshold.to_spec().to_threshold(&key, Origin::Flag).expect("a threshold's own spec reads back");
    assert_eq!(from_spec, threshold, "spec of `{text}`");

    if let Err(error) = threshold.validate_static() {
        error.render();
    }
});
