//! levee's HTTP server: `/metrics` (self-metrics), `/-/healthy`,
//! `/-/ready`, and the Prometheus-shaped `/api/v1/targets` and
//! `/api/v1/status/cardinality`.
//!
//! The routes are an axum [`Router`](axum::Router) (`routes.rs`), served
//! on hyper's HTTP/1 connections from an accept loop of our own, so a TLS
//! acceptor can wrap the stream and tower layers (auth, body limits) the
//! router; a new endpoint is one more `.route`. Every endpoint answers GET (and
//! HEAD); any other method gets 405, an unknown path 404, each with a
//! plain-text body.
//!
//! The server reads what others expose (a [`Registry`], a [`TargetsView`])
//! and owns none of it.

mod cardinality_api;
mod cardinality_cli;
pub mod lifecycle;
mod routes;
mod targets_api;

pub use cardinality_cli::{CardinalityError, FormatError, cardinality_report, render_table};

use crate::scrape::TargetsView;
use crate::selfmon::Registry;
use hyper_util::rt::TokioIo;
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
    /// Where `/-/reload` and `/-/quit` send their requests; `None`: the
    /// lifecycle API is off (`--web.enable-lifecycle` not given) and they
    /// answer 403.
    pub lifecycle: Option<lifecycle::LifecycleSender>,
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
            lifecycle: None,
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

    #[tokio::test]
    async fn lifecycle_endpoints_answer_403_when_off_and_relay_when_on() {
        let off = Arc::new(WebState {
            registry: Registry::new(),
            ready: AtomicBool::new(true),
            targets: None,
            lifecycle: None,
        });
        let server = WebServer::start("127.0.0.1:0", off).await.expect("binds");
        let base = format!("http://{}", server.local_addr());
        let plain = "text/plain; charset=utf-8";
        for (method, path) in [
            ("POST", "/-/reload"),
            ("PUT", "/-/reload"),
            ("POST", "/-/quit"),
        ] {
            let (status, kind, body) = ask(method, &format!("{base}{path}")).await;
            assert_eq!(
                (status, kind.as_str(), body.as_str()),
                (403, plain, "Lifecycle API is not enabled."),
                "{method} {path}"
            );
        }
        server.stop().await;

        let (tx, mut rx) = lifecycle::channel();
        let on = Arc::new(WebState {
            registry: Registry::new(),
            ready: AtomicBool::new(true),
            targets: None,
            lifecycle: Some(tx),
        });
        let server = WebServer::start("127.0.0.1:0", on).await.expect("binds");
        let base = format!("http://{}", server.local_addr());
        // The run loop's part: the first reload works, the second fails.
        let run_loop = tokio::spawn(async move {
            let mut seen = Vec::new();
            for outcome in [true, false, true] {
                match rx.recv().await.expect("a request") {
                    lifecycle::LifecycleRequest::Reload(answer) => {
                        let result: Result<(), lifecycle::ReloadFailure> = match outcome {
                            true => Ok(()),
                            false => Err(std::io::Error::other("bad key `foo`").into()),
                        };
                        answer.send(result).expect("the handler waits");
                        seen.push("reload");
                    }
                    lifecycle::LifecycleRequest::Quit => seen.push("quit"),
                }
            }
            seen
        });
        assert_eq!(
            ask("POST", &format!("{base}/-/reload")).await.0,
            200,
            "a reload that worked"
        );
        let (status, _, body) = ask("PUT", &format!("{base}/-/reload")).await;
        assert_eq!(
            (status, body.as_str()),
            (500, "failed to reload config: bad key `foo`\n")
        );
        let (status, _, body) = ask("POST", &format!("{base}/-/quit")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "Requesting termination... Goodbye!")
        );
        assert_eq!(
            run_loop.await.expect("the loop ends"),
            ["reload", "reload", "quit"]
        );
        let (status, _, body) = ask("GET", &format!("{base}/-/reload")).await;
        assert_eq!(
            (status, body.as_str()),
            (405, "only POST or PUT is served here\n")
        );
        server.stop().await;
    }
}
