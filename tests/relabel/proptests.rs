//! Property tests for relabeling: random label sets through random rule
//! lists (valid or not) never panic, and what comes out is a well-formed
//! label set (valid names, no empty values) whenever the input was.

use levee::labels::Labels;
use levee::relabel::{RelabelConfig, Rules, is_valid_label_name};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "__name__",
    "__address__",
    "__meta_kubernetes_pod_label_app",
    "__tmp_x",
    "job",
    "instance",
    "a",
    "b",
    "le",
];

const REGEXES: &[&str] = &[
    "(.*)",
    ".*",
    ".+",
    "(.+)",
    "",
    "a|b|c",
    "x",
    "__meta_(.+)",
    "(?i)UP",
    r"(\w+):(\d+)",
    "(?P<n>a)|(?P<n>b)",
    "[",
    "a**",
    r"\Qa.b\E",
    "x{y}",
    "(a)(b)?(c)*",
    "[^;]+;(.*)",
    "é+",
    "(?s).",
    r"\b",
    "a{1001}",
    "(?x) a",
];

const TEMPLATES: &[&str] = &[
    "$1", "${1}", "$2", "$1x", "${1}x", "$n", "${n}_y", "$$", "$", "", "x", "a-$1", "__tmp_$1",
    "${", "$0", "é",
];

const ACTIONS: &[&str] = &[
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
    "LABELMAP",
    "bogus",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-c:;0-9]{0,6}",
        "\\PC{0,8}",
        Just("a\nb".to_string()),
        Just("İß".to_string()),
    ]
}

fn opt<T: Clone + std::fmt::Debug + 'static>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![1 => Just(None), 2 => s.prop_map(Some)]
}

fn rule() -> impl Strategy<Value = RelabelConfig> {
    (
        opt(prop::collection::vec(
            prop::sample::select(NAMES).prop_map(String::from),
            0..4,
        )),
        opt(prop::sample::select(&[";", "", "-", "::"][..]).prop_map(String::from)),
        opt(prop_oneof![
            prop::sample::select(NAMES).prop_map(String::from),
            prop::sample::select(TEMPLATES).prop_map(String::from)
        ]),
        opt(prop::sample::select(REGEXES).prop_map(String::from)),
        opt(prop_oneof![Just(0u64), 1u64..10, Just(u64::MAX)]),
        opt(prop::sample::select(TEMPLATES).prop_map(String::from)),
        opt(prop::sample::select(ACTIONS).prop_map(String::from)),
    )
        .prop_map(
            |(source_labels, separator, target_label, regex, modulus, replacement, action)| {
                RelabelConfig {
                    source_labels,
                    separator,
                    target_label,
                    regex,
                    modulus,
                    replacement,
                    action,
                }
            },
        )
}

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::vec((prop::sample::select(NAMES), value()), 0..8).prop_map(Labels::from_pairs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn process_never_panics_and_keeps_sets_well_formed(
        input in labels(),
        rules in prop::collection::vec(rule(), 0..6),
    ) {
        // Compile each rule alone too, so invalid rules do not hide valid ones.
        let mut compiled: Vec<Rules> = rules
            .iter()
            .filter_map(|r| Rules::compile(std::slice::from_ref(r)).ok())
            .collect();
        if let Ok(all) = Rules::compile(&rules) {
            compiled.push(all);
        }
        for rules in compiled {
            let first = rules.apply(&input);
            if let Some(out) = &first {
                for l in out.iter() {
                    prop_assert!(is_valid_label_name(l.name), "bad name {:?} in {}", l.name, out);
                    prop_assert!(!l.value.is_empty());
                }
            }
            // Deterministic: the same input gives the same result.
            prop_assert_eq!(&first, &rules.apply(&input));
        }
    }
}
