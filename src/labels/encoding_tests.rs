//! Tests of the label-set encoding against a model: the sorted list of
//! owned (name, value) pairs `Labels` used to be.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// What `from_pairs` must make of `pairs`, as the old sorted `Vec<Label>`:
/// the last value of each name, empty values left out.
fn model(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut m = BTreeMap::new();
    for (n, v) in pairs {
        if v.is_empty() {
            m.remove(n);
        } else {
            m.insert(n.clone(), v.clone());
        }
    }
    m.into_iter().collect()
}

fn pairs_of(l: &Labels) -> Vec<(String, String)> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

#[test]
fn from_pairs_empty_value_removes_only_when_last() {
    let l = Labels::from_pairs([("a", "1"), ("a", ""), ("b", ""), ("b", "2")]);
    assert_eq!(l, Labels::from_pairs([("b", "2")]));
}

#[test]
fn debug_is_display() {
    let l = Labels::from_pairs([("__name__", "up"), ("x", "a\"b")]);
    assert_eq!(format!("{l:?}"), l.to_string());
}

#[test]
fn stable_hash_value_is_unchanged() {
    // The value the `Vec<Label>` form computed for this set.
    let l = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
    assert_eq!(l.stable_hash(), 0x7bfe_d626_35f6_4858);
}

#[test]
fn encoding_is_length_prefixed_pairs_in_name_order() {
    let l = Labels::from_pairs([("job", "n"), ("a", "1")]);
    assert_eq!(&*l.0, b"\x01a\x011\x03job\x01n");
    let long = "v".repeat(300);
    let l = Labels::from_pairs([("a", long.as_str())]);
    // 300 = 0b10_0101100: LEB128 0xac 0x02.
    assert_eq!(&l.0[..4], b"\x01a\xac\x02");
    assert_eq!(l.0.len(), 4 + 300);
}

#[test]
fn round_trips_multibyte_and_long_values() {
    let long = "é".repeat(100); // 200 bytes: a two-byte length
    let huge = "x".repeat(20_000); // a three-byte length
    let pairs = [
        ("__name__", "http_requests_total"),
        ("ünïcode", "日本語"),
        ("emoji", "🦀🔥"),
        ("long", long.as_str()),
        ("huge", huge.as_str()),
        ("z", "1"),
    ];
    let l = Labels::from_pairs(pairs);
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(pairs_of(&l), model(&owned));
    assert_eq!(l.len(), pairs.len());
    for (n, v) in pairs {
        assert_eq!(l.get(n), Some(v), "{n}");
    }
    assert_eq!(l.metric_name(), Some("http_requests_total"));
    for miss in ["", "A", "__nam", "__name__x", "lon", "longer", "zz", "ü"] {
        assert_eq!(l.get(miss), None, "{miss}");
    }
    // Back through the builder, unchanged.
    assert_eq!(l.to_builder().labels(), l);
    assert_eq!(l.to_builder().into_labels(), l);
}

#[test]
fn empty_set() {
    for l in [
        Labels::empty(),
        Labels::default(),
        Labels::from_pairs([("a", "")]),
        LabelsBuilder::new().labels(),
    ] {
        assert!(l.is_empty());
        assert_eq!(l.len(), 0);
        assert_eq!(l.iter().next(), None);
        assert_eq!(l.get("a"), None);
        assert_eq!(l.metric_name(), None);
        assert_eq!(l.to_string(), "{}");
        assert_eq!(l, Labels::empty());
        assert!(l < Labels::from_pairs([("a", "1")]));
    }
    assert!(std::mem::size_of::<Labels>() <= 16);
}

#[test]
fn order_is_pairwise_not_bytewise() {
    // Bytewise, the length prefix of `b` (1) sorts before that of `aa` (2).
    let a = Labels::from_pairs([("aa", "1")]);
    let b = Labels::from_pairs([("b", "1")]);
    assert!(a < b);
    // A set that is a prefix of another sorts first.
    let short = Labels::from_pairs([("a", "1")]);
    let long = Labels::from_pairs([("a", "1"), ("b", "1")]);
    assert!(short < long);
    // Values compare only under equal names.
    let x = Labels::from_pairs([("a", "2")]);
    let y = Labels::from_pairs([("a", "10"), ("b", "1")]);
    assert!(x > y);
}

fn name() -> impl Strategy<Value = String> {
    // Few, prefix-sharing names so that sets share names and differ late.
    prop::sample::select(vec!["", "a", "aa", "ab", "b", "__name__", "ü", "job"])
        .prop_map(str::to_string)
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ab]{0,3}",
        1 => "[aé]{126,130}",
        1 => Just(String::new()),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..7)
}

proptest! {
    #[test]
    fn agrees_with_the_sorted_pair_list(a in pairs(), b in pairs()) {
        let (la, lb) = (Labels::from_pairs(a.clone()), Labels::from_pairs(b.clone()));
        let (ma, mb) = (model(&a), model(&b));
        prop_assert_eq!(pairs_of(&la), ma.clone());
        prop_assert_eq!(la.len(), ma.len());
        prop_assert_eq!(la.is_empty(), ma.is_empty());
        prop_assert_eq!(la.cmp(&lb), ma.cmp(&mb));
        prop_assert_eq!(la == lb, ma == mb);
        prop_assert_eq!(la.partial_cmp(&lb), Some(ma.cmp(&mb)));
        for (n, v) in &ma {
            prop_assert_eq!(la.get(n), Some(v.as_str()));
        }
        for (n, _) in &b {
            prop_assert_eq!(la.get(n), ma.iter().find(|(m, _)| m == n).map(|(_, v)| v.as_str()));
        }
        // The builder sees the same pairs, and encodes back to equal bytes.
        let mut builder = LabelsBuilder::new();
        for (n, v) in &a {
            builder.set(n, v);
        }
        prop_assert_eq!(builder.labels(), la.clone());
        if la == lb {
            use std::hash::BuildHasher;
            let s = std::hash::RandomState::new();
            prop_assert_eq!(s.hash_one(&la), s.hash_one(&lb));
        }
    }

    #[test]
    fn sorting_agrees_with_the_sorted_pair_list(sets in prop::collection::vec(pairs(), 0..12)) {
        let mut labels: Vec<Labels> = sets.iter().map(|p| Labels::from_pairs(p.clone())).collect();
        let mut models: Vec<Vec<(String, String)>> = sets.iter().map(|p| model(p)).collect();
        labels.sort();
        models.sort();
        let sorted: Vec<_> = labels.iter().map(pairs_of).collect();
        prop_assert_eq!(sorted, models);
    }
}
