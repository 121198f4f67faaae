use std::time::Duration;

const UNITS: &str = "ns, us, ms, s, m, h, d";

/// Parses a k6 duration as `delayAbortEval` takes it (k6's
/// `ParseExtendedDuration`): Go duration syntax, one or more
/// `<number><unit>` parts such as `5s`, `1m30s`, `500ms`, `1.5h`, `2d12h`,
/// with units `ns us µs ms s m h d`; or a bare number, which k6 reads as
/// milliseconds. Negative durations are rejected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let invalid = |why: &str| format!("invalid duration `{text}`: {why}");
    if s.is_empty() {
        return Err(invalid("empty; expected e.g. `5s`, `1m30s`, `500ms`"));
    }
    if s.starts_with('-') {
        return Err(invalid("negative durations are not allowed"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    // A bare number: milliseconds, as in k6.
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_parts(&format!("{s}ms")).map_err(|why| invalid(&why));
    }
    if let Ok(ms) = s.parse::<f64>() {
        if !ms.is_finite() {
            return Err(invalid("not a finite number"));
        }
        return Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| invalid("out of range"));
    }
    parse_parts(s).map_err(|why| invalid(&why))
}

fn parse_parts(mut s: &str) -> Result<Duration, String> {
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int, rest) = s.split_at(int_len);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(after) => {
                let frac_len = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(frac_len)
            }
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            let found: String = rest.chars().take_while(|c| !c.is_ascii_digit()).collect();
            return Err(format!("expected a number, found `{found}`"));
        }
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            "" => return Err(format!("missing unit after `{int}{}`; expected one of {UNITS}", dot(frac))),
            other => return Err(format!("unknown unit `{other}`; expected one of {UNITS}")),
        };
        let overflow = || "too long".to_owned();
        let whole: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| overflow())? };
        // Nanoseconds have at most 9+5 fractional digits that matter.
        let frac = &frac[..frac.len().min(18)];
        let fraction: u128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| overflow())? };
        let scale = 10u128.pow(frac.len() as u32);
        let part = whole
            .checked_mul(nanos_per_unit)
            .and_then(|n| n.checked_add(fraction * nanos_per_unit / scale))
            .ok_or_else(overflow)?;
        total = total.checked_add(part).ok_or_else(overflow)?;
        s = rest;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| "too long".to_owned())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

fn dot(frac: &str) -> String {
    if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    }
}

/// Formats a duration so that [`parse_duration`] reads it back exactly:
/// `1h30m`, `5s`, `1500ms`, `250ns`.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".into();
    }
    let nanos = duration.subsec_nanos();
    if nanos == 0 {
        let secs = duration.as_secs();
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut out = String::new();
        for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
            if n > 0 {
                out.push_str(&format!("{n}{unit}"));
            }
        }
        return out;
    }
    if nanos.is_multiple_of(1_000_000) {
        return format!("{}ms", duration.as_millis());
    }
    format!("{}ns", duration.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn k6_forms() {
        assert_eq!(parse_duration("5s"), Ok(ms(5_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(parse_duration(".5m"), Ok(ms(30_000)));
        assert_eq!(parse_duration("2d12h"), Ok(ms(216_000_000)));
        assert_eq!(parse_duration("1h2m3s4ms5us6ns"), Ok(Duration::new(3723, 4_005_006)));
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
        assert_eq!(parse_duration("+2s"), Ok(ms(2_000)));
    }

    #[test]
    fn bare_numbers_are_milliseconds() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("5000"), Ok(ms(5_000)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_micros(1_500)));
        assert_eq!(parse_duration("1e3"), Ok(ms(1_000)));
    }

    #[test]
    fn bad_durations_say_why() {
        assert_eq!(
            parse_duration("5x"),
            Err("invalid duration `5x`: unknown unit `x`; expected one of ns, us, ms, s, m, h, d".into())
        );
        assert_eq!(parse_duration("-5s"), Err("invalid duration `-5s`: negative durations are not allowed".into()));
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("1m30").unwrap_err().contains("missing unit after `30`"));
        assert!(parse_duration("s").unwrap_err().contains("expected a number, found `s`"));
        assert!(parse_duration("five seconds").unwrap_err().contains("expected a number"));
        assert!(parse_duration("inf").unwrap_err().contains("not a finite number"));
        assert!(parse_duration("99999999999999999999999h").unwrap_err().contains("too long"));
    }

    #[test]
    fn format_reads_back() {
        for d in [
            ms(0),
            ms(5_000),
            ms(90_000),
            ms(1_500),
            ms(3_600_000),
            Duration::from_nanos(1_000_000_001),
            ms(86_400_000),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?} → {}", format_duration(d));
        }
        assert_eq!(format_duration(ms(90_000)), "1m30s");
        assert_eq!(format_duration(ms(1_500)), "1500ms");
    }
}
