//! Checkpoint tests: what is kept, replay order, chained checkpoints,
//! interrupted head cuts; over disk and memory.

use std::sync::Arc;

use super::*;
use crate::labels::Labels;
use crate::tsdb::fs::{DiskDirectory, MemDirectory};
use crate::tsdb::record::{Record, RefSample, RefSeries, decode, encode_samples, encode_series};
use crate::tsdb::wal::{Wal, WalOptions, list_segments};

fn opts() -> WalOptions {
    WalOptions {
        segment_size: 300,
        ..WalOptions::default()
    }
}

fn series(r: u32) -> RefSeries {
    RefSeries {
        series: r,
        labels: Labels::from_pairs([("__name__", "m"), ("id", &r.to_string())]),
    }
}

fn sample(r: u32, t: i64) -> RefSample {
    RefSample {
        series: r,
        t,
        v: t as f64 + f64::from(r),
    }
}

/// Logs series 0..8 then, per round, one sample of each.
fn fill(wal: &mut Wal, rounds: std::ops::Range<i64>) {
    let mut buf = Vec::new();
    if rounds.start == 0 {
        encode_series(&(0..8).map(series).collect::<Vec<_>>(), &mut buf);
        wal.log(&[&buf]).unwrap();
    }
    for t in rounds {
        buf.clear();
        encode_samples(&(0..8).map(|r| sample(r, t)).collect::<Vec<_>>(), &mut buf);
        wal.log(&[&buf]).unwrap();
    }
}

/// Everything a replay yields, as (series, samples).
fn replay_all(dir: &Arc<dyn Directory>) -> (Wal, Vec<RefSeries>, Vec<RefSample>) {
    let (wal, wal_replay) = Wal::open(Arc::clone(dir), opts()).unwrap();
    let mut replay = Replay::new(dir, wal_replay).unwrap();
    let (mut ser, mut sam) = (Vec::new(), Vec::new());
    while let Some(rec) = replay.next_record().unwrap() {
        match decode(rec).unwrap() {
            Record::Series(s) => ser.extend(s),
            Record::Samples(s) => sam.extend(s),
        }
    }
    (wal, ser, sam)
}

fn keep_even(s: &RefSeries) -> bool {
    s.series.is_multiple_of(2)
}

fn checkpoint_keeps_live_series_and_recent_samples(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), opts()).unwrap();
    fill(&mut wal, 0..20);
    let (first, newest) = wal.segments();
    assert!(newest >= 4, "{newest}");
    let to = newest - 1;
    let stats = create(&dir, to, keep_even, 5).unwrap();
    assert_eq!(stats.index, to);
    assert_eq!(stats.series_kept, 4);
    assert_eq!(stats.series_dropped, 4);
    assert!(stats.samples_kept > 0);
    assert_eq!(wal.truncate_before(to + 1).unwrap() as u32, to + 1 - first);
    assert_eq!(delete_before(&*dir, to).unwrap(), 0);
    assert_eq!(list(&*dir).unwrap(), vec![to]);
    // Rounds written after the checkpoint land after it in the replay.
    fill(&mut wal, 20..25);
    wal.close().unwrap();

    let (_, ser, sam) = replay_all(&dir);
    assert_eq!(ser, (0..8).step_by(2).map(series).collect::<Vec<_>>());
    // Replayed: kept samples with t >= 5 from the checkpoint, then every
    // sample of the segments after it; in time order overall.
    let from_cp = stats.samples_kept as usize;
    assert!(
        sam[..from_cp]
            .iter()
            .all(|s| s.series.is_multiple_of(2) && s.t >= 5)
    );
    assert!(sam.windows(2).all(|w| w[0].t <= w[1].t));
    let last_t = sam.last().map(|s| s.t);
    assert_eq!(last_t, Some(24));
    // Nothing lost: every kept sample with t >= 5 is there exactly once.
    for t in 5..25 {
        for r in (0..8).step_by(2) {
            assert_eq!(
                sam.iter().filter(|s| **s == sample(r, t)).count(),
                1,
                "series {r} t {t}"
            );
        }
    }
}

fn chained_checkpoints(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), opts()).unwrap();
    fill(&mut wal, 0..10);
    let to1 = wal.segments().1 - 1;
    create(&dir, to1, |_| true, 0).unwrap();
    wal.truncate_before(to1 + 1).unwrap();
    fill(&mut wal, 10..20);
    let to2 = wal.segments().1 - 1;
    assert!(to2 > to1);
    assert!(matches!(
        create(&dir, to1, |_| true, 0),
        Err(CheckpointError::AlreadyCovered { existing, .. }) if existing == to1
    ));
    let stats = create(&dir, to2, |s| s.series < 4, 3).unwrap();
    assert_eq!(stats.series_kept, 4);
    wal.truncate_before(to2 + 1).unwrap();
    delete_before(&*dir, to2).unwrap();
    assert_eq!(list(&*dir).unwrap(), vec![to2]);
    wal.close().unwrap();
    let (_, ser, sam) = replay_all(&dir);
    assert_eq!(ser.len(), 4);
    for t in 3..20 {
        for r in 0..4 {
            assert_eq!(
                sam.iter().filter(|s| **s == sample(r, t)).count(),
                1,
                "series {r} t {t}"
            );
        }
    }
    // The checkpoint part holds only what was kept; the newest segment
    // (not checkpointed) replays in full after it.
    let from_cp = stats.samples_kept as usize;
    assert!(sam[..from_cp].iter().all(|s| s.series < 4 && s.t >= 3));
    assert!(sam[from_cp..].iter().any(|s| s.series >= 4));
}

fn interrupted_head_cut_is_finished_on_open(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), opts()).unwrap();
    fill(&mut wal, 0..10);
    let to = wal.segments().1 - 1;
    // An older, interrupted checkpoint and a complete one whose segments
    // were never deleted (crash right after the rename).
    dir.subdir("checkpoint.00000000.tmp")
        .unwrap()
        .create("junk")
        .unwrap();
    create(&dir, to, |_| true, 0).unwrap();
    wal.close().unwrap();
    assert!(list_segments(&*dir).unwrap()[0] <= to);
    let (_, ser, sam) = replay_all(&dir);
    assert_eq!(ser.len(), 8);
    assert_eq!(sam.len(), 80, "no sample replayed twice");
    // The covered segments are skipped, and left for the owner to delete.
    assert!(list_segments(&*dir).unwrap()[0] <= to);
    assert!(!dir.list_dirs().unwrap().iter().any(|d| d.ends_with(".tmp")));
}

fn active_segment_is_refused(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), opts()).unwrap();
    fill(&mut wal, 0..1);
    let newest = wal.segments().1;
    assert!(matches!(
        create(&dir, newest, |_| true, 0),
        Err(CheckpointError::ActiveSegment { to, .. }) if to == newest
    ));
}

/// Series 3 is removed from the head and its id reused for other labels:
/// the checkpoint keeps the new declaration only, with its samples.
fn reused_id_keeps_the_current_labels(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), opts()).unwrap();
    fill(&mut wal, 0..10);
    let reused = RefSeries {
        series: 3,
        labels: Labels::from_pairs([("__name__", "other")]),
    };
    let mut buf = Vec::new();
    encode_series(std::slice::from_ref(&reused), &mut buf);
    wal.log(&[&buf]).unwrap();
    buf.clear();
    encode_samples(&[sample(3, 20)], &mut buf);
    wal.log(&[&buf]).unwrap();
    fill(&mut wal, 21..40);
    let to = wal.segments().1 - 1;
    let current = |s: &RefSeries| s.series != 3 || s.labels == reused.labels;
    create(&dir, to, current, 15).unwrap();
    wal.truncate_before(to + 1).unwrap();
    wal.close().unwrap();

    let (_, ser, sam) = replay_all(&dir);
    let declared: Vec<_> = ser.iter().filter(|s| s.series == 3).collect();
    assert_eq!(declared, vec![&reused]);
    assert!(sam.iter().filter(|s| s.series == 3).all(|s| s.t >= 20));
    assert!(sam.contains(&sample(3, 20)));
}

fn run(case: fn(Arc<dyn Directory>)) {
    case(MemDirectory::new());
    let tmp = tempfile::tempdir().unwrap();
    case(DiskDirectory::open(tmp.path()).unwrap());
}

#[test]
fn keeps_live_series_and_recent_samples() {
    run(checkpoint_keeps_live_series_and_recent_samples);
}

#[test]
fn chained() {
    run(chained_checkpoints);
}

#[test]
fn interrupted_head_cut() {
    run(interrupted_head_cut_is_finished_on_open);
}

#[test]
fn reused_id() {
    run(reused_id_keeps_the_current_labels);
}

#[test]
fn active_segment() {
    run(active_segment_is_refused);
}

#[test]
fn names() {
    assert_eq!(checkpoint_name(7), "checkpoint.00000007");
    assert_eq!(parse_name("checkpoint.00000007"), Some(7));
    assert_eq!(parse_name("checkpoint.00000007.tmp"), None);
    assert_eq!(parse_name("checkpoint.7"), None);
}
