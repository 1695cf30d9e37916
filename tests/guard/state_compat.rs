//! The guard state file formats read back from committed fixtures. A later
//! levee must keep reading all three:
//! - `tests/data/guard/state-v1`, written by the levee that introduced
//!   version 1 (commit 96c9d12): an Istio-style target with a
//!   `fold_labels` rule, an automatic fold of `destination_service` with
//!   one `keep_top` value, and a counter reset. It decodes, encodes as
//!   version 3 (the only version written), which decodes to the same
//!   state, and restores into a guard with the same folds and series.
//! - `tests/data/guard/state-v2` (written by commit 3a43318's levee): the
//!   same guard's state as version 2 holds it (key secret, series keys,
//!   replaced names, tuples, members). It decodes, encodes to the
//!   version-3 fixture's bytes, and restores; every truncation and every
//!   damaged byte of it is a typed error or a valid state, never a panic.
//! - `tests/data/guard/state-v3`: the version-2 fixture's state as
//!   version 3 writes it (`write_v3_fixture`: targets first, symbol
//!   table after them, footer). It decodes, encodes back to
//!   the same bytes, holds version 2's targets and symbols byte for byte,
//!   and restores; every truncation and every damaged byte of it is a
//!   typed error or a valid state.
//!
//! To write the version-3 fixture again (only when introducing it, never
//! afterwards: a committed fixture is what an older levee wrote):
//! `LEVEE_WRITE_FIXTURE=3 cargo test --test guard state_compat::`.

use levee::guard::persist::{self, StateError, TargetState};
use levee::guard::{FoldRule, GuardSettings, GuardState, MemberState, TargetGuard};
use levee::labels::Labels;
use levee::series_key::SeriesKeyer;

const FIXTURE_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/guard/state-v1");
const FIXTURE_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/guard/state-v2");
const FIXTURE_V3: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/guard/state-v3");
/// The key secret of the version-2 and version-3 fixtures.
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

/// The bytes of the version-3 fixture: the version-2 fixture's state,
/// encoded as version 3. (The state itself cannot be made again from a
/// guard: the version-2 fixture was written by commit 3a43318's
/// `write_v2_fixture` from a guard that kept no members, its series
/// turned into members under a fixed key secret.)
fn write_v3_fixture() -> Vec<u8> {
    let v2 = persist::decode("state-v2", &fixture(FIXTURE_V2)).expect("fixture decodes");
    persist::encode(&v2)
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
    // Written again as version 3, it reads back as the same state.
    let v3 = persist::encode(&targets);
    assert_eq!(&v3[..5], b"LGST\x03");
    assert_eq!(persist::decode("state", &v3).expect("re-encoded"), targets);
    // What version 2 adds to a state without its fields: a byte for the
    // absent secret, one per folded series (no replaced names), one each
    // for the empty tuple and member lists; version 3's frame: 36 bytes
    // of header and footer against 20, less the target count's byte.
    let groups = t.state.groups.len();
    assert_eq!(v3.len(), bytes.len() + 1 + groups + 2 + 15);
    let guard = TargetGuard::restore(settings(), &t.state).expect("fixture restores");
    assert_eq!(guard.scraped_series(), 7 * 25);
    assert!(guard.active_series() <= 60, "{}", guard.active_series());
    let snap = guard.snapshot(1_700_000_075_000, 5);
    assert_eq!(snap.folds.len(), 2);
    assert_eq!(snap.folds[1].kept_values.len(), 1);
}

/// The fixture's state as version 2 added it: the key secret, series
/// keys, and members whose labels are their folded series' with their
/// tuple put back.
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

#[test]
fn version_2_fixture_still_reads() {
    let bytes = fixture(FIXTURE_V2);
    assert_eq!(&bytes[..5], b"LGST\x02");
    let targets = persist::decode("state-v2", &bytes).expect("fixture decodes");
    // Written again, it is the version-3 fixture.
    assert!(
        persist::encode(&targets) == fixture(FIXTURE_V3),
        "encoding changed"
    );
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    check_folds(t);
    check_members(&t.state);
    TargetGuard::restore(settings(), &t.state).expect("fixture restores");
    // Read as version 1, its new fields are damage, caught as such.
    let mut b = bytes.clone();
    b[4] = 1;
    match persist::decode("state-v2", &reframe(b)) {
        Err(StateError::Malformed { .. }) => {}
        other => panic!("version 2 read as version 1: {other:?}"),
    }
}

/// Version 3's footer: symbol table offset and length, target count.
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
fn version_3_fixture_reads() {
    if std::env::var_os("LEVEE_WRITE_FIXTURE").is_some_and(|v| v == "3") {
        std::fs::write(FIXTURE_V3, write_v3_fixture()).expect("write fixture");
    }
    let bytes = fixture(FIXTURE_V3);
    assert_eq!(&bytes[..8], b"LGST\x03\0\0\0");
    let targets = persist::decode("state-v3", &bytes).expect("fixture decodes");
    assert!(persist::encode(&targets) == bytes, "encoding changed");
    assert_eq!(
        targets,
        persist::decode("state-v2", &fixture(FIXTURE_V2)).expect("v2 fixture decodes"),
        "the version-2 fixture's state"
    );
    assert_eq!(targets.len(), 1);
    check_folds(&targets[0]);
    check_members(&targets[0].state);
    TargetGuard::restore(settings(), &targets[0].state).expect("fixture restores");
    // The same targets and symbols as version 2, byte for byte: version 2
    // is symbols, a one-byte target count, targets; version 3 is targets,
    // symbols, footer.
    let (symbols_at, symbols_len, count) = footer(&bytes);
    assert_eq!(count, 1);
    assert_eq!(symbols_at + symbols_len + 28, bytes.len());
    let v2 = fixture(FIXTURE_V2);
    let v2_payload = &v2[16..v2.len() - 4];
    assert_eq!(
        &v2_payload[..symbols_len],
        &bytes[symbols_at..symbols_at + symbols_len]
    );
    assert_eq!(v2_payload[symbols_len], 1, "v2's target count");
    assert_eq!(&v2_payload[symbols_len + 1..], &bytes[8..symbols_at]);
}

/// Decodes `b`; a state that decodes must restore or fail cleanly.
fn decode_and_restore(b: &[u8]) -> Result<(), StateError> {
    for t in persist::decode("state", b)? {
        let _ = TargetGuard::restore(t.state.settings.clone(), &t.state);
    }
    Ok(())
}

/// `b` (version 2) with its header's payload length and its checksum made
/// to agree with its bytes, as a writer would have left them.
fn reframe(mut b: Vec<u8>) -> Vec<u8> {
    let payload = (b.len() - 20) as u64;
    b[8..16].copy_from_slice(&payload.to_le_bytes());
    recrc(b)
}

/// `b` with its checksum made to agree with its bytes.
fn recrc(mut b: Vec<u8>) -> Vec<u8> {
    let end = b.len() - 4;
    let crc = crc32c::crc32c(&b[..end]);
    b[end..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// A version-3 file of `targets` (their bytes) and `symbols` (the table's
/// bytes), framed as a writer would have framed them.
fn frame_v3(targets: &[u8], symbols: &[u8], count: u64) -> Vec<u8> {
    let mut b = b"LGST\x03\0\0\0".to_vec();
    b.extend_from_slice(targets);
    b.extend_from_slice(symbols);
    b.extend_from_slice(&(8 + targets.len() as u64).to_le_bytes());
    b.extend_from_slice(&(symbols.len() as u64).to_le_bytes());
    b.extend_from_slice(&count.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    recrc(b)
}

#[test]
fn every_truncation_and_damaged_byte_of_version_2_is_a_typed_error() {
    let good = fixture(FIXTURE_V2);
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
            // The version byte 2 ^ 1 = 3 takes version 3's frame, whose
            // checksum comes first: the same answer.
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

#[test]
fn every_truncation_and_damaged_byte_of_version_3_is_a_typed_error() {
    let good = fixture(FIXTURE_V3);
    let (symbols_at, symbols_len, count) = footer(&good);
    let (targets, symbols) = (
        &good[8..symbols_at],
        &good[symbols_at..symbols_at + symbols_len],
    );
    assert_eq!(frame_v3(targets, symbols, count), good);
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
        match decode_and_restore(&frame_v3(&targets[..len], symbols, count)) {
            Err(StateError::Malformed { .. }) => {}
            other => panic!("targets cut at {len}: {other:?}"),
        }
    }
    for len in 0..symbols.len() {
        match decode_and_restore(&frame_v3(targets, &symbols[..len], count)) {
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
            // 3 ^ 1 = 2: version 2's frame, whose payload length (here
            // target bytes) disagrees with the file.
            4 => assert!(matches!(err, StateError::Length { .. }), "{i}: {err}"),
            _ => assert!(matches!(err, StateError::Checksum { .. }), "{i}: {err}"),
        }
        // The same damage under a valid checksum.
        let b = recrc(b);
        let got = decode_and_restore(&b);
        match i {
            0..5 => {}
            5..8 => assert!(
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
