//! Reads the agent's clock against the store's (see
//! `loadgrid_health::clock`) while k6 starts and runs: writes to one object
//! and reads back the time the store gave each write. A short test ends
//! before the reading is as sharp as it gets; it then says how unsure it is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use loadgrid_health::clock::{self, ClockOffset, Probe};
use loadgrid_plan::records::now_ms;
use loadgrid_store::Store;

/// Enough probes to halve whole-second bounds down to a few milliseconds.
const MAX_PROBES: usize = 12;
/// Below this uncertainty, more probes are not worth their requests.
const GOOD_ENOUGH_MS: i64 = 10;

/// Probes taken so far, shared with the task that takes them.
#[derive(Clone, Default)]
pub struct Probes(Arc<Mutex<Vec<Probe>>>);

impl Probes {
    /// The offset the probes so far agree on.
    pub fn offset(&self) -> Option<ClockOffset> {
        clock::offset(&self.0.lock().expect("probes lock"))
    }

    fn snapshot(&self) -> Vec<Probe> {
        self.0.lock().expect("probes lock").clone()
    }
}

/// Probes until the offset is sharp enough, a write fails, or the task is
/// dropped with the agent's runtime.
pub async fn measure(store: Store, key: String, probes: Probes) {
    for _ in 0..MAX_PROBES {
        let taken = probes.snapshot();
        if clock::offset(&taken).is_some_and(|offset| offset.uncertainty_ms <= GOOD_ENOUGH_MS) {
            return;
        }
        if !taken.is_empty() {
            let now = now_ms();
            let Some(at) = clock::next_send_ms(&taken, now) else { return };
            tokio::time::sleep(Duration::from_millis((at - now).max(0) as u64)).await;
        }
        let sent_ms = now_ms();
        if store.put(&key, &b"clock"[..]).await.is_err() {
            return;
        }
        let answered_ms = now_ms();
        let Ok(Some(stored_ms)) = store.written_at_ms(&key).await else { return };
        probes.0.lock().expect("probes lock").push(Probe { sent_ms, answered_ms, stored_ms });
    }
}
