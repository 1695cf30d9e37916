//! Folded members' last-seen epochs in a running guard: expiry with the
//! window (never early, at most a period late), every member leaving after
//! a gap of more than a window (where 8-bit ages would wrap), a clock
//! stepping back, the save/restore round trip, a reload changing the
//! window, and a member turned back into a labeled series.

use super::epoch::{EXPIRED_AGE, period_ms};
use super::persist::saved_state;
use super::*;
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::pipeline::Sample;
use crate::series_key::SeriesKey;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A window of 64 s: one epoch is a second.
const W: i64 = 64_000;
const P: i64 = 1_000;
/// A scrape time well away from zero.
const T0: i64 = 1_700_000_000_000;

fn settings(window_ms: i64, fold: bool) -> GuardSettings {
    GuardSettings {
        staleness_window_ms: window_ms,
        fold_rules: if fold {
            vec![FoldRule::new(vec!["host".into()], None).expect("valid rule")]
        } else {
            Vec::new()
        },
        ..GuardSettings::default()
    }
}

/// A target whose hosts come and go; remembers when each was last
/// scraped.
struct Target {
    guard: TargetGuard,
    labels: BTreeMap<u32, Arc<Labels>>,
    seen: BTreeMap<u32, i64>,
}

impl Target {
    fn new(window_ms: i64) -> Target {
        Target {
            guard: TargetGuard::new(settings(window_ms, true)),
            labels: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    fn labels(&mut self, host: u32) -> Arc<Labels> {
        self.labels
            .entry(host)
            .or_insert_with(|| {
                Arc::new(Labels::from_pairs([
                    ("__name__", "requests_total".to_string()),
                    ("host", format!("h{host}")),
                ]))
            })
            .clone()
    }

    fn key(&mut self, host: u32) -> SeriesKey {
        let labels = self.labels(host);
        self.guard.keyer().key_labels(&labels)
    }

    /// Scrapes `hosts` at `ts` (each counter at its host number + 1).
    fn scrape(&mut self, ts: i64, hosts: impl IntoIterator<Item = u32>) -> Vec<Sample> {
        let samples: Vec<Sample> = hosts
            .into_iter()
            .map(|h| {
                self.seen.insert(h, ts);
                Sample {
                    labels: self.labels(h),
                    timestamp_ms: ts,
                    value: f64::from(h + 1),
                }
            })
            .collect();
        let kinds = vec![MetricType::Counter; samples.len()];
        let mut out = Vec::new();
        self.guard
            .apply(ts, &samples, &kinds, &mut out)
            .expect("accepted");
        out
    }

    /// Hosts kept as compact members, with their epochs.
    fn epochs(&mut self) -> BTreeMap<u32, u8> {
        let hosts: Vec<u32> = self.labels.keys().copied().collect();
        let mut m = BTreeMap::new();
        for h in hosts {
            let key = self.key(h);
            if let Some(member) = self.guard.members.get(&key) {
                m.insert(h, member.epoch());
            }
        }
        m
    }
}

/// Hosts seen once each, one a second (epochs T0/P .. T0/P + n), then
/// hosts 0 and 1 scraped on.
fn spread(n: u32) -> Target {
    let mut t = Target::new(W);
    for i in 0..n {
        t.scrape(T0 + i64::from(i) * P + 7, [0, 1, i + 2]);
    }
    assert_eq!(t.guard.compact_members() as u32, n + 2);
    t
}

#[test]
fn members_leave_with_the_window_never_early_at_most_a_period_late() {
    let mut t = Target::new(W);
    t.scrape(T0 + 123, 0..20);
    assert_eq!(t.guard.compact_members(), 20);
    // Hosts 10..20 stop; 0..10 go on every 700 ms.
    let mut ts = T0 + 123;
    let mut left_at = None;
    while ts < T0 + 2 * W {
        ts += 700;
        t.scrape(ts, 0..10);
        let members = t.guard.compact_members();
        let age = ts - (T0 + 123);
        if members == 20 {
            // Still there: not more than the window, a period, the
            // period's rounding and one sweep interval (6.4 s) late.
            assert!(age <= W + P + 64 + W / 10 + 700, "kept at {age} ms");
        } else {
            assert_eq!(members, 10, "at {age} ms");
            assert!(age > W, "left at {age} ms, the window is {W}");
            left_at.get_or_insert(age);
        }
    }
    assert!(left_at.is_some(), "hosts 10..20 left");
    for h in 10..20 {
        assert!(!t.epochs().contains_key(&h), "host {h}");
    }
}

#[test]
fn a_gap_of_more_than_a_window_expires_every_member() {
    let mut t = spread(10);
    let last = T0 + 9 * P + 7;
    let epochs = t.epochs();
    // Five windows later: 320 periods, which 8 bits read as 64, younger
    // than the window.
    let later = last + 5 * W;
    let mut clock = t.guard.members.clock();
    clock.advance(later);
    assert!(
        epochs.values().any(|&e| !clock.expired(e)),
        "epoch arithmetic alone would keep some"
    );
    t.scrape(later, Vec::new());
    assert_eq!(t.guard.scraped_series(), 0, "every member left");
    // Exactly a window after the last scrape: the members seen then stay.
    let mut t = spread(3);
    let last = T0 + 2 * P + 7;
    t.scrape(last + W, Vec::new());
    let left: Vec<u32> = t.epochs().keys().copied().collect();
    assert_eq!(left, vec![0, 1, 4], "seen at the last scrape");
}

#[test]
fn a_clock_stepping_back_expires_nothing() {
    let mut t = spread(5);
    let before = t.epochs();
    let last = T0 + 4 * P + 7;
    // Three windows back: ages would read ~190 periods from that time.
    let back = last - 3 * W;
    t.scrape(back, [0, 1]);
    t.scrape(back + W / 5, [0, 1]);
    assert_eq!(t.epochs(), before, "nothing left, nothing restamped");
    // Back to the right time, hosts 2..6 stop: they leave a window after
    // they were last seen, hosts 0 and 1 stay.
    t.scrape(last + W / 2, [0, 1]);
    assert_eq!(t.guard.compact_members(), 7);
    t.scrape(last + W + 2 * P, [0, 1]);
    t.scrape(last + W + 10 * P, [0, 1]);
    let left: Vec<u32> = t.epochs().keys().copied().collect();
    assert_eq!(left, vec![0, 1]);
}

#[test]
fn save_and_restore_keep_every_epoch() {
    let mut t = spread(60);
    // A sweep at the last scrape leaves members of ages 0 to 59.
    let now = T0 + 59 * P + 7;
    let epochs = t.epochs();
    let ages: Vec<u8> = epochs
        .values()
        .map(|&e| t.guard.members.clock().age(e))
        .collect();
    assert_eq!(
        (ages.iter().min(), ages.iter().max()),
        (Some(&0), Some(&59))
    );
    // The state as the file keeps it.
    let state = saved_state(&t.guard);
    // The file keeps ages in milliseconds at the epoch's granularity: the
    // last millisecond of the epoch, never older than the member is.
    for m in &state.members {
        let host = t
            .seen
            .iter()
            .find(|(h, _)| t.guard.keyer().key_labels(&t.labels[h]).as_u128() == m.key)
            .map(|(_, &seen)| seen)
            .expect("a host");
        assert!(m.last_seen_ms >= host && m.last_seen_ms <= now, "{m:?}");
        assert!(m.last_seen_ms - host < P, "{m:?} seen at {host}");
        assert_eq!(m.last_seen_ms.div_euclid(P), host.div_euclid(P));
    }
    let mut restored = Target {
        guard: TargetGuard::restore(settings(W, true), &state).expect("restores"),
        labels: t.labels.clone(),
        seen: t.seen.clone(),
    };
    assert_eq!(restored.epochs(), epochs, "the same epochs");
    assert_eq!(saved_state(&restored.guard), state, "and the same state");
    // The restored guard expires them as the saved one would have.
    for at in [now + W / 2, now + W - 30 * P, now + W + 2 * P] {
        t.scrape(at, [0, 1]);
        restored.scrape(at, [0, 1]);
        assert_eq!(restored.epochs(), t.epochs(), "at {}", at - now);
    }
    assert_eq!(restored.epochs().len(), 2);
}

#[test]
fn a_restored_guard_meets_its_stored_ages_clamped() {
    // A state whose members are far older than the window (not one levee
    // writes, but one a file can say): they come back expired, without
    // wrapping to young, and leave at the next sweep.
    let mut t = spread(3);
    let mut state = saved_state(&t.guard);
    let now = state.last_ts_ms;
    for (i, m) in state.members.iter_mut().enumerate() {
        m.last_seen_ms = now - [0, 3 * W, 4 * W, 256 * P, 1 << 40][i % 5];
    }
    let expected_old = state
        .members
        .iter()
        .filter(|m| m.last_seen_ms < now - W)
        .count();
    assert!(expected_old >= 3);
    let g = TargetGuard::restore(settings(W, true), &state).expect("restores");
    let old = g
        .members
        .iter()
        .filter(|(_, m)| g.members.clock().expired(m.epoch()))
        .count();
    assert_eq!(old, expected_old);
    t.guard = g;
    t.scrape(now + W / 5, Vec::new());
    assert_eq!(t.guard.compact_members(), 5 - expected_old);
}

/// Each member's age as the saved state reads it.
fn ages(t: &Target) -> BTreeMap<u128, i64> {
    let now = t.guard.last_ts_ms;
    saved_state(&t.guard)
        .members
        .iter()
        .map(|m| (m.key, now - m.last_seen_ms))
        .collect()
}

#[test]
fn a_reload_to_a_longer_window_keeps_ages_in_milliseconds() {
    let mut t = spread(60);
    let before = ages(&t);
    // Coarser epochs, the same ages within one.
    t.guard.reconfigure(settings(4 * W, true));
    let p4 = period_ms(4 * W);
    assert_eq!(t.guard.members.clock().period_ms(), p4);
    let longer = ages(&t);
    for (k, &a) in &before {
        let b = longer[k];
        assert!(b <= a && a - b < p4, "{a} ms became {b} ms");
    }
    // Back: never older, within the coarse epoch and the fine one.
    t.guard.reconfigure(settings(W, true));
    let back = ages(&t);
    for (k, &a) in &before {
        let b = back[k];
        assert!(b <= a && a - b < p4 + P, "{a} ms became {b} ms");
    }
    // Nothing left on the way.
    assert_eq!(t.guard.compact_members(), 62);
}

#[test]
fn a_reload_to_a_shorter_window_expires_what_is_older_than_it() {
    let mut t = spread(60);
    let now = T0 + 59 * P + 7;
    let before = ages(&t);
    // A window of ~10.7 s: periods of 167 ms; members older than it
    // are stamped expired (their ages clamped, not wrapped) and leave at
    // the next scrape's sweep, the others stay.
    let short = W / 6;
    let p = period_ms(short);
    t.guard.reconfigure(settings(short, true));
    for (k, &a) in &before {
        let e = t
            .guard
            .members
            .get(&SeriesKey::from_u128(*k))
            .map(|m| m.epoch())
            .expect("kept until the sweep");
        let age = t.guard.members.clock().age(e);
        assert!(age <= 128, "clamped, not wrapped: {age}");
        if a >= 65 * p {
            assert!(age >= EXPIRED_AGE, "{a} ms: {age} periods");
        }
        if a <= 64 * p {
            assert!(age < EXPIRED_AGE, "{a} ms: {age} periods");
        }
    }
    let next = now + P;
    t.scrape(next, [0, 1]);
    let seen = t.seen.clone();
    let left = t.epochs();
    for (h, at) in seen {
        let age = next - at;
        if age <= short {
            assert!(left.contains_key(&h), "host {h}, {age} ms");
        }
        // Ages were kept to the old epoch's millisecond.
        if age > short + 2 * p + P {
            assert!(!left.contains_key(&h), "host {h}, {age} ms");
        }
    }
    assert!(left.len() > 2 && left.len() < 20, "{}", left.len());
}

#[test]
fn a_member_turned_back_into_a_series_keeps_its_last_seen() {
    let mut t = spread(30);
    let now = T0 + 29 * P + 7;
    // The rule goes: members are labeled series again.
    t.guard.reconfigure(settings(W, false));
    assert_eq!(t.guard.compact_members(), 0);
    let seen = t.seen.clone();
    for (h, at) in &seen {
        let labels = t.labels(*h);
        let id = t
            .guard
            .series
            .find_content(&labels, super::hash::labels_hash(&labels))
            .expect("a labeled series");
        let s = t.guard.series.get(id).expect("series");
        assert!(
            s.last_seen_ms >= *at && s.last_seen_ms - at < P && s.last_seen_ms <= now,
            "host {h} seen at {at}, reads {}",
            s.last_seen_ms
        );
    }
    // They leave with the window, as labeled series do.
    t.scrape(now + W / 2, [0, 1]);
    t.scrape(now + W - 20 * P, [0, 1]);
    assert_eq!(
        t.guard.scraped_series(),
        32 - 9,
        "hosts seen 9 s before the first"
    );
}
