//! Bytes on the wire per sample: levee's WAL mode against Prometheus 2.42's
//! agent on the same data. Prometheus (agent mode) scrapes a real
//! node_exporter once a second and remote-writes to a counting proxy; the
//! samples it sent are written, scrape by scrape and in its order, into a
//! levee WAL, and levee sends them to a second proxy with the same queue
//! settings (one shard, 500 samples per request, 5 s deadline, no
//! metadata). Both totals count compressed request bodies of the requests
//! that carried samples. Printed, and levee must not send more bytes per
//! sample than Prometheus.

use crate::support;

use levee::labels::Labels;
use levee::remote::wal::{StartAt, WalCap, WalPins, WalQueue, WalSourceOptions, WalWatch};
use levee::remote::{EndpointSettings, RemoteWriter};
use levee::selfmon::Registry;
use levee::tsdb::fs::{Directory, DiskDirectory};
use levee::tsdb::record::{self, RefSample, RefSeries};
use levee::tsdb::wal::{SyncPolicy, Wal, WalOptions};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use support::{FaultyProxy, NodeExporter, Seen};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const WANT_SAMPLES: usize = 10_000;

/// Compressed bytes and samples of the requests that carried samples.
fn wire(seen: &[Seen]) -> (u64, usize) {
    let mut bytes = 0;
    let mut samples = 0;
    for s in seen.iter().filter(|s| (200..300).contains(&s.status)) {
        let Some(body) = &s.body else { continue };
        let n: usize = body.timeseries.iter().map(|t| t.samples.len()).sum();
        if n == 0 {
            continue;
        }
        samples += n;
        bytes += s
            .headers
            .get("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("request without content-length"));
    }
    (bytes, samples)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let (limit, every) = (Duration::from_secs(120), Duration::from_millis(50));
    support::wait_until(what, limit, every, async || done()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levee_sends_no_more_bytes_per_sample_than_prometheus_agent() {
    support::require_binary(PROMETHEUS, "prometheus");
    let node = NodeExporter::start().await;
    let prom_proxy = FaultyProxy::start(None).await;
    let dir = support::temp_dir("levee-wire-prom");
    let config = dir.path().join("prometheus.yml");
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{}']\nremote_write:\n  - url: {}\n    queue_config: {{min_shards: 1, max_shards: 1, max_samples_per_send: 500, batch_send_deadline: 5s}}\n    metadata_config: {{send: false}}\n",
        node.address(),
        prom_proxy.url_write()
    );
    std::fs::write(&config, yaml).expect("write prometheus.yml");
    let args = |port| {
        vec![
            "--enable-feature=agent".to_string(),
            format!("--config.file={}", config.display()),
            format!(
                "--storage.agent.path={}",
                dir.path().join("agent").display()
            ),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    };
    let listening = support::Listening {
        name: "prometheus-agent",
        program: PROMETHEUS,
        log_dir: dir.path(),
        client: &reqwest::Client::new(),
        timeout: Duration::from_secs(60),
    };
    let ready = |port| format!("http://127.0.0.1:{port}/-/ready");
    let (mut prom, _) = listening.spawn(args, ready).await;
    wait_until("Prometheus' agent to send enough samples", || {
        wire(&prom_proxy.seen()).1 >= WANT_SAMPLES
    })
    .await;
    prom.kill();
    let seen = prom_proxy.seen();
    let (prom_bytes, prom_samples) = wire(&seen);

    // The same samples into a levee WAL: one record per scrape (timestamp),
    // in the order Prometheus sent them.
    let mut by_time: BTreeMap<i64, Vec<(Labels, f64)>> = BTreeMap::new();
    for s in seen.iter().filter(|s| (200..300).contains(&s.status)) {
        let Some(body) = &s.body else { continue };
        for ts in &body.timeseries {
            let labels = Labels::from_pairs(
                ts.labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str())),
            );
            for p in &ts.samples {
                by_time
                    .entry(p.timestamp)
                    .or_default()
                    .push((labels.clone(), p.value));
            }
        }
    }
    let wal_dir: std::sync::Arc<dyn Directory> =
        DiskDirectory::open(dir.path().join("levee-wal")).expect("wal dir");
    let opts = WalOptions {
        segment_size: 128 << 20,
        sync: SyncPolicy::Never,
    };
    let (mut wal, _) = Wal::open(wal_dir.clone(), opts).expect("open WAL");
    let mut refs: HashMap<Labels, u32> = HashMap::new();
    let mut buf = Vec::new();
    for (t, samples) in &by_time {
        let mut new_series = Vec::new();
        let mut recs = Vec::with_capacity(samples.len());
        for (labels, v) in samples {
            let next = refs.len() as u32;
            let r = *refs.entry(labels.clone()).or_insert_with(|| {
                new_series.push(RefSeries {
                    series: next,
                    labels: labels.clone(),
                });
                next
            });
            recs.push(RefSample {
                series: r,
                t: *t,
                v: *v,
            });
        }
        if !new_series.is_empty() {
            buf.clear();
            record::encode_series(&new_series, &mut buf);
            wal.log(&[&buf]).expect("log series");
        }
        buf.clear();
        record::encode_samples(&recs, &mut buf);
        wal.log(&[&buf]).expect("log samples");
    }

    let levee_proxy = FaultyProxy::start(None).await;
    let mut s = EndpointSettings::new("levee", levee_proxy.url_write());
    s.min_shards = 1;
    s.max_shards = 1;
    s.max_samples_per_send = 500;
    s.batch_send_deadline = Duration::from_secs(5);
    s.send_metadata = false;
    let q = WalQueue {
        wal_dir,
        positions_dir: DiskDirectory::open(dir.path().join("positions")).expect("positions"),
        watch: WalWatch::new(),
        pins: WalPins::new(WalCap::default()),
        options: WalSourceOptions {
            start_at: StartAt::Oldest,
            ..WalSourceOptions::default()
        },
    };
    let reg = Registry::new();
    let w = RemoteWriter::start_wal(vec![s], Labels::empty(), &reg, q).expect("start");
    wait_until("levee to send the same samples", || {
        wire(&levee_proxy.seen()).1 >= prom_samples
    })
    .await;
    w.shutdown(Duration::from_secs(10)).await;
    let (levee_bytes, levee_samples) = wire(&levee_proxy.seen());
    assert_eq!(levee_samples, prom_samples, "the same samples");
    let prom_per = prom_bytes as f64 / prom_samples as f64;
    let levee_per = levee_bytes as f64 / levee_samples as f64;
    eprintln!(
        "{prom_samples} samples of {} series: Prometheus 2.42 agent {prom_per:.3} B/sample ({} requests), levee {levee_per:.3} B/sample ({} requests)",
        refs.len(),
        seen.iter()
            .filter(|s| s.body.as_ref().is_some_and(|b| !b.timeseries.is_empty()))
            .count(),
        levee_proxy.requests()
    );
    assert!(
        levee_per <= prom_per,
        "levee {levee_per:.2} B/sample > Prometheus {prom_per:.2}"
    );
}
