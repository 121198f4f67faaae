//! Reads the agent's clock against the store's (see
//! `loadgrid_health::clock`), while k6 starts: writes to one object and
//! reads back the time the store gave each write.

use std::time::Duration;

use loadgrid_health::clock::{self, ClockOffset, Probe};
use loadgrid_plan::records::now_ms;
use loadgrid_store::Store;

/// Enough probes to halve whole-second bounds down to a few milliseconds.
const MAX_PROBES: usize = 12;
/// Below this uncertainty, more probes are not worth their requests.
const GOOD_ENOUGH_MS: i64 = 10;

pub async fn measure(store: Store, key: String) -> Option<ClockOffset> {
    let mut probes: Vec<Probe> = Vec::new();
    for _ in 0..MAX_PROBES {
        if clock::offset(&probes).is_some_and(|offset| offset.uncertainty_ms <= GOOD_ENOUGH_MS) {
            break;
        }
        if !probes.is_empty() {
            let now = now_ms();
            let at = clock::next_send_ms(&probes, now)?;
            tokio::time::sleep(Duration::from_millis((at - now).max(0) as u64)).await;
        }
        let sent_ms = now_ms();
        store.put(&key, &b"clock"[..]).await.ok()?;
        let answered_ms = now_ms();
        let stored_ms = store.written_at_ms(&key).await.ok()??;
        probes.push(Probe { sent_ms, answered_ms, stored_ms });
    }
    clock::offset(&probes)
}
