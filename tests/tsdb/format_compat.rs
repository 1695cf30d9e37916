//! Format compatibility: committed files written by levee's first WAL,
//! record and chunk formats (version 1) are read back, so a later levee
//! keeps reading what this one wrote.
//!
//! The fixtures under `tests/data/tsdb/` were written once by
//! `write_fixtures` below:
//!
//! ```text
//! LEVEE_WRITE_FIXTURES=1 cargo test --test tsdb format_compat::write_fixtures -- --ignored
//! ```
//!
//! Never regenerate them to make a test pass: a format change gets a new
//! version and new fixtures beside these.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use levee::labels::Labels;
use levee::tsdb::checkpoint;
use levee::tsdb::chunkenc::{self, XorChunk};
use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::record::{self, Record, RefSample, RefSeries};
use levee::tsdb::value::STALE_NAN_BITS;
use levee::tsdb::wal::{Position, SyncPolicy, Wal, WalOptions, WalReader};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tsdb")
}

/// The records in the WAL fixture.
fn wal_records() -> Vec<Record> {
    let series = vec![
        RefSeries {
            series: 1,
            labels: Labels::from_pairs([
                ("__name__", "up"),
                ("instance", "localhost:9100"),
                ("job", "node"),
            ]),
        },
        RefSeries {
            series: 2,
            labels: Labels::from_pairs([("__name__", "node_load1"), ("job", "node")]),
        },
    ];
    let samples = vec![
        RefSample {
            series: 1,
            t: 1_700_000_000_000,
            v: 1.0,
        },
        RefSample {
            series: 2,
            t: 1_700_000_000_000,
            v: 0.42,
        },
        RefSample {
            series: 1,
            t: 1_700_000_015_000,
            v: 1.0,
        },
        RefSample {
            series: 2,
            t: 1_700_000_015_003,
            v: 0.57,
        },
    ];
    let stale = vec![
        RefSample {
            series: 1,
            t: 1_700_000_030_000,
            v: f64::from_bits(STALE_NAN_BITS),
        },
        RefSample {
            series: 2,
            t: 1_700_000_030_000,
            v: f64::from_bits(STALE_NAN_BITS),
        },
    ];
    vec![
        Record::Series(series),
        Record::Samples(samples),
        Record::Samples(stale),
    ]
}

fn encode(rec: &Record) -> Vec<u8> {
    let mut buf = Vec::new();
    record::encode(rec, &mut buf);
    buf
}

/// The samples in the chunk fixture: a counter, with a stale marker at the end.
fn chunk_samples() -> Vec<(i64, u64)> {
    let mut out: Vec<(i64, u64)> = (0..20)
        .map(|i| {
            (
                1_700_000_000_000 + i * 15_000 + (i % 3),
                (100.0 + (i * i) as f64).to_bits(),
            )
        })
        .collect();
    out.push((1_700_000_300_000, STALE_NAN_BITS));
    out
}

/// Chunk fixture file: one encoding byte, then the chunk's bytes.
fn chunk_file() -> Vec<u8> {
    let mut c = XorChunk::new();
    for (t, v) in chunk_samples() {
        c.append(t, f64::from_bits(v)).unwrap();
    }
    let mut out = vec![u8::from(chunkenc::Encoding::Xor)];
    out.extend_from_slice(c.bytes());
    out
}

fn write_wal(dir: Arc<dyn Directory>) {
    let opts = WalOptions {
        sync: SyncPolicy::Always,
        ..WalOptions::default()
    };
    let (mut wal, _) = Wal::open(dir, opts).unwrap();
    let recs: Vec<Vec<u8>> = wal_records().iter().map(encode).collect();
    wal.log(&[&recs[0], &recs[1]]).unwrap();
    wal.log(&[&recs[2]]).unwrap();
    wal.close().unwrap();
}

/// A WAL whose first segment was checkpointed (keeping series 1 only) and
/// deleted; the second segment holds the stale markers.
fn write_wal_with_checkpoint(dir: Arc<dyn Directory>) {
    let opts = WalOptions {
        segment_size: 180,
        sync: SyncPolicy::Always,
    };
    let (mut wal, _) = Wal::open(Arc::clone(&dir), opts).unwrap();
    let recs: Vec<Vec<u8>> = wal_records().iter().map(encode).collect();
    wal.log(&[&recs[0], &recs[1]]).unwrap();
    wal.log(&[&recs[2]]).unwrap();
    assert_eq!(wal.segments(), (0, 1));
    checkpoint::create(&dir, 0, |s| s.series == 1, 0).unwrap();
    wal.truncate_before(1).unwrap();
    wal.close().unwrap();
}

/// What replaying the checkpointed fixture yields.
fn checkpointed_records() -> Vec<Record> {
    let all = wal_records();
    let keep_1 = |r: &Record| match r {
        Record::Series(s) => Record::Series(s.iter().filter(|s| s.series == 1).cloned().collect()),
        Record::Samples(s) => {
            Record::Samples(s.iter().filter(|s| s.series == 1).copied().collect())
        }
    };
    vec![keep_1(&all[0]), keep_1(&all[1]), all[2].clone()]
}

/// Copies a directory tree (files and one level of subdirectories).
fn copy_dir(from: &dyn Directory, to: &dyn Directory) {
    for name in from.list().unwrap() {
        to.create(&name)
            .unwrap()
            .append(&from.map(&name).unwrap())
            .unwrap();
    }
    for sub in from.list_dirs().unwrap() {
        copy_dir(&*from.subdir(&sub).unwrap(), &*to.subdir(&sub).unwrap());
    }
}

#[test]
#[ignore = "writes the committed fixtures; run once, by hand"]
fn write_fixtures() {
    if std::env::var_os("LEVEE_WRITE_FIXTURES").is_none() {
        return;
    }
    let wal_dir = data().join("wal-v1");
    if wal_dir.exists() {
        std::fs::remove_dir_all(&wal_dir).unwrap();
    }
    write_wal(DiskDirectory::open(wal_dir).unwrap());
    let cp_dir = data().join("wal-checkpoint-v1");
    if cp_dir.exists() {
        std::fs::remove_dir_all(&cp_dir).unwrap();
    }
    write_wal_with_checkpoint(DiskDirectory::open(cp_dir).unwrap());
    std::fs::write(data().join("chunk-v1.xor"), chunk_file()).unwrap();
}

#[test]
fn wal_with_checkpoint_v1_fixture_replays() {
    let fixture = DiskDirectory::open(data().join("wal-checkpoint-v1")).unwrap();
    assert_eq!(fixture.list_dirs().unwrap(), vec!["checkpoint.00000000"]);
    assert_eq!(fixture.list().unwrap(), vec!["00000001"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir: Arc<dyn Directory> = DiskDirectory::open(tmp.path()).unwrap();
    copy_dir(&*fixture, &*dir);
    let (_wal, wal_replay) = Wal::open(Arc::clone(&dir), WalOptions::default()).unwrap();
    let mut replay = checkpoint::Replay::new(&dir, wal_replay).unwrap();
    let mut got = Vec::new();
    while let Some(rec) = replay.next_record().unwrap() {
        got.push(record::decode(rec).unwrap());
    }
    assert_eq!(got, checkpointed_records());
}

#[test]
fn wal_v1_fixture_replays() {
    let dir = DiskDirectory::open(data().join("wal-v1")).unwrap();
    let mut reader = WalReader::new(dir.clone(), Position::start_of(0));
    let mut got = Vec::new();
    while let Some(rec) = reader.next_record().unwrap() {
        got.push(record::decode(rec).unwrap());
    }
    assert_eq!(got, wal_records());
    let Record::Samples(stale) = &got[2] else {
        panic!("third record is not samples")
    };
    assert!(stale.iter().all(|s| s.v.to_bits() == STALE_NAN_BITS));

    // Opening a copy for writing accepts it as is (nothing torn).
    let tmp = tempfile::tempdir().unwrap();
    let copy = DiskDirectory::open(tmp.path()).unwrap();
    for name in dir.list().unwrap() {
        copy.create(&name)
            .unwrap()
            .append(&dir.map(&name).unwrap())
            .unwrap();
    }
    let (wal, mut replay) = Wal::open(copy, WalOptions::default()).unwrap();
    assert!(wal.repaired_tail().is_none());
    let mut n = 0;
    while replay.next_record().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn chunk_v1_fixture_decodes() {
    let bytes = std::fs::read(data().join("chunk-v1.xor")).unwrap();
    let (&encoding, chunk) = bytes.split_first().unwrap();
    let got: Vec<(i64, u64)> = chunkenc::iter_chunk(encoding, chunk)
        .unwrap()
        .map(|s| s.map(|(t, v)| (t, v.to_bits())))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, chunk_samples());
}

/// Until the format version changes, today's writers produce the committed
/// bytes exactly.
#[test]
fn current_writers_still_write_v1_bytes() {
    assert_eq!(
        std::fs::read(data().join("chunk-v1.xor")).unwrap(),
        chunk_file()
    );
    let tmp = tempfile::tempdir().unwrap();
    write_wal(DiskDirectory::open(tmp.path()).unwrap());
    let fixture = DiskDirectory::open(data().join("wal-v1")).unwrap();
    let fresh = DiskDirectory::open(tmp.path()).unwrap();
    assert_eq!(fixture.list().unwrap(), fresh.list().unwrap());
    for name in fixture.list().unwrap() {
        assert_eq!(
            &*fixture.map(&name).unwrap(),
            &*fresh.map(&name).unwrap(),
            "{name}"
        );
    }
}

/// `head.json` v1 (docs/format/head.md): a database directory holding only
/// it opens with that lower bound; an unknown version is refused by name.
#[test]
fn head_json_v1_fixture_is_read_back() {
    use levee::tsdb::db::{Db, Options};
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        "tests/data/tsdb/head-v1/head.json",
        tmp.path().join("head.json"),
    )
    .expect("copy fixture");
    let db = Db::open(tmp.path(), Options::default()).expect("open");
    assert_eq!(db.head_min_valid_time(), 1_700_000_000_000);
    drop(db);
    std::fs::write(
        tmp.path().join("head.json"),
        r#"{"version":2,"min_valid_time":1}"#,
    )
    .expect("write");
    let err = Db::open(tmp.path(), Options::default())
        .expect_err("version 2")
        .to_string();
    assert!(
        err.contains("head.json: version 2 is not supported"),
        "{err}"
    );
}
