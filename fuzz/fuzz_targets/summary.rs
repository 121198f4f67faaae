//! A stored `summary.json`, read as `loadgrid report`, `runs` and `results`
//! read it (`serde_json::from_slice::<RunSummary>`). What reads writes back
//! to the same summary, renders in the terminal at any width, and renders
//! as the HTML report without error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgrid_html::ReportExtras;
use loadgrid_report::{render_terminal, RunSummary, Style};

fuzz_target!(|data: &[u8]| {
    let Ok(summary) = serde_json::from_slice::<RunSummary>(data) else { return };
    let written = serde_json::to_vec(&summary).expect("a summary serializes");
    let again: RunSummary = serde_json::from_slice(&written).expect("a written summary reads back");
    assert!(again == summary, "the summary changed when written and read back");
    let width = usize::from(data.len() as u8);
    render_terminal(&summary, &Style { color: data.len().is_multiple_of(2), width });
    loadgrid_html::run_report(&summary, &ReportExtras::default()).expect("the HTML report renders");
});
