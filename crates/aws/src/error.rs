//! SDK errors as one readable line.

use std::error::Error;

/// The whole chain of an SDK error ("service error" alone says nothing),
/// with the usual causes turned into a next step.
pub fn sdk_message(error: &(dyn Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut current: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    let message = parts.join(": ");
    let lower = message.to_ascii_lowercase();
    if lower.contains("dispatch failure") || lower.contains("connection refused") || lower.contains("dns error") {
        format!("{message} (cannot reach the AWS endpoint: check the network, the region and --endpoint-url)")
    } else if lower.contains("expiredtoken")
        || lower.contains("invalidclienttokenid")
        || lower.contains("signaturedoesnotmatch")
    {
        format!("{message} (the AWS credentials are not valid: refresh them, e.g. `aws sso login`)")
    } else {
        message
    }
}
