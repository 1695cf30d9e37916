//! An Istio storm target served from the test process: every request is
//! the next scrape of an [`IstioWorkload`] that grows by `hosts_per_scrape`
//! destination hosts (and keeps the old ones, as the leaking sidecar does),
//! with a `storm_scrape_index` gauge saying which scrape it was, so a test
//! can match what a receiver stored to the workload's ground truth.

use hyper::Request;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use levee::synth::IstioWorkload;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;

use super::targets::text_response;

/// A running storm target; stops when dropped.
pub struct StormTarget {
    addr: std::net::SocketAddr,
    served: Arc<AtomicU64>,
    hosts_per_scrape: u64,
    leaving_per_scrape: u64,
    task: tokio::task::JoinHandle<()>,
}

impl StormTarget {
    /// Serves the storm on a free loopback port.
    pub async fn start(hosts_per_scrape: u64) -> StormTarget {
        Self::start_leaving(hosts_per_scrape, 0).await
    }

    /// A storm whose oldest `leaving_per_scrape` hosts also leave the body
    /// every scrape (a sidecar that forgets old hosts).
    pub async fn start_leaving(hosts_per_scrape: u64, leaving_per_scrape: u64) -> StormTarget {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let served = Arc::new(AtomicU64::new(0));
        let counter = served.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                        let k = counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let mut body =
                                StormTarget::workload_of(hosts_per_scrape, leaving_per_scrape, k)
                                    .body(k);
                            body.extend_from_slice(
                                format!(
                                    "# TYPE storm_scrape_index gauge\nstorm_scrape_index {k}\n"
                                )
                                .as_bytes(),
                            );
                            Ok::<_, std::convert::Infallible>(text_response(body))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StormTarget {
            addr,
            served,
            hosts_per_scrape,
            leaving_per_scrape,
            task,
        }
    }

    /// The workload of scrape `k`: hosts `leaving * k .. hosts * (k + 1)`.
    pub fn workload_of(hosts_per_scrape: u64, leaving_per_scrape: u64, k: u64) -> IstioWorkload {
        let first = leaving_per_scrape * k;
        IstioWorkload::new(hosts_per_scrape * (k + 1) - first).with_first_host(first)
    }

    /// The workload this target served at scrape `k`.
    pub fn workload(&self, k: u64) -> IstioWorkload {
        Self::workload_of(self.hosts_per_scrape, self.leaving_per_scrape, k)
    }

    /// Scrapes served so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    /// `127.0.0.1:port`, as written in `static_configs`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for StormTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}
