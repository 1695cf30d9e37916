//! levee's HTTP server: `/metrics` (self-metrics), `/-/healthy`,
//! `/-/ready`, the Prometheus-shaped `/api/v1/targets` and
//! `/api/v1/status/cardinality`, and the remote-write receiver's
//! `POST /api/v1/write` (served by [`crate::receiver`]).
//!
//! The routes are an axum [`Router`](axum::Router) (`routes.rs`), served
//! on hyper's HTTP/1 connections from an accept loop of our own, so a TLS
//! acceptor can wrap the stream and tower layers (auth, body limits) the
//! router; a new endpoint is one more `.route`. Every endpoint but
//! `/api/v1/write` (POST only) answers GET (and HEAD); any other method gets
//! 405, an unknown path 404, each with a plain-text body.
//!
//! The server reads what others expose (a [`Registry`], a [`TargetsView`])
//! and owns none of it.

mod cardinality_api;
mod cardinality_cli;
mod routes;
mod targets_api;

pub use cardinality_cli::{CardinalityError, FormatError, cardinality_report, render_table};

use crate::scrape::TargetsView;
use crate::selfmon::Registry;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use routes::routes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
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
    /// The remote-write receiver, when enabled (else `/api/v1/write` is
    /// 404, as in Prometheus).
    pub receiver: Option<Arc<crate::receiver::Receiver>>,
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
        let router = routes(state);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let service = TowerToHyperService::new(router.clone());
                        tokio::spawn(async move {
                            // The timer gives hyper's header read timeout
                            // (30 s) effect: a client trickling its headers
                            // is disconnected. Bodies are timed by whoever
                            // reads them (the receiver's `read_timeout`).
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(TokioTimer::new())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// What the server answers: status, content type, body.
    async fn ask(method: &str, url: &str) -> (u16, String, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let resp = reqwest::Client::new()
            .request(method, url)
            .send()
            .await
            .expect("the server answers");
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, kind, resp.text().await.expect("a body"))
    }

    #[tokio::test]
    async fn every_endpoint_answers_with_its_status_type_and_body() {
        let state = Arc::new(WebState {
            registry: Registry::new(),
            ready: AtomicBool::new(false),
            targets: None,
            receiver: None,
        });
        state
            .registry
            .counter_vec("levee_test_total", "A test.", &["x"])
            .with(&["y"])
            .inc();
        let server = WebServer::start("127.0.0.1:0", state.clone())
            .await
            .expect("binds");
        let base = format!("http://{}", server.local_addr());
        let plain = "text/plain; charset=utf-8";
        let json = "application/json";
        let (status, kind, body) = ask("GET", &format!("{base}/metrics")).await;
        assert_eq!(
            (status, kind.as_str()),
            (200, "text/plain; version=0.0.4; charset=utf-8")
        );
        assert!(body.contains("levee_test_total{x=\"y\"} 1"), "{body}");
        let empty = r#"{"data":{"activeTargets":[],"droppedTargets":[]},"status":"success"}"#;
        for (method, path, want) in [
            ("GET", "/-/healthy", (200, plain, "levee is Healthy.\n")),
            ("GET", "/-/ready", (503, plain, "levee is not ready.\n")),
            ("GET", "/api/v1/targets", (200, json, empty)),
            (
                "GET",
                "/api/v1/status/cardinality?limit=3",
                (200, json, r#"{"data":{"targets":[]},"status":"success"}"#),
            ),
            (
                "GET",
                "/api/v1/status/cardinality?limit=0",
                (
                    400,
                    json,
                    r#"{"error":"invalid limit \"0\": expected an integer from 1 to 1000","errorType":"bad_data","status":"error"}"#,
                ),
            ),
            ("GET", "/nothing", (404, plain, "404 page not found\n")),
            ("GET", "/metrics/", (404, plain, "404 page not found\n")),
            (
                "POST",
                "/metrics",
                (405, plain, "only GET is served here\n"),
            ),
            (
                "DELETE",
                "/-/ready",
                (405, plain, "only GET is served here\n"),
            ),
            (
                "POST",
                "/nothing",
                (405, plain, "only GET is served here\n"),
            ),
            ("HEAD", "/-/healthy", (200, plain, "")),
            (
                "POST",
                "/api/v1/write",
                (
                    404,
                    plain,
                    "remote write receiver needs to be enabled with --web.enable-remote-write-receiver or a receiver: section\n",
                ),
            ),
            (
                "GET",
                "/api/v1/write",
                (405, plain, "only POST is served here\n"),
            ),
        ] {
            let (status, kind, body) = ask(method, &format!("{base}{path}")).await;
            assert_eq!(
                (status, kind.as_str(), body.as_str()),
                want,
                "{method} {path}"
            );
        }
        let refused = reqwest::Client::new()
            .post(format!("{base}/metrics"))
            .send()
            .await
            .expect("the server answers");
        let allow = refused.headers().get(reqwest::header::ALLOW);
        assert_eq!(allow.and_then(|v| v.to_str().ok()), Some("GET,HEAD"));
        state.ready.store(true, Ordering::Release);
        let (status, _, body) = ask("GET", &format!("{base}/-/ready")).await;
        assert_eq!((status, body.as_str()), (200, "levee is Ready.\n"));
        server.stop().await;
    }
}
