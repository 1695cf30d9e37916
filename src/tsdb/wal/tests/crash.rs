//! Crash tests: the in-memory directory "dies" partway through a write; the
//! restarted WAL replays exactly the records whose write completed.

use std::sync::Arc;

use super::*;

/// One record per `log` call: for every byte at which the process can die,
/// replay returns exactly the acknowledged records.
#[test]
fn crash_at_every_byte_replays_exactly_the_acknowledged_records() {
    // Measure the total size once.
    let probe = MemDirectory::new();
    let (mut wal, _) = Wal::open(probe.clone(), small_segments()).unwrap();
    for i in 0..12 {
        wal.log(&[&rec(i)]).unwrap();
    }
    let total: u64 = probe
        .list()
        .unwrap()
        .iter()
        .map(|n| probe.len(n).unwrap())
        .sum();

    for budget in 0..total {
        let mem = MemDirectory::new();
        let dir: Arc<dyn Directory> = mem.clone();
        drop(Wal::open(Arc::clone(&dir), small_segments()).unwrap());
        mem.crash_after(budget);
        let mut acked = Vec::new();
        if let Ok((mut wal, _)) = Wal::open(Arc::clone(&dir), small_segments()) {
            for i in 0..12 {
                match wal.log(&[&rec(i)]) {
                    Ok(_) => acked.push(rec(i)),
                    Err(_) => break,
                }
            }
        }
        let restarted: Arc<dyn Directory> = mem.snapshot();
        let (mut wal, got) = open_replay(&restarted, small_segments());
        assert_eq!(got, acked, "crash after {budget} bytes");
        // The repaired WAL takes new records and replays them after the old.
        wal.log(&[b"after crash"]).unwrap();
        let (_, again) = open_replay(&restarted, small_segments());
        assert_eq!(again.len(), acked.len() + 1, "crash after {budget} bytes");
    }
}

/// Batches: a failed batch is not acknowledged, but whole records of it
/// that reached the file may be replayed; replay is always a prefix of what
/// was submitted and contains everything acknowledged.
#[test]
fn crash_during_batches_replays_a_prefix_containing_every_acknowledged_batch() {
    let batches: Vec<Vec<Vec<u8>>> = (0..8)
        .map(|b| (0..5).map(|i| rec(b * 5 + i)).collect())
        .collect();
    let submitted: Vec<Vec<u8>> = batches.iter().flatten().cloned().collect();
    for budget in (0..1200).step_by(7) {
        let mem = MemDirectory::new();
        let dir: Arc<dyn Directory> = mem.clone();
        let (mut wal, _) = Wal::open(Arc::clone(&dir), small_segments()).unwrap();
        mem.crash_after(budget);
        let mut acked = 0;
        for batch in &batches {
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            if wal.log(&refs).is_err() {
                break;
            }
            acked += batch.len();
        }
        let restarted: Arc<dyn Directory> = mem.snapshot();
        let (_, got) = open_replay(&restarted, small_segments());
        assert!(
            got.len() >= acked,
            "budget {budget}: {} < {acked}",
            got.len()
        );
        assert_eq!(got[..], submitted[..got.len()], "budget {budget}");
    }
}
