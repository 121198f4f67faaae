use std::collections::BTreeMap;

use crate::histogram::{Histogram, TIMELINE_BITS};

/// One second of a run, grid-wide once merged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Second {
    pub requests: u64,
    /// Requests counted as failed by `http_req_failed`.
    pub failed_requests: u64,
    pub iterations: u64,
    /// Bytes k6 counted in `data_sent` and `data_received` this second.
    pub data_sent: u64,
    pub data_received: u64,
    /// Active VUs: per shard, the last value sampled in this second (0 when
    /// none was); over a grid, the sum at the same instant
    /// ([`Timeline::grid_vus`]).
    pub vus: u64,
    pub vus_max: u64,
    /// `http_req_duration` of requests started in this second, in
    /// millionths of a millisecond. 7 bits of precision (within 1/128) keep
    /// a second to a few KiB; chart percentiles need no more than 1%.
    /// Threshold percentiles never come from here: they use the 11-bit
    /// totals.
    pub latency: Option<Histogram>,
}

impl Second {
    fn merge(&mut self, other: &Second) {
        self.requests += other.requests;
        self.failed_requests += other.failed_requests;
        self.iterations += other.iterations;
        self.data_sent += other.data_sent;
        self.data_received += other.data_received;
        self.vus += other.vus;
        self.vus_max += other.vus_max;
        match (self.latency.as_mut(), other.latency.as_ref()) {
            (Some(mine), Some(theirs)) => mine.add(theirs),
            (None, Some(theirs)) => self.latency = Some(theirs.clone()),
            _ => {}
        }
    }

    /// Adds one `http_req_duration` sample, in millionths of a millisecond.
    pub(crate) fn record_latency(&mut self, value: i64) {
        self.latency.get_or_insert_with(|| Histogram::new(TIMELINE_BITS)).record(value.max(0) as u64);
    }

    /// Latency percentile (0–100) of this second in milliseconds, by
    /// nearest rank.
    pub fn latency_percentile(&self, pct: f64) -> Option<f64> {
        let value = self.latency.as_ref()?.value_at_quantile(pct / 100.0)?;
        Some(value as f64 / crate::VALUE_SCALE as f64)
    }
}

/// How long a shard's VU sample stands for the seconds without one after
/// it. k6 samples every second, so real gaps are a second or two; a stray
/// or damaged timestamp must not make a merge fill years of seconds.
const MAX_VU_CARRY_SECONDS: i64 = 60;

/// Per-second series of requests, errors, iterations, VUs and latency,
/// keyed by Unix second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    pub(crate) seconds: BTreeMap<i64, Second>,
    /// On a grid's timeline, the first and last second in which every
    /// shard with VUs had reported them: the VU gauges' summary (value,
    /// min, max) reads only these, as one k6 samples only while its test
    /// runs. Derived when shards are merged, never stored.
    pub steady_vus: Option<(i64, i64)>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn second_mut(&mut self, unix_second: i64) -> &mut Second {
        self.seconds.entry(unix_second).or_default()
    }

    pub fn record_latency(&mut self, unix_second: i64, value: i64) {
        self.second_mut(unix_second).record_latency(value);
    }

    /// Sets a grid's VU gauges from its shards' timelines, summed at the
    /// same instant:
    ///
    /// - each shard's last sample is carried forward over its seconds
    ///   without one, from its first sample to its last (k6 samples once a
    ///   second, and one shard's sample may fall in the next second), for at
    ///   most a minute;
    /// - a shard that has not reported yet, or has ended, adds nothing,
    ///   rather than a zero that k6 never sampled;
    /// - shards that never had a VU (no work in their segment) are left out;
    /// - [`Timeline::steady_vus`] is set to the seconds in which every other
    ///   shard was reporting.
    pub fn set_grid_vus<'a>(&mut self, shards: impl IntoIterator<Item = &'a Timeline>) {
        let sampled: Vec<Vec<(i64, u64, u64)>> = shards
            .into_iter()
            .map(|timeline| {
                timeline.iter().filter(|(_, s)| s.vus_max > 0).map(|(t, s)| (t, s.vus, s.vus_max)).collect::<Vec<_>>()
            })
            .filter(|samples| !samples.is_empty())
            .collect();
        for second in self.seconds.values_mut() {
            second.vus = 0;
            second.vus_max = 0;
        }
        self.steady_vus = None;
        let (Some(first), Some(last)) =
            (sampled.iter().map(|s| s[0].0).min(), sampled.iter().map(|s| s[s.len() - 1].0).max())
        else {
            return;
        };
        for samples in &sampled {
            for (i, &(sampled_at, vus, vus_max)) in samples.iter().enumerate() {
                let carried_until = match samples.get(i + 1) {
                    Some(&(next, _, _)) => (next - 1).min(sampled_at.saturating_add(MAX_VU_CARRY_SECONDS)),
                    None => sampled_at,
                };
                for unix_second in sampled_at..=carried_until {
                    let second = self.second_mut(unix_second);
                    second.vus += vus;
                    second.vus_max += vus_max;
                }
            }
        }
        let steady_first = sampled.iter().map(|s| s[0].0).max().unwrap_or(first);
        let steady_last = sampled.iter().map(|s| s[s.len() - 1].0).min().unwrap_or(last);
        self.steady_vus = Some(if steady_first <= steady_last { (steady_first, steady_last) } else { (first, last) });
    }

    pub fn merge(&mut self, other: &Timeline) {
        for (unix_second, second) in &other.seconds {
            self.seconds.entry(*unix_second).or_default().merge(second);
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (i64, &Second)> {
        self.seconds.iter().map(|(k, v)| (*k, v))
    }

    pub fn len(&self) -> usize {
        self.seconds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vus(samples: &[(i64, u64)]) -> Timeline {
        let mut timeline = Timeline::new();
        for (t, vus) in samples {
            let second = timeline.second_mut(*t);
            second.vus = *vus;
            second.vus_max = 4;
        }
        timeline
    }

    #[test]
    fn grid_vus_sum_at_the_same_instant_without_counting_absent_shards() {
        // Shard a samples at 100 and 102 (its 101 sample fell into 102's
        // second); shard b starts a second later and ends a second earlier;
        // shard c never had a VU.
        let a = vus(&[(100, 4), (102, 4), (103, 4)]);
        let b = vus(&[(101, 4), (102, 4)]);
        let mut c = Timeline::new();
        c.second_mut(100).requests = 1;
        let mut grid = a.clone();
        grid.merge(&b);
        grid.merge(&c);
        grid.set_grid_vus([&a, &b, &c]);
        let per_second: Vec<(i64, u64)> = grid.iter().map(|(t, s)| (t, s.vus)).collect();
        assert_eq!(per_second, [(100, 4), (101, 8), (102, 8), (103, 4)]);
        assert_eq!(grid.steady_vus, Some((101, 102)));
        assert_eq!(grid.iter().map(|(_, s)| s.vus_max).max(), Some(8));
    }

    /// Found by fuzzing (shard_result hung, growing past 1.5 GB;
    /// fuzz/corpus/shard_result/regression-vus-years-apart replays it): a
    /// shard result whose VU samples were years apart made the merge fill
    /// every second between them.
    #[test]
    fn vus_far_apart_are_carried_a_minute_at_most() {
        let a = vus(&[(100, 4), (1_000_000_000_000, 2)]);
        let mut grid = a.clone();
        grid.set_grid_vus([&a]);
        assert_eq!(grid.len(), 62);
        let per_second: Vec<(i64, u64)> = grid.iter().map(|(t, s)| (t, s.vus)).skip(59).collect();
        assert_eq!(per_second, [(159, 4), (160, 4), (1_000_000_000_000, 2)]);
        assert_eq!(grid.steady_vus, Some((100, 1_000_000_000_000)));
    }

    #[test]
    fn latency_percentiles_per_second() {
        let mut timeline = Timeline::new();
        for ms in 1..=100 {
            timeline.record_latency(7, ms * crate::VALUE_SCALE);
        }
        let p50 = timeline.iter().next().unwrap().1.latency_percentile(50.0).unwrap();
        assert!((p50 - 50.0).abs() <= 1.0, "p50 = {p50}");
    }
}
