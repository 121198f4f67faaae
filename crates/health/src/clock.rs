//! An agent's clock against the store's.
//!
//! The grid starts every shard at one wall-clock time, so an agent whose
//! clock is off starts that much early or late. On S3 the only clock all
//! agents share is the store's: an object's `Last-Modified` is the store's
//! time when it took the write, to the second. Each [`Probe`] (a write,
//! then reading its time) bounds the offset; probes sent so that the
//! store's second ticks over in the middle of the bounds halve them, so a
//! few probes measure the offset to a few milliseconds plus the network's
//! round trip (the way `htpdate` reads clocks from HTTP `Date` headers).

use serde::{Deserialize, Serialize};

/// Above this, a shard's start is said to be off.
pub const CLOCK_WARNING_MS: i64 = 50;

/// One write to the store and the time the store gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// The agent's clock when it sent the write, and when the answer came.
    pub sent_ms: i64,
    pub answered_ms: i64,
    /// The object's modification time by the store's clock.
    pub stored_ms: i64,
}

/// The store's clock minus the agent's: positive when the agent's clock is
/// behind (its shard starts late by that much).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    pub offset_ms: i64,
    /// The true offset is within this of `offset_ms`.
    pub uncertainty_ms: i64,
}

impl ClockOffset {
    /// Whether the offset is more than [`CLOCK_WARNING_MS`] even at its
    /// most favourable.
    pub fn is_off(&self) -> bool {
        self.offset_ms.abs() - self.uncertainty_ms > CLOCK_WARNING_MS
    }
}

/// Whole seconds when every time the store gave is one (S3's
/// `Last-Modified`); a millisecond otherwise (a file's modification time).
fn resolution_ms(probes: &[Probe]) -> i64 {
    if probes.iter().all(|p| p.stored_ms.rem_euclid(1000) == 0) {
        1000
    } else {
        1
    }
}

/// The offset's bounds, `None` without probes or when they disagree (a
/// clock stepped while probing).
fn bounds(probes: &[Probe]) -> Option<(i64, i64)> {
    let resolution = resolution_ms(probes);
    // The store took the write at a time in [stored, stored + resolution),
    // which the agent saw in [sent, answered].
    let low = probes.iter().map(|p| p.stored_ms - p.answered_ms).max()?;
    let high = probes.iter().map(|p| p.stored_ms + resolution - p.sent_ms).min()?;
    (low <= high).then_some((low, high))
}

/// The offset the probes agree on.
pub fn offset(probes: &[Probe]) -> Option<ClockOffset> {
    let (low, high) = bounds(probes)?;
    Some(ClockOffset { offset_ms: (low + high).div_euclid(2), uncertainty_ms: (high - low + 1).div_euclid(2) })
}

/// When (by the agent's clock) to send the next probe so that, by the
/// middle of the current bounds, it reaches the store just as the store's
/// second ticks over. `None` when there is nothing to narrow.
pub fn next_send_ms(probes: &[Probe], now_ms: i64) -> Option<i64> {
    let (low, high) = bounds(probes)?;
    if resolution_ms(probes) == 1 {
        return None;
    }
    let half_trip = probes.last().map_or(0, |p| (p.answered_ms - p.sent_ms) / 2);
    let middle = (low + high).div_euclid(2);
    // The arrival, by the store's clock, at the first whole second after now.
    let store_arrival = (now_ms + half_trip + middle).div_euclid(1000) * 1000 + 1000;
    Some(store_arrival - middle - half_trip)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose clock is `offset_ms` ahead, giving whole seconds, over
    /// a network of `trip_ms` each way: the agent probes as `next_send_ms`
    /// says.
    fn measure(offset_ms: i64, trip_ms: i64, start_ms: i64, max_probes: usize) -> ClockOffset {
        let mut probes: Vec<Probe> = Vec::new();
        let mut now = start_ms;
        for _ in 0..max_probes {
            if let Some(at) = next_send_ms(&probes, now) {
                now = now.max(at);
            }
            let stored_ms = (now + trip_ms + offset_ms).div_euclid(1000) * 1000;
            probes.push(Probe { sent_ms: now, answered_ms: now + 2 * trip_ms, stored_ms });
            now += 2 * trip_ms + 1;
        }
        offset(&probes).unwrap()
    }

    #[test]
    fn a_few_probes_find_an_offset_from_whole_seconds() {
        for (offset_ms, trip_ms, start_ms) in [(0, 1, 1_700_000_000_123), (180, 5, 1_700_000_000_999), (-730, 20, 7)] {
            let found = measure(offset_ms, trip_ms, start_ms, 10);
            assert!((found.offset_ms - offset_ms).abs() <= found.uncertainty_ms, "{offset_ms}: {found:?}");
            assert!(found.uncertainty_ms <= trip_ms + 3, "{offset_ms} over {trip_ms} ms: {found:?}");
        }
    }

    #[test]
    fn one_probe_bounds_the_offset_to_the_stores_resolution() {
        let found = measure(180, 5, 1_700_000_000_000, 1);
        assert!(found.uncertainty_ms > 400, "{found:?}");
        assert!(!found.is_off(), "not sure enough to warn");
    }

    #[test]
    fn a_millisecond_store_needs_one_probe() {
        let probe = Probe { sent_ms: 1000, answered_ms: 1002, stored_ms: 1081 };
        assert_eq!(offset(&[probe]), Some(ClockOffset { offset_ms: 80, uncertainty_ms: 2 }));
        assert_eq!(next_send_ms(&[probe], 1003), None);
    }

    #[test]
    fn only_an_offset_surely_past_50_ms_is_off() {
        assert!(ClockOffset { offset_ms: 120, uncertainty_ms: 8 }.is_off());
        assert!(ClockOffset { offset_ms: -120, uncertainty_ms: 8 }.is_off());
        assert!(!ClockOffset { offset_ms: 55, uncertainty_ms: 8 }.is_off());
    }

    #[test]
    fn disagreeing_probes_give_no_offset() {
        let before = Probe { sent_ms: 0, answered_ms: 10, stored_ms: 5000 };
        let after = Probe { sent_ms: 20, answered_ms: 30, stored_ms: 0 };
        assert_eq!(offset(&[before, after]), None);
    }
}
