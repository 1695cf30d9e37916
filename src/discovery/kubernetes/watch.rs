//! The informer: keeps a provider's view of one kind of object (in one
//! namespace, or all) in step with the API server, as client-go's reflector
//! does.
//!
//! - **LIST** in pages (`limit`, `continue`), with the configured
//!   `labelSelector`/`fieldSelector`; the objects are compared with what
//!   was known (by key and `resourceVersion`) and only the differences are
//!   reported, so a relist does not resend unchanged objects.
//! - **WATCH** from the list's `resourceVersion` with
//!   `allowWatchBookmarks=true` and `timeoutSeconds`: the server ends the
//!   watch at that time and it is re-established from the last
//!   `resourceVersion` seen (events and BOOKMARKs both advance it).
//! - **410 Gone** (as the answer or as an ERROR event) means the version is
//!   too old: relist. Other failures (connection errors, 5xx, malformed
//!   JSON, a stream cut inside an event, an over-long line) are counted in
//!   `levee_sd_kubernetes_failures_total{role}`, logged, and retried after a
//!   backoff that doubles from 1 s to 30 s and is reset by a success.
//!   Nothing known is dropped while failing: the last good targets stay.
//!
//! The informer keeps only each object's key and `resourceVersion`; the
//! typed, trimmed objects ([`super::objects`]) go to the provider, which is
//! the cache. Never a whole object's JSON.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use super::client::ApiClient;
use super::objects::{List, Resource};
use crate::http_client::error_chain;
use crate::selfmon::{Counter, Family, Registry};

/// What one informer watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    /// The kind, for metrics and logs (`pod`, `node`, `service`,
    /// `endpoints`, `endpointslice`).
    pub kind: &'static str,
    /// The collection's path: `/api/v1/pods`,
    /// `/api/v1/namespaces/default/pods`, `/apis/discovery.k8s.io/v1/…`.
    pub path: String,
    /// `labelSelector` (empty: none).
    pub label_selector: String,
    /// `fieldSelector` (empty: none).
    pub field_selector: String,
}

/// A change reported by an informer.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<T> {
    /// The object is new or changed.
    Applied(T),
    /// The object of this key (`namespace/name`, or `name`) is gone.
    Deleted(String),
}

/// The informer's clocks and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// First delay after a failure.
    pub backoff_min: Duration,
    /// Longest delay after failures.
    pub backoff_max: Duration,
    /// The watch's `timeoutSeconds`.
    pub watch_timeout: Duration,
    /// Longest a LIST page may take.
    pub list_timeout: Duration,
    /// Objects per LIST page (`limit`).
    pub page_size: u32,
}

impl Default for Timing {
    /// client-go's choices: 1 s to 30 s backoff, 5 min watches (the server
    /// allows up to 30 min), pages of 500.
    fn default() -> Self {
        Timing {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            watch_timeout: Duration::from_secs(300),
            list_timeout: Duration::from_secs(60),
            page_size: 500,
        }
    }
}

/// Fast clocks for the tests (small pages, millisecond backoff).
#[cfg(test)]
pub(super) const TEST_TIMING: Timing = Timing {
    backoff_min: Duration::from_millis(5),
    backoff_max: Duration::from_millis(40),
    watch_timeout: Duration::from_secs(5),
    list_timeout: Duration::from_secs(5),
    page_size: 2,
};

/// A watch ended by the server sooner than this without an event is
/// followed by a backoff pause (client-go's "very short watch").
const SHORT_WATCH: Duration = Duration::from_secs(1);

/// Longest watch-event line accepted (a bigger one is a failure).
const MAX_LINE: usize = 16 << 20;

/// `levee_sd_kubernetes_*` self-metrics, shared by every informer.
#[derive(Clone)]
pub struct Metrics {
    failures: Arc<Family<Counter>>,
    events: Arc<Family<Counter>>,
}

impl Metrics {
    /// The families in `registry` (shared with every other informer).
    pub fn new(registry: &Registry) -> Metrics {
        Metrics {
            failures: registry.counter_vec(
                "levee_sd_kubernetes_failures_total",
                "Failed LIST and WATCH requests of Kubernetes discovery (connection errors, error answers, malformed JSON, cut streams).",
                &["role"],
            ),
            events: registry.counter_vec(
                "levee_sd_kubernetes_events_total",
                "Kubernetes objects added, updated and deleted, as discovery saw them.",
                &["role", "event"],
            ),
        }
    }
}

impl Metrics {
    /// `levee_sd_kubernetes_failures_total`, by role.
    pub fn failures(&self) -> &Family<Counter> {
        &self.failures
    }
}

/// Why a LIST or WATCH failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// No answer (connection refused, reset, timeout).
    #[error("{what} {url}: {}", error_chain(source))]
    Request {
        /// `LIST` or `WATCH`.
        what: &'static str,
        /// The request's URL.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
    /// An error answer other than 410.
    #[error("{what} {url}: HTTP {status}: {message}")]
    Status {
        /// `LIST` or `WATCH`.
        what: &'static str,
        /// The request's URL.
        url: String,
        /// The status code.
        status: u16,
        /// The Status object's message (or the start of the body).
        message: String,
    },
    /// The answer's JSON is not what the API serves.
    #[error("{what} {url}: malformed JSON: {source}")]
    Json {
        /// `LIST` or `WATCH`.
        what: &'static str,
        /// The request's URL.
        url: String,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// An ERROR watch event other than 410.
    #[error("WATCH {url}: ERROR event: {code} {reason}: {message}")]
    ErrorEvent {
        /// The request's URL.
        url: String,
        /// The Status code.
        code: u16,
        /// The Status reason.
        reason: String,
        /// The Status message.
        message: String,
    },
    /// The stream ended inside an event.
    #[error("WATCH {url}: the stream ended inside an event ({bytes} bytes unread)")]
    Cut {
        /// The request's URL.
        url: String,
        /// Bytes of the incomplete event.
        bytes: usize,
    },
    /// One event line was longer than the limit.
    #[error("WATCH {url}: an event is longer than {MAX_LINE} bytes")]
    LineTooLong {
        /// The request's URL.
        url: String,
    },
}

/// How a WATCH ended.
enum WatchEnd {
    /// The server ended it (its timeout): watch again from the last version.
    Closed { events: usize },
    /// The version is too old: relist.
    Gone,
    /// The provider is gone.
    Stopped,
}

/// The exponential delay between failures.
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(t: &Timing) -> Backoff {
        Backoff {
            min: t.backoff_min,
            max: t.backoff_max,
            next: t.backoff_min,
        }
    }

    fn reset(&mut self) {
        self.next = self.min;
    }

    async fn wait(&mut self) {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::time::sleep(delay).await;
    }
}

#[derive(Deserialize)]
struct EventType {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "O: Deserialize<'de>"))]
struct EventObject<O> {
    object: O,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct VersionOnly {
    metadata: VersionMeta,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct VersionMeta {
    resource_version: String,
}

/// A Kubernetes `Status` (error answers and ERROR events).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Status {
    code: u16,
    reason: String,
    message: String,
}

/// One line of a watch stream, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchLine<T> {
    /// `ADDED` or `MODIFIED`.
    Applied(T),
    /// `DELETED`, with the object's last state.
    Deleted(T),
    /// `BOOKMARK`: the version the stream has reached.
    Bookmark(String),
    /// `ERROR`: a Status.
    Error {
        /// The Status code (410: the version is too old).
        code: u16,
        /// The Status reason.
        reason: String,
        /// The Status message.
        message: String,
    },
    /// Another event type, ignored.
    Unknown(String),
}

/// Decodes one LIST response page (`PodList`, `NodeList`, …).
pub fn decode_list<T: Resource>(body: &[u8]) -> Result<List<T>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Decodes one line of a watch stream (one JSON event).
pub fn decode_line<T: Resource>(line: &[u8]) -> Result<WatchLine<T>, serde_json::Error> {
    let kind: EventType = serde_json::from_slice(line)?;
    Ok(match kind.kind.as_str() {
        "ADDED" | "MODIFIED" => {
            WatchLine::Applied(serde_json::from_slice::<EventObject<T>>(line)?.object)
        }
        "DELETED" => WatchLine::Deleted(serde_json::from_slice::<EventObject<T>>(line)?.object),
        "BOOKMARK" => WatchLine::Bookmark(
            serde_json::from_slice::<EventObject<VersionOnly>>(line)?
                .object
                .metadata
                .resource_version,
        ),
        "ERROR" => {
            let status = serde_json::from_slice::<EventObject<Status>>(line)?.object;
            WatchLine::Error {
                code: status.code,
                reason: status.reason,
                message: status.message,
            }
        }
        _ => WatchLine::Unknown(kind.kind),
    })
}

/// The key of an object: `namespace/name`, or `name` when cluster-scoped.
pub fn key_of<T: Resource>(object: &T) -> String {
    let meta = object.meta();
    if meta.namespace.is_empty() {
        meta.name.clone()
    } else {
        format!("{}/{}", meta.namespace, meta.name)
    }
}

/// Where an informer's events go: a channel, and how an event becomes
/// the channel's message.
pub type Sink<T, M> = (mpsc::UnboundedSender<M>, fn(Event<T>) -> M);

/// One informer: runs until the receiver of its events is dropped. Events
/// go out as `M`, made by `wrap`, so that one channel can carry the events
/// of several kinds.
pub struct Informer<T, M> {
    client: ApiClient,
    spec: WatchSpec,
    timing: Timing,
    metrics: Metrics,
    out: mpsc::UnboundedSender<M>,
    wrap: fn(Event<T>) -> M,
    /// Key → resourceVersion of every object reported and not deleted.
    known: HashMap<String, String>,
}

impl<T: Resource, M> Informer<T, M> {
    /// An informer of `spec` reporting to `out`.
    pub fn new(
        client: ApiClient,
        spec: WatchSpec,
        timing: Timing,
        metrics: Metrics,
        (out, wrap): Sink<T, M>,
    ) -> Informer<T, M> {
        Informer {
            client,
            spec,
            timing,
            metrics,
            out,
            wrap,
            known: HashMap::new(),
        }
    }

    /// Reports `event`; false when the provider is gone.
    fn send(&self, event: Event<T>) -> bool {
        self.out.send((self.wrap)(event)).is_ok()
    }

    /// Lists and watches until the events' receiver is gone.
    pub async fn run(mut self)
    where
        M: Send,
    {
        let mut backoff = Backoff::new(&self.timing);
        'relist: loop {
            if self.out.is_closed() {
                return;
            }
            let mut version = match self.list().await {
                Ok(Some(version)) => version,
                Ok(None) => return,
                Err(e) => {
                    self.failed(&e);
                    backoff.wait().await;
                    continue;
                }
            };
            backoff.reset();
            loop {
                let started = tokio::time::Instant::now();
                match self.watch(&mut version, &mut backoff).await {
                    Ok(WatchEnd::Stopped) => return,
                    Ok(WatchEnd::Gone) => {
                        tracing::debug!(role = self.spec.kind, path = %self.spec.path, "watch version expired; relisting");
                        continue 'relist;
                    }
                    Ok(WatchEnd::Closed { events }) => {
                        // A server that ends watches at once would make this
                        // a busy loop: pause as after a failure.
                        if events == 0 && started.elapsed() < SHORT_WATCH {
                            backoff.wait().await;
                        }
                    }
                    Err(e) => {
                        self.failed(&e);
                        backoff.wait().await;
                    }
                }
            }
        }
    }

    fn failed(&self, e: &WatchError) {
        self.metrics.failures().with(&[self.spec.kind]).inc();
        tracing::warn!(
            role = self.spec.kind,
            error = %error_chain(e),
            "Kubernetes discovery request failed; the last targets are kept"
        );
    }

    fn selectors(&self) -> Vec<(&'static str, &str)> {
        let mut q = Vec::new();
        if !self.spec.label_selector.is_empty() {
            q.push(("labelSelector", self.spec.label_selector.as_str()));
        }
        if !self.spec.field_selector.is_empty() {
            q.push(("fieldSelector", self.spec.field_selector.as_str()));
        }
        q
    }

    /// Lists every page; reports the differences to what was known.
    /// Returns the list's resourceVersion, or `None` when the provider is
    /// gone.
    async fn list(&mut self) -> Result<Option<String>, WatchError> {
        const WHAT: &str = "LIST";
        let limit = self.timing.page_size.to_string();
        let mut token = String::new();
        let mut objects: Vec<T> = Vec::new();
        let version = loop {
            let mut query = self.selectors();
            query.push(("limit", &limit));
            if !token.is_empty() {
                query.push(("continue", &token));
            }
            let url = self.client.url(&self.spec.path, &query);
            let text = url.to_string();
            let response = self
                .client
                .get(url, self.timing.list_timeout)
                .await
                .map_err(|source| WatchError::Request {
                    what: WHAT,
                    url: text.clone(),
                    source,
                })?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|source| WatchError::Request {
                    what: WHAT,
                    url: text.clone(),
                    source,
                })?;
            if !status.is_success() {
                return Err(status_error(WHAT, text, status.as_u16(), &body));
            }
            let page = decode_list::<T>(&body).map_err(|source| WatchError::Json {
                what: WHAT,
                url: text,
                source,
            })?;
            objects.extend(page.items);
            if page.metadata.continue_token.is_empty() {
                break page.metadata.resource_version;
            }
            token = page.metadata.continue_token;
        };
        let mut now = HashMap::with_capacity(objects.len());
        // A nameless object cannot be told apart from another: skipped.
        for object in objects.into_iter().filter(|o| !o.meta().name.is_empty()) {
            let key = key_of(&object);
            let rv = object.meta().resource_version.clone();
            let event = match self.known.get(&key) {
                Some(old) if *old == rv => None,
                Some(_) => Some("update"),
                None => Some("add"),
            };
            now.insert(key, rv);
            if let Some(event) = event {
                self.count(event);
                if !self.send(Event::Applied(object)) {
                    return Ok(None);
                }
            }
        }
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|k| !now.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            self.count("delete");
            if !self.send(Event::Deleted(key)) {
                return Ok(None);
            }
        }
        self.known = now;
        Ok(Some(version))
    }

    fn count(&self, event: &str) {
        self.metrics.events.with(&[self.spec.kind, event]).inc();
    }

    /// One WATCH from `version`, advancing it with every event and bookmark.
    async fn watch(
        &mut self,
        version: &mut String,
        backoff: &mut Backoff,
    ) -> Result<WatchEnd, WatchError> {
        const WHAT: &str = "WATCH";
        let timeout = self.timing.watch_timeout.as_secs().max(1).to_string();
        let mut query = self.selectors();
        query.extend([
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", version.as_str()),
            ("timeoutSeconds", &timeout),
        ]);
        let url = self.client.url(&self.spec.path, &query);
        let text = url.to_string();
        // The server ends the watch at timeoutSeconds; the margin catches a
        // server (or proxy) that silently stops.
        let deadline = self.timing.watch_timeout + Duration::from_secs(30);
        let request = |source| WatchError::Request {
            what: WHAT,
            url: text.clone(),
            source,
        };
        let mut response = self.client.get(url, deadline).await.map_err(request)?;
        let status = response.status();
        if status.as_u16() == 410 {
            return Ok(WatchEnd::Gone);
        }
        if !status.is_success() {
            let body = response.bytes().await.map_err(request)?;
            return Err(status_error(WHAT, text, status.as_u16(), &body));
        }
        backoff.reset();
        let mut buf: Vec<u8> = Vec::new();
        let mut events = 0;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // A body cut by the deadline (or a reset) after events: the
                // server's timeout is the usual end, so this is one too.
                Err(e) if e.is_timeout() => break,
                Err(e) => return Err(request(e)),
            };
            buf.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(n) = memchr::memchr(b'\n', &buf[start..]) {
                let line = &buf[start..start + n];
                start += n + 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                events += 1;
                match self.event(line, version, &text) {
                    Ok(None) => {}
                    Ok(Some(end)) => return Ok(end),
                    Err(e @ WatchError::ErrorEvent { .. }) => return Err(e),
                    // A line that does not decode is skipped; the stream
                    // goes on.
                    Err(e) => self.failed(&e),
                }
            }
            buf.drain(..start);
            if buf.len() > MAX_LINE {
                return Err(WatchError::LineTooLong { url: text });
            }
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            Ok(WatchEnd::Closed { events })
        } else {
            Err(WatchError::Cut {
                url: text,
                bytes: buf.len(),
            })
        }
    }

    /// Handles one event line. `Some` ends the watch.
    fn event(
        &mut self,
        line: &[u8],
        version: &mut String,
        url: &str,
    ) -> Result<Option<WatchEnd>, WatchError> {
        let line = decode_line::<T>(line).map_err(|source| WatchError::Json {
            what: "WATCH",
            url: url.to_owned(),
            source,
        })?;
        let mut advance = |rv: &str| {
            // An object without a version cannot be resumed from.
            if !rv.is_empty() {
                *version = rv.to_owned();
            }
        };
        match line {
            WatchLine::Applied(object) => {
                let rv = object.meta().resource_version.clone();
                advance(&rv);
                if object.meta().name.is_empty() {
                    return Ok(None);
                }
                let key = key_of(&object);
                let known = self.known.insert(key, rv.clone());
                if known.as_ref() != Some(&rv) {
                    self.count(if known.is_some() { "update" } else { "add" });
                    if !self.send(Event::Applied(object)) {
                        return Ok(Some(WatchEnd::Stopped));
                    }
                }
            }
            WatchLine::Deleted(object) => {
                let key = key_of(&object);
                advance(&object.meta().resource_version);
                if self.known.remove(&key).is_some() {
                    self.count("delete");
                    if !self.send(Event::Deleted(key)) {
                        return Ok(Some(WatchEnd::Stopped));
                    }
                }
            }
            WatchLine::Bookmark(rv) => advance(&rv),
            WatchLine::Error { code: 410, .. } => return Ok(Some(WatchEnd::Gone)),
            WatchLine::Error {
                code,
                reason,
                message,
            } => {
                return Err(WatchError::ErrorEvent {
                    url: url.to_owned(),
                    code,
                    reason,
                    message,
                });
            }
            WatchLine::Unknown(kind) => tracing::debug!(
                role = self.spec.kind,
                event = kind,
                "unknown watch event type ignored"
            ),
        }
        Ok(None)
    }
}

/// The error of a non-2xx answer: the Status message when the body is one.
fn status_error(what: &'static str, url: String, status: u16, body: &[u8]) -> WatchError {
    let message = match serde_json::from_slice::<Status>(body) {
        Ok(s) if !s.message.is_empty() => s.message,
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    };
    WatchError::Status {
        what,
        url,
        status,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake_api::{FakeApi, Reply};
    use super::super::objects::ObjectMeta;
    use super::*;
    use crate::config::{ApiAccess, HttpClientConfig};
    use std::collections::BTreeMap;

    /// The smallest watched object: only its metadata.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Thing {
        #[serde(default)]
        metadata: ObjectMeta,
    }

    impl Resource for Thing {
        fn meta(&self) -> &ObjectMeta {
            &self.metadata
        }
    }

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("tests/data/kubernetes/{name}")).unwrap()
    }

    const FAST: Timing = TEST_TIMING;

    struct Run {
        api: FakeApi,
        rx: mpsc::UnboundedReceiver<Event<Thing>>,
        registry: Registry,
        task: tokio::task::JoinHandle<()>,
        /// key → resourceVersion, as the events say.
        state: BTreeMap<String, String>,
        /// Every Applied event's key and version, in order.
        applied: Vec<(String, String)>,
    }

    impl Run {
        async fn start(api: FakeApi, spec: WatchSpec) -> Run {
            let http = HttpClientConfig {
                authorization: Some(crate::config::Authorization {
                    kind: "Bearer".into(),
                    credentials: "sa-token".into(),
                }),
                ..HttpClientConfig::default()
            };
            let access = ApiAccess::Server {
                url: api.url.clone(),
                http: Box::new(http),
            };
            let client =
                ApiClient::new(&access, &super::super::client::InCluster::from_process()).unwrap();
            let registry = Registry::new();
            let (tx, rx) = mpsc::unbounded_channel();
            let informer = Informer::new(client, spec, FAST, Metrics::new(&registry), (tx, |e| e));
            Run {
                api,
                rx,
                registry,
                task: tokio::spawn(informer.run()),
                state: BTreeMap::new(),
                applied: Vec::new(),
            }
        }

        /// Applies events until the state is `want` (bounded in time).
        async fn converge(&mut self, want: &[(&str, &str)]) {
            let want: BTreeMap<String, String> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while self.state != want {
                let event = tokio::time::timeout_at(deadline, self.rx.recv())
                    .await
                    .unwrap_or_else(|_| panic!("state {:?}, want {want:?}", self.state))
                    .unwrap();
                match event {
                    Event::Applied(t) => {
                        let (k, v) = (key_of(&t), t.metadata.resource_version.clone());
                        self.applied.push((k.clone(), v.clone()));
                        self.state.insert(k, v);
                    }
                    Event::Deleted(k) => {
                        assert!(self.state.remove(&k).is_some(), "{k} deleted twice");
                    }
                }
            }
        }

        /// Waits until `n` requests of `verb` were made.
        async fn requests(&self, verb: &str, n: usize) {
            for _ in 0..1000 {
                if self.api.count(verb) >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{} {verb} requests, want {n}", self.api.count(verb));
        }

        fn failures(&self) -> String {
            self.registry
                .render()
                .lines()
                .find(|l| l.starts_with("levee_sd_kubernetes_failures_total{"))
                .unwrap_or("none")
                .to_owned()
        }
    }

    fn pods(label: &str, field: &str) -> WatchSpec {
        WatchSpec {
            kind: "pod",
            path: "/api/v1/pods".into(),
            label_selector: label.into(),
            field_selector: field.into(),
        }
    }

    #[tokio::test]
    async fn paged_list_then_watch_with_bookmarks() {
        let api = FakeApi::start().await;
        api.script(
            "LIST /api/v1/pods",
            [
                Reply::Body(data("watch-pods-page1.json")),
                Reply::Body(data("watch-pods-page2.json")),
            ],
        );
        api.script(
            "WATCH /api/v1/pods",
            [
                Reply::Body(data("watch-pods-events.jsonl")),
                Reply::Hang(String::new()),
            ],
        );
        let mut run = Run::start(api, pods("app=web", "spec.nodeName=node-1")).await;
        run.converge(&[
            ("default/web-a", "102"),
            ("default/web-c", "92"),
            ("default/web-d", "101"),
        ])
        .await;
        run.requests("WATCH", 2).await;
        let seen = run.api.seen();
        let q = |i: usize, k: &str| seen[i].query.get(k).cloned().unwrap_or_default();
        assert_eq!((seen[0].verb, seen[1].verb), ("LIST", "LIST"));
        assert_eq!(q(0, "limit"), "2");
        assert_eq!(q(0, "continue"), "");
        assert!(q(1, "continue").starts_with("eyJ2Ij"), "{seen:?}");
        for i in 0..4 {
            assert_eq!(q(i, "labelSelector"), "app=web");
            assert_eq!(q(i, "fieldSelector"), "spec.nodeName=node-1");
        }
        // The first watch starts at the list's version; the second at the
        // last event's (after the bookmark at 105, the deletion at 106).
        assert_eq!(seen[2].verb, "WATCH");
        assert_eq!(q(2, "resourceVersion"), "100");
        assert_eq!(q(2, "allowWatchBookmarks"), "true");
        assert_eq!(q(2, "timeoutSeconds"), "5");
        assert_eq!(q(3, "resourceVersion"), "106");
        assert!(
            seen.iter().all(|s| s.path == "/api/v1/pods"
                && s.authorization.as_deref() == Some("Bearer sa-token"))
        );
        assert_eq!(run.failures(), "none");
        let events = run.registry.render();
        assert!(
            events.contains(r#"levee_sd_kubernetes_events_total{role="pod",event="add"} 4"#),
            "{events}"
        );
        assert!(
            events.contains(r#"levee_sd_kubernetes_events_total{role="pod",event="update"} 1"#),
            "{events}"
        );
        assert!(
            events.contains(r#"levee_sd_kubernetes_events_total{role="pod",event="delete"} 1"#),
            "{events}"
        );
        run.task.abort();
    }

    #[tokio::test]
    async fn faults_converge_without_duplicates() {
        let api = FakeApi::start().await;
        let events = data("watch-pods-events.jsonl");
        // Cut inside the second event.
        let cut = &events[..events.find("\n").unwrap() + 200];
        let full = format!(
            "{{\"kind\":\"PodList\",\"metadata\":{{\"resourceVersion\":\"100\"}},\"items\":{}}}",
            serde_json::to_string(
                &serde_json::from_str::<serde_json::Value>(&data("watch-pods-page1.json")).unwrap()
                    ["items"]
            )
            .unwrap()
        );
        api.script(
            "LIST /api/v1/pods",
            [
                Reply::Status(500, data("watch-status-500.json")),
                Reply::Status(500, data("watch-status-500.json")),
                Reply::Body("{\"kind\":\"PodList\",\"items\":[{\"metadata\":".into()),
                Reply::Body(full),
                Reply::Body(data("watch-pods-relist.json")),
            ],
        );
        api.script(
            "WATCH /api/v1/pods",
            [
                Reply::Body(cut.to_owned()),
                Reply::Body(format!(
                    "not json\n{}\n{}",
                    r#"{"type":"ADDED","object":{"metadata":{"resourceVersion":"150"}}}"#,
                    data("watch-error-410.jsonl")
                )),
                Reply::Status(410, data("watch-status-410.json")),
                Reply::Hang(String::new()),
            ],
        );
        let mut run = Run::start(api, pods("", "")).await;
        run.converge(&[
            ("default/web-a", "102"),
            ("default/web-d", "101"),
            ("default/web-e", "260"),
        ])
        .await;
        run.requests("WATCH", 4).await;
        let seen = run.api.seen();
        let watches: Vec<_> = seen.iter().filter(|s| s.verb == "WATCH").collect();
        // After the cut, the watch resumed from the last whole event (101).
        assert_eq!(watches[1].query["resourceVersion"], "101");
        // After the ERROR 410 event: a relist (300), whose watch got 410:
        // another relist, the same 300.
        assert_eq!(watches[2].query["resourceVersion"], "300");
        assert_eq!(watches[3].query["resourceVersion"], "300");
        assert!(!seen.iter().any(|s| s.query.contains_key("labelSelector")));
        // Two 500s, one malformed list, one cut stream, one bad line.
        assert_eq!(
            run.failures(),
            r#"levee_sd_kubernetes_failures_total{role="pod"} 5"#
        );
        // Each object version was reported once, relists included.
        let mut applied = run.applied.clone();
        applied.sort();
        applied.dedup();
        assert_eq!(applied.len(), run.applied.len(), "{:?}", run.applied);
        run.task.abort();
    }

    #[tokio::test]
    async fn the_informer_stops_when_its_provider_is_gone() {
        let api = FakeApi::start().await;
        api.script(
            "LIST /api/v1/pods",
            [Reply::Body(data("watch-pods-page2.json"))],
        );
        api.script(
            "WATCH /api/v1/pods",
            [Reply::Body(data("watch-pods-events.jsonl"))],
        );
        let run = Run::start(api, pods("", "")).await;
        drop(run.rx);
        tokio::time::timeout(Duration::from_secs(10), run.task)
            .await
            .expect("the informer ended")
            .unwrap();
    }

    proptest::proptest! {
        /// Any bytes, and any cut of a real event or list, decode or are
        /// refused: never a panic.
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512), cut in 0usize..8000) {
            use super::super::objects::{Node, Pod};
            let _ = decode_line::<Pod>(&bytes);
            let _ = decode_list::<Node>(&bytes);
            let events = data("watch-pods-events.jsonl");
            let line = events.lines().next().unwrap().as_bytes();
            let _ = decode_line::<Pod>(&line[..cut.min(line.len())]);
            let list = data("watch-pods-page1.json");
            let _ = decode_list::<Pod>(&list.as_bytes()[..cut.min(list.len())]);
        }
    }
}
