use std::collections::BTreeMap;

use crate::histogram::{Histogram, TIMELINE_BITS};

/// One second of a run, grid-wide once merged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Second {
    pub requests: u64,
    /// Requests counted as failed by `http_req_failed`.
    pub failed_requests: u64,
    pub iterations: u64,
    /// Active VUs: per shard, the last value seen in this second (carried
    /// forward over seconds without one); summed over shards by merging.
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

/// Per-second series of requests, errors, iterations, VUs and latency,
/// keyed by Unix second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    pub(crate) seconds: BTreeMap<i64, Second>,
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

    /// Fills the VU gauges of seconds that had no sample with the previous
    /// second's values, so that summing shards per second never dips where
    /// one shard's sample happened to land in the next second. Call once per
    /// shard, before merging.
    pub fn carry_gauges_forward(&mut self) {
        let (Some(&first), Some(&last)) = (self.seconds.keys().next(), self.seconds.keys().next_back()) else {
            return;
        };
        let (mut vus, mut vus_max) = (0, 0);
        for unix_second in first..=last {
            let second = self.seconds.entry(unix_second).or_default();
            if second.vus == 0 && second.vus_max == 0 {
                second.vus = vus;
                second.vus_max = vus_max;
            }
            vus = second.vus;
            vus_max = second.vus_max;
        }
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

    #[test]
    fn gauges_carry_forward_then_sum_across_shards() {
        let mut a = Timeline::new();
        a.second_mut(100).vus = 5;
        a.second_mut(102).vus = 7;
        a.carry_gauges_forward();
        let mut b = Timeline::new();
        b.second_mut(101).vus = 3;
        b.carry_gauges_forward();
        a.merge(&b);
        let vus: Vec<u64> = a.iter().map(|(_, s)| s.vus).collect();
        assert_eq!(vus, vec![5, 8, 7]);
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
