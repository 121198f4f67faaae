//! Each JSON line of k6's output, from raw bytes to a route, a value and a
//! time; and `Metric` lines, which give a metric's type.
//!
//! k6 writes every `Point` line in one fixed layout (Go's encoder keeps
//! struct field order and sorts map keys):
//!
//! ```text
//! {"metric":"NAME","type":"Point","data":{"time":"TIME","value":NUMBER,"tags":{...}}}
//! ```
//!
//! with `,"metadata":{...}` after the tags when the script sets metadata.
//! The hot path ([`point_at`]) checks the fixed parts byte for byte, finds
//! the name's end and the time's end with `memchr`, reads the number where
//! it stands, and scans only the tags object with a quote- and escape-aware
//! scan, 8 bytes at a time ([`object_end`]). The line's newline is then
//! expected right after `}}}`, so a line is read in one pass without a
//! separate search for its end. The raw tag bytes get an id, and the id and
//! the raw name are the route key ([`JsonCache`] says why); the tags are
//! unescaped and turned into a [`TagSet`] only for a new key
//! (`new_json_route`, cold).
//!
//! Anything else (metadata, `Metric` lines, another field order, garbage) is
//! first cut at its newline and then read by the general path
//! ([`Ingest::process_json_line`]), which falls back to a full JSON parse.

use std::collections::HashMap;

use memchr::memchr;
use rustc_hash::FxBuildHasher;

use super::json_parse::{parse, Value};
use super::json_scan::object_end;
use super::json_values::{parse_date_time, parse_go_float, parse_time, parse_time_rest};
use super::routing::Route;
use super::routing::MAX_CACHED_ROUTES;
use super::{Ingest, MAX_LINE_BYTES};
use crate::{MetricKind, TagSet, ValueKind};

const POINT_PREFIX: &[u8] = br#"{"metric":""#;
const POINT_MIDDLE: &[u8] = br#"","type":"Point","data":{"time":""#;
const VALUE_KEY: &[u8] = br#"","value":"#;
const TAGS_KEY: &[u8] = br#","tags":"#;
const METADATA_KEY: &[u8] = br#","metadata":"#;

/// Where a `Point` line's parts are, as found by [`point_at`].
struct Point {
    name_end: usize,
    time_us: i64,
    value: i64,
    tags_start: usize,
    /// Just past the tags object (or `null`).
    tags_end: usize,
    /// Set when the tags are the previous line's, whose id is known.
    tags_id: Option<u32>,
}

/// What the JSON hot path remembers between lines.
///
/// k6 writes the nine `http_req*` samples of a request one after another
/// with the same tags, so three lines in four repeat the previous line's
/// tags object byte for byte (76% in the bench data). Such a line skips the
/// tags scan (the same bytes end at the same place) and the hashing of the
/// tags: its route key is the tags' id and the metric name, a short key.
/// Times likewise repeat their minute, whose seconds are remembered.
#[derive(Default)]
pub(super) struct JsonCache {
    /// The previous hot-path line's tags object (exactly as [`object_end`]
    /// delimited it, or `null`) and its id.
    last_tags: Vec<u8>,
    last_tags_id: u32,
    /// Ids of raw tags objects; emptied, with the routes that use the ids,
    /// when full.
    tag_ids: HashMap<Box<[u8]>, u32, FxBuildHasher>,
    /// `YYYY-MM-DDTHH:MM` of the previous time, and its seconds since the
    /// epoch (all zero bytes, which no time matches, until then).
    minute: [u8; 16],
    minute_seconds: i64,
}

impl JsonCache {
    /// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS` at the start of
    /// `time`, from the remembered minute when it matches.
    #[inline]
    fn seconds(&mut self, time: &[u8]) -> Option<i64> {
        let minute = time.get(..16)?;
        if minute == self.minute && time.get(16) == Some(&b':') {
            let second = two_digits(time.get(17..19)?)?;
            return (second <= 59).then_some(self.minute_seconds + second);
        }
        let seconds = parse_date_time(time)?;
        self.minute.copy_from_slice(minute);
        self.minute_seconds = seconds - two_digits(&time[17..19])?;
        Some(seconds)
    }
}

#[inline(always)]
fn two_digits(text: &[u8]) -> Option<i64> {
    let (tens, ones) = (text[0].wrapping_sub(b'0'), text[1].wrapping_sub(b'0'));
    // Lazily: for bytes that are not digits the sum would overflow.
    (tens <= 9 && ones <= 9).then(|| i64::from(tens * 10 + ones))
}

/// Reads a `Point` line in k6's layout at the start of `text`, up to the
/// end of its tags; None if it is not one. Never reads past a newline.
#[inline]
fn point_at(text: &[u8], cache: &mut JsonCache) -> Option<Point> {
    if !text.starts_with(POINT_PREFIX) {
        return None;
    }
    let name_start = POINT_PREFIX.len();
    let name_end = name_start + memchr(b'"', text.get(name_start..)?)?;
    // Escapes and control characters (a newline!) take the general path.
    if text[name_start..name_end].iter().any(|&byte| byte < 0x20 || byte == b'\\') {
        return None;
    }
    let time_start = name_end + POINT_MIDDLE.len();
    if text.get(name_end..time_start)? != POINT_MIDDLE {
        return None;
    }
    let time_end = time_start + memchr(b'"', text.get(time_start..)?)?;
    let time = &text[time_start..time_end];
    let time_us = parse_time_rest(cache.seconds(time)?, &time[19..])?;
    let value_start = time_end + VALUE_KEY.len();
    if text.get(time_end..value_start)? != VALUE_KEY {
        return None;
    }
    let value_len = text
        .get(value_start..)?
        .iter()
        .position(|byte| !matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))?;
    let value = parse_go_float(&text[value_start..value_start + value_len])?;
    let tags_start = value_start + value_len + TAGS_KEY.len();
    if text.get(value_start + value_len..tags_start)? != TAGS_KEY {
        return None;
    }
    let last = tags_start + cache.last_tags.len();
    if !cache.last_tags.is_empty() && text.get(tags_start..last) == Some(&cache.last_tags) {
        return Some(Point { name_end, time_us, value, tags_start, tags_end: last, tags_id: Some(cache.last_tags_id) });
    }
    let tags_end = match text.get(tags_start)? {
        b'{' => object_end(text, tags_start)?,
        b'n' if text.get(tags_start..tags_start + 4)? == b"null" => tags_start + 4,
        _ => return None,
    };
    Some(Point { name_end, time_us, value, tags_start, tags_end, tags_id: None })
}

impl Ingest {
    /// Processes every complete line in `data` and returns how many bytes
    /// that consumed; the rest is an incomplete line.
    pub(super) fn process_json_lines(&mut self, data: &[u8]) -> usize {
        let mut start = 0;
        loop {
            let rest = &data[start..];
            // The hot path: a usual `Point` line, its newline right after.
            if let Some(point) = point_at(rest, &mut self.json) {
                if rest.get(point.tags_end..point.tags_end + 3) == Some(b"}}\n") && point.tags_end < MAX_LINE_BYTES {
                    let accepted = self.record_point(rest, &point);
                    self.count_rejected(!accepted);
                    start += point.tags_end + 3;
                    continue;
                }
            }
            let Some(newline) = memchr(b'\n', rest) else { return start };
            let accepted = self.process_json_line(&rest[..newline]);
            self.count_rejected(!accepted);
            start += newline + 1;
        }
    }

    /// Records a point found by [`point_at`] in `line`; false if its name or
    /// tags turn out unusable.
    #[inline]
    fn record_point(&mut self, line: &[u8], point: &Point) -> bool {
        let name = &line[POINT_PREFIX.len()..point.name_end];
        let tags = &line[point.tags_start..point.tags_end];
        let tags_id = match point.tags_id {
            Some(id) => id,
            None => {
                let id = self.tags_id(tags);
                self.json.last_tags.clear();
                self.json.last_tags.extend_from_slice(tags);
                self.json.last_tags_id = id;
                id
            }
        };
        match self.json_route(name, tags_id, tags) {
            Some(route) => {
                self.record(route, point.value, point.time_us);
                true
            }
            None => false,
        }
    }

    /// The id of a raw tags object, new ones numbered in order.
    #[inline]
    fn tags_id(&mut self, tags: &[u8]) -> u32 {
        if let Some(&id) = self.json.tag_ids.get(tags) {
            return id;
        }
        if self.json.tag_ids.len() >= MAX_CACHED_ROUTES {
            // Ids are about to be reused: so must no route keyed by one.
            self.json.tag_ids.clear();
            self.json.last_tags.clear();
            self.routes.clear();
            self.route_selectors.clear();
        }
        let id = self.json.tag_ids.len() as u32;
        self.json.tag_ids.insert(tags.into(), id);
        id
    }

    /// The route of a metric name (unescaped) and tags, from the cache or
    /// made now. The key is the tags' id and the name: short, so cheap to
    /// hash, and unambiguous as the id has a fixed length.
    #[inline]
    fn json_route(&mut self, name: &[u8], tags_id: u32, tags: &[u8]) -> Option<Route> {
        self.route_key.clear();
        self.route_key.extend_from_slice(&tags_id.to_le_bytes());
        self.route_key.extend_from_slice(name);
        match self.routes.get(self.route_key.as_slice()) {
            Some(route) => Some(*route),
            None => self.new_json_route(name, tags),
        }
    }

    /// Resolves a new route key: unescapes the tags into a [`TagSet`], where
    /// an empty value is an absent tag (k6 writes `"group":""` outside groups).
    #[cold]
    fn new_json_route(&mut self, name: &[u8], tags: &[u8]) -> Option<Route> {
        let name = std::str::from_utf8(name).ok()?;
        let mut all_tags = TagSet::new();
        if tags != b"null" {
            let Value::Object(members, _) = parse(tags)? else { return None };
            for (key, value) in members {
                let Value::String(value) = value else { return None };
                if !key.is_empty() && !value.is_empty() {
                    all_tags.insert(key.into_owned(), value.into_owned());
                }
            }
        }
        self.cache_route(name, &all_tags)
    }

    /// One complete line off the hot path: blank, with metadata or `\r`, a
    /// `Metric` line, another layout or garbage. False if rejected.
    pub(super) fn process_json_line(&mut self, line: &[u8]) -> bool {
        if line.len() > MAX_LINE_BYTES {
            return false;
        }
        let line = line.trim_ascii();
        if line.is_empty() {
            return true;
        }
        if let Some(point) = point_at(line, &mut self.json) {
            if point_tail_is_valid(&line[point.tags_end..]) {
                return self.record_point(line, &point);
            }
        }
        self.process_json_value(line)
    }

    /// The general path: any valid JSON object of k6's two kinds of line.
    #[cold]
    fn process_json_value(&mut self, line: &[u8]) -> bool {
        let Some(value) = parse(line) else { return false };
        let data = value.get("data");
        match value.get("type").and_then(Value::as_str) {
            Some("Point") => {
                let Some(name) = value.get("metric").and_then(Value::as_str) else { return false };
                let Some(data) = data else { return false };
                let Some(time_us) = data.get("time").and_then(Value::as_str).and_then(|t| parse_time(t.as_bytes()))
                else {
                    return false;
                };
                let Some(Value::Number(number)) = data.get("value") else { return false };
                let Some(value) = parse_go_float(number) else { return false };
                let tags: &[u8] = match data.get("tags") {
                    Some(Value::Object(_, raw)) => raw,
                    Some(Value::Null) | None => b"null",
                    Some(_) => return false,
                };
                let tags_id = self.tags_id(tags);
                match self.json_route(name.as_bytes(), tags_id, tags) {
                    Some(route) => {
                        self.record(route, value, time_us);
                        true
                    }
                    None => false,
                }
            }
            Some("Metric") => {
                let Some(data) = data else { return false };
                let name = data.get("name").or_else(|| value.get("metric")).and_then(Value::as_str);
                let kind = match data.get("type").and_then(Value::as_str) {
                    Some("counter") => MetricKind::Counter,
                    Some("gauge") => MetricKind::Gauge,
                    Some("rate") => MetricKind::Rate,
                    Some("trend") => MetricKind::Trend,
                    _ => return false,
                };
                let contains = match data.get("contains").and_then(Value::as_str) {
                    Some("default") | None => ValueKind::Default,
                    Some("time") => ValueKind::Time,
                    Some("data") => ValueKind::Data,
                    Some(_) => return false,
                };
                match name {
                    Some(name) if !name.is_empty() => {
                        self.set_metric_kind(name, kind, contains);
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

/// Whether what follows a point's tags closes the line: `}}`, or a flat
/// `metadata` object (ignored, not a tag) and then `}}`.
fn point_tail_is_valid(tail: &[u8]) -> bool {
    if tail == b"}}" {
        return true;
    }
    let Some(metadata) = tail.strip_prefix(METADATA_KEY) else { return false };
    if metadata.first() != Some(&b'{') {
        return false;
    }
    object_end(metadata, 0).is_some_and(|end| &metadata[end..] == b"}}")
        && parse(&metadata[..metadata.len() - 2]).is_some()
}
