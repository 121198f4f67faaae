//! A small, strict JSON reader for the slow paths of the JSON ingest: lines
//! off k6's usual layout (fields in another order, `Metric` lines) and the
//! first sight of a `tags` object, whose strings must be unescaped to build
//! the canonical [`crate::TagSet`].
//!
//! The hot path never builds values; it only finds where the tags object
//! ends ([`object_end`]). Everything here is bounded: nesting is limited and
//! input is at most one line, so bad input is rejected, never a panic.

use std::borrow::Cow;

/// Deeper nesting than k6 ever writes is taken for garbage.
const MAX_DEPTH: u32 = 16;

pub(super) enum Value<'a> {
    Null,
    Bool,
    /// The number's text, checked against JSON's grammar only when read.
    Number(&'a [u8]),
    String(Cow<'a, str>),
    Array,
    /// Members in order, and the object's raw bytes (braces included): the
    /// route key of a `tags` object.
    Object(Vec<(Cow<'a, str>, Value<'a>)>, &'a [u8]),
}

impl<'a> Value<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(members, _) => members.iter().find(|(name, _)| name == key).map(|(_, value)| value),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }
}

/// Parses `text` as exactly one JSON value (whitespace around it allowed).
pub(super) fn parse(text: &[u8]) -> Option<Value<'_>> {
    let mut reader = Reader { text, at: 0 };
    let value = reader.value(0)?;
    reader.skip_whitespace();
    (reader.at == text.len()).then_some(value)
}

struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn skip_whitespace(&mut self) {
        while self.text.get(self.at).is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.text.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    fn literal(&mut self, word: &[u8], value: Value<'a>) -> Option<Value<'a>> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            value
        })
    }

    fn value(&mut self, depth: u32) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_whitespace();
        match *self.text.get(self.at)? {
            b'n' => self.literal(b"null", Value::Null),
            b't' => self.literal(b"true", Value::Bool),
            b'f' => self.literal(b"false", Value::Bool),
            b'"' => self.string().map(Value::String),
            b'[' => {
                self.at += 1;
                if !self.eat(b']') {
                    loop {
                        self.value(depth + 1)?;
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Value::Array)
            }
            b'{' => {
                let start = self.at;
                self.at += 1;
                let mut members = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.skip_whitespace();
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        members.push((key, self.value(depth + 1)?));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Value::Object(members, &self.text[start..self.at]))
            }
            _ => {
                let len = self.text[self.at..]
                    .iter()
                    .position(|byte| !matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .unwrap_or(self.text.len() - self.at);
                let number = &self.text[self.at..self.at + len];
                self.at += len;
                (len > 0).then_some(Value::Number(number))
            }
        }
    }

    /// A string starting at the current byte (its opening quote).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        if self.text.get(self.at) != Some(&b'"') {
            return None;
        }
        let end = string_end(self.text, self.at + 1)?;
        let content = unescape(&self.text[self.at + 1..end])?;
        self.at = end + 1;
        Some(content)
    }
}

/// The index of the quote closing the string whose content starts at
/// `start`, skipping escaped quotes.
pub(super) fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        let next = at + memchr::memchr2(b'"', b'\\', &text[at..])?;
        if text[next] == b'"' {
            return Some(next);
        }
        at = next + 2;
        if at > text.len() {
            return None;
        }
    }
}

/// The content of a JSON string (between its quotes), unescaped. None on a
/// bad escape, a raw control character or invalid UTF-8.
pub(super) fn unescape(raw: &[u8]) -> Option<Cow<'_, str>> {
    if raw.iter().any(|&byte| byte < 0x20) {
        return None;
    }
    if memchr::memchr(b'\\', raw).is_none() {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(backslash) = memchr::memchr(b'\\', rest) {
        out.push_str(std::str::from_utf8(&rest[..backslash]).ok()?);
        let escape = *rest.get(backslash + 1)?;
        rest = &rest[backslash + 2..];
        out.push(match escape {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = hex4(rest)?;
                rest = &rest[4..];
                if (0xD800..0xDC00).contains(&high) {
                    // A surrogate pair: the low half must follow.
                    let low = rest.strip_prefix(b"\\u").and_then(hex4).filter(|low| (0xDC00..0xE000).contains(low))?;
                    rest = &rest[6..];
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    char::from_u32(high)?
                }
            }
            _ => return None,
        });
    }
    out.push_str(std::str::from_utf8(rest).ok()?);
    Some(Cow::Owned(out))
}

fn hex4(text: &[u8]) -> Option<u32> {
    let digits = std::str::from_utf8(text.get(..4)?).ok()?;
    if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_like_go_writes() {
        assert_eq!(unescape(br#"a,b\"c"#).as_deref(), Some("a,b\"c"));
        assert_eq!(
            unescape(br#"back\\slash \u003cb\u003e \u00e9 \ud83d\ude00 {}"#).as_deref(),
            Some("back\\slash <b> é 😀 {}")
        );
        assert_eq!(unescape(br"\n\t\/").as_deref(), Some("\n\t/"));
        for bad in [&br"\x"[..], br"\u12", br"\ud83d", br"\ud83dx", b"a\nb", br"tail\"] {
            assert!(unescape(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parses_whole_values_only() {
        let value = parse(br#" {"a":[1,{"b":null}],"c":"d","e":true} "#).unwrap();
        assert_eq!(value.get("c").and_then(Value::as_str), Some("d"));
        assert!(matches!(value.get("a"), Some(Value::Array)));
        for bad in [&br#"{"a":1"#[..], br#"{"a":1}}"#, br#"{"a" 1}"#, br#"{a:1}"#, b"[", b"", br#"{"a":1,}"#] {
            assert!(parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(deep.as_bytes()).is_none(), "too deep");
    }
}
