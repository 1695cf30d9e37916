//! Remembered series slots ([`TargetGuard::finish`]): a guard fed
//! the slots a scrape cache remembers forwards exactly what a guard fed
//! none does, whatever the slots say (right, stale after a series left
//! the window or became a folded member, reused by another series, or
//! plain wrong), and it reports the slots to remember.

use super::*;
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::pipeline::Sample;
use crate::series_key::SeriesKey;
use crate::value::is_stale_nan;
use std::collections::HashMap;
use std::sync::Arc;

/// Where the driver's slots come from.
#[derive(Clone, Copy)]
enum Slots {
    /// None given (the library path).
    None,
    /// Remembered from what the guard reported, as the scrape cache does.
    Remembered,
    /// Remembered, then shifted onto a neighbour's slot (wrong for every
    /// series the neighbour is not).
    Shifted,
}

/// A guard fed as the scrape loop feeds it: folded members merged by key
/// as they come, the rest finished with a slot per key.
struct Driver {
    guard: TargetGuard,
    slots: Slots,
    /// The slots remembered per key (the scrape cache's `guard_slot`).
    cache: HashMap<SeriesKey, u32>,
    /// Label sets shared between scrapes, as the scrape cache shares them.
    labels: HashMap<String, Arc<Labels>>,
    /// `moved` calls in the last scrape.
    moved: usize,
}

/// One scrape's output, in order: series, value ("stale" for markers).
type Out = Vec<(String, String)>;

impl Driver {
    fn new(settings: GuardSettings, slots: Slots) -> Driver {
        Driver {
            guard: TargetGuard::new(settings),
            slots,
            cache: HashMap::new(),
            labels: HashMap::new(),
            moved: 0,
        }
    }

    fn scrape(&mut self, ts: i64, items: &[(String, MetricType, f64)]) -> (Out, ScrapeReport) {
        let keyer = self.guard.keyer();
        self.guard.begin(ts);
        let (mut batch, mut kinds, mut keys, mut slots) = (vec![], vec![], vec![], vec![]);
        for (i, (series, kind, value)) in items.iter().enumerate() {
            let key = keyer.key(series.as_bytes());
            // The loop skips the member table when it is empty.
            let probe = matches!(self.slots, Slots::None) || self.guard.compact_members() > 0;
            if probe && self.guard.merge_member(key, *value, false) != MemberHit::NotMember {
                continue;
            }
            let labels = self
                .labels
                .entry(series.clone())
                .or_insert_with(|| Arc::new(parse(series)))
                .clone();
            batch.push(Sample {
                labels,
                timestamp_ms: ts,
                value: *value,
            });
            kinds.push(*kind);
            keys.push(key);
            slots.push(match self.slots {
                Slots::None => NO_SLOT,
                Slots::Remembered => self.cache.get(&key).copied().unwrap_or(NO_SLOT),
                Slots::Shifted => {
                    let neighbour = items.get(i + 1).map(|n| keyer.key(n.0.as_bytes()));
                    neighbour
                        .and_then(|k| self.cache.get(&k).copied())
                        .unwrap_or(i as u32)
                }
            });
        }
        let given = if matches!(self.slots, Slots::None) {
            &[][..]
        } else {
            &slots[..]
        };
        let mut moved = vec![];
        let report = self
            .guard
            .finish(ts, &mut batch, &kinds, &keys, given, |i, slot| {
                moved.push((keys[i], slot))
            })
            .expect("scrape accepted");
        self.moved = moved.len();
        self.cache.extend(moved);
        let out = batch
            .iter()
            .map(|s| {
                let v = if is_stale_nan(s.value) {
                    "stale".to_string()
                } else {
                    s.value.to_string()
                };
                (s.labels.to_string(), v)
            })
            .collect();
        (out, report)
    }
}

/// `name host code` into labels.
fn parse(series: &str) -> Labels {
    let mut parts = series.split(' ');
    let name = parts.next().unwrap_or("");
    let host = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    Labels::from_pairs([("__name__", name), ("host", host), ("code", code)])
}

fn series(name: &str, host: usize, code: u32) -> String {
    format!("{name} h{host} {code}")
}

/// A sliding storm: hosts `3t .. 3t+8` plus hosts 0..4 every other
/// scrape, two codes each, counters growing with time, and a gauge per
/// host; series leave the window and come back, new ones reuse the slots
/// of those that left.
fn storm(t: usize) -> Vec<(String, MetricType, f64)> {
    let mut hosts: Vec<usize> = (3 * t..3 * t + 8).collect();
    if t.is_multiple_of(2) {
        hosts.extend(0..4);
    }
    let mut items = vec![];
    for h in hosts {
        for code in [200, 503] {
            let v = (t * (h + 1)) as f64 + f64::from(code);
            items.push((series("requests_total", h, code), MetricType::Counter, v));
        }
        items.push((series("inflight", h, 0), MetricType::Gauge, (h % 7) as f64));
    }
    items
}

fn settings() -> Vec<GuardSettings> {
    let window = GuardSettings {
        staleness_window_ms: 4_000,
        ..GuardSettings::default()
    };
    vec![
        // Under budget: series pass, leave the window, slots are reused.
        GuardSettings {
            series_budget: 10_000,
            ..window.clone()
        },
        // Over budget: the host is folded, members leave the table.
        GuardSettings {
            series_budget: 20,
            ..window.clone()
        },
        // Dropped past the budget, readmitted when there is room.
        GuardSettings {
            series_budget: 20,
            action: BudgetAction::Drop,
            ..window.clone()
        },
        // A rule folding the host from the first scrape.
        GuardSettings {
            fold_rules: vec![FoldRule::new(vec!["host".into()], None).expect("rule")],
            ..window
        },
    ]
}

#[test]
fn remembered_or_wrong_slots_change_nothing_forwarded() {
    for (case, s) in settings().into_iter().enumerate() {
        let mut plain = Driver::new(s.clone(), Slots::None);
        let mut remembered = Driver::new(s.clone(), Slots::Remembered);
        let mut shifted = Driver::new(s, Slots::Shifted);
        for t in 0..40 {
            let ts = 1_000 * (t as i64 + 1);
            let items = storm(t);
            let want = plain.scrape(ts, &items);
            assert_eq!(
                remembered.scrape(ts, &items),
                want,
                "case {case}, scrape {t}"
            );
            assert_eq!(shifted.scrape(ts, &items), want, "case {case}, scrape {t}");
        }
        assert_eq!(
            remembered.guard.active_series(),
            plain.guard.active_series()
        );
        assert_eq!(
            remembered.guard.compact_members(),
            plain.guard.compact_members()
        );
    }
}

#[test]
fn a_remembered_slot_reaches_the_series_and_new_ones_are_reported() {
    let items: Vec<_> = (0..50)
        .map(|h| (series("requests_total", h, 200), MetricType::Counter, 1.0))
        .collect();
    let mut d = Driver::new(
        GuardSettings {
            series_budget: 1_000,
            ..GuardSettings::default()
        },
        Slots::Remembered,
    );
    d.scrape(1_000, &items);
    assert_eq!(d.moved, 50, "every new series reports its slot");
    let (out, _) = d.scrape(2_000, &items);
    assert_eq!(out.len(), 50);
    assert_eq!(d.moved, 0, "every remembered slot was right");
    let mut none = Driver::new(GuardSettings::default(), Slots::None);
    none.scrape(1_000, &items);
    assert_eq!(none.moved, 0, "no slots given, none reported");
}

/// Series A leaves the window and its slot goes to series B; A comes back
/// remembering B's slot, in the same scrape as B: both are forwarded (A
/// taken for B would be B's duplicate and lost).
#[test]
fn a_slot_reused_by_another_series_is_not_trusted() {
    let mut d = Driver::new(
        GuardSettings {
            series_budget: 1_000,
            staleness_window_ms: 2_000,
            ..GuardSettings::default()
        },
        Slots::Remembered,
    );
    let a = series("requests_total", 1, 200);
    let b = series("requests_total", 2, 200);
    d.scrape(1_000, &[(a.clone(), MetricType::Counter, 5.0)]);
    let key_a = d.guard.keyer().key(a.as_bytes());
    let slot_a = d.cache[&key_a];
    // A is gone for longer than the window; B takes its slot.
    d.scrape(10_000, &[(b.clone(), MetricType::Counter, 7.0)]);
    let key_b = d.guard.keyer().key(b.as_bytes());
    assert_eq!(d.cache[&key_b], slot_a, "B reuses A's slot");
    assert_eq!(d.cache[&key_a], slot_a, "A still remembers it");
    let (out, report) = d.scrape(
        11_000,
        &[
            (a.clone(), MetricType::Counter, 6.0),
            (b.clone(), MetricType::Counter, 8.0),
        ],
    );
    assert_eq!(report.duplicate_samples, 0);
    let values: Vec<&str> = out.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["6", "8"], "both forwarded: {out:?}");
    assert_ne!(d.cache[&key_a], slot_a, "A's new slot is reported");
}
