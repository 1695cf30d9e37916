//! The guard state file formats read back from committed fixtures. A later
//! levee must keep reading both:
//! - `tests/data/guard/state-v1`, written by the levee that introduced
//!   version 1 (commit 96c9d12): an Istio-style target with a
//!   `fold_labels` rule, an automatic fold of `destination_service` with
//!   one `keep_top` value, and a counter reset. It decodes, encodes as
//!   version 2 (the only version written), which decodes to the same
//!   state, and restores into a guard with the same folds and series.
//! - `tests/data/guard/state-v2`: the same guard's state as version 2
//!   holds it (key secret, series keys, replaced names, tuples, members).
//!   It decodes, encodes back to the same bytes, and restores; every
//!   truncation and every damaged byte of it is a typed error or a valid
//!   state, never a panic.
//!
//! To write the version-2 fixture again (only when introducing it, never
//! afterwards: a committed fixture is what an older levee wrote):
//! `LEVEE_WRITE_FIXTURE=1 cargo test --test guard_state_compat`.

use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use levee::guard::persist::{self, StateError, TargetState};
use levee::guard::{
    Emitted, FoldRule, GuardSettings, GuardState, MemberState, RouteState, TargetGuard,
};
use levee::labels::{Labels, LabelsBuilder};
use levee::remote::Sample;
use levee::series_key::SeriesKeyer;
use levee::synth::IstioWorkload;
use std::collections::HashMap;
use std::sync::Arc;

const FIXTURE_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/guard/state-v1");
const FIXTURE_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/guard/state-v2");
/// The key secret of the version-2 fixture.
const SECRET: [u8; 16] = *b"levee-v2-secret!";

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

/// The guard both fixtures were written from: six scrapes of a growing
/// Istio-style target, its counters reset at the fifth.
fn fixture_guard() -> TargetGuard {
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
    guard
}

/// The labels of a member: its folded series' labels with the replaced
/// names set to its tuple.
fn member_labels(s: &GuardState, m: &MemberState) -> Labels {
    let g = &s.groups[m.group as usize];
    let mut b = g.labels.to_builder();
    for (name, value) in g.replaced.iter().zip(&s.tuples[m.tuple as usize]) {
        b.set(name, value);
    }
    b.into_labels()
}

/// `s` as a guard with folded members holds it: the series merged into a
/// folded series become members (their key, the tuple of the values their
/// folded series replaced, and their numbers), the others keep their
/// labels and gain a key, all under [`SECRET`].
fn with_members(mut s: GuardState) -> GuardState {
    let keyer = SeriesKeyer::from_bytes(SECRET);
    s.key_secret = Some(SECRET);
    let fold_labels: Vec<&String> = s.folds.iter().flat_map(|f| &f.labels).collect();
    let overflow = s.settings.overflow_value.clone();
    for g in s.groups.iter_mut().filter(|g| g.folded) {
        g.replaced = g
            .labels
            .iter()
            .filter(|l| l.value == overflow && fold_labels.contains(&&l.name))
            .map(|l| l.name.clone())
            .collect();
    }
    let mut tuple_ids: HashMap<Vec<String>, u32> = HashMap::new();
    let mut series = Vec::new();
    for x in std::mem::take(&mut s.series) {
        let key = keyer.key_labels(&x.labels).as_u128();
        match x.route {
            RouteState::Group(g) if s.groups[g as usize].folded => {
                let tuple: Vec<String> = s.groups[g as usize]
                    .replaced
                    .iter()
                    .map(|n| x.labels.get(n).unwrap_or_default().to_string())
                    .collect();
                let next = tuple_ids.len() as u32;
                let tuple = *tuple_ids.entry(tuple.clone()).or_insert_with(|| {
                    s.tuples.push(tuple);
                    next
                });
                s.members.push(MemberState {
                    key,
                    group: g,
                    tuple,
                    family: x.family,
                    role: x.role,
                    explicit_ts: x.explicit_ts,
                    counted: x.counted,
                    has_value: x.has_value,
                    last_value: x.last_value,
                    last_seen_ms: x.last_seen_ms,
                });
            }
            _ => series.push(levee::guard::SeriesState {
                key: Some(key),
                ..x
            }),
        }
    }
    s.series = series;
    let slots: Vec<u32> = s.series.iter().map(|x| x.slot).collect();
    s.emitted.retain(|e| match e {
        Emitted::Series(slot) => slots.contains(slot),
        Emitted::Group(_) => true,
    });
    s
}

fn target(state: GuardState) -> TargetState {
    TargetState {
        job: "istio".into(),
        url: "http://10.0.0.7:15090/stats/prometheus".into(),
        labels: Labels::from_pairs([("instance", "10.0.0.7:15090"), ("job", "istio")]),
        state,
    }
}

fn write_v2_fixture() -> Vec<u8> {
    persist::encode(&[target(with_members(fixture_guard().export_state()))])
}

fn check_folds(t: &TargetState) {
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
}

#[test]
fn version_1_fixture_still_reads() {
    let bytes = std::fs::read(FIXTURE_V1).expect("fixture tests/data/guard/state-v1");
    assert_eq!(&bytes[..5], b"LGST\x01");
    let targets = persist::decode("state-v1", &bytes).expect("fixture decodes");
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    check_folds(t);
    assert_eq!(t.state.series.len(), 7 * 25);
    // Nothing of version 2.
    assert_eq!(t.state.key_secret, None);
    assert!(t.state.series.iter().all(|s| s.key.is_none()));
    assert!(t.state.groups.iter().all(|g| g.replaced.is_empty()));
    assert!(t.state.tuples.is_empty() && t.state.members.is_empty());
    // Written again as version 2, it reads back as the same state.
    let v2 = persist::encode(&targets);
    assert_eq!(&v2[..5], b"LGST\x02");
    assert_eq!(persist::decode("state", &v2).expect("re-encoded"), targets);
    // What version 2 adds to a state without its fields: a byte for the
    // absent secret, one per folded series (no replaced names), one each
    // for the empty tuple and member lists.
    let groups = t.state.groups.len();
    assert_eq!(v2.len(), bytes.len() + 1 + groups + 2);
    let guard = TargetGuard::restore(settings(), &t.state).expect("fixture restores");
    assert_eq!(guard.scraped_series(), 7 * 25);
    assert!(guard.active_series() <= 60, "{}", guard.active_series());
    let snap = guard.snapshot(1_700_000_075_000, 5);
    assert_eq!(snap.folds.len(), 2);
    assert_eq!(snap.folds[1].kept_values.len(), 1);
}

#[test]
fn version_2_fixture_still_reads() {
    if std::env::var_os("LEVEE_WRITE_FIXTURE").is_some() {
        std::fs::write(FIXTURE_V2, write_v2_fixture()).expect("write fixture");
    }
    let bytes = std::fs::read(FIXTURE_V2).expect("fixture tests/data/guard/state-v2");
    assert_eq!(&bytes[..5], b"LGST\x02");
    let targets = persist::decode("state-v2", &bytes).expect("fixture decodes");
    assert_eq!(persist::encode(&targets), bytes, "encoding changed");
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    check_folds(t);
    let s = &t.state;
    assert_eq!(s.key_secret, Some(SECRET));
    // Every series merged into a folded series is a member now.
    assert_eq!(s.series.len() + s.members.len(), 7 * 25);
    assert!(s.members.len() > 100, "{}", s.members.len());
    assert!(s.tuples.len() > 1, "{:?}", s.tuples);
    assert!(s.groups.iter().any(|g| g.replaced.len() == 2), "two folds");
    let keyer = SeriesKeyer::from_bytes(SECRET);
    for x in &s.series {
        assert_eq!(
            x.key,
            Some(keyer.key_labels(&x.labels).as_u128()),
            "{:?}",
            x.labels
        );
    }
    // A member's labels are its folded series' with its tuple put back.
    for m in &s.members {
        let g = &s.groups[m.group as usize];
        assert!(g.folded);
        assert_eq!(g.replaced.len(), s.tuples[m.tuple as usize].len());
        let labels = member_labels(s, m);
        assert!(labels.get("destination_service").is_some());
        assert_eq!(m.key, keyer.key_labels(&labels).as_u128(), "{labels:?}");
    }
    TargetGuard::restore(settings(), s).expect("fixture restores");
    // Read as version 1, its new fields are damage, caught as such.
    let mut b = bytes.clone();
    b[4] = 1;
    match persist::decode("state-v2", &reframe(b)) {
        Err(StateError::Malformed { .. }) => {}
        other => panic!("version 2 read as version 1: {other:?}"),
    }
}

/// Decodes `b`; a state that decodes must restore or fail cleanly.
fn decode_and_restore(b: &[u8]) -> Result<(), StateError> {
    for t in persist::decode("state-v2", b)? {
        let _ = TargetGuard::restore(t.state.settings.clone(), &t.state);
    }
    Ok(())
}

/// `b` with its header's payload length and its checksum made to agree
/// with its bytes, as a writer would have left them.
fn reframe(mut b: Vec<u8>) -> Vec<u8> {
    let payload = (b.len() - 20) as u64;
    b[8..16].copy_from_slice(&payload.to_le_bytes());
    let end = b.len() - 4;
    let crc = crc32c::crc32c(&b[..end]);
    b[end..].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn every_truncation_and_damaged_byte_of_version_2_is_a_typed_error() {
    let good = std::fs::read(FIXTURE_V2).expect("fixture tests/data/guard/state-v2");
    let end = good.len() - 4;
    for len in 0..good.len() {
        // As found: the frame catches it.
        let err = decode_and_restore(&good[..len]).expect_err("truncated");
        assert!(matches!(err, StateError::Length { .. }), "{len}: {err}");
        // The payload cut short but framed as whole: the payload decoder
        // catches it.
        if (16..end).contains(&len) {
            let mut b = good[..len].to_vec();
            b.extend_from_slice(&[0; 4]);
            match decode_and_restore(&reframe(b)) {
                Err(StateError::Malformed { .. }) => {}
                other => panic!("payload cut at {len}: {other:?}"),
            }
        }
    }
    let mut malformed = 0;
    for i in 0..good.len() {
        // One bit, a nibble, the top bit or the whole byte, by position.
        let mask = [0x01, 0x10, 0x80, 0xff][i % 4];
        let mut b = good.clone();
        b[i] ^= mask;
        let err = decode_and_restore(&b).expect_err("damaged");
        match i {
            0..4 => assert!(matches!(err, StateError::BadMagic { .. }), "{i}: {err}"),
            8..16 => assert!(matches!(err, StateError::Length { .. }), "{i}: {err}"),
            _ => assert!(matches!(err, StateError::Checksum { .. }), "{i}: {err}"),
        }
        // The same damage under a valid checksum.
        if (16..end).contains(&i) {
            match decode_and_restore(&reframe(b)) {
                Ok(()) => {}
                Err(StateError::Malformed { .. }) => malformed += 1,
                Err(e) => panic!("byte {i} ^ {mask:#04x}: {e}"),
            }
        }
    }
    // Most damage breaks a tag, a length or a reference; the rest (in a
    // value, a timestamp, a key) decodes to another valid state.
    assert!(malformed > good.len() / 10, "{malformed} of {}", good.len());
}
