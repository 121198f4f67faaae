//! The group and check tree while ingesting.
//!
//! A route of a `checks` or `group_duration` sample knows its node's index
//! (worked out once, with the route), so recording a check result is an
//! indexed addition, like every other sample.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::{CheckTally, FirstSeen, GroupTree, MAX_TREE_NODES};

/// The route feeds no tree node.
pub(super) const NO_NODE: u32 = u32::MAX;
/// The route's node did not fit under [`MAX_TREE_NODES`].
pub(super) const FULL: u32 = u32::MAX - 1;

#[derive(Clone)]
enum Node {
    Group { path: String, first_us: i64 },
    Check { group: String, name: String, passes: u64, fails: u64, first_us: i64 },
}

#[derive(Clone, Default)]
pub(super) struct TreeBuilder {
    nodes: Vec<Node>,
    /// (group path, check name or `None` for the group itself) → node.
    ids: HashMap<(String, Option<String>), u32, FxBuildHasher>,
    dropped_samples: u64,
}

impl TreeBuilder {
    /// The node of a `group_duration` sample of group `path`.
    pub(super) fn group_node(&mut self, path: &str) -> u32 {
        if path.is_empty() {
            return NO_NODE;
        }
        self.node((path.to_owned(), None), || Node::Group { path: path.to_owned(), first_us: i64::MAX })
    }

    /// The node of a `checks` sample of check `name` in group `group`.
    pub(super) fn check_node(&mut self, group: &str, name: &str) -> u32 {
        self.node((group.to_owned(), Some(name.to_owned())), || Node::Check {
            group: group.to_owned(),
            name: name.to_owned(),
            passes: 0,
            fails: 0,
            first_us: i64::MAX,
        })
    }

    fn node(&mut self, key: (String, Option<String>), new: impl FnOnce() -> Node) -> u32 {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        if self.nodes.len() >= MAX_TREE_NODES {
            return FULL;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(new());
        self.ids.insert(key, id);
        id
    }

    #[inline]
    pub(super) fn record(&mut self, node: u32, nonzero: bool, time_us: i64) {
        match self.nodes.get_mut(node as usize) {
            Some(Node::Group { first_us, .. }) => *first_us = (*first_us).min(time_us),
            Some(Node::Check { passes, fails, first_us, .. }) => {
                *first_us = (*first_us).min(time_us);
                if nonzero {
                    *passes += 1;
                } else {
                    *fails += 1;
                }
            }
            None => self.dropped_samples += 1,
        }
    }

    /// The tree so far. Nodes were made as their first sample arrived, so
    /// a node's index is its place in this shard's stream.
    pub(super) fn to_tree(&self) -> GroupTree {
        let mut tree = GroupTree { dropped_samples: self.dropped_samples, ..GroupTree::default() };
        for (seq, node) in self.nodes.iter().enumerate() {
            let seen = |us: i64| FirstSeen { us, seq: seq as u32 };
            match node {
                Node::Group { first_us: i64::MAX, .. } => {}
                Node::Group { path, first_us } => {
                    let first = tree.groups.entry(path.clone()).or_insert(seen(*first_us));
                    *first = (*first).min(seen(*first_us));
                }
                Node::Check { passes: 0, fails: 0, .. } => {}
                Node::Check { group, name, passes, fails, first_us } => {
                    if !group.is_empty() {
                        let first = tree.groups.entry(group.clone()).or_insert(seen(*first_us));
                        *first = (*first).min(seen(*first_us));
                    }
                    tree.checks.insert(
                        (group.clone(), name.clone()),
                        CheckTally { passes: *passes, fails: *fails, first: seen(*first_us) },
                    );
                }
            }
        }
        tree
    }
}
