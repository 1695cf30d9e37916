//! kill -9 of a process sending from the WAL: the test writes the WAL (as
//! the database would) and runs a counting receiver; a child process (this
//! test binary again, running `child_sends_until_killed`) tails the WAL
//! and sends. The child is SIGKILLed five times at varying moments while
//! the WAL grows and batches are in flight, then runs to the end.
//!
//! Checked exactly: every sample in the WAL arrives (no gap); every sample
//! that arrived twice belongs to a record after the position file's
//! position at one of the kills and no newer than the newest record that
//! had arrived by then (duplicates only from what was in flight or
//! acknowledged but not yet recorded); the number of duplicates is printed.

use crate::support;

use levee::labels::Labels;
use levee::remote::wal::{
    StartAt, WalCap, WalPins, WalQueue, WalSourceOptions, WalWatch, position_file_name,
    read_position,
};
use levee::remote::{EndpointSettings, RemoteWriter};
use levee::selfmon::Registry;
use levee::tsdb::fs::{Directory, DiskDirectory};
use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;
use support::wal_db::{FakeDb, SERIES, T0};
use support::{FaultyProxy, TestChild};

const DIR_ENV: &str = "LEVEE_WALQ_CRASH_DIR";
const URL_ENV: &str = "LEVEE_WALQ_CRASH_URL";
const NAME: &str = "crash";

fn settings(url: &str) -> EndpointSettings {
    let mut s = EndpointSettings::new(NAME, url);
    s.timeout = Duration::from_secs(10);
    s.max_samples_per_send = 100;
    s.batch_send_deadline = Duration::from_millis(20);
    s.min_backoff = Duration::from_millis(10);
    s.max_backoff = Duration::from_millis(100);
    s.min_shards = 4;
    s.max_shards = 4;
    s.capacity = 2000;
    s
}

#[test]
fn child_sends_until_killed() {
    let (Some(dir), Ok(url)) = (std::env::var_os(DIR_ENV), std::env::var(URL_ENV)) else {
        return; // Only does something as the child of the test below.
    };
    let dir = std::path::PathBuf::from(dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child: runtime");
    rt.block_on(async move {
        let q = WalQueue {
            wal_dir: DiskDirectory::open(dir.join("wal")).expect("child: wal dir"),
            positions_dir: DiskDirectory::open(dir.join("remote_write")).expect("child: positions"),
            // The writer is another process: the tailer polls.
            watch: WalWatch::new(),
            pins: WalPins::new(WalCap::default()),
            options: WalSourceOptions {
                position_interval: Duration::from_millis(50),
                poll_interval: Duration::from_millis(20),
                segment_size: 8192,
                start_at: StartAt::Oldest,
            },
        };
        let _w =
            RemoteWriter::start_wal(vec![settings(&url)], Labels::empty(), &Registry::new(), q)
                .expect("child: start");
        println!("started");
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

fn spawn_child(dir: &std::path::Path, url: &str) -> TestChild {
    let test = "write_wal_crash::child_sends_until_killed";
    let env = [(DIR_ENV, dir.as_os_str()), (URL_ENV, url.as_ref())];
    TestChild::spawn(test, &env, Stdio::null())
}

fn delivered(proxy: &FaultyProxy) -> HashMap<(String, i64), usize> {
    let mut out = HashMap::new();
    for req in proxy.delivered() {
        for ts in req.timeseries {
            let inst = ts
                .labels
                .iter()
                .find(|l| l.name == "instance")
                .map(|l| l.value.clone())
                .unwrap_or_default();
            for p in ts.samples {
                *out.entry((inst.clone(), p.timestamp)).or_insert(0) += 1;
            }
        }
    }
    out
}

fn delivered_count(proxy: &FaultyProxy) -> usize {
    proxy
        .delivered()
        .iter()
        .flat_map(|r| &r.timeseries)
        .map(|t| t.samples.len())
        .sum()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let (limit, every) = (Duration::from_secs(120), Duration::from_millis(5));
    support::wait_until(what, limit, every, async || done()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_five_times_loses_nothing_and_duplicates_only_unrecorded_acks() {
    let tmp = support::temp_dir("levee-walq-crash");
    let wal_dir: std::sync::Arc<dyn Directory> =
        DiskDirectory::open(tmp.path().join("wal")).expect("wal dir");
    let positions = DiskDirectory::open(tmp.path().join("remote_write")).expect("positions");
    let mut db = FakeDb::open(wal_dir, 8192);
    let proxy = FaultyProxy::start(None).await;
    // A receiver slow enough that batches are in flight at each kill.
    proxy.set_delay(Duration::from_millis(20));
    db.write_series();
    db.scrapes(40);
    let mut kills = Vec::new();
    for round in 0..5u64 {
        let before = delivered_count(&proxy);
        let mut child = spawn_child(tmp.path(), &proxy.url_write());
        // The WAL grows while the child sends.
        db.scrapes(60);
        let kill_after = before + 1000 + ((round * 37) % 23) as usize * 100;
        wait_until("the child to send", || {
            delivered_count(&proxy) >= kill_after
        })
        .await;
        child.0.kill().expect("kill -9 child");
        child.0.wait().expect("reap child");
        let pos = read_position(&*positions, &position_file_name(NAME))
            .expect("read position")
            .expect("a position file");
        // The newest record any delivered sample came from.
        let frontier = delivered(&proxy)
            .keys()
            .map(|(_, t)| ((t - T0) / 1000) as usize)
            .max()
            .unwrap_or(0);
        kills.push((pos, frontier));
    }
    db.scrapes(40);
    let total = db.total();
    let child = spawn_child(tmp.path(), &proxy.url_write());
    wait_until("every sample", || delivered(&proxy).len() == total).await;
    drop(child);

    let got = delivered(&proxy);
    for i in 0..db.next {
        for s in 0..SERIES {
            let key = (format!("host-{s}"), T0 + i * 1000);
            assert!(got.contains_key(&key), "gap: {key:?} never arrived");
        }
    }
    let mut dups = 0;
    for ((inst, t), n) in &got {
        if *n > 1 {
            dups += n - 1;
            let i = ((t - T0) / 1000) as usize;
            let end = db.ends[i];
            assert!(
                kills.iter().any(|(p, frontier)| end > *p && i <= *frontier),
                "{inst}@{i} arrived {n} times but its record (ending at {end}) was outside every window between the stored position and what had arrived at a kill: {kills:?}"
            );
        }
    }
    assert!(
        kills.windows(2).all(|w| w[0] <= w[1]),
        "positions never go back: {kills:?}"
    );
    eprintln!("5 kills: {total} samples, {dups} duplicates; positions at the kills: {kills:?}");
}
