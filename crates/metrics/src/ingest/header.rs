//! The column layout of k6's CSV output, learned from its header line.
//!
//! Which columns exist depends on k6's `--system-tags`; the header names
//! them. When the columns are in k6's own order (name, timestamp, value,
//! tags, `extra_tags`, maybe `metadata`), the layout is "known" and lines
//! take the hot path, which needs only a few comma positions.

use super::quoting::{unquoted, well_quoted, Span};

pub(super) enum Header {
    /// The first line has not been read yet.
    Pending,
    Valid(Layout),
    /// The header lacks a required column: every line is rejected.
    Invalid,
}

/// Where things are in a line, learned from the header.
pub(super) struct Layout {
    pub(super) columns: usize,
    pub(super) name: usize,
    pub(super) timestamp: usize,
    pub(super) value: usize,
    /// Tag columns and `extra_tags`, in column order.
    pub(super) tag_columns: Vec<(usize, TagColumn)>,
    /// First and last column of `tag_columns` when they are adjacent (always,
    /// with k6's layout): the route key is then one slice of the line.
    pub(super) adjacent_tags: Option<(usize, usize)>,
    /// Set when the columns are in k6's own order, which the hot path reads.
    pub(super) known: Option<KnownLayout>,
}

/// k6's column order: `metric_name,timestamp,metric_value`, the tag columns
/// and `extra_tags`, and possibly `metadata` last.
#[derive(Clone, Copy)]
pub(super) struct KnownLayout {
    pub(super) columns: u32,
    pub(super) trailing_metadata: bool,
}

pub(super) enum TagColumn {
    Named(String),
    Extra,
}

impl Layout {
    pub(super) fn from_header(record: &[u8], spans: &[Span]) -> Option<Layout> {
        if !spans.iter().all(|span| well_quoted(span.of(record))) {
            return None;
        }
        let names: Vec<String> =
            spans.iter().map(|span| String::from_utf8_lossy(&unquoted(span.of(record))).into_owned()).collect();
        let position = |wanted: &str| names.iter().position(|name| name == wanted);
        let mut tag_columns = Vec::new();
        for (column, name) in names.iter().enumerate() {
            match name.as_str() {
                "metric_name" | "timestamp" | "metric_value" | "metadata" => {}
                "extra_tags" => tag_columns.push((column, TagColumn::Extra)),
                _ => tag_columns.push((column, TagColumn::Named(name.clone()))),
            }
        }
        let adjacent_tags = match (tag_columns.first(), tag_columns.last()) {
            (Some(&(first, _)), Some(&(last, _))) if last - first + 1 == tag_columns.len() => Some((first, last)),
            _ => None,
        };
        let layout = Layout {
            columns: names.len(),
            name: position("metric_name")?,
            timestamp: position("timestamp")?,
            value: position("metric_value")?,
            tag_columns,
            adjacent_tags,
            known: None,
        };
        let trailing_metadata = names.last().is_some_and(|name| name == "metadata");
        let tags_end = if trailing_metadata { names.len() - 1 } else { names.len() };
        let known = (layout.name, layout.timestamp, layout.value) == (0, 1, 2)
            && layout.adjacent_tags.is_some_and(|(first, last)| first == 3 && last + 1 == tags_end)
            && u32::try_from(names.len()).is_ok();
        let known = known.then_some(KnownLayout { columns: names.len() as u32, trailing_metadata });
        Some(Layout { known, ..layout })
    }
}
