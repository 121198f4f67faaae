//! `loadgrid agent`: the process that runs one shard.
//!
//! It is started by a backend (a child process locally, an ECS task on AWS)
//! and meets the other shards only in the store:
//!
//! 1. read the manifest, fetch the archive, start k6 `--paused`;
//! 2. **setup once**: the leader (shard 0) runs `setup()` through k6's REST
//!    API and stores its data; every other shard loads that data into its k6;
//! 3. **barrier**: each shard writes `ready`; the leader writes `go` once
//!    (a conditional put) with a start time slightly ahead; every shard
//!    sleeps until then and resumes k6;
//! 4. **run**: k6's JSON metric output streams into aggregates; a snapshot line is
//!    printed and live aggregates are published every interval; a `stop`
//!    record, a stale heartbeat, the deadline or a signal stop the shard;
//! 5. **teardown once**: the leader runs `teardown()` after every shard
//!    has finished;
//! 6. **collect**: `result` (aggregates) then `status` (how it ended).

mod barrier;
mod clock;
mod health;
mod k6_process;
mod snapshot;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use loadgrid_health::ShardHealth;
use loadgrid_k6::rest::{self, Client};
use loadgrid_metrics::ingest::{Ingest, IngestConfig, TestWindow};
use loadgrid_metrics::{encode_shard_result, ShardResult};
use loadgrid_plan::manifest::K6_STOP_GRACE as STOP_GRACE;
use loadgrid_plan::records::{now_ms, Heartbeat, LiveHealth, ShardOutcome, ShardStatus, Stop, StopReason};
use loadgrid_plan::Manifest;
use loadgrid_store::{layout, Store};

use crate::k6_process::{K6Process, K6RunArgs};

/// How long k6 may take to initialise its VUs before the shard fails.
const INIT_TIMEOUT: Duration = Duration::from_secs(180);
const STATUS_POLL: Duration = Duration::from_millis(200);
const HEALTH_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
const DROPPED_ITERATIONS: &str = "dropped_iterations";

/// Where secret values come from (Secrets Manager on AWS).
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync {
    async fn read(&self, secret_id: &str) -> anyhow::Result<String>;
}

pub struct AgentConfig {
    pub store: Store,
    pub run_id: String,
    pub shard: u32,
    /// For runs with `secrets` in their manifest.
    pub secrets: Option<Arc<dyn SecretSource>>,
    pub k6: PathBuf,
    /// `host:port` for this shard's k6 REST API.
    pub k6_address: String,
    pub work_dir: PathBuf,
    /// The ECS task's size (from the task metadata endpoint), when the
    /// agent runs as a task: the allowance its generator health is judged by.
    pub task_allowance: Option<loadgrid_health::Allowance>,
}

/// Why the run phase ended.
#[derive(Debug, Clone, PartialEq)]
enum RunEnd {
    Completed,
    Stopped(String),
    /// `setup()` called `test.abort()`: the test never started, and, as in
    /// k6, `teardown()` does not run.
    SetupAborted(String),
    Failed(String),
}

/// How the shard's run phase went.
struct Driven {
    end: RunEnd,
    resumed_at_ms: Option<i64>,
    /// When the grid's shared start was.
    start_at_ms: Option<i64>,
    /// Between which polls k6's test ended.
    test_end: Option<TestEnd>,
    /// The generator's health while the test ran.
    health: Option<ShardHealth>,
}

/// k6's test ended after the last poll that saw it running and by the
/// poll that saw it end (ms since the epoch).
#[derive(Clone, Copy)]
struct TestEnd {
    running_seen_at_ms: i64,
    ended_seen_at_ms: i64,
}

impl TestEnd {
    /// The closest estimate of k6's own end of test: its last sample (once
    /// every sample is in: k6 flushes its output in batches), bounded by
    /// the two polls.
    fn at_ms(self, last_sample_us: Option<i64>) -> i64 {
        let last_sample_ms = last_sample_us.map_or(self.running_seen_at_ms, |us| us.div_euclid(1000));
        last_sample_ms.max(self.running_seen_at_ms).min(self.ended_seen_at_ms)
    }
}

/// Runs one shard to the end and returns the agent's exit code: 0 when the
/// shard's status was written (whatever it says), 1 when even that failed.
/// `interrupted` counts the SIGINT/SIGTERM the agent received.
pub async fn run(config: AgentConfig, mut interrupted: tokio::sync::watch::Receiver<u32>) -> i32 {
    let started_at_ms = now_ms();
    let manifest = read_manifest(&config).await;
    let window = manifest.as_ref().map_or(DEFAULT_UPLOAD_WINDOW, |m| Duration::from_millis(m.timing.upload_window_ms));
    let ran = match &manifest {
        Ok(manifest) => run_shard(&config, manifest, &mut interrupted, started_at_ms).await,
        Err(error) => Err(anyhow::anyhow!("{error:#}")),
    };
    let Err(error) = ran else { return 0 };
    eprintln!("loadgrid agent: shard {}: {error:#}", config.shard);
    if error.downcast_ref::<NotDelivered>().is_some() {
        // The store did not take the status within the whole window: a
        // second try would only wait as long again.
        return 1;
    }
    // The other shards may be waiting for this one at the barrier.
    let detail = format!("shard {} failed: {error:#}", config.shard);
    request_stop(&config.store, &config.run_id, StopReason::ShardFailed, &detail).await;
    let status = ShardStatus {
        shard: config.shard,
        outcome: ShardOutcome::Failed,
        reason: Some(format!("{error:#}")),
        k6_exit_code: None,
        k6_stderr_tail: Vec::new(),
        started_at_ms,
        resumed_at_ms: None,
        test_ended_at_ms: None,
        marked_failed: None,
        ended_at_ms: now_ms(),
        has_result: false,
        samples: 0,
        rejected_lines: 0,
        overflowed_metrics: Vec::new(),
        health: None,
    };
    match deliver(&config, window, None, &status).await {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("loadgrid agent: shard {}: {error:#}", config.shard);
            1
        }
    }
}

/// The upload window of an agent that could not read its run's manifest.
const DEFAULT_UPLOAD_WINDOW: Duration = Duration::from_secs(30);

async fn read_manifest(config: &AgentConfig) -> anyhow::Result<Manifest> {
    let (store, run_id) = (&config.store, &config.run_id);
    let bytes = store
        .get(&layout::manifest(run_id))
        .await?
        .with_context(|| format!("run `{run_id}` has no manifest in store `{}`", store.url()))?;
    Manifest::from_json(&bytes).map_err(anyhow::Error::msg)
}

async fn run_shard(
    config: &AgentConfig,
    manifest: &Manifest,
    interrupted: &mut tokio::sync::watch::Receiver<u32>,
    started_at_ms: i64,
) -> anyhow::Result<()> {
    let store = &config.store;
    let run_id = &config.run_id;
    let segment = manifest
        .segments
        .get(config.shard as usize)
        .with_context(|| format!("shard {} is outside the run's {} shards", config.shard, manifest.shards))?;

    std::fs::create_dir_all(&config.work_dir)
        .with_context(|| format!("cannot create work directory `{}`", config.work_dir.display()))?;
    let archive = config.work_dir.join(format!("archive-{}.tar", config.shard));
    if !store.get_to_file(&layout::archive(run_id), &archive).await? {
        anyhow::bail!("run `{run_id}` has no archive in the store");
    }

    let secret_env = read_secrets(config, manifest).await?;
    // On a shared store, how far this agent's clock is from the store's,
    // measured while k6 starts; a local store has this machine's clock.
    let clock = store.local_root().is_none().then(|| {
        let probes = clock::Probes::default();
        let task =
            tokio::spawn(clock::measure(store.clone(), layout::shard_clock(run_id, config.shard), probes.clone()));
        (probes, task)
    });
    let ingest = Ingest::new(IngestConfig {
        shard: config.shard,
        selectors: manifest.selectors.clone(),
        max_series_per_metric: manifest.max_series_per_metric,
        ..IngestConfig::default()
    });
    let ingest = Arc::new(Mutex::new(ingest));
    let mut k6 = K6Process::spawn(
        K6RunArgs {
            k6: &config.k6,
            archive: &archive,
            address: &config.k6_address,
            segment,
            segment_sequence: &manifest.segment_sequence,
            shard: config.shard,
            system_tags: &manifest.system_tags,
            tags: &manifest.tags,
            env: &secret_env,
        },
        Arc::clone(&ingest),
    )
    .context("cannot start k6")?;
    let client = Client::new(&config.k6_address);

    let mut shard = Shard { config, manifest, client: &client, k6: &mut k6, interrupted };
    let driven = match shard.drive(&ingest).await {
        Ok(driven) => driven,
        Err(error) => Driven {
            end: RunEnd::Failed(format!("{error:#}")),
            resumed_at_ms: None,
            start_at_ms: None,
            test_end: None,
            health: None,
        },
    };
    let Driven { end: run_end, resumed_at_ms, start_at_ms, test_end, health } = driven;
    if let RunEnd::Failed(reason) = &run_end {
        // Running on without this shard would measure a different test.
        request_stop(store, run_id, StopReason::ShardFailed, &format!("shard {} failed: {reason}", config.shard)).await;
    }

    if config.shard == 0 && !matches!(run_end, RunEnd::Failed(_) | RunEnd::SetupAborted(_)) {
        barrier::teardown_after_all_shards(store, manifest, &client, resumed_at_ms.is_some()).await;
    }
    k6.interrupt();
    let exit_code = match tokio::time::timeout(STOP_GRACE, k6.wait()).await {
        Ok(code) => code,
        Err(_) => {
            k6.kill();
            k6.wait().await
        }
    };
    let stderr_tail = k6.stderr_tail();
    let (aborted, marked_failed) = (k6.aborted(), k6.marked_failed());
    let clock_offset = clock.and_then(|(probes, task)| {
        task.abort();
        probes.offset()
    });
    // Log lines read after the test (k6's last words) count too.
    let health = health.map(|health| ShardHealth { log: k6.log_signals(), clock_offset, ..health });
    let ingest_thread = k6.ingest_thread;
    tokio::task::spawn_blocking(move || ingest_thread.join()).await.ok();
    let ingest = Arc::try_unwrap(ingest).map_err(|_| anyhow::anyhow!("metric pipe still open"))?;
    let mut ingest = ingest.into_inner().expect("ingest lock");
    let test_ended_at_ms = test_end.map(|end| end.at_ms(ingest.last_sample_us()));
    if let Some(start_at_ms) = start_at_ms {
        // Only the VU gauge samples of the test count, not those k6 takes
        // while paused or lingering.
        ingest.set_test_window(TestWindow {
            start_us: Some(start_at_ms * 1000),
            end_us: test_ended_at_ms.map(|ms| ms * 1000),
        });
    }
    let overflowed_metrics = ingest.overflowed_metrics();
    let result: ShardResult = ingest.into_result();

    let aborted = aborted.or_else(|| (exit_code == EXIT_ABORTED).then(String::new));
    if let Some(reason) = &aborted {
        request_stop(store, run_id, StopReason::TestAbort, &abort_detail(config.shard, "", reason)).await;
    }
    let run_end = match (run_end, aborted) {
        (RunEnd::Completed, Some(reason)) => RunEnd::Stopped(abort_detail(config.shard, "", &reason)),
        (end, _) => end,
    };
    let marked_failed = marked_failed.or_else(|| (exit_code == EXIT_MARKED_FAILED).then(String::new)).map(|reason| {
        match reason.is_empty() {
            true => "the script called exec.test.fail()".to_owned(),
            false => format!("the script called exec.test.fail(): {reason}"),
        }
    });
    let (outcome, reason) = match run_end {
        RunEnd::Completed => (ShardOutcome::Completed, None),
        RunEnd::Stopped(reason) | RunEnd::SetupAborted(reason) => (ShardOutcome::Stopped, Some(reason)),
        RunEnd::Failed(reason) => (ShardOutcome::Failed, Some(reason)),
    };
    // SIGKILL with the cgroup's OOM count up: the kernel, for memory.
    let reason = match (&health, exit_code) {
        (Some(health), SIGKILLED) if health.oom_kills > 0 && outcome == ShardOutcome::Failed => Some(format!(
            "k6 was killed for memory: the {} of {} ran out",
            loadgrid_health::mebibytes(health.allowance.memory_bytes),
            health.allowance.pool.label()
        )),
        _ => reason,
    };
    let status = ShardStatus {
        shard: config.shard,
        outcome,
        reason,
        k6_exit_code: Some(exit_code),
        k6_stderr_tail: if outcome == ShardOutcome::Failed { stderr_tail } else { Vec::new() },
        started_at_ms,
        resumed_at_ms,
        test_ended_at_ms,
        marked_failed,
        ended_at_ms: now_ms(),
        has_result: true,
        samples: result.samples,
        rejected_lines: result.rejected_lines,
        overflowed_metrics,
        health,
    };
    let window = Duration::from_millis(manifest.timing.upload_window_ms);
    Ok(deliver(config, window, Some(encode_shard_result(&result)), &status).await?)
}

/// Stores the shard's result (if any) and then its status, the status
/// only if none is there yet. Both are kept on the agent's disk first
/// (`<work dir>/kept`, the store's own layout) and uploaded with retries
/// for the run's upload window: a store that stops answering for a while
/// loses nothing, and one that never comes back leaves them where the
/// error says.
async fn deliver(
    config: &AgentConfig,
    window: Duration,
    result: Option<Vec<u8>>,
    status: &ShardStatus,
) -> Result<(), NotDelivered> {
    let (run_id, shard) = (&config.run_id, config.shard);
    let kept_dir = config.work_dir.join("kept");
    let not_delivered = |cause: String| NotDelivered {
        shard,
        window,
        kept: kept_dir.clone(),
        store: config.store.url().to_owned(),
        run_id: run_id.clone(),
        cause,
    };
    let result = result.map(|bytes| (layout::shard_result(run_id, shard), Bytes::from(bytes)));
    let status_bytes = serde_json::to_vec_pretty(status).expect("a shard status serializes");
    let status = (layout::shard_status(run_id, shard), Bytes::from(status_bytes));
    let kept = Store::open_local(&kept_dir).map_err(|e| not_delivered(e.to_string()))?;
    for (key, bytes) in result.iter().chain([&status]) {
        kept.put(key, bytes.clone()).await.map_err(|e| not_delivered(e.to_string()))?;
    }
    let deadline = Instant::now() + window;
    if let Some((key, bytes)) = &result {
        with_retries(deadline, || config.store.put(key, bytes.clone()))
            .await
            .map_err(|e| not_delivered(cause_of(e)))?;
    }
    with_retries(deadline, || config.store.put_if_absent(&status.0, status.1.clone()))
        .await
        .map_err(|e| not_delivered(cause_of(e)))?;
    let _ = std::fs::remove_dir_all(&kept_dir);
    Ok(())
}

/// A store error with its causes, each once.
fn cause_of(error: loadgrid_store::StoreError) -> String {
    format!("{:#}", anyhow::Error::from(error))
}

/// The shard's result and status are on the agent's disk, not in the store.
#[derive(Debug, thiserror::Error)]
#[error(
    "shard {shard} could not store its result and status within the upload window ({}): {cause}. They are kept \
     in `{}`: copy what is under it into the store `{store}` (same keys), then run `loadgrid results {run_id}`",
    loadgrid_thresholds::format_duration(*window),
    kept.display()
)]
pub struct NotDelivered {
    shard: u32,
    window: Duration,
    kept: PathBuf,
    store: String,
    run_id: String,
    cause: String,
}

/// First wait between attempts; it doubles up to [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(250);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(8);

/// Calls `attempt` until it succeeds or `deadline` passes, waiting longer
/// after each failure. The last error is returned.
async fn with_retries<T, F, Fut>(deadline: Instant, mut attempt: F) -> Result<T, loadgrid_store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, loadgrid_store::StoreError>>,
{
    let mut wait = FIRST_RETRY_WAIT;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() + wait >= deadline => return Err(error),
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY_WAIT);
            }
        }
    }
}

/// `k6 exited with code 107`, or `k6 was killed by SIGKILL` for the code
/// a shell gives a process a signal ended (128 + the signal's number).
fn k6_exit_text(code: i32) -> String {
    match nix::sys::signal::Signal::try_from(code - 128) {
        Ok(signal) if code > 128 => format!("k6 was killed by {}", signal.as_str()),
        _ => format!("k6 exited with code {code}"),
    }
}

/// How a process killed by SIGKILL exits.
const SIGKILLED: i32 = 128 + 9;

/// k6's exit codes for `test.abort()` and `exec.test.fail()`.
const EXIT_ABORTED: i32 = 108;
const EXIT_MARKED_FAILED: i32 = 110;

/// `shard 1 called test.abort(): no db`, `shard 0: setup() called test.abort()`.
fn abort_detail(shard: u32, during: &str, reason: &str) -> String {
    let reason = if reason.is_empty() { String::new() } else { format!(": {reason}") };
    match during {
        "" => format!("shard {shard} called test.abort(){reason}"),
        during => format!("shard {shard}: {during} called test.abort(){reason}"),
    }
}

/// The manifest's secrets as k6 environment variables. Errors name the
/// variable and the secret id, never a value.
async fn read_secrets(config: &AgentConfig, manifest: &Manifest) -> anyhow::Result<Vec<(String, String)>> {
    if manifest.secrets.is_empty() {
        return Ok(Vec::new());
    }
    let source = config.secrets.as_ref().context("this run reads secrets, but the agent has no secret source")?;
    let mut env = Vec::new();
    for (name, secret_id) in &manifest.secrets {
        let value =
            source.read(secret_id).await.with_context(|| format!("cannot read secret `{secret_id}` for `{name}`"))?;
        env.push((name.clone(), value));
    }
    Ok(env)
}

/// Claims the first free shard of `range` for `task` (a conditional write
/// per shard, so two tasks never run the same shard). `None` when every
/// shard of the range is taken.
pub async fn claim_shard(
    store: &Store,
    run_id: &str,
    range: std::ops::Range<u32>,
    task: &str,
) -> anyhow::Result<Option<u32>> {
    let claim = serde_json::json!({ "task": task, "at_ms": now_ms() }).to_string();
    for shard in range {
        if store.put_if_absent(&layout::shard_claim(run_id, shard), claim.clone()).await? {
            return Ok(Some(shard));
        }
    }
    Ok(None)
}

/// Writes the run's `stop` record unless one exists: the first reason wins.
pub async fn request_stop(store: &Store, run_id: &str, reason: StopReason, detail: &str) {
    let stop = Stop { reason, detail: detail.to_owned(), at_ms: now_ms() };
    let bytes = serde_json::to_vec(&stop).expect("stop record serializes");
    if let Err(error) = store.put_if_absent(&layout::stop(run_id), bytes).await {
        eprintln!("loadgrid agent: cannot write stop record: {:#}", anyhow::Error::from(error));
    }
}

/// How a shard ends that was told to stop (or was signalled) before its
/// end: by the grid's stop record, which loadgrid writes before it stops a
/// grid, or else from outside loadgrid (`docker stop`, an ECS `StopTask`, a
/// Spot interruption). The latter fails the shard and stops the grid:
/// without the shard, the grid would measure another test.
async fn stopped_end(config: &AgentConfig) -> RunEnd {
    if let Some(stop) = read_stop(&config.store, &config.run_id).await {
        return RunEnd::Stopped(stop.detail);
    }
    let why = "stopped from outside the run: its agent got SIGTERM or SIGINT while loadgrid had asked for no \
               stop (`docker stop`, an ECS StopTask, a Spot interruption)";
    let detail = format!("shard {} was {why}", config.shard);
    request_stop(&config.store, &config.run_id, StopReason::ShardFailed, &detail).await;
    RunEnd::Failed(why.to_owned())
}

pub async fn read_stop(store: &Store, run_id: &str) -> Option<Stop> {
    let bytes = store.get(&layout::stop(run_id)).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

struct Shard<'a> {
    config: &'a AgentConfig,
    manifest: &'a Manifest,
    client: &'a Client,
    k6: &'a mut K6Process,
    interrupted: &'a mut tokio::sync::watch::Receiver<u32>,
}

impl Shard<'_> {
    /// Barrier then run.
    async fn drive(&mut self, ingest: &Arc<Mutex<Ingest>>) -> anyhow::Result<Driven> {
        self.wait_until_paused().await?;
        let stopped = |end| Driven { end, resumed_at_ms: None, start_at_ms: None, test_end: None, health: None };
        let start_at_ms = match barrier::meet(self.config, self.manifest, self.client, self.interrupted).await? {
            barrier::Met::Go(start_at_ms) => start_at_ms,
            barrier::Met::Stopped => return Ok(stopped(stopped_end(self.config).await)),
            barrier::Met::SetupAborted(reason) => {
                let detail = abort_detail(self.config.shard, "setup()", &reason);
                request_stop(&self.config.store, &self.config.run_id, StopReason::TestAbort, &detail).await;
                return Ok(stopped(RunEnd::SetupAborted(detail)));
            }
        };
        // Only the VU gauge samples of the test count, not those k6 takes
        // while paused.
        ingest
            .lock()
            .expect("ingest lock")
            .set_test_window(TestWindow { start_us: Some(start_at_ms * 1000), end_us: None });
        sleep_until_ms(start_at_ms).await;
        self.client.resume().await.context("cannot resume k6")?;
        let resumed_at_ms = now_ms();
        eprintln!(
            "loadgrid agent: shard {} resumed at {resumed_at_ms} ({} ms after the agreed start)",
            self.config.shard,
            resumed_at_ms - start_at_ms
        );
        let (end, test_end, health) = self.watch_run(ingest, Instant::now(), resumed_at_ms).await;
        Ok(Driven {
            end,
            resumed_at_ms: Some(resumed_at_ms),
            start_at_ms: Some(start_at_ms),
            test_end: Some(test_end),
            health,
        })
    }

    async fn wait_until_paused(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + INIT_TIMEOUT;
        loop {
            if let Some(code) = self.k6.try_exit_code() {
                anyhow::bail!("{} before it was ready: {}", k6_exit_text(code), self.k6.stderr_tail().join("\n"));
            }
            if let Ok(status) = self.client.status().await {
                if status.status >= rest::STATUS_PAUSED {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                anyhow::bail!("k6 did not get ready within {}s", INIT_TIMEOUT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Watches k6 until the test ends, publishing live numbers and obeying
    /// stop records, the heartbeat, the deadline and signals; samples the
    /// generator's health every second. Returns how it ended, between
    /// which polls, and the generator's health.
    async fn watch_run(
        &mut self,
        ingest: &Arc<Mutex<Ingest>>,
        resumed: Instant,
        resumed_at_ms: i64,
    ) -> (RunEnd, TestEnd, Option<ShardHealth>) {
        let store = &self.config.store;
        let run_id = &self.config.run_id;
        let timing = &self.manifest.timing;
        let live_interval = Duration::from_millis(timing.live_interval_ms.max(100));
        let control_interval = Duration::from_millis(timing.poll_interval_ms.max(250));
        let deadline = resumed + self.manifest.run_deadline();
        let mut next_live = Instant::now() + live_interval;
        let mut next_control = Instant::now();
        let mut stop_reason: Option<String> = None;
        let mut stop_sent_at: Option<Instant> = None;
        let mut abort_shared = false;
        let mut failed_from_outside: Option<String> = None;
        let mut running_seen_at_ms = resumed_at_ms;
        let mut sampler =
            health::Sampler::new(self.k6.pid().map_or(0, nix::unistd::Pid::as_raw), self.config.task_allowance);
        if let Some(sampler) = sampler.as_mut() {
            sampler.sample();
        }
        let mut next_sample = Instant::now() + HEALTH_SAMPLE_INTERVAL;
        let mut signals_published: Vec<&'static str> = Vec::new();
        loop {
            if self.k6.try_exit_code().is_some() {
                break;
            }
            let polled_at_ms = now_ms();
            match self.client.status().await {
                Ok(status) if status.status >= rest::STATUS_ENDED => break,
                Ok(_) => running_seen_at_ms = polled_at_ms,
                Err(_) => {}
            }
            if !abort_shared {
                if let Some(reason) = self.k6.aborted() {
                    // As in one k6, test.abort() ends the whole test at once.
                    abort_shared = true;
                    let detail = abort_detail(self.config.shard, "", &reason);
                    request_stop(&self.config.store, &self.config.run_id, StopReason::TestAbort, &detail).await;
                }
            }
            let now = Instant::now();
            if let Some(sampler) = sampler.as_mut().filter(|_| now >= next_sample) {
                next_sample = now + HEALTH_SAMPLE_INTERVAL;
                sampler.sample();
                let dropped = ingest.lock().expect("ingest lock").counter_total(DROPPED_ITERATIONS);
                self.publish_new_findings(sampler, dropped, &mut signals_published).await;
            }
            if now >= next_live {
                next_live = now + live_interval;
                let (line, live) = {
                    let ingest = ingest.lock().expect("ingest lock");
                    let snapshot = ingest.snapshot((live_interval.as_secs() as u32).max(1));
                    (snapshot::emf_line(run_id, self.config.shard, &snapshot), ingest.live_result())
                };
                println!("{line}");
                let _ = store.put(&layout::shard_live(run_id, self.config.shard), encode_shard_result(&live)).await;
            }
            if stop_reason.is_none() && now >= next_control {
                next_control = now + control_interval;
                stop_reason = self.should_stop(now >= deadline).await;
            }
            if stop_reason.is_none() && *self.interrupted.borrow() > 0 {
                stop_reason = Some(match stopped_end(self.config).await {
                    RunEnd::Failed(why) => {
                        failed_from_outside = Some(why.clone());
                        why
                    }
                    RunEnd::Stopped(why) | RunEnd::SetupAborted(why) => why,
                    RunEnd::Completed => "the agent was interrupted".into(),
                });
            }
            if let Some(reason) = &stop_reason {
                if stop_sent_at.is_none() {
                    eprintln!("loadgrid agent: shard {} stopping: {reason}", self.config.shard);
                    let _ = self.client.stop().await;
                    stop_sent_at = Some(Instant::now());
                } else if stop_sent_at.is_some_and(|at| at.elapsed() > STOP_GRACE) {
                    self.k6.kill();
                    break;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(STATUS_POLL) => {}
                _ = self.interrupted.changed() => {}
            }
        }
        let test_end = TestEnd { running_seen_at_ms, ended_seen_at_ms: now_ms() };
        let health = sampler.map(health::Sampler::into_health);
        let end = match (failed_from_outside, stop_reason) {
            (Some(why), _) => RunEnd::Failed(why),
            (None, Some(reason)) => RunEnd::Stopped(reason),
            (None, None)
                if self
                    .k6
                    .try_exit_code()
                    .is_some_and(|code| ![0, EXIT_ABORTED, EXIT_MARKED_FAILED].contains(&code)) =>
            {
                RunEnd::Failed(k6_exit_text(self.k6.try_exit_code().unwrap_or(-1)))
            }
            (None, None) => RunEnd::Completed,
        };
        (end, test_end, health)
    }

    /// Writes `shards/<i>/health` when the shard's generator shows a signal
    /// it had not shown before, so the orchestrator can say so at once.
    async fn publish_new_findings(
        &self,
        sampler: &mut health::Sampler,
        dropped_iterations: u64,
        published: &mut Vec<&'static str>,
    ) {
        let health = sampler.health(self.k6.log_signals());
        let findings = loadgrid_health::judge(health, dropped_iterations, &self.manifest.health);
        let new: Vec<&'static str> =
            findings.iter().map(loadgrid_health::Finding::signal).filter(|s| !published.contains(s)).collect();
        if new.is_empty() {
            return;
        }
        published.extend(new);
        let live = LiveHealth { shard: self.config.shard, allowance: health.allowance, findings, at_ms: now_ms() };
        let bytes = serde_json::to_vec(&live).expect("in-memory serialization cannot fail");
        let _ = self.config.store.put(&layout::shard_health(&self.config.run_id, self.config.shard), bytes).await;
    }

    async fn should_stop(&self, past_deadline: bool) -> Option<String> {
        if past_deadline {
            return Some(format!(
                "the shard ran past its deadline ({} s: k6's total duration plus grace)",
                self.manifest.run_deadline().as_secs()
            ));
        }
        if let Some(stop) = read_stop(&self.config.store, &self.config.run_id).await {
            return Some(stop.detail);
        }
        let timeout = self.manifest.timing.heartbeat_timeout_ms?;
        let heartbeat = self.config.store.get(&layout::heartbeat(&self.config.run_id)).await.ok()??;
        let heartbeat: Heartbeat = serde_json::from_slice(&heartbeat).ok()?;
        let age = now_ms() - heartbeat.at_ms;
        (age > timeout as i64).then(|| format!("the orchestrator's heartbeat is {} s old", age / 1000))
    }
}

async fn sleep_until_ms(at_ms: i64) {
    let wait = at_ms - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}
