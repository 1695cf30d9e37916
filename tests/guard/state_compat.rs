//! The guard state file read back from its committed fixture,
//! `tests/data/guard/state-v1`: an Istio-style target with a
//! `fold_labels` rule, an automatic fold of `destination_service` with
//! one `keep_top` value, a counter reset, a key secret, series keys, and
//! folded members kept by key with their replaced label values as tuples.
//! It decodes, restores into a guard that saves the same bytes again, and
//! every truncation and every damaged byte of it is a typed error or a
//! valid state, never a panic. A later levee must keep reading it.
//!
//! (The fixture is the file commit 3a43318's levee wrote as its format's
//! version 2, re-framed and then renumbered version 1 when the format's
//! unreleased older versions were dropped: its targets and symbols are
//! that levee's bytes. Its state cannot be made again from a guard: it was
//! written from a guard that kept no members, its series turned into
//! members under a fixed key secret.)

use levee::guard::persist::{self, Encoder, StateError, TargetState};
use levee::guard::{FoldRule, GuardSettings, GuardState, MemberState, TargetGuard};
use levee::labels::Labels;
use levee::series_key::SeriesKeyer;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/guard/state-v1");
/// The key secret of the fixture.
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

/// Reads a committed fixture.
fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
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

/// The fixture's keys and members: the key secret, series keys, and
/// members whose labels are their folded series' with their tuple put
/// back.
fn check_members(s: &GuardState) {
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
    for m in &s.members {
        let g = &s.groups[m.group as usize];
        assert!(g.folded);
        assert_eq!(g.replaced.len(), s.tuples[m.tuple as usize].len());
        let labels = member_labels(s, m);
        assert!(labels.get("destination_service").is_some());
        assert_eq!(m.key, keyer.key_labels(&labels).as_u128(), "{labels:?}");
    }
}

/// The footer: symbol table offset and length, target count.
fn footer(b: &[u8]) -> (usize, usize, u64) {
    let at = b.len() - 28;
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    (
        u64_at(at) as usize,
        u64_at(at + 8) as usize,
        u64_at(at + 16),
    )
}

#[test]
fn the_fixture_reads() {
    let bytes = fixture(FIXTURE);
    assert_eq!(&bytes[..8], b"LGST\x01\0\0\0");
    let targets = persist::decode("state", &bytes).expect("fixture decodes");
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    check_folds(t);
    check_members(&t.state);
    let guard = TargetGuard::restore(settings(), &t.state).expect("fixture restores");
    assert_eq!(guard.scraped_series(), 7 * 25);
    assert!(guard.active_series() <= 60, "{}", guard.active_series());
    let snap = guard.snapshot(1_700_000_075_000, 5);
    assert_eq!(snap.folds.len(), 2);
    assert_eq!(snap.folds[1].kept_values.len(), 1);
    // Saved again, it is the same bytes.
    let mut enc = Encoder::new();
    enc.add_guard(&t.job, &t.url, &t.labels, &guard);
    assert!(enc.into_bytes() == bytes, "encoding changed");
    let (symbols_at, symbols_len, count) = footer(&bytes);
    assert_eq!(count, 1);
    assert_eq!(symbols_at + symbols_len + 28, bytes.len());
}

/// Decodes `b`; a state that decodes must restore or fail cleanly.
fn decode_and_restore(b: &[u8]) -> Result<(), StateError> {
    for t in persist::decode("state", b)? {
        let _ = TargetGuard::restore(t.state.settings.clone(), &t.state);
    }
    Ok(())
}

/// `b` with its checksum made to agree with its bytes.
fn recrc(mut b: Vec<u8>) -> Vec<u8> {
    let end = b.len() - 4;
    let crc = crc32c::crc32c(&b[..end]);
    b[end..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// A file of `targets` (their bytes) and `symbols` (the table's bytes),
/// framed as a writer would have framed them.
fn frame(targets: &[u8], symbols: &[u8], count: u64) -> Vec<u8> {
    let mut b = b"LGST\x01\0\0\0".to_vec();
    b.extend_from_slice(targets);
    b.extend_from_slice(symbols);
    b.extend_from_slice(&(8 + targets.len() as u64).to_le_bytes());
    b.extend_from_slice(&(symbols.len() as u64).to_le_bytes());
    b.extend_from_slice(&count.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    recrc(b)
}

#[test]
fn every_truncation_and_damaged_byte_is_a_typed_error() {
    let good = fixture(FIXTURE);
    let (symbols_at, symbols_len, count) = footer(&good);
    let (targets, symbols) = (
        &good[8..symbols_at],
        &good[symbols_at..symbols_at + symbols_len],
    );
    assert_eq!(frame(targets, symbols, count), good);
    for len in 0..good.len() {
        // As found: too short for a frame, or its checksum (read from what
        // is now the end) disagrees; the footer is not believed before.
        let err = decode_and_restore(&good[..len]).expect_err("truncated");
        if len < 36 {
            assert!(matches!(err, StateError::Length { .. }), "{len}: {err}");
        } else {
            assert!(matches!(err, StateError::Checksum { .. }), "{len}: {err}");
        }
    }
    // The targets or the symbols cut short but framed as whole: their
    // decoder catches it.
    for len in 0..targets.len() {
        match decode_and_restore(&frame(&targets[..len], symbols, count)) {
            Err(StateError::Malformed { .. }) => {}
            other => panic!("targets cut at {len}: {other:?}"),
        }
    }
    for len in 0..symbols.len() {
        match decode_and_restore(&frame(targets, &symbols[..len], count)) {
            Err(StateError::Malformed { .. }) => {}
            other => panic!("symbols cut at {len}: {other:?}"),
        }
    }
    let footer_at = good.len() - 28;
    let mut malformed = 0;
    for i in 0..good.len() {
        // One bit, a nibble, the top bit or the whole byte, by position.
        let mask = [0x01, 0x10, 0x80, 0xff][i % 4];
        let mut b = good.clone();
        b[i] ^= mask;
        let err = decode_and_restore(&b).expect_err("damaged");
        match i {
            0..4 => assert!(matches!(err, StateError::BadMagic { .. }), "{i}: {err}"),
            _ => assert!(matches!(err, StateError::Checksum { .. }), "{i}: {err}"),
        }
        // The same damage under a valid checksum.
        let b = recrc(b);
        let got = decode_and_restore(&b);
        match i {
            0..4 => assert!(
                matches!(got, Err(StateError::BadMagic { .. })),
                "{i}: {got:?}"
            ),
            4..8 => assert!(
                matches!(got, Err(StateError::UnsupportedVersion { .. })),
                "{i}: {got:?}"
            ),
            // The targets and the symbol table: another valid state or
            // a payload error.
            _ if i < footer_at => match got {
                Ok(()) => {}
                Err(StateError::Malformed { .. }) => malformed += 1,
                Err(e) => panic!("byte {i} ^ {mask:#04x}: {e}"),
            },
            // The footer's offset and length: bounded by the file; the
            // target count: bounded by the targets' bytes and checked
            // against them.
            _ if i < footer_at + 16 => assert!(
                matches!(
                    got,
                    Err(StateError::Length { .. } | StateError::Malformed { .. })
                ),
                "{i}: {got:?}"
            ),
            _ if i < good.len() - 4 => assert!(
                matches!(got, Err(StateError::Malformed { .. })),
                "{i}: {got:?}"
            ),
            _ => assert!(got.is_ok(), "{i}: {got:?}"),
        }
    }
    assert!(malformed > good.len() / 10, "{malformed} of {}", good.len());
}
