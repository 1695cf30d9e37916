//! The generic chunk file suite, run over both directory implementations.

use std::sync::Arc;

use super::{XOR, on_both, rewrite, xor_chunk};
use crate::tsdb::chunks::{
    ChunkFileError, ChunkReader, ChunkRef, ChunkWriter, ChunkWriterOptions, Corruption, HEADER_LEN,
    file_name, repair, scan,
};
use crate::tsdb::fs::Directory;

fn opts(file_size: u64, buffer_size: usize) -> ChunkWriterOptions {
    ChunkWriterOptions {
        file_size,
        buffer_size,
    }
}

/// Writes `n` chunks for series `0..n` (chunk `i` starts at `i * 2_000_000`);
/// returns the refs and what each holds.
fn write_n(w: &mut ChunkWriter, n: usize) -> Vec<(ChunkRef, u32, i64, i64, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let (min, max, data) = xor_chunk(i as i64 * 2_000_000, 1 + i % 120, i as u64);
            let r = w.append(i as u32, min, max, XOR, &data).unwrap();
            (r, i as u32, min, max, data)
        })
        .collect()
}

fn assert_all_readable(reader: &ChunkReader, written: &[(ChunkRef, u32, i64, i64, Vec<u8>)]) {
    for (r, series, min, max, data) in written {
        let c = reader.chunk(*r).unwrap();
        assert_eq!(
            (c.series, c.min_time, c.max_time, c.encoding),
            (*series, *min, *max, XOR)
        );
        assert_eq!(c.data(), &data[..]);
        assert_eq!(c.iter().unwrap().count(), c.iter().unwrap().len() as usize);
    }
}

#[test]
fn write_reopen_and_read_back() {
    on_both(|dir| {
        let (mut w, torn) = ChunkWriter::open(Arc::clone(&dir), opts(1 << 20, 4096)).unwrap();
        assert!(torn.is_none());
        assert!(
            dir.list().unwrap().is_empty(),
            "no file before the first append"
        );
        let mut written = write_n(&mut w, 200);
        assert_eq!(written[0].0, ChunkRef::new(1, HEADER_LEN as u32));
        w.close().unwrap();

        let (mut w, torn) = ChunkWriter::open(Arc::clone(&dir), opts(1 << 20, 4096)).unwrap();
        assert!(torn.is_none());
        let info = w.files();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].chunks, 200);
        assert_eq!(info[0].bytes, dir.len(&file_name(1)).unwrap());
        assert_eq!(info[0].min_time, 0);
        assert_eq!(info[0].max_time, written.iter().map(|c| c.3).max().unwrap());
        // New entries continue the same file.
        let more = write_n(&mut w, 3);
        assert_eq!(more[0].0, ChunkRef::new(1, info[0].bytes as u32));
        w.flush().unwrap();
        written.extend(more);
        assert_all_readable(w.reader(), &written);
        assert_all_readable(&ChunkReader::open_all(Arc::clone(&dir)).unwrap(), &written);

        let scanned: Vec<_> = scan(&dir).unwrap().map(Result::unwrap).collect();
        assert_eq!(scanned.len(), written.len());
        for (s, (r, series, min, max, data)) in scanned.iter().zip(&written) {
            assert_eq!(
                (s.chunk_ref, s.series, s.min_time, s.max_time),
                (*r, *series, *min, *max)
            );
            assert_eq!(s.num_samples, u16::from_be_bytes([data[0], data[1]]));
        }
    });
}

#[test]
fn files_are_cut_at_the_size_limit() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(600, 0)).unwrap();
        let written = write_n(&mut w, 60);
        let files = w.files();
        assert!(files.len() > 5, "{files:?}");
        for f in &files {
            assert!(f.bytes <= 600 || f.chunks == 1, "{f:?}");
            assert_eq!(f.bytes, dir.len(&file_name(f.seq)).unwrap());
        }
        assert_eq!(files.iter().map(|f| f.chunks).sum::<u64>(), 60);
        // An entry larger than a file gets a file of its own.
        let big = vec![0u8; 700];
        let r = w.append(1, 0, 0, XOR, &big).unwrap();
        assert_eq!(r.offset() as usize, HEADER_LEN);
        assert_eq!(w.reader().chunk(r).unwrap().data(), &big[..]);
        // An explicit cut starts a new file at the next append.
        w.cut().unwrap();
        let r2 = w.append(1, 0, 0, XOR, &[0, 0]).unwrap();
        assert_eq!(r2.seq(), r.seq() + 1);
        w.flush().unwrap();
        assert_all_readable(w.reader(), &written);
        assert_eq!(scan(&dir).unwrap().count(), 62);
    });
}

#[test]
fn buffered_chunks_become_readable_on_flush() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(1 << 20, 1 << 16)).unwrap();
        let first = write_n(&mut w, 1);
        w.flush().unwrap();
        let reader = Arc::clone(w.reader());
        assert_all_readable(&reader, &first);
        // The reader has the file mapped; the next chunk is past its map
        // until flushed, then a re-map finds it.
        let (min, max, data) = xor_chunk(5_000_000, 10, 9);
        let r = w.append(9, min, max, XOR, &data).unwrap();
        assert!(matches!(
            reader.chunk(r),
            Err(ChunkFileError::BadRef { .. })
        ));
        w.flush().unwrap();
        assert_eq!(reader.chunk(r).unwrap().data(), &data[..]);
    });
}

#[test]
fn bad_appends_are_refused() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(dir, ChunkWriterOptions::default()).unwrap();
        assert!(matches!(
            w.append(1, 10, 9, XOR, &[0, 0]),
            Err(ChunkFileError::BadTimeRange { .. })
        ));
        assert!(matches!(
            w.append(1, i64::MIN, i64::MAX, XOR, &[0, 0]),
            Err(ChunkFileError::BadTimeRange { .. })
        ));
        assert!(matches!(
            w.append(1, 0, 0, XOR, &vec![0; (1 << 20) + 1]),
            Err(ChunkFileError::ChunkTooLarge { .. })
        ));
        // Nothing was written by the refused appends.
        let r = w.append(1, -5, 5, XOR, &[0, 0]).unwrap();
        assert_eq!(r, ChunkRef::new(1, 8));
    });
    let dir = crate::tsdb::fs::MemDirectory::new();
    assert!(matches!(
        ChunkWriter::open(dir, opts(10, 0)),
        Err(ChunkFileError::BadOption(_))
    ));
}

#[test]
fn torn_tail_is_reported_and_truncated() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(1 << 20, 0)).unwrap();
        let written = write_n(&mut w, 10);
        w.close().unwrap();
        let last = written[9].0;
        let len = dir.len(&file_name(1)).unwrap();
        for cut in [len - 1, len - 4, len - 5, u64::from(last.offset()) + 1] {
            let copy = copy_of(&dir);
            copy.truncate(&file_name(1), cut).unwrap();
            // The scan sees a torn tail at the last entry.
            let results: Vec<_> = scan(&copy).unwrap().collect();
            assert_eq!(results.len(), 10);
            match &results[9] {
                Err(e @ ChunkFileError::TornTail { seq: 1, offset, .. }) => {
                    assert_eq!(*offset, last.offset());
                    assert_eq!(e.position(), Some(last));
                }
                other => panic!("cut {cut}: {other:?}"),
            }
            // Opening the writer truncates it and continues there.
            let (mut w, torn) = ChunkWriter::open(Arc::clone(&copy), opts(1 << 20, 0)).unwrap();
            assert!(
                matches!(torn, Some(ChunkFileError::TornTail { offset, .. }) if offset == last.offset())
            );
            assert_eq!(copy.len(&file_name(1)).unwrap(), u64::from(last.offset()));
            let again = write_n(&mut w, 1);
            assert_eq!(again[0].0, last);
            assert!(scan(&copy).unwrap().all(|r| r.is_ok()));
        }
    });
}

#[test]
fn bad_checksum_mid_file_stops_the_scan_and_repair_keeps_the_rest() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(2000, 0)).unwrap();
        let written = write_n(&mut w, 40);
        w.close().unwrap();
        let victim = written[5].0;
        assert!(
            written.last().unwrap().0.seq() > victim.seq(),
            "needs later files"
        );
        let flip_at = victim.offset() as usize + 12;
        rewrite(&*dir, &file_name(victim.seq()), |b| b[flip_at] ^= 0x10);

        let reader = ChunkReader::new(Arc::clone(&dir));
        assert!(matches!(
            reader.chunk(victim),
            Err(ChunkFileError::Corrupt {
                reason: Corruption::Checksum { .. },
                ..
            })
        ));
        assert_all_readable(&reader, &written[..5]);
        let results: Vec<_> = scan(&dir).unwrap().collect();
        assert_eq!(results.len(), 6);
        let err = results[5].as_ref().unwrap_err();
        assert!(matches!(err, ChunkFileError::Corrupt { .. }), "{err}");
        assert_eq!(err.position(), Some(victim));
        assert!(
            err.to_string()
                .contains(&format!("{:06} offset {}", victim.seq(), victim.offset())),
            "{err}"
        );

        let report = repair(&dir, victim).unwrap();
        assert_eq!(
            report.truncated,
            Some((victim.seq(), u64::from(victim.offset())))
        );
        assert!(!report.removed.is_empty());
        let left: Vec<_> = scan(&dir).unwrap().map(Result::unwrap).collect();
        assert_eq!(left.len(), 5);
        let (mut w, torn) = ChunkWriter::open(Arc::clone(&dir), opts(2000, 0)).unwrap();
        assert!(torn.is_none());
        assert_eq!(write_n(&mut w, 1)[0].0, victim);
    });
}

#[test]
fn unknown_version_and_bad_magic_are_typed_errors() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(1 << 20, 0)).unwrap();
        let written = write_n(&mut w, 3);
        w.close().unwrap();
        rewrite(&*dir, &file_name(1), |b| b[4] = 2);
        let unknown = |e: &ChunkFileError| {
            matches!(
                e,
                ChunkFileError::UnknownVersion {
                    seq: 1,
                    got: 2,
                    supported: 1
                }
            )
        };
        assert!(unknown(
            &ChunkWriter::open(Arc::clone(&dir), ChunkWriterOptions::default()).unwrap_err()
        ));
        assert!(unknown(&scan(&dir).unwrap().next().unwrap().unwrap_err()));
        assert!(unknown(
            &ChunkReader::new(Arc::clone(&dir))
                .chunk(written[0].0)
                .unwrap_err()
        ));
        assert!(unknown(
            &ChunkReader::open_all(Arc::clone(&dir)).unwrap_err()
        ));
        rewrite(&*dir, &file_name(1), |b| b[0] = b'X');
        assert!(matches!(
            scan(&dir).unwrap().next(),
            Some(Err(ChunkFileError::BadMagic { .. }))
        ));
        rewrite(&*dir, &file_name(1), |b| b.truncate(3));
        assert!(matches!(
            ChunkReader::open_all(Arc::clone(&dir)),
            Err(ChunkFileError::BadHeader { .. })
        ));
        // Only the newest file may be shorter than its header: the writer
        // rewrites it.
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(1 << 20, 0)).unwrap();
        assert_eq!(write_n(&mut w, 1)[0].0, ChunkRef::new(1, 8));
    });
}

#[test]
fn garbage_refs_are_errors_never_panics() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(1 << 20, 0)).unwrap();
        let written = write_n(&mut w, 20);
        let reader = w.reader();
        let len = dir.len(&file_name(1)).unwrap() as u32;
        let no_file = |r: u64| {
            matches!(
                reader.chunk(ChunkRef(r)),
                Err(ChunkFileError::NoSuchFile { .. })
            )
        };
        assert!(no_file(0));
        assert!(no_file(7));
        assert!(no_file(ChunkRef::new(2, 8).0));
        assert!(no_file(u64::MAX));
        for offset in [0, 1, 7, len, len + 1, u32::MAX] {
            assert!(
                matches!(
                    reader.chunk(ChunkRef::new(1, offset)),
                    Err(ChunkFileError::BadRef { .. })
                ),
                "offset {offset}"
            );
        }
        // Every offset inside the file either is an entry start or fails
        // with a typed error.
        let starts: Vec<u32> = written.iter().map(|c| c.0.offset()).collect();
        for offset in 8..len {
            match reader.chunk(ChunkRef::new(1, offset)) {
                Ok(_) => assert!(starts.contains(&offset), "offset {offset} read as an entry"),
                Err(ChunkFileError::Corrupt { .. } | ChunkFileError::BadRef { .. }) => {
                    assert!(!starts.contains(&offset))
                }
                Err(e) => panic!("offset {offset}: {e}"),
            }
        }
    });
}

#[test]
fn deleting_files_by_time_and_sequence() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(600, 0)).unwrap();
        let written = write_n(&mut w, 60);
        let files = w.files();
        let held = w.reader().chunk(written[0].0).unwrap();
        // Files whose every chunk ends before the third file's start go.
        let cutoff = files[2].min_time;
        let deleted = w.delete_files_older_than(cutoff).unwrap();
        let expect: Vec<u32> = files
            .iter()
            .filter(|f| f.max_time < cutoff)
            .map(|f| f.seq)
            .collect();
        assert_eq!(deleted, expect);
        assert!(!deleted.is_empty());
        for seq in &deleted {
            assert!(!dir.exists(&file_name(*seq)).unwrap());
        }
        assert!(matches!(
            w.reader().chunk(written[0].0),
            Err(ChunkFileError::NoSuchFile { .. })
        ));
        // A chunk read before the deletion stays readable.
        assert_eq!(held.data(), &written[0].4[..]);
        // The active file is never deleted.
        let active = w.active_seq().unwrap();
        let deleted = w.delete_files_before(u32::MAX).unwrap();
        assert!(!deleted.contains(&active));
        assert_eq!(w.files().len(), 1);
        let survivors: Vec<_> = written
            .iter()
            .filter(|c| c.0.seq() == active)
            .cloned()
            .collect();
        assert_all_readable(w.reader(), &survivors);
        // Scanning and reopening work over the gap in sequence numbers.
        assert_eq!(scan(&dir).unwrap().count(), survivors.len());
        w.close().unwrap();
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(600, 0)).unwrap();
        w.cut().unwrap();
        assert_eq!(write_n(&mut w, 1)[0].0.seq(), active + 1);
    });
}

/// A copy of every file of `dir` in a fresh in-memory directory.
fn copy_of(dir: &Arc<dyn Directory>) -> Arc<dyn Directory> {
    let copy = crate::tsdb::fs::MemDirectory::new();
    for name in dir.list().unwrap() {
        copy.create(&name)
            .unwrap()
            .append(&dir.map(&name).unwrap())
            .unwrap();
    }
    copy
}

#[test]
fn a_reader_thread_reads_what_the_writer_thread_just_flushed() {
    on_both(|dir| {
        let (mut w, _) = ChunkWriter::open(Arc::clone(&dir), opts(4096, 1 << 16)).unwrap();
        let reader = Arc::clone(w.reader());
        let (tx, rx) = std::sync::mpsc::channel::<(ChunkRef, Vec<u8>)>();
        let checker = std::thread::spawn(move || {
            let mut n = 0;
            for (r, data) in rx {
                assert_eq!(reader.chunk(r).unwrap().data(), &data[..], "{r}");
                n += 1;
            }
            n
        });
        for i in 0..300usize {
            let (min, max, data) = super::xor_chunk(i as i64 * 2_000_000, 1 + i % 120, i as u64);
            let r = w.append(i as u32, min, max, XOR, &data).unwrap();
            w.flush().unwrap();
            tx.send((r, data)).unwrap();
        }
        drop(tx);
        assert_eq!(checker.join().unwrap(), 300);
        assert!(w.files().len() > 3, "files were cut meanwhile");
    });
}
