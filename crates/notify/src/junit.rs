//! JUnit XML: what CI test reporters read.
//!
//! One `<testsuite name="loadgrid: <test>">` with a test case per threshold
//! (classname `thresholds`, named `metric: expression`), per regression rule
//! (classname `regression`, named `metric.stat rule`) and one named `run`
//! that fails when the run failed (shards failed or missing). A crossed
//! threshold or one that could not be evaluated is a `<failure>`; so is a
//! regressed rule. A rule that could not be judged is `<skipped>`.

use std::fmt::Write;

use loadgrid_history::HistoryRecord;
use loadgrid_report::{RunSummary, ShardState, ThresholdOutcome, Verdict};

struct Case {
    name: String,
    classname: &'static str,
    failure: Option<(String, String)>,
    skipped: Option<String>,
    output: Option<String>,
}

/// The JUnit XML of a judged run.
pub fn render(summary: &RunSummary, record: &HistoryRecord) -> String {
    let mut cases = vec![run_case(summary)];
    cases.extend(summary.thresholds.iter().map(|t| {
        let observed = summary.observed_text(t);
        let observed_part = observed.as_deref().map_or(String::from("no value"), |v| format!("observed {v}"));
        let failure = match t.outcome {
            ThresholdOutcome::Crossed => Some((
                format!("{}: {} crossed: {observed_part}", t.metric, t.expression),
                format!("threshold {}: {} was crossed ({observed_part})", t.metric, t.expression),
            )),
            ThresholdOutcome::Error => {
                let why = t.message.clone().unwrap_or_else(|| "could not be evaluated".into());
                Some((format!("{}: {} could not be evaluated: {why}", t.metric, t.expression), why))
            }
            ThresholdOutcome::Passed => None,
        };
        let output = match t.outcome {
            ThresholdOutcome::Passed if t.no_samples => {
                Some(format!("{observed_part}; no samples: judged on zeros, as in k6"))
            }
            ThresholdOutcome::Passed => Some(observed_part.clone()),
            _ => None,
        };
        Case {
            name: format!("{}: {}", t.metric, t.expression),
            classname: "thresholds",
            failure,
            skipped: None,
            output,
        }
    }));
    if let Some(report) = &record.regression {
        cases.extend(report.results.iter().map(|r| {
            let values = match (r.baseline, r.current) {
                (Some(b), Some(c)) => format!("{} → {} ({})", number(b), number(c), r.delta_text),
                _ => r.delta_text.clone(),
            };
            let message =
                format!("{} regressed against {}: {values}, allowed {}", r.key(), report.baseline_run_id, r.rule);
            Case {
                name: format!("{} {}", r.key(), r.rule),
                classname: "regression",
                failure: r.regressed.then(|| (message.clone(), message)),
                skipped: r.note.clone().filter(|_| !r.regressed),
                output: (!r.regressed && r.note.is_none())
                    .then(|| format!("baseline {}: {values}", report.baseline_run_id)),
            }
        }));
    }
    document(summary, &cases)
}

fn run_case(summary: &RunSummary) -> Case {
    let failure = matches!(summary.verdict, Verdict::Failed | Verdict::Aborted | Verdict::MarkedFailed).then(|| {
        let shards: Vec<String> = summary
            .shards
            .iter()
            .filter(|s| matches!(s.outcome, ShardState::Failed | ShardState::Missing))
            .map(|s| match &s.reason {
                Some(reason) => format!("shard {} {}: {reason}", s.shard, s.outcome.as_str()),
                None => format!("shard {} {}", s.shard, s.outcome.as_str()),
            })
            .collect();
        let message = summary.verdict_reasons.first().cloned().unwrap_or_else(|| "the run failed".into());
        let detail = summary.verdict_reasons.iter().chain(&shards).cloned().collect::<Vec<_>>().join("\n");
        (message, detail)
    });
    Case {
        name: "run".into(),
        classname: "run",
        failure,
        skipped: None,
        output: Some(format!("run {} on {} {} shard(s)", summary.run_id, summary.backend, summary.shards_planned)),
    }
}

fn document(summary: &RunSummary, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let time = format!("{:.3}", summary.duration_seconds);
    let suite = format!("loadgrid: {}", summary.test_name);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts =
        format!("tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\"", cases.len());
    let _ = writeln!(xml, "<testsuites name=\"loadgrid\" {counts}>");
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" {counts} timestamp=\"{}\">",
        escape(&suite),
        escape(&summary.created_at)
    );
    xml.push_str("    <properties>\n");
    for (name, value) in [
        ("run_id", summary.run_id.as_str()),
        ("script", summary.script.as_str()),
        ("backend", summary.backend.as_str()),
        ("k6_version", summary.k6_version.as_str()),
        ("verdict", summary.verdict.as_str()),
    ] {
        let _ = writeln!(xml, "      <property name=\"{name}\" value=\"{}\"/>", escape(value));
    }
    xml.push_str("    </properties>\n");
    for case in cases {
        let _ = write!(xml, "    <testcase name=\"{}\" classname=\"{}\"", escape(&case.name), case.classname);
        if case.failure.is_none() && case.skipped.is_none() && case.output.is_none() {
            xml.push_str("/>\n");
            continue;
        }
        xml.push_str(">\n");
        if let Some((message, detail)) = &case.failure {
            let _ = writeln!(
                xml,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                escape(message),
                case.classname,
                escape(detail)
            );
        }
        if let Some(reason) = &case.skipped {
            let _ = writeln!(xml, "      <skipped message=\"{}\"/>", escape(reason));
        }
        if let Some(output) = &case.output {
            let _ = writeln!(xml, "      <system-out>{}</system-out>", escape(output));
        }
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn number(value: f64) -> String {
    loadgrid_report::format::decimal(value, 4)
}

/// Text for an XML attribute or element: the five predefined entities, and
/// characters XML 1.0 cannot hold at all (most control characters) replaced
/// by U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use quick_xml::events::Event;
    use quick_xml::Reader;

    use super::*;
    use crate::fixtures;

    /// Parses the whole document (quick-xml checks that end tags match);
    /// returns (test case name, classname, failure message) rows.
    fn parse(xml: &str) -> Vec<(String, String, Option<String>)> {
        let mut reader = Reader::from_str(xml);
        let mut cases = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    let attr = |name: &str| {
                        e.try_get_attribute(name)
                            .unwrap()
                            .map(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().into_owned())
                    };
                    match e.name().as_ref() {
                        b"testcase" => cases.push((attr("name").unwrap(), attr("classname").unwrap(), None)),
                        b"failure" => cases.last_mut().unwrap().2 = attr("message"),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        cases
    }

    #[test]
    fn escaping_covers_the_five_entities_and_control_characters() {
        assert_eq!(escape("<&>\"'"), "&lt;&amp;&gt;&quot;&apos;");
        assert_eq!(escape("a\u{1}b\tc"), "a\u{FFFD}b\tc");
    }

    #[test]
    fn every_crossed_threshold_and_regressed_rule_is_a_failure() {
        let summary = fixtures::summary(fixtures::NASTY_NAME);
        let record = fixtures::record(&summary, Some(fixtures::regression()));
        let xml = render(&summary, &record);
        let cases = parse(&xml);
        let failed: Vec<(&str, &str)> =
            cases.iter().filter(|c| c.2.is_some()).map(|c| (c.1.as_str(), c.0.as_str())).collect();
        assert_eq!(
            failed,
            [
                ("thresholds", "http_req_duration: p(95)<300"),
                ("thresholds", "http_req_failed: rate<0.01"),
                ("thresholds", "custom: p(95)<\"&'"),
                ("regression", "http_req_duration.p(95) +10%"),
            ],
            "{xml}"
        );
        assert_eq!(cases.len(), 1 + 5 + 3);
        let p95 = cases.iter().find(|c| c.0 == "http_req_duration: p(95)<300").unwrap();
        assert!(p95.2.as_deref().unwrap().contains("observed 312.5ms"), "{p95:?}");
        let rate = cases.iter().find(|c| c.0 == "http_req_failed: rate<0.01").unwrap();
        assert!(rate.2.as_deref().unwrap().contains("observed 1.20%"), "{rate:?}");
        let rule = cases.iter().find(|c| c.1 == "regression" && c.2.is_some()).unwrap();
        assert!(rule.2.as_deref().unwrap().contains("250 → 312.5 (+25.0%)"), "{rule:?}");
        assert!(xml.contains("<testsuite name=\"loadgrid: check&lt;out&gt; &amp; &quot;pay&quot; &apos;n&apos;"));
        assert!(xml.contains("failures=\"4\"") && xml.contains("skipped=\"1\""), "{xml}");
        assert!(cases.iter().any(|c| c.0 == "run" && c.2.is_none()), "the run itself completed");
    }

    #[test]
    fn a_failed_run_fails_the_run_case_with_its_shards() {
        let summary = fixtures::failed_summary();
        let xml = render(&summary, &fixtures::record(&summary, None));
        let run = parse(&xml).into_iter().find(|c| c.0 == "run").unwrap();
        assert_eq!(run.2.as_deref(), Some("shard 1 never reported"));
        assert!(xml.contains("shard 1 missing"), "{xml}");
    }
}
