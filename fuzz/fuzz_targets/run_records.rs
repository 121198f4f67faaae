//! The small JSON records of a run in the store, as the grid and agents
//! read them: a shard's `status`, `stop`, `go`, `ready`, `heartbeat` and
//! the backend's notes. The first byte picks the record; whatever reads
//! writes back to the same value.

#![no_main]

use std::collections::BTreeMap;
use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use loadgrid_plan::records::{Go, Heartbeat, Ready, ShardStatus, Stop};
use serde::de::DeserializeOwned;
use serde::Serialize;

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else { return };
    match which % 6 {
        0 => reads_back::<ShardStatus>(json),
        1 => reads_back::<Stop>(json),
        2 => reads_back::<Go>(json),
        3 => reads_back::<Ready>(json),
        4 => reads_back::<Heartbeat>(json),
        _ => reads_back::<BTreeMap<u32, String>>(json),
    }
});

fn reads_back<T: DeserializeOwned + Serialize + PartialEq + Debug>(json: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(json) else { return };
    let written = serde_json::to_vec(&value).expect("a record serializes");
    assert_eq!(serde_json::from_slice::<T>(&written).expect("a written record reads back"), value);
}
