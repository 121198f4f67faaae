//! What k6's own log says about keeping up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Request errors whose cause is on the generator's side, by the text k6
/// (Go's net package) logs for them, and the name a person reads.
const CLIENT_SIDE_ERRORS: [(&str, &str); 3] = [
    ("too many open files", "too many open files"),
    ("cannot assign requested address", "no free local port"),
    ("no buffer space available", "no socket buffer space"),
];

/// Counts of k6 log lines that say the generator did not keep up.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct LogSignals {
    /// "Insufficient VUs, reached N active VUs and cannot initialize more".
    pub insufficient_vus: u64,
    /// Request errors caused on the client side, by kind.
    pub client_errors: BTreeMap<String, u64>,
}

impl LogSignals {
    /// Reads one line of k6's log (logfmt or plain).
    pub fn read(&mut self, line: &str) {
        if line.contains("Insufficient VUs") {
            self.insufficient_vus += 1;
            return;
        }
        if let Some(kind) = client_side_error(line) {
            *self.client_errors.entry(kind.to_owned()).or_default() += 1;
        }
    }
}

fn client_side_error(line: &str) -> Option<&'static str> {
    if let Some((_, kind)) = CLIENT_SIDE_ERRORS.iter().find(|(text, _)| line.contains(text)) {
        return Some(kind);
    }
    // A connect that timed out on a generator that has run out of sockets
    // or CPU: Go logs `dial tcp …: i/o timeout`.
    (line.contains("dial tcp") && line.contains("i/o timeout")).then_some("dial timeout")
}
