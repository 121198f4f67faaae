//! Unit formatting, the way k6's end-of-test summary prints values. Every
//! report that shows a number to people goes through here.
//!
//! - **Time** (values in milliseconds): `0s`, `512ns`, `512.3µs`, `12.34ms`,
//!   `1.23s`, `1m2.3s`, `1h2m3.4s`. Decimals are truncated (not rounded) to
//!   two (one above a minute) and trailing zeros dropped, as k6 does, so
//!   `9.00ms` prints `9ms`.
//! - **Data** (bytes): decimal SI as k6 (1 kB = 1000 B): `512 B`, `1.2 kB`,
//!   `157 MB`; one decimal below 10 of a unit, none above.
//! - **Rates**: a percentage truncated to two decimals, `99.87%`.
//! - **Plain numbers**: at most six decimals, trailing zeros dropped.

use loadgrid_metrics::{MetricKind, ValueKind};

/// Guards truncation against binary fractions just below a decimal one
/// (`12.34 × 100 = 1233.9999…`).
const TRUNC_EPSILON: f64 = 1e-9;

/// `value` with at most `decimals` decimals, rounded, trailing zeros and a
/// trailing point dropped: `2.50 → 2.5`, `3.000 → 3`.
pub fn decimal(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// Like [`decimal`], but truncated towards zero instead of rounded.
pub fn decimal_trunc(value: f64, decimals: usize) -> String {
    decimal(truncate(value, decimals), decimals)
}

fn truncate(value: f64, decimals: usize) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    let scaled = value.abs() * scale;
    (scaled + scaled * TRUNC_EPSILON).trunc().copysign(value) / scale
}

/// A duration given in milliseconds, as k6 prints time values.
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "-".to_owned();
    }
    if ms < 0.0 {
        return format!("-{}", duration_ms(-ms));
    }
    if ms == 0.0 {
        return "0s".to_owned();
    }
    if ms < 0.001 {
        return format!("{}ns", truncate(ms * 1e6, 0));
    }
    if ms < 1.0 {
        return format!("{}µs", decimal_trunc(ms * 1000.0, 2));
    }
    if ms < 1000.0 {
        return format!("{}ms", decimal_trunc(ms, 2));
    }
    let seconds_decimals = if ms > 60_000.0 { 1 } else { 2 };
    let seconds = format!("{}s", decimal_trunc((ms % 60_000.0) / 1000.0, seconds_decimals));
    let minutes = (ms / 60_000.0).trunc() as u64;
    if minutes == 0 {
        return seconds;
    }
    let hours = minutes / 60;
    let with_minutes = format!("{}m{seconds}", minutes % 60);
    if hours == 0 {
        with_minutes
    } else {
        format!("{hours}h{with_minutes}")
    }
}

/// A byte count in decimal SI units, as k6 prints data values.
pub fn bytes(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if !bytes.is_finite() {
        return "-".to_owned();
    }
    if bytes < 0.0 {
        return format!("-{}", self::bytes(-bytes));
    }
    if bytes < 10.0 {
        return format!("{} B", decimal(bytes, 2));
    }
    let mut exponent = 0;
    while exponent + 1 < UNITS.len() && bytes >= 1000f64.powi(exponent as i32 + 1) {
        exponent += 1;
    }
    let scaled = ((bytes / 1000f64.powi(exponent as i32)) * 10.0 + 0.5).floor() / 10.0;
    if scaled < 10.0 {
        format!("{scaled:.1} {}", UNITS[exponent])
    } else {
        format!("{scaled:.0} {}", UNITS[exponent])
    }
}

/// A share (0–1) as a percentage with two decimals, truncated: `99.87%`.
pub fn percent(rate: f64) -> String {
    if !rate.is_finite() {
        return "-".to_owned();
    }
    format!("{:.2}%", truncate(rate * 100.0, 2))
}

/// A plain number: at most six decimals, trailing zeros dropped.
pub fn number(value: f64) -> String {
    decimal(value, 6)
}

/// A value in the unit its metric measures: percentages for rates, then by
/// `contains`: time, data, or a plain number.
pub fn value(value: f64, kind: Option<MetricKind>, contains: ValueKind) -> String {
    if kind == Some(MetricKind::Rate) {
        return percent(value);
    }
    quantity(value, contains)
}

/// A value by what it measures, ignoring the metric type: time, data or a
/// plain number. Counter totals and per-second rates use this.
pub fn quantity(value: f64, contains: ValueKind) -> String {
    match contains {
        ValueKind::Time => duration_ms(value),
        ValueKind::Data => bytes(value),
        ValueKind::Default => number(value),
    }
}

/// A per-second rate: `40/s`, `16 MB/s`.
pub fn per_second(value: f64, contains: ValueKind) -> String {
    format!("{}/s", quantity(value, contains))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_k6() {
        assert_eq!(duration_ms(0.0), "0s");
        assert_eq!(duration_ms(0.000_512), "512ns");
        assert_eq!(duration_ms(0.5123), "512.3µs");
        assert_eq!(duration_ms(0.007_83), "7.83µs");
        assert_eq!(duration_ms(0.001), "1µs");
        assert_eq!(duration_ms(12.34), "12.34ms");
        assert_eq!(duration_ms(12.349), "12.34ms", "truncated, not rounded");
        assert_eq!(duration_ms(9.0), "9ms");
        assert_eq!(duration_ms(17.30), "17.3ms");
        assert_eq!(duration_ms(1234.0), "1.23s");
        assert_eq!(duration_ms(1000.0), "1s");
        assert_eq!(duration_ms(62_300.0), "1m2.3s");
        assert_eq!(duration_ms(60_000.0), "1m0s");
        assert_eq!(duration_ms(3_723_400.0), "1h2m3.4s");
        assert_eq!(duration_ms(-5.0), "-5ms");
        assert_eq!(duration_ms(f64::NAN), "-");
    }

    #[test]
    fn bytes_use_decimal_si_units() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(7.5), "7.5 B");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1000.0), "1.0 kB");
        assert_eq!(bytes(1234.0), "1.2 kB");
        assert_eq!(bytes(40_000.0), "40 kB");
        assert_eq!(bytes(498_000.0), "498 kB");
        assert_eq!(bytes(1_200_000.0), "1.2 MB");
        assert_eq!(bytes(157_000_000.0), "157 MB");
        assert_eq!(bytes(3.2e9), "3.2 GB");
    }

    #[test]
    fn rates_are_truncated_percentages() {
        assert_eq!(percent(0.0), "0.00%");
        assert_eq!(percent(1.0), "100.00%");
        assert_eq!(percent(0.99876), "99.87%");
        assert_eq!(percent(0.1234), "12.34%");
    }

    #[test]
    fn numbers_drop_trailing_zeros() {
        assert_eq!(number(1200.0), "1200");
        assert_eq!(number(40.0), "40");
        assert_eq!(number(4_568.791_991_2), "4568.791991");
        assert_eq!(number(-0.0), "0");
        assert_eq!(decimal(2.50, 2), "2.5");
        assert_eq!(decimal_trunc(1.999, 2), "1.99");
    }

    #[test]
    fn values_follow_kind_and_contains() {
        assert_eq!(value(0.05, Some(MetricKind::Rate), ValueKind::Default), "5.00%");
        assert_eq!(value(250.0, Some(MetricKind::Trend), ValueKind::Time), "250ms");
        assert_eq!(value(2000.0, Some(MetricKind::Counter), ValueKind::Data), "2.0 kB");
        assert_eq!(per_second(40_000.0, ValueKind::Data), "40 kB/s");
        assert_eq!(per_second(40.0, ValueKind::Default), "40/s");
    }
}
