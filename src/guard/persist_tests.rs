//! Guard state across a restart: a guard restored from the bytes of the
//! state file forwards, bit for bit and in the same order, what a guard
//! that never restarted forwards; damaged files give typed errors.

use super::persist::{self, Encoder, STATE_FILE, StateError, saved_state};
use super::state::MemberState;
use super::*;
use crate::exposition::{Entry, Format, MetricType, ParserLimits, StreamParser};
use crate::labels::{Labels, LabelsBuilder};
use crate::pipeline::Sample;
use crate::synth::IstioWorkload;
use crate::tsdb::fs::{Directory, MemDirectory};
use std::collections::HashMap;
use std::sync::Arc;

const INTERVAL: i64 = 1000;

/// Parses bodies into samples, sharing label sets across scrapes as the
/// scrape cache does.
#[derive(Default)]
struct Scraper {
    cache: HashMap<Vec<u8>, Arc<Labels>>,
}

impl Scraper {
    fn scrape(&mut self, body: &[u8], ts: i64) -> (Vec<Sample>, Vec<MetricType>) {
        let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
        p.push(body).expect("body parses");
        p.finish();
        let (mut samples, mut kinds) = (Vec::new(), Vec::new());
        while let Some(e) = p.next() {
            let Entry::Sample(s) = e.expect("body parses") else {
                continue;
            };
            let labels = self
                .cache
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
        (samples, kinds)
    }
}

/// Scrape `k` of a storm that adds 10 hosts a scrape, loses its oldest
/// hosts every fourth scrape (they leave the window) and restarts its
/// counters at scrape 14 (a reset).
fn body(k: u64) -> Vec<u8> {
    let first = (k / 4) * 5;
    let w = IstioWorkload::new(10 * (k + 1) - first).with_first_host(first);
    w.body(if k >= 14 { k - 14 } else { k })
}

fn settings() -> GuardSettings {
    GuardSettings {
        series_budget: 400,
        keep_top: 2,
        staleness_window_ms: 3 * INTERVAL,
        cooldown_ms: 4 * INTERVAL,
        ..Default::default()
    }
}

/// What a scrape forwarded, comparable bit for bit.
fn key(out: &[Sample]) -> Vec<(Labels, i64, u64)> {
    out.iter()
        .map(|s| ((*s.labels).clone(), s.timestamp_ms, s.value.to_bits()))
        .collect()
}

fn save(guard: &TargetGuard) -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.add_guard(
        "istio",
        "http://sidecar:15090/stats/prometheus",
        &Labels::from_pairs([("instance", "sidecar:15090"), ("job", "istio")]),
        guard,
    );
    enc.into_bytes()
}

fn load(bytes: &[u8], settings: GuardSettings) -> TargetGuard {
    let mut targets = persist::decode("state", bytes).expect("state decodes");
    assert_eq!(targets.len(), 1);
    let t = targets.remove(0);
    assert_eq!(t.job, "istio");
    TargetGuard::restore(settings, &t.state).expect("state restores")
}

#[test]
fn a_restored_guard_forwards_what_a_never_restarted_one_does() {
    const SCRAPES: u64 = 26;
    for restart_at in [1, 3, 6, 9, 14, 17] {
        let (mut a_feed, mut b_feed) = (Scraper::default(), Scraper::default());
        let mut a = TargetGuard::new(settings());
        let mut b: Option<TargetGuard> = None;
        let mut compared = 0;
        for k in 0..SCRAPES {
            let ts = 1_000_000 + k as i64 * INTERVAL;
            let body = body(k);
            if k == restart_at {
                let bytes = save(&a);
                let restored = load(&bytes, settings());
                assert_eq!(
                    restored.snapshot(ts, 20),
                    a.snapshot(ts, 20),
                    "restart at {restart_at}"
                );
                b = Some(restored);
            }
            let (samples, kinds) = a_feed.scrape(&body, ts);
            let mut out_a = Vec::new();
            let rep_a = a.apply(ts, &samples, &kinds, &mut out_a).expect("a");
            if let Some(b) = &mut b {
                // The restarted levee has a new scrape cache.
                let (samples, kinds) = b_feed.scrape(&body, ts);
                let mut out_b = Vec::new();
                let rep_b = b.apply(ts, &samples, &kinds, &mut out_b).expect("b");
                assert_eq!(
                    key(&out_b),
                    key(&out_a),
                    "scrape {k}, restart at {restart_at}"
                );
                assert_eq!(rep_b.active_series, rep_a.active_series);
                assert_eq!(rep_b.offenders.len(), rep_a.offenders.len());
                compared += 1;
            }
        }
        assert_eq!(compared, SCRAPES - restart_at);
        assert!(a.active_series() <= 400, "{}", a.active_series());
        let folds = a.snapshot(0, 0).folds;
        assert_eq!(folds[0].labels[0], "destination_service", "{folds:?}");
        assert_eq!(folds[0].kept_values.len(), 2, "{folds:?}");
    }
}

#[test]
fn a_restart_from_an_older_save_keeps_the_folded_counter_exact() {
    // The crash window: saved after scrape 9, killed after scrape 10 (its
    // new hosts are unknown to the save). From its first scrape on, the
    // restored guard forwards the same `istio_requests_total` sum as the
    // never-restarted one, through hosts leaving (scrapes 12, 16) and a
    // counter reset (scrape 14). Without keep_top: the activity of the
    // lost scrape may choose other kept values, whose raw series then
    // reset where the overflow series would not.
    let settings = || GuardSettings {
        keep_top: 0,
        ..settings()
    };
    let (mut a_feed, mut b_feed) = (Scraper::default(), Scraper::default());
    let mut a = TargetGuard::new(settings());
    let mut b: Option<TargetGuard> = None;
    let mut saved = Vec::new();
    let total = |out: &[Sample]| -> f64 {
        out.iter()
            .filter(|s| s.labels.metric_name() == Some("istio_requests_total"))
            .filter(|s| !crate::value::is_stale_nan(s.value))
            .map(|s| s.value)
            .sum()
    };
    for k in 0..20 {
        let ts = 1_000_000 + k as i64 * INTERVAL;
        let (samples, kinds) = a_feed.scrape(&body(k), ts);
        let mut out = Vec::new();
        a.apply(ts, &samples, &kinds, &mut out).expect("a");
        if k == 9 {
            saved = save(&a);
        }
        if k == 11 {
            b = Some(load(&saved, settings()));
        }
        if let Some(b) = &mut b {
            let (samples, kinds) = b_feed.scrape(&body(k), ts);
            let mut out_b = Vec::new();
            b.apply(ts, &samples, &kinds, &mut out_b).expect("b");
            assert!(total(&out) > 0.0);
            assert_eq!(total(&out_b), total(&out), "scrape {k}");
            assert!(b.active_series() <= 400);
        }
    }
}

#[test]
fn changed_settings_at_restart_act_as_a_reload() {
    let mut feed = Scraper::default();
    let mut a = TargetGuard::new(settings());
    for k in 0..4 {
        let ts = k as i64 * INTERVAL;
        let (samples, kinds) = feed.scrape(&body(k), ts);
        a.apply(ts, &samples, &kinds, &mut Vec::new()).expect("a");
    }
    assert_eq!(a.snapshot(0, 0).folds.len(), 1);
    let bytes = save(&a);
    // Same budget: the automatic fold stays.
    let same = load(&bytes, settings());
    assert_eq!(same.snapshot(0, 0).folds.len(), 1);
    // Another budget: it is lifted until a breach decides again.
    let mut other = settings();
    other.series_budget = 10_000;
    let lifted = load(&bytes, other.clone());
    assert!(lifted.snapshot(0, 0).folds.is_empty());
    assert_eq!(*lifted.settings(), other);
}

fn small_file() -> Vec<u8> {
    let mut feed = Scraper::default();
    let mut g = TargetGuard::new(GuardSettings {
        series_budget: 30,
        ..Default::default()
    });
    for k in 0..3 {
        let ts = k as i64 * INTERVAL;
        let (samples, kinds) = feed.scrape(&IstioWorkload::new(2 + k).body(k), ts);
        g.apply(ts, &samples, &kinds, &mut Vec::new()).expect("g");
    }
    save(&g)
}

#[test]
fn files_round_trip_through_a_directory() {
    let dir = MemDirectory::new();
    assert!(persist::read(&*dir, STATE_FILE).expect("read").is_none());
    let bytes = small_file();
    persist::write(&*dir, STATE_FILE, &bytes).expect("write");
    let back = persist::read(&*dir, STATE_FILE)
        .expect("read")
        .expect("file");
    // Restored and saved again: the same bytes.
    assert_eq!(back.len(), 1);
    let restored =
        TargetGuard::restore(back[0].state.settings.clone(), &back[0].state).expect("restores");
    assert_eq!(save(&restored), bytes);
    assert!(!dir.exists("state.tmp").expect("exists"));
    assert_eq!(
        persist::decode("state", &Encoder::new().into_bytes())
            .expect("empty")
            .len(),
        0
    );
}

#[test]
fn every_damage_is_a_typed_error() {
    let good = small_file();
    assert_eq!(&good[..5], b"LGST\x01");
    assert!(persist::decode("f", &good).is_ok());
    // Truncated anywhere: too short, or the checksum (read from what is
    // now the end) disagrees.
    for len in (0..good.len()).step_by(7) {
        let err = persist::decode("f", &good[..len]).expect_err("truncated");
        if len < 36 {
            assert!(matches!(err, StateError::Length { .. }), "{len}: {err}");
        } else {
            assert!(matches!(err, StateError::Checksum { .. }), "{len}: {err}");
        }
    }
    // Any flipped byte.
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x10;
        let err = persist::decode("f", &b).expect_err("flipped");
        match i {
            0..4 => assert!(matches!(err, StateError::BadMagic { .. }), "{i}: {err}"),
            _ => assert!(matches!(err, StateError::Checksum { .. }), "{i}: {err}"),
        }
    }
    // A later version or none, checksummed as it would write it.
    for version in [0u8, 2, 3, 4, 200] {
        let mut b = good.clone();
        b[4] = version;
        let end = b.len() - 4;
        let crc = crc32c::crc32c(&b[..end]);
        b[end..].copy_from_slice(&crc.to_le_bytes());
        let err = persist::decode("f", &b).expect_err("version");
        assert!(
            matches!(err, StateError::UnsupportedVersion { got, .. } if got == u32::from(version)),
            "{err}"
        );
        let message = format!("unsupported version {version} (this levee reads version 1)");
        assert!(err.to_string().contains(&message), "{err}");
    }
}

/// The committed fixture: folded members, tuples, series keys, replaced
/// names and a key secret.
const FIXTURE: &[u8] = include_bytes!("../../tests/data/guard/state-v1");

#[test]
fn garbage_with_a_valid_checksum_is_an_error_not_a_panic() {
    // The targets and symbols (the frame is tested byte by byte in
    // tests/guard/state_compat.rs).
    let small = small_file();
    garbage_is_an_error_not_a_panic(&small, 8..small.len() - 28);
    garbage_is_an_error_not_a_panic(FIXTURE, 8..FIXTURE.len() - 28);
}

fn garbage_is_an_error_not_a_panic(good: &[u8], payload: std::ops::Range<usize>) {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errors = 0;
    for round in 0..2000 {
        let mut b = good.to_vec();
        let end = b.len() - 4;
        // Damage a few payload bytes, then make the checksum agree.
        for _ in 0..1 + round % 4 {
            let i = payload.start + (next() as usize) % payload.len();
            b[i] = next() as u8;
        }
        let crc = crc32c::crc32c(&b[..end]);
        b[end..].copy_from_slice(&crc.to_le_bytes());
        match persist::decode("f", &b) {
            Err(StateError::Malformed { .. }) => errors += 1,
            Err(e) => panic!("unexpected error kind: {e}"),
            Ok(targets) => {
                // Decodable damage must restore or fail cleanly.
                for t in targets {
                    let _ = TargetGuard::restore(t.state.settings.clone(), &t.state);
                }
            }
        }
    }
    assert!(errors > 100, "{errors}");
}

/// The fields of a member as they compare bit for bit (NaN included),
/// but its age, which a guard keeps at its epoch's granularity.
fn bits(m: &MemberState) -> (u128, u32, u32, u32, Role, [bool; 3], u64) {
    (
        m.key,
        m.group,
        m.tuple,
        m.family,
        m.role,
        [m.explicit_ts, m.counted, m.has_value],
        m.last_value.to_bits(),
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random values of what a guard keeps by key (the key secret, series
    /// keys, its members' keys, flags and values) on a real guard's state
    /// come back from a restore and a save as they were, and the restored
    /// guard of that save saves the same bytes again.
    #[test]
    fn saved_keys_flags_and_values_round_trip(
        secret in proptest::option::of(proptest::prelude::any::<[u8; 16]>()),
        series_keys in proptest::collection::vec(proptest::option::of(proptest::prelude::any::<u128>()), 0..64),
        members in proptest::collection::vec(
            (proptest::prelude::any::<u128>(), 0u8..8, proptest::prelude::any::<u64>()),
            0..300,
        ),
    ) {
        let bytes = small_file();
        let mut targets = persist::decode("state", &bytes).expect("decodes");
        let s = &mut targets[0].state;
        s.key_secret = secret;
        for (x, k) in s.series.iter_mut().zip(&series_keys) {
            x.key = *k;
        }
        for (m, &(key, flags, value)) in s.members.iter_mut().zip(&members) {
            m.key = key;
            m.explicit_ts = flags & 1 != 0;
            m.counted = flags & 2 != 0;
            m.has_value = flags & 4 != 0;
            // What the file keeps: no value unless it has one.
            m.last_value = if m.has_value { f64::from_bits(value) } else { 0.0 };
        }
        let guard = TargetGuard::restore(s.settings.clone(), s).expect("restores");
        let encoded = save(&guard);
        let back = persist::decode("state", &encoded).expect("round trip decodes");
        let again = TargetGuard::restore(back[0].state.settings.clone(), &back[0].state)
            .expect("restores again");
        proptest::prop_assert_eq!(save(&again), encoded);
        let (a, b) = (&targets[0].state, &back[0].state);
        if secret.is_some() {
            proptest::prop_assert_eq!(a.key_secret, b.key_secret);
        }
        proptest::prop_assert_eq!(&a.series, &b.series);
        proptest::prop_assert_eq!(&a.groups, &b.groups);
        proptest::prop_assert_eq!(&a.tuples, &b.tuples);
        let (am, bm): (Vec<_>, Vec<_>) = (a.members.iter().map(bits).collect(), b.members.iter().map(bits).collect());
        proptest::prop_assert_eq!(am, bm);
    }
}

#[test]
fn a_folded_series_cannot_replace_more_labels_than_it_has() {
    // Otherwise "the same names as the previous" would let a small file
    // make every folded series copy one long list. (A guard restored with
    // such a folded series, one without members, saves it as it is.)
    let mut targets = persist::decode("state", &small_file()).expect("decodes");
    let s = &mut targets[0].state;
    s.members.retain(|m| m.group != 0);
    let g = &mut s.groups[0];
    g.replaced = (0..=g.labels.len()).map(|i| format!("l{i}")).collect();
    let guard = TargetGuard::restore(s.settings.clone(), s).expect("restores");
    let err = persist::decode("state", &save(&guard)).expect_err("refused");
    assert!(
        matches!(&err, StateError::Malformed { what, .. } if what.contains("replaced names")),
        "{err}"
    );
}

/// Found by the `guard_state` fuzz target: a state listing a family name
/// twice restored with the file's indexes taken as the guard's own, so its
/// export pointed past its (deduplicated) family list and did not restore.
#[test]
fn a_family_listed_twice_restores_and_exports_consistently() {
    // One scrape: labeled series only; ten: the storm folded, members only.
    for scrapes in [1, 10] {
        let mut feed = Scraper::default();
        let mut guard = TargetGuard::new(settings());
        for k in 0..scrapes {
            let ts = 1_000_000 + k * INTERVAL;
            let (samples, kinds) = feed.scrape(&body(k as u64), ts);
            guard
                .apply(ts, &samples, &kinds, &mut Vec::new())
                .expect("scrape");
        }
        let mut state = saved_state(&guard);
        assert!(state.series.len() + state.members.len() > 100);
        // The same state with family 0 listed twice, every index shifted.
        state.families.insert(0, state.families[0].clone());
        for s in &mut state.series {
            s.family += 1;
        }
        for m in &mut state.members {
            m.family += 1;
        }
        let restored = TargetGuard::restore(settings(), &state).expect("restores");
        assert_eq!(restored.scraped_series(), guard.scraped_series());
        let again = TargetGuard::restore(settings(), &saved_state(&restored)).expect("re-restores");
        assert_eq!(again.scraped_series(), guard.scraped_series());
        assert_eq!(saved_state(&again).families, saved_state(&guard).families);
        assert_eq!(again.snapshot(2_000_000, 20), guard.snapshot(2_000_000, 20));
    }
}
