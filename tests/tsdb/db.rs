//! `levee::tsdb::Db` through its public API: append/commit/rollback,
//! ordering rules, queries over head and blocks, head cuts, reopening,
//! retention. Every case runs over an in-memory and an on-disk directory.

use std::sync::Arc;

use levee::labels::Labels;
use levee::tsdb::db::{Db, Options};
use levee::tsdb::fs::{Directory, DiskDirectory, MemDirectory};
use levee::tsdb::index::Matcher;
use levee::tsdb::value::{is_stale_nan, stale_nan};
use levee::tsdb::wal::{SyncPolicy, WalOptions};

fn opts(block_range_ms: i64) -> Options {
    Options {
        block_range_ms,
        retention_ms: None,
        wal: WalOptions {
            segment_size: 16 << 10,
            sync: SyncPolicy::Always,
        },
        chunk_file_size: 64 << 10,
        ..Options::default()
    }
}

fn series(name: &str, i: u32) -> Labels {
    Labels::from_pairs([("__name__", name), ("i", &i.to_string()), ("job", "test")])
}

/// Every sample of every series in `[mint, maxt]`, as (labels, (t, bits)).
fn dump(db: &Db, mint: i64, maxt: i64) -> Vec<(String, Vec<(i64, u64)>)> {
    db.querier(mint, maxt)
        .select(&[])
        .expect("select")
        .iter()
        .map(|s| {
            let samples = s
                .samples()
                .map(|r| r.map(|(t, v)| (t, v.to_bits())))
                .collect::<Result<Vec<_>, _>>()
                .expect("decode");
            (s.labels().to_string(), samples)
        })
        .collect()
}

fn each_dir(case: fn(Arc<dyn Directory>)) {
    case(MemDirectory::new());
    let tmp = tempfile::tempdir().expect("tempdir");
    case(DiskDirectory::open(tmp.path()).expect("dir"));
}

fn append_commit_query_reopen(dir: Arc<dyn Directory>) {
    let db = Db::open_in(Arc::clone(&dir), opts(3_600_000)).expect("open");
    let mut app = db.appender();
    let r = app.append(&series("a", 1), 1_000, 1.5).expect("append");
    app.append(&series("a", 2), 1_000, -0.0).expect("append");
    app.append_ref(r, 2_000, stale_nan());
    let stats = app.commit().expect("commit");
    assert_eq!(stats.appended, 3);
    let mut app = db.appender();
    app.append(&series("a", 3), 5_000, 9.0).expect("append");
    app.rollback();
    let want = vec![
        (
            series("a", 1).to_string(),
            vec![(1_000, 1.5f64.to_bits()), (2_000, stale_nan().to_bits())],
        ),
        (
            series("a", 2).to_string(),
            vec![(1_000, (-0.0f64).to_bits())],
        ),
    ];
    assert_eq!(dump(&db, i64::MIN, i64::MAX), want);
    let q = db.querier(1_500, 3_000);
    let got = q.select(&[Matcher::equal("i", "1")]).expect("select");
    assert_eq!(got.len(), 1);
    let samples: Vec<_> = got[0].samples().collect::<Result<_, _>>().expect("decode");
    assert_eq!(samples.len(), 1);
    assert!(is_stale_nan(samples[0].1));
    // The rolled-back series was created by `append` and stays in the head
    // index (without samples) until the next head cut, as in Prometheus.
    assert_eq!(q.label_values("i", &[]).expect("values"), ["1", "2", "3"]);
    db.close().expect("close");
    let db = Db::open_in(dir, opts(3_600_000)).expect("reopen");
    assert_eq!(dump(&db, i64::MIN, i64::MAX), want);
}

#[test]
fn append_commit_query_and_reopen() {
    each_dir(append_commit_query_reopen);
}

fn ordering_rules(dir: Arc<dyn Directory>) {
    let db = Db::open_in(dir, opts(3_600_000)).expect("open");
    let l = series("m", 0);
    let mut app = db.appender();
    app.append(&l, 10, 1.0).expect("append");
    app.append(&l, 20, 2.0).expect("append");
    app.append(&l, 15, 3.0).expect("append"); // out of order within the batch
    app.append(&l, 20, 2.0).expect("append"); // exact repeat
    app.append(&l, 20, 5.0).expect("append"); // same time, other value
    let s = app.commit().expect("commit");
    assert_eq!((s.appended, s.out_of_order, s.duplicates), (2, 2, 1));
    let mut app = db.appender();
    app.append(&l, 5, 1.0).expect("append");
    let s = app.commit().expect("commit");
    assert_eq!((s.appended, s.out_of_order), (0, 1));
    assert_eq!(db.stats().counters.out_of_order, 3);
    assert_eq!(
        dump(&db, i64::MIN, i64::MAX),
        vec![(
            l.to_string(),
            vec![(10, 1f64.to_bits()), (20, 2f64.to_bits())]
        )]
    );
    assert!(db.appender().append(&Labels::empty(), 1, 1.0).is_err());
}

#[test]
fn out_of_order_and_duplicates_are_counted() {
    each_dir(ordering_rules);
}

/// Writes `n` samples per series, 15 s apart, for `series_count` series.
fn fill(db: &Db, series_count: u32, from: i64, n: i64) {
    for k in 0..n {
        let t = from + k * 15_000;
        let mut app = db.appender();
        for i in 0..series_count {
            app.append(&series("fill", i), t, (t / 1000 + i64::from(i)) as f64)
                .expect("append");
        }
        let s = app.commit().expect("commit");
        assert_eq!(s.appended, u64::from(series_count));
    }
}

fn expected_fill(series_count: u32, from: i64, n: i64) -> Vec<(String, Vec<(i64, u64)>)> {
    let mut out: Vec<_> = (0..series_count)
        .map(|i| {
            let samples = (0..n)
                .map(|k| {
                    let t = from + k * 15_000;
                    (t, ((t / 1000 + i64::from(i)) as f64).to_bits())
                })
                .collect();
            (series("fill", i).to_string(), samples)
        })
        .collect();
    out.sort();
    out
}

fn head_cut_into_blocks(dir: Arc<dyn Directory>) {
    let range = 600_000; // 10 minutes
    let db = Db::open_in(Arc::clone(&dir), opts(range)).expect("open");
    // 1 hour of 15 s samples: several chunks per series, 6 ranges.
    fill(&db, 20, 0, 240);
    db.compact().expect("compact");
    let blocks = db.blocks();
    assert!(blocks.len() >= 4, "{} blocks", blocks.len());
    let want = expected_fill(20, 0, 240);
    assert_eq!(dump(&db, i64::MIN, i64::MAX), want);
    // A range query crossing a block boundary and the head.
    let got = dump(&db, 590_000, 3_000_000);
    let want_range: Vec<_> = want
        .iter()
        .map(|(l, s)| {
            let s = s
                .iter()
                .copied()
                .filter(|(t, _)| (590_000..=3_000_000).contains(t))
                .collect();
            (l.clone(), s)
        })
        .collect();
    assert_eq!(got, want_range);
    // Appends before the head's lower bound are refused and counted.
    let mut app = db.appender();
    app.append(&series("fill", 0), 1_000, 1.0).expect("append");
    assert_eq!(app.commit().expect("commit").out_of_bounds, 1);
    let stats = db.stats();
    assert!(stats.compaction.blocks_written >= 4);
    drop(db);
    let db = Db::open_in(dir, opts(range)).expect("reopen");
    assert_eq!(dump(&db, i64::MIN, i64::MAX), want);
    fill(&db, 20, 240 * 15_000, 10);
    assert_eq!(dump(&db, i64::MIN, i64::MAX), expected_fill(20, 0, 250));
}

#[test]
fn head_cuts_into_blocks_and_queries_merge() {
    each_dir(head_cut_into_blocks);
}

fn retention_by_age_and_size(dir: Arc<dyn Directory>) {
    let range = 600_000;
    let mut o = opts(range);
    o.retention_ms = Some(3 * range);
    let db = Db::open_in(Arc::clone(&dir), o.clone()).expect("open");
    fill(&db, 5, 0, 480); // 2 hours
    db.compact().expect("compact");
    let oldest = db
        .blocks()
        .first()
        .map(|b| b.meta().min_time)
        .expect("a block");
    assert!(
        oldest >= 480 * 15_000 - 5 * range,
        "old blocks deleted: oldest {oldest}"
    );
    let got = dump(&db, i64::MIN, i64::MAX);
    assert!(
        got.iter()
            .all(|(_, s)| s.first().is_some_and(|(t, _)| *t >= oldest))
    );
    drop(db);
    o.retention_bytes = Some(1);
    let db = Db::open_in(dir, o).expect("reopen");
    db.compact().expect("compact");
    assert!(db.blocks().is_empty(), "size retention deletes every block");
    // The head still holds its samples; nothing before its bound returns.
    let got = dump(&db, i64::MIN, i64::MAX);
    assert!(!got.is_empty());
}

#[test]
fn retention_deletes_old_blocks() {
    each_dir(retention_by_age_and_size);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let _db = Db::open(tmp.path(), opts(3_600_000)).expect("open");
    let err = Db::open(tmp.path(), opts(3_600_000)).expect_err("locked");
    assert!(err.to_string().contains("lock"), "{err}");
}

/// A WAL observer (remote write) that holds segments from `hold` on and
/// counts notifications.
struct Holder {
    hold: std::sync::atomic::AtomicU32,
    logged: std::sync::atomic::AtomicU64,
}

impl levee::tsdb::db::WalObserver for Holder {
    fn logged(&self, _synced: levee::tsdb::wal::Position) {
        self.logged
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn deletable_before(&self, _wal_dir: &dyn Directory, wanted: u32) -> u32 {
        wanted.min(self.hold.load(std::sync::atomic::Ordering::Relaxed))
    }
}

fn segments(dir: &Arc<dyn Directory>) -> Vec<u32> {
    levee::tsdb::wal::list_segments(&*dir.subdir("wal").expect("wal dir")).expect("segments")
}

fn observer_keeps_wal_segments(dir: Arc<dyn Directory>) {
    let db = Db::open_in(Arc::clone(&dir), opts(600_000)).expect("open");
    let holder = Arc::new(Holder {
        hold: std::sync::atomic::AtomicU32::new(0),
        logged: std::sync::atomic::AtomicU64::new(0),
    });
    db.set_wal_observer(holder.clone());
    fill(&db, 20, 0, 240);
    assert_eq!(
        holder.logged.load(std::sync::atomic::Ordering::Relaxed),
        240
    );
    db.compact().expect("compact");
    assert!(!db.blocks().is_empty());
    assert_eq!(segments(&dir)[0], 0, "the observer holds segment 0");
    holder
        .hold
        .store(u32::MAX, std::sync::atomic::Ordering::Relaxed);
    db.compact().expect("compact");
    assert!(segments(&dir)[0] > 0, "released segments are deleted");
    drop(db);
    let db = Db::open_in(dir, opts(600_000)).expect("reopen");
    assert_eq!(dump(&db, i64::MIN, i64::MAX), expected_fill(20, 0, 240));
}

#[test]
fn a_wal_observer_keeps_the_segments_it_needs() {
    each_dir(observer_keeps_wal_segments);
}

fn stale_refs_fall_back_to_labels(dir: Arc<dyn Directory>) {
    let range = 600_000;
    let db = Db::open_in(dir, opts(range)).expect("open");
    let old = Arc::new(series("gone", 0));
    let mut app = db.appender();
    let stale = app.append(&old, 0, 1.0).expect("append");
    app.commit().expect("commit");
    // Another series moves the head on; the cut removes `old` (no samples
    // after the cut range).
    fill(&db, 1, 0, 100);
    db.compact().expect("compact");
    let t = 99 * 15_000 + 1;
    let mut app = db.appender();
    app.append_ref(stale, t, 2.0);
    let s = app.commit().expect("commit");
    assert_eq!(
        (s.appended, s.unknown_refs),
        (0, 1),
        "a bare stale ref is refused"
    );
    let mut app = db.appender();
    app.append_ref_or(stale, &old, t, 3.0);
    let s = app.commit().expect("commit");
    assert_eq!((s.appended, s.refs_replaced), (1, 1));
    let got = db
        .querier(t, t)
        .select(&[Matcher::equal("__name__", "gone")])
        .expect("select");
    let samples: Vec<_> = got[0].samples().collect::<Result<_, _>>().expect("decode");
    assert_eq!(samples, vec![(t, 3.0)]);
}

#[test]
fn append_ref_or_falls_back_to_labels_for_a_stale_ref() {
    each_dir(stale_refs_fall_back_to_labels);
}

/// A damaged record in the middle of the WAL: opening without repair fails
/// naming segment and offset; with repair (the default) the database opens
/// with everything before the damage, every series a contiguous prefix.
#[test]
fn corrupt_wal_record_mid_way_is_reported_or_repaired() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(3_600_000);
    o.wal.segment_size = 4096;
    let db = Db::open(tmp.path(), o.clone()).expect("open");
    fill(&db, 20, 0, 100); // < 120 samples per series: all in the WAL
    db.close().expect("close");
    let wal = tmp.path().join("wal");
    let seg = wal.join(levee::tsdb::wal::segment_name(1));
    let mut bytes = std::fs::read(&seg).expect("segment 1");
    bytes[40] ^= 0xff; // inside the first record's payload
    std::fs::write(&seg, &bytes).expect("write");

    o.repair_wal = false;
    let err = Db::open(tmp.path(), o.clone())
        .expect_err("corrupt WAL refused")
        .to_string();
    assert!(err.contains("segment 1 offset 8"), "{err}");

    o.repair_wal = true;
    let db = Db::open(tmp.path(), o).expect("repaired");
    assert!(db.replay_stats().repaired_at.is_some());
    let got = dump(&db, i64::MIN, i64::MAX);
    let kept = got[0].1.len();
    assert!(kept > 0 && kept < 100, "{kept} samples kept");
    assert_eq!(got.len(), 20);
    assert!(
        got.iter().all(|(_, s)| s.len() == kept),
        "one record per commit: equal prefixes"
    );
    let want = expected_fill(20, 0, 100);
    for ((l, s), (wl, ws)) in got.iter().zip(&want) {
        assert_eq!(l, wl);
        assert_eq!(s[..], ws[..s.len()], "{l}: a prefix, exact");
    }
    // Appending goes on after the repair.
    fill(&db, 20, 100 * 15_000, 1);
}

/// A scrape of a huge target is one commit: it is split into bounded WAL
/// records (a million-series scrape once failed as one 100 MB record) and
/// replays whole.
#[test]
fn a_huge_commit_is_logged_in_bounded_records() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(3_600_000);
    o.wal.segment_size = 8 << 20;
    let db = Db::open(tmp.path(), o.clone()).expect("open");
    let mut app = db.appender();
    for i in 0..30_000u32 {
        let l = series("huge", i);
        for k in 0..9i64 {
            app.append(&l, k * 1000, f64::from(i) + k as f64)
                .expect("append");
        }
    }
    assert_eq!(app.commit().expect("commit").appended, 270_000);
    db.close().expect("close");
    let db = Db::open(tmp.path(), o).expect("reopen");
    assert_eq!(db.stats().head_series, 30_000);
    assert_eq!(db.replay_stats().samples, 270_000);
}

/// Found by the `db_replay` fuzz target: a series record naming ref
/// 0x0200_0001 made replay size the head's per-series table by id (144
/// bytes per id below it: 4.8 GB, an out-of-memory abort at every open).
/// Ids from the WAL now cost memory per series, not per id.
#[test]
fn a_wal_series_ref_near_u32_max_replays_without_a_table_that_size() {
    use levee::tsdb::record::{self, RefSample, RefSeries};
    use levee::tsdb::wal::Wal;
    let dir: Arc<dyn Directory> = MemDirectory::new();
    let labels = series("far", 0);
    let (mut wal, _) =
        Wal::open(dir.subdir("wal").expect("wal dir"), WalOptions::default()).expect("new wal");
    let (mut series_rec, mut samples_rec) = (Vec::new(), Vec::new());
    for (r, t) in [(0x0200_0001, 1_000), (u32::MAX - 1, 2_000)] {
        series_rec.clear();
        samples_rec.clear();
        let l = Labels::from_pairs([("__name__", "far"), ("ref", &r.to_string())]);
        record::encode_series(
            &[RefSeries {
                series: r,
                labels: l,
            }],
            &mut series_rec,
        );
        record::encode_samples(
            &[RefSample {
                series: r,
                t,
                v: 1.5,
            }],
            &mut samples_rec,
        );
        wal.log(&[&series_rec, &samples_rec]).expect("log");
    }
    wal.close().expect("close");
    let db = Db::open_in(Arc::clone(&dir), opts(7_200_000)).expect("opens");
    let got = dump(&db, 0, 10_000);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|(_, s)| s.len() == 1), "{got:?}");
    // New series still get ids and append next to them.
    let mut app = db.appender();
    app.append(&labels, 3_000, 2.0).expect("append");
    app.commit().expect("commit");
    assert_eq!(dump(&db, 0, 10_000).len(), 3);
}
