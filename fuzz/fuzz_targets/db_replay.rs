//! Fuzzes what opening a database does with the WAL records it finds
//! (`levee::tsdb::db::Db::open_in`: head replay of series and samples
//! records, `docs/format/record.md`), and what a head cut then makes of
//! them. The WAL frames are written properly by the harness so that every
//! mutation reaches the record decoder and replay: after a control byte,
//! the input is a list of records, each a little-endian `u16` length and
//! that many bytes. Control bit 0 picks a 1-second block range (else the
//! default 2 hours); bit 1 runs a compaction (head cut) after opening.
//!
//! Checks, beyond "no panic, no hang, no unbounded allocation":
//! - a database opens or refuses with a typed error;
//! - what it answers to a query over all time (every series, every sample,
//!   values by their bits) is answered again after close and reopen;
//! - after a compaction, the same query answers the same (data moved from
//!   the head into blocks is neither lost nor doubled), and again after
//!   another reopen.

#![no_main]

use std::sync::Arc;

use levee::tsdb::db::{Db, Options};
use levee::tsdb::fs::{Directory, MemDirectory};
use levee::tsdb::wal::{Wal, WalOptions};
use libfuzzer_sys::fuzz_target;

const MAX_RECORDS: usize = 64;

/// Every series and its samples (timestamp, value bits), in label order.
type Answer = Vec<(String, Vec<(i64, u64)>)>;

fn query_all(db: &Db) -> Answer {
    let series = db
        .querier(i64::MIN, i64::MAX)
        .select(&[])
        .expect("query over all time");
    series
        .iter()
        .map(|s| {
            let samples = s
                .samples()
                .map(|r| r.map(|(t, v)| (t, v.to_bits())))
                .collect::<Result<Vec<_>, _>>()
                .expect("samples of an opened database decode");
            (s.labels().to_string(), samples)
        })
        .collect()
}

fn split_records(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 && out.len() < MAX_RECORDS {
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let rec = &rest[..len.min(rest.len())];
        out.push(rec);
        data = &rest[rec.len()..];
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let records = split_records(rest);
    let dir: Arc<dyn Directory> = MemDirectory::new();
    {
        let wal_dir = dir.subdir("wal").expect("wal dir");
        let (mut wal, _) = Wal::open(wal_dir, WalOptions::default()).expect("new WAL");
        wal.log(&records).expect("log");
        wal.close().expect("close");
    }
    let opts = Options {
        block_range_ms: if control & 1 == 1 {
            1_000
        } else {
            Options::default().block_range_ms
        },
        retention_ms: None,
        retention_bytes: None,
        chunk_file_size: 4096,
        ..Options::default()
    };
    let db = match Db::open_in(Arc::clone(&dir), opts.clone()) {
        Ok(db) => db,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let answer = query_all(&db);
    db.close().expect("close");
    let db = Db::open_in(Arc::clone(&dir), opts.clone()).expect("a database that opened reopens");
    assert_eq!(query_all(&db), answer, "reopening changed the data");
    if control & 2 == 0 {
        return;
    }
    db.compact().expect("compaction");
    assert_eq!(query_all(&db), answer, "compaction changed the data");
    db.close().expect("close");
    let db = Db::open_in(Arc::clone(&dir), opts).expect("a compacted database reopens");
    assert_eq!(
        query_all(&db),
        answer,
        "reopening after compaction changed the data"
    );
});
