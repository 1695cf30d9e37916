//! Logging, replay, positions, segments, tailing and truncation.

use std::sync::Arc;

use super::*;
use crate::tsdb::fs::FsError;
use crate::tsdb::wal::{MAX_RECORD_BYTES, SEGMENT_HEADER_LEN, SyncPolicy};

fn round_trip(dir: Arc<dyn Directory>) {
    let (mut wal, mut replay) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    assert!(replay.next_record().unwrap().is_none());
    assert_eq!(
        wal.position(),
        Position {
            segment: 0,
            offset: SEGMENT_HEADER_LEN
        }
    );
    let recs: Vec<_> = (0..100).map(rec).collect();
    let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
    let p1 = wal.log(&refs[..60]).unwrap();
    let p2 = wal.log(&refs[60..]).unwrap();
    wal.log(&[]).unwrap();
    assert!(p1 < p2);
    assert_eq!(wal.position(), p2);
    wal.close().unwrap();
    let (mut wal, got) = open_replay(&dir, WalOptions::default());
    assert_eq!(got, recs);
    assert!(wal.repaired_tail().is_none());
    // Appending after a reopen continues the same segment.
    wal.log(&[b"after"]).unwrap();
    wal.close().unwrap();
    let (_, got) = open_replay(&dir, WalOptions::default());
    assert_eq!(got.len(), 101);
    assert_eq!(got[100], b"after");
}
both!(round_trip_t, super::round_trip);

fn empty_record_and_binary(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    let bin: Vec<u8> = (0..=255).collect();
    wal.log(&[b"", &bin, b""]).unwrap();
    wal.close().unwrap();
    let (_, got) = open_replay(&dir, WalOptions::default());
    assert_eq!(got, vec![vec![], bin, vec![]]);
}
both!(empty_record_and_binary_t, super::empty_record_and_binary);

fn segments_roll(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), small_segments()).unwrap();
    let recs: Vec<_> = (0..50).map(rec).collect();
    let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
    wal.log(&refs[..25]).unwrap();
    for r in &refs[25..] {
        wal.log(&[r]).unwrap();
    }
    // A record bigger than a segment gets one of its own.
    let big = vec![7u8; 1000];
    let big_compressible_not: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    wal.log(&[&big_compressible_not, &big]).unwrap();
    let (first, last) = wal.segments();
    assert_eq!(first, 0);
    assert!(last > 5, "{last} segments");
    for s in first..last {
        let len = dir.len(&segment_name(s)).unwrap();
        assert!(len <= 200 || s == last - 1, "segment {s} is {len} bytes");
    }
    let stats = wal.stats();
    wal.close().unwrap();
    assert_eq!(stats.records, 52);
    assert_eq!(u64::from(last), stats.segments_created);
    let on_disk: u64 = (first..=last)
        .map(|s| dir.len(&segment_name(s)).unwrap())
        .sum();
    assert_eq!(
        stats.bytes_written,
        on_disk - SEGMENT_HEADER_LEN,
        "all but the first header"
    );
    assert!(
        stats.syncs >= u64::from(last),
        "every completed segment is synced"
    );
    let (_, got) = open_replay(&dir, small_segments());
    assert_eq!(got.len(), 52);
    assert_eq!(&got[..50], &recs[..]);
    assert_eq!(got[50], big_compressible_not);
    assert_eq!(got[51], big);
}
both!(segments_roll_t, super::segments_roll);

/// Distances between positions count record bytes only, whichever
/// segments lie between, and a segment's reader reads that segment alone.
fn positions_measure_record_bytes(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), small_segments()).unwrap();
    let mut ends = vec![Position::start_of(0)];
    for i in 0..30 {
        ends.push(wal.log(&[&rec(i)]).unwrap());
    }
    wal.close().unwrap();
    let len = |s: u32| dir.len(&segment_name(s)).unwrap();
    let last = ends.last().copied().unwrap();
    assert!(last.segment > 2, "{last}");
    let header = SEGMENT_HEADER_LEN;
    let records: u64 =
        (0..last.segment).map(|s| len(s) - header).sum::<u64>() + last.offset - header;
    assert_eq!(Position::start_of(0).bytes_to(last, len), records);
    assert_eq!(last.bytes_to(Position::start_of(0), len), 0);
    // Distances add up: a completed segment ends with its last record.
    let summed: u64 = ends.windows(2).map(|w| w[0].bytes_to(w[1], len)).sum();
    assert_eq!(summed, records);
    assert!(ends[1..].iter().all(|p| !p.is_segment_start()));
    assert!(Position::start_of(3).is_segment_start());
    assert!(
        Position {
            segment: 3,
            offset: header
        }
        .is_segment_start()
    );
    for s in 0..last.segment {
        let mut r = WalReader::segment(Arc::clone(&dir), s);
        let got = read_all(&mut r).unwrap();
        let in_segment = ends[1..].iter().filter(|p| p.segment == s).count();
        assert_eq!(got.len(), in_segment, "segment {s}");
        assert_eq!(r.position(), Position::start_of(s + 1));
    }
}
both!(
    positions_measure_record_bytes_t,
    super::positions_measure_record_bytes
);

fn reader_from_position_and_tailing(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), small_segments()).unwrap();
    let mut positions = Vec::new();
    for i in 0..30 {
        positions.push(wal.log(&[&rec(i)]).unwrap());
    }
    // From each reported position, the reader returns exactly the rest.
    for (i, &p) in positions.iter().enumerate() {
        let mut r = WalReader::new(Arc::clone(&dir), p);
        let got = read_all(&mut r).unwrap();
        let want: Vec<_> = (i + 1..30).map(rec).collect();
        assert_eq!(got, want, "from {p}");
        assert_eq!(r.position(), *positions.last().unwrap());
    }
    // Tailing: a reader at the end sees records as they are logged, across
    // segment boundaries, and reports the writer's positions.
    let mut tail = WalReader::new(Arc::clone(&dir), *positions.last().unwrap());
    assert!(tail.next_record().unwrap().is_none());
    for i in 30..60 {
        let p = wal.log(&[&rec(i)]).unwrap();
        assert_eq!(
            tail.next_record().unwrap().map(<[u8]>::to_vec),
            Some(rec(i))
        );
        assert_eq!(tail.position(), p);
        assert!(tail.next_record().unwrap().is_none());
    }
}
both!(
    reader_from_position_and_tailing_t,
    super::reader_from_position_and_tailing
);

fn reader_on_fresh_directory_waits(dir: Arc<dyn Directory>) {
    let mut r = WalReader::new(Arc::clone(&dir), Position::start_of(0));
    assert!(r.next_record().unwrap().is_none());
    let (mut wal, _) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    assert!(r.next_record().unwrap().is_none());
    wal.log(&[b"one"]).unwrap();
    assert_eq!(r.next_record().unwrap(), Some(&b"one"[..]));
}
both!(
    reader_on_fresh_directory_waits_t,
    super::reader_on_fresh_directory_waits
);

fn truncate_before_deletes_old_segments(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), small_segments()).unwrap();
    for i in 0..40 {
        wal.log(&[&rec(i)]).unwrap();
    }
    let (_, last) = wal.segments();
    assert!(last >= 4);
    let mut behind = WalReader::new(Arc::clone(&dir), Position::start_of(0));
    assert_eq!(wal.truncate_before(3).unwrap(), 3);
    assert_eq!(wal.segments(), (3, last));
    assert!(!dir.exists(&segment_name(2)).unwrap());
    assert!(matches!(
        behind.next_record(),
        Err(WalError::SegmentMissing { segment: 0 })
    ));
    // Never deletes the segment being written.
    wal.truncate_before(u32::MAX).unwrap();
    assert_eq!(wal.segments(), (last, last));
    wal.log(&[b"still writable"]).unwrap();
    wal.close().unwrap();
    let (wal, got) = open_replay(&dir, small_segments());
    assert_eq!(got.last().map(Vec::as_slice), Some(&b"still writable"[..]));
    assert_eq!(wal.segments().0, last);
    let mut r = WalReader::from_start(Arc::clone(&dir)).unwrap();
    assert_eq!(read_all(&mut r).unwrap(), got);
}
both!(
    truncate_before_t,
    super::truncate_before_deletes_old_segments
);

#[test]
fn record_too_large_is_rejected_before_writing() {
    let dir: Arc<dyn Directory> = MemDirectory::new();
    let (mut wal, _) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    let before = wal.position();
    let big = vec![0u8; MAX_RECORD_BYTES + 1];
    assert!(matches!(
        wal.log(&[b"ok", &big]),
        Err(WalError::RecordTooLarge { len, max: MAX_RECORD_BYTES }) if len == MAX_RECORD_BYTES + 1
    ));
    assert_eq!(wal.position(), before);
}

#[test]
fn sync_policy_always_makes_every_batch_durable() {
    let mem = MemDirectory::new();
    let dir: Arc<dyn Directory> = mem.clone();
    let opts = WalOptions {
        sync: SyncPolicy::Always,
        ..small_segments()
    };
    let (mut wal, _) = Wal::open(Arc::clone(&dir), opts).unwrap();
    for i in 0..20 {
        let p = wal.log(&[&rec(i)]).unwrap();
        assert_eq!(wal.synced_position(), p);
        let crashed: Arc<dyn Directory> = mem.crash_copy();
        let (_, got) = open_replay(&crashed, opts);
        assert_eq!(got, (0..=i).map(rec).collect::<Vec<_>>());
    }
}

#[test]
fn sync_policy_never_loses_only_unsynced_batches() {
    let mem = MemDirectory::new();
    let dir: Arc<dyn Directory> = mem.clone();
    let opts = WalOptions {
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    };
    let (mut wal, _) = Wal::open(Arc::clone(&dir), opts).unwrap();
    wal.log(&[b"a", b"b"]).unwrap();
    wal.sync().unwrap();
    let synced = wal.synced_position();
    wal.log(&[b"c"]).unwrap();
    assert_eq!(wal.synced_position(), synced);
    let crashed: Arc<dyn Directory> = mem.crash_copy();
    let (_, got) = open_replay(&crashed, opts);
    assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn failed_sync_poisons_until_reopened() {
    let mem = MemDirectory::new();
    let dir: Arc<dyn Directory> = mem.clone();
    let (mut wal, _) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    wal.log(&[b"a"]).unwrap();
    mem.set_fail_sync(true);
    let failed = match wal.sync() {
        Err(WalError::Fs(e)) => e,
        other => panic!("sync: {other:?}"),
    };
    let poisoned = wal.log(&[b"b"]).unwrap_err();
    assert!(matches!(poisoned, WalError::Poisoned { .. }));
    // The poison keeps the failed sync itself as its cause.
    let cause = std::error::Error::source(&poisoned).and_then(|c| c.downcast_ref::<FsError>());
    assert!(
        matches!(cause, Some(FsError::Injected { op: "sync", .. })),
        "{poisoned:?}"
    );
    assert_eq!(cause.unwrap().to_string(), failed.to_string());
    assert_eq!(
        poisoned.to_string(),
        format!("wal: unusable after an earlier failure ({failed}); reopen it")
    );
    mem.set_fail_sync(false);
    let (mut wal, got) = open_replay(&dir, WalOptions::default());
    assert_eq!(got, vec![b"a".to_vec()]);
    wal.log(&[b"b"]).unwrap();
}

#[test]
fn torn_append_that_cannot_be_cut_back_poisons_with_both_failures() {
    let mem = MemDirectory::new();
    let dir: Arc<dyn Directory> = mem.clone();
    let (mut wal, _) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    wal.log(&[b"kept"]).unwrap();
    // The append is torn after 5 bytes and then every change fails, the
    // truncate that would cut the torn frame back included.
    mem.crash_after(5);
    let failed = match wal.log(&[b"torn"]) {
        Err(WalError::Fs(e)) => e,
        other => panic!("log: {other:?}"),
    };
    assert!(matches!(failed, FsError::Injected { op: "append", .. }));
    let poisoned = wal.log(&[b"next"]).unwrap_err();
    let WalError::Poisoned { cause, rollback } = &poisoned else {
        panic!("log: {poisoned:?}");
    };
    assert_eq!(cause.to_string(), failed.to_string());
    let rollback = rollback.as_ref().expect("the failed cut-back");
    assert!(matches!(
        **rollback,
        FsError::Injected { op: "truncate", .. }
    ));
    let source = std::error::Error::source(&poisoned).and_then(|c| c.downcast_ref::<FsError>());
    assert_eq!(source.map(ToString::to_string), Some(failed.to_string()));
    assert_eq!(
        poisoned.to_string(),
        format!(
            "wal: unusable after an earlier failure ({failed}; cutting back the torn write: {rollback}); reopen it"
        )
    );
}

#[test]
fn full_disk_cuts_back_to_the_last_whole_record() {
    let mem = MemDirectory::new();
    let dir: Arc<dyn Directory> = mem.clone();
    let (mut wal, _) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    let p = wal.log(&[b"kept"]).unwrap();
    // Room for the first record of the batch and part of the second.
    let first_frame = 13 + 2 + 5;
    mem.set_write_budget(Some(first_frame + 10));
    assert!(matches!(
        wal.log(&[b"whole", b"does not fit in the space left"]),
        Err(WalError::Fs(_))
    ));
    assert_eq!(
        wal.position().offset,
        p.offset + first_frame,
        "torn frame cut off"
    );
    mem.set_write_budget(None);
    wal.log(&[b"next"]).unwrap();
    let (_, got) = open_replay(&dir, WalOptions::default());
    assert_eq!(
        got,
        vec![b"kept".to_vec(), b"whole".to_vec(), b"next".to_vec()]
    );
}

fn bad_reader_positions(dir: Arc<dyn Directory>) {
    let (mut wal, _) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    let p1 = wal.log(&[b"one"]).unwrap();
    let p2 = wal.log(&[b"two"]).unwrap();
    let past = Position {
        segment: 0,
        offset: p2.offset + 1,
    };
    assert!(matches!(
        WalReader::new(Arc::clone(&dir), past).next_record(),
        Err(WalError::InvalidPosition {
            reason: "past the end of the segment",
            ..
        })
    ));
    let in_header = Position {
        segment: 0,
        offset: 3,
    };
    assert!(matches!(
        WalReader::new(Arc::clone(&dir), in_header).next_record(),
        Err(WalError::InvalidPosition {
            reason: "inside the segment header",
            ..
        })
    ));
    // Inside a frame: the header checksum refuses it.
    let mid = Position {
        segment: 0,
        offset: p1.offset + 2,
    };
    assert!(matches!(
        WalReader::new(Arc::clone(&dir), mid).next_record(),
        Err(WalError::Corrupt { .. })
    ));
    let mut ok = WalReader::new(Arc::clone(&dir), p1);
    assert_eq!(ok.next_record().unwrap(), Some(&b"two"[..]));
}
both!(bad_reader_positions_t, super::bad_reader_positions);
