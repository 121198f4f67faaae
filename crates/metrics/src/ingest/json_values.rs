//! Numbers in k6's JSON output: RFC 3339 times and Go-formatted floats,
//! both read exactly, without a float in between.
//!
//! Times are Go's `RFC3339Nano`: the fraction has its trailing zeros trimmed
//! (so it is 0–9 digits long, and absent when zero) and the zone is `Z` or
//! `±hh:mm`. They become microseconds since the epoch, truncated as Go's
//! `UnixMicro` truncates.
//!
//! Values are Go's shortest round-trip form (`strconv.FormatFloat(v, 'f' or
//! 'e', -1, 64)`): `1`, `0.961246`, `1.23456789`, `1e-7`, `1.5e+21`. The
//! decimal text itself is rounded to millionths, half away from zero, by
//! moving the decimal point (no `f64`), so the result does not depend on
//! float rounding.

use crate::VALUE_SCALE;

#[inline(always)]
fn digit(byte: u8) -> Option<i64> {
    let digit = byte.wrapping_sub(b'0');
    (digit <= 9).then_some(i64::from(digit))
}

#[inline(always)]
fn two_digits(text: &[u8], at: usize) -> Option<i64> {
    Some(digit(text[at])? * 10 + digit(text[at + 1])?)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The whole seconds of `YYYY-MM-DDTHH:MM:SS` (19 bytes), in UTC as written.
#[inline]
pub(super) fn parse_date_time(text: &[u8]) -> Option<i64> {
    if text.len() < 19 || text[4] != b'-' || text[7] != b'-' || text[10] != b'T' || text[13] != b':' || text[16] != b':'
    {
        return None;
    }
    let year = two_digits(text, 0)? * 100 + two_digits(text, 2)?;
    let (month, day) = (two_digits(text, 5)?, two_digits(text, 8)?);
    let (hour, minute, second) = (two_digits(text, 11)?, two_digits(text, 14)?, two_digits(text, 17)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Microseconds since the epoch of an RFC 3339 time, given the seconds of
/// its first 19 bytes (see [`parse_date_time`]); the rest is the optional
/// fraction and the zone.
#[inline]
pub(super) fn parse_time_rest(seconds: i64, rest: &[u8]) -> Option<i64> {
    let mut nanos = 0;
    let mut at = 0;
    if rest.first() == Some(&b'.') {
        at = 1;
        let mut scale = 100_000_000;
        while let Some(value) = rest.get(at).and_then(|&byte| digit(byte)) {
            if scale == 0 {
                return None;
            }
            nanos += value * scale;
            scale /= 10;
            at += 1;
        }
        if at == 1 {
            return None;
        }
    }
    let offset = match &rest[at..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] if zone.len() == 5 && zone[2] == b':' => {
            let (hours, minutes) = (two_digits(zone, 0)?, two_digits(zone, 3)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                offset
            } else {
                -offset
            }
        }
        _ => return None,
    };
    // Truncated to whole microseconds (`nanos` is never negative), as Go's
    // `UnixMicro`.
    Some((seconds - offset) * 1_000_000 + nanos / 1000)
}

/// Microseconds since the epoch of an RFC 3339 time as Go writes it.
pub(super) fn parse_time(text: &[u8]) -> Option<i64> {
    parse_time_rest(parse_date_time(text)?, &text[19..])
}

/// The length of the run of ASCII digits at the start of `text`.
#[inline(always)]
fn digits_len(text: &[u8]) -> usize {
    text.iter().position(|byte| !byte.is_ascii_digit()).unwrap_or(text.len())
}

/// A JSON number in millionths, the decimal text rounded half away from
/// zero. None for anything but JSON's number grammar, or past what an `i64`
/// of millionths holds (about ±9.2e12).
#[inline]
pub(super) fn parse_go_float(text: &[u8]) -> Option<i64> {
    let (negative, rest) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let int_len = digits_len(rest);
    if int_len == 0 || (int_len > 1 && rest[0] == b'0') {
        return None;
    }
    let integer = &rest[..int_len];
    let mut end = int_len;
    let mut fraction: &[u8] = &[];
    if rest.get(end) == Some(&b'.') {
        let len = digits_len(&rest[end + 1..]);
        if len == 0 {
            return None;
        }
        fraction = &rest[end + 1..end + 1 + len];
        end += 1 + len;
    }
    let magnitude = if end == rest.len() && int_len <= 12 {
        // The usual form: plain decimals, read as integers.
        let mut value = integer.iter().fold(0i64, |value, &byte| value * 10 + i64::from(byte - b'0'));
        let mut scale = VALUE_SCALE;
        for &byte in fraction.iter().take(6) {
            scale /= 10;
            value = value * 10 + i64::from(byte - b'0');
        }
        value *= scale;
        if fraction.get(6).is_some_and(|&byte| byte >= b'5') {
            value += 1;
        }
        value
    } else {
        general(integer, fraction, &rest[end..])?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// The magnitude of `integer.fraction` times 10 to the exponent in
/// `exponent` (empty, or `e`/`E`, an optional sign and digits), in
/// millionths.
#[cold]
fn general(integer: &[u8], fraction: &[u8], exponent: &[u8]) -> Option<i64> {
    let exponent = match exponent {
        [] => b"0",
        [b'e' | b'E', rest @ ..] => rest,
        _ => return None,
    };
    let (negative, digits) = match exponent {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, exponent),
    };
    if digits.is_empty() || digits_len(digits) != digits.len() {
        return None;
    }
    let power = digits.iter().fold(0i64, |power, &byte| (power * 10 + i64::from(byte - b'0')).min(1 << 20));
    let power = if negative { -power } else { power };
    // Digit `i` of integer ++ fraction; the decimal point moves to after
    // `integer.len() + power` of them, and six more make millionths.
    let nth = |i: i64| -> i64 {
        let i = i as usize;
        let byte = integer.get(i).or_else(|| fraction.get(i - integer.len())).copied().unwrap_or(b'0');
        i64::from(byte - b'0')
    };
    let kept = integer.len() as i64 + power + 6;
    if kept < 0 {
        return Some(0);
    }
    if kept > 400 {
        return (integer.iter().chain(fraction).all(|&byte| byte == b'0')).then_some(0);
    }
    let mut value: i64 = 0;
    for i in 0..kept {
        value = value.checked_mul(10)?.checked_add(nth(i))?;
    }
    if nth(kept) >= 5 {
        value = value.checked_add(1)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_any_fraction_and_zone() {
        let base = 1_795_317_688_000_000; // 2026-11-22T03:21:28Z
        assert_eq!(parse_time(b"2026-11-22T03:21:28Z"), Some(base));
        assert_eq!(parse_time(b"2026-11-22T03:21:28.065004739Z"), Some(base + 65_004));
        assert_eq!(parse_time(b"2026-11-22T03:21:28.5Z"), Some(base + 500_000));
        assert_eq!(parse_time(b"2026-11-22T03:21:28.0000019Z"), Some(base + 1));
        assert_eq!(parse_time(b"2026-11-22T05:21:28.5+02:00"), Some(base + 500_000));
        assert_eq!(parse_time(b"2026-11-21T22:51:28-04:30"), Some(base));
        assert_eq!(parse_time(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time(b"2000-03-01T00:00:00Z"), Some(951_868_800_000_000));
        for bad in [
            &b""[..],
            b"2026-11-22T03:21:28",
            b"2026-11-22T03:21:28.Z",
            b"2026-11-22T03:21:28.1234567890Z",
            b"2026-11-22 03:21:28Z",
            b"2026-13-22T03:21:28Z",
            b"2026-11-22T03:21:28+0200",
            b"2026-11-22T03:21:28Zx",
            b"2026-1x-22T03:21:28Z",
        ] {
            assert_eq!(parse_time(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn go_floats_round_half_away_from_zero() {
        assert_eq!(parse_go_float(b"1"), Some(1_000_000));
        assert_eq!(parse_go_float(b"0"), Some(0));
        assert_eq!(parse_go_float(b"0.961246"), Some(961_246));
        assert_eq!(parse_go_float(b"1.23456789"), Some(1_234_568));
        assert_eq!(parse_go_float(b"1.2345645"), Some(1_234_565));
        assert_eq!(parse_go_float(b"-1.2345645"), Some(-1_234_565));
        assert_eq!(parse_go_float(b"-0.0000004"), Some(0));
        assert_eq!(parse_go_float(b"2.5"), Some(2_500_000));
        assert_eq!(parse_go_float(b"123456789012.123456"), Some(123_456_789_012_123_456));
        assert_eq!(parse_go_float(b"1e-7"), Some(0));
        assert_eq!(parse_go_float(b"5e-7"), Some(1));
        assert_eq!(parse_go_float(b"-5e-7"), Some(-1));
        assert_eq!(parse_go_float(b"1.5e-6"), Some(2));
        assert_eq!(parse_go_float(b"1.5e+3"), Some(1_500_000_000));
        assert_eq!(parse_go_float(b"1E2"), Some(100_000_000));
        assert_eq!(parse_go_float(b"1234567890123"), Some(1_234_567_890_123_000_000));
        assert_eq!(parse_go_float(b"9e12"), Some(9_000_000_000_000_000_000));
        for bad in [
            &b""[..],
            b"-",
            b"01",
            b"1.",
            b".5",
            b"1e",
            b"1e+",
            b"1.5e+21",
            b"1e400",
            b"12345678901234",
            b"NaN",
            b"1,",
            b"+1",
        ] {
            assert_eq!(parse_go_float(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
