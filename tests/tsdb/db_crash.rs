//! Process crash test for `levee::tsdb::Db` on a real disk: a child process
//! appends numbered batches (one sample for each of 40 series per batch,
//! with head cuts into blocks along the way) and prints each batch it got
//! a successful commit for; the test kill -9s it at varying moments, twenty
//! times on the same directory, and after every kill reopens the database
//! and checks that every acknowledged sample is there with its exact value
//! and timestamp, and that nothing was invented: what is present is whole
//! batches, numbered contiguously from 0, each sample exactly as appended.
//!
//! The child is this test binary again, running `child_appends_until_killed`
//! with `LEVEE_DB_CRASH_DIR` set.

use std::process::Stdio;

use crate::support::TestChild;

use levee::labels::Labels;
use levee::tsdb::db::{Db, Options};
use levee::tsdb::wal::{SyncPolicy, WalOptions};

const DIR_ENV: &str = "LEVEE_DB_CRASH_DIR";
const SERIES: u32 = 40;
const STEP_MS: i64 = 1_000;

fn opts() -> Options {
    Options {
        // A block every 200 batches, small WAL segments and chunk files:
        // kills land in head cuts, checkpoints and file rolls too.
        block_range_ms: 200 * STEP_MS,
        retention_ms: None,
        wal: WalOptions {
            segment_size: 32 << 10,
            sync: SyncPolicy::Never,
        },
        chunk_file_size: 16 << 10,
        ..Options::default()
    }
}

fn labels(i: u32) -> Labels {
    Labels::from_pairs([("__name__", "crash"), ("i", &i.to_string())])
}

/// The value of series `i` in batch `b`: distinct bits everywhere.
fn value(i: u32, b: i64) -> f64 {
    (b as f64) * 1000.0 + f64::from(i) + 0.125
}

/// Reads every series back and checks batches 0..n are each whole and
/// exact; returns n.
fn batches_present(db: &Db) -> i64 {
    let found = db.querier(i64::MIN, i64::MAX).select(&[]).expect("select");
    assert!(found.len() <= SERIES as usize);
    let mut counts = Vec::new();
    for s in &found {
        let i: u32 = s
            .labels()
            .get("i")
            .expect("label i")
            .parse()
            .expect("number");
        let samples: Vec<(i64, f64)> = s.samples().collect::<Result<_, _>>().expect("decode");
        for (b, (t, v)) in samples.iter().enumerate() {
            let b = b as i64;
            assert_eq!(*t, b * STEP_MS, "series {i}: batch {b} has timestamp {t}");
            assert_eq!(v.to_bits(), value(i, b).to_bits(), "series {i} batch {b}");
        }
        counts.push(samples.len() as i64);
    }
    let n = counts.first().copied().unwrap_or(0);
    if n > 0 {
        assert_eq!(found.len(), SERIES as usize, "a batch is whole or absent");
    }
    assert!(
        counts.iter().all(|&c| c == n),
        "batches are whole: {counts:?}"
    );
    n
}

#[test]
fn child_appends_until_killed() {
    let Some(path) = std::env::var_os(DIR_ENV) else {
        return; // Only does something as the child of the test below.
    };
    let db = Db::open(path, opts()).expect("child: open");
    let mut next = batches_present(&db);
    loop {
        let mut app = db.appender();
        for i in 0..SERIES {
            app.append(&labels(i), next * STEP_MS, value(i, next))
                .expect("child: append");
        }
        let stats = app.commit().expect("child: commit");
        assert_eq!(stats.appended, u64::from(SERIES));
        next += 1;
        println!("acked {next}");
        if next % 50 == 0 {
            db.compact().expect("child: compact");
        }
    }
}

#[test]
fn kill_9_loses_no_acknowledged_sample() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut acked = 0i64;
    for round in 0..20u64 {
        let test = "db_crash::child_appends_until_killed";
        let env = [(DIR_ENV, tmp.path().as_os_str())];
        let mut child = TestChild::spawn(test, &env, Stdio::piped());
        // Kill after a varying number of acknowledgements (no clocks).
        let kill_after = 1 + (round * 37 % 23) * 13;
        let (seen, last) = child.read_acks(kill_after);
        acked = last.unwrap_or(acked);
        assert!(seen > 0, "child acknowledged nothing in round {round}");
        child.0.kill().expect("kill -9 child");
        child.0.wait().expect("reap child");
        let db = Db::open(tmp.path(), opts()).expect("reopen after kill");
        let present = batches_present(&db);
        // The child keeps going between the last line read and the kill,
        // so more may be present than read here; what is present must be
        // whole, contiguous and exact (checked by `batches_present`).
        assert!(
            present >= acked,
            "round {round}: {present} batches present, {acked} acknowledged"
        );
        acked = present;
    }
    let db = Db::open(tmp.path(), opts()).expect("final open");
    assert!(
        !db.blocks().is_empty(),
        "head cuts happened during the rounds"
    );
}
