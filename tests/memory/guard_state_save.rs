//! Peak heap of one guard state save, measured with a counting global
//! allocator (live and peak bytes): a target with 100k folded members
//! (Istio-style, 4,000 destination hosts x 25 series, folded by a
//! `fold_labels` rule) saved into a temporary directory on disk, the way
//! `levee run` saves every `guard.state_save_interval`
//! ([`Encoder::create`] on `state.tmp`, [`Encoder::add_guard`] under the
//! guard, [`Encoder::finish`]).
//!
//! The bound is per member, on the peak of heap bytes above what was live
//! before the save: the save writes the file's body as it encodes it
//! (the format puts the symbol table last for that), so it may cost the
//! symbol table (the tuples' host names, once each), the export index and
//! one 64 KiB buffer, not the file (~32 bytes per member) and not copies
//! of the members. Measured beside it: the same encoder holding the whole
//! file in memory, which must exceed the bound. Byte counts, not time:
//! deterministic. Run with `-- --nocapture` for the figures.

use levee::exposition::MetricType;
use levee::guard::persist::{self, Encoder, STATE_FILE};
use levee::guard::{FoldRule, GuardSettings, TargetGuard};
use levee::labels::Labels;
use levee::tsdb::fs::DiskDirectory;

use crate::counting_alloc;
use crate::guard_samples::{SERIES, samples};

fn folded_guard() -> TargetGuard {
    let rule = FoldRule::new(
        vec!["destination_service".into(), "destination_workload".into()],
        None,
    )
    .expect("valid rule");
    let mut guard = TargetGuard::new(GuardSettings {
        fold_rules: vec![rule],
        ..GuardSettings::default()
    });
    // The second scrape finds every series a member and merges it by key.
    for ts in [0, 15_000] {
        let batch = samples(ts);
        let kinds = vec![MetricType::Counter; batch.len()];
        guard
            .apply(ts, &batch, &kinds, &mut Vec::new())
            .expect("accepted");
    }
    guard
}

/// Heap bytes above the live count at the start that `f` needed at its
/// peak, and what `f` returned.
fn peak_of<T>(f: impl FnOnce() -> T) -> (isize, T) {
    let base = counting_alloc::reset_peak();
    let out = f();
    (counting_alloc::peak_bytes() - base, out)
}

const JOB: &str = "istio";
const URL: &str = "http://sidecar:15090/stats/prometheus";

fn labels() -> Labels {
    Labels::from_pairs([("instance", "sidecar:15090"), ("job", "istio")])
}

/// Bytes of heap per member a save may take at its peak (measured: 11.1,
/// of which ~6 the symbol table and its index for 4,000 hosts; holding the
/// file takes 40 to 51).
const BOUND_PER_MEMBER: isize = 16;

#[test]
fn a_save_costs_its_symbols_not_the_file_nor_copies_of_the_members() {
    let _counted = counting_alloc::count_this_thread();
    let guard = folded_guard();
    let members = SERIES as isize;
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = DiskDirectory::open(tmp.path()).expect("dir");
    let labels = labels();

    let (held_peak, held_len) = peak_of(|| {
        let mut enc = Encoder::new();
        enc.add_guard(JOB, URL, &labels, &guard);
        let bytes = enc.into_bytes();
        persist::write(&*dir, STATE_FILE, &bytes).expect("write");
        bytes.len()
    });
    let (peak, len) = peak_of(|| {
        let mut enc = Encoder::create(&*dir, STATE_FILE).expect("create");
        enc.add_guard(JOB, URL, &labels, &guard);
        assert_eq!(enc.members(), SERIES);
        enc.finish().expect("write")
    });
    for (name, peak) in [
        ("encoded whole in memory, then written", held_peak),
        ("written as encoded (levee run)", peak),
    ] {
        println!(
            "{name}: peak {peak} bytes, {:.1} per member",
            peak as f64 / members as f64
        );
    }
    println!(
        "file {len} bytes, {:.1} per member",
        len as f64 / members as f64
    );
    assert_eq!(len, held_len, "the same file");
    assert!(
        peak <= BOUND_PER_MEMBER * members,
        "a save took {peak} bytes of heap at its peak for {members} members"
    );
    assert!(
        held_peak > BOUND_PER_MEMBER * members,
        "holding the file ({held_peak} bytes at the peak) passes the bound: it tests nothing"
    );

    // What was written reads back into a guard with every member.
    let back = persist::read(&*dir, STATE_FILE)
        .expect("readable")
        .expect("present");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].state.members.len(), SERIES);
    let mut held = Encoder::new();
    held.add_guard(JOB, URL, &labels, &guard);
    let held = persist::decode("held", &held.into_bytes()).expect("decodes");
    assert_eq!(back[0].state, held[0].state);
    let restored =
        TargetGuard::restore(guard.settings().clone(), &back[0].state).expect("restores");
    assert_eq!(restored.scraped_series(), guard.scraped_series());
}
