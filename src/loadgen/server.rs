//! Serving a workload: one listening port per target on 127.0.0.1, a tick
//! thread that builds the next tick's bodies ahead of time and swaps them
//! in on the tick's start, and counters of what was served.

use super::LoadgenError;
use super::report::{Report, TargetReport, TickReport, peak_rss_bytes, process_cpu_seconds};
use super::workload::{TickBodies, Workload};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use parking_lot::RwLock;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The `Content-Type` of every body: Prometheus text 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A bound load generator, ready to [`run`](Loadgen::run).
pub struct Loadgen {
    workload: Workload,
    interval: Duration,
    listeners: Vec<TcpListener>,
    targets: Vec<(&'static str, SocketAddr)>,
    first: TickBodies,
    first_build: f64,
}

/// What every request handler shares.
struct Shared {
    current: RwLock<Arc<TickBodies>>,
    requests: Vec<AtomicU64>,
    samples: AtomicU64,
    bytes: AtomicU64,
}

impl Loadgen {
    /// Binds one port per target on 127.0.0.1 and builds tick 0. Nothing
    /// is served until [`run`](Self::run).
    pub async fn bind(workload: Workload, interval: Duration) -> Result<Loadgen, LoadgenError> {
        if interval.is_zero() {
            return Err(LoadgenError::ZeroInterval);
        }
        let mut listeners = Vec::new();
        let mut targets = Vec::new();
        for (job, _) in workload.targets() {
            let addr = "127.0.0.1:0";
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| LoadgenError::Bind {
                    addr: addr.into(),
                    source,
                })?;
            let local = listener.local_addr().map_err(|source| LoadgenError::Bind {
                addr: addr.into(),
                source,
            })?;
            targets.push((job, local));
            listeners.push(listener);
        }
        let started = Instant::now();
        let first = workload.build(0);
        Ok(Loadgen {
            first_build: started.elapsed().as_secs_f64(),
            workload,
            interval,
            listeners,
            targets,
            first,
        })
    }

    /// Every target's job and address, in port order.
    pub fn targets(&self) -> &[(&'static str, SocketAddr)] {
        &self.targets
    }

    /// Serves for `duration` or until `stop` completes, whichever is first,
    /// then stops serving and reports.
    pub async fn run<F: Future<Output = ()>>(
        self,
        duration: Duration,
        stop: F,
    ) -> Result<Report, LoadgenError> {
        let Loadgen {
            workload,
            interval,
            listeners,
            targets,
            first,
            first_build,
        } = self;
        let start = Instant::now();
        let first_record = tick_record(&first, first_build);
        let shared = Arc::new(Shared {
            current: RwLock::new(Arc::new(first)),
            requests: targets.iter().map(|_| AtomicU64::new(0)).collect(),
            samples: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let mut tasks = JoinSet::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            tasks.spawn(accept_loop(listener, index, shared.clone()));
        }
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let ticker = {
            let shared = shared.clone();
            let workload = workload.clone();
            std::thread::Builder::new()
                .name("loadgen-ticks".into())
                .spawn(move || tick_loop(&workload, interval, duration, start, &shared, &stop_rx))
                .map_err(LoadgenError::Thread)?
        };
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = stop => {}
        }
        let served = start.elapsed();
        drop(stop_tx);
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let (ticks, late_ticks) = tokio::task::spawn_blocking(move || ticker.join())
            .await
            .map_err(|_| LoadgenError::ThreadPanicked)?
            .map_err(|_| LoadgenError::ThreadPanicked)?;
        let mut all_ticks = vec![first_record];
        all_ticks.extend(ticks);
        let target_reports = targets
            .iter()
            .zip(&shared.requests)
            .map(|((job, addr), n)| TargetReport {
                job: (*job).to_string(),
                address: addr.to_string(),
                requests: n.load(Ordering::Relaxed),
            })
            .collect::<Vec<_>>();
        Ok(Report {
            workload: workload.kind.to_string(),
            interval_seconds: interval.as_secs_f64(),
            duration_seconds: served.as_secs_f64(),
            requests: target_reports.iter().map(|t| t.requests).sum(),
            targets: target_reports,
            ticks: all_ticks,
            samples_served: shared.samples.load(Ordering::Relaxed),
            bytes_served: shared.bytes.load(Ordering::Relaxed),
            late_ticks,
            cpu_seconds: process_cpu_seconds(),
            peak_rss_bytes: peak_rss_bytes(),
        })
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn tick_record(t: &TickBodies, build_seconds: f64) -> TickReport {
    TickReport {
        tick: t.tick,
        published_unix_ms: unix_ms(),
        series: t.total_series(),
        build_seconds,
        istio_totals: t.istio.as_ref().map(TickReport::totals_map),
        istio_retained_totals: t.istio_retained.as_ref().map(TickReport::totals_map),
    }
}

/// Builds tick `k + 1` as soon as tick `k` is out, waits for its start and
/// swaps it in. Stops when the channel closes or the duration is over.
/// Returns the ticks published after tick 0 and how many were late.
fn tick_loop(
    workload: &Workload,
    interval: Duration,
    duration: Duration,
    start: Instant,
    shared: &Shared,
    stop: &mpsc::Receiver<()>,
) -> (Vec<TickReport>, u64) {
    let mut records = Vec::new();
    let mut late = 0;
    for k in 1u64.. {
        let Some(due) = u32::try_from(k).ok().and_then(|k| interval.checked_mul(k)) else {
            break;
        };
        if due >= duration {
            break;
        }
        let built_at = Instant::now();
        let next = workload.build(k);
        let build_seconds = built_at.elapsed().as_secs_f64();
        let wait = (start + due).saturating_duration_since(Instant::now());
        if wait.is_zero() {
            late += 1;
            if !matches!(stop.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                break;
            }
        } else if !matches!(
            stop.recv_timeout(wait),
            Err(mpsc::RecvTimeoutError::Timeout)
        ) {
            break;
        }
        let record = tick_record(&next, build_seconds);
        *shared.current.write() = Arc::new(next);
        records.push(record);
    }
    (records, late)
}

/// Accepts connections for target `index` until aborted (which also
/// aborts its connections).
async fn accept_loop(listener: TcpListener, index: usize, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: back off briefly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                std::future::ready(answer(&req, index, &shared))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// `/metrics` gets the current tick's body of target `index`; anything
/// else is 404.
fn answer(
    req: &Request<Incoming>,
    index: usize,
    shared: &Shared,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/metrics" {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"only /metrics is served\n")));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return Ok(resp);
    }
    let tick = shared.current.read().clone();
    let (Some(body), Some(series)) = (tick.bodies.get(index), tick.series.get(index)) else {
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return Ok(resp);
    };
    if let Some(n) = shared.requests.get(index) {
        n.fetch_add(1, Ordering::Relaxed);
    }
    shared.samples.fetch_add(*series, Ordering::Relaxed);
    shared.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    let mut resp = Response::new(Full::new(body.clone()));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    Ok(resp)
}
