//! The guard state file format, version 1, read back from a committed
//! fixture (`tests/data/guard/state-v1`, written by the levee that
//! introduced the format: an Istio-style target with a `fold_labels` rule,
//! an automatic fold of `destination_service` with one `keep_top` value,
//! and a counter reset). A later levee must keep reading it: it decodes,
//! encodes back to the same bytes, and restores into a guard with the
//! same folds and series.
//!
//! To write the fixture again (only when introducing a new version, as
//! `state-v2`): `LEVEE_WRITE_FIXTURE=1 cargo test --test guard_state_compat`.

use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use levee::guard::persist::{self, TargetState};
use levee::guard::{FoldRule, GuardSettings, TargetGuard};
use levee::labels::{Labels, LabelsBuilder};
use levee::remote::Sample;
use levee::synth::IstioWorkload;
use std::collections::HashMap;
use std::sync::Arc;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/guard/state-v1");

fn settings() -> GuardSettings {
    GuardSettings {
        series_budget: 60,
        keep_top: 1,
        fold_rules: vec![
            FoldRule::new(vec!["request_protocol".into()], Some("istio_request_.*")).expect("rule"),
        ],
        ..Default::default()
    }
}

fn write_fixture() -> Vec<u8> {
    let mut cache: HashMap<Vec<u8>, Arc<Labels>> = HashMap::new();
    let mut guard = TargetGuard::new(settings());
    for k in 0..6u64 {
        let ts = 1_700_000_000_000 + k as i64 * 15_000;
        let body = IstioWorkload::new(2 + k).body(if k == 4 { 0 } else { k });
        let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
        p.push(&body).expect("body parses");
        p.finish();
        let (mut samples, mut kinds) = (Vec::new(), Vec::new());
        while let Some(e) = p.next() {
            let Entry::Sample(s) = e.expect("body parses") else {
                continue;
            };
            let labels = cache
                .entry(s.series.to_vec())
                .or_insert_with(|| {
                    let mut b = LabelsBuilder::new();
                    for (n, v) in s.labels() {
                        b.set(n, &v);
                    }
                    b.set("__name__", s.name);
                    b.set("job", "istio");
                    Arc::new(b.into_labels())
                })
                .clone();
            samples.push(Sample {
                labels,
                timestamp_ms: ts,
                value: s.value,
            });
            kinds.push(s.kind);
        }
        guard
            .apply(ts, &samples, &kinds, &mut Vec::new())
            .expect("scrape");
    }
    persist::encode(&[TargetState {
        job: "istio".into(),
        url: "http://10.0.0.7:15090/stats/prometheus".into(),
        labels: Labels::from_pairs([("instance", "10.0.0.7:15090"), ("job", "istio")]),
        state: guard.export_state(),
    }])
}

#[test]
fn version_1_fixture_still_reads() {
    if std::env::var_os("LEVEE_WRITE_FIXTURE").is_some() {
        std::fs::write(FIXTURE, write_fixture()).expect("write fixture");
    }
    let bytes = std::fs::read(FIXTURE).expect("fixture tests/data/guard/state-v1");
    assert_eq!(&bytes[..5], b"LGST\x01");
    let targets = persist::decode("state-v1", &bytes).expect("fixture decodes");
    assert_eq!(persist::encode(&targets), bytes, "encoding changed");
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    assert_eq!(t.job, "istio");
    assert_eq!(t.labels.get("instance"), Some("10.0.0.7:15090"));
    assert_eq!(t.state.settings, settings());
    let folds: Vec<(&str, &str)> = t
        .state
        .folds
        .iter()
        .map(|f| (f.labels[0].as_str(), f.origin.as_str()))
        .collect();
    assert_eq!(
        folds,
        [
            ("request_protocol", "rule"),
            ("destination_service", "auto")
        ]
    );
    assert_eq!(t.state.folds[1].keep.len(), 1);
    assert_eq!(t.state.series.len(), 7 * 25);
    let guard = TargetGuard::restore(settings(), &t.state).expect("fixture restores");
    assert_eq!(guard.scraped_series(), 7 * 25);
    assert!(guard.active_series() <= 60, "{}", guard.active_series());
    let snap = guard.snapshot(1_700_000_075_000, 5);
    assert_eq!(snap.folds.len(), 2);
    assert_eq!(snap.folds[1].kept_values.len(), 1);
}
