//! levee's HTTP server: `/metrics` (self-metrics), `/-/healthy`,
//! `/-/ready`, and the Prometheus-shaped `/api/v1/targets` and
//! `/api/v1/status/cardinality`.
//!
//! The server knows nothing about scraping: it renders a [`Registry`] and
//! asks a [`TargetsView`] for the target list, so it can be tested and
//! reused (e.g. by the remote-write receiver later) on its own.

mod cardinality_api;
mod cardinality_cli;
mod targets_api;

pub use cardinality_cli::{CardinalityError, cardinality_report, render_table};

use crate::scrape::TargetsView;
use crate::selfmon::Registry;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What the server serves.
pub struct WebState {
    /// Self-metrics rendered at `/metrics`.
    pub registry: Registry,
    /// Set once the agent has loaded its config and started its loops.
    pub ready: AtomicBool,
    /// Source of `/api/v1/targets`.
    pub targets: Option<Arc<dyn TargetsView>>,
}

/// A running server; dropping it does not stop it, [`WebServer::stop`] does.
pub struct WebServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WebServer {
    /// Binds `addr` and serves `state` until stopped.
    pub async fn start(addr: &str, state: Arc<WebState>) -> Result<WebServer, WebError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| WebError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| WebError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let state = state.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| {
                                let state = state.clone();
                                async move { Ok::<_, std::convert::Infallible>(route(&state, req)) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                }
            }
        });
        Ok(WebServer {
            addr: local,
            stop,
            task,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn route(state: &WebState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut resp = Response::new(Full::new(Bytes::from(state.registry.render())));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        "/-/healthy" => text(StatusCode::OK, "levee is Healthy.\n"),
        "/-/ready" => {
            if state.ready.load(Ordering::Acquire) {
                text(StatusCode::OK, "levee is Ready.\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "levee is not ready.\n")
            }
        }
        "/api/v1/targets" => match &state.targets {
            Some(view) => json(targets_api::render(view.as_ref())),
            None => json(targets_api::render_empty()),
        },
        "/api/v1/status/cardinality" => match cardinality_api::parse_limit(req.uri().query()) {
            Ok(limit) => {
                let targets = state
                    .targets
                    .as_ref()
                    .map(|v| v.cardinality(limit))
                    .unwrap_or_default();
                json(cardinality_api::render(&targets))
            }
            Err(message) => {
                let mut resp = json(cardinality_api::render_error(&message));
                *resp.status_mut() = StatusCode::BAD_REQUEST;
                resp
            }
        },
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json(body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
