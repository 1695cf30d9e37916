//! WAL tests, each run over the on-disk and the in-memory directory.

/// Runs `case` over a fresh disk directory and a fresh memory directory.
macro_rules! both {
    ($name:ident, $case:path) => {
        mod $name {
            #[test]
            fn on_disk() {
                let tmp = tempfile::tempdir().unwrap();
                let dir = crate::tsdb::fs::DiskDirectory::open(tmp.path().join("wal")).unwrap();
                $case(dir);
            }

            #[test]
            fn in_memory() {
                $case(crate::tsdb::fs::MemDirectory::new());
            }
        }
    };
}

mod basic;
mod corruption;
mod crash;
mod props;

use std::sync::Arc;

use crate::tsdb::fs::{Directory, DiskDirectory, MemDirectory};

use super::{Position, Wal, WalError, WalOptions, WalReader, segment_name};

/// The `i`-th test record: distinct, of varying length, compressible.
fn rec(i: usize) -> Vec<u8> {
    format!("record {i} {}", "x".repeat(i % 50)).into_bytes()
}

/// All records a reader returns until `Ok(None)`.
fn read_all(r: &mut WalReader) -> Result<Vec<Vec<u8>>, WalError> {
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push(rec.to_vec());
    }
    Ok(out)
}

/// Opens `dir` and replays everything.
fn open_replay(dir: &Arc<dyn Directory>, opts: WalOptions) -> (Wal, Vec<Vec<u8>>) {
    let (wal, mut replay) = Wal::open(Arc::clone(dir), opts).unwrap();
    let recs = read_all(&mut replay).unwrap();
    (wal, recs)
}

/// Overwrites one byte of a file.
fn poke(dir: &dyn Directory, name: &str, offset: u64, f: impl FnOnce(u8) -> u8) {
    let mut bytes = dir.map(name).unwrap().to_vec();
    bytes[offset as usize] = f(bytes[offset as usize]);
    dir.create(name).unwrap().append(&bytes).unwrap();
}

fn small_segments() -> WalOptions {
    WalOptions {
        segment_size: 200,
        ..WalOptions::default()
    }
}

#[test]
fn disk_and_memory_agree_on_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let disk: Arc<dyn Directory> = DiskDirectory::open(tmp.path()).unwrap();
    let mem: Arc<dyn Directory> = MemDirectory::new();
    for dir in [&disk, &mem] {
        let (mut wal, _) = Wal::open(Arc::clone(dir), small_segments()).unwrap();
        for i in 0..20 {
            wal.log(&[&rec(i)]).unwrap();
        }
        wal.close().unwrap();
    }
    assert_eq!(disk.list().unwrap(), mem.list().unwrap());
    for name in disk.list().unwrap() {
        assert_eq!(
            &*disk.map(&name).unwrap(),
            &*mem.map(&name).unwrap(),
            "{name}"
        );
    }
    let _ = (Position::default(), segment_name(0));
}
