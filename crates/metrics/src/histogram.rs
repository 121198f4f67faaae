//! A log-linear histogram that stores only the range of buckets in use.
//!
//! Bucketing is HDR's: with `bits` of precision, values below `2^bits` have a
//! bucket each, and every octave above is split into `2^(bits-1)` equal
//! buckets, so a bucket's midpoint is within `2^-bits` of any value in it
//! (relative). 11 bits match HDR's 3 significant digits, 8 bits its 2.
//!
//! Unlike the `hdrhistogram` crate, which keeps a dense array from zero to
//! the largest value, the counts here cover only the lowest to the highest
//! bucket recorded. Latencies of 1–500 ms need 9 octaves instead of 29, and
//! the per-second histograms of a timeline, a few hundred samples each, cost
//! a few KiB rather than tens. Merging adds two slices, which the compiler
//! vectorises; this is what keeps merging 100 shards of a long run fast.

use std::fmt;

/// Precision bits of trend aggregates: relative error ≤ 1/2048.
pub(crate) const AGGREGATE_BITS: u8 = 11;
/// Precision bits of per-second timeline latency: relative error ≤ 1/256.
pub(crate) const TIMELINE_BITS: u8 = 8;

const MIN_BITS: u8 = 2;
const MAX_BITS: u8 = 16;

/// Counts of non-negative integer values in log-linear buckets.
#[derive(Clone)]
pub struct Histogram {
    bits: u8,
    /// Index of the bucket `counts[0]` counts.
    offset: u32,
    /// May have zeros at either end (room left for growth); never relied on.
    counts: Vec<u64>,
    total: u64,
}

/// One bucket with samples: every value in `low..=high` counts as in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub low: u64,
    pub high: u64,
    pub count: u64,
}

impl Bucket {
    /// The value that stands for the bucket: its middle, like HDR's
    /// `median_equivalent`, so the error is at most half the bucket width.
    pub fn representative(&self) -> u64 {
        self.low + ((self.high - self.low + 1) >> 1)
    }
}

impl Histogram {
    /// An empty histogram whose buckets are within `2^-bits` relative of the
    /// values in them. `bits` is clamped to 2–16.
    pub fn new(bits: u8) -> Self {
        Histogram { bits: bits.clamp(MIN_BITS, MAX_BITS), offset: 0, counts: Vec::new(), total: 0 }
    }

    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    #[inline]
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    #[inline]
    pub fn record_n(&mut self, value: u64, count: u64) {
        if count == 0 {
            return;
        }
        let index = index_of(self.bits, value);
        let slot = index.wrapping_sub(self.offset) as usize;
        if slot < self.counts.len() {
            self.counts[slot] += count;
        } else {
            self.grow_to_record(index, count);
        }
        self.total += count;
    }

    #[cold]
    fn grow_to_record(&mut self, index: u32, count: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(count);
            return;
        }
        if index < self.offset {
            // Leave room below too, so that a run of ever smaller values does
            // not move the whole array each time.
            let slack = (self.counts.len() / 2) as u32;
            self.grow_down(index.saturating_sub(slack));
        } else {
            self.grow_up(index);
        }
        self.counts[(index - self.offset) as usize] += count;
    }

    fn grow_down(&mut self, new_offset: u32) {
        if new_offset < self.offset {
            let extra = (self.offset - new_offset) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, extra));
            self.offset = new_offset;
        }
    }

    fn grow_up(&mut self, last_index: u32) {
        let needed = (last_index - self.offset) as usize + 1;
        if needed > self.counts.len() {
            self.counts.resize(needed, 0);
        }
    }

    /// Adds every sample of `other`. Exact when both have the same
    /// precision; otherwise `other`'s buckets are re-recorded by their middle.
    pub fn add(&mut self, other: &Histogram) {
        let Some((first, last)) = other.used_range() else { return };
        if other.bits != self.bits {
            for bucket in other.iter() {
                self.record_n(bucket.representative(), bucket.count);
            }
            return;
        }
        if self.counts.is_empty() {
            self.offset = first;
        }
        self.grow_down(first);
        self.grow_up(last);
        let start = (first - self.offset) as usize;
        let theirs = &other.counts[(first - other.offset) as usize..=(last - other.offset) as usize];
        for (mine, theirs) in self.counts[start..start + theirs.len()].iter_mut().zip(theirs) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// First and last bucket index with samples.
    fn used_range(&self) -> Option<(u32, u32)> {
        let first = self.counts.iter().position(|&count| count != 0)?;
        let last = self.counts.iter().rposition(|&count| count != 0)?;
        Some((self.offset + first as u32, self.offset + last as u32))
    }

    fn used_counts(&self) -> (u32, &[u64]) {
        match self.used_range() {
            Some((first, last)) => {
                (first, &self.counts[(first - self.offset) as usize..=(last - self.offset) as usize])
            }
            None => (0, &[]),
        }
    }

    /// Buckets with samples, from the lowest.
    pub fn iter(&self) -> impl Iterator<Item = Bucket> + '_ {
        let bits = self.bits;
        self.counts.iter().enumerate().filter(|(_, &count)| count != 0).map(move |(slot, &count)| {
            let (low, high) = bucket_bounds(bits, self.offset + slot as u32);
            Bucket { low, high, count }
        })
    }

    /// The representative of the sample at 0-based `rank` in sorted order.
    pub fn value_at_rank(&self, rank: u64) -> Option<u64> {
        let mut seen = 0u64;
        self.iter().find_map(|bucket| {
            seen += bucket.count;
            (seen > rank).then(|| bucket.representative())
        })
    }

    /// The nearest-rank value at `quantile` (0–1): the representative of the
    /// sample with ⌈quantile × n⌉ samples at or below it.
    pub fn value_at_quantile(&self, quantile: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let wanted = (quantile.clamp(0.0, 1.0) * self.total as f64).ceil() as u64;
        self.value_at_rank(wanted.clamp(1, self.total) - 1)
    }

    /// Appends the compact encoding: precision, first used bucket, number
    /// of buckets from there to the last used one, then LEB128 tokens,
    /// `count << 1` for a bucket with samples and `(zeros << 1) | 1` for a run
    /// of empty buckets.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let (first, counts) = self.used_counts();
        out.push(self.bits);
        write_varint(out, u64::from(first));
        write_varint(out, counts.len() as u64);
        let mut zeros = 0u64;
        for &count in counts {
            if count == 0 {
                zeros += 1;
                continue;
            }
            if zeros > 0 {
                write_varint(out, (zeros << 1) | 1);
                zeros = 0;
            }
            write_varint(out, count << 1);
        }
    }

    /// Reads [`Histogram::encode`]'s output, refusing anything that would
    /// not fit the bucket range of its precision.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Histogram, String> {
        let (&bits, mut rest) = bytes.split_first().ok_or("empty histogram")?;
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(format!("histogram precision {bits} out of range"));
        }
        let bucket_count = u64::from(index_of(bits, u64::MAX)) + 1;
        let offset = read_varint(&mut rest)?;
        let length = read_varint(&mut rest)?;
        if offset >= bucket_count || length > bucket_count - offset {
            return Err("histogram runs past its last bucket".into());
        }
        let length = length as usize;
        let mut counts = Vec::with_capacity(length);
        let mut total = 0u64;
        while let Some(&byte) = rest.first() {
            // Most tokens are one byte: a small count or a short run.
            let token = if byte < 0x80 {
                rest = &rest[1..];
                u64::from(byte)
            } else {
                read_varint(&mut rest)?
            };
            let run = if token & 1 == 1 { (token >> 1) as usize } else { 1 };
            if run > length - counts.len() {
                return Err("histogram runs past its stated length".into());
            }
            if token & 1 == 1 {
                counts.resize(counts.len() + run, 0);
            } else {
                total = total.checked_add(token >> 1).ok_or("histogram count overflows")?;
                counts.push(token >> 1);
            }
        }
        if counts.len() != length {
            return Err("histogram shorter than its stated length".into());
        }
        Ok(Histogram { bits, offset: offset as u32, counts, total })
    }
}

/// Equal when they hold the same samples at the same precision, however
/// much room each left around them.
impl PartialEq for Histogram {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits && self.total == other.total && self.used_counts() == other.used_counts()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, counts) = self.used_counts();
        f.debug_struct("Histogram")
            .field("bits", &self.bits)
            .field("total", &self.total)
            .field("first_bucket", &first)
            .field("buckets", &counts.len())
            .finish()
    }
}

/// The bucket of `value`: the value itself below `2^bits`; above, octave
/// by octave, `2^(bits-1)` buckets each.
#[inline(always)]
fn index_of(bits: u8, value: u64) -> u32 {
    let bits = u32::from(bits);
    let exact = 1u64 << bits;
    if value < exact {
        return value as u32;
    }
    let half = exact >> 1;
    let shift = (63 - value.leading_zeros()) - bits + 1;
    (exact + u64::from(shift - 1) * half + ((value >> shift) - half)) as u32
}

/// Lowest and highest value of bucket `index`.
fn bucket_bounds(bits: u8, index: u32) -> (u64, u64) {
    let bits = u32::from(bits);
    let exact = 1u32 << bits;
    if index < exact {
        return (u64::from(index), u64::from(index));
    }
    let half = exact >> 1;
    let shift = (index - exact) / half + 1;
    let sub_bucket = u64::from((index - exact) % half + half);
    let low = sub_bucket << shift;
    (low, low + ((1u64 << shift) - 1))
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or("truncated histogram")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("histogram varint too long".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_value_range_without_gaps() {
        for bits in [MIN_BITS, TIMELINE_BITS, AGGREGATE_BITS] {
            let mut expected_low = 0u64;
            for index in 0..=index_of(bits, u64::MAX) {
                let (low, high) = bucket_bounds(bits, index);
                assert_eq!(low, expected_low, "bits {bits} index {index}");
                assert_eq!(index_of(bits, low), index);
                assert_eq!(index_of(bits, high), index);
                expected_low = high.wrapping_add(1);
            }
            assert_eq!(expected_low, 0, "the last bucket ends at u64::MAX");
        }
    }

    #[test]
    fn representatives_are_within_the_promised_precision() {
        for value in [1u64, 2047, 2048, 2049, 4097, 1_000_000, 123_456_789, 60_000_000_000, u64::MAX / 3] {
            let bucket = bucket_bounds(AGGREGATE_BITS, index_of(AGGREGATE_BITS, value));
            let representative = Bucket { low: bucket.0, high: bucket.1, count: 1 }.representative();
            let error = representative.abs_diff(value) as f64 / value as f64;
            assert!(error <= 1.0 / 2048.0, "value {value}: error {error}");
        }
    }

    #[test]
    fn recording_in_any_order_gives_equal_histograms() {
        let values = [5_000_000u64, 7, 0, 900_000_000, 5_000_001, 12, 3];
        let mut forward = Histogram::new(AGGREGATE_BITS);
        let mut backward = Histogram::new(AGGREGATE_BITS);
        for &value in &values {
            forward.record(value);
        }
        for &value in values.iter().rev() {
            backward.record(value);
        }
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), values.len() as u64);
        assert_eq!(forward.value_at_rank(0), Some(0));
        assert_eq!(forward.value_at_rank(2), Some(7));
    }

    #[test]
    fn add_is_exact_across_disjoint_and_overlapping_ranges() {
        let mut low = Histogram::new(TIMELINE_BITS);
        let mut high = Histogram::new(TIMELINE_BITS);
        let mut all = Histogram::new(TIMELINE_BITS);
        for value in 0..1000u64 {
            let value = value * value * 37;
            if value % 2 == 0 { &mut low } else { &mut high }.record(value);
            all.record(value);
        }
        let mut merged = high.clone();
        merged.add(&low);
        assert_eq!(merged, all);
        let mut merged = Histogram::new(TIMELINE_BITS);
        merged.add(&low);
        merged.add(&Histogram::new(TIMELINE_BITS));
        merged.add(&high);
        assert_eq!(merged, all);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut histogram = Histogram::new(AGGREGATE_BITS);
        for value in 1..=100u64 {
            histogram.record(value);
        }
        assert_eq!(histogram.value_at_quantile(0.5), Some(50));
        assert_eq!(histogram.value_at_quantile(0.95), Some(95));
        assert_eq!(histogram.value_at_quantile(0.0), Some(1));
        assert_eq!(histogram.value_at_quantile(1.0), Some(100));
        assert_eq!(Histogram::new(8).value_at_quantile(0.5), None);
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let mut histogram = Histogram::new(AGGREGATE_BITS);
        for value in [0u64, 1, 1, 5_000_000, 5_000_000, 5_100_000, u64::MAX] {
            histogram.record(value);
        }
        let mut bytes = Vec::new();
        histogram.encode(&mut bytes);
        assert_eq!(Histogram::decode(&bytes).unwrap(), histogram);

        let mut empty = Vec::new();
        Histogram::new(TIMELINE_BITS).encode(&mut empty);
        assert_eq!(Histogram::decode(&empty).unwrap(), Histogram::new(TIMELINE_BITS));

        assert!(Histogram::decode(&[]).is_err());
        assert!(Histogram::decode(&[40, 0]).is_err(), "precision out of range");
        // A run of zeros far past the last bucket must not allocate it.
        let mut huge_run = vec![AGGREGATE_BITS, 0, 10];
        write_varint(&mut huge_run, (u64::MAX >> 2) | 1);
        assert!(Histogram::decode(&huge_run).is_err());
        let mut huge_length = vec![AGGREGATE_BITS, 0];
        write_varint(&mut huge_length, u64::MAX);
        assert!(Histogram::decode(&huge_length).is_err(), "a stated length past the last bucket");
        assert!(Histogram::decode(&[AGGREGATE_BITS, 0, 2, 2]).is_err(), "fewer buckets than stated");
        assert!(Histogram::decode(&[AGGREGATE_BITS, 0, 2, 0x80]).is_err(), "truncated varint");
    }
}
