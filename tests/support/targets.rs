//! Scrape targets served from the test process: each answers `/metrics`
//! with a behaviour (a fixed body, garbage, a hang, a huge body) so tests can
//! watch levee's reaction end to end over real HTTP.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A 200 response carrying `body` as Prometheus text 0.0.4.
pub(super) fn text_response(body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

/// What a test target serves.
#[derive(Clone)]
pub enum Behaviour {
    /// This body with `text/plain; version=0.0.4`.
    Body(String),
    /// Waits this long before answering (past the scrape timeout).
    Hang(Duration),
    /// A counter with this name that goes up by one on every request
    /// (`NAME 1`, `NAME 2`, …): every scrape has a distinct value.
    Counting(String, Arc<std::sync::atomic::AtomicU64>),
}

/// A running target; stops when dropped.
pub struct TestTarget {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestTarget {
    /// Serves `behaviour` on a free loopback port.
    pub async fn start(behaviour: Behaviour) -> TestTarget {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let behaviour = Arc::new(behaviour);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                        let behaviour = behaviour.clone();
                        async move {
                            let body = match behaviour.as_ref() {
                                Behaviour::Body(b) => b.clone(),
                                Behaviour::Hang(d) => {
                                    tokio::time::sleep(*d).await;
                                    "late 1\n".to_string()
                                }
                                Behaviour::Counting(name, n) => {
                                    let v = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                                    format!("# TYPE {name} counter\n{name} {v}\n")
                                }
                            };
                            Ok::<_, std::convert::Infallible>(text_response(body))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestTarget { addr, task }
    }

    /// `127.0.0.1:port`, as written in `static_configs`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}
