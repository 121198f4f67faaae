//! Each second's grid-wide latency percentiles, gathered while a run is
//! live.
//!
//! A shard's live object carries the latency histograms of its last
//! [`LIVE_LATENCY_SECONDS`] seconds only (see
//! [`Ingest::live_result`](crate::ingest::Ingest::live_result)), so that it
//! does not grow with the test. The orchestrator reads every shard's object
//! on each tick; [`LiveLatency`] keeps each shard's newest histogram of
//! every recent second, merges them exactly across shards, and once a
//! second has left every shard's window keeps only its three percentiles.
//! Memory is then a few KiB per shard for the recent window plus 24 bytes
//! a second of test: about 700 KB for 8 hours.

use std::collections::BTreeMap;

use crate::{Histogram, Timeline, VALUE_SCALE};

/// How many of its newest seconds a shard's live object keeps the latency
/// histogram of. Ten seconds of slack between a shard's publication and the
/// orchestrator's read: a store polled every few seconds still sees each
/// second's final histogram.
pub const LIVE_LATENCY_SECONDS: usize = 10;

/// A second's `http_req_duration` percentiles over the whole grid, in
/// milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyPercentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl LatencyPercentiles {
    fn of(histogram: &Histogram) -> Option<LatencyPercentiles> {
        let at = |quantile: f64| Some(histogram.value_at_quantile(quantile)? as f64 / VALUE_SCALE as f64);
        Some(LatencyPercentiles { p50_ms: at(0.50)?, p95_ms: at(0.95)?, p99_ms: at(0.99)? })
    }
}

/// Per-second latency of a live grid, from its shards' live timelines.
#[derive(Debug, Default)]
pub struct LiveLatency {
    /// Seconds some shard may still publish: each shard's newest histogram.
    recent: BTreeMap<i64, BTreeMap<u32, Histogram>>,
    /// Seconds out of every shard's window: their merged percentiles.
    settled: BTreeMap<i64, LatencyPercentiles>,
}

impl LiveLatency {
    pub fn new() -> LiveLatency {
        LiveLatency::default()
    }

    /// Takes in one shard's latest live timeline. A histogram that arrives
    /// for a second already settled (a shard more than
    /// [`LIVE_LATENCY_SECONDS`] behind the others) is left out of it.
    pub fn observe(&mut self, shard: u32, timeline: &Timeline) {
        for (unix_second, second) in timeline.iter() {
            let Some(histogram) = &second.latency else { continue };
            if !self.settled.contains_key(&unix_second) {
                self.recent.entry(unix_second).or_default().insert(shard, histogram.clone());
            }
        }
        let Some(&newest) = self.recent.keys().next_back() else { return };
        // One second more than a shard publishes: a shard a second out of
        // step with the newest still adds its last histogram of it.
        let keep_from = newest - LIVE_LATENCY_SECONDS as i64;
        let still_recent = self.recent.split_off(&keep_from);
        for (unix_second, shards) in std::mem::replace(&mut self.recent, still_recent) {
            if let Some(percentiles) = merged(shards.values()) {
                self.settled.insert(unix_second, percentiles);
            }
        }
    }

    /// The grid's percentiles of `unix_second`, merged exactly from what
    /// the shards published; `None` for a second without a request.
    pub fn at(&self, unix_second: i64) -> Option<LatencyPercentiles> {
        match self.recent.get(&unix_second) {
            Some(shards) => merged(shards.values()),
            None => self.settled.get(&unix_second).copied(),
        }
    }
}

fn merged<'a>(histograms: impl Iterator<Item = &'a Histogram>) -> Option<LatencyPercentiles> {
    let mut histograms = histograms;
    let mut grid = histograms.next()?.clone();
    for histogram in histograms {
        grid.add(histogram);
    }
    LatencyPercentiles::of(&grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard's live timeline: `values` ms at each of `seconds`, with the
    /// histograms of only its last `LIVE_LATENCY_SECONDS` seconds, as an
    /// agent publishes it.
    fn live(seconds: std::ops::Range<i64>, value_ms: impl Fn(i64) -> Vec<i64>) -> Timeline {
        let mut timeline = Timeline::new();
        let keep_from = seconds.end - LIVE_LATENCY_SECONDS as i64;
        for t in seconds {
            let second = timeline.second_mut(t);
            second.requests = value_ms(t).len() as u64;
            if t >= keep_from {
                for ms in value_ms(t) {
                    second.record_latency(ms * VALUE_SCALE);
                }
            }
        }
        timeline
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b / 64.0
    }

    #[test]
    fn a_seconds_percentiles_are_merged_across_shards_not_averaged() {
        let mut latency = LiveLatency::new();
        // Shard 0 answers in 10 ms, shard 1 in 1000 ms, 50 requests each:
        // the grid's p50 is one of them, never the 505 ms average.
        latency.observe(0, &live(0..3, |_| vec![10; 50]));
        latency.observe(1, &live(0..3, |_| vec![1000; 50]));
        let second = latency.at(2).unwrap();
        assert!(close(second.p50_ms, 10.0), "{second:?}");
        assert!(close(second.p95_ms, 1000.0) && close(second.p99_ms, 1000.0), "{second:?}");
        assert_eq!(latency.at(7), None);
    }

    #[test]
    fn seconds_that_leave_every_window_keep_their_percentiles() {
        let mut latency = LiveLatency::new();
        let ms = |t: i64| vec![t + 1; 20];
        // Published every second for a minute: each second's histogram is
        // in ten publications, then only its percentiles remain.
        for end in 1..=60 {
            latency.observe(0, &live(0..end, ms));
            latency.observe(1, &live(0..end, ms));
        }
        for t in 0..60 {
            let second = latency.at(t).unwrap_or_else(|| panic!("second {t} lost"));
            assert!(close(second.p95_ms, (t + 1) as f64), "second {t}: {second:?}");
        }
        assert_eq!(latency.recent.len(), LIVE_LATENCY_SECONDS + 1, "only the window (and a second) keeps histograms");
        assert_eq!(latency.settled.len(), 60 - LIVE_LATENCY_SECONDS - 1);
    }

    #[test]
    fn a_later_publication_replaces_a_shards_unfinished_second() {
        let mut latency = LiveLatency::new();
        latency.observe(0, &live(0..1, |_| vec![5]));
        latency.observe(0, &live(0..1, |_| vec![5, 900, 900, 900]));
        assert!(close(latency.at(0).unwrap().p50_ms, 900.0), "the second as last published, counted once");
    }
}
