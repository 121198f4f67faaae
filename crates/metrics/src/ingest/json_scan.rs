//! Where a flat JSON object (string values only, as k6's `tags` and
//! `metadata` are) ends: the first `}` outside strings, found 8 bytes at a
//! time (SWAR: "SIMD within a register", portable and safe). This is the
//! only part of a JSON line that must be read with its quoting in mind, and
//! the longest.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` that equals `byte`, exactly (no
/// false positives from borrows, unlike the shorter `haszero` trick).
#[inline(always)]
fn byte_mask(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !(((x & !HIGH_BITS) + !HIGH_BITS) | x) & HIGH_BITS
}

/// Just past the `}` closing the flat object (string values) that starts
/// with the `{` at `start`: the first `}` outside strings. None at a newline
/// or the end of `text` first. Words without a backslash are done with masks
/// (quote parity says which bytes are inside strings); from a backslash on,
/// byte by byte.
#[inline]
pub(super) fn object_end(text: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    let mut in_string = false;
    while let Some(chunk) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        if byte_mask(word, b'\\') != 0 {
            break;
        }
        let quotes = byte_mask(word, b'"');
        let mut inside = quotes;
        inside ^= inside << 8;
        inside ^= inside << 16;
        inside ^= inside << 32;
        if in_string {
            inside ^= HIGH_BITS;
        }
        let newlines = byte_mask(word, b'\n');
        let braces = byte_mask(word, b'}') & !inside;
        if braces != 0 {
            let brace = braces.trailing_zeros();
            if newlines & ((1u64 << brace) - 1) != 0 {
                return None;
            }
            return Some(at + (brace / 8) as usize + 1);
        }
        if newlines != 0 {
            return None;
        }
        in_string = inside >> 63 != 0;
        at += 8;
    }
    while let Some(&byte) = text.get(at) {
        match byte {
            b'\n' => return None,
            b'\\' if in_string => at += 1,
            b'"' => in_string = !in_string,
            b'}' if !in_string => return Some(at + 1),
            _ => {}
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ends_skip_strings_and_escapes() {
        let cases: [(&[u8], Option<usize>); 6] = [
            (br#"{"a":"b"}}}"#, Some(9)),
            (br#"{"name":"a,b\"c}","long_key_here":"x"}}"#, Some(38)),
            (br#"{"k":"}}}}}}}}}}}}}}}}","v":"w"}"#, Some(32)),
            (br#"{"k":"back\\"}"#, Some(14)),
            (b"{\"k\":\"a\nb\"}", None),
            (br#"{"k":"unterminated}"#, None),
        ];
        for (text, end) in cases {
            assert_eq!(object_end(text, 0), end, "{}", String::from_utf8_lossy(text));
        }
    }
}
