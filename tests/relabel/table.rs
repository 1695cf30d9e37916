//! Data-driven relabel tests: every `tests/data/relabel/*.yml` file is a
//! list of cases, each with input labels, rules as written in
//! prometheus.yml, and the expected output labels, `dropped: true`, or the
//! exact validation `error`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use levee::labels::Labels;
use levee::relabel::{RelabelConfig, Rules};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    input: BTreeMap<String, String>,
    rules: Vec<RelabelConfig>,
    #[serde(default)]
    output: Option<BTreeMap<String, String>>,
    #[serde(default)]
    dropped: bool,
    #[serde(default)]
    error: Option<String>,
    /// Where levee deliberately differs from Prometheus 2.42 (documented in
    /// docs/relabeling.md); the differential test skips these cases.
    #[serde(default)]
    #[expect(dead_code, reason = "only tests/relabel_prometheus.rs reads it")]
    prometheus_differs: Option<String>,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/relabel")
}

fn load(path: &Path) -> Vec<Case> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Runs one case; returns a description of the failure, if any.
fn run(case: &Case) -> Result<(), String> {
    let expected_outcomes = usize::from(case.output.is_some())
        + usize::from(case.dropped)
        + usize::from(case.error.is_some());
    if expected_outcomes != 1 {
        return Err("needs exactly one of output, dropped, error".into());
    }
    let rules = match (Rules::compile(&case.rules), &case.error) {
        (Err(got), Some(want)) if got.to_string() == *want => return Ok(()),
        (Err(got), Some(want)) => return Err(format!("error\n  got:  {got}\n  want: {want}")),
        (Ok(_), Some(want)) => return Err(format!("compiled, want error {want}")),
        (Err(got), None) => return Err(format!("unexpected error: {got}")),
        (Ok(rules), None) => rules,
    };
    let input = Labels::from_pairs(case.input.iter());
    match (rules.apply(&input), &case.output) {
        (None, None) => Ok(()),
        (Some(got), Some(want)) => {
            let want = Labels::from_pairs(want.iter());
            if got == want {
                Ok(())
            } else {
                Err(format!("output\n  got:  {got}\n  want: {want}"))
            }
        }
        (Some(got), None) => Err(format!("kept as {got}, want dropped")),
        (None, Some(_)) => Err("dropped, want kept".into()),
    }
}

#[test]
fn relabel_table() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/relabel exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the relabel data files, found {files:?}"
    );
    let mut failures = Vec::new();
    let mut total = 0;
    for file in &files {
        let cases = load(file);
        assert!(!cases.is_empty(), "{} has no cases", file.display());
        for case in &cases {
            total += 1;
            if let Err(why) = run(case) {
                let file = file.file_name().unwrap_or_default().to_string_lossy();
                failures.push(format!("{file}: {}: {why}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} relabel cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every action appears in the table, processed and rejected.
#[test]
fn table_covers_every_action() {
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(data_dir()).expect("data dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|x| x == "yml") {
            for case in load(&path) {
                for r in &case.rules {
                    let a = r.action.as_deref().unwrap_or("replace").to_lowercase();
                    seen.insert(a);
                }
            }
        }
    }
    for a in levee::relabel::Action::ALL {
        assert!(seen.contains(a.name()), "no case uses action {a}");
    }
}

/// The rule files the bench uses compile (so `cargo test` catches a broken
/// bench input before `cargo bench` does).
#[test]
fn bench_rule_files_compile() {
    for file in ["kubernetes_pods.yml", "istio_metrics.yml"] {
        let path = data_dir().join("bench").join(file);
        let text = std::fs::read_to_string(&path).expect("bench rules file");
        let configs: Vec<RelabelConfig> =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let rules = Rules::compile(&configs).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(rules.len(), configs.len());
    }
}

/// Compiled rules are shared between scrape tasks on several threads.
#[test]
fn rules_are_send_sync_and_default_is_a_noop() {
    fn assert_send_sync<T: Send + Sync + Clone + Default>() {}
    assert_send_sync::<Rules>();
    let rules = Rules::default();
    assert!(rules.is_empty());
    let input = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
    assert_eq!(rules.apply(&input), Some(input));
}
