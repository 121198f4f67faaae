//! GitHub Actions: `::error` annotations for crossed thresholds, step
//! outputs (`GITHUB_OUTPUT`) and the step summary (`GITHUB_STEP_SUMMARY`).
//!
//! Workflow commands escape their message (`%` `\r` `\n`) and, in
//! properties, `:` and `,` too. Multi-line outputs use the
//! `name<<DELIMITER` form with a random delimiter that the value does not
//! contain. The writers append to the file they are given: the caller reads
//! the environment.

use std::io::Write as _;
use std::path::Path;

use loadgrid_history::HistoryRecord;
use loadgrid_report::{RunSummary, ThresholdOutcome};

/// One `::error title=…::message` line per threshold that was crossed or
/// could not be evaluated.
pub fn annotations(summary: &RunSummary) -> Vec<String> {
    summary
        .thresholds
        .iter()
        .filter(|t| !t.outcome.ok())
        .map(|t| {
            let (title, detail) = if t.outcome == ThresholdOutcome::Crossed {
                let observed = summary.observed_text(t).map_or("no value".to_owned(), |v| format!("observed {v}"));
                ("threshold crossed", observed)
            } else {
                ("threshold not evaluated", t.message.clone().unwrap_or_else(|| "could not be evaluated".into()))
            };
            let title = format!("loadgrid {}: {title}", summary.test_name);
            let message = format!("{}: {} ({detail}) in run {}", t.metric, t.expression, summary.run_id);
            format!("::error title={}::{}", escape_property(&title), escape_data(&message))
        })
        .collect()
}

/// A workflow command's message: `%`, `\r`, `\n`.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value: the message escapes, `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The step's outputs: `verdict`, `run_id`, `p95_ms`, `error_rate`, `rps`,
/// `report_path` (an absent number is an empty string).
pub fn step_outputs(record: &HistoryRecord, report_path: &str) -> Vec<(String, String)> {
    let number = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    let h = &record.headline;
    [
        ("verdict", record.verdict.as_str().to_owned()),
        ("run_id", record.run_id.clone()),
        ("p95_ms", number(h.p95_ms, 3)),
        ("error_rate", number(h.error_rate, 6)),
        ("rps", number(h.rps, 3)),
        ("report_path", report_path.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The `GITHUB_OUTPUT` text for `outputs`: `name=value`, or
/// `name<<DELIMITER` … `DELIMITER` for a value with a line break.
/// `delimiter` makes a fresh candidate until one is not in the value.
pub fn format_outputs(outputs: &[(String, String)], mut delimiter: impl FnMut() -> String) -> String {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains(['\n', '\r']) {
            let mut marker = delimiter();
            while value.contains(&marker) || name.contains(&marker) {
                marker = delimiter();
            }
            text.push_str(&format!("{name}<<{marker}\n{value}\n{marker}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    text
}

/// A random heredoc delimiter, as the Actions toolkit makes them.
pub fn random_delimiter() -> String {
    format!("ghadelimiter_{:032x}", rand::random::<u128>())
}

/// Appends `outputs` to the `GITHUB_OUTPUT` file at `path`.
pub fn append_outputs(path: &Path, outputs: &[(String, String)]) -> std::io::Result<()> {
    append(path, &format_outputs(outputs, random_delimiter))
}

/// Appends `markdown` to the `GITHUB_STEP_SUMMARY` file at `path`.
pub fn append_step_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    let mut text = markdown.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    append(path, &text)
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn annotation_messages_and_properties_are_escaped() {
        assert_eq!(escape_data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(escape_property("a: b, c%\n"), "a%3A b%2C c%25%0A");
    }

    #[test]
    fn crossed_and_failed_thresholds_annotate_one_line_each() {
        let mut summary = fixtures::summary("shop, 100%: new\nline");
        summary.thresholds[0].expression = "p(95)<300\n".into();
        let lines = annotations(&summary);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert_eq!(
            lines[0],
            "::error title=loadgrid shop%2C 100%25%3A new%0Aline%3A threshold crossed::\
             http_req_duration: p(95)<300%0A (observed 312.5ms) in run 20260101-020000-abcd"
        );
        assert!(lines[1].contains("http_req_failed: rate<0.01 (observed 1.20%25)"), "{}", lines[1]);
        assert!(lines[2].contains("threshold not evaluated::custom"), "{}", lines[2]);
        assert!(lines.iter().all(|l| !l.contains('\n')));
    }

    #[test]
    fn outputs_carry_the_headline_and_use_heredocs_for_line_breaks() {
        let summary = fixtures::summary("checkout");
        let record = fixtures::record(&summary, None);
        let outputs = step_outputs(&record, "/tmp/store/runs/x/summary.json");
        let keys: Vec<&str> = outputs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["verdict", "run_id", "p95_ms", "error_rate", "rps", "report_path"]);
        let text = format_outputs(&outputs, random_delimiter);
        assert!(text.starts_with("verdict=thresholds_crossed\nrun_id=20260101-020000-abcd\np95_ms=312.500\n"));
        assert!(text.contains("error_rate=0.012000\nrps=100.000\nreport_path=/tmp/store/runs/x/summary.json\n"));

        let mut candidates = vec!["EOF".to_owned(), "ghadelimiter_1".to_owned()].into_iter();
        let multi = format_outputs(&[("notes".into(), "one\nEOF\ntwo".into())], || candidates.next().unwrap());
        assert_eq!(
            multi, "notes<<ghadelimiter_1\none\nEOF\ntwo\nghadelimiter_1\n",
            "a delimiter in the value is skipped"
        );
        assert_ne!(random_delimiter(), random_delimiter());
    }

    #[test]
    fn writers_append() {
        let dir = std::env::temp_dir().join(format!("loadgrid-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        append_outputs(&path, &[("a".into(), "1".into())]).unwrap();
        append_outputs(&path, &[("b".into(), "2".into())]).unwrap();
        append_step_summary(&dir.join("summary"), "# x").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a=1\nb=2\n");
        assert_eq!(std::fs::read_to_string(dir.join("summary")).unwrap(), "# x\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
