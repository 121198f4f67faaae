//! Numbers in k6's CSV output: microsecond timestamps and values, parsed
//! straight into integers.
//!
//! Values become fixed-point millionths ([`VALUE_SCALE`]) without a float in
//! between when k6 printed them its usual way (six decimals), which is exact
//! and fast (8 digits at a time, the SWAR digit trick); anything else falls
//! back to `f64`.

use crate::aggregate::to_fixed;
use crate::VALUE_SCALE;

/// The value of 8 ASCII digits read as one little-endian word, without a
/// loop: pairs, then quads, then the whole (the usual SWAR digit trick).
#[inline(always)]
fn eight_digits(word: u64) -> Option<u64> {
    let digits = word.wrapping_sub(0x3030_3030_3030_3030);
    // A byte below '0' borrows into its high nibble, one above '9' carries
    // into it once 6 is added.
    if (digits | digits.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0 != 0 {
        return None;
    }
    let pairs = (digits.wrapping_mul(10) + (digits >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((quads.wrapping_mul(10_000) + (quads >> 32)) & 0xFFFF_FFFF)
}

#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Digits only, as a number; at most 18 so it cannot overflow.
#[inline]
fn parse_digits(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in text {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + i64::from(digit);
    }
    Some(value)
}

/// Microseconds since the epoch: plain decimal digits (16 of them until
/// 2286, read as two words).
#[inline]
pub(super) fn parse_timestamp(text: &[u8]) -> Option<i64> {
    if text.len() == 16 {
        let high = eight_digits(word_at(text, 0))?;
        let low = eight_digits(word_at(text, 8))?;
        return Some((high * 100_000_000 + low) as i64);
    }
    parse_digits(text)
}

/// A value in millionths. k6 prints values with Go's `%f`, exactly six
/// decimals, which is read digit by digit without a float in between, so it
/// is exact; anything else (exponents, fewer decimals) goes through `f64`.
#[inline]
pub(crate) fn parse_fixed(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let len = digits.len();
    // Up to 12 integer digits keep the 18-digit result within an i64.
    if (8..=19).contains(&len) && digits[len - 7] == b'.' {
        // The last 8 bytes are an integer digit, the point and the six
        // decimals: with the first two made '0', one word holds the decimals.
        let decimals = eight_digits((word_at(digits, len - 8) & !0xFFFF) | 0x3030);
        let integer = parse_digits(&digits[..len - 7]);
        if let (Some(decimals), Some(integer)) = (decimals, integer) {
            let value = integer * VALUE_SCALE + decimals as i64;
            return Some(if negative { -value } else { value });
        }
    }
    parse_fixed_slow(text)
}

#[cold]
fn parse_fixed_slow(text: &[u8]) -> Option<i64> {
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    // Outside this range the millionths do not fit in an i64.
    (value.is_finite() && value.abs() < 9.0e12).then(|| to_fixed(value))
}

/// A value in millionths as a whole count (VUs, bytes), rounded, never negative.
pub(super) fn whole_count(value: i64) -> u64 {
    ((value + VALUE_SCALE / 2) / VALUE_SCALE).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_parse_is_exact_for_k6_values() {
        assert_eq!(parse_fixed(b"1.000000"), Some(1_000_000));
        assert_eq!(parse_fixed(b"0.961246"), Some(961_246));
        assert_eq!(parse_fixed(b"-3.500000"), Some(-3_500_000));
        assert_eq!(parse_fixed(b"123456789012.123456"), Some(123_456_789_012_123_456));
        // Fallbacks: exponents, fewer decimals, integers.
        assert_eq!(parse_fixed(b"1.5e3"), Some(1_500_000_000));
        assert_eq!(parse_fixed(b"2.5"), Some(2_500_000));
        assert_eq!(parse_fixed(b"7"), Some(7_000_000));
        for bad in [&b""[..], b"abc", b"1.00000x", b"NaN", b"+Inf", b"1e300", b"-"] {
            assert_eq!(parse_fixed(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_timestamp(b"1795312265501730"), Some(1_795_312_265_501_730));
        assert_eq!(parse_timestamp(b""), None);
        assert_eq!(parse_timestamp(b"17953x"), None);
        assert_eq!(parse_timestamp(b"-5"), None);
        assert_eq!(parse_timestamp(b"1234567890123456789"), None);
    }

    #[test]
    fn whole_counts_round_and_never_go_negative() {
        assert_eq!(whole_count(4_000_000), 4);
        assert_eq!(whole_count(2_600_000), 3);
        assert_eq!(whole_count(-5_000_000), 0);
    }
}
