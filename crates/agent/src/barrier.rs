//! Setup once, then the synchronized start, all through the store.

use std::time::{Duration, Instant};

use anyhow::Context;
use loadgrid_k6::rest::Client;
use loadgrid_plan::records::{now_ms, Go, Ready, StopReason};
use loadgrid_plan::Manifest;
use loadgrid_store::{layout, Store};

use crate::{read_stop, AgentConfig};

pub enum Met {
    /// Resume at this wall-clock time (ms since the epoch).
    Go(i64),
    /// The run was stopped, or the agent signalled, before it started.
    Stopped,
    /// The leader's `setup()` called `test.abort()`, with this reason.
    SetupAborted(String),
}

/// The reason of a `test.abort()` that made a `setup()` or `teardown()`
/// call through k6's REST API fail (`… test aborted: no db at setup (…)`).
fn aborted_reason(error: &loadgrid_k6::rest::RestError) -> Option<String> {
    let text = error.to_string();
    let at = text.find("test aborted")?;
    crate::k6_process::script_reason(&text[at..], "test aborted")
}

/// Loads setup data into this shard's k6, marks the shard ready, and waits
/// for the start time. The leader runs `setup()` and writes `go`.
pub async fn meet(
    config: &AgentConfig,
    manifest: &Manifest,
    client: &Client,
    interrupted: &mut tokio::sync::watch::Receiver<u32>,
) -> anyhow::Result<Met> {
    let store = &config.store;
    let run_id = &config.run_id;
    let poll = Duration::from_millis(manifest.timing.poll_interval_ms.max(5));
    let deadline =
        Instant::now() + Duration::from_millis(manifest.timing.barrier_timeout_ms + manifest.setup_timeout_ms);
    let waiting = Waiting { store, run_id, poll, deadline };

    if config.shard == 0 {
        let data = match client.run_setup().await {
            Ok(data) => data,
            Err(error) => match aborted_reason(&error) {
                Some(reason) => return Ok(Met::SetupAborted(reason)),
                None => return Err(anyhow::Error::new(error).context("setup() failed")),
            },
        };
        store.put(&layout::setup_data(run_id), serde_json::to_vec(&data)?).await?;
    } else {
        let Some(bytes) = waiting
            .until("the leader's setup() data", interrupted, || async {
                store.get(&layout::setup_data(run_id)).await.ok().flatten()
            })
            .await?
        else {
            return Ok(Met::Stopped);
        };
        let data: serde_json::Value = serde_json::from_slice(&bytes).context("unreadable setup data")?;
        client.set_setup_data(&data).await.context("cannot load setup data into k6")?;
    }

    let ready = Ready { shard: config.shard, at_ms: now_ms() };
    store.put(&layout::shard_ready(run_id, config.shard), serde_json::to_vec(&ready)?).await?;

    if config.shard == 0 {
        let shards = manifest.shards as usize;
        let all_ready = waiting
            .until("every shard's ready marker", interrupted, || async {
                let keys = store.list_keys(&format!("{}/shards", layout::run_dir(run_id))).await.ok()?;
                (keys.iter().filter(|k| k.ends_with("/ready")).count() >= shards).then_some(())
            })
            .await?;
        if all_ready.is_none() {
            return Ok(Met::Stopped);
        }
        let now = now_ms();
        let go = Go { start_at_ms: now + manifest.timing.start_lead_ms as i64, written_at_ms: now };
        store.put_if_absent(&layout::go(run_id), serde_json::to_vec(&go)?).await?;
    }

    let go = waiting
        .until("the leader's go", interrupted, || async {
            let bytes = store.get(&layout::go(run_id)).await.ok()??;
            serde_json::from_slice::<Go>(&bytes).ok()
        })
        .await?;
    match go {
        Some(go) => Ok(Met::Go(go.start_at_ms)),
        None => Ok(Met::Stopped),
    }
}

struct Waiting<'a> {
    store: &'a Store,
    run_id: &'a str,
    poll: Duration,
    deadline: Instant,
}

impl Waiting<'_> {
    /// Polls `check` until it yields a value. `None` when the run was
    /// stopped or the agent interrupted meanwhile; an error at the deadline.
    async fn until<T, F, Fut>(
        &self,
        what: &str,
        interrupted: &mut tokio::sync::watch::Receiver<u32>,
        mut check: F,
    ) -> anyhow::Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let mut polls = 0u64;
        loop {
            if let Some(value) = check().await {
                return Ok(Some(value));
            }
            if *interrupted.borrow() > 0 {
                return Ok(None);
            }
            // The stop record is read less often than the barrier markers.
            polls += 1;
            if polls.is_multiple_of(10) && read_stop(self.store, self.run_id).await.is_some() {
                return Ok(None);
            }
            if Instant::now() > self.deadline {
                anyhow::bail!("timed out waiting for {what}: another shard never got ready");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = interrupted.changed() => {}
            }
        }
    }
}

/// Runs `teardown()` once for the grid, after every other shard has ended
/// (at once when the grid never `started`). A `test.abort()` in it aborts
/// the run, as in k6.
pub async fn teardown_after_all_shards(store: &Store, manifest: &Manifest, client: &Client, started: bool) {
    if started {
        wait_for_other_shards(store, manifest).await;
    }
    // Else stopped at the barrier: no shard ran an iteration, and some may
    // never report at all. Nothing to wait for.
    if let Err(error) = client.run_teardown().await {
        match aborted_reason(&error) {
            Some(reason) => {
                let reason = if reason.is_empty() { String::new() } else { format!(": {reason}") };
                let detail = format!("shard 0: teardown() called test.abort(){reason}");
                crate::request_stop(store, &manifest.run_id, StopReason::TestAbort, &detail).await;
            }
            None => eprintln!("loadgrid agent: teardown() failed: {error}"),
        }
    }
}

async fn wait_for_other_shards(store: &Store, manifest: &Manifest) {
    let run_id = &manifest.run_id;
    let deadline = Instant::now() + Duration::from_millis(manifest.teardown_timeout_ms + manifest.timing.grace_ms);
    let poll = Duration::from_millis(manifest.timing.poll_interval_ms.max(5));
    loop {
        let mut ended = 1; // the leader itself
        for shard in 1..manifest.shards {
            if store.exists(&layout::shard_status(run_id, shard)).await.unwrap_or(false) {
                ended += 1;
            }
        }
        if ended >= manifest.shards || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(poll).await;
    }
}
