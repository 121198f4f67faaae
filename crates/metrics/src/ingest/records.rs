//! Each complete CSV record, from raw bytes to a route, a value and a time.
//!
//! [`Ingest::process_csv_records`] walks the complete records of a buffer.
//! A line in k6's own column order takes the hot path
//! ([`Ingest::process_known_line`]): only the commas it needs are noted,
//! and the raw name and tag bytes are looked up in the route cache. The
//! header, lines in another column order and records with quoted newlines
//! take slower, general paths ([`Ingest::process_fields`]); data lines
//! end in the same route lookup.

use memchr::memchr;

use super::header::{Header, KnownLayout, Layout};
use super::quoting::{count_quotes, split_quoted_fields, Span};
use super::scan::{last_field_start, scan_line, LineScan, Shape, SpanSink};
use super::values::{parse_fixed, parse_timestamp};
use super::{Ingest, MAX_LINE_BYTES, MAX_RECORD_LINES};

impl Ingest {
    /// Processes every complete record in `data` and returns how many bytes
    /// that consumed; the rest is an incomplete record. At the end of input
    /// (`at_eof`), a record whose quotes never close is rejected instead.
    pub(super) fn process_csv_records(&mut self, data: &[u8], at_eof: bool) -> usize {
        let mut start = 0;
        loop {
            let known = match &self.header {
                Header::Valid(layout) => layout.known,
                _ => None,
            };
            let scan = match known {
                Some(known) => {
                    let mut shape = Shape::default();
                    let scan = scan_line(data, start, &mut shape);
                    if let LineScan::Line { end } = scan {
                        let accepted = self.process_known_line(&data[start..end], &shape, known);
                        self.count_rejected(!accepted);
                    }
                    scan
                }
                None => {
                    let mut spans = std::mem::take(&mut self.spans);
                    let scan = scan_line(data, start, &mut SpanSink::new(&mut spans));
                    if let LineScan::Line { end } = scan {
                        spans.push(Span { start: last_field_start(&spans), end: (end - start) as u32 });
                        let accepted = self.process_line(&data[start..end], &mut spans);
                        self.count_rejected(!accepted);
                    }
                    self.spans = spans;
                    scan
                }
            };
            match scan {
                LineScan::Incomplete => return start,
                LineScan::Line { end } => start = end + 1,
                LineScan::MultiLine => {
                    let mut spans = std::mem::take(&mut self.spans);
                    let next = self.process_quoted_record(data, start, at_eof, &mut spans);
                    self.spans = spans;
                    match next {
                        Some(next) => start = next,
                        None => return start,
                    }
                }
            }
        }
    }

    /// The hot path: a one-line record in k6's own column order, of which
    /// the scanner noted only the comma positions that matter.
    #[inline]
    fn process_known_line(&mut self, line: &[u8], shape: &Shape, known: KnownLayout) -> bool {
        if line.len() > MAX_LINE_BYTES {
            return false;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return true;
        }
        if shape.commas + 1 != known.columns {
            return false;
        }
        let [name_end, timestamp_end, value_end] = shape.first.map(|comma| comma as usize);
        let Some(time_us) = parse_timestamp(&line[name_end + 1..timestamp_end]) else { return false };
        let Some(value) = parse_fixed(&line[timestamp_end + 1..value_end]) else { return false };
        let tags_end = if known.trailing_metadata { shape.last() } else { line.len() };
        // The route key: the raw metric name, then the raw tag columns. Raw
        // CSV fields joined by commas read back unambiguously, so equal keys
        // always mean equal tags.
        self.route_key.clear();
        self.route_key.extend_from_slice(&line[..=name_end]);
        self.route_key.extend_from_slice(&line[value_end + 1..tags_end]);
        let route = match self.routes.get(self.route_key.as_slice()) {
            Some(route) => *route,
            None => {
                let mut spans = std::mem::take(&mut self.spans);
                let route = (split_quoted_fields(line, &mut spans) && spans.len() == known.columns as usize)
                    .then(|| self.new_route(line, &spans))
                    .flatten();
                self.spans = spans;
                match route {
                    Some(route) => route,
                    None => return false,
                }
            }
        };
        self.record(route, value, time_us);
        true
    }

    /// A one-line record in any column order (or the header), its fields
    /// split by the scanner.
    fn process_line(&mut self, mut line: &[u8], spans: &mut [Span]) -> bool {
        if line.len() > MAX_LINE_BYTES {
            return false;
        }
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
            if let Some(last) = spans.last_mut() {
                last.end -= 1;
            }
        }
        line.is_empty() || self.process_fields(line, spans)
    }

    /// The record starting at `start` has a newline inside quotes. Returns
    /// where the next record starts, or None if the record is not complete
    /// yet.
    #[cold]
    fn process_quoted_record(
        &mut self,
        data: &[u8],
        start: usize,
        at_eof: bool,
        spans: &mut Vec<Span>,
    ) -> Option<usize> {
        let line_end = start + memchr(b'\n', &data[start..])?;
        let line = &data[start..line_end];
        if line.len() > MAX_LINE_BYTES {
            self.count_rejected(true);
            return Some(line_end + 1);
        }
        // A quoted field may hold newlines: the record ends at the first
        // newline after which its quotes balance.
        let mut record_end = line_end;
        let mut odd_quotes = count_quotes(line) % 2 == 1;
        let mut lines = 1;
        while odd_quotes && lines < MAX_RECORD_LINES {
            match memchr(b'\n', &data[record_end + 1..]) {
                Some(next) => {
                    let next_end = record_end + 1 + next;
                    odd_quotes ^= count_quotes(&data[record_end + 1..next_end]) % 2 == 1;
                    record_end = next_end;
                    lines += 1;
                }
                None if at_eof => break,
                None => return None,
            }
        }
        if !odd_quotes {
            let record = &data[start..record_end];
            let record = record.strip_suffix(b"\r").unwrap_or(record);
            if split_quoted_fields(record, spans) && self.process_fields(record, spans) {
                return Some(record_end + 1);
            }
        }
        // Garbage, not a record: drop only its first line, so that one stray
        // quote cannot swallow the good lines after it.
        self.count_rejected(true);
        Some(line_end + 1)
    }

    fn process_fields(&mut self, record: &[u8], spans: &[Span]) -> bool {
        let layout = match &self.header {
            Header::Valid(layout) => layout,
            Header::Invalid => return false,
            Header::Pending => {
                let layout = Layout::from_header(record, spans);
                let valid = layout.is_some();
                self.header = layout.map_or(Header::Invalid, Header::Valid);
                return valid;
            }
        };
        if spans.len() != layout.columns {
            return false;
        }
        // k6 never quotes numbers, so neither does the hot path; quoted ones
        // are rejected alike whatever the column order.
        let Some(time_us) = parse_timestamp(spans[layout.timestamp].of(record)) else { return false };
        let Some(value) = parse_fixed(spans[layout.value].of(record)) else { return false };
        // The route key, as in `process_known_line`.
        self.route_key.clear();
        self.route_key.extend_from_slice(spans[layout.name].of(record));
        match layout.adjacent_tags {
            Some((first, last)) => {
                self.route_key.push(b',');
                self.route_key.extend_from_slice(&record[spans[first].start as usize..spans[last].end as usize]);
            }
            None => {
                for &(column, _) in &layout.tag_columns {
                    self.route_key.push(b',');
                    self.route_key.extend_from_slice(spans[column].of(record));
                }
            }
        }
        let route = match self.routes.get(self.route_key.as_slice()) {
            Some(route) => *route,
            None => match self.new_route(record, spans) {
                Some(route) => route,
                None => return false,
            },
        };
        self.record(route, value, time_us);
        true
    }
}
