//! Process crash test for the WAL on a real disk: a child process logs
//! numbered batches and prints each one it got acknowledged; the test
//! kill -9s it at varying moments, twenty times on the same directory, and
//! after every kill reopens the WAL and checks that every acknowledged
//! record is there, bit-exact and in order, and that nothing was invented
//! (every record replayed is one the child submitted, numbered contiguously).
//!
//! The child is this test binary again, running `child_logs_until_killed`
//! with `LEVEE_WAL_CRASH_DIR` set.

use std::process::Stdio;
use std::sync::Arc;

use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::wal::{SyncPolicy, Wal, WalOptions};

use crate::support::TestChild;

const DIR_ENV: &str = "LEVEE_WAL_CRASH_DIR";

fn opts() -> WalOptions {
    // Small segments so kills land around segment rolls too.
    WalOptions {
        segment_size: 64 << 10,
        sync: SyncPolicy::Never,
    }
}

/// Record `i`: its number, then a body whose length and bytes derive from it.
fn record(i: u64) -> Vec<u8> {
    let mut r = i.to_be_bytes().to_vec();
    let len = (i * 7919 % 3000) as usize;
    r.extend((0..len).map(|j| (i as usize * 31 + j) as u8));
    r
}

/// Replays `dir` and checks that the records are 0, 1, 2, … each exactly as
/// submitted; returns how many there are.
fn replay_checked(dir: Arc<dyn Directory>) -> (Wal, u64) {
    let (wal, mut replay) = Wal::open(dir, opts()).expect("reopen after kill");
    let mut n = 0u64;
    while let Some(rec) = replay.next_record().expect("replay after kill") {
        assert_eq!(
            rec,
            &record(n)[..],
            "record {n} differs from what was submitted"
        );
        n += 1;
    }
    (wal, n)
}

#[test]
fn child_logs_until_killed() {
    let Some(path) = std::env::var_os(DIR_ENV) else {
        return; // Only does something as the child of the test below.
    };
    let dir = DiskDirectory::open(path).expect("child: open dir");
    let (mut wal, mut next) = replay_checked(dir);
    loop {
        let batch: Vec<Vec<u8>> = (next..next + 5).map(record).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        wal.log(&refs).expect("child: log");
        next += 5;
        println!("acked {next}");
    }
}

#[test]
fn kill_9_loses_no_acknowledged_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut acked_total = 0u64;
    for round in 0..20u64 {
        let test = "wal_crash::child_logs_until_killed";
        let env = [(DIR_ENV, tmp.path().as_os_str())];
        let mut child = TestChild::spawn(test, &env, Stdio::piped());
        // Kill after a varying number of acknowledgements (no clocks).
        let kill_after = 1 + (round * 37 % 23) * 11;
        let (seen, last) = child.read_acks(kill_after);
        acked_total = last.unwrap_or(acked_total);
        assert!(seen > 0, "child acknowledged nothing in round {round}");
        child.0.kill().expect("kill -9 child");
        child.0.wait().expect("reap child");
        let dir = DiskDirectory::open(tmp.path()).expect("open dir");
        let (_, replayed) = replay_checked(dir);
        assert!(
            replayed >= acked_total,
            "round {round}: {replayed} records replayed, {acked_total} acknowledged"
        );
    }
}
