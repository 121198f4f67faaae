//! A run's verdict on an SNS topic (`--notify sns:<topic-arn>`), e.g. the
//! alerts topic `loadgrid infra` creates.

use aws_config::Region;

use crate::clients::AwsContext;
use crate::error::sdk_message;

/// SNS takes at most 100 characters of printable ASCII as a subject.
pub const SUBJECT_MAX: usize = 100;

/// Publishes `message` to `topic_arn` and returns the message id. The call
/// goes to the topic's own region (the ARN's fourth field), whatever the
/// configured one; `subject` is cut to what SNS accepts.
pub async fn publish(aws: &AwsContext, topic_arn: &str, subject: &str, message: &str) -> anyhow::Result<String> {
    let client = aws.sns();
    let client = match topic_arn.split(':').nth(3).filter(|r| !r.is_empty()) {
        Some(region) => {
            aws_sdk_sns::Client::from_conf(client.config().to_builder().region(Region::new(region.to_owned())).build())
        }
        None => client,
    };
    let output = client
        .publish()
        .topic_arn(topic_arn)
        .subject(subject_text(subject))
        .message(message)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("SNS publish to `{topic_arn}`: {}", sdk_message(&e)))?;
    Ok(output.message_id().unwrap_or_default().to_owned())
}

/// Printable ASCII without line breaks, at most [`SUBJECT_MAX`] characters.
pub fn subject_text(subject: &str) -> String {
    let mut text: String =
        subject.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(SUBJECT_MAX).collect();
    if subject.chars().count() > SUBJECT_MAX {
        text.truncate(SUBJECT_MAX - 3);
        text.push_str("...");
    }
    let text = text.trim().to_owned();
    if text.is_empty() {
        "loadgrid".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_short_printable_ascii() {
        assert_eq!(subject_text("loadgrid: checkout passed"), "loadgrid: checkout passed");
        assert_eq!(subject_text("a\nb é"), "a?b ?");
        let long = subject_text(&"x".repeat(300));
        assert_eq!((long.len(), long.ends_with("...")), (SUBJECT_MAX, true));
        assert_eq!(subject_text("\n"), "?");
        assert_eq!(subject_text(" "), "loadgrid");
    }
}
