//! Short texts about a run: the SNS message and its subject, a commit
//! status description.

use std::fmt::Write;

use loadgrid_history::HistoryRecord;

use crate::{headline_text, truncate};

/// SNS allows at most 100 characters of printable ASCII in a subject.
pub const SUBJECT_MAX: usize = 100;
/// GitHub keeps at most 140 characters of a commit status description.
pub const STATUS_DESCRIPTION_MAX: usize = 140;

/// `loadgrid: checkout thresholds crossed`, at most [`SUBJECT_MAX`]
/// characters of printable ASCII.
pub fn sns_subject(record: &HistoryRecord) -> String {
    let text = format!("loadgrid: {} {}", record.test_name, record.verdict.label());
    let ascii: String = text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    let mut subject = ascii;
    if subject.len() > SUBJECT_MAX {
        subject.truncate(SUBJECT_MAX - 3);
        subject.push_str("...");
    }
    subject
}

/// The SNS message: verdict, test, run id, headline numbers, regressions,
/// reasons and where to look.
pub fn sns_message(record: &HistoryRecord) -> String {
    let h = &record.headline;
    let mut text = format!(
        "loadgrid run {} of `{}`: {}\n\n",
        record.run_id,
        record.test_name,
        record.verdict.label().to_uppercase()
    );
    let number = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("n/a".to_owned(), f);
    let _ = writeln!(text, "p95:        {}", number(h.p95_ms, &|v| format!("{v:.2} ms")));
    let _ = writeln!(text, "error rate: {}", number(h.error_rate, &|v| format!("{:.2}%", v * 100.0)));
    let _ = writeln!(text, "RPS:        {}", number(h.rps, &|v| format!("{v:.1}")));
    let _ = writeln!(text, "requests:   {}", number(h.requests, &|v| format!("{v:.0}")));
    if let Some(report) = &record.regression {
        let regressed: Vec<_> = report.results.iter().filter(|r| r.regressed).collect();
        if regressed.is_empty() {
            let _ = writeln!(text, "\nno regression against {}", report.baseline_run_id);
        } else {
            let _ = writeln!(text, "\nregressed against {}:", report.baseline_run_id);
            for r in regressed {
                let _ = writeln!(text, "- {} {} (allowed {})", r.key(), r.delta_text, r.rule);
            }
        }
    }
    if !record.verdict_reasons.is_empty() {
        text.push_str("\nwhy:\n");
        for reason in &record.verdict_reasons {
            let _ = writeln!(text, "- {reason}");
        }
    }
    if let Some(git) = &record.git {
        if let Some(sha) = &git.sha {
            let _ = writeln!(text, "\ncommit: {sha}");
        }
        if let Some(url) = &git.run_url {
            let _ = writeln!(text, "CI run: {url}");
        }
    }
    text
}

/// `thresholds crossed: p95 312.5ms, errors 1.20%, 100 req/s`, at most
/// [`STATUS_DESCRIPTION_MAX`] characters.
pub fn status_description(record: &HistoryRecord) -> String {
    truncate(&format!("{}: {}", record.verdict.label(), headline_text(record)), STATUS_DESCRIPTION_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn the_sns_message_names_test_verdict_and_numbers() {
        let summary = fixtures::summary("checkout");
        let record = fixtures::record(&summary, Some(fixtures::regression()));
        assert_eq!(sns_subject(&record), "loadgrid: checkout thresholds crossed");
        let message = sns_message(&record);
        assert!(message.starts_with("loadgrid run 20260101-020000-abcd of `checkout`: THRESHOLDS CROSSED"));
        for part in
            ["p95:        312.50 ms", "error rate: 1.20%", "RPS:        100.0", "- http_req_duration.p(95) +25.0%"]
        {
            assert!(message.contains(part), "{part}\n{message}");
        }
    }

    #[test]
    fn subjects_and_descriptions_fit_their_limits() {
        let summary = fixtures::summary(&"ü".repeat(300));
        let record = fixtures::record(&summary, None);
        let subject = sns_subject(&record);
        assert_eq!(subject.len(), SUBJECT_MAX);
        assert!(subject.is_ascii() && subject.ends_with("..."));
        assert_eq!(status_description(&record), "thresholds crossed: p95 312.5ms, errors 1.20%, 100 req/s");
    }
}
