//! Finding where a record ends and where its commas are, in one pass over
//! 8-byte words (SWAR: "SIMD within a register", portable and safe).
//!
//! k6 writes a dozen short fields per line, so separate searches for the
//! newline, the quotes and each comma would be the dearest part of a line.
//! [`scan_line`] masks all three in each word at once and hands the commas
//! outside quotes to a [`CommaSink`]: [`Shape`] keeps only what the hot path
//! needs, [`SpanSink`] every field.

use super::quoting::Span;

pub(super) enum LineScan {
    /// A record on one line ends at `end` (its newline); its fields are split
    /// at the commas outside quotes. Quoting is checked later, and only for
    /// lines whose route is not cached yet.
    Line { end: usize },
    /// A newline inside quotes: a multi-line record or garbage, for the
    /// careful path.
    MultiLine,
    /// No newline yet.
    Incomplete,
}

const ONES: u64 = 0x0101_0101_0101_0101;
pub(super) const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` that equals `byte`, exactly (no
/// false positives from borrows, unlike the shorter `haszero` trick).
#[inline(always)]
pub(super) fn byte_mask(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !(((x & !HIGH_BITS) + !HIGH_BITS) | x) & HIGH_BITS
}

/// For a mask with high bits only, sets each byte's high bit to the parity of
/// the bits at or before it: which bytes lie inside quotes.
#[inline(always)]
fn prefix_parity(mut mask: u64) -> u64 {
    mask ^= mask << 8;
    mask ^= mask << 16;
    mask ^= mask << 32;
    mask
}

/// Receives the commas outside quotes of one line, a word at a time.
pub(super) trait CommaSink {
    /// `commas` has the high bit set in each byte that is a comma, of the 8
    /// bytes starting `offset` bytes into the line.
    fn commas(&mut self, commas: u64, offset: usize);
}

/// What the hot path needs of a line: the first three commas (ending the
/// name, timestamp and value), the last one (before `metadata`) and the count.
#[derive(Default)]
pub(super) struct Shape {
    pub(super) commas: u32,
    pub(super) first: [u32; 3],
    /// The last word with commas and its offset: the last comma is worked
    /// out from them once, not for every word.
    last_commas: u64,
    last_offset: usize,
}

impl Shape {
    pub(super) fn last(&self) -> usize {
        self.last_offset + (63 - self.last_commas.leading_zeros() as usize) / 8
    }
}

impl CommaSink for Shape {
    #[inline(always)]
    fn commas(&mut self, mut commas: u64, offset: usize) {
        self.last_commas = commas;
        self.last_offset = offset;
        while self.commas < 3 && commas != 0 {
            self.first[self.commas as usize] = (offset + commas.trailing_zeros() as usize / 8) as u32;
            self.commas += 1;
            commas &= commas - 1;
        }
        self.commas += count_bytes(commas);
    }
}

/// How many bytes a [`byte_mask`] marks. A multiply sums the marks into the
/// top byte; `count_ones` would be a long sequence without `popcnt`, which
/// the baseline x86-64 target lacks.
#[inline(always)]
fn count_bytes(mask: u64) -> u32 {
    ((mask >> 7).wrapping_mul(ONES) >> 56) as u32
}

/// Collects every field's span, for any column order.
pub(super) struct SpanSink<'a> {
    spans: &'a mut Vec<Span>,
    field_start: u32,
}

impl<'a> SpanSink<'a> {
    pub(super) fn new(spans: &'a mut Vec<Span>) -> Self {
        spans.clear();
        SpanSink { spans, field_start: 0 }
    }
}

impl CommaSink for SpanSink<'_> {
    fn commas(&mut self, mut commas: u64, offset: usize) {
        while commas != 0 {
            let comma = (offset + commas.trailing_zeros() as usize / 8) as u32;
            self.spans.push(Span { start: self.field_start, end: comma });
            self.field_start = comma + 1;
            commas &= commas - 1;
        }
    }
}

/// Where the field after the last span starts.
pub(super) fn last_field_start(spans: &[Span]) -> u32 {
    spans.last().map_or(0, |span| span.end + 1)
}

/// Finds the end of the record at `start` and hands its commas to `sink`,
/// in one pass over 8-byte words: cheaper than separate searches for the
/// newline, quotes and each comma, which is what a dozen short fields per
/// line would cost. Commas and newlines inside quotes do not count.
#[inline(always)]
pub(super) fn scan_line(data: &[u8], start: usize, sink: &mut impl CommaSink) -> LineScan {
    let mut position = start;
    let mut in_quotes = false;
    while let Some(chunk) = data.get(position..position + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        let mut commas = byte_mask(word, b',');
        let mut newlines = byte_mask(word, b'\n');
        let quotes = byte_mask(word, b'"');
        if quotes != 0 || in_quotes {
            let mut inside = prefix_parity(quotes);
            if in_quotes {
                inside ^= HIGH_BITS;
            }
            in_quotes = inside >> 63 != 0;
            let quoted_newlines = newlines & inside;
            commas &= !inside;
            newlines &= !inside;
            if quoted_newlines != 0 && (newlines == 0 || quoted_newlines.trailing_zeros() < newlines.trailing_zeros()) {
                return LineScan::MultiLine;
            }
        }
        if newlines == 0 {
            if commas != 0 {
                sink.commas(commas, position - start);
            }
            position += 8;
            continue;
        }
        let stop = newlines.trailing_zeros();
        // Only the commas before the newline belong to this line.
        let commas = commas & ((1u64 << stop) - 1);
        if commas != 0 {
            sink.commas(commas, position - start);
        }
        return LineScan::Line { end: position + (stop / 8) as usize };
    }
    for (offset, &byte) in data[position..].iter().enumerate() {
        match byte {
            b'"' => in_quotes = !in_quotes,
            b'\n' if in_quotes => return LineScan::MultiLine,
            b'\n' => return LineScan::Line { end: position + offset },
            b',' if !in_quotes => sink.commas(0x80, position + offset - start),
            _ => {}
        }
    }
    LineScan::Incomplete
}
