//! Named corruption cases: torn tail, bad checksum mid-segment, unknown
//! version, bad magic, truncated segment header, zero-filled tail, gaps.

use std::sync::Arc;

use super::*;
use crate::tsdb::wal::frame::FRAME_HEADER_LEN;
use crate::tsdb::wal::{Corruption, SEGMENT_HEADER_LEN};

/// Logs records 0..n one per call and returns the end positions.
fn fill(dir: &Arc<dyn Directory>, opts: WalOptions, n: usize) -> Vec<Position> {
    let (mut wal, _) = Wal::open(Arc::clone(dir), opts).unwrap();
    let ps = (0..n).map(|i| wal.log(&[&rec(i)]).unwrap()).collect();
    wal.close().unwrap();
    ps
}

fn torn_tail(dir: Arc<dyn Directory>) {
    let ps = fill(&dir, WalOptions::default(), 5);
    let name = segment_name(0);
    // Cut at every byte inside the last frame: always repaired to 4 records.
    for cut in ps[3].offset + 1..ps[4].offset {
        let copy: Arc<dyn Directory> = MemDirectory::new();
        let bytes = dir.map(&name).unwrap();
        copy.create(&name)
            .unwrap()
            .append(&bytes[..cut as usize])
            .unwrap();
        let (mut wal, got) = open_replay(&copy, WalOptions::default());
        assert_eq!(got, (0..4).map(rec).collect::<Vec<_>>(), "cut at {cut}");
        let report = wal.repaired_tail().unwrap();
        assert_eq!(report.at, ps[3]);
        assert_eq!(report.dropped_bytes, cut - ps[3].offset);
        assert_eq!(copy.len(&name).unwrap(), ps[3].offset);
        wal.log(&[b"after repair"]).unwrap();
        let (_, got) = open_replay(&copy, WalOptions::default());
        assert_eq!(got.len(), 5);
    }
    // The same on the real directory.
    dir.truncate(&name, ps[4].offset - 3).unwrap();
    let (wal, got) = open_replay(&dir, WalOptions::default());
    assert_eq!(got.len(), 4);
    assert_eq!(wal.repaired_tail().map(|r| r.at), Some(ps[3]));
}
both!(torn_tail_t, super::torn_tail);

fn zero_filled_tail_is_torn(dir: Arc<dyn Directory>) {
    let ps = fill(&dir, WalOptions::default(), 3);
    let mut f = dir.open_append(&segment_name(0)).unwrap();
    f.append(&[0u8; 100]).unwrap();
    let (wal, got) = open_replay(&dir, WalOptions::default());
    assert_eq!(got.len(), 3);
    assert_eq!(
        wal.repaired_tail().map(|r| (r.at, r.dropped_bytes)),
        Some((ps[2], 100))
    );
}
both!(zero_filled_tail_t, super::zero_filled_tail_is_torn);

fn bad_checksum_mid_segment(dir: Arc<dyn Directory>) {
    let ps = fill(&dir, WalOptions::default(), 5);
    let name = segment_name(0);
    // Flip a payload byte of record 2 (which starts at ps[1]).
    poke(
        &*dir,
        &name,
        ps[1].offset + FRAME_HEADER_LEN as u64 + 2,
        |b| b ^ 0x40,
    );
    let err = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::Corrupt { segment: 0, offset, reason: Corruption::PayloadChecksum { .. } }
                if offset == ps[1].offset
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("segment 0 offset {}", ps[1].offset))
    );
    let report = crate::tsdb::wal::repair(&*dir, err.position().unwrap()).unwrap();
    assert_eq!(report.at, ps[1]);
    let (_, got) = open_replay(&dir, WalOptions::default());
    assert_eq!(got, vec![rec(0), rec(1)]);
}
both!(bad_checksum_mid_segment_t, super::bad_checksum_mid_segment);

fn bad_length_is_corruption_not_a_torn_tail(dir: Arc<dyn Directory>) {
    let ps = fill(&dir, WalOptions::default(), 5);
    // Damage the length field of record 2: the header checksum catches it,
    // so the three records after it are not silently cut off as "torn".
    poke(&*dir, &segment_name(0), ps[1].offset + 5, |b| b ^ 0x7f);
    let err = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap_err();
    assert!(
        matches!(err, WalError::Corrupt { reason: Corruption::HeaderChecksum { .. }, offset, .. } if offset == ps[1].offset),
        "{err}"
    );
}
both!(
    bad_length_t,
    super::bad_length_is_corruption_not_a_torn_tail
);

fn bad_checksum_in_older_segment(dir: Arc<dyn Directory>) {
    let ps = fill(&dir, small_segments(), 40);
    // Damage the first record of segment 1.
    let first_in_1 = ps.iter().position(|p| p.segment == 1).unwrap();
    poke(
        &*dir,
        &segment_name(1),
        SEGMENT_HEADER_LEN + FRAME_HEADER_LEN as u64,
        |b| b ^ 1,
    );
    let (mut wal, mut replay) = Wal::open(Arc::clone(&dir), small_segments()).unwrap();
    let mut got = Vec::new();
    let err = loop {
        match replay.next_record() {
            Ok(Some(r)) => got.push(r.to_vec()),
            Ok(None) => panic!("replay ended without reporting the damage"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, (0..first_in_1).map(rec).collect::<Vec<_>>());
    assert_eq!(
        err.position(),
        Some(Position {
            segment: 1,
            offset: SEGMENT_HEADER_LEN
        })
    );
    // The same error again: the reader does not skip damage.
    assert_eq!(replay.next_record().unwrap_err().position(), err.position());
    let report = wal.repair(err.position().unwrap()).unwrap();
    assert!(!report.removed_segments.is_empty());
    assert_eq!(wal.segments(), (0, 1));
    wal.log(&[b"after repair"]).unwrap();
    wal.close().unwrap();
    let (_, got) = open_replay(&dir, small_segments());
    assert_eq!(got.len(), first_in_1 + 1);
    assert_eq!(got.last().map(Vec::as_slice), Some(&b"after repair"[..]));
}
both!(
    bad_checksum_in_older_segment_t,
    super::bad_checksum_in_older_segment
);

fn unknown_version(dir: Arc<dyn Directory>) {
    fill(&dir, WalOptions::default(), 2);
    poke(&*dir, &segment_name(0), 4, |_| 2);
    let err = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::UnsupportedVersion {
                segment: 0,
                expected: 1,
                got: 2
            }
        ),
        "{err}"
    );
    let mut r = WalReader::new(Arc::clone(&dir), Position::start_of(0));
    assert!(matches!(
        r.next_record(),
        Err(WalError::UnsupportedVersion { .. })
    ));
    // Reserved bytes must be zero too.
    poke(&*dir, &segment_name(0), 4, |_| 1);
    poke(&*dir, &segment_name(0), 7, |_| 1);
    assert!(matches!(
        Wal::open(Arc::clone(&dir), WalOptions::default()),
        Err(WalError::UnsupportedVersion { .. })
    ));
}
both!(unknown_version_t, super::unknown_version);

fn bad_magic(dir: Arc<dyn Directory>) {
    fill(&dir, WalOptions::default(), 1);
    poke(&*dir, &segment_name(0), 0, |_| b'X');
    let err = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap_err();
    assert!(
        matches!(err, WalError::BadMagic { segment: 0, got, .. } if &got == b"XWAL"),
        "{err}"
    );
}
both!(bad_magic_t, super::bad_magic);

fn truncated_segment_header(dir: Arc<dyn Directory>) {
    let ps = fill(&dir, small_segments(), 20);
    let last = ps.last().unwrap().segment;
    assert!(last >= 2);
    // The newest segment cut inside its header: opening rewrites it.
    dir.truncate(&segment_name(last), 3).unwrap();
    let (wal, got) = open_replay(&dir, small_segments());
    let in_last = ps.iter().filter(|p| p.segment == last).count();
    assert_eq!(got.len(), 20 - in_last);
    assert_eq!(
        wal.repaired_tail().map(|r| r.at),
        Some(Position {
            segment: last,
            offset: SEGMENT_HEADER_LEN
        })
    );
    drop(wal);
    // An older segment cut inside its header: the reader stops there.
    dir.truncate(&segment_name(1), 5).unwrap();
    let (_, mut replay) = Wal::open(Arc::clone(&dir), small_segments()).unwrap();
    let err = read_all(&mut replay).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::TruncatedSegmentHeader {
                segment: 1,
                len: 5,
                expected: 8
            }
        ),
        "{err}"
    );
}
both!(truncated_segment_header_t, super::truncated_segment_header);

fn torn_record_in_older_segment(dir: Arc<dyn Directory>) {
    let ps = fill(&dir, small_segments(), 20);
    let end0 = ps.iter().rfind(|p| p.segment == 0).unwrap().offset;
    dir.truncate(&segment_name(0), end0 - 2).unwrap();
    let (_, mut replay) = Wal::open(Arc::clone(&dir), small_segments()).unwrap();
    let err = read_all(&mut replay).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::Corrupt {
                segment: 0,
                reason: Corruption::TornInOldSegment,
                ..
            }
        ),
        "{err}"
    );
}
both!(
    torn_record_in_older_segment_t,
    super::torn_record_in_older_segment
);

fn segment_gap(dir: Arc<dyn Directory>) {
    fill(&dir, small_segments(), 30);
    dir.remove(&segment_name(1)).unwrap();
    let err = Wal::open(Arc::clone(&dir), small_segments()).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::SegmentGap {
                missing: 1,
                first: 0,
                ..
            }
        ),
        "{err}"
    );
}
both!(segment_gap_t, super::segment_gap);

fn garbage_segments_never_panic(dir: Arc<dyn Directory>) {
    // Deterministic pseudo-random garbage after a valid header.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..50 {
        let mut bytes = b"LWAL\x01\0\0\0".to_vec();
        for _ in 0..(round * 7) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        dir.create(&segment_name(0))
            .unwrap()
            .append(&bytes)
            .unwrap();
        let mut r = WalReader::new(Arc::clone(&dir), Position::start_of(0));
        let _ = read_all(&mut r);
        let _ = Wal::open(Arc::clone(&dir), WalOptions::default());
    }
}
both!(
    garbage_segments_never_panic_t,
    super::garbage_segments_never_panic
);

#[test]
fn highest_segment_index_is_an_error_not_a_panic() {
    let dir: Arc<dyn Directory> = MemDirectory::new();
    let mut f = dir.create(&segment_name(u32::MAX)).unwrap();
    f.append(b"LWAL\x01\0\0\0").unwrap();
    let opts = WalOptions {
        segment_size: 8,
        ..WalOptions::default()
    };
    assert!(matches!(
        Wal::open(Arc::clone(&dir), opts),
        Err(WalError::SegmentLimit { segment: u32::MAX })
    ));
    let (mut wal, _) = Wal::open(
        Arc::clone(&dir),
        WalOptions {
            segment_size: 30,
            ..opts
        },
    )
    .unwrap();
    wal.log(&[b"fits"]).unwrap();
    assert!(matches!(
        wal.log(&[b"needs a new segment"]),
        Err(WalError::SegmentLimit { .. })
    ));
}
