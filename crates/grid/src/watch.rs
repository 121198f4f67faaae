//! Watching a launched grid until every shard has reported.
//!
//! The orchestrator keeps the run's heartbeat fresh, shows live merged
//! numbers, evaluates `abortOnFail` thresholds on the live merge of all
//! shards (so one shard's partial data never decides), and turns signals
//! into a graceful stop: the first asks every shard to stop and save, a
//! second kills.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use loadgrid_metrics::MetricSet;
use loadgrid_plan::records::{now_ms, Go, Heartbeat, LiveHealth, ShardOutcome, ShardStatus, StopReason};
use loadgrid_plan::Manifest;
use loadgrid_store::{layout, Store};
use loadgrid_thresholds::Threshold;
use tokio::sync::watch;

use crate::backend::{LaunchedShards, LiveNumbers};
use crate::live::{read_live, recent_rps, LiveFeed, LiveObserver, LiveRead, Tick};

/// The watch loop's clock on a local store; object stores use the run's
/// (slower) poll interval, since every tick lists the run's shard objects.
const MIN_TICK: Duration = Duration::from_millis(250);
/// Past the latest moment a shard could store its result, how long a
/// watcher still waits for it (clocks of different machines differ).
const RESULTS_DUE_SLACK: Duration = Duration::from_secs(5);
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// After every shard process has ended, how long to wait for statuses
/// still in flight. An agent writes its status before it exits, so this is
/// only for a store's last answers.
const STATUS_SETTLE: Duration = Duration::from_secs(1);
const PLAIN_PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// How long a second interrupt waits for the shards to be killed before
/// the process exits anyway.
const FORCED_EXIT_GRACE: Duration = Duration::from_secs(1);

/// A second SIGINT or SIGTERM: the run is left as it is, now.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted twice: run {run_id} was left as it is; what is still running stops at its heartbeat timeout, or \
     now with `loadgrid stop {run_id}`"
)]
pub struct InterruptedTwice {
    pub run_id: String,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProgressMode {
    /// A live line on a terminal.
    Live,
    /// A plain line every few seconds (CI logs, pipes).
    Plain,
    Quiet,
}

/// Live numbers of the whole grid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveView {
    /// Backend-side shard states (`PENDING: 3`), then the store's.
    pub states: String,
    pub ready: usize,
    pub reported: usize,
    pub elapsed: Option<Duration>,
    pub requests: u64,
    pub rps: f64,
    pub p95_ms: Option<f64>,
    pub error_rate: Option<f64>,
    pub vus: u64,
    /// Until the start timeout stops a grid that is not all ready.
    pub start_timeout_left: Option<Duration>,
    /// (shard, signal) of every generator finding said so far.
    pub saturated: Vec<(u32, &'static str)>,
}

impl LiveView {
    fn line(&self, manifest: &Manifest) -> String {
        let total = Duration::from_millis(manifest.total_duration_ms);
        let Some(elapsed) = self.elapsed else {
            let left = self.start_timeout_left.map_or(String::new(), |left| {
                format!(
                    " (start timeout in {})",
                    loadgrid_thresholds::format_duration(Duration::from_secs(left.as_secs()))
                )
            });
            return format!("waiting for shards: {}/{} ready{left}{}", self.ready, manifest.shards, self.states);
        };
        let p95 = self.p95_ms.map_or("-".into(), |v| format!("{v:.1}ms"));
        let errors = self.error_rate.map_or("-".into(), |v| format!("{:.2}%", v * 100.0));
        let mut saturated: Vec<u32> = self.saturated.iter().map(|(shard, _)| *shard).collect();
        saturated.dedup();
        let saturated = match saturated.is_empty() {
            true => String::new(),
            false => format!("  SATURATED: {}", crate::gate::shard_ranges(&saturated)),
        };
        format!(
            "running {}s (at most {}s)  vus={}  rps={:.0}  p95={p95}  errors={errors}  requests={}  done={}/{}{}{saturated}",
            elapsed.as_secs(),
            total.as_secs(),
            self.vus,
            self.rps,
            self.requests,
            self.reported,
            manifest.shards,
            self.states
        )
    }
}

/// Watches until every shard has written its status or ended. `signals`
/// counts SIGINT/SIGTERM received so far.
pub async fn watch_grid(
    store: &Store,
    manifest: &Manifest,
    thresholds: &[Threshold],
    shards: &mut dyn LaunchedShards,
    mut signals: watch::Receiver<u32>,
    mode: ProgressMode,
    feed: Option<&LiveFeed>,
) -> anyhow::Result<()> {
    let run_id = &manifest.run_id;
    let progress = progress_bar(mode);
    let abort_thresholds: Vec<Threshold> = thresholds.iter().filter(|t| t.abort_on_fail).cloned().collect();
    let live_interval = Duration::from_millis(manifest.timing.live_interval_ms.max(250));
    let mut next_heartbeat = Instant::now();
    let mut next_live = Instant::now();
    let mut next_plain = Instant::now() + PLAIN_PROGRESS_INTERVAL;
    let mut start_at_ms: Option<i64> = None;
    let mut handled_signals = 0;
    let mut all_ended_at: Option<Instant> = None;
    let mut view = LiveView::default();
    let mut lost_handled = false;
    let mut store_health = StoreHealth::new(store.url());
    let mut keys: Vec<String> = Vec::new();
    let tick = Duration::from_millis(manifest.timing.poll_interval_ms).max(MIN_TICK);
    let watch_started = Instant::now();
    let start_deadline = watch_started + Duration::from_millis(manifest.timing.start_timeout_ms);
    let mut start_timed_out = false;
    let mut observer = LiveObserver::default();
    let mut findings: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    loop {
        shards.poll().await;
        let now = Instant::now();
        if now >= next_heartbeat {
            next_heartbeat = now + HEARTBEAT_INTERVAL;
            let heartbeat = serde_json::to_vec(&Heartbeat { at_ms: now_ms() })?;
            let written = store.put(&layout::heartbeat(run_id), heartbeat).await;
            store_health.observe(written, &progress);
        }

        let signal_count = *signals.borrow();
        if signal_count > handled_signals {
            handled_signals = signal_count;
            if signal_count == 1 {
                notice(&progress, "interrupted: stopping every shard and saving what was measured (again to kill)");
                loadgrid_agent::request_stop(store, run_id, StopReason::Interrupted, "interrupted by a signal").await;
                shards.terminate().await;
            } else {
                // At once: what may remain is for `loadgrid stop`, not for
                // a user who asked twice to wait on.
                progress.finish_and_clear();
                let _ = tokio::time::timeout(FORCED_EXIT_GRACE, shards.kill()).await;
                return Err(anyhow::Error::new(InterruptedTwice { run_id: run_id.clone() }));
            }
        }

        // A listing that fails keeps the last one: a store that does not
        // answer for a while is not a grid whose shards vanished.
        let listed = store.list_keys(&format!("{}/shards", layout::run_dir(run_id))).await;
        let fresh = listed.is_ok();
        if let Some(listed) = store_health.observe(listed, &progress) {
            keys = listed;
        }
        view.ready = keys.iter().filter(|k| k.ends_with("/ready")).count();
        view.reported = keys.iter().filter(|k| k.ends_with("/status")).count();
        let uploading = keys.iter().filter(|k| k.ends_with("/result")).count().saturating_sub(view.reported);
        view.states = state_counts(&shards.states(), view.ready, start_at_ms.is_some(), uploading, view.reported);
        if view.reported >= manifest.shards as usize {
            break;
        }
        if start_at_ms.is_none() {
            start_at_ms = read_go(store, run_id).await;
        }
        // After a signal the shards stop because they were asked to: not a
        // grid that cannot start.
        if fresh && !lost_handled && !start_timed_out && handled_signals == 0 {
            if let Some((shard, reason)) = lost_shard(shards, &keys, start_at_ms.is_some()) {
                lost_handled = true;
                if let Some(shard) = shard {
                    // Its process is gone and will never say so itself; the
                    // leader stops waiting for it before teardown().
                    let ended = reason.trim_start_matches(&format!("shard {shard} "));
                    write_lost_status(store, run_id, shard, ended).await;
                }
                let notice_text = match start_at_ms {
                    None => format!("the grid cannot start whole: {reason}; stopping every shard"),
                    Some(_) => format!("{reason}: without it the grid measures another test; stopping every shard"),
                };
                notice(&progress, notice_text);
                loadgrid_agent::request_stop(store, run_id, StopReason::ShardFailed, &reason).await;
            }
        }
        if start_at_ms.is_none() && !start_timed_out && handled_signals == 0 {
            view.start_timeout_left = Some(start_deadline.saturating_duration_since(now));
            if now >= start_deadline {
                start_timed_out = true;
                let not_ready: Vec<u32> = (0..manifest.shards)
                    .filter(|shard| !keys.iter().any(|k| k.ends_with(&format!("/shards/{shard}/ready"))))
                    .collect();
                let detail = format!(
                    "the grid did not start within {}: {} never got ready (their tasks may not reach the store, \
                     their image may be wrong, or they crashed before their first write: `loadgrid logs {run_id}` \
                     shows their output)",
                    loadgrid_thresholds::format_duration(Duration::from_millis(manifest.timing.start_timeout_ms)),
                    crate::gate::shard_ranges(&not_ready)
                );
                notice(&progress, format!("{detail}; stopping every shard"));
                loadgrid_agent::request_stop(store, run_id, StopReason::StartTimeout, &detail).await;
                shards.terminate().await;
            }
        }
        view.elapsed = start_at_ms.map(|at| Duration::from_millis((now_ms() - at).max(0) as u64));

        if now >= next_live {
            next_live = now + live_interval;
            // Before the start there is nothing to read; a dashboard still
            // shows the shards getting ready.
            let mut live = LiveRead::default();
            if let Some(elapsed) = view.elapsed {
                let from_backend = shards.live().await;
                announce_saturation(store, manifest, &keys, &mut view.saturated, &mut findings, &progress).await;
                // The store's live objects hold every metric: needed for
                // abortOnFail and the dashboard, and the live view when the
                // backend has nothing cheaper.
                if from_backend.is_none() || !abort_thresholds.is_empty() || feed.is_some() {
                    live = read_live(store, manifest).await;
                    if from_backend.is_none() {
                        update_view(&mut view, &live_numbers(&live.merged));
                    }
                    check_abort_on_fail(store, run_id, &abort_thresholds, &live.merged, elapsed, &progress).await;
                }
                if let Some(numbers) = &from_backend {
                    update_view(&mut view, numbers);
                }
            }
            if let Some(feed) = feed {
                let tick = Tick { keys: &keys, start_at_ms, backend: shards.shard_states(), findings: &findings };
                observer.publish(feed, store, manifest, thresholds, tick, &live).await;
            }
        }
        progress.set_message(view.line(manifest));
        if mode == ProgressMode::Plain && now >= next_plain {
            next_plain = now + PLAIN_PROGRESS_INTERVAL;
            eprintln!("{}", view.line(manifest));
        }

        if shards.knows_ends() && shards.ended().len() >= manifest.shards as usize {
            let since = *all_ended_at.get_or_insert(now);
            if since.elapsed() > STATUS_SETTLE {
                break;
            }
        }
        if let Some(missing) = overdue(manifest, &keys, start_at_ms, watch_started) {
            // Whatever they store from now on stays in the run for `loadgrid results`.
            notice(
                &progress,
                format!(
                    "{} had not reported by the last moment a result could arrive; judging the run without {}{}",
                    crate::gate::shard_ranges(&missing),
                    if missing.len() == 1 { "it" } else { "them" },
                    match (shards.knows_ends(), missing.len()) {
                        (false, _) => "",
                        (true, 1) => " and stopping it",
                        (true, _) => " and stopping them",
                    }
                ),
            );
            if shards.knows_ends() {
                shards.kill().await;
            }
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = signals.changed() => {}
        }
    }
    progress.finish_and_clear();
    if let Some(feed) = feed {
        crate::live::judging(feed);
    }
    Ok(())
}

/// Stores how the backend saw each shard end, once it has finished with
/// them (a task that stopped after the last status was read is described
/// by then).
pub async fn record_end_notes(store: &Store, run_id: &str, shards: &dyn LaunchedShards) -> anyhow::Result<()> {
    let notes = shards.end_notes();
    if notes.is_empty() {
        return Ok(());
    }
    // One object for every shard: a grid of thousands ends in one write.
    let bytes = serde_json::to_vec(&notes)?;
    if store.put(&layout::backend_notes(run_id), bytes).await.is_err() {
        // They may say where results the store did not take are kept.
        for (shard, note) in &notes {
            eprintln!("shard {shard}: {note}");
        }
    }
    Ok(())
}

/// A shard that ended without a status: before the start, the others
/// would wait for it at the barrier until its timeout; after it, they
/// would go on as a smaller grid than the one planned.
fn lost_shard(shards: &dyn LaunchedShards, keys: &[String], started: bool) -> Option<(Option<u32>, String)> {
    if !started {
        if let Some(reason) = shards.lost_before_start() {
            return Some((None, reason));
        }
    }
    let when = if started { "during the test, without reporting" } else { "before the grid started" };
    let notes = shards.end_notes();
    let shard = shards
        .ended()
        .into_iter()
        .find(|shard| !keys.iter().any(|k| k.ends_with(&format!("/shards/{shard}/status"))))?;
    let ended = match notes.get(&shard) {
        Some(note) => format!("ended {when} ({note})"),
        None => format!("ended {when}"),
    };
    Some((Some(shard), format!("shard {shard} {ended}")))
}

/// The status of a shard whose process ended without writing one.
async fn write_lost_status(store: &Store, run_id: &str, shard: u32, reason: &str) {
    let at_ms = now_ms();
    let status = ShardStatus {
        shard,
        outcome: ShardOutcome::Failed,
        reason: Some(reason.to_owned()),
        k6_exit_code: None,
        k6_stderr_tail: Vec::new(),
        started_at_ms: at_ms,
        resumed_at_ms: None,
        test_ended_at_ms: None,
        marked_failed: None,
        ended_at_ms: at_ms,
        has_result: false,
        samples: 0,
        rejected_lines: 0,
        overflowed_metrics: Vec::new(),
        health: None,
    };
    if let Ok(bytes) = serde_json::to_vec_pretty(&status) {
        let _ = store.put_if_absent(&layout::shard_status(run_id, shard), bytes).await;
    }
}

/// Whether the store answers the orchestrator, said once when it stops
/// and once when it answers again, not on every tick.
struct StoreHealth {
    url: String,
    failing_since: Option<Instant>,
}

impl StoreHealth {
    fn new(url: &str) -> StoreHealth {
        StoreHealth { url: url.to_owned(), failing_since: None }
    }

    fn observe<T>(&mut self, outcome: Result<T, loadgrid_store::StoreError>, progress: &ProgressBar) -> Option<T> {
        match outcome {
            Ok(value) => {
                if let Some(since) = self.failing_since.take() {
                    notice(
                        progress,
                        format!("the store `{}` answers again, after {:.1}s", self.url, since.elapsed().as_secs_f64()),
                    );
                }
                Some(value)
            }
            Err(error) => {
                if self.failing_since.is_none() {
                    self.failing_since = Some(Instant::now());
                    let cause = match std::error::Error::source(&error) {
                        Some(source) => format!("{:#}", anyhow::anyhow!("{source}")),
                        None => error.to_string(),
                    };
                    notice(
                        progress,
                        format!(
                            "warning: the store `{}` does not answer ({cause}); the shards keep measuring, keep \
                             their results and retry",
                            self.url
                        ),
                    );
                }
                None
            }
        }
    }
}

/// `  [PENDING 2 · RUNNING 8 | ready 8 · running 8 · uploading 0 · done 0]`
fn state_counts(
    backend: &std::collections::BTreeMap<String, usize>,
    ready: usize,
    started: bool,
    uploading: usize,
    reported: usize,
) -> String {
    let backend: Vec<String> = backend.iter().map(|(state, count)| format!("{state} {count}")).collect();
    let running = if started { ready.saturating_sub(uploading + reported) } else { 0 };
    let store = format!("ready {ready} · running {running} · uploading {uploading} · done {reported}");
    if backend.is_empty() {
        String::new()
    } else {
        format!("  [{} | {store}]", backend.join(" · "))
    }
}

/// The shards without a status once the latest moment their results could
/// arrive has passed (see [`Manifest::results_due`]); for a grid that never
/// started, its barrier timeout.
pub(crate) fn overdue(
    manifest: &Manifest,
    keys: &[String],
    start_at_ms: Option<i64>,
    watch_started: Instant,
) -> Option<Vec<u32>> {
    let missing: Vec<u32> = (0..manifest.shards)
        .filter(|shard| !keys.iter().any(|k| k.ends_with(&format!("/shards/{shard}/status"))))
        .collect();
    let due_ms = match start_at_ms {
        Some(start) => start + missing.iter().map(|&shard| manifest.results_due(shard)).max()?.as_millis() as i64,
        None => {
            let created =
                time::OffsetDateTime::parse(&manifest.created_at, &time::format_description::well_known::Rfc3339)
                    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                    .unwrap_or_else(|_| now_ms() - watch_started.elapsed().as_millis() as i64);
            created + manifest.timing.barrier_timeout_ms as i64 + manifest.timing.grace_ms as i64
        }
    };
    (now_ms() > due_ms + RESULTS_DUE_SLACK.as_millis() as i64 && !missing.is_empty()).then_some(missing)
}

/// Whether an orchestrator (`run` or `attach`) still watches the run: its
/// heartbeat is younger than the age at which agents stop (a remote run's,
/// for a detached run, which sets none).
pub async fn has_live_orchestrator(store: &Store, manifest: &Manifest) -> bool {
    let Some(bytes) = store.get(&layout::heartbeat(&manifest.run_id)).await.ok().flatten() else { return false };
    let Ok(heartbeat) = serde_json::from_slice::<Heartbeat>(&bytes) else { return false };
    let timeout =
        manifest.timing.heartbeat_timeout_ms.or(loadgrid_plan::manifest::Timing::remote().heartbeat_timeout_ms);
    timeout.is_some_and(|timeout| now_ms() - heartbeat.at_ms <= timeout as i64)
}

pub(crate) async fn read_go(store: &Store, run_id: &str) -> Option<i64> {
    let bytes = store.get(&layout::go(run_id)).await.ok()??;
    serde_json::from_slice::<Go>(&bytes).ok().map(|go| go.start_at_ms)
}

/// Says, the moment an agent reports it, that a shard's generator
/// saturated: agents write `shards/<i>/health` only when they find
/// something, so a healthy grid costs no read.
pub(crate) async fn announce_saturation(
    store: &Store,
    manifest: &Manifest,
    keys: &[String],
    said: &mut Vec<(u32, &'static str)>,
    findings: &mut BTreeMap<u32, Vec<String>>,
    progress: &ProgressBar,
) {
    let grid = crate::orchestrate::health_grid(manifest);
    for key in keys.iter().filter(|key| key.ends_with("/health")) {
        let Ok(Some(bytes)) = store.get(key).await else { continue };
        let Ok(live) = serde_json::from_slice::<LiveHealth>(&bytes) else { continue };
        for finding in &live.findings {
            if said.contains(&(live.shard, finding.signal())) {
                continue;
            }
            said.push((live.shard, finding.signal()));
            said.sort_unstable();
            let message = loadgrid_health::message(live.shard, finding, &live.allowance, &grid);
            notice(progress, format!("generator saturated: {message}"));
            findings.entry(live.shard).or_default().push(message);
        }
    }
}

fn live_numbers(merged: &MetricSet) -> LiveNumbers {
    let mut numbers = LiveNumbers::default();
    if let Some(entry) = merged.metric("http_reqs") {
        numbers.requests = entry.total().sum() as u64;
    }
    if let Some(entry) = merged.metric("http_req_duration") {
        numbers.p95_ms = entry.total().percentile(95.0);
    }
    if let Some(entry) = merged.metric("http_req_failed") {
        numbers.error_rate = entry.total().rate();
    }
    if let Some(rps) = recent_rps(&merged.timeline) {
        numbers.rps = rps;
        numbers.vus = merged.timeline.iter().rev().nth(1).map_or(0, |(_, second)| second.vus);
    }
    numbers
}

fn update_view(view: &mut LiveView, numbers: &LiveNumbers) {
    view.requests = numbers.requests;
    view.p95_ms = numbers.p95_ms;
    view.error_rate = numbers.error_rate;
    view.rps = numbers.rps;
    view.vus = numbers.vus;
}

async fn check_abort_on_fail(
    store: &Store,
    run_id: &str,
    thresholds: &[Threshold],
    merged: &MetricSet,
    elapsed: Duration,
    progress: &ProgressBar,
) {
    if thresholds.is_empty() {
        return;
    }
    let evaluations = loadgrid_thresholds::evaluate(thresholds, merged, elapsed);
    let triggers = loadgrid_thresholds::abort_triggers(&evaluations, elapsed);
    let Some(trigger) = triggers.first() else { return };
    let observed = trigger.observed.map_or(String::new(), |v| format!(" (observed {v:.3})"));
    let detail = format!(
        "threshold `{}` on `{}` crossed{observed} with abortOnFail",
        trigger.threshold.source,
        trigger.threshold.key()
    );
    if !store.exists(&layout::stop(run_id)).await.unwrap_or(true) {
        notice(progress, format!("aborting the grid: {detail}"));
        loadgrid_agent::request_stop(store, run_id, StopReason::AbortOnFail, &detail).await;
    }
}

/// A line above the live display, or on stderr when there is none (CI
/// logs, pipes): notices are never lost with the spinner.
fn notice(progress: &ProgressBar, message: impl AsRef<str>) {
    if progress.is_hidden() {
        eprintln!("{}", message.as_ref());
    } else {
        progress.println(message.as_ref());
    }
}

fn progress_bar(mode: ProgressMode) -> ProgressBar {
    if mode != ProgressMode::Live {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("constant template is valid"));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
