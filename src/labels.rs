//! Label sets: the sorted `name=value` pairs that identify a series.
//!
//! [`Labels`] is the immutable, sorted form every module passes around
//! (relabeling output, scrape cache entries, remote-write series).
//! [`LabelsBuilder`] is the mutable form relabeling and target-label
//! assembly work on. Empty values mean "absent", as in Prometheus: setting a
//! label to `""` removes it.
//!
//! A [`Labels`] is one heap allocation (none when empty), 16 bytes inline:
//! for each pair in name order, the name's length as an unsigned LEB128
//! varint, the name's bytes, the value's length, the value's bytes. The
//! form is canonical (sorted, unique names, no empty values), so two sets
//! are equal exactly when their bytes are. It lives in memory only; nothing
//! persists these bytes. Iteration borrows the pairs as [`LabelRef`]s.

use crate::varint::{put_uvarint, uvarint_len};
use std::cmp::Ordering;
use std::fmt;
use std::iter::FusedIterator;

/// The reserved label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One owned label pair, for builders and configuration.
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

/// One label pair borrowed from a [`Labels`] (or a [`Label`]). Orders by
/// name, then value, as [`Label`] does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct LabelRef<'a> {
    /// Label name, e.g. `job`.
    pub name: &'a str,
    /// Label value; never empty inside a [`Labels`].
    pub value: &'a str,
}

impl LabelRef<'_> {
    /// An owned copy of the pair.
    pub fn to_label(self) -> Label {
        Label::new(self.name, self.value)
    }
}

impl<'a> From<&'a Label> for LabelRef<'a> {
    fn from(l: &'a Label) -> Self {
        LabelRef {
            name: &l.name,
            value: &l.value,
        }
    }
}

/// A label set sorted by name, with unique names and no empty values,
/// encoded in one buffer (see the module docs).
///
/// `Eq` and `Hash` work on the encoded bytes; `Ord` orders as a sorted
/// list of (name, value) pairs compared lexicographically.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(Box<[u8]>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Box::default())
    }

    /// Builds a label set from pairs in any order. Later duplicates win and
    /// pairs with empty values are left out.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut pairs: Vec<(N, V)> = pairs.into_iter().collect();
        // Stable, so the last pair of a run of equal names is the last given.
        pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let last_of_run = |i: usize| {
            pairs
                .get(i + 1)
                .is_none_or(|next| next.0.as_ref() != pairs[i].0.as_ref())
        };
        encode(
            pairs
                .iter()
                .enumerate()
                .filter(|&(i, (_, value))| !value.as_ref().is_empty() && last_of_run(i))
                .map(|(_, (name, value))| LabelRef {
                    name: name.as_ref(),
                    value: value.as_ref(),
                }),
        )
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        for l in self {
            match l.name.cmp(name) {
                Ordering::Less => {}
                Ordering::Equal => return Some(l.value),
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Pairs in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.0 }
    }

    /// Number of pairs (counted: the encoding does not store it).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A builder starting from this set.
    pub fn to_builder(&self) -> LabelsBuilder {
        let mut b = LabelsBuilder::new();
        b.reset(self);
        b
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
        for l in self {
            eat(l.name.as_bytes());
            eat(&[0xff]);
            eat(l.value.as_bytes());
            eat(&[0xff]);
        }
        h
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.0 == other.0 {
            return Ordering::Equal;
        }
        // Not the raw bytes: the length prefixes would order `b` before
        // `aa`. Pairwise, as the sorted list of pairs the set stands for.
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
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
        for (i, l) in self.iter().enumerate() {
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
    type Item = LabelRef<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The pairs of a [`Labels`] in name order, borrowed.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = LabelRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<LabelRef<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (name, rest) = take_str(self.rest);
        let (value, rest) = take_str(rest);
        self.rest = rest;
        Some(LabelRef { name, value })
    }
}

impl FusedIterator for Iter<'_> {}

/// Encodes pairs that are already sorted by unique name and have non-empty
/// values into one exactly sized allocation. The only writer of a
/// [`Labels`]' bytes.
fn encode<'a>(pairs: impl Iterator<Item = LabelRef<'a>> + Clone) -> Labels {
    let size = pairs
        .clone()
        .map(|l| str_size(l.name) + str_size(l.value))
        .sum();
    let mut buf = Vec::with_capacity(size);
    for l in pairs {
        put_str(&mut buf, l.name);
        put_str(&mut buf, l.value);
    }
    debug_assert_eq!(buf.len(), size);
    // Capacity equals length: no reallocation.
    Labels(buf.into_boxed_slice())
}

/// Bytes of `s` with its length prefix.
fn str_size(s: &str) -> usize {
    uvarint_len(s.len() as u64) + s.len()
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Splits one length-prefixed string off the front of encoded bytes.
#[inline]
fn take_str(bytes: &[u8]) -> (&str, &[u8]) {
    let (len, skip) = read_len(bytes);
    let (s, rest) = bytes[skip..].split_at(len);
    // SAFETY: a `Labels`' bytes are written only by `encode`, from `&str`s,
    // each preceded by its byte length; `take_str` is called only at the
    // start of such a length (the buffer's start, or just past the string
    // before), so `s` is exactly the bytes of one `&str`: valid UTF-8.
    (unsafe { std::str::from_utf8_unchecked(s) }, rest)
}

/// Reads a LEB128 length: (length, bytes it took).
#[inline]
fn read_len(bytes: &[u8]) -> (usize, usize) {
    let first = bytes[0];
    if first < 0x80 {
        return (usize::from(first), 1);
    }
    let mut n = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        n |= usize::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return (n, i + 1);
        }
    }
    unreachable!("`encode` ends every length varint with a byte below 0x80")
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

    /// Resets to a copy of `labels`.
    pub fn reset(&mut self, labels: &Labels) {
        self.0.clear();
        self.0.extend(labels.iter().map(LabelRef::to_label));
    }

    /// A snapshot as an immutable [`Labels`].
    pub fn labels(&self) -> Labels {
        encode(self.0.iter().map(LabelRef::from))
    }

    /// Converts into [`Labels`].
    pub fn into_labels(self) -> Labels {
        self.labels()
    }
}

#[cfg(test)]
mod encoding_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        let names: Vec<_> = l.iter().map(|l| (l.name, l.value)).collect();
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
