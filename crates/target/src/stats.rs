//! Request counters.
//!
//! The hot path must stay cheap on a single core, so counting is:
//! one read-lock of an (uncontended, read-mostly) `RwLock<HashMap>` to map a
//! path to a slot, and one relaxed `fetch_add` on that slot's `AtomicU64`.
//! Connections additionally cache the last path they counted (see
//! [`PathCache`]), which skips the lock and the hash lookup entirely in the
//! common case of a client hitting the same URL over a keep-alive connection.
//! The total is the sum of all slots, so there is no second shared counter.
//!
//! Only the first [`MAX_PATHS`] distinct paths get a slot; any later new
//! path is counted in the [`OTHER`] bucket.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// How many distinct paths are counted individually.
pub const MAX_PATHS: usize = 1000;

/// Bucket name for paths seen after [`MAX_PATHS`] distinct ones.
pub const OTHER: &str = "<other>";

/// Snapshot of the target's counters, as served by `/__stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Requests served (all paths except `/__stats`).
    pub requests: u64,
    /// Requests per path (query string stripped). At most [`MAX_PATHS`]
    /// entries plus `"<other>"`.
    pub paths: BTreeMap<String, u64>,
}

pub(crate) struct Counters {
    index: RwLock<HashMap<Arc<str>, usize>>,
    /// `MAX_PATHS` path slots followed by the `<other>` slot.
    slots: Box<[AtomicU64]>,
}

/// Per-connection memo of the last counted path and its slot.
#[derive(Default)]
pub(crate) struct PathCache {
    last: Option<(Arc<str>, usize)>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            index: RwLock::new(HashMap::with_capacity(64)),
            slots: (0..=MAX_PATHS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one request for `path`, using and refreshing `cache`.
    #[inline]
    pub(crate) fn record(&self, path: &str, cache: &mut PathCache) {
        let slot = match &cache.last {
            Some((p, slot)) if **p == *path => *slot,
            _ => {
                let (name, slot) = self.slot_for(path);
                // `<other>` paths are not cached (name is None): their next
                // lookup is a cheap miss anyway, and caching would need an
                // allocation per new path.
                cache.last = name.map(|n| (n, slot));
                slot
            }
        };
        self.slots[slot].fetch_add(1, Ordering::Relaxed);
    }

    fn slot_for(&self, path: &str) -> (Option<Arc<str>>, usize) {
        {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            if let Some((name, &slot)) = index.get_key_value(path) {
                return (Some(name.clone()), slot);
            }
            if index.len() >= MAX_PATHS {
                return (None, MAX_PATHS);
            }
        }
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        if let Some((name, &slot)) = index.get_key_value(path) {
            return (Some(name.clone()), slot);
        }
        let slot = index.len();
        if slot >= MAX_PATHS {
            return (None, MAX_PATHS);
        }
        let name: Arc<str> = Arc::from(path);
        index.insert(name.clone(), slot);
        (Some(name), slot)
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let mut paths = BTreeMap::new();
        let mut requests = 0u64;
        for (name, &slot) in index.iter() {
            let n = self.slots[slot].load(Ordering::Relaxed);
            requests += n;
            paths.insert(name.to_string(), n);
        }
        let other = self.slots[MAX_PATHS].load(Ordering::Relaxed);
        if other > 0 {
            requests += other;
            paths.insert(OTHER.to_string(), other);
        }
        Stats { requests, paths }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_caps_paths() {
        let c = Counters::new();
        let mut cache = PathCache::default();
        c.record("/a", &mut cache);
        c.record("/a", &mut cache);
        c.record("/b", &mut cache);
        c.record("/a", &mut PathCache::default());
        let s = c.snapshot();
        assert_eq!(s.requests, 4);
        assert_eq!(s.paths.get("/a"), Some(&3));
        assert_eq!(s.paths.get("/b"), Some(&1));
        assert!(!s.paths.contains_key(OTHER));

        for i in 0..MAX_PATHS + 10 {
            c.record(&format!("/p{i}"), &mut cache);
        }
        // Known paths keep counting after the cap is hit.
        c.record("/a", &mut cache);
        let s = c.snapshot();
        assert_eq!(s.requests, 4 + MAX_PATHS as u64 + 10 + 1);
        assert_eq!(s.paths.len(), MAX_PATHS + 1, "1000 paths + <other>");
        assert_eq!(s.paths.get("/a"), Some(&4));
        // /a and /b took 2 slots, so 12 of the /pN paths overflowed.
        assert_eq!(s.paths.get(OTHER), Some(&12));
    }
}
