//! Fuzzes reading, opening and repairing a damaged WAL
//! (`levee::tsdb::wal`, `docs/format/wal.md`). The input after a control
//! byte is the concatenation of segment files: a new segment starts at
//! every `LWAL` after the first byte, so a seed is simply the segments of
//! a real WAL back to back. The control byte picks the first segment's
//! index (bits 1-2), a tiny segment size (bit 3), and whether the frame
//! checksums are first set right (bit 0): a mutation almost always breaks
//! a CRC32C, and with them fixed the mutations reach the frame lengths,
//! kinds and snappy payloads behind them.
//!
//! Checks, beyond "no panic, no hang":
//! - a reader from the start stops at `Ok(None)` or a typed error, and
//!   asking again after either gives the same answer;
//! - `Wal::open` agrees with that reader: where the reader met corruption
//!   in the newest segment, open reports it at the same position; where
//!   the reader read everything, open's replay returns the same records;
//! - a corrupt position, once repaired, opens, and replay then returns
//!   exactly the records before the damage, with no error;
//! - after that, a record logged, closed and reopened is replayed after
//!   them (nothing the repair kept is lost, nothing new is unreadable).
//!
//! Every record read also goes through the WAL record decoder.

#![no_main]

use std::sync::Arc;

use levee::tsdb::fs::{Directory, MemDirectory};
use levee::tsdb::record;
use levee::tsdb::wal::{
    Position, Wal, WalError, WalOptions, WalReader, repair, segment_name,
};
use libfuzzer_sys::fuzz_target;

#[path = "split.rs"]
mod split;
use split::split_at_magic;

/// Segment header (magic, version, reserved) and frame header lengths of
/// `docs/format/wal.md`, which the checksum fixer walks.
const SEGMENT_HEADER_LEN: usize = 8;
const FRAME_HEADER_LEN: usize = 13;
const MAGIC: &[u8] = b"LWAL";
/// More segments than this only slow the fuzzer down.
const MAX_SEGMENTS: usize = 8;

/// Rewrites the payload and header checksums of every frame of `seg`
/// whose header is whole, walking frames as the reader does.
fn fix_checksums(seg: &mut [u8]) {
    let mut off = SEGMENT_HEADER_LEN;
    while off + FRAME_HEADER_LEN <= seg.len() {
        let len = u32::from_le_bytes([seg[off + 4], seg[off + 5], seg[off + 6], seg[off + 7]]);
        let payload = off + FRAME_HEADER_LEN;
        let end = payload
            .checked_add(len as usize)
            .filter(|&e| e <= seg.len());
        if let Some(end) = end {
            let crc = crc32c::crc32c(&seg[payload..end]);
            seg[off + 9..off + 13].copy_from_slice(&crc.to_le_bytes());
        }
        let crc = crc32c::crc32c(&seg[off + 4..off + 13]);
        seg[off..off + 4].copy_from_slice(&crc.to_le_bytes());
        match end {
            Some(end) => off = end,
            None => return,
        }
    }
}

/// Reads records until `Ok(None)` or an error, decoding each as a WAL
/// record on the way.
fn read_all(r: &mut WalReader) -> (Vec<Vec<u8>>, Result<(), WalError>) {
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some(rec)) => {
                let _ = record::decode(rec);
                out.push(rec.to_vec());
            }
            Ok(None) => return (out, Ok(())),
            Err(e) => return (out, Err(e)),
        }
    }
}

#[expect(
    clippy::type_complexity,
    reason = "the WAL, its records and how replay ended, used once"
)]
fn open_and_replay(
    dir: &Arc<dyn Directory>,
    opts: WalOptions,
) -> Result<(Wal, Vec<Vec<u8>>, Result<(), WalError>), WalError> {
    let (wal, mut replay) = Wal::open(Arc::clone(dir), opts)?;
    let (records, end) = read_all(&mut replay);
    Ok((wal, records, end))
}

fn check(dir: Arc<dyn Directory>, opts: WalOptions, last: u32) {
    // A plain reader, before anything is repaired.
    let mut reader = match WalReader::from_start(Arc::clone(&dir)) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let (read, read_end) = read_all(&mut reader);
    let again = reader.next_record().map(|r| r.map(<[u8]>::to_vec));
    match (&read_end, &again) {
        (Ok(()), Ok(None)) => {}
        (Err(e), Err(e2)) => assert_eq!(e.to_string(), e2.to_string(), "error not repeated"),
        _ => panic!("reader changed its answer: {read_end:?} then {again:?}"),
    }

    // Open, repairing every corrupt position met, until replay is clean.
    let mut repairs = Vec::new();
    let (wal, records) = loop {
        assert!(repairs.len() <= 64, "repair does not converge: {repairs:?}");
        match open_and_replay(&dir, opts) {
            Ok((wal, records, Ok(()))) => break (wal, records),
            Ok((mut wal, _, Err(e))) => {
                let Some(at) = e.position() else { return };
                wal.repair(at).expect("a corrupt position repairs");
                repairs.push(at);
            }
            Err(e) => {
                let Some(at) = e.position() else { return };
                if repairs.is_empty()
                    && let Err(re) = &read_end
                    && re.position().is_some_and(|p| p.segment == last)
                {
                    assert_eq!(
                        re.position(),
                        Some(at),
                        "reader and open disagree: {re} / {e}"
                    );
                }
                repair(&*dir, at).expect("a corrupt position repairs");
                repairs.push(at);
            }
        }
    };
    if read_end.is_ok() || read_end.as_ref().is_err_and(|e| e.position().is_some()) {
        assert_eq!(
            records, read,
            "after repairs at {repairs:?}, replay differs from a plain reader"
        );
    }
    log_and_reopen(&dir, opts, wal, records);
}

/// Logs one record into the opened `wal`, closes it, and checks that a
/// reopen replays `before` and then that record.
fn log_and_reopen(dir: &Arc<dyn Directory>, opts: WalOptions, mut wal: Wal, before: Vec<Vec<u8>>) {
    let new = b"logged after open".as_slice();
    let end: Position = wal.log(&[new]).expect("logging into an opened WAL");
    wal.close().expect("close");
    let (_wal, records, replay_end) = open_and_replay(dir, opts).expect("reopen after logging");
    assert!(
        replay_end.is_ok(),
        "replay after logging fails: {replay_end:?}"
    );
    let mut want = before;
    want.push(new.to_vec());
    assert_eq!(
        records, want,
        "the logged record (ending at {end}) is not replayed last"
    );
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let segments = split_at_magic(rest, MAGIC);
    if segments.len() > MAX_SEGMENTS {
        return;
    }
    let first = u32::from((control >> 1) & 3);
    let opts = WalOptions {
        segment_size: if control & 8 != 0 { 64 } else { 1 << 20 },
        ..WalOptions::default()
    };
    let dir: Arc<dyn Directory> = MemDirectory::new();
    for (i, seg) in segments.iter().enumerate() {
        let mut bytes = seg.to_vec();
        if control & 1 == 1 {
            fix_checksums(&mut bytes);
        }
        let mut f = dir.create(&segment_name(first + i as u32)).expect("create");
        f.append(&bytes).expect("append");
    }
    check(dir, opts, first + segments.len() as u32 - 1);
});
