//! How a judged run is told to people and tools: the "notify" end of a run.
//!
//! - [`junit`]: JUnit XML, one test case per threshold and regression rule.
//! - [`markdown`]: the Markdown summary (step summary, PR comment, issue body)
//!   and the differences from the last green run.
//! - [`actions`]: GitHub Actions `::error` annotations, step outputs and the
//!   writers for the `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files.
//! - [`github`]: the GitHub REST client: issues, commit statuses, PR comments.
//! - [`message`]: short texts: SNS messages, commit status descriptions.
//!
//! The renderers are pure; the writers take their paths explicitly and the
//! GitHub client its base URL and token, so that the CLI alone reads the
//! environment. A notification failure is an error for the caller to print
//! as a warning: it never changes a run's exit code.

pub mod actions;
pub mod github;
pub mod junit;
pub mod markdown;
pub mod message;

use std::fmt;
use std::str::FromStr;

use loadgrid_history::FinalVerdict;
use loadgrid_report::format;

/// Where `--notify` sends word of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An issue per failing test, a commit status, a PR comment.
    GitHub,
    /// A message on an SNS topic.
    Sns { topic_arn: String },
}

impl FromStr for Target {
    type Err = String;

    /// `github` or `sns:<topic-arn>`.
    fn from_str(text: &str) -> Result<Target, String> {
        let text = text.trim();
        if text == "github" {
            return Ok(Target::GitHub);
        }
        if let Some(arn) = text.strip_prefix("sns:") {
            return if is_sns_topic_arn(arn) {
                Ok(Target::Sns { topic_arn: arn.to_owned() })
            } else {
                Err(format!(
                    "`{arn}` is not an SNS topic ARN: expected `arn:aws:sns:<region>:<account-id>:<topic>` \
                     (`loadgrid infra outputs` shows the alerts topic)"
                ))
            };
        }
        Err(format!("unknown notification target `{text}`: use `github` or `sns:<topic-arn>`"))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::GitHub => f.write_str("github"),
            Target::Sns { topic_arn } => write!(f, "sns:{topic_arn}"),
        }
    }
}

/// `arn:<partition>:sns:<region>:<12-digit account>:<topic name>`.
fn is_sns_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    let name_ok = |name: &str| {
        !name.is_empty() && name.len() <= 256 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && name_ok(parts[5])
}

/// ✅ passed, ⚠️ regressed, ❌ anything else.
pub fn verdict_emoji(verdict: FinalVerdict) -> &'static str {
    match verdict {
        FinalVerdict::Passed => "✅",
        FinalVerdict::Regressed => "⚠️",
        FinalVerdict::ThresholdsCrossed
        | FinalVerdict::Aborted
        | FinalVerdict::MarkedFailed
        | FinalVerdict::GeneratorSaturated
        | FinalVerdict::Failed => "❌",
    }
}

/// At most `max` characters, the last one `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The headline numbers in one line: `p95 12.5ms, errors 0.00%, 420.1 req/s`.
pub fn headline_text(record: &loadgrid_history::HistoryRecord) -> String {
    let h = &record.headline;
    let mut parts = Vec::new();
    if let Some(p95) = h.p95_ms {
        parts.push(format!("p95 {}", format::duration_ms(p95)));
    }
    if let Some(rate) = h.error_rate {
        parts.push(format!("errors {}", format::percent(rate)));
    }
    if let Some(rps) = h.rps {
        parts.push(format!("{} req/s", format::decimal(rps, 1)));
    }
    if parts.is_empty() {
        "no HTTP requests".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_or_say_what_is_expected() {
        assert_eq!("github".parse::<Target>(), Ok(Target::GitHub));
        let arn = "arn:aws:sns:eu-west-1:123456789012:loadgrid-alerts";
        assert_eq!(format!("sns:{arn}").parse::<Target>(), Ok(Target::Sns { topic_arn: arn.into() }));
        assert_eq!(Target::Sns { topic_arn: arn.into() }.to_string(), format!("sns:{arn}"));
        assert!("slack".parse::<Target>().unwrap_err().contains("use `github` or `sns:<topic-arn>`"));
        for bad in ["sns:", "sns:topic", "sns:arn:aws:sqs:eu-west-1:123456789012:q", "sns:arn:aws:sns:eu-west-1:1:t"] {
            assert!(bad.parse::<Target>().unwrap_err().contains("not an SNS topic ARN"), "{bad}");
        }
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdé", 4), "abc…");
        assert_eq!(truncate("ééééé", 2).chars().count(), 2);
    }
}
