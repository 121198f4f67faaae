//! CSV quoting the way k6 writes it (Go's `encoding/csv`): fields are
//! quoted only when needed, `""` inside quotes is a quote.
//!
//! The line scanner splits at commas outside quotes without checking the
//! quoting itself; these functions check and undo it, on the slow paths
//! only (new routes, the header, records with quoted newlines).

use memchr::memchr;

/// Raw field bounds within a record, quotes included.
#[derive(Clone, Copy)]
pub(super) struct Span {
    pub(super) start: u32,
    pub(super) end: u32,
}

impl Span {
    pub(super) fn of(self, record: &[u8]) -> &[u8] {
        &record[self.start as usize..self.end as usize]
    }
}

pub(super) fn count_quotes(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'"', bytes).count()
}

/// Whether a raw field is quoted the way Go's `encoding/csv` reads it: no
/// quote at all, or a quote at each end with only doubled quotes between.
pub(super) fn well_quoted(field: &[u8]) -> bool {
    match field {
        [b'"', inner @ .., b'"'] => {
            let mut rest = inner;
            while let Some(quote) = memchr(b'"', rest) {
                if rest.get(quote + 1) != Some(&b'"') {
                    return false;
                }
                rest = &rest[quote + 2..];
            }
            true
        }
        _ => memchr(b'"', field).is_none(),
    }
}

/// Splits a record with quotes into raw field spans the way Go's
/// `encoding/csv` reads them: a field that starts with `"` is quoted, `""`
/// inside it is a quote, and it must close right before a comma or the end.
/// False on bad quoting.
pub(super) fn split_quoted_fields(record: &[u8], spans: &mut Vec<Span>) -> bool {
    spans.clear();
    if record.len() > u32::MAX as usize {
        return false;
    }
    let mut start = 0;
    loop {
        if record.get(start) == Some(&b'"') {
            let mut search = start + 1;
            let close = loop {
                let Some(quote) = memchr(b'"', &record[search..]) else { return false };
                let quote = search + quote;
                if record.get(quote + 1) == Some(&b'"') {
                    search = quote + 2;
                } else {
                    break quote;
                }
            };
            spans.push(Span { start: start as u32, end: close as u32 + 1 });
            match record.get(close + 1) {
                None => return true,
                Some(b',') => start = close + 2,
                Some(_) => return false,
            }
        } else {
            let end = memchr(b',', &record[start..]).map_or(record.len(), |comma| start + comma);
            if memchr(b'"', &record[start..end]).is_some() {
                return false;
            }
            spans.push(Span { start: start as u32, end: end as u32 });
            if end == record.len() {
                return true;
            }
            start = end + 1;
        }
    }
}

/// The content of a raw field: without its quotes, `""` turned into `"`.
pub(super) fn unquoted(field: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match field {
        [b'"', inner @ .., b'"'] => {
            if memchr(b'"', inner).is_none() {
                std::borrow::Cow::Borrowed(inner)
            } else {
                let mut content = Vec::with_capacity(inner.len());
                let mut rest = inner;
                while let Some(quote) = memchr(b'"', rest) {
                    // The splitter guarantees quotes inside come in pairs.
                    content.extend_from_slice(&rest[..=quote]);
                    rest = rest.get(quote + 2..).unwrap_or_default();
                }
                content.extend_from_slice(rest);
                std::borrow::Cow::Owned(content)
            }
        }
        _ => std::borrow::Cow::Borrowed(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields_like_go() {
        let mut spans = Vec::new();
        let record = br#"a,"b, c","say ""hi""",,"""""#;
        assert!(split_quoted_fields(record, &mut spans));
        let fields: Vec<Vec<u8>> = spans.iter().map(|span| unquoted(span.of(record)).into_owned()).collect();
        assert_eq!(fields, [&b"a"[..], b"b, c", b"say \"hi\"", b"", b"\""]);
        assert!(!split_quoted_fields(br#"a,"b"c,d"#, &mut spans), "text after a closing quote");
        assert!(!split_quoted_fields(br#"a,b"c,d"#, &mut spans), "bare quote");
        assert!(!split_quoted_fields(br#"a,"bc,d"#, &mut spans), "unclosed quote");
    }
}
