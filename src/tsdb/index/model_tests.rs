//! Model-based test of [`HeadIndex`]: random sequences of creates, removes,
//! id recycling and queries, checked against a plain `Vec` of label sets
//! filtered with the same matcher semantics. Each query is also run on a
//! block index written from the same series, which must agree.

use proptest::prelude::*;

use super::block::{IndexReader, IndexWriter};
use super::{HeadIndex, MatchOp, Matcher, SeriesId};
use crate::labels::Labels;

const NAMES: [&str; 4] = ["__name__", "a", "b", "c"];
/// Values per name; `""` leaves the label out.
const VALUES: [&str; 7] = ["", "x", "y", "xy", "yx", "x\ny", "é"];
/// Matcher values: literals, every regex fast path and general regexes.
const PATTERNS: [&str; 16] = [
    "",
    "x",
    "y",
    "xy",
    ".*",
    ".+",
    "x.*",
    "x|y",
    "|x",
    "y.",
    "(x|xy)",
    "[xy]+",
    "x\ny",
    "x.+",
    "é|",
    "(?:yx|.*)",
];
const MATCHER_NAMES: [&str; 5] = ["__name__", "a", "b", "c", "absent"];

#[derive(Clone, Debug)]
enum Op {
    Create([usize; 4]),
    /// Removes the n-th live series (modulo their number).
    Remove(usize),
    Recycle,
    Query(Vec<(usize, usize, usize)>),
    Values(usize, Vec<(usize, usize, usize)>),
}

fn labels(values: &[usize; 4]) -> Labels {
    Labels::from_pairs(NAMES.iter().zip(values).map(|(n, &v)| (*n, VALUES[v])))
}

fn matchers(spec: &[(usize, usize, usize)]) -> Vec<Matcher> {
    let ops = [
        MatchOp::Equal,
        MatchOp::NotEqual,
        MatchOp::RegexMatch,
        MatchOp::RegexNoMatch,
    ];
    spec.iter()
        .map(|&(n, op, p)| {
            Matcher::new(ops[op], MATCHER_NAMES[n], PATTERNS[p])
                .unwrap_or_else(|e| panic!("fixture pattern: {e}"))
        })
        .collect()
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let matcher = (0..MATCHER_NAMES.len(), 0..4usize, 0..PATTERNS.len());
    prop_oneof![
        6 => prop::array::uniform4(0..VALUES.len()).prop_map(Op::Create),
        2 => any::<usize>().prop_map(Op::Remove),
        1 => Just(Op::Recycle),
        3 => prop::collection::vec(matcher.clone(), 0..4).prop_map(Op::Query),
        1 => (0..MATCHER_NAMES.len(), prop::collection::vec(matcher, 0..3))
            .prop_map(|(n, ms)| Op::Values(n, ms)),
    ]
}

/// What the model says a matcher list selects.
fn model_select(model: &[(SeriesId, Labels)], ms: &[Matcher]) -> Vec<SeriesId> {
    let mut ids: Vec<SeriesId> = model
        .iter()
        .filter(|(_, l)| ms.iter().all(|m| m.matches(l.get(m.name()).unwrap_or(""))))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids
}

/// The label sets a block written from the model selects.
fn block_select(model: &[(SeriesId, Labels)], ms: &[Matcher]) -> Vec<Labels> {
    let mut sets: Vec<&Labels> = model.iter().map(|(_, l)| l).collect();
    sets.sort();
    let mut w = IndexWriter::new();
    for l in sets {
        w.add_series(l, &[]).unwrap_or_else(|e| panic!("{e}"));
    }
    let file = w.finish().unwrap_or_else(|e| panic!("{e}"));
    let r = IndexReader::open(&file).unwrap_or_else(|e| panic!("{e}"));
    r.select(ms)
        .iter()
        .map(|id| r.series(id).unwrap_or_else(|e| panic!("{e}")).labels)
        .collect()
}

fn sorted_unique(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}

fn run(ops: Vec<Op>, collide: bool) -> Result<(), TestCaseError> {
    let mut idx = if collide {
        HeadIndex::with_hash_mask(0b11)
    } else {
        HeadIndex::new()
    };
    let mut model: Vec<(SeriesId, Labels)> = Vec::new();
    for op in ops {
        match op {
            Op::Create(values) => {
                let l = labels(&values);
                let existing = model.iter().find(|(_, m)| *m == l).map(|(id, _)| *id);
                match idx.get_or_create(&l) {
                    Ok((id, created)) => {
                        prop_assert_eq!(created, existing.is_none());
                        if let Some(want) = existing {
                            prop_assert_eq!(id, want);
                        } else {
                            prop_assert!(model.iter().all(|(other, _)| *other != id));
                            model.push((id, l));
                        }
                    }
                    Err(e) => {
                        prop_assert!(l.is_empty(), "unexpected error {e}");
                    }
                }
            }
            Op::Remove(n) if !model.is_empty() => {
                let (id, _) = model.remove(n % model.len());
                prop_assert!(idx.remove(id));
                prop_assert!(!idx.remove(id));
            }
            Op::Remove(_) => {}
            Op::Recycle => idx.recycle_removed_ids(),
            Op::Query(spec) => {
                let ms = matchers(&spec);
                let want = model_select(&model, &ms);
                prop_assert_eq!(idx.select(&ms).to_vec(), want.clone(), "{:?}", ms);
                let mut want_sets: Vec<Labels> = model
                    .iter()
                    .filter(|(id, _)| want.contains(id))
                    .map(|(_, l)| l.clone())
                    .collect();
                want_sets.sort();
                prop_assert_eq!(block_select(&model, &ms), want_sets, "block {:?}", ms);
                let names = sorted_unique(
                    model
                        .iter()
                        .filter(|(id, _)| want.contains(id))
                        .flat_map(|(_, l)| l.iter().map(|p| p.name.to_owned()))
                        .collect(),
                );
                prop_assert_eq!(idx.label_names(&ms), names, "{:?}", ms);
            }
            Op::Values(n, spec) => {
                let ms = matchers(&spec);
                let name = MATCHER_NAMES[n];
                let want = model_select(&model, &ms);
                let values = sorted_unique(
                    model
                        .iter()
                        .filter(|(id, _)| want.contains(id))
                        .filter_map(|(_, l)| l.get(name).map(str::to_owned))
                        .collect(),
                );
                prop_assert_eq!(idx.label_values(name, &ms), values, "{} {:?}", name, ms);
            }
        }
        prop_assert_eq!(idx.num_series(), model.len());
        for (id, l) in &model {
            prop_assert_eq!(idx.get(l), Some(*id));
            prop_assert_eq!(idx.labels_of(*id), Some(l.clone()));
        }
    }
    // Removing everything leaves no symbol and no postings behind.
    for (id, _) in model.drain(..) {
        prop_assert!(idx.remove(id));
    }
    prop_assert!(idx.series().symbols().is_empty());
    prop_assert_eq!(idx.postings().name_count(), 0);
    prop_assert!(idx.all_series().is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn head_index_matches_the_model(
        ops in prop::collection::vec(op_strategy(), 1..120),
        collide in any::<bool>(),
    ) {
        run(ops, collide)?;
    }
}
