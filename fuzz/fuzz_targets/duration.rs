//! k6 durations (`delayAbortEval`, `[run] grace`, timeouts) as
//! `parse_duration` reads them: what parses formats back to text that
//! parses to the same duration.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgrid_thresholds::{format_duration, parse_duration};

fuzz_target!(|text: &str| {
    if let Ok(duration) = parse_duration(text) {
        let formatted = format_duration(duration);
        assert_eq!(parse_duration(&formatted), Ok(duration), "`{text}` formatted as `{formatted}`");
    }
});
