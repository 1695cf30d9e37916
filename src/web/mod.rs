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
//! With a web config file (`web_config.rs`, Prometheus' format) the
//! accept loop wraps each connection in TLS (`tls.rs`; certificates
//! re-read when the file changes) and a layer asks for basic auth before
//! the router sees the request.
//!
//! The server reads what others expose (a [`Registry`], a [`TargetsView`])
//! and owns none of it.

mod auth;
mod cardinality_api;
mod cardinality_cli;
pub mod lifecycle;
mod routes;
mod targets_api;
mod tls;
pub mod web_config;

pub use auth::basic_credentials;
pub use cardinality_cli::{CardinalityError, FormatError, cardinality_report, render_table};

use crate::scrape::TargetsView;
use crate::selfmon::Registry;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use routes::routes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use web_config::WebConfigSource;

/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Binds `addr` and serves `state` over plain HTTP until stopped.
    pub async fn start(addr: &str, state: Arc<WebState>) -> Result<WebServer, WebError> {
        Self::start_with_config(addr, state, None).await
    }

    /// Binds `addr` and serves `state` until stopped, with the TLS and
    /// basic auth of `web_config` when given (TLS when it had a
    /// `tls_server_config` at start).
    pub async fn start_with_config(
        addr: &str,
        state: Arc<WebState>,
        web_config: Option<Arc<WebConfigSource>>,
    ) -> Result<WebServer, WebError> {
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
        let router = match &web_config {
            Some(web) => routes(state).layer(axum::middleware::from_fn_with_state(
                web.clone(),
                auth::require,
            )),
            None => routes(state),
        };
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let service = TowerToHyperService::new(router.clone());
                        let web_config = web_config.clone();
                        tokio::spawn(async move {
                            // Per connection, as Prometheus: the TLS
                            // settings of the file as it is now.
                            let tls = web_config
                                .as_ref()
                                .and_then(|w| w.current().server_tls.clone());
                            // The timer gives hyper's header read timeout
                            // (30 s) effect: a client trickling its headers
                            // is disconnected. Bodies are timed by whoever
                            // reads them (the receiver's `read_timeout`).
                            let mut http = hyper::server::conn::http1::Builder::new();
                            http.timer(TokioTimer::new());
                            match tls {
                                None => {
                                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                                }
                                Some(tls) => {
                                    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                                    let handshake =
                                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                                    match handshake.await {
                                        Ok(Ok(stream)) => {
                                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                                        }
                                        Ok(Err(e)) => tracing::debug!(error = %e, "web: TLS handshake failed"),
                                        Err(_) => tracing::debug!("web: TLS handshake timed out"),
                                    }
                                }
                            }
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

    #[tokio::test]
    async fn lifecycle_endpoints_answer_403_when_off_and_relay_when_on() {
        let off = Arc::new(WebState {
            registry: Registry::new(),
            ready: AtomicBool::new(true),
            targets: None,
            lifecycle: None,
            receiver: None,
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
            receiver: None,
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

    fn tls_file(name: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/remote/tls")
            .join(name)
    }

    fn state() -> Arc<WebState> {
        Arc::new(WebState {
            registry: Registry::new(),
            ready: AtomicBool::new(true),
            targets: None,
            lifecycle: None,
            receiver: None,
        })
    }

    /// A server with the web config `yaml` (written to a temp dir, which
    /// is returned with the file's path).
    async fn secured(yaml: &str) -> (WebServer, tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("web.yml");
        std::fs::write(&path, yaml).expect("write web config");
        let source = Arc::new(WebConfigSource::open(&path).expect("a valid web config"));
        let server = WebServer::start_with_config("127.0.0.1:0", state(), Some(source))
            .await
            .expect("binds");
        (server, dir, path)
    }

    async fn status(req: reqwest::RequestBuilder) -> (u16, Option<String>) {
        let resp = req.send().await.expect("the server answers");
        let auth = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (resp.status().as_u16(), auth)
    }

    #[tokio::test]
    async fn basic_auth_is_required_except_on_open_paths_and_follows_the_file() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let (server, _dir, path) = secured(&format!(
            "basic_auth_users:\n  alice: '{hash}'\nlevee_unauthenticated_paths: [/-/healthy]\n"
        ))
        .await;
        let base = format!("http://{}", server.local_addr());
        let http = reqwest::Client::new();
        let metrics = format!("{base}/metrics");
        let basic = Some("Basic".to_string());
        assert_eq!(status(http.get(&metrics)).await, (401, basic.clone()));
        let good = http.get(&metrics).basic_auth("alice", Some("s3cret"));
        assert_eq!(status(good).await, (200, None));
        let bad = http.get(&metrics).basic_auth("alice", Some("s3cre"));
        assert_eq!(status(bad).await, (401, basic.clone()));
        let nobody = http.get(&metrics).basic_auth("bob", Some("s3cret"));
        assert_eq!(status(nobody).await, (401, basic.clone()));
        let open = http.get(format!("{base}/-/healthy"));
        assert_eq!(status(open).await, (200, None));
        // The file is read again when it changes: a new password.
        let hash = bcrypt::hash("n3w", 4).expect("hash");
        std::fs::write(&path, format!("basic_auth_users:\n  alice: '{hash}'\n")).expect("rewrite");
        let old = http.get(&metrics).basic_auth("alice", Some("s3cret"));
        assert_eq!(status(old).await, (401, basic.clone()));
        let new = http.get(&metrics).basic_auth("alice", Some("n3w"));
        assert_eq!(status(new).await, (200, None));
        let closed = http.get(format!("{base}/-/healthy"));
        assert_eq!(status(closed).await, (401, basic.clone()));
        // A file turned bad keeps the last good one in force.
        std::fs::write(&path, "basic_auth_userz: {}\n").expect("break");
        let still = http.get(&metrics).basic_auth("alice", Some("n3w"));
        assert_eq!(status(still).await, (200, None));
        server.stop().await;
    }

    fn https_client(with_identity: bool) -> reqwest::Client {
        let ca = std::fs::read(tls_file("ca.pem")).expect("ca.pem");
        let builder = reqwest::Client::builder()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).expect("parse ca"));
        let builder = match with_identity {
            true => {
                let mut id = std::fs::read(tls_file("client.pem")).expect("client.pem");
                id.extend(std::fs::read(tls_file("client.key")).expect("client.key"));
                builder.identity(reqwest::Identity::from_pem(&id).expect("parse identity"))
            }
            false => builder,
        };
        builder.build().expect("client")
    }

    #[tokio::test]
    async fn tls_serves_https_and_a_required_client_certificate_is_checked() {
        let (cert, key, ca) = (
            tls_file("server.pem"),
            tls_file("server.key"),
            tls_file("ca.pem"),
        );
        let hash = bcrypt::hash("pw", 4).expect("hash");
        let (server, _dir, _) = secured(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  alice: '{hash}'\n",
            cert.display(),
            key.display()
        ))
        .await;
        let url = format!("https://localhost:{}/metrics", server.local_addr().port());
        let client = https_client(false);
        let authed = client.get(&url).basic_auth("alice", Some("pw"));
        assert_eq!(status(authed).await, (200, None));
        assert_eq!(status(client.get(&url)).await.0, 401, "TLS and basic auth");
        let plain = format!("http://127.0.0.1:{}/metrics", server.local_addr().port());
        assert!(
            reqwest::Client::new().get(&plain).send().await.is_err(),
            "no plain HTTP on a TLS listener"
        );
        server.stop().await;

        let (server, _dir, _) = secured(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n  min_version: TLS13\n",
            cert.display(),
            key.display(),
            ca.display()
        ))
        .await;
        let url = format!("https://localhost:{}/-/healthy", server.local_addr().port());
        assert_eq!(status(https_client(true).get(&url)).await, (200, None));
        assert!(
            https_client(false).get(&url).send().await.is_err(),
            "refused without a client certificate"
        );
        server.stop().await;
    }

    #[test]
    fn a_bad_web_config_file_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n",
        )
        .expect("write");
        let err = WebConfigSource::open(&path)
            .err()
            .expect("missing files")
            .to_string();
        assert!(
            err.contains("cert_file") && err.contains("nope.pem"),
            "{err}"
        );
        let missing = WebConfigSource::open(&dir.path().join("absent.yml"))
            .err()
            .expect("no file")
            .to_string();
        assert!(missing.contains("absent.yml"), "{missing}");
    }
}
