//! A log-linear histogram that stores only the range of buckets in use.
//!
//! Bucketing is HDR's: with `bits` of precision, values below `2^bits` have a
//! bucket each, and every octave above is split into `2^(bits-1)` equal
//! buckets, so a bucket's midpoint is within `2^-bits` of any value in it
//! (relative). 11 bits match HDR's 3 significant digits, 8 bits its 2.
//!
//! Unlike the `hdrhistogram` crate, which keeps a dense array from zero to
//! the largest value, the counts here cover only the lowest to the highest
//! bucket recorded: latencies of 1–500 ms need 9 octaves instead of 29.
//! A decoded histogram with few samples over a wide range (a second of a
//! timeline) is kept sparse, as (bucket, count) pairs, so reading it costs
//! its samples rather than its range. Merging into a dense histogram adds
//! slices, which the compiler vectorises. Together these keep decoding and
//! merging 100 shards of a long run fast: memory traffic, not arithmetic, is
//! what such a merge costs.

use std::fmt;

/// Precision bits of trend aggregates: relative error ≤ 1/2048.
pub(crate) const AGGREGATE_BITS: u8 = 11;
/// Precision bits of per-second timeline latency: relative error ≤ 1/128,
/// within 1% as charts need. Merging 100 shards' seconds is bound by memory
/// traffic into the grid-wide seconds, which this halves against 8 bits.
pub(crate) const TIMELINE_BITS: u8 = 7;

const MIN_BITS: u8 = 2;
const MAX_BITS: u8 = 16;

/// Counts of non-negative integer values in log-linear buckets.
#[derive(Clone)]
pub struct Histogram {
    bits: u8,
    total: u64,
    counts: Counts,
}

#[derive(Clone)]
enum Counts {
    /// Every bucket from `offset` on: what recording and merging into use.
    /// May have zeros at either end (room left for growth); never relied on.
    Dense { offset: u32, counts: Vec<u64> },
    /// Only the buckets with samples, by index: what a decoded histogram
    /// with few samples over a wide range uses (a second of a timeline),
    /// so that reading one costs its samples, not its range.
    Sparse(Vec<(u32, u64)>),
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
        Histogram {
            bits: bits.clamp(MIN_BITS, MAX_BITS),
            total: 0,
            counts: Counts::Dense { offset: 0, counts: Vec::new() },
        }
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
        match &mut self.counts {
            Counts::Dense { offset, counts } if (index.wrapping_sub(*offset) as usize) < counts.len() => {
                counts[index.wrapping_sub(*offset) as usize] += count;
            }
            _ => self.grow_to_record(index, count),
        }
        self.total += count;
    }

    #[cold]
    fn grow_to_record(&mut self, index: u32, count: u64) {
        let (offset, counts) = self.dense_mut();
        if counts.is_empty() {
            *offset = index;
            counts.push(count);
            return;
        }
        if index < *offset {
            // Leave room below too, so that a run of ever smaller values does
            // not move the whole array each time.
            let slack = (counts.len() / 2) as u32;
            grow_down(offset, counts, index.saturating_sub(slack));
        } else {
            grow_up(*offset, counts, index);
        }
        counts[(index - *offset) as usize] += count;
    }

    /// The dense counts, converting sparse ones first.
    fn dense_mut(&mut self) -> (&mut u32, &mut Vec<u64>) {
        if let Counts::Sparse(pairs) = &self.counts {
            let mut offset = pairs.first().map_or(0, |&(index, _)| index);
            let mut counts = Vec::new();
            if let Some(&(last, _)) = pairs.last() {
                grow_up(offset, &mut counts, last);
                for &(index, count) in pairs {
                    counts[(index - offset) as usize] = count;
                }
            } else {
                offset = 0;
            }
            self.counts = Counts::Dense { offset, counts };
        }
        match &mut self.counts {
            Counts::Dense { offset, counts } => (offset, counts),
            Counts::Sparse(_) => unreachable!("converted above"),
        }
    }

    /// Adds every sample of `other`. Exact when both have the same
    /// precision; otherwise `other`'s buckets are re-recorded by their middle.
    pub fn add(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if other.bits != self.bits {
            for bucket in other.iter() {
                self.record_n(bucket.representative(), bucket.count);
            }
            return;
        }
        match (&mut self.counts, &other.counts) {
            (Counts::Sparse(mine), Counts::Sparse(theirs)) => {
                let merged = merge_sparse(mine, theirs);
                let span = merged.last().map_or(0, |last| last.0 - merged[0].0 + 1) as usize;
                *mine = merged;
                if !worth_sparse(mine.len(), span) {
                    self.dense_mut();
                }
            }
            (_, Counts::Sparse(theirs)) => {
                let (offset, counts) = self.dense_mut();
                let (Some(&(first, _)), Some(&(last, _))) = (theirs.first(), theirs.last()) else { return };
                reserve_range(offset, counts, first, last);
                for &(index, count) in theirs {
                    counts[(index - *offset) as usize] += count;
                }
            }
            (_, Counts::Dense { offset: their_offset, counts: theirs }) => {
                let Some((first, last)) = used_range(*their_offset, theirs) else { return };
                let theirs = &theirs[(first - their_offset) as usize..=(last - their_offset) as usize];
                let (offset, counts) = self.dense_mut();
                reserve_range(offset, counts, first, last);
                let start = (first - *offset) as usize;
                for (mine, theirs) in counts[start..start + theirs.len()].iter_mut().zip(theirs) {
                    *mine += theirs;
                }
            }
        }
        self.total += other.total;
    }

    /// Buckets with samples, as (index, count), from the lowest.
    fn entries(&self) -> Entries<'_> {
        match &self.counts {
            Counts::Dense { offset, counts } => Entries::Dense { offset: *offset, counts: counts.iter().enumerate() },
            Counts::Sparse(pairs) => Entries::Sparse(pairs.iter()),
        }
    }

    /// Buckets with samples, from the lowest.
    pub fn iter(&self) -> impl Iterator<Item = Bucket> + '_ {
        let bits = self.bits;
        self.entries().map(move |(index, count)| {
            let (low, high) = bucket_bounds(bits, index);
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
    /// of buckets from there to the last used one, then one LEB128 token per
    /// bucket with samples: `gap << 3 | count`, `gap` being the empty buckets
    /// skipped before it. A count above 7 is written as 0 in the token and
    /// follows as its own LEB128 number. A second of a timeline, counts of 1
    /// to 7 a few buckets apart, takes one byte per bucket used.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.bits);
        let mut entries = self.entries().peekable();
        let Some(&(first, _)) = entries.peek() else {
            write_varint(out, 0);
            write_varint(out, 0);
            return;
        };
        let last = self.entries().last().map_or(first, |(index, _)| index);
        write_varint(out, u64::from(first));
        write_varint(out, u64::from(last - first) + 1);
        let mut next = first;
        for (index, count) in entries {
            let gap = u64::from(index - next) << COUNT_BITS;
            if count <= MAX_INLINE_COUNT {
                write_varint(out, gap | count);
            } else {
                write_varint(out, gap);
                write_varint(out, count);
            }
            next = index + 1;
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
        let first = read_varint(&mut rest)?;
        let span = read_varint(&mut rest)?;
        if first >= bucket_count || span > bucket_count - first {
            return Err("histogram runs past its last bucket".into());
        }
        let (first, span) = (first as u32, span as usize);
        // Every bucket with samples takes at least one byte, so the bytes
        // left bound how many there are: few over a wide span read sparse.
        let (counts, total) = if worth_sparse(rest.len(), span) {
            let mut pairs = Vec::with_capacity(rest.len().min(span));
            let total = read_tokens(rest, span, |position, count| pairs.push((first + position as u32, count)))?;
            (Counts::Sparse(pairs), total)
        } else {
            let mut counts = vec![0; span];
            let total = read_tokens(rest, span, |position, count| counts[position] = count)?;
            (Counts::Dense { offset: first, counts }, total)
        };
        Ok(Histogram { bits, total, counts })
    }
}

/// Bits of a token that hold a small count.
const COUNT_BITS: u32 = 3;
const MAX_INLINE_COUNT: u64 = (1 << COUNT_BITS) - 1;

/// Reads the tokens of [`Histogram::encode`], handing each bucket with
/// samples to `bucket` as (position from the first bucket, count), and
/// returns the total. Checks that every position is within `span`, and the
/// last is its end, before handing it, so `bucket` may index a slice of
/// `span` elements.
#[inline]
fn read_tokens(bytes: &[u8], span: usize, mut bucket: impl FnMut(usize, u64)) -> Result<u64, String> {
    let mut at = 0;
    let mut position = 0u64;
    // Wider than any total, so adding up cannot overflow; checked once.
    let mut total = 0u128;
    while at < bytes.len() {
        let token = read_varint_at(bytes, &mut at)?;
        let count = match token & MAX_INLINE_COUNT {
            0 => read_varint_at(bytes, &mut at)?,
            inline => inline,
        };
        position += token >> COUNT_BITS;
        if position >= span as u64 || count == 0 {
            return Err("histogram bucket past its stated span, or empty".into());
        }
        bucket(position as usize, count);
        total += u128::from(count);
        position += 1;
    }
    if position != span as u64 {
        return Err("histogram shorter than its stated span".into());
    }
    u64::try_from(total).map_err(|_| "histogram count overflows".into())
}

/// A LEB128 number at `*at`, moving past it; one-byte numbers, the most
/// common, take the short way.
#[inline(always)]
fn read_varint_at(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    match bytes.get(*at) {
        Some(&byte) if byte < 0x80 => {
            *at += 1;
            Ok(u64::from(byte))
        }
        _ => {
            let mut rest = bytes.get(*at..).unwrap_or_default();
            let value = read_varint(&mut rest)?;
            *at = bytes.len() - rest.len();
            Ok(value)
        }
    }
}

/// Whether `used` buckets over `span` are cheaper kept sparse: a pair takes
/// twice a dense slot, so while under half the span is used.
fn worth_sparse(used: usize, span: usize) -> bool {
    used.saturating_mul(2) < span
}

enum Entries<'a> {
    Dense { offset: u32, counts: std::iter::Enumerate<std::slice::Iter<'a, u64>> },
    Sparse(std::slice::Iter<'a, (u32, u64)>),
}

impl Iterator for Entries<'_> {
    type Item = (u32, u64);

    fn next(&mut self) -> Option<(u32, u64)> {
        match self {
            Entries::Dense { offset, counts } => {
                counts.find(|(_, &count)| count != 0).map(|(slot, &count)| (*offset + slot as u32, count))
            }
            Entries::Sparse(pairs) => pairs.next().copied(),
        }
    }
}

fn merge_sparse(mine: &[(u32, u64)], theirs: &[(u32, u64)]) -> Vec<(u32, u64)> {
    let mut merged = Vec::with_capacity(mine.len() + theirs.len());
    let (mut mine, mut theirs) = (mine.iter().peekable(), theirs.iter().peekable());
    loop {
        let next = match (mine.peek(), theirs.peek()) {
            (Some(&&(a, count_a)), Some(&&(b, count_b))) => match a.cmp(&b) {
                std::cmp::Ordering::Less => mine.next().copied(),
                std::cmp::Ordering::Greater => theirs.next().copied(),
                std::cmp::Ordering::Equal => {
                    mine.next();
                    theirs.next();
                    Some((a, count_a + count_b))
                }
            },
            (Some(_), None) => mine.next().copied(),
            (None, Some(_)) => theirs.next().copied(),
            (None, None) => None,
        };
        match next {
            Some(pair) => merged.push(pair),
            None => return merged,
        }
    }
}

/// First and last bucket index with samples of dense counts.
fn used_range(offset: u32, counts: &[u64]) -> Option<(u32, u32)> {
    let first = counts.iter().position(|&count| count != 0)?;
    let last = counts.iter().rposition(|&count| count != 0)?;
    Some((offset + first as u32, offset + last as u32))
}

/// Makes dense counts cover `first..=last`.
fn reserve_range(offset: &mut u32, counts: &mut Vec<u64>, first: u32, last: u32) {
    if counts.is_empty() {
        *offset = first;
    }
    if first < *offset {
        // As when recording: leave room below, so that merging shard after
        // shard, each with a slightly lower minimum, does not move the
        // whole array each time.
        let slack = (counts.len() / 2) as u32;
        grow_down(offset, counts, first.saturating_sub(slack));
    }
    grow_up(*offset, counts, last);
}

fn grow_down(offset: &mut u32, counts: &mut Vec<u64>, new_offset: u32) {
    if new_offset < *offset {
        let extra = (*offset - new_offset) as usize;
        counts.splice(0..0, std::iter::repeat_n(0, extra));
        *offset = new_offset;
    }
}

fn grow_up(offset: u32, counts: &mut Vec<u64>, last_index: u32) {
    let needed = (last_index - offset) as usize + 1;
    if needed > counts.len() {
        counts.resize(needed, 0);
    }
}

/// Equal when they hold the same samples at the same precision, however
/// they are stored and however much room each left around them.
impl PartialEq for Histogram {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits && self.total == other.total && self.entries().eq(other.entries())
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sparse = matches!(self.counts, Counts::Sparse(_));
        f.debug_struct("Histogram")
            .field("bits", &self.bits)
            .field("total", &self.total)
            .field("buckets_used", &self.entries().count())
            .field("sparse", &sparse)
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

    fn round_trip(histogram: &Histogram) -> Histogram {
        let mut bytes = Vec::new();
        histogram.encode(&mut bytes);
        Histogram::decode(&bytes).unwrap()
    }

    #[test]
    fn sparse_and_dense_storage_hold_the_same_samples() {
        // A few samples over a wide range decode sparse; many decode dense.
        let mut few = Histogram::new(TIMELINE_BITS);
        let mut many = Histogram::new(TIMELINE_BITS);
        for i in 0..20u64 {
            few.record(1_000_000 * (i * i + 1));
        }
        for i in 0..5000u64 {
            many.record(1_000_000 + i * 97_000);
        }
        let sparse_few = round_trip(&few);
        assert!(matches!(sparse_few.counts, Counts::Sparse(_)));
        assert!(matches!(round_trip(&many).counts, Counts::Dense { .. }));
        assert_eq!(sparse_few, few);
        assert_eq!(round_trip(&sparse_few), few, "a sparse histogram encodes the same");

        let mut all = few.clone();
        all.add(&many);
        // Dense + sparse, sparse + dense, sparse + sparse.
        let mut merged = many.clone();
        merged.add(&sparse_few);
        assert_eq!(merged, all);
        let mut merged = sparse_few.clone();
        merged.add(&round_trip(&many));
        assert_eq!(merged, all);
        let mut doubled = sparse_few.clone();
        doubled.add(&sparse_few);
        let mut expected = few.clone();
        expected.add(&few);
        assert_eq!(doubled, expected);
        assert_eq!(doubled.len(), 40);
        // Recording into a decoded sparse histogram works too.
        let mut recorded = sparse_few.clone();
        recorded.record(3);
        few.record(3);
        assert_eq!(recorded, few);
        assert_eq!(recorded.value_at_rank(0), Some(3));
    }

    #[test]
    fn sparse_merges_turn_dense_once_filled() {
        let mut accumulated = Histogram::new(TIMELINE_BITS);
        let mut reference = Histogram::new(TIMELINE_BITS);
        for shard in 0..200u64 {
            let mut one = Histogram::new(TIMELINE_BITS);
            one.record(1_000_000 + shard * 2_500_000);
            one.record(900_000_000);
            reference.add(&one);
            accumulated.add(&round_trip(&one));
        }
        assert_eq!(accumulated, reference);
        assert!(matches!(accumulated.counts, Counts::Dense { .. }));
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
        assert_eq!(round_trip(&histogram), histogram);
        assert_eq!(round_trip(&Histogram::new(TIMELINE_BITS)), Histogram::new(TIMELINE_BITS));

        assert!(Histogram::decode(&[]).is_err());
        assert!(Histogram::decode(&[40, 0]).is_err(), "precision out of range");
        // A run of zeros far past the last bucket must not allocate it.
        let mut huge_gap = vec![AGGREGATE_BITS, 0, 10];
        write_varint(&mut huge_gap, (u64::MAX >> COUNT_BITS << COUNT_BITS) | 1);
        assert!(Histogram::decode(&huge_gap).is_err(), "a gap past the stated span");
        assert!(Histogram::decode(&[AGGREGATE_BITS, 0, 1, 0, 0]).is_err(), "an empty bucket");
        let mut huge_length = vec![AGGREGATE_BITS, 0];
        write_varint(&mut huge_length, u64::MAX);
        assert!(Histogram::decode(&huge_length).is_err(), "a stated length past the last bucket");
        assert!(Histogram::decode(&[AGGREGATE_BITS, 0, 2, 1]).is_err(), "fewer buckets than stated");
        assert!(Histogram::decode(&[AGGREGATE_BITS, 0, 2, 0x80]).is_err(), "truncated varint");
        assert!(Histogram::decode(&[AGGREGATE_BITS, 0, 1, 0]).is_err(), "a count that never comes");
    }
}
