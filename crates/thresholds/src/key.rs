use std::ops::Range;

use loadgrid_metrics::TagSet;

use crate::error::Located;
use crate::ThresholdError;

/// The longest metric name k6 accepts.
pub const MAX_METRIC_NAME_LEN: usize = 128;

/// Parses a threshold's metric key, `metric` or `metric{tag:value,...}`,
/// into the metric name and the sub-metric filter (empty for the whole
/// metric).
///
/// As in k6 (`ParseMetricName`), the filter runs from the first `{` to the
/// last `}`, which must end the key, so values such as `/users/{id}` need no
/// quoting; each `tag:value` splits at its first colon, so values may contain
/// colons. Unlike k6, a value (or tag name) may be quoted with `"` or `'`,
/// and then commas inside it belong to the value.
pub fn parse_metric_key(key: &str) -> Result<(String, TagSet), ThresholdError> {
    parse_key(key).map_err(|(reason, span)| ThresholdError::MetricKey { key: key.to_owned(), reason, span })
}

/// k6's rule for metric names: `^[a-zA-Z_][a-zA-Z0-9_]{0,127}$`.
pub fn validate_metric_name(name: &str) -> Result<(), String> {
    let Some(first) = name.chars().next() else {
        return Err("empty metric name".into());
    };
    let rule = "metric names start with a letter or `_` and contain only ASCII letters, digits and `_`";
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err(format!("invalid metric name `{name}`: it starts with `{first}`; {rule}"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!("invalid metric name `{name}`: `{bad}` is not allowed; {rule}"));
    }
    if name.len() > MAX_METRIC_NAME_LEN {
        return Err(format!(
            "invalid metric name `{name}`: {} characters, more than k6's limit of {MAX_METRIC_NAME_LEN}",
            name.len()
        ));
    }
    Ok(())
}

/// `metric{tag:value,...}` as k6 prints sub-metric names. Tags come sorted
/// by name; a name or value that would not read back the same is quoted
/// (but one holding both `"` and `'` cannot be).
pub fn format_key(metric: &str, filter: &TagSet) -> String {
    if filter.is_empty() {
        return metric.to_owned();
    }
    let mut out = String::with_capacity(metric.len() + 16);
    out.push_str(metric);
    out.push('{');
    for (i, (name, value)) in filter.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(&mut out, name, true);
        out.push(':');
        push_quoted(&mut out, value, false);
    }
    out.push('}');
    out
}

fn push_quoted(out: &mut String, text: &str, is_name: bool) {
    let needs_quotes = text.is_empty()
        || text.contains(',')
        || (is_name && text.contains(':'))
        || text.starts_with(['"', '\''])
        || text.trim() != text
        // Written as read when quoting is impossible: such braces may match
        // others in the key, as they did when it was read.
        || ((!braces_balance(text) || opens_a_quote(text)) && !(text.contains('"') && text.contains('\'')));
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    let quote = if text.contains('"') { '\'' } else { '"' };
    out.push(quote);
    out.push_str(text);
    out.push(quote);
}

/// Whether every `}` closes an earlier `{` and every `{` is closed: a
/// `--threshold` flag's key ends at the first `:` outside braces, so other
/// braces are quoted to read back.
fn braces_balance(text: &str) -> bool {
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' => match depth.checked_sub(1) {
                Some(outer) => depth = outer,
                None => return false,
            },
            _ => {}
        }
    }
    depth == 0
}

/// Whether a `--threshold` flag's key scan would take a quote inside `text`
/// for the start of a quoted name or value (one right after `{`, `,` or
/// `:`), and so end the key elsewhere.
fn opens_a_quote(text: &str) -> bool {
    let mut last = ' ';
    text.chars().any(|c| {
        let opens = matches!(c, '"' | '\'') && matches!(last, '{' | ',' | ':');
        if !c.is_whitespace() {
            last = c;
        }
        opens
    })
}

fn parse_key(key: &str) -> Result<(String, TagSet), Located> {
    let start = key.len() - key.trim_start().len();
    let end = key.trim_end().len();
    if start >= end {
        return Err(("empty metric name".into(), 0..key.len()));
    }
    let (name, filter) = match key[start..end].find('{') {
        None => {
            if let Some(close) = key[start..end].find('}') {
                let at = start + close;
                return Err(("unbalanced `}`: no `{` opens a tag filter".into(), at..at + 1));
            }
            (&key[start..end], TagSet::new())
        }
        Some(open) => {
            let open = start + open;
            let Some(close) = key[open..end].rfind('}').map(|i| open + i) else {
                return Err(("missing closing `}` of the tag filter".into(), open..end));
            };
            if close + 1 != end {
                let trailing = &key[close + 1..end];
                return Err((format!("unexpected `{trailing}` after the closing `}}`"), close + 1..end));
            }
            let name = key[start..open].trim_end();
            if name.is_empty() {
                return Err(("empty metric name before the tag filter".into(), start..open + 1));
            }
            (name, parse_filter(key, open + 1..close)?)
        }
    };
    if let Err(reason) = validate_metric_name(name) {
        return Err((reason, start..start + name.len()));
    }
    Ok((name.to_owned(), filter))
}

/// One tag name or value as read from the filter.
struct Token {
    text: String,
    quoted: bool,
    span: Range<usize>,
}

/// Parses `tag:value,tag2:value2` found at `body` in `key`.
fn parse_filter(key: &str, body: Range<usize>) -> Result<TagSet, Located> {
    if key[body.clone()].trim().is_empty() {
        return Err((
            "empty tag filter `{}`; write `{tag:value}` or leave the braces out".into(),
            body.start - 1..body.end + 1,
        ));
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut at = body.start;
    loop {
        let name = read_token(key, at, body.end, &[':', ','])?;
        at = skip_ws(key, name.span.end, body.end);
        if at >= body.end || key[at..].starts_with(',') {
            if name.text.is_empty() && !name.quoted {
                let span = if at < body.end { at..at + 1 } else { body.end..body.end + 1 };
                return Err(("empty tag entry: stray `,`; expected `tag:value`".into(), span));
            }
            return Err((format!("tag `{}` has no value; expected `{}:value`", name.text, name.text), name.span));
        }
        // At the colon that separates the name from the value.
        if name.text.is_empty() {
            return Err(("empty tag name before `:`".into(), at..at + 1));
        }
        let colon = at;
        let value = read_token(key, colon + 1, body.end, &[','])?;
        if value.text.is_empty() && !value.quoted {
            return Err((
                format!("tag `{}` has an empty value; quote it (`\"\"`) to match an empty value", name.text),
                colon..colon + 1,
            ));
        }
        if let Some((_, previous)) = pairs.iter().find(|(n, _)| *n == name.text) {
            if *previous != value.text {
                return Err((format!("tag `{}` is given twice with different values", name.text), name.span));
            }
        }
        pairs.push((name.text, value.text));
        at = skip_ws(key, value.span.end, body.end);
        if at >= body.end {
            break;
        }
        // At a comma: another entry follows.
        at += 1;
    }
    Ok(TagSet::from_pairs(pairs))
}

fn skip_ws(text: &str, at: usize, end: usize) -> usize {
    at + (text[at..end].len() - text[at..end].trim_start().len())
}

/// Reads a tag name or value starting at `at`, ending before one of `stops`
/// (outside quotes) or at `end`. A token that starts with a quote runs to
/// the same quote; anything but whitespace between that quote and the next
/// stop is an error.
fn read_token(text: &str, at: usize, end: usize, stops: &[char]) -> Result<Token, Located> {
    let start = skip_ws(text, at, end);
    let rest = &text[start..end];
    if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let Some(close) = rest[1..].find(quote).map(|i| start + 1 + i) else {
            return Err((format!("unterminated quote `{quote}`"), start..end));
        };
        let after = skip_ws(text, close + 1, end);
        if after < end && !text[after..].starts_with(stops) {
            let next = text[after..end].find(stops).map_or(end, |i| after + i);
            return Err((format!("unexpected `{}` after a quoted string", &text[after..next]), after..next));
        }
        return Ok(Token { text: text[start + 1..close].to_owned(), quoted: true, span: start..close + 1 });
    }
    let stop = rest.find(stops).map_or(end, |i| start + i);
    let token = text[start..stop].trim_end();
    Ok(Token { text: token.to_owned(), quoted: false, span: start..start + token.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(key: &str) -> (String, TagSet) {
        parse_metric_key(key).unwrap_or_else(|e| panic!("`{key}` should parse: {e}"))
    }

    fn error(key: &str) -> (String, Range<usize>) {
        match parse_key(key) {
            Ok(parsed) => panic!("`{key}` should not parse, got {parsed:?}"),
            Err(located) => located,
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> TagSet {
        TagSet::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn plain_metric() {
        assert_eq!(parse("http_req_duration"), ("http_req_duration".into(), TagSet::new()));
        assert_eq!(parse("  my_trend_2 "), ("my_trend_2".into(), TagSet::new()));
        assert_eq!(parse("_private"), ("_private".into(), TagSet::new()));
    }

    #[test]
    fn sub_metric_with_several_tags() {
        let (name, filter) = parse("http_req_duration{name:login,method:POST, status : 200 }");
        assert_eq!(name, "http_req_duration");
        assert_eq!(filter, tags(&[("name", "login"), ("method", "POST"), ("status", "200")]));
        let (name, filter) = parse("http_req_duration {scenario:api}");
        assert_eq!(name, "http_req_duration");
        assert_eq!(filter, tags(&[("scenario", "api")]));
    }

    #[test]
    fn values_may_contain_colons_and_braces() {
        let (_, filter) = parse("http_req_duration{url:https://example.com:8443/a}");
        assert_eq!(filter.get("url"), Some("https://example.com:8443/a"));
        let (_, filter) = parse("http_req_duration{name:/users/{id}}");
        assert_eq!(filter.get("name"), Some("/users/{id}"));
    }

    #[test]
    fn quoted_values_keep_commas_and_lose_quotes() {
        let (_, filter) = parse(r#"checks{check:"status is 200, body ok",group:'::setup'}"#);
        assert_eq!(filter, tags(&[("check", "status is 200, body ok"), ("group", "::setup")]));
        let (_, filter) = parse(r#"my_rate{"my tag":'it"s'}"#);
        assert_eq!(filter.get("my tag"), Some("it\"s"));
        let (_, filter) = parse(r#"my_rate{empty:""}"#);
        assert_eq!(filter.get("empty"), Some(""));
        // A quote that does not start the value is an ordinary character.
        let (_, filter) = parse("my_rate{name:it's}");
        assert_eq!(filter.get("name"), Some("it's"));
    }

    #[test]
    fn format_round_trips() {
        for key in [
            "http_req_duration",
            "http_req_duration{name:login}",
            "http_req_duration{method:GET,name:login}",
            "http_req_duration{url:https://x:1/a}",
            r#"checks{check:"a, b"}"#,
            r#"checks{check:'"hi", she said'}"#,
            r#"checks{check:say "hi"}"#,
            r#"checks{check:""}"#,
            r#"checks{check:" padded "}"#,
            r#"checks{"a:b":c}"#,
        ] {
            let (name, filter) = parse(key);
            let formatted = format_key(&name, &filter);
            assert_eq!(formatted, key);
            assert_eq!(parse(&formatted), (name, filter));
        }
        let (name, filter) = parse("m{ b : 2 , a:1 }");
        assert_eq!(format_key(&name, &filter), "m{a:1,b:2}");
    }

    #[test]
    fn unbalanced_braces() {
        let (reason, span) = error("http_req_duration{name:login");
        assert_eq!(reason, "missing closing `}` of the tag filter");
        assert_eq!(span, 17..28);
        let (reason, span) = error("http_req_duration}");
        assert!(reason.starts_with("unbalanced `}`"), "{reason}");
        assert_eq!(span, 17..18);
        let (reason, span) = error("http_req_duration{name:login}x");
        assert_eq!(reason, "unexpected `x` after the closing `}`");
        assert_eq!(span, 29..30);
        let (reason, _) = error(r#"m{name:"a}"#);
        assert!(reason.starts_with("unterminated quote"), "{reason}");
    }

    #[test]
    fn empty_names_and_entries() {
        let (reason, span) = error("   ");
        assert_eq!(reason, "empty metric name");
        assert_eq!(span, 0..3);
        let (reason, span) = error("{name:login}");
        assert_eq!(reason, "empty metric name before the tag filter");
        assert_eq!(span, 0..1);
        let (reason, _) = error("m{}");
        assert!(reason.starts_with("empty tag filter"), "{reason}");
        let (reason, span) = error("m{:login}");
        assert_eq!(reason, "empty tag name before `:`");
        assert_eq!(span, 2..3);
        let (reason, _) = error("m{name}");
        assert_eq!(reason, "tag `name` has no value; expected `name:value`");
        let (reason, _) = error("m{name:}");
        assert!(reason.starts_with("tag `name` has an empty value"), "{reason}");
        let (reason, _) = error("m{a:1,}");
        assert!(reason.starts_with("empty tag entry: stray `,`"), "{reason}");
        let (reason, _) = error("m{a:1,,b:2}");
        assert!(reason.starts_with("empty tag entry: stray `,`"), "{reason}");
        let (reason, _) = error("m{a:1,a:2}");
        assert!(reason.contains("given twice"), "{reason}");
        let (reason, _) = error(r#"m{a:"x" y}"#);
        assert_eq!(reason, "unexpected `y` after a quoted string");
    }

    #[test]
    fn metric_names_follow_k6() {
        let (reason, span) = error("http-req-duration");
        assert!(reason.contains("`-` is not allowed"), "{reason}");
        assert_eq!(span, 0..17);
        let (reason, _) = error("1metric");
        assert!(reason.contains("starts with `1`"), "{reason}");
        let (reason, _) = error("métrique");
        assert!(reason.contains("`é` is not allowed"), "{reason}");
        assert!(validate_metric_name(&"a".repeat(128)).is_ok());
        assert!(validate_metric_name(&"a".repeat(129)).unwrap_err().contains("129 characters"));
    }

    #[test]
    fn errors_name_the_key() {
        let error = parse_metric_key("http_req_duration{name:login").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid metric key `http_req_duration{name:login`: missing closing `}` of the tag filter"
        );
    }
}
