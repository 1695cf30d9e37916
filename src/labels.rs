//! Label sets: the sorted `name=value` pairs that identify a series.
//!
//! [`Labels`] is the immutable, sorted form every module passes around
//! (relabeling output, scrape cache entries, remote-write series).
//! [`LabelsBuilder`] is the mutable form relabeling and target-label
//! assembly work on. Empty values mean "absent", as in Prometheus: setting a
//! label to `""` removes it.

use std::fmt;

/// The reserved label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Label {
    /// Label name, e.g. `job`.
    pub name: String,
    /// Label value; never empty inside a [`Labels`].
    pub value: String,
}

impl Label {
    /// A label from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A label set sorted by name, with unique names and no empty values.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs in any order. Later duplicates win and
    /// pairs with empty values are left out.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut builder = LabelsBuilder::new();
        for (name, value) in pairs {
            builder.set(name.as_ref(), value.as_ref());
        }
        builder.labels()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Pairs in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs as a slice, sorted by name.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// A builder starting from this set.
    pub fn to_builder(&self) -> LabelsBuilder {
        LabelsBuilder(self.0.clone())
    }

    /// Consumes the set into its sorted pairs.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// A 64-bit hash of the label set that is stable across processes and
    /// versions (FNV-1a over `name\xff value\xff` pairs): used where a hash
    /// is persisted or must agree between runs, e.g. scrape offsets.
    pub fn stable_hash(&self) -> u64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut h = OFFSET;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(PRIME);
            }
        };
        for l in &self.0 {
            eat(l.name.as_bytes());
            eat(&[0xff]);
            eat(l.value.as_bytes());
            eat(&[0xff]);
        }
        h
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Labels {
    /// Prometheus' notation: `{a="1", b="2"}` with values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A mutable label set kept sorted by name; the working form for relabeling.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct LabelsBuilder(Vec<Label>);

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        LabelsBuilder(Vec::new())
    }

    /// An empty builder with room for `n` pairs.
    pub fn with_capacity(n: usize) -> Self {
        LabelsBuilder(Vec::with_capacity(n))
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|l| l.name.as_str().cmp(name))
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        match self.position(name) {
            Ok(i) => {
                if self.0[i].value != value {
                    self.0[i].value.clear();
                    self.0[i].value.push_str(value);
                }
            }
            Err(i) => self.0.insert(i, Label::new(name, value)),
        }
    }

    /// Removes `name` if present.
    pub fn del(&mut self, name: &str) {
        if let Ok(i) = self.position(name) {
            self.0.remove(i);
        }
    }

    /// The value of `name`, or `""` when absent (Prometheus semantics).
    pub fn get(&self, name: &str) -> &str {
        match self.position(name) {
            Ok(i) => &self.0[i].value,
            Err(_) => "",
        }
    }

    /// True when `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Keeps only the pairs for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Label) -> bool) {
        self.0.retain(|l| keep(l));
    }

    /// Pairs in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes every pair, keeping the allocation.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Resets to a copy of `labels`, reusing the allocation where possible.
    pub fn reset(&mut self, labels: &Labels) {
        self.0.clear();
        self.0.extend_from_slice(labels.as_slice());
    }

    /// A snapshot as an immutable [`Labels`].
    pub fn labels(&self) -> Labels {
        Labels(self.0.clone())
    }

    /// Converts into [`Labels`] without copying.
    pub fn into_labels(self) -> Labels {
        Labels(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        let names: Vec<_> = l
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(names, vec![("a", "3"), ("b", "2")]);
    }

    #[test]
    fn builder_set_empty_deletes() {
        let mut b = Labels::from_pairs([("a", "1"), ("b", "2")]).to_builder();
        b.set("a", "");
        assert_eq!(b.get("a"), "");
        assert!(!b.has("a"));
        assert_eq!(b.labels(), Labels::from_pairs([("b", "2")]));
    }

    #[test]
    fn display_escapes() {
        let l = Labels::from_pairs([("__name__", "up"), ("x", "a\"b\\c\nd")]);
        assert_eq!(l.to_string(), r#"{__name__="up", x="a\"b\\c\nd"}"#);
    }

    #[test]
    fn stable_hash_is_pinned() {
        // Persisted or compared across runs: changing it is a format change.
        let l = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        assert_eq!(l.stable_hash(), l.clone().stable_hash());
        assert_ne!(
            l.stable_hash(),
            Labels::from_pairs([("__name__", "up")]).stable_hash()
        );
        assert_eq!(Labels::empty().stable_hash(), 0xcbf2_9ce4_8422_2325);
    }
}
