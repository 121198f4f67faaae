//! The per-second timeline while ingesting, and which metrics feed it.
//!
//! Every sample of `http_reqs`, `http_req_failed`, `iterations`, `vus`,
//! `vus_max` and `http_req_duration` also updates its second of the
//! [`Timeline`], which the run report and the live snapshot read.

use std::collections::BTreeMap;

use crate::{Second, Timeline};

/// A second this far past the end of the timeline so far is kept apart
/// rather than growing the dense timeline to reach it (a stray timestamp must
/// not allocate years of seconds).
const MAX_TIMELINE_GROWTH: i64 = 3600;

/// What a metric's samples mean for the per-second timeline.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum TimelineRole {
    None,
    Requests,
    FailedRequests,
    Iterations,
    DataSent,
    DataReceived,
    Vus,
    VusMax,
    Latency,
}

impl TimelineRole {
    pub(super) fn of(name: &str) -> Self {
        match name {
            "http_reqs" => TimelineRole::Requests,
            "http_req_failed" => TimelineRole::FailedRequests,
            "iterations" => TimelineRole::Iterations,
            "data_sent" => TimelineRole::DataSent,
            "data_received" => TimelineRole::DataReceived,
            "vus" => TimelineRole::Vus,
            "vus_max" => TimelineRole::VusMax,
            "http_req_duration" => TimelineRole::Latency,
            _ => TimelineRole::None,
        }
    }
}

/// The per-second timeline while ingesting: a vector from the first second
/// on, because samples arrive nearly in time order and a map lookup per line
/// would cost more than the rest of the line. Seconds that would stretch the
/// vector too far (stray timestamps) go to `outliers`.
#[derive(Clone, Default)]
pub(super) struct TimelineBuilder {
    first_second: i64,
    seconds: Vec<Second>,
    outliers: BTreeMap<i64, Second>,
    /// `vus` and `vus_max` samples, kept with their times until the test's
    /// window is known: k6 samples its VU gauges every second from start to
    /// exit, paused or lingering included, and only the ones inside the
    /// test count (about two a second, so this stays small).
    gauges: Vec<GaugeSample>,
    window: TestWindow,
}

#[derive(Clone, Copy)]
struct GaugeSample {
    time_us: i64,
    is_max: bool,
    value: u64,
}

/// When this shard's test ran, in microseconds since the epoch; either end
/// may be unknown (yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestWindow {
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
}

impl TestWindow {
    fn contains(&self, time_us: i64) -> bool {
        self.start_us.is_none_or(|start| time_us >= start) && self.end_us.is_none_or(|end| time_us <= end)
    }
}

impl TimelineBuilder {
    #[inline]
    pub(super) fn second_mut(&mut self, unix_second: i64) -> &mut Second {
        if self.seconds.is_empty() {
            self.first_second = unix_second;
        }
        let offset = unix_second.wrapping_sub(self.first_second);
        let len = self.seconds.len() as i64;
        if (0..len).contains(&offset) {
            return &mut self.seconds[offset as usize];
        }
        if (len..len + MAX_TIMELINE_GROWTH).contains(&offset) {
            self.grow_to(offset);
            return &mut self.seconds[offset as usize];
        }
        self.outliers.entry(unix_second).or_default()
    }

    fn grow_to(&mut self, offset: i64) {
        while self.seconds.len() as i64 <= offset {
            let unix_second = self.first_second + self.seconds.len() as i64;
            // An outlier now inside the dense range moves in, so each second
            // lives in exactly one place.
            let second = self.outliers.remove(&unix_second).unwrap_or_default();
            self.seconds.push(second);
        }
    }

    pub(super) fn record_gauge(&mut self, time_us: i64, is_max: bool, value: u64) {
        self.gauges.push(GaugeSample { time_us, is_max, value });
    }

    pub(super) fn set_window(&mut self, window: TestWindow) {
        self.window = window;
    }

    pub(super) fn get(&self, unix_second: i64) -> Option<&Second> {
        let offset = unix_second.wrapping_sub(self.first_second);
        if (0..self.seconds.len() as i64).contains(&offset) {
            Some(&self.seconds[offset as usize])
        } else {
            self.outliers.get(&unix_second)
        }
    }

    /// The timeline, each second with the last VU gauges sampled in it
    /// inside the test's window (zero where none was: the grid carries
    /// values forward when it sums shards, see [`Timeline::grid_vus`]).
    pub(super) fn into_timeline(self) -> Timeline {
        let first_second = self.first_second;
        let mut seconds = self.outliers;
        seconds.extend(self.seconds.into_iter().enumerate().map(|(i, second)| (first_second + i as i64, second)));
        with_gauges(seconds, &self.gauges, self.window)
    }

    /// The timeline with the latency histograms of its last
    /// [`LIVE_LATENCY_SECONDS`](crate::LIVE_LATENCY_SECONDS) seconds only:
    /// what the live view, live thresholds and the dashboard read. Every
    /// second keeps its counts (a few bytes), but only the newest keep
    /// their histogram (a few KiB each), so that publishing it every second
    /// does not cost more as the test goes on; the orchestrator keeps each
    /// second's percentiles as they pass ([`LiveLatency`](crate::LiveLatency)).
    pub(super) fn live_timeline(&self) -> Timeline {
        let counts = |second: &Second, latency: bool| Second {
            requests: second.requests,
            failed_requests: second.failed_requests,
            iterations: second.iterations,
            data_sent: second.data_sent,
            data_received: second.data_received,
            vus: second.vus,
            vus_max: second.vus_max,
            latency: if latency { second.latency.clone() } else { None },
        };
        let recent_from = self.seconds.len().saturating_sub(crate::LIVE_LATENCY_SECONDS);
        let dense = self
            .seconds
            .iter()
            .enumerate()
            .map(|(i, second)| (self.first_second + i as i64, counts(second, i >= recent_from)));
        let seconds = self.outliers.iter().map(|(t, second)| (*t, counts(second, false))).chain(dense).collect();
        with_gauges(seconds, &self.gauges, self.window)
    }
}

/// `seconds` with the last VU gauges sampled in each inside the test's window.
fn with_gauges(mut seconds: BTreeMap<i64, Second>, gauges: &[GaugeSample], window: TestWindow) -> Timeline {
    let mut latest: BTreeMap<(i64, bool), (i64, u64)> = BTreeMap::new();
    for gauge in gauges.iter().filter(|g| window.contains(g.time_us)) {
        let slot = latest.entry((gauge.time_us.div_euclid(1_000_000), gauge.is_max)).or_insert((i64::MIN, 0));
        if gauge.time_us >= slot.0 {
            *slot = (gauge.time_us, gauge.value);
        }
    }
    for ((unix_second, is_max), (_, value)) in latest {
        let second: &mut Second = seconds.entry(unix_second).or_default();
        if is_max {
            second.vus_max = value;
        } else {
            second.vus = value;
        }
    }
    Timeline { seconds, ..Timeline::default() }
}
