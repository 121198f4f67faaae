//! The types of a script's custom metrics, read from its source.
//!
//! k6's CSV output names a metric but not its type, and k6 only reports
//! types over its REST API when it keeps an end-of-test summary, which the
//! shards switch off (it holds every trend sample in memory). So the plan
//! reads the declarations instead: `new Trend('checkout_time', true)`,
//! `new metrics.Counter("orders")`, `new T('x')` after
//! `import { Trend as T } from 'k6/metrics'`. A metric whose name is not a
//! literal stays of unknown type and the summary says so.

use std::collections::BTreeMap;

use loadgrid_metrics::{MetricKind, ValueKind};
use regex::Regex;

/// A custom metric declared in a script.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeclaredMetric {
    pub name: String,
    pub kind: MetricKind,
    pub contains: ValueKind,
}

/// Every `new <Type>('<name>'[, true])` in `source`, aliases included.
pub fn declared_in(source: &str) -> Vec<DeclaredMetric> {
    let mut constructors: BTreeMap<String, MetricKind> = [
        ("Counter", MetricKind::Counter),
        ("Gauge", MetricKind::Gauge),
        ("Rate", MetricKind::Rate),
        ("Trend", MetricKind::Trend),
    ]
    .into_iter()
    .map(|(name, kind)| (name.to_owned(), kind))
    .collect();
    let imports = Regex::new(r#"import\s*\{([^}]*)\}\s*from\s*['"]k6/metrics['"]"#).expect("valid regex");
    let alias = Regex::new(r"^\s*(Counter|Gauge|Rate|Trend)\s+as\s+([A-Za-z_$][\w$]*)\s*$").expect("valid regex");
    for import in imports.captures_iter(source) {
        for item in import[1].split(',') {
            if let Some(found) = alias.captures(item) {
                let kind = constructors[&found[1]];
                constructors.insert(found[2].to_owned(), kind);
            }
        }
    }
    let declaration = Regex::new(
        r#"new\s+(?:[A-Za-z_$][\w$]*\s*\.\s*)?([A-Za-z_$][\w$]*)\s*\(\s*(['"`])([A-Za-z_][A-Za-z0-9_]{0,127})['"`]\s*(,\s*true\b)?"#,
    )
    .expect("valid regex");
    let mut found = Vec::new();
    for declared in declaration.captures_iter(source) {
        let Some(&kind) = constructors.get(&declared[1]) else { continue };
        let is_time = declared.get(4).is_some() && matches!(kind, MetricKind::Trend | MetricKind::Gauge);
        let metric = DeclaredMetric {
            name: declared[3].to_owned(),
            kind,
            contains: if is_time { ValueKind::Time } else { ValueKind::Default },
        };
        if !found.contains(&metric) {
            found.push(metric);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<(String, MetricKind, ValueKind)> {
        declared_in(source).into_iter().map(|m| (m.name, m.kind, m.contains)).collect()
    }

    #[test]
    fn reads_plain_namespaced_and_aliased_declarations() {
        let source = r#"
import { Counter, Trend as T } from 'k6/metrics';
import * as metrics from 'k6/metrics';
const orders = new Counter('orders');
const wait = new T("checkout_time", true);
const up = new metrics.Gauge(`queue_depth`);
const ok = new metrics.Rate('login_ok');
const dynamic = new Counter(`x_${name}`);
const date = new Date('2020');
"#;
        assert_eq!(
            kinds(source),
            vec![
                ("orders".into(), MetricKind::Counter, ValueKind::Default),
                ("checkout_time".into(), MetricKind::Trend, ValueKind::Time),
                ("queue_depth".into(), MetricKind::Gauge, ValueKind::Default),
                ("login_ok".into(), MetricKind::Rate, ValueKind::Default),
            ]
        );
    }
}
