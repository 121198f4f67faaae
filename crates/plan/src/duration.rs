//! k6 duration strings: `500ms`, `30s`, `1m30s`, `2h`, `1.5s`, `250us`.

use std::time::Duration;

/// Parses a k6 duration. A bare number is taken as seconds, like k6 does
/// for most options.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.starts_with('-') {
        return Err(format!("invalid duration `{text}`: must be zero or positive"));
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds, text);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("invalid duration `{text}`: expected a number at `{rest}`"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("invalid duration `{text}`: bad number `{}`", &rest[..number_len]))?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            "" => return Err(format!("invalid duration `{text}`: missing unit after `{}` (use h, m, s, ms)", &rest)),
            unit => return Err(format!("invalid duration `{text}`: unknown unit `{unit}` (use h, m, s, ms, us)")),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    seconds_to_duration(total, text)
}

fn seconds_to_duration(seconds: f64, text: &str) -> Result<Duration, String> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("invalid duration `{text}`: must be zero or positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Formats like k6: `1m30s`, `500ms`.
pub fn format(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let (hours, minutes, seconds) = (millis / 3_600_000, millis / 60_000 % 60, millis % 60_000);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || out.is_empty() {
        if seconds % 1000 == 0 {
            out.push_str(&format!("{}s", seconds / 1000));
        } else {
            out.push_str(&format!("{:.1}s", seconds as f64 / 1000.0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_forms() {
        assert_eq!(parse("10m30s").unwrap(), Duration::from_secs(630));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("30").unwrap(), Duration::from_secs(30));
    }

    #[test]
    fn rejects_bad_durations_with_the_reason() {
        assert!(parse("-5s").unwrap_err().contains("positive"));
        assert!(parse("5x").unwrap_err().contains("unknown unit `x`"));
        assert!(parse("s").unwrap_err().contains("expected a number"));
    }

    #[test]
    fn formats_like_k6() {
        assert_eq!(format(Duration::from_secs(630)), "10m30s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
    }
}
