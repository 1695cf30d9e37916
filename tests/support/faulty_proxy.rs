//! A small HTTP server placed in front of a real receiver: it forwards
//! remote-write requests unchanged, or answers with an injected status
//! (500, 429 with `Retry-After`, 400 …) for the next N requests or until
//! healed, optionally after a delay (a slow receiver), or plays a receiver
//! that only speaks remote write 1.0 (415 to 2.0 requests). It counts every request and keeps the decoded body of every
//! request it forwarded, so tests can count samples and duplicates exactly.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use levee::proto::WriteRequest;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the proxy does with the next request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward to the receiver (or answer 204 when there is none).
    Forward,
    /// Answer `status` (with `Retry-After: retry_after` when given), for
    /// `remaining` more requests (`None`: until healed), then forward again.
    Status {
        /// The status to answer.
        status: u16,
        /// The `Retry-After` header value, if any.
        retry_after: Option<String>,
        /// How many more requests get this answer.
        remaining: Option<u64>,
    },
    /// Answer 415 to remote-write 2.0 requests (`Content-Type` naming
    /// `io.prometheus.write.v2.Request`), as a 1.0-only receiver must, and
    /// forward the rest.
    Refuse2_0,
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// When it arrived.
    pub at: std::time::Instant,
    /// The status the sender got.
    pub status: u16,
    /// The request headers (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// The decoded body (`None` if it did not decode).
    pub body: Option<WriteRequest>,
}

struct State {
    upstream: Option<String>,
    fault: Mutex<Fault>,
    delay: Mutex<std::time::Duration>,
    seen: Mutex<Vec<Seen>>,
    http: reqwest::Client,
}

/// The proxy; its server task stops on drop.
pub struct FaultyProxy {
    port: u16,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyProxy {
    /// Starts the proxy in front of `upstream` (a remote-write URL), or as
    /// a receiver of its own that answers 204 when `upstream` is `None`.
    pub async fn start(upstream: Option<String>) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let state = Arc::new(State {
            upstream,
            fault: Mutex::new(Fault::Forward),
            delay: Mutex::new(std::time::Duration::ZERO),
            seen: Mutex::new(Vec::new()),
            http: reqwest::Client::new(),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FaultyProxy { port, state, task }
    }

    /// The URL senders should write to.
    pub fn url_write(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// Sets what the next requests get.
    pub fn set(&self, fault: Fault) {
        *self.state.fault.lock() = fault;
    }

    /// Answers `status` to the next `times` requests (`None`: until
    /// [`heal`](Self::heal)).
    pub fn fail(&self, status: u16, retry_after: Option<&str>, times: Option<u64>) {
        self.set(Fault::Status {
            status,
            retry_after: retry_after.map(str::to_string),
            remaining: times,
        });
    }

    /// Holds every later request for `delay` before answering (a slow
    /// receiver); zero turns it off.
    pub fn set_delay(&self, delay: std::time::Duration) {
        *self.state.delay.lock() = delay;
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.set(Fault::Forward);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().clone()
    }

    /// Number of requests answered with `status`.
    pub fn count(&self, status: u16) -> usize {
        self.state
            .seen
            .lock()
            .iter()
            .filter(|s| s.status == status)
            .count()
    }

    /// Number of requests so far.
    pub fn requests(&self) -> usize {
        self.state.seen.lock().len()
    }

    /// The decoded bodies of the requests that were answered 2xx.
    pub fn delivered(&self) -> Vec<WriteRequest> {
        self.state
            .seen
            .lock()
            .iter()
            .filter(|s| (200..300).contains(&s.status))
            .filter_map(|s| s.body.clone())
            .collect()
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let at = std::time::Instant::now();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let decoded = levee::remote::decode_write_request(&body, 64 << 20).ok();
    let delay = *st.delay.lock();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let injected = {
        let mut f = st.fault.lock();
        match &mut *f {
            Fault::Forward => None,
            Fault::Refuse2_0 => headers
                .get("content-type")
                .is_some_and(|t| t.contains("proto=io.prometheus.write.v2.Request"))
                .then_some((415, None)),
            Fault::Status {
                status,
                retry_after,
                remaining,
            } => {
                let answer = (*status, retry_after.clone());
                if let Some(n) = remaining {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        *f = Fault::Forward;
                    }
                }
                Some(answer)
            }
        }
    };
    let (status, mut resp) = match injected {
        Some((status, retry_after)) => {
            let mut r = Response::new(Full::new(Bytes::from(format!("injected {status}"))));
            if let Some(ra) = retry_after
                && let Ok(v) = ra.parse()
            {
                r.headers_mut().insert("retry-after", v);
            }
            (status, r)
        }
        None => forward(&st, &headers, body).await,
    };
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    st.seen.lock().push(Seen {
        at,
        status,
        headers,
        body: decoded,
    });
    Ok(resp)
}

async fn forward(
    st: &State,
    headers: &BTreeMap<String, String>,
    body: Bytes,
) -> (u16, Response<Full<Bytes>>) {
    let Some(upstream) = &st.upstream else {
        return (204, Response::new(Full::new(Bytes::new())));
    };
    let mut req = st.http.post(upstream).body(body);
    for (k, v) in headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.bytes().await.unwrap_or_default();
            (status, Response::new(Full::new(text)))
        }
        Err(e) => (
            502,
            Response::new(Full::new(Bytes::from(format!("upstream: {e}")))),
        ),
    }
}
