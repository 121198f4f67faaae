//! `loadgrid.toml` as `FileConfig::parse` reads it, then checked the way
//! the CLI's settings check it: thresholds, regression rules, durations,
//! `[cost]` prices and the `[infra]` spec each give a value or an error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgrid_plan::FileConfig;
use loadgrid_thresholds::{from_json, parse_duration, Origin};

fuzz_target!(|text: &str| {
    let Ok(config) = FileConfig::parse(text) else { return };
    if let Err(error) = from_json(&config.thresholds_json(), Origin::Config) {
        error.render();
    }
    let _ = loadgrid_history::regression::parse_rules(&config.regression.rules);
    let run = &config.run;
    for duration in [&run.duration, &run.grace, &run.heartbeat_timeout, &run.start_timeout].into_iter().flatten() {
        let _ = parse_duration(duration);
    }
    if let Some(table) = &config.cost {
        if let Ok(overrides) = table.clone().try_into::<loadgrid_cost::Prices>() {
            let _ = loadgrid_cost::Prices::with_overrides(Some(&overrides)).check();
        }
    }
    let _ = loadgrid_infra::InfraSpec::from_section(&config.infra, config.aws.region.as_deref());
});
