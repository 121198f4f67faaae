//! AWS SDK errors as people read them: each cause once, an SDK error's code
//! and message (never its debug dump), and what to do about the usual ones.

use std::error::Error;

/// Whether the AWS endpoint could not be reached at all (no connection, DNS,
/// timeout), as opposed to AWS answering with an error.
pub fn is_unreachable(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["dispatch failure", "connection refused", "dns error", "timeout", "timed out", "connect error"]
        .iter()
        .any(|needle| lower.contains(needle))
}

pub fn sdk_message(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        let text = metadata_text(&text).unwrap_or(text);
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    // `service error` / `unhandled error` say nothing once the code and
    // message follow.
    if parts.len() > 1 {
        parts.retain(|p| !matches!(p.as_str(), "service error" | "unhandled error"));
    }
    let message = parts.join(": ");
    let lower = message.to_ascii_lowercase();
    if is_unreachable(&message) {
        format!("{message} (cannot reach the AWS endpoint: check the network, the region and --endpoint-url)")
    } else if lower.contains("expiredtoken")
        || lower.contains("invalidclienttokenid")
        || lower.contains("signaturedoesnotmatch")
    {
        format!("{message} (the AWS credentials are not valid: refresh them, e.g. `aws sso login`)")
    } else if lower.contains("accessdenied")
        || lower.contains("unauthorizedoperation")
        || lower.contains("not authorized")
    {
        format!(
            "{message} (the credentials may not do this: `loadgrid infra template --iam-policies DIR` writes the \
             policies loadgrid needs)"
        )
    } else if lower.contains("throttl") || lower.contains("rate exceeded") || lower.contains("slowdown") {
        format!("{message} (AWS is limiting the request rate: try again in a minute)")
    } else {
        message
    }
}

/// `Error { code: "X", message: "Y", aws_request_id: "…" }` (how the SDK
/// displays an error's metadata) as `X: Y`.
fn metadata_text(text: &str) -> Option<String> {
    let body = text.strip_prefix("Error {")?;
    let field = |name: &str| -> Option<String> {
        let start = body.find(&format!("{name}: \""))? + name.len() + 3;
        let mut value = String::new();
        let mut chars = body[start..].chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(value),
                '\\' => value.push(match chars.next()? {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                }),
                c => value.push(c),
            }
        }
        None
    };
    match (field("code"), field("message")) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (Some(code), None) => Some(code),
        (None, Some(message)) => Some(message),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_metadata_reads_as_code_and_message() {
        let dump = r#"Error { code: "InvalidSubnetID.NotFound", message: "The subnet ID 'subnet-x' does not \"exist\"", aws_request_id: "8c0f" }"#;
        assert_eq!(
            metadata_text(dump).unwrap(),
            "InvalidSubnetID.NotFound: The subnet ID 'subnet-x' does not \"exist\""
        );
        assert_eq!(metadata_text("plain"), None);
    }

    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<Chain>>);
    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Chain {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|c| c as &(dyn Error + 'static))
        }
    }

    #[test]
    fn a_service_error_shows_its_code_and_message_once() {
        let error = Chain(
            "service error",
            Some(Box::new(Chain(
                "unhandled error (InvalidSubnetID.NotFound)",
                Some(Box::new(Chain(
                    r#"Error { code: "InvalidSubnetID.NotFound", message: "no such subnet", aws_request_id: "1" }"#,
                    None,
                ))),
            ))),
        );
        assert_eq!(
            sdk_message(&error),
            "unhandled error (InvalidSubnetID.NotFound): InvalidSubnetID.NotFound: no such subnet"
        );
        let refused = Chain("dispatch failure", Some(Box::new(Chain("Connection refused (os error 111)", None))));
        assert!(sdk_message(&refused)
            .ends_with("(cannot reach the AWS endpoint: check the network, the region and --endpoint-url)"));
    }
}
