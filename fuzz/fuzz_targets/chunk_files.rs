//! Fuzzes reading, repairing and reopening damaged chunk files
//! (`levee::tsdb::chunks`, `docs/format/chunk-files.md`: the head's and
//! the blocks' on-disk chunks). After a control byte comes the
//! concatenation of chunk files: a new file starts at every `LVCF` after
//! the first byte. The control byte picks the first file's sequence
//! number (bits 1-2) and whether every entry's CRC-32C is first set right
//! (bit 0), so mutations reach the varints, lengths and chunks behind it.
//!
//! Checks, beyond "no panic, no hang":
//! - `scan` yields entries, then at most one typed error, then nothing;
//! - every scanned entry reads back through a `ChunkReader` with the same
//!   series, time range and encoding, and its samples iterate to values
//!   or a typed error;
//! - one `repair` at the error's position leaves files that scan to
//!   exactly the entries before it, with no error;
//! - a `ChunkWriter` then opens them with nothing torn, appends a chunk,
//!   and a new scan finds the old entries and the new one.

#![no_main]

use std::sync::Arc;

use levee::tsdb::chunkenc::{Encoding, XorChunk};
use levee::tsdb::chunks::{
    ChunkReader, ChunkWriter, ChunkWriterOptions, HEADER_LEN, ScannedChunk, file_name, repair, scan,
};
use levee::tsdb::fs::{Directory, MemDirectory};
use libfuzzer_sys::fuzz_target;

#[path = "split.rs"]
mod split;
use split::split_at_magic;

const MAGIC: &[u8] = b"LVCF";
const MAX_FILES: usize = 8;

/// Reads an unsigned LEB128 varint at `pos`: value and the next position.
fn uvarint(b: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(pos)?;
        pos += 1;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some((v, pos));
        }
    }
    None
}

/// Sets the CRC of every entry whose fields and data are whole, walking
/// entries as the scan does.
fn fix_checksums(file: &mut [u8]) {
    let mut off = HEADER_LEN;
    while off < file.len() {
        let Some(end) = (|| {
            let (_, p) = uvarint(file, off)?; // series
            let (_, p) = uvarint(file, p)?; // min_time
            let (_, p) = uvarint(file, p)?; // max_time - min_time
            let (len, p) = uvarint(file, p + 1)?; // after the encoding byte
            let data_end = p.checked_add(usize::try_from(len).ok()?)?;
            (data_end + 4 <= file.len()).then_some(data_end)
        })() else {
            return;
        };
        let crc = crc32c::crc32c(&file[off..end]);
        file[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        off = end + 4;
    }
}

type Scanned = (
    Vec<ScannedChunk>,
    Option<levee::tsdb::chunks::ChunkFileError>,
);

fn scan_all(dir: &Arc<dyn Directory>) -> Option<Scanned> {
    let mut it = scan(dir).ok()?;
    let mut entries = Vec::new();
    while let Some(e) = it.next() {
        match e {
            Ok(c) => entries.push(c),
            Err(e) => {
                assert!(it.next().is_none(), "scan goes on after an error");
                return Some((entries, Some(e)));
            }
        }
    }
    Some((entries, None))
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let files = split_at_magic(rest, MAGIC);
    if files.len() > MAX_FILES {
        return;
    }
    let first = 1 + u32::from((control >> 1) & 3);
    let dir: Arc<dyn Directory> = MemDirectory::new();
    for (i, f) in files.iter().enumerate() {
        let mut bytes = f.to_vec();
        if control & 1 == 1 {
            fix_checksums(&mut bytes);
        }
        let mut w = dir.create(&file_name(first + i as u32)).expect("create");
        w.append(&bytes).expect("append");
    }

    let Some((entries, err)) = scan_all(&dir) else {
        return;
    };
    let reader = ChunkReader::new(Arc::clone(&dir));
    for e in &entries {
        let d = reader
            .chunk(e.chunk_ref)
            .expect("a scanned entry reads back");
        let got = (d.series, d.min_time, d.max_time, d.encoding);
        assert_eq!(
            got,
            (e.series, e.min_time, e.max_time, e.encoding),
            "{}",
            e.chunk_ref
        );
        if let Ok(it) = d.iter() {
            for s in it {
                if s.is_err() {
                    break;
                }
            }
        }
    }
    drop(reader);

    if let Some(e) = err {
        let _ = e.to_string();
        let Some(at) = e.position() else { return };
        repair(&dir, at).expect("repair at a reported position");
        let (again, err) = scan_all(&dir).expect("scan after repair");
        assert!(err.is_none(), "scan after repair at {at} fails: {err:?}");
        assert_eq!(
            again, entries,
            "repair at {at} changed the entries before it"
        );
    }

    let opts = ChunkWriterOptions {
        file_size: 1 << 20,
        buffer_size: 0,
    };
    let (mut writer, torn) = ChunkWriter::open(Arc::clone(&dir), opts).expect("clean files open");
    assert!(torn.is_none(), "a clean scan but a torn tail: {torn:?}");
    let mut chunk = XorChunk::new();
    chunk.append(1_000, 1.5).expect("append");
    chunk.append(2_000, 2.5).expect("append");
    let r = writer
        .append(7, 1_000, 2_000, Encoding::Xor.into(), chunk.bytes())
        .expect("append to reopened files");
    writer.flush().expect("flush");
    let d = writer.reader().chunk(r).expect("the new chunk reads");
    assert_eq!((d.series, d.min_time, d.max_time), (7, 1_000, 2_000));
    writer.close().expect("close");
    let (after, err) = scan_all(&dir).expect("scan after append");
    assert!(err.is_none(), "scan after append fails: {err:?}");
    assert_eq!(after.len(), entries.len() + 1);
    assert_eq!(&after[..entries.len()], &entries[..]);
    assert_eq!(after[entries.len()].chunk_ref, r);
});
