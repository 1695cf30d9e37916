//! Catch-up throughput of remote write in WAL mode: how fast an endpoint
//! that was down sends a WAL backlog into a real VictoriaMetrics 1.79 on
//! loopback (samples/s), and the bytes on the wire per sample.
//!
//! Workload: a WAL (128 MiB segments) holding 10 000 node_exporter-like
//! series (`__name__`, `cpu`, `instance`, `job`, `mode`) scraped 100 times
//! 15 s apart: one samples record of 10 000 samples per scrape, 1M samples
//! in all. Each iteration starts a fresh endpoint (`StartAt::Oldest`, a new
//! position file) and times from `start_wal` until the receiver has
//! acknowledged every sample. Shards: `min_shards` = 1 (Prometheus'
//! default; resharding every 10 s) and 4; `batch_send_deadline` 50 ms, so
//! the last partial batches do not wait the default 5 s.
//!
//! The same against a null receiver (a hyper server that reads each body
//! and answers 204) measures levee's own side: reading, decoding,
//! batching, encoding and HTTP.
//!
//! Needs `/usr/bin/victoria-metrics`. Run:
//! `CARGO_TARGET_DIR=/work/target-bench cargo bench --bench remote_wal_catchup -- --quick`

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee::labels::Labels;
use levee::remote::wal::{StartAt, WalCap, WalPins, WalQueue, WalSourceOptions, WalWatch};
use levee::remote::{EndpointSettings, RemoteWriter};
use levee::selfmon::Registry;
use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::record::{self, RefSample, RefSeries};
use levee::tsdb::wal::{SyncPolicy, Wal, WalOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERIES: u32 = 10_000;
const SCRAPES: i64 = 100;
const TOTAL: u64 = SERIES as u64 * SCRAPES as u64;

fn write_wal(dir: Arc<dyn Directory>) {
    let opts = WalOptions {
        segment_size: 128 << 20,
        sync: SyncPolicy::Never,
    };
    let (mut wal, _) = Wal::open(dir, opts).expect("open WAL");
    let modes = ["idle", "user", "system", "iowait", "irq"];
    let series: Vec<RefSeries> = (0..SERIES)
        .map(|i| RefSeries {
            series: i,
            labels: Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", (i / 5 % 64).to_string()),
                (
                    "instance",
                    format!("10.0.{}.{}:9100", i / 320 % 256, i / 5 / 64),
                ),
                ("job", "node".to_string()),
                ("mode", modes[i as usize % 5].to_string()),
            ]),
        })
        .collect();
    let mut buf = Vec::new();
    record::encode_series(&series, &mut buf);
    wal.log(&[&buf]).expect("log series");
    let t0 = 1_764_000_000_000i64;
    for k in 0..SCRAPES {
        let samples: Vec<RefSample> = (0..SERIES)
            .map(|i| RefSample {
                series: i,
                t: t0 + k * 15_000 + i64::from(i % 7),
                v: f64::from(i) * 100.0 + k as f64 * 0.37,
            })
            .collect();
        buf.clear();
        record::encode_samples(&samples, &mut buf);
        wal.log(&[&buf]).expect("log samples");
    }
    wal.close().expect("close WAL");
}

fn sent(reg: &Registry, name: &str) -> f64 {
    let text = reg.render();
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A receiver that reads each request and answers 204; returns its
/// remote-write URL.
async fn null_receiver() -> String {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        let mut r =
                            hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
                        *r.status_mut() = hyper::StatusCode::NO_CONTENT;
                        Ok::<_, std::convert::Infallible>(r)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/api/v1/write")
}

fn catch_up(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let vm = rt.block_on(support::VictoriaMetrics::start());
    let null = rt.block_on(null_receiver());
    let tmp = support::temp_dir("levee-bench-walq");
    let wal_dir = DiskDirectory::open(tmp.path().join("wal")).expect("wal dir");
    write_wal(wal_dir.clone());
    let mut g = c.benchmark_group("remote_wal_catchup");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TOTAL));
    let receivers = [("victoriametrics", vm.url_write()), ("null", null)];
    for ((receiver, url), min_shards) in receivers.iter().flat_map(|r| [(r, 1usize), (r, 4)]) {
        let mut bytes_per_sample = 0.0;
        g.bench_function(
            format!("1M_samples_{receiver}_min_shards_{min_shards}"),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let positions = support::temp_dir("levee-bench-pos");
                        let q = WalQueue {
                            wal_dir: wal_dir.clone(),
                            positions_dir: DiskDirectory::open(positions.path())
                                .expect("positions"),
                            watch: WalWatch::new(),
                            pins: WalPins::new(WalCap::default()),
                            options: WalSourceOptions {
                                start_at: StartAt::Oldest,
                                ..WalSourceOptions::default()
                            },
                        };
                        let mut s = EndpointSettings::new("bench", url.clone());
                        s.min_shards = min_shards;
                        // The last partial batches would otherwise wait the
                        // default 5 s deadline and dominate the timing.
                        s.batch_send_deadline = Duration::from_millis(50);
                        let reg = Registry::new();
                        let start = Instant::now();
                        rt.block_on(async {
                            let w = RemoteWriter::start_wal(vec![s], Labels::empty(), &reg, q)
                                .expect("start");
                            while sent(&reg, "levee_remote_write_samples_total") < TOTAL as f64 {
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                            total += start.elapsed();
                            w.shutdown(Duration::from_secs(10)).await;
                        });
                        bytes_per_sample =
                            sent(&reg, "levee_remote_write_bytes_sent_total") / TOTAL as f64;
                    }
                    total
                })
            },
        );
        eprintln!(
            "remote_wal_catchup: {receiver}, min_shards {min_shards}: {bytes_per_sample:.2} bytes/sample on the wire"
        );
    }
    g.finish();
}

criterion_group!(benches, catch_up);
criterion_main!(benches);
