//! `runs/<id>/manifest.json` as every agent and `loadgrid results` read it
//! (`Manifest::from_json`). A manifest that reads writes back as JSON that
//! reads to the same manifest; its deadlines can be computed (the agent's
//! and the watcher's), and its thresholds parse again as `thresholds_of`
//! parses them (or give an error).

#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgrid_plan::Manifest;
use loadgrid_thresholds::{Origin, Threshold};

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::from_json(data) else { return };
    let again = Manifest::from_json(&manifest.to_json()).expect("a written manifest reads back");
    assert!(again == manifest, "the manifest changed when written and read back");
    manifest.run_deadline();
    manifest.results_due(0);
    manifest.results_due(1);
    for record in &manifest.thresholds {
        if let Err(error) = Threshold::new(&record.metric, &record.expression, Origin::Script) {
            error.render();
        }
    }
});
