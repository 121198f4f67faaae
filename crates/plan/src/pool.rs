//! The EC2 pool's lease: which runs hold which instances of the pool, so
//! that overlapping runs share the instances and the last one to let go of
//! an instance stops it.
//!
//! The lease is one record in the store, changed only through a
//! compare-and-swap (see `loadgrid_aws::ecs::pool`); this module is the
//! pure part: how shards are placed on instances, and what taking and
//! letting go of a hold changes.
//!
//! Every hold lapses at its run's deadline, so a run whose orchestrator
//! died holds nothing for ever: the next run to let go stops what only the
//! lapsed hold kept running.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Who holds which instances of the pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolLease {
    /// Run id → its hold.
    #[serde(default)]
    pub holders: BTreeMap<String, Hold>,
    /// Instance → the run that let go of it last and is stopping it.
    #[serde(default)]
    pub stopping: BTreeMap<String, StopMark>,
}

/// One run's instances: how many of its shards each carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub instances: BTreeMap<String, u32>,
    /// When the hold lapses (the run's deadline): ms since the Unix epoch.
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopMark {
    pub run_id: String,
    pub at_ms: i64,
}

/// The shards do not fit what the pool has free.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFull {
    pub wanted: u32,
    pub free: u32,
    /// The runs holding the rest.
    pub held_by: Vec<String>,
}

impl std::fmt::Display for PoolFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the pool has room for {} more shard{} and this run needs {}",
            self.free,
            plural(self.free),
            self.wanted
        )?;
        if !self.held_by.is_empty() {
            write!(
                f,
                " (run{} {} hold{} the rest)",
                plural(self.held_by.len() as u32),
                self.held_by.join(", "),
                if self.held_by.len() == 1 { "s" } else { "" }
            )?;
        }
        Ok(())
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The fewest instances that carry `shards`, at `per_instance` each.
pub fn instances_needed(shards: u32, per_instance: u32) -> Option<u32> {
    (per_instance > 0).then(|| shards.div_ceil(per_instance))
}

impl PoolLease {
    fn live(&self, now_ms: i64) -> impl Iterator<Item = (&String, &Hold)> {
        self.holders.iter().filter(move |(_, hold)| hold.expires_at_ms > now_ms)
    }

    /// Shards each instance carries for runs whose hold has not lapsed.
    pub fn in_use(&self, now_ms: i64) -> BTreeMap<String, u32> {
        let mut used = BTreeMap::new();
        for (_, hold) in self.live(now_ms) {
            for (instance, shards) in &hold.instances {
                *used.entry(instance.clone()).or_insert(0) += shards;
            }
        }
        used
    }

    /// The runs whose hold on `instance` has not lapsed, with how many of
    /// their shards it carries.
    pub fn holders_of(&self, instance: &str, now_ms: i64) -> BTreeMap<String, u32> {
        self.live(now_ms).filter_map(|(run, hold)| Some((run.clone(), *hold.instances.get(instance)?))).collect()
    }

    /// Where `shards` go: first the free room on instances other runs
    /// already keep running (nothing to start, nothing more to pay), then
    /// idle instances in the pool's order, each filled before the next.
    pub fn place(
        &self,
        pool: &[String],
        per_instance: u32,
        shards: u32,
        now_ms: i64,
    ) -> Result<BTreeMap<String, u32>, PoolFull> {
        let used = self.in_use(now_ms);
        let free = |instance: &String| per_instance.saturating_sub(used.get(instance).copied().unwrap_or(0));
        let running = pool.iter().filter(|i| used.contains_key(*i));
        let idle = pool.iter().filter(|i| !used.contains_key(*i));
        let mut placed = BTreeMap::new();
        let mut left = shards;
        for instance in running.chain(idle) {
            if left == 0 {
                break;
            }
            let here = free(instance).min(left);
            if here > 0 {
                placed.insert(instance.clone(), here);
                left -= here;
            }
        }
        if left > 0 {
            return Err(PoolFull {
                wanted: shards,
                free: pool.iter().map(free).sum(),
                held_by: self.live(now_ms).map(|(run, _)| run.clone()).collect(),
            });
        }
        Ok(placed)
    }

    /// `run` takes `hold`; the instances in it are no longer being stopped
    /// by anyone (the run waits for a stopping one to stop, then starts it).
    pub fn take(&mut self, run_id: &str, hold: Hold) {
        for instance in hold.instances.keys() {
            self.stopping.remove(instance);
        }
        self.holders.insert(run_id.to_owned(), hold);
    }

    /// `run` lets go. Returns the instances nobody holds any more, which
    /// `run` now stops: its own, and any that only lapsed holds kept. They
    /// are marked as stopped by `run`, and lapsed holds are dropped.
    pub fn let_go(&mut self, run_id: &str, now_ms: i64) -> Vec<String> {
        let mine = self.holders.remove(run_id);
        let lapsed: Vec<String> =
            self.holders.iter().filter(|(_, hold)| hold.expires_at_ms <= now_ms).map(|(run, _)| run.clone()).collect();
        let mut candidates: BTreeSet<String> = mine.into_iter().flat_map(|hold| hold.instances.into_keys()).collect();
        for run in lapsed {
            if let Some(hold) = self.holders.remove(&run) {
                candidates.extend(hold.instances.into_keys());
            }
        }
        let used = self.in_use(now_ms);
        let to_stop: Vec<String> = candidates.into_iter().filter(|i| !used.contains_key(i)).collect();
        for instance in &to_stop {
            self.stopping.insert(instance.clone(), StopMark { run_id: run_id.to_owned(), at_ms: now_ms });
        }
        to_stop
    }

    /// Of `instances`, those `run` still has marked as its to stop: another
    /// run that took one since must not see it stopped under it.
    pub fn still_stopping_by(&self, run_id: &str, instances: &[String]) -> Vec<String> {
        instances.iter().filter(|i| self.stopping.get(*i).is_some_and(|mark| mark.run_id == run_id)).cloned().collect()
    }

    /// Clears `run`'s stop marks on `instances`, once they are stopped.
    pub fn stopped(&mut self, run_id: &str, instances: &[String]) {
        for instance in instances {
            if self.stopping.get(instance).is_some_and(|mark| mark.run_id == run_id) {
                self.stopping.remove(instance);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("i-{i}")).collect()
    }

    fn hold(pairs: &[(&str, u32)], expires_at_ms: i64) -> Hold {
        Hold { instances: pairs.iter().map(|(i, n)| ((*i).to_owned(), *n)).collect(), expires_at_ms }
    }

    fn placed(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(i, n)| ((*i).to_owned(), *n)).collect()
    }

    #[test]
    fn the_fewest_instances_carry_the_shards() {
        assert_eq!(instances_needed(5, 4), Some(2));
        assert_eq!(instances_needed(8, 4), Some(2));
        assert_eq!(instances_needed(3, 0), None);
    }

    #[test]
    fn an_idle_pool_is_filled_one_instance_at_a_time() {
        let lease = PoolLease::default();
        assert_eq!(lease.place(&pool(3), 4, 6, 0), Ok(placed(&[("i-1", 4), ("i-2", 2)])));
        assert_eq!(lease.place(&pool(3), 4, 1, 0), Ok(placed(&[("i-1", 1)])));
    }

    #[test]
    fn a_second_run_uses_the_room_left_on_running_instances_first() {
        let mut lease = PoolLease::default();
        lease.take("a", hold(&[("i-2", 3)], 1_000));
        assert_eq!(lease.place(&pool(3), 4, 3, 0), Ok(placed(&[("i-1", 2), ("i-2", 1)])));
        assert_eq!(lease.holders_of("i-2", 0), placed(&[("a", 3)]));
        assert!(lease.holders_of("i-2", 1_000).is_empty(), "a lapsed hold holds nothing");
    }

    #[test]
    fn a_full_pool_says_how_much_room_is_left_and_who_holds_it() {
        let mut lease = PoolLease::default();
        lease.take("a", hold(&[("i-1", 4), ("i-2", 3)], 1_000));
        let full = lease.place(&pool(2), 4, 2, 0).unwrap_err();
        assert_eq!(full, PoolFull { wanted: 2, free: 1, held_by: vec!["a".into()] });
        assert_eq!(full.to_string(), "the pool has room for 1 more shard and this run needs 2 (run a holds the rest)");
        // A lapsed hold frees its room.
        assert_eq!(lease.place(&pool(2), 4, 2, 1_000), Ok(placed(&[("i-1", 2)])));
    }

    #[test]
    fn the_last_run_to_let_go_of_an_instance_stops_it() {
        let mut lease = PoolLease::default();
        lease.take("a", hold(&[("i-1", 2)], 1_000));
        lease.take("b", hold(&[("i-1", 2), ("i-2", 1)], 1_000));
        // a ends first: b still uses i-1.
        assert_eq!(lease.let_go("a", 10), Vec::<String>::new());
        assert!(lease.stopping.is_empty());
        // b ends: both of its instances stop, marked as stopped by b.
        assert_eq!(lease.let_go("b", 20), vec!["i-1".to_owned(), "i-2".to_owned()]);
        assert_eq!(lease.stopping["i-1"], StopMark { run_id: "b".into(), at_ms: 20 });
        assert!(lease.holders.is_empty());
    }

    #[test]
    fn a_run_that_takes_an_instance_being_stopped_keeps_it_from_being_stopped() {
        let mut lease = PoolLease::default();
        lease.take("a", hold(&[("i-1", 1)], 1_000));
        let to_stop = lease.let_go("a", 10);
        assert_eq!(lease.still_stopping_by("a", &to_stop), vec!["i-1".to_owned()]);
        lease.take("b", hold(&[("i-1", 1)], 2_000));
        assert!(lease.still_stopping_by("a", &to_stop).is_empty());
        lease.stopped("a", &to_stop);
        assert!(lease.holders.contains_key("b"));
    }

    #[test]
    fn a_lapsed_hold_is_dropped_and_its_instances_stopped_by_the_next_run_to_let_go() {
        let mut lease = PoolLease::default();
        lease.take("crashed", hold(&[("i-2", 1)], 100));
        lease.take("a", hold(&[("i-1", 1)], 1_000));
        assert_eq!(lease.let_go("a", 500), vec!["i-1".to_owned(), "i-2".to_owned()]);
        assert!(lease.holders.is_empty());
    }

    #[test]
    fn the_lease_reads_back_as_written() {
        let mut lease = PoolLease::default();
        lease.take("a", hold(&[("i-1", 3)], 1_000));
        lease.let_go("nobody", 0);
        let json = serde_json::to_string(&lease).unwrap();
        assert_eq!(serde_json::from_str::<PoolLease>(&json).unwrap(), lease);
        assert_eq!(serde_json::from_str::<PoolLease>("{}").unwrap(), PoolLease::default());
    }
}
