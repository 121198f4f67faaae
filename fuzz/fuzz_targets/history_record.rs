//! A stored history record (`history/<test>/<start>-<run>.json`), read as
//! `loadgrid history`, `compare`, the baseline and the trend site read it
//! (`serde_json::from_slice::<HistoryRecord>`). What reads writes back to
//! the same record, has a store key, compares with itself without
//! regressing, and renders in the trend site without error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgrid_history::{compare, regression, HistoryRecord};

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<HistoryRecord>(data) else { return };
    let written = serde_json::to_vec(&record).expect("a record serializes");
    let again: HistoryRecord = serde_json::from_slice(&written).expect("a written record reads back");
    assert!(again == record, "the record changed when written and read back");
    record.key();
    compare::render(&record, &record);
    let report = regression::judge(&regression::default_rules(), &record.run_id, &record.metrics, &record.metrics);
    assert!(!report.regressed(), "a run regressed against itself: {report:?}");
    loadgrid_html::site(std::slice::from_ref(&record), 30, &|_| None).expect("the trend site renders");
});
