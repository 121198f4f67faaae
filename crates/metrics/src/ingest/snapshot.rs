//! The cheap live numbers the agent prints periodically while k6 runs:
//! running totals, plus rates and p95 over the last few complete seconds of
//! the timeline.

use super::Ingest;
use crate::VALUE_SCALE;

/// Cheap live numbers for the agent's periodic snapshot line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Totals since the start.
    pub requests: u64,
    pub failed_requests: u64,
    pub iterations: u64,
    /// The latest `vus` gauge value.
    pub vus: u64,
    /// Requests per second over the last `window_seconds` complete seconds
    /// (fewer at the start of a run).
    pub rps: f64,
    /// `http_req_duration` p95 over the same window, in milliseconds, from
    /// the timeline's 2-digit histograms.
    pub p95_ms: Option<f64>,
    /// Share of failed requests over the same window.
    pub error_rate: Option<f64>,
    pub samples: u64,
    pub rejected_lines: u64,
    /// `http_req_duration` over the window, in the timeline's buckets, so
    /// that a reader of several shards' snapshots merges the histograms
    /// instead of averaging their p95s.
    pub latency: Option<crate::Histogram>,
}

impl Ingest {
    /// Cheap live numbers for the periodic snapshot line.
    pub fn snapshot(&self, window_seconds: u32) -> Snapshot {
        let totals = &self.totals;
        let mut snapshot = Snapshot {
            requests: totals.requests,
            failed_requests: totals.failed_requests,
            iterations: totals.iterations,
            vus: totals.latest_vus.map_or(0, |(_, vus)| vus),
            samples: totals.samples,
            rejected_lines: totals.rejected_lines,
            ..Snapshot::default()
        };
        let (Some(first_us), Some(last_us)) = (totals.first_us, totals.last_us) else {
            return snapshot;
        };
        // The latest second is still filling up; only the ones before it are
        // complete.
        let current_second = last_us.div_euclid(1_000_000);
        let complete = (current_second - first_us.div_euclid(1_000_000)).min(i64::from(window_seconds));
        if complete <= 0 {
            return snapshot;
        }
        let (mut requests, mut failed) = (0u64, 0u64);
        let mut latency: Option<crate::Histogram> = None;
        for unix_second in current_second - complete..current_second {
            let Some(second) = self.timeline.get(unix_second) else { continue };
            requests += second.requests;
            failed += second.failed_requests;
            if let Some(histogram) = &second.latency {
                match &mut latency {
                    Some(merged) => merged.add(histogram),
                    None => latency = Some(histogram.clone()),
                }
            }
        }
        snapshot.rps = requests as f64 / complete as f64;
        snapshot.error_rate = (requests > 0).then(|| failed as f64 / requests as f64);
        snapshot.p95_ms = latency
            .as_ref()
            .and_then(|histogram| histogram.value_at_quantile(0.95))
            .map(|p95| p95 as f64 / VALUE_SCALE as f64);
        snapshot.latency = latency;
        snapshot
    }
}
