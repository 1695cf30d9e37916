//! Hashes of label sets and values, in memory only (never persisted: the
//! guard state file stores label sets and values, and their hashes are
//! computed again at load).

use crate::labels::Labels;
use rustc_hash::FxHasher;
use std::hash::Hasher;

/// Hash of a whole label set.
pub fn labels_hash(labels: &Labels) -> u64 {
    folded_hash(labels, |_| false, "")
}

/// Hash of a label set in which every label `fold(name)` selects takes the
/// value `overflow`: the identity of the series it folds into.
pub fn folded_hash(labels: &Labels, fold: impl Fn(&str) -> bool, overflow: &str) -> u64 {
    let mut h = FxHasher::default();
    for l in labels {
        h.write(l.name.as_bytes());
        h.write_u8(0xff);
        let value = if fold(l.name) { overflow } else { l.value };
        h.write(value.as_bytes());
        h.write_u8(0xfe);
    }
    mix(h.finish())
}

/// Hash of one label value.
pub fn value_hash(value: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(value.as_bytes());
    mix(h.finish())
}

/// A final avalanche (from SplitMix64) so that low bits spread well.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_changes_only_selected_labels() {
        let a = Labels::from_pairs([("__name__", "m"), ("host", "a"), ("code", "200")]);
        let b = Labels::from_pairs([("__name__", "m"), ("host", "b"), ("code", "200")]);
        assert_ne!(labels_hash(&a), labels_hash(&b));
        let fa = folded_hash(&a, |n| n == "host", "__overflow__");
        assert_eq!(fa, folded_hash(&b, |n| n == "host", "__overflow__"));
        let o = Labels::from_pairs([("__name__", "m"), ("host", "__overflow__"), ("code", "200")]);
        assert_eq!(fa, labels_hash(&o));
        // Boundaries are part of the hash.
        let c = Labels::from_pairs([("a", "bc")]);
        let d = Labels::from_pairs([("ab", "c")]);
        assert_ne!(labels_hash(&c), labels_hash(&d));
    }
}
