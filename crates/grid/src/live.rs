//! What a live dashboard shows of a run, read from the store on each live
//! tick: of the watch loop that runs the grid (`run`, `attach`), or of
//! [`observe`] for a run watched from elsewhere (`loadgrid dashboard`).
//!
//! It is one more reader of the merged `live` objects the terminal's live
//! line reads, plus the shards' keys the loop lists anyway. Browser tabs
//! never cost the store a read: the dashboard's server renders each frame
//! once and sends the same bytes to all of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use loadgrid_health::HealthSummary;
use loadgrid_html::{LivePhase, LiveShard, LiveStatus};
use loadgrid_metrics::{LiveLatency, MetricSet, ShardResult, Timeline};
use loadgrid_plan::records::{now_ms, ShardPhase, ShardStatus, Stop};
use loadgrid_plan::Manifest;
use loadgrid_report::{build_summary, RunSummary, ShardInput, SummaryInput, TestTime};
use loadgrid_store::{layout, Store};
use loadgrid_thresholds::Threshold;
use tokio::sync::watch;

/// One moment of a live run: the report's numbers so far (a summary built
/// from the live merge, its verdict provisional) and the run's progress.
#[derive(Debug, Clone)]
pub struct LiveFrame {
    pub summary: RunSummary,
    pub status: LiveStatus,
}

/// What the shards cost for the seconds each has run so far, in US dollars.
pub type CostSoFar = Box<dyn Fn(&[f64]) -> f64 + Send + Sync>;

/// Where live frames go: the dashboard's server holds the receiving end.
pub struct LiveFeed {
    frames: watch::Sender<Option<Arc<LiveFrame>>>,
    cost: Option<CostSoFar>,
}

impl LiveFeed {
    pub fn new(cost: Option<CostSoFar>) -> (LiveFeed, watch::Receiver<Option<Arc<LiveFrame>>>) {
        let (frames, receiver) = watch::channel(None);
        (LiveFeed { frames, cost }, receiver)
    }

    /// Shows no price: the shards' seconds do not price what runs them
    /// (an EC2 pool's instances, priced once the run has let go of them).
    pub fn unpriced(&mut self) {
        self.cost = None;
    }

    fn publish(&self, frame: LiveFrame) {
        // No server listening any more only means nobody is looking.
        let _ = self.frames.send(Some(Arc::new(frame)));
    }
}

/// The shards' live objects, read on one tick.
#[derive(Default)]
pub(crate) struct LiveRead {
    pub shards: Vec<(u32, ShardResult)>,
    pub merged: MetricSet,
}

/// Reads every shard's latest live object and merges them. Shards that
/// have not published yet, or whose object is mid-replacement, are left
/// out this time.
pub(crate) async fn read_live(store: &Store, manifest: &Manifest) -> LiveRead {
    let reads = futures::future::join_all(
        (0..manifest.shards)
            .map(|shard| async move { (shard, store.get(&layout::shard_live(&manifest.run_id, shard)).await) }),
    )
    .await;
    let shards: Vec<(u32, ShardResult)> = reads
        .into_iter()
        .filter_map(|(shard, read)| Some((shard, loadgrid_metrics::decode_shard_result(&read.ok()??).ok()?)))
        .collect();
    let merged = MetricSet::merge_shards(shards.iter().map(|(_, result)| &result.metrics));
    LiveRead { shards, merged }
}

/// Requests a second over the newest complete seconds of `timeline` (the
/// newest second is still filling up on some shards).
pub(crate) fn recent_rps(timeline: &Timeline) -> Option<f64> {
    let complete: Vec<u64> = timeline.iter().rev().skip(1).take(2).map(|(_, second)| second.requests).collect();
    (!complete.is_empty()).then(|| complete.iter().sum::<u64>() as f64 / complete.len() as f64)
}

/// What a tick of a watch loop knows besides the live objects.
pub(crate) struct Tick<'a> {
    pub keys: &'a [String],
    pub start_at_ms: Option<i64>,
    /// The backend's state of each shard, where it knows it.
    pub backend: BTreeMap<u32, String>,
    /// Every shard's generator findings said so far, as sentences.
    pub findings: &'a BTreeMap<u32, Vec<String>>,
}

/// Turns ticks into frames, keeping what outlives one tick: each second's
/// latency percentiles, and the statuses of shards that have ended.
#[derive(Default)]
pub(crate) struct LiveObserver {
    latency: LiveLatency,
    statuses: BTreeMap<u32, ShardStatus>,
}

impl LiveObserver {
    pub(crate) async fn publish(
        &mut self,
        feed: &LiveFeed,
        store: &Store,
        manifest: &Manifest,
        thresholds: &[Threshold],
        tick: Tick<'_>,
        live: &LiveRead,
    ) {
        let run_id = &manifest.run_id;
        for key in tick.keys.iter().filter(|key| key.ends_with("/status")) {
            let Some(shard) = layout::shard_of_key(key) else { continue };
            if self.statuses.contains_key(&shard) {
                continue;
            }
            if let Ok(Some(bytes)) = store.get(key).await {
                if let Ok(status) = serde_json::from_slice::<ShardStatus>(&bytes) {
                    self.statuses.insert(shard, status);
                }
            }
        }
        for (shard, result) in &live.shards {
            self.latency.observe(*shard, &result.metrics.timeline);
        }
        let stop: Option<Stop> =
            store.get(&layout::stop(run_id)).await.ok().flatten().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let frame = self.frame(manifest, thresholds, &tick, live, stop.as_ref(), feed.cost.as_ref(), now_ms());
        feed.publish(frame);
    }

    #[allow(clippy::too_many_arguments)]
    fn frame(
        &self,
        manifest: &Manifest,
        thresholds: &[Threshold],
        tick: &Tick,
        live: &LiveRead,
        stop: Option<&Stop>,
        cost: Option<&CostSoFar>,
        now_ms: i64,
    ) -> LiveFrame {
        let elapsed_ms = tick.start_at_ms.map(|at| (now_ms - at).max(0) as u64);
        let test_time = TestTime {
            started_at_ms: tick.start_at_ms,
            ended_at_ms: tick.start_at_ms.map(|_| now_ms),
            duration_seconds: elapsed_ms.unwrap_or(0) as f64 / 1000.0,
        };
        let evaluations =
            loadgrid_thresholds::evaluate(thresholds, &live.merged, Duration::from_millis(elapsed_ms.unwrap_or(0)));
        // The verdict as if the run ended now, with every shard reported.
        let gate = crate::gate::gate(&[], &[], &evaluations, stop, true, &HealthSummary::default());
        let inputs: Vec<ShardInput> = live
            .shards
            .iter()
            .map(|(shard, result)| ShardInput { shard: *shard, status: None, result: Some(result), backend_note: None })
            .collect();
        let mut summary = build_summary(&SummaryInput {
            manifest,
            merged: &live.merged,
            shards: inputs,
            test_time,
            evaluations: &evaluations,
            verdict: gate.verdict,
            exit_code: gate.exit_code,
            verdict_reasons: gate.reasons,
            partial: false,
            stop,
            warnings: Vec::new(),
            health: HealthSummary::default(),
        });
        // The builder's warnings judge a finished run (shards without a
        // result, thresholds without data): the final report says them.
        summary.warnings.clear();
        if stop.is_none() {
            // The newest second is still filling up on some shards: drawn,
            // it would dip at the end of every chart.
            summary.timeline.pop();
        }
        for point in &mut summary.timeline {
            if let Some(latency) = self.latency.at(point.t) {
                (point.p50_ms, point.p95_ms, point.p99_ms) =
                    (Some(latency.p50_ms), Some(latency.p95_ms), Some(latency.p99_ms));
            }
        }

        let shards: Vec<LiveShard> = (0..manifest.shards)
            .map(|shard| {
                let result = live.shards.iter().find(|(s, _)| *s == shard).map(|(_, result)| result);
                LiveShard {
                    shard,
                    phase: self.phase(shard, tick),
                    backend: tick.backend.get(&shard).cloned(),
                    requests: result.map(|r| r.metrics.metric("http_reqs").map_or(0, |e| e.counter_sum())),
                    rps: result.and_then(|r| recent_rps(&r.metrics.timeline)),
                    findings: tick.findings.get(&shard).cloned().unwrap_or_default(),
                }
            })
            .collect();
        let cost_usd = cost.zip(tick.start_at_ms).map(|(cost, start)| {
            let seconds: Vec<f64> = shards
                .iter()
                .filter(|shard| shard.phase != ShardPhase::Starting)
                .map(|shard| {
                    let end = self.statuses.get(&shard.shard).map_or(now_ms, |status| status.ended_at_ms);
                    (end - start).max(0) as f64 / 1000.0
                })
                .collect();
            cost(&seconds)
        });
        let phase = match (tick.start_at_ms, stop) {
            (_, Some(_)) => LivePhase::Stopping,
            (None, None) => LivePhase::Starting,
            (Some(_), None) => LivePhase::Running,
        };
        LiveFrame {
            summary,
            status: LiveStatus { phase, elapsed_ms, planned_ms: manifest.total_duration_ms, cost_usd, shards },
        }
    }

    fn phase(&self, shard: u32, tick: &Tick) -> ShardPhase {
        if let Some(status) = self.statuses.get(&shard) {
            return status.outcome.into();
        }
        let has = |name: &str| tick.keys.iter().any(|key| key.ends_with(&format!("/shards/{shard}/{name}")));
        if has("status") || has("result") {
            // A status written, not read yet: the next tick says how it ended.
            ShardPhase::Uploading
        } else if !has("ready") {
            ShardPhase::Starting
        } else if tick.start_at_ms.is_some() {
            ShardPhase::Running
        } else {
            ShardPhase::Ready
        }
    }
}

/// Watches a run through the store alone, for `loadgrid dashboard`: it
/// writes nothing (no heartbeat, no stop), so a viewer never changes the
/// run it shows. Returns once every shard has reported, the run has a
/// summary, or the last moment a shard's result could arrive has passed
/// (a run whose orchestrator and shards are gone), or at the first signal
/// (`Ok(false)`).
pub async fn observe(
    store: &Store,
    manifest: &Manifest,
    feed: &LiveFeed,
    mut signals: watch::Receiver<u32>,
) -> anyhow::Result<bool> {
    let run_id = &manifest.run_id;
    let thresholds = crate::prepare::thresholds_of(manifest)?;
    let tick_every = Duration::from_millis(manifest.timing.poll_interval_ms.max(manifest.timing.live_interval_ms))
        .max(Duration::from_millis(250));
    let mut observer = LiveObserver::default();
    let (mut said, mut findings) = (Vec::new(), BTreeMap::new());
    let quiet = indicatif::ProgressBar::hidden();
    let mut keys: Vec<String> = Vec::new();
    let watch_started = std::time::Instant::now();
    loop {
        // A listing that fails keeps the last one, as the watch loop does.
        if let Ok(listed) = store.list_keys(&format!("{}/shards", layout::run_dir(run_id))).await {
            keys = listed;
        }
        let reported = keys.iter().filter(|key| key.ends_with("/status")).count();
        if reported >= manifest.shards as usize || store.exists(&layout::summary(run_id)).await.unwrap_or(false) {
            judging(feed);
            return Ok(true);
        }
        let start_at_ms = crate::watch::read_go(store, run_id).await;
        if let Some(missing) = crate::watch::overdue(manifest, &keys, start_at_ms, watch_started) {
            eprintln!(
                "{} had not reported by the last moment a result could arrive: showing what the run stored without {}",
                crate::gate::shard_ranges(&missing),
                if missing.len() == 1 { "it" } else { "them" },
            );
            judging(feed);
            return Ok(true);
        }
        let live = match start_at_ms {
            Some(_) => read_live(store, manifest).await,
            None => LiveRead::default(),
        };
        crate::watch::announce_saturation(store, manifest, &keys, &mut said, &mut findings, &quiet).await;
        let tick = Tick { keys: &keys, start_at_ms, backend: BTreeMap::new(), findings: &findings };
        observer.publish(feed, store, manifest, &thresholds, tick, &live).await;
        tokio::select! {
            _ = tokio::time::sleep(tick_every) => {}
            _ = signals.changed() => return Ok(false),
        }
    }
}

/// Marks the last frame: every shard has ended, the run is being judged.
pub(crate) fn judging(feed: &LiveFeed) {
    let last = feed.frames.borrow().clone();
    if let Some(last) = last {
        let mut frame = LiveFrame::clone(&last);
        frame.status.phase = LivePhase::Judging;
        feed.publish(frame);
    }
}
