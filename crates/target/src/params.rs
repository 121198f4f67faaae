//! Parsing of the behaviour knobs (`delay`, `jitter`, `status`, `size`) from
//! the request path and query string.
//!
//! Parsing never allocates on success; only error messages are built as
//! `String`s (error path only).

use std::time::Duration;

/// Largest body `size` / `/bytes/<n>` accepts (16 MiB, inclusive).
pub const MAX_SIZE: usize = 16 * 1024 * 1024;

/// Largest `delay` or `jitter` accepted (1 hour, inclusive). Guards against
/// typos such as `delay=5000000` parking connections forever.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// What a request asked for. `None` means "not specified".
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    pub delay: Option<Duration>,
    pub jitter: Option<Duration>,
    pub status: Option<u16>,
    pub size: Option<usize>,
}

/// A rejected parameter: which one and why. Rendered as the 400 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub param: &'static str,
    pub reason: String,
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid `{}` parameter: {}", self.param, self.reason)
    }
}

impl Knobs {
    /// Parses the path forms (`/delay/<dur>`, `/status/<code>`,
    /// `/bytes/<n>`) and then the query string. A query parameter overrides
    /// the same knob given in the path; unknown query parameters are ignored
    /// (so cache busters and the like are harmless). If a parameter repeats,
    /// the last occurrence wins.
    pub fn parse(path: &str, query: Option<&str>) -> Result<Knobs, ParamError> {
        let mut k = Knobs::default();
        if let Some(rest) = path.strip_prefix("/delay/") {
            k.delay = Some(parse_duration("delay", rest)?);
        } else if let Some(rest) = path.strip_prefix("/status/") {
            k.status = Some(parse_status(rest)?);
        } else if let Some(rest) = path.strip_prefix("/bytes/") {
            k.size = Some(parse_size("bytes", rest)?);
        }
        if let Some(q) = query {
            for pair in q.split('&') {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                match key {
                    "delay" => k.delay = Some(parse_duration("delay", value)?),
                    "jitter" => k.jitter = Some(parse_duration("jitter", value)?),
                    "status" => k.status = Some(parse_status(value)?),
                    "size" => k.size = Some(parse_size("size", value)?),
                    _ => {}
                }
            }
        }
        Ok(k)
    }
}

fn err(param: &'static str, reason: String) -> ParamError {
    ParamError { param, reason }
}

/// Parses a duration: a non-negative decimal number followed by an optional
/// unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`). A bare number is milliseconds.
/// Examples: `50ms`, `1s`, `250us`, `1.5s`, `20`.
pub fn parse_duration(param: &'static str, s: &str) -> Result<Duration, ParamError> {
    let bad =
        |why: &str| err(param, format!("{s:?} {why} (expected e.g. 50ms, 1s, 250us or a bare number of milliseconds)"));
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return Err(bad("is not a duration"));
    }
    let nanos_per_unit: f64 = match unit {
        "" | "ms" => 1e6,
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return Err(bad("has an unknown unit")),
    };
    // Integers are the common case; keep them exact.
    let nanos: f64 = if let Ok(n) = num.parse::<u64>() {
        n as f64 * nanos_per_unit
    } else {
        match num.parse::<f64>() {
            Ok(v) if v.is_finite() => v * nanos_per_unit,
            _ => return Err(bad("is not a duration")),
        }
    };
    if !(0.0..=MAX_DELAY.as_nanos() as f64).contains(&nanos) {
        return Err(err(param, format!("{s:?} is out of range (max {}s)", MAX_DELAY.as_secs())));
    }
    // Truncation is fine: the value is a non-negative nanosecond count below
    // MAX_DELAY, which fits comfortably in u64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Parses an HTTP status code. 200-599 are accepted. 1xx codes are rejected
/// because they cannot be sent as a *final* response (hyper would turn them
/// into a 500 and close the connection).
pub fn parse_status(s: &str) -> Result<u16, ParamError> {
    match s.parse::<u16>() {
        Ok(code @ 200..=599) => Ok(code),
        Ok(code @ 100..=199) => Err(err(
            "status",
            format!("{code} is an informational (1xx) code, which cannot be a final response; use 200-599"),
        )),
        _ => Err(err("status", format!("{s:?} is not a status code in 200-599"))),
    }
}

/// Parses a body size in bytes, `0..=MAX_SIZE`.
pub fn parse_size(param: &'static str, s: &str) -> Result<usize, ParamError> {
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_SIZE as u64 => Ok(usize::try_from(n).unwrap_or(MAX_SIZE)),
        Ok(_) => Err(err(param, format!("{s:?} is larger than the {MAX_SIZE}-byte (16 MiB) cap"))),
        Err(_) => Err(err(param, format!("{s:?} is not a byte count (0..={MAX_SIZE})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s| parse_duration("delay", s);
        assert_eq!(d("50ms").unwrap(), Duration::from_millis(50));
        assert_eq!(d("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(d("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(d("250µs").unwrap(), Duration::from_micros(250));
        assert_eq!(d("20").unwrap(), Duration::from_millis(20));
        assert_eq!(d("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(d("0").unwrap(), Duration::ZERO);
        assert_eq!(d("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(d("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(d("7ns").unwrap(), Duration::from_nanos(7));
        for bad in ["", "ms", "abc", "-5ms", "5 ms", "5xs", "1.2.3s", "2h", "1e3"] {
            let e = d(bad).unwrap_err();
            assert_eq!(e.param, "delay", "{bad:?}");
            assert!(e.to_string().contains("`delay`"), "{e}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(parse_status("200").unwrap(), 200);
        assert_eq!(parse_status("599").unwrap(), 599);
        for bad in ["", "99", "100", "199", "600", "abc", "2000", "-1"] {
            assert_eq!(parse_status(bad).unwrap_err().param, "status", "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("size", "0").unwrap(), 0);
        assert_eq!(parse_size("size", "16777216").unwrap(), MAX_SIZE);
        assert!(parse_size("size", "16777217").is_err());
        assert!(parse_size("size", "-1").is_err());
        assert!(parse_size("size", "1k").is_err());
        assert_eq!(parse_size("bytes", "x").unwrap_err().param, "bytes");
    }

    #[test]
    fn combined_query_and_path_forms() {
        let k = Knobs::parse("/api/login", Some("delay=20ms&jitter=5ms&status=201&size=512&cb=123&flag")).unwrap();
        assert_eq!(
            k,
            Knobs {
                delay: Some(Duration::from_millis(20)),
                jitter: Some(Duration::from_millis(5)),
                status: Some(201),
                size: Some(512),
            }
        );
        let k = Knobs::parse("/status/404", Some("size=3")).unwrap();
        assert_eq!((k.status, k.size), (Some(404), Some(3)));
        let k = Knobs::parse("/bytes/10", None).unwrap();
        assert_eq!(k.size, Some(10));
        let k = Knobs::parse("/delay/1s", Some("delay=2ms")).unwrap();
        assert_eq!(k.delay, Some(Duration::from_millis(2)), "query overrides path");
        assert_eq!(Knobs::parse("/", None).unwrap(), Knobs::default());
        assert_eq!(Knobs::parse("/status/abc", None).unwrap_err().param, "status");
        assert_eq!(Knobs::parse("/x", Some("size=")).unwrap_err().param, "size");
        assert_eq!(Knobs::parse("/x", Some("jitter=soon")).unwrap_err().param, "jitter");
    }
}
