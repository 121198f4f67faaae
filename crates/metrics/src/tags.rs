use std::fmt;

/// A set of metric tags, sorted by key so that equal sets compare equal
/// whatever order k6 wrote them in.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct TagSet(Vec<(String, String)>);

impl TagSet {
    pub fn new() -> Self {
        TagSet(Vec::new())
    }

    /// Builds a set from pairs in any order; a later duplicate key wins.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut set = TagSet::new();
        for (key, value) in pairs {
            set.insert(key.into(), value.into());
        }
        set
    }

    pub fn insert(&mut self, key: String, value: String) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok().map(|i| self.0[i].1.as_str())
    }

    /// True when every tag of `filter` is present here with the same value:
    /// k6's rule for which samples belong to a sub-metric.
    pub fn matches(&self, filter: &TagSet) -> bool {
        filter.0.iter().all(|(k, v)| self.get(k) == Some(v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Formats as k6 writes sub-metric names: `{key:value,key2:value2}`.
impl fmt::Display for TagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}:{v}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_insertion_does_not_matter() {
        let a = TagSet::from_pairs([("shard", "0"), ("mytag", "v")]);
        let b = TagSet::from_pairs([("mytag", "v"), ("shard", "0")]);
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "{mytag:v,shard:0}");
    }

    #[test]
    fn filter_matching_needs_every_filter_tag() {
        let tags = TagSet::from_pairs([("name", "login"), ("method", "GET")]);
        assert!(tags.matches(&TagSet::from_pairs([("name", "login")])));
        assert!(tags.matches(&TagSet::new()));
        assert!(!tags.matches(&TagSet::from_pairs([("name", "logout")])));
        assert!(!tags.matches(&TagSet::from_pairs([("status", "200")])));
    }
}
