//! A fake Kubernetes API server for the discovery tests: plain HTTP/1.1 on
//! 127.0.0.1, one scripted reply queue per route (`LIST /api/v1/pods`,
//! `WATCH /api/v1/pods`); a queue's last reply is repeated. Replies are
//! recorded API responses (tests/data/kubernetes/), written as they are, so
//! a stream can be cut anywhere. Shared by the discovery unit tests (the
//! lib includes this file) and the end-to-end tests against vmagent.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status and body, then the connection closes.
    Status(u16, String),
    /// 200 and this body, then the connection closes (a watch the server
    /// ended, or cut, wherever the body stops).
    Body(String),
    /// 200 and this body, then the connection stays open until the client
    /// goes (a watch with nothing more to say).
    Hang(String),
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `LIST` or `WATCH`.
    pub verb: &'static str,
    /// The path.
    pub path: String,
    /// The query parameters, decoded.
    pub query: HashMap<String, String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
}

type Routes = HashMap<String, VecDeque<Reply>>;

/// A running fake server.
pub struct FakeApi {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    routes: Arc<Mutex<Routes>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeApi {
    /// Starts a server with no routes (every request answers 404).
    pub async fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<Routes>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, r.clone(), s.clone()));
            }
        });
        FakeApi {
            url,
            routes,
            seen,
            task,
        }
    }

    /// Queues `replies` for `route` (`"LIST /api/v1/pods"`), after any
    /// still queued.
    pub fn script(&self, route: &str, replies: impl IntoIterator<Item = Reply>) {
        self.routes
            .lock()
            .entry(route.to_owned())
            .or_default()
            .extend(replies);
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    /// The requests of `verb` so far.
    pub fn count(&self, verb: &str) -> usize {
        self.seen.lock().iter().filter(|s| s.verb == verb).count()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut conn: TcpStream, routes: Arc<Mutex<Routes>>, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
        if head.len() > 64 << 10 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let url = reqwest::Url::parse(&format!("http://127.0.0.1{target}")).unwrap();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    // client-go sends `watch=true`, vmagent `watch=1`.
    let verb = if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        "WATCH"
    } else {
        "LIST"
    };
    let authorization = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("authorization: ")
                .or(l.strip_prefix("Authorization: "))
        })
        .map(str::to_owned);
    seen.lock().push(Seen {
        verb,
        path: url.path().to_owned(),
        query,
        authorization,
    });
    let reply = {
        let mut routes = routes.lock();
        match routes.get_mut(&format!("{verb} {}", url.path())) {
            Some(q) if q.len() > 1 => q.pop_front(),
            Some(q) => q.front().cloned(),
            None => None,
        }
    };
    let (status, body, hang) = match reply {
        Some(Reply::Status(code, body)) => (code, body, false),
        Some(Reply::Body(body)) => (200, body, false),
        Some(Reply::Hang(body)) => (200, body, true),
        None => (404, String::new(), false),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
    );
    if conn.write_all(head.as_bytes()).await.is_err()
        || conn.write_all(body.as_bytes()).await.is_err()
    {
        return;
    }
    let _ = conn.flush().await;
    if hang {
        // Until the client closes, within a bound.
        let _ = tokio::time::timeout(Duration::from_secs(60), conn.read(&mut byte)).await;
    }
}
