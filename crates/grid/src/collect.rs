//! **collect** and **merge**: every shard's `status` and `result` from the
//! store, merged into one grid-wide metric set.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use loadgrid_metrics::{decode_shard_result, MetricSet, ShardResult};
use loadgrid_plan::records::{Go, ShardStatus, Stop};
use loadgrid_plan::Manifest;
use loadgrid_store::{layout, Store};

use crate::input_error;

pub struct Collected {
    pub manifest: Manifest,
    /// Indexed by shard; `None` when the shard never reported.
    pub statuses: Vec<Option<ShardStatus>>,
    pub results: Vec<Option<ShardResult>>,
    pub merged: MetricSet,
    pub stop: Option<Stop>,
    /// The shared start every shard resumed at, when the grid started.
    pub go: Option<Go>,
    /// Indexed by shard: how the backend saw the shard end, when it said.
    pub backend_notes: Vec<Option<String>>,
}

/// Store reads in flight at once while collecting.
const PARALLEL_READS: usize = 32;

/// What one shard left in the store.
struct ShardRead {
    status: Option<ShardStatus>,
    result: Option<ShardResult>,
}

/// A shard's status and result, read only where the run's listing
/// (`present`) shows them. A corrupt status or result is an error that
/// names the shard and the file, never a panic or a silently smaller total.
async fn read_shard(store: &Store, run_id: &str, shard: u32, present: &BTreeSet<String>) -> anyhow::Result<ShardRead> {
    let status_key = layout::shard_status(run_id, shard);
    let result_key = layout::shard_result(run_id, shard);
    let get = |key: &str| {
        let wanted = present.contains(key);
        let key = key.to_owned();
        async move {
            match wanted {
                true => store.get(&key).await,
                false => Ok(None),
            }
        }
    };
    let (status, result) = futures::join!(get(&status_key), get(&result_key));
    let status = match status? {
        Some(bytes) => Some(serde_json::from_slice::<ShardStatus>(&bytes).map_err(|e| {
            input_error(format!(
                "shard {shard}'s status `{status_key}` in store `{}` is corrupt ({e}); the run cannot be judged: \
                 restore the file, or delete it and judge the other shards with `loadgrid results {run_id} \
                 --allow-partial`",
                store.url()
            ))
        })?),
        None => None,
    };
    let result = match result.context("reading shard results")? {
        Some(bytes) => Some(decode_shard_result(&bytes).map_err(|e| {
            input_error(format!(
                "shard {shard}'s result `{result_key}` in store `{}`: {e}; the run cannot be merged exactly: \
                 restore the file, or delete it with its status and judge the other shards with `loadgrid results \
                 {run_id} --allow-partial`",
                store.url()
            ))
        })?),
        None => None,
    };
    Ok(ShardRead { status, result })
}

pub async fn read_manifest(store: &Store, run_id: &str) -> anyhow::Result<Manifest> {
    if !crate::run_id::is_valid(run_id) {
        return Err(input_error(format!("`{run_id}` is not a run id; `loadgrid runs` lists them")));
    }
    let bytes = store.get(&layout::manifest(run_id)).await?.ok_or_else(|| {
        input_error(format!("no run `{run_id}` in store `{}`; `loadgrid runs` lists the stored runs", store.url()))
    })?;
    Manifest::from_json(&bytes).map_err(|e| {
        input_error(format!(
            "run `{run_id}`: {e}; its `{}` was damaged after the run was stored: restore it from a copy of the store",
            layout::manifest(run_id)
        ))
    })
}

/// Reads and merges a run. A corrupt shard result is an error that names
/// the shard and the file, never a panic or a silently smaller total.
pub async fn collect(store: &Store, run_id: &str) -> anyhow::Result<Collected> {
    use futures::StreamExt;
    let manifest = read_manifest(store, run_id).await?;
    // One listing says what each shard wrote; then its reads, many shards
    // at once: a large grid's end waits neither on reads of what does not
    // exist nor on one read after another.
    let present: BTreeSet<String> =
        store.list_keys(&format!("{}/shards", layout::run_dir(run_id))).await?.into_iter().collect();
    let shards: Vec<ShardRead> = futures::stream::iter(0..manifest.shards)
        .map(|shard| read_shard(store, run_id, shard, &present))
        .buffered(PARALLEL_READS)
        .collect::<Vec<anyhow::Result<ShardRead>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let mut statuses = Vec::with_capacity(shards.len());
    let mut results = Vec::with_capacity(shards.len());
    for shard in shards {
        statuses.push(shard.status);
        results.push(shard.result);
    }
    let notes: BTreeMap<u32, String> = match store.get(&layout::backend_notes(run_id)).await? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let backend_notes = (0..manifest.shards).map(|shard| notes.get(&shard).cloned()).collect();
    let stop = match store.get(&layout::stop(run_id)).await? {
        Some(bytes) => serde_json::from_slice(&bytes).ok(),
        None => None,
    };
    let go = match store.get(&layout::go(run_id)).await? {
        Some(bytes) => serde_json::from_slice(&bytes).ok(),
        None => None,
    };
    let merged = MetricSet::merge_shards(results.iter().flatten().map(|result: &ShardResult| &result.metrics));
    Ok(Collected { manifest, statuses, results, merged, stop, go, backend_notes })
}
