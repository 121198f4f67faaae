//! Run ids sort by time: `20261122-020512-7f3a9c1e`.

use rand::Rng;
use time::macros::format_description;
use time::OffsetDateTime;

pub fn new_run_id(now: OffsetDateTime) -> String {
    let stamp =
        now.format(format_description!("[year][month][day]-[hour][minute][second]")).expect("constant format is valid");
    // 32 random bits: runs started in the same second on one store (CI
    // matrices) must not share a directory.
    format!("{stamp}-{:08x}", rand::rng().random::<u32>())
}

pub fn rfc3339(now: OffsetDateTime) -> String {
    now.format(&time::format_description::well_known::Rfc3339).expect("UTC time formats")
}

/// Whether `text` looks like a run id (guards store paths built from user input).
pub fn is_valid(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_safe_paths() {
        let early = new_run_id(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap());
        let late = new_run_id(OffsetDateTime::from_unix_timestamp(1_700_000_001).unwrap());
        assert!(early < late, "{early} {late}");
        assert!(early.starts_with("20231114-221320-"), "{early}");
        assert!(is_valid(&early));
        assert!(!is_valid("../etc"));
    }
}
