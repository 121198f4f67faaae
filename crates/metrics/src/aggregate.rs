use crate::histogram::{Histogram, AGGREGATE_BITS};

/// Values are stored as integers in millionths of the unit k6 reports
/// (milliseconds for time metrics, so one unit is a nanosecond).
pub const VALUE_SCALE: i64 = 1_000_000;

/// The running aggregate of one metric series.
///
/// It keeps everything any k6 metric type needs (count, sum, min, max,
/// non-zero count, latest value, and, for trends, a histogram), so one type
/// and one merge serve counters, rates, gauges and trends alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub(crate) count: u64,
    pub(crate) sum: i128,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) nonzero: u64,
    pub(crate) last: i64,
    pub(crate) last_time_us: i64,
    /// Trend histogram with 11 bits of precision (HDR's 3 significant
    /// digits): relative error ≤ 1/2048.
    pub(crate) histogram: Option<Box<Histogram>>,
}

impl Aggregate {
    /// An empty aggregate. `with_histogram` is true for trends, and for
    /// metrics whose type is not known yet.
    pub fn new(with_histogram: bool) -> Self {
        Aggregate {
            count: 0,
            sum: 0,
            min: i64::MAX,
            max: i64::MIN,
            nonzero: 0,
            last: 0,
            last_time_us: i64::MIN,
            histogram: with_histogram.then(|| Box::new(Histogram::new(AGGREGATE_BITS))),
        }
    }

    /// Records one sample, `value` in millionths, taken at `time_us`
    /// (microseconds since the Unix epoch).
    #[inline]
    pub fn record(&mut self, value: i64, time_us: i64) {
        self.count += 1;
        self.sum += i128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.nonzero += u64::from(value != 0);
        if later(time_us, value, self.last_time_us, self.last) {
            self.last = value;
            self.last_time_us = time_us;
        }
        if let Some(histogram) = self.histogram.as_deref_mut() {
            // Negative samples are outside what the histogram holds; they
            // count towards min/avg exactly and sit at zero for percentiles.
            histogram.record(value.max(0) as u64);
        }
    }

    /// Records a sample given as a float in the metric's own unit.
    pub fn record_f64(&mut self, value: f64, time_us: i64) {
        self.record(to_fixed(value), time_us);
    }

    /// Adds `other` into `self`. Exact, associative and commutative.
    pub fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.nonzero += other.nonzero;
        if later(other.last_time_us, other.last, self.last_time_us, self.last) {
            self.last = other.last;
            self.last_time_us = other.last_time_us;
        }
        match (self.histogram.as_deref_mut(), other.histogram.as_deref()) {
            (Some(mine), Some(theirs)) => mine.add(theirs),
            (None, Some(theirs)) => self.histogram = Some(Box::new(theirs.clone())),
            _ => {}
        }
    }

    /// Drops the histogram: used once a metric turns out not to be a trend.
    pub fn drop_histogram(&mut self) {
        self.histogram = None;
    }

    pub fn has_histogram(&self) -> bool {
        self.histogram.is_some()
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Number of samples with a non-zero value: the `passes` of a k6 rate.
    pub fn nonzero(&self) -> u64 {
        self.nonzero
    }

    pub fn sum(&self) -> f64 {
        self.sum as f64 / VALUE_SCALE as f64
    }

    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then(|| from_fixed(self.min))
    }

    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then(|| from_fixed(self.max))
    }

    pub fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64 / VALUE_SCALE as f64)
    }

    /// Share of non-zero samples, k6's `rate` of a Rate metric.
    pub fn rate(&self) -> Option<f64> {
        (self.count > 0).then(|| self.nonzero as f64 / self.count as f64)
    }

    /// The latest value by sample time, k6's `value` of a Gauge.
    pub fn last(&self) -> Option<f64> {
        (self.count > 0).then(|| from_fixed(self.last))
    }

    /// The `pct` percentile (0–100) with k6's own definition: linear
    /// interpolation between the samples at ranks ⌊i⌋ and ⌈i⌉, where
    /// `i = pct/100 × (n − 1)`. Each rank's value comes from the histogram,
    /// within its precision; the extremes are exact.
    pub fn percentile(&self, pct: f64) -> Option<f64> {
        let histogram = self.histogram.as_deref()?;
        if self.count == 0 || histogram.is_empty() {
            return None;
        }
        let n = histogram.len();
        let position = (pct.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
        let low_rank = position.floor() as u64;
        let high_rank = position.ceil() as u64;
        let (low, high) = self.values_at_ranks(histogram, low_rank, high_rank);
        let fraction = position - position.floor();
        let value = low + (high - low) * fraction;
        Some(value / VALUE_SCALE as f64)
    }

    pub fn median(&self) -> Option<f64> {
        self.percentile(50.0)
    }

    /// Values (in millionths, as f64) of the samples at two 0-based ranks,
    /// `low_rank <= high_rank`, in one pass over the histogram.
    fn values_at_ranks(&self, histogram: &Histogram, low_rank: u64, high_rank: u64) -> (f64, f64) {
        let last_rank = histogram.len() - 1;
        let exact = |rank: u64| -> Option<f64> {
            if rank == 0 {
                Some(self.min as f64)
            } else if rank == last_rank {
                Some(self.max as f64)
            } else {
                None
            }
        };
        let mut low = exact(low_rank);
        let mut high = exact(high_rank);
        if low.is_none() || high.is_none() {
            let mut seen = 0u64;
            for bucket in histogram.iter() {
                seen += bucket.count;
                let representative = (bucket.representative() as f64).clamp(self.min as f64, self.max as f64);
                if low.is_none() && seen > low_rank {
                    low = Some(representative);
                }
                if high.is_none() && seen > high_rank {
                    high = Some(representative);
                    break;
                }
            }
        }
        let low = low.unwrap_or(self.max as f64);
        (low, high.unwrap_or(low))
    }
}

/// Whether the sample (`time`, `value`) is later than (`other_time`,
/// `other_value`). Ties in time go to the larger value so that merging stays
/// commutative.
fn later(time: i64, value: i64, other_time: i64, other_value: i64) -> bool {
    (time, value) > (other_time, other_value)
}

pub(crate) fn to_fixed(value: f64) -> i64 {
    (value * VALUE_SCALE as f64).round() as i64
}

pub(crate) fn from_fixed(value: i64) -> f64 {
    value as f64 / VALUE_SCALE as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trend(values: &[f64]) -> Aggregate {
        let mut aggregate = Aggregate::new(true);
        for (i, v) in values.iter().enumerate() {
            aggregate.record_f64(*v, i as i64);
        }
        aggregate
    }

    #[test]
    fn percentiles_interpolate_like_k6() {
        // k6: i = 0.9 * 3 = 2.7 → 3 + (4 - 3) * 0.7 = 3.7
        let aggregate = trend(&[1.0, 2.0, 3.0, 4.0]);
        let p90 = aggregate.percentile(90.0).unwrap();
        assert!((p90 - 3.7).abs() < 0.01, "p90 = {p90}");
        assert_eq!(aggregate.percentile(0.0), Some(1.0));
        assert_eq!(aggregate.percentile(100.0), Some(4.0));
        assert!((aggregate.median().unwrap() - 2.5).abs() < 0.01);
    }

    #[test]
    fn single_sample_is_every_percentile() {
        let aggregate = trend(&[12.5]);
        assert_eq!(aggregate.percentile(95.0), Some(12.5));
        assert_eq!(aggregate.avg(), Some(12.5));
    }

    #[test]
    fn empty_aggregate_has_no_statistics() {
        let aggregate = Aggregate::new(true);
        assert_eq!(aggregate.percentile(50.0), None);
        assert_eq!(aggregate.avg(), None);
        assert_eq!(aggregate.rate(), None);
    }

    #[test]
    fn rate_counts_nonzero_samples() {
        let mut aggregate = Aggregate::new(false);
        for v in [0.0, 1.0, 0.0, 1.0, 1.0] {
            aggregate.record_f64(v, 0);
        }
        assert_eq!(aggregate.rate(), Some(0.6));
        assert_eq!(aggregate.nonzero(), 3);
    }

    #[test]
    fn gauge_keeps_latest_by_time_across_merges() {
        let mut early = Aggregate::new(false);
        early.record_f64(5.0, 10);
        let mut late = Aggregate::new(false);
        late.record_f64(2.0, 20);
        let mut a = early.clone();
        a.merge(&late);
        let mut b = late.clone();
        b.merge(&early);
        assert_eq!(a.last(), Some(2.0));
        assert_eq!(a, b);
    }

    #[test]
    fn sums_are_exact_in_fixed_point() {
        let mut aggregate = Aggregate::new(false);
        for _ in 0..10 {
            aggregate.record_f64(0.1, 0);
        }
        assert_eq!(aggregate.sum(), 1.0);
    }
}
