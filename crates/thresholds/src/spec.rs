use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::duration::{format_duration, parse_duration};
use crate::{Origin, Threshold, ThresholdError};

/// One item of a thresholds list, as written in `loadgrid.toml` or k6's
/// options: an expression string, or an object with `threshold` and
/// optional `abortOnFail` / `delayAbortEval`.
///
/// ```toml
/// [thresholds]
/// "http_req_duration{name:login}" = ["p(95)<300", { threshold = "avg<100", abortOnFail = true, delayAbortEval = "10s" }]
/// ```
///
/// Deserializing is strict (unknown fields are errors, so a misspelt
/// `abortOnfail` is caught); `delayAbortEval` may be a duration string or a
/// number of milliseconds, as in k6. The duration is checked when the spec
/// becomes a [`Threshold`], where the error can name the metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ThresholdSpec {
    Expression(String),
    #[serde(rename_all = "camelCase")]
    Detailed {
        threshold: String,
        #[serde(default, skip_serializing_if = "is_false")]
        abort_on_fail: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_abort_eval: Option<String>,
    },
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl ThresholdSpec {
    /// The expression text.
    pub fn expression(&self) -> &str {
        match self {
            ThresholdSpec::Expression(text) | ThresholdSpec::Detailed { threshold: text, .. } => text,
        }
    }

    /// Parses the spec for the metric key `key`.
    pub fn to_threshold(&self, key: &str, origin: Origin) -> Result<Threshold, ThresholdError> {
        match self {
            ThresholdSpec::Expression(text) => Threshold::new(key, text, origin),
            ThresholdSpec::Detailed { threshold, abort_on_fail, delay_abort_eval } => {
                let mut parsed = Threshold::new(key, threshold, origin)?;
                parsed.abort_on_fail = *abort_on_fail;
                parsed.delay_abort_eval = delay_abort_eval.as_deref().map(|d| delay(&parsed, d)).transpose()?;
                Ok(parsed)
            }
        }
    }
}

fn delay(threshold: &Threshold, text: &str) -> Result<Duration, ThresholdError> {
    parse_duration(text).map_err(|reason| ThresholdError::Options {
        metric: threshold.key(),
        expression: threshold.source.clone(),
        reason: format!("delayAbortEval: {reason}"),
    })
}

impl<'de> Deserialize<'de> for ThresholdSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SpecVisitor)
    }
}

struct SpecVisitor;

const FIELDS: &[&str] = &["threshold", "abortOnFail", "delayAbortEval"];

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = ThresholdSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a threshold expression such as \"p(95)<300\", or a table with `threshold`, `abortOnFail` and `delayAbortEval`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ThresholdSpec::Expression(v.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut threshold = None;
        let mut abort_on_fail = None;
        let mut delay_abort_eval = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "threshold" => threshold = Some(map.next_value::<String>()?),
                "abortOnFail" => abort_on_fail = map.next_value::<Option<bool>>()?,
                "delayAbortEval" => delay_abort_eval = map.next_value::<Option<DelayValue>>()?.map(|d| d.0),
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        let threshold = threshold.ok_or_else(|| de::Error::missing_field("threshold"))?;
        Ok(ThresholdSpec::Detailed { threshold, abort_on_fail: abort_on_fail.unwrap_or(false), delay_abort_eval })
    }
}

/// `delayAbortEval`: a duration string, or a number of milliseconds kept as
/// its text (which [`parse_duration`] reads as milliseconds).
struct DelayValue(String);

impl<'de> Deserialize<'de> for DelayValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DelayVisitor;
        impl Visitor<'_> for DelayVisitor {
            type Value = DelayValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"5s\" or a number of milliseconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DelayValue, E> {
                Ok(DelayValue(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DelayValue, E> {
                Ok(DelayValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DelayValue, E> {
                Ok(DelayValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DelayValue, E> {
                Ok(DelayValue(v.to_string()))
            }
        }
        deserializer.deserialize_any(DelayVisitor)
    }
}

/// Reads k6's `options.thresholds` object as `k6 inspect` prints it:
///
/// ```json
/// {"http_req_duration": ["p(95)<500"],
///  "http_req_duration{name:foo}": [{"threshold": "avg<100", "abortOnFail": true, "delayAbortEval": "5s"}]}
/// ```
///
/// `null` means no thresholds. Object items are read the way k6's Go JSON
/// decoding reads them: field names match case-insensitively, unknown
/// fields are ignored, `null` fields take their default, and a numeric
/// `delayAbortEval` is milliseconds.
pub fn from_k6_options(value: &Value) -> Result<Vec<Threshold>, ThresholdError> {
    from_json(value, Origin::Script)
}

/// Reads a thresholds object of k6's JSON shape (see [`from_k6_options`])
/// coming from `origin`. For [`Origin::Script`] object items are read as k6
/// reads them; for other origins unknown fields are errors.
pub fn from_json(value: &Value, origin: Origin) -> Result<Vec<Threshold>, ThresholdError> {
    let map = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Object(map) => map,
        other => {
            return Err(ThresholdError::Shape {
                context: String::new(),
                reason: format!(
                    "expected an object mapping metric keys to lists of thresholds, got {}",
                    json_type(other)
                ),
            })
        }
    };
    let mut thresholds = Vec::new();
    for (key, items) in map {
        let Value::Array(items) = items else {
            return Err(ThresholdError::Shape {
                context: key.clone(),
                reason: format!("expected a list of thresholds such as [\"p(95)<500\"], got {}", json_type(items)),
            });
        };
        for item in items {
            thresholds.push(item_from_json(key, item, origin)?);
        }
    }
    Ok(thresholds)
}

fn item_from_json(key: &str, item: &Value, origin: Origin) -> Result<Threshold, ThresholdError> {
    let object = match item {
        Value::String(text) => return Threshold::new(key, text, origin),
        Value::Object(object) => object,
        other => {
            return Err(ThresholdError::Shape {
                context: key.to_owned(),
                reason: format!(
                    "expected a threshold expression string or an object with `threshold`, got {}",
                    json_type(other)
                ),
            })
        }
    };
    let lenient = origin == Origin::Script;
    let field = |name: &str| -> Option<&Value> {
        if lenient {
            object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
        } else {
            object.get(name)
        }
    };
    if !lenient {
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ThresholdError::Shape {
                context: key.to_owned(),
                reason: format!("unknown field `{unknown}` in a threshold object; expected {}", FIELDS.join(", ")),
            });
        }
    }
    let expression = match field("threshold") {
        Some(Value::String(text)) => text,
        Some(other) => {
            return Err(ThresholdError::Shape {
                context: key.to_owned(),
                reason: format!("`threshold` must be an expression string, got {}", json_type(other)),
            })
        }
        None => {
            return Err(ThresholdError::Shape {
                context: key.to_owned(),
                reason: "a threshold object needs a `threshold` expression, e.g. {\"threshold\": \"p(95)<500\", \"abortOnFail\": true}"
                    .into(),
            })
        }
    };
    let mut threshold = Threshold::new(key, expression, origin)?;
    let options_error = |threshold: &Threshold, reason: String| ThresholdError::Options {
        metric: threshold.key(),
        expression: threshold.source.clone(),
        reason,
    };
    threshold.abort_on_fail = match field("abortOnFail") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(options_error(
                &threshold,
                format!("abortOnFail must be true or false, got {}", json_type(other)),
            ))
        }
    };
    threshold.delay_abort_eval = match field("delayAbortEval") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(delay(&threshold, text)?),
        Some(Value::Number(ms)) => Some(delay(&threshold, &ms.to_string())?),
        Some(other) => {
            return Err(options_error(
                &threshold,
                format!("delayAbortEval must be a duration such as \"10s\", got {}", json_type(other)),
            ))
        }
    };
    Ok(threshold)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads the `[thresholds]` table of `loadgrid.toml`, deserialized as
/// metric key → list of [`ThresholdSpec`]. Thresholds come out in key order,
/// then list order.
pub fn from_config_table(table: &BTreeMap<String, Vec<ThresholdSpec>>) -> Result<Vec<Threshold>, ThresholdError> {
    let mut thresholds = Vec::new();
    for (key, specs) in table {
        for spec in specs {
            thresholds.push(spec.to_threshold(key, Origin::Config)?);
        }
    }
    Ok(thresholds)
}

/// Parses the `--threshold` flag form: `<metric key>: <expression>[;<options>]`.
///
/// The key ends at the first `:` outside `{...}` (so tag values may contain
/// colons): `http_req_duration{name:login}: p(95)<300`. One expression per
/// flag; repeat the flag for more.
///
/// After a `;`, comma-separated options ask for k6's abort behaviour:
///
/// - `abortOnFail` (or `abortOnFail=true` / `abortOnFail=false`): stop the
///   whole grid as soon as the threshold is crossed;
/// - `delayAbortEval=<duration>`: do not abort before the test has run this
///   long (`10s`, `1m30s`, `500ms`, ...).
///
/// ```text
/// --threshold 'http_req_failed: rate<0.01;abortOnFail,delayAbortEval=30s'
/// ```
pub fn parse_flag(s: &str) -> Result<Threshold, ThresholdError> {
    let flag_error =
        |reason: String, span: std::ops::Range<usize>| ThresholdError::Flag { flag: s.to_owned(), reason, span };
    let Some(colon) = key_end(s) else {
        return Err(flag_error(
            "expected `<metric>: <expression>`, e.g. `http_req_duration{name:login}: p(95)<300`".into(),
            0..s.len(),
        ));
    };
    let (key, rest) = (&s[..colon], &s[colon + 1..]);
    let (expression, options) = match rest.find(';') {
        Some(i) => (&rest[..i], Some((colon + 1 + i + 1, &rest[i + 1..]))),
        None => (rest, None),
    };
    let mut threshold = Threshold::new(key, expression, Origin::Flag)?;
    let Some((options_start, options)) = options else {
        return Ok(threshold);
    };
    let expected = "expected `abortOnFail`, `abortOnFail=false` or `delayAbortEval=<duration>`";
    if options.trim().is_empty() {
        return Err(flag_error(format!("nothing after `;`; {expected}"), options_start - 1..s.len()));
    }
    let mut at = options_start;
    for part in options.split(',') {
        let span = at..at + part.len();
        at += part.len() + 1;
        let option = part.trim();
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (option, None),
        };
        if name.eq_ignore_ascii_case("abortOnFail") {
            threshold.abort_on_fail = match value {
                None => true,
                Some(v) if v.eq_ignore_ascii_case("true") => true,
                Some(v) if v.eq_ignore_ascii_case("false") => false,
                Some(v) => return Err(flag_error(format!("abortOnFail takes true or false, got `{v}`"), span)),
            };
        } else if name.eq_ignore_ascii_case("delayAbortEval") {
            let Some(value) = value else {
                return Err(flag_error("delayAbortEval needs a duration, e.g. `delayAbortEval=10s`".into(), span));
            };
            threshold.delay_abort_eval =
                Some(parse_duration(value).map_err(|reason| flag_error(format!("delayAbortEval: {reason}"), span))?);
        } else if option.is_empty() {
            return Err(flag_error(format!("empty option; {expected}"), span));
        } else {
            return Err(flag_error(format!("unknown option `{option}`; {expected}"), span));
        }
    }
    Ok(threshold)
}

/// The first `:` outside `{...}`, and outside quoted tag names and values
/// (a quote opens one only where a name or value starts, as in keys).
fn key_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut last = ' ';
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if depth > 0 && matches!(last, '{' | ',' | ':') => quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') => depth = depth.saturating_sub(1),
            (None, ':') if depth == 0 => return Some(i),
            _ => {}
        }
        if !c.is_whitespace() {
            last = c;
        }
    }
    None
}

impl Threshold {
    /// The spec that reads back as this threshold (for manifests and
    /// effective-config dumps).
    pub fn to_spec(&self) -> ThresholdSpec {
        if !self.abort_on_fail && self.delay_abort_eval.is_none() {
            return ThresholdSpec::Expression(self.source.clone());
        }
        ThresholdSpec::Detailed {
            threshold: self.source.clone(),
            abort_on_fail: self.abort_on_fail,
            delay_abort_eval: self.delay_abort_eval.map(format_duration),
        }
    }
}
