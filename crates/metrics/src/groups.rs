//! Groups and checks, tallied exactly, as k6's `root_group` holds them.
//!
//! k6 tags every `checks` sample with the check's name (`check`) and the
//! path of the group it ran in (`group`: `""` for the root, `::a::b` for
//! `group('a', () => group('b', …))`), and every `group_duration` sample
//! with the path of the group that just ended. The ingest turns those into
//! a [`GroupTree`]: one pass/fail tally per check and the set of group
//! paths, each with when it was first seen ([`FirstSeen`]). Tallies are
//! counts, so the merge adds them and is exact; the first-seen order sorts
//! groups and checks the way k6 lists them (in the order the script first
//! ran them).
//!
//! The tree is kept apart from the `checks` series, so the tag-set cap never
//! makes it inexact; it has a cap of its own ([`MAX_TREE_NODES`]) against
//! scripts that put ids in check names.

use std::collections::BTreeMap;

/// Groups plus checks kept per shard; past this, new ones are only counted
/// in [`GroupTree::dropped_samples`].
pub const MAX_TREE_NODES: usize = 10_000;

/// When a group or check was first seen: the time of its first sample, and
/// the order it appeared in its shard's stream, which breaks ties between
/// samples of one instant (the checks of one `check()` call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct FirstSeen {
    /// Microseconds since the Unix epoch.
    pub us: i64,
    pub seq: u32,
}

impl FirstSeen {
    pub fn at(us: i64) -> FirstSeen {
        FirstSeen { us, seq: 0 }
    }
}

/// How often one check passed and failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckTally {
    pub passes: u64,
    pub fails: u64,
    pub first: FirstSeen,
}

/// Every group path and check seen, with their tallies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupTree {
    /// Group path (`::a::b`) → when first seen. The root (`""`) is
    /// implicit, and so are the parents of every path.
    pub groups: BTreeMap<String, FirstSeen>,
    /// (group path, check name) → tally.
    pub checks: BTreeMap<(String, String), CheckTally>,
    /// Samples of groups or checks past [`MAX_TREE_NODES`].
    pub dropped_samples: u64,
}

impl GroupTree {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.checks.is_empty() && self.dropped_samples == 0
    }

    fn nodes(&self) -> usize {
        self.groups.len() + self.checks.len()
    }

    /// Notes a group path, seen at `time_us`. False when the tree is full.
    pub fn see_group(&mut self, path: &str, time_us: i64) -> bool {
        if path.is_empty() {
            return true;
        }
        let seen = FirstSeen::at(time_us);
        if let Some(first) = self.groups.get_mut(path) {
            *first = (*first).min(seen);
            return true;
        }
        if self.nodes() >= MAX_TREE_NODES {
            return false;
        }
        self.groups.insert(path.to_owned(), seen);
        true
    }

    /// Adds one check result. False when the tree is full.
    pub fn record_check(&mut self, group: &str, name: &str, passed: bool, time_us: i64) -> bool {
        let key = (group.to_owned(), name.to_owned());
        if !self.checks.contains_key(&key) && self.nodes() >= MAX_TREE_NODES {
            return false;
        }
        self.see_group(group, time_us);
        let seen = FirstSeen::at(time_us);
        let tally = self.checks.entry(key).or_insert(CheckTally { passes: 0, fails: 0, first: seen });
        tally.first = tally.first.min(seen);
        if passed {
            tally.passes += 1;
        } else {
            tally.fails += 1;
        }
        true
    }

    /// Adds `other` into `self`: tallies add, first-seen times take the
    /// earlier. Exact, associative and commutative.
    pub fn merge(&mut self, other: &GroupTree) {
        for (path, first) in &other.groups {
            let mine = self.groups.entry(path.clone()).or_insert(*first);
            *mine = (*mine).min(*first);
        }
        for (key, theirs) in &other.checks {
            match self.checks.get_mut(key) {
                Some(mine) => {
                    mine.passes += theirs.passes;
                    mine.fails += theirs.fails;
                    mine.first = mine.first.min(theirs.first);
                }
                None => {
                    self.checks.insert(key.clone(), *theirs);
                }
            }
        }
        self.dropped_samples += other.dropped_samples;
    }

    /// The child groups of `parent` (`""` for the root), each as (name,
    /// path), in the order they were first seen. Parents that only appear
    /// as a prefix of a deeper path count as seen when their first child was.
    pub fn children(&self, parent: &str) -> Vec<(String, String)> {
        let mut children: BTreeMap<String, FirstSeen> = BTreeMap::new();
        for (path, first) in &self.groups {
            let Some(rest) = path.strip_prefix(parent).and_then(|rest| rest.strip_prefix(GROUP_SEPARATOR)) else {
                continue;
            };
            let name = rest.split(GROUP_SEPARATOR).next().unwrap_or(rest);
            let child = format!("{parent}{GROUP_SEPARATOR}{name}");
            let seen = children.entry(child).or_insert(*first);
            *seen = (*seen).min(*first);
        }
        let mut ordered: Vec<(String, FirstSeen)> = children.into_iter().collect();
        ordered.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        ordered.into_iter().map(|(path, _)| (path[parent.len() + GROUP_SEPARATOR.len()..].to_owned(), path)).collect()
    }

    /// The checks of group `path`, in the order they were first seen.
    pub fn checks_of(&self, path: &str) -> Vec<(&str, CheckTally)> {
        let mut checks: Vec<(&str, CheckTally)> = self
            .checks
            .iter()
            .filter(|((group, _), _)| group == path)
            .map(|((_, name), tally)| (name.as_str(), *tally))
            .collect();
        checks.sort_by(|a, b| (a.1.first, a.0).cmp(&(b.1.first, b.0)));
        checks
    }
}

/// What k6 puts between group names in a path (`::a::b`).
pub const GROUP_SEPARATOR: &str = "::";

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(checks: &[(&str, &str, bool, i64)], groups: &[(&str, i64)]) -> GroupTree {
        let mut tree = GroupTree::default();
        for (group, name, passed, at) in checks {
            tree.record_check(group, name, *passed, *at);
        }
        for (path, at) in groups {
            tree.see_group(path, *at);
        }
        tree
    }

    #[test]
    fn merging_adds_tallies_and_keeps_first_seen_order() {
        let a = tree(&[("", "root", true, 5), ("::g1", "one", true, 2), ("::g1", "one", false, 9)], &[("::g1", 3)]);
        let b = tree(&[("::g1", "one", true, 1), ("::g2", "two", false, 7)], &[("::g1::sub", 4)]);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(
            ab.checks[&("::g1".to_owned(), "one".to_owned())],
            CheckTally { passes: 2, fails: 1, first: FirstSeen::at(1) }
        );
        let names = |parent| ab.children(parent).into_iter().map(|(name, _)| name).collect::<Vec<_>>();
        assert_eq!(names(""), ["g1", "g2"]);
        assert_eq!(names("::g1"), ["sub"]);
        assert_eq!(ab.checks_of("").len(), 1);
    }

    #[test]
    fn parents_are_implied_by_deeper_paths() {
        let tree = tree(&[], &[("::a::b::c", 10)]);
        assert_eq!(tree.children(""), [("a".to_owned(), "::a".to_owned())]);
        assert_eq!(tree.children("::a"), [("b".to_owned(), "::a::b".to_owned())]);
        assert!(tree.children("::a::b::c").is_empty());
    }

    #[test]
    fn the_tree_is_bounded() {
        let mut tree = GroupTree::default();
        for i in 0..MAX_TREE_NODES {
            assert!(tree.record_check("", &format!("c{i}"), true, 0));
        }
        assert!(!tree.record_check("", "one too many", true, 0));
        assert!(tree.record_check("", "c1", false, 0), "known checks still count");
        assert!(!tree.see_group("::new", 0));
    }
}
