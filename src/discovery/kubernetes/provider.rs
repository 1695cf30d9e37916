//! One `kubernetes_sd_configs` entry at work: the informers its role needs
//! (per namespace listed, or all namespaces), the objects they report (the
//! cache: typed and trimmed, see [`super::objects`]), and the target groups
//! built from them by [`super::roles`], sent to the discovery manager when
//! they change (an empty group when an object goes).
//!
//! What each role watches, as Prometheus 2.42 does: `pod` pods (and nodes
//! with `attach_metadata: {node: true}`), `node` nodes, `service` services,
//! `endpoints` endpoints, services and pods, `endpointslice` endpoint slices,
//! services and pods (both also nodes with node metadata attached). A change
//! of a joined object re-sends the groups it is part of: a service its
//! endpoints (or slices), a pod the endpoints that target it, a node the
//! pods on it.

use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::client::{ApiClient, InCluster};
use super::objects::{EndpointSlice, Endpoints, Node, ObjectReference, Pod, Resource, Service};
use super::roles::{self, Related};
use super::watch::{Event, Informer, Metrics, Timing, WatchSpec, key_of};
use crate::config::{KubernetesRole, KubernetesSdConfig};
use crate::discovery::{GroupSender, TargetGroup};
use crate::http_client::error_chain;
use crate::selfmon::Registry;

/// A change reported by one of the provider's informers.
#[derive(Debug)]
enum Change {
    Pod(Event<Pod>),
    Node(Event<Node>),
    Service(Event<Service>),
    Endpoints(Event<Endpoints>),
    Slice(Event<EndpointSlice>),
}

/// Starts the provider of `config`, reporting to `out`.
pub fn spawn(
    config: &KubernetesSdConfig,
    out: GroupSender,
    registry: &Registry,
) -> tokio::task::JoinHandle<()> {
    let provider = Provider::new(config.clone(), out, registry);
    tokio::spawn(provider.run(InCluster::from_process(), Timing::default()))
}

/// The provider's state: its config, where it reports, and the cache.
struct Provider {
    config: KubernetesSdConfig,
    out: GroupSender,
    metrics: Metrics,
    pods: HashMap<String, Pod>,
    nodes: HashMap<String, Node>,
    services: HashMap<String, Service>,
    endpoints: HashMap<String, Endpoints>,
    slices: HashMap<String, EndpointSlice>,
}

/// The provider's informers, all reporting to one channel.
struct Informers {
    client: ApiClient,
    timing: Timing,
    metrics: Metrics,
    tx: mpsc::UnboundedSender<Change>,
    tasks: JoinSet<()>,
}

impl Informers {
    fn start<T: Resource>(&mut self, spec: WatchSpec, wrap: fn(Event<T>) -> Change) {
        let informer = Informer::new(
            self.client.clone(),
            spec,
            self.timing,
            self.metrics.clone(),
            (self.tx.clone(), wrap),
        );
        self.tasks.spawn(informer.run());
    }
}

/// The cache lent to the endpoints roles.
struct Lookup<'a> {
    pods: &'a HashMap<String, Pod>,
    nodes: Option<&'a HashMap<String, Node>>,
    services: &'a HashMap<String, Service>,
}

impl Related for Lookup<'_> {
    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services.get(&format!("{namespace}/{name}"))
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods.get(&format!("{namespace}/{name}"))
    }

    fn node(&self, name: &str) -> Option<&Node> {
        self.nodes?.get(name)
    }
}

impl Provider {
    fn new(config: KubernetesSdConfig, out: GroupSender, registry: &Registry) -> Provider {
        Provider {
            config,
            out,
            metrics: Metrics::new(registry),
            pods: HashMap::new(),
            nodes: HashMap::new(),
            services: HashMap::new(),
            endpoints: HashMap::new(),
            slices: HashMap::new(),
        }
    }

    /// Connects (retrying while the client cannot be made: a token or
    /// kubeconfig not there yet), starts the informers and turns their
    /// changes into groups until aborted.
    async fn run(mut self, in_cluster: InCluster, timing: Timing) {
        let role = self.config.role.as_str();
        let mut delay = timing.backoff_min;
        let client = loop {
            match ApiClient::new(&self.config.api, &in_cluster) {
                Ok(client) => break client,
                Err(e) => {
                    self.metrics.failed(role);
                    tracing::error!(role, error = %error_chain(&e), "Kubernetes discovery cannot reach the API server; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(timing.backoff_max);
                }
            }
        };
        let Some(namespaces) = self.namespaces(&client) else {
            return;
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut set = Informers {
            client,
            timing,
            metrics: self.metrics.clone(),
            tx,
            tasks: JoinSet::new(),
        };
        if self.config.role == KubernetesRole::Node || self.config.attach_node_metadata {
            set.start(self.spec(KubernetesRole::Node, None), wrap_node);
        }
        for ns in &namespaces {
            let spec = |kind| self.spec(kind, ns.as_deref());
            match self.config.role {
                KubernetesRole::Node => {}
                KubernetesRole::Pod => set.start(spec(KubernetesRole::Pod), wrap_pod),
                KubernetesRole::Service => set.start(spec(KubernetesRole::Service), wrap_service),
                KubernetesRole::Endpoints | KubernetesRole::EndpointSlice => {
                    set.start(spec(KubernetesRole::Pod), wrap_pod);
                    set.start(spec(KubernetesRole::Service), wrap_service);
                    if self.config.role == KubernetesRole::Endpoints {
                        set.start(spec(KubernetesRole::Endpoints), wrap_endpoints);
                    } else {
                        set.start(spec(KubernetesRole::EndpointSlice), wrap_slice);
                    }
                }
            }
        }
        let Informers { tx, tasks, .. } = set;
        drop(tx);
        // The informers run as long as the provider: aborting it drops
        // `tasks`, which aborts them.
        let _tasks = tasks;
        while let Some(change) = rx.recv().await {
            let groups = self.apply(change);
            self.out.send(groups);
        }
    }

    /// The namespaces to watch (`None`: all), or `None` when
    /// `own_namespace` is asked for and cannot be known.
    fn namespaces(&self, client: &ApiClient) -> Option<Vec<Option<String>>> {
        let ns = &self.config.namespaces;
        let mut names: Vec<Option<String>> = ns.names.iter().cloned().map(Some).collect();
        if ns.own_namespace {
            match client.own_namespace() {
                Some(own) => names.push(Some(own.to_owned())),
                None => {
                    self.metrics.failed(self.config.role.as_str());
                    tracing::error!(
                        role = self.config.role.as_str(),
                        "namespaces.own_namespace: the service account's namespace file cannot be read; nothing is discovered"
                    );
                    return None;
                }
            }
        }
        names.sort();
        names.dedup();
        if names.is_empty() {
            names.push(None);
        }
        Some(names)
    }

    fn spec(&self, kind: KubernetesRole, namespace: Option<&str>) -> WatchSpec {
        let (group, resource) = match kind {
            KubernetesRole::Pod => ("/api/v1", "pods"),
            KubernetesRole::Node => ("/api/v1", "nodes"),
            KubernetesRole::Service => ("/api/v1", "services"),
            KubernetesRole::Endpoints => ("/api/v1", "endpoints"),
            KubernetesRole::EndpointSlice => ("/apis/discovery.k8s.io/v1", "endpointslices"),
        };
        let path = match namespace {
            Some(ns) if kind != KubernetesRole::Node => {
                format!("{group}/namespaces/{ns}/{resource}")
            }
            _ => format!("{group}/{resource}"),
        };
        let selector = self.config.selector(kind);
        WatchSpec {
            kind: kind.as_str(),
            path,
            label_selector: selector.map(|s| s.label.clone()).unwrap_or_default(),
            field_selector: selector.map(|s| s.field.clone()).unwrap_or_default(),
        }
    }

    fn lookup(&self) -> Lookup<'_> {
        Lookup {
            pods: &self.pods,
            nodes: self.config.attach_node_metadata.then_some(&self.nodes),
            services: &self.services,
        }
    }

    /// Updates the cache with `change`; returns the groups it changed.
    fn apply(&mut self, change: Change) -> Vec<TargetGroup> {
        let role = self.config.role;
        match change {
            Change::Pod(e) => {
                let (key, pod) = store(&mut self.pods, e);
                match role {
                    KubernetesRole::Pod => vec![self.pod_group(&key, pod.as_ref())],
                    KubernetesRole::Endpoints => self.endpoints_targeting(&key),
                    KubernetesRole::EndpointSlice => self.slices_targeting(&key),
                    _ => Vec::new(),
                }
            }
            Change::Node(e) => {
                let (key, node) = store(&mut self.nodes, e);
                match role {
                    KubernetesRole::Node => match &node {
                        Some(node) => roles::node::group(node).into_iter().collect(),
                        None => vec![roles::removed(roles::node::source(&key))],
                    },
                    KubernetesRole::Pod => self
                        .pods
                        .iter()
                        .filter(|(_, p)| p.spec.node_name == key)
                        .map(|(k, p)| self.pod_group(k, Some(p)))
                        .collect(),
                    KubernetesRole::Endpoints => self
                        .endpoints
                        .values()
                        .filter(|e| {
                            e.subsets.iter().any(|s| {
                                s.addresses
                                    .iter()
                                    .chain(&s.not_ready_addresses)
                                    .any(|a| a.node_name.as_deref() == Some(&key))
                            })
                        })
                        .map(|e| roles::endpoints::group(e, &self.lookup()))
                        .collect(),
                    KubernetesRole::EndpointSlice => self
                        .slices
                        .values()
                        .filter(|s| {
                            s.endpoints
                                .iter()
                                .any(|e| e.node_name.as_deref() == Some(&key))
                        })
                        .map(|s| roles::endpointslice::group(s, &self.lookup()))
                        .collect(),
                    KubernetesRole::Service => Vec::new(),
                }
            }
            Change::Service(e) => {
                let (key, svc) = store(&mut self.services, e);
                match role {
                    KubernetesRole::Service => vec![match &svc {
                        Some(svc) => roles::service::group(svc),
                        None => {
                            let (ns, name) = split(&key);
                            roles::removed(roles::service::source(ns, name))
                        }
                    }],
                    KubernetesRole::Endpoints => self
                        .endpoints
                        .get(&key)
                        .map(|e| roles::endpoints::group(e, &self.lookup()))
                        .into_iter()
                        .collect(),
                    KubernetesRole::EndpointSlice => {
                        let (ns, name) = split(&key);
                        self.slices
                            .values()
                            .filter(|s| {
                                s.metadata.namespace == ns
                                    && s.metadata
                                        .labels
                                        .get("kubernetes.io/service-name")
                                        .map(String::as_str)
                                        == Some(name)
                            })
                            .map(|s| roles::endpointslice::group(s, &self.lookup()))
                            .collect()
                    }
                    _ => Vec::new(),
                }
            }
            Change::Endpoints(e) => {
                let (key, eps) = store(&mut self.endpoints, e);
                vec![match &eps {
                    Some(eps) => roles::endpoints::group(eps, &self.lookup()),
                    None => {
                        let (ns, name) = split(&key);
                        roles::removed(roles::endpoints::source(ns, name))
                    }
                }]
            }
            Change::Slice(e) => {
                let (key, slice) = store(&mut self.slices, e);
                vec![match &slice {
                    Some(slice) => roles::endpointslice::group(slice, &self.lookup()),
                    None => {
                        let (ns, name) = split(&key);
                        roles::removed(roles::endpointslice::source(ns, name))
                    }
                }]
            }
        }
    }

    fn pod_group(&self, key: &str, pod: Option<&Pod>) -> TargetGroup {
        match pod {
            Some(pod) => {
                let node = self
                    .config
                    .attach_node_metadata
                    .then(|| self.nodes.get(&pod.spec.node_name))
                    .flatten();
                roles::pod::group(pod, node)
            }
            None => {
                let (ns, name) = split(key);
                roles::removed(roles::pod::source(ns, name))
            }
        }
    }

    fn endpoints_targeting(&self, pod_key: &str) -> Vec<TargetGroup> {
        self.endpoints
            .values()
            .filter(|e| {
                e.subsets.iter().any(|s| {
                    s.addresses
                        .iter()
                        .chain(&s.not_ready_addresses)
                        .any(|a| targets_pod(a.target_ref.as_ref(), pod_key))
                })
            })
            .map(|e| roles::endpoints::group(e, &self.lookup()))
            .collect()
    }

    fn slices_targeting(&self, pod_key: &str) -> Vec<TargetGroup> {
        self.slices
            .values()
            .filter(|s| {
                s.endpoints
                    .iter()
                    .any(|e| targets_pod(e.target_ref.as_ref(), pod_key))
            })
            .map(|s| roles::endpointslice::group(s, &self.lookup()))
            .collect()
    }
}

impl Metrics {
    fn failed(&self, role: &str) {
        self.failures().with(&[role]).inc();
    }
}

/// Applies `event` to `cache`: the object's key and what is now cached.
fn store<T: Resource>(cache: &mut HashMap<String, T>, event: Event<T>) -> (String, Option<T>) {
    match event {
        Event::Applied(object) => {
            let key = key_of(&object);
            cache.insert(key.clone(), object.clone());
            (key, Some(object))
        }
        Event::Deleted(key) => {
            cache.remove(&key);
            (key, None)
        }
    }
}

/// `namespace/name` → (namespace, name).
fn split(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

fn targets_pod(target: Option<&ObjectReference>, pod_key: &str) -> bool {
    let (ns, name) = split(pod_key);
    target.is_some_and(|t| t.kind == "Pod" && t.namespace == ns && t.name == name)
}

fn wrap_pod(e: Event<Pod>) -> Change {
    Change::Pod(e)
}

fn wrap_node(e: Event<Node>) -> Change {
    Change::Node(e)
}

fn wrap_service(e: Event<Service>) -> Change {
    Change::Service(e)
}

fn wrap_endpoints(e: Event<Endpoints>) -> Change {
    Change::Endpoints(e)
}

fn wrap_slice(e: Event<EndpointSlice>) -> Change {
    Change::Slice(e)
}

#[cfg(test)]
mod tests {
    use super::super::fake_api::{FakeApi, Reply};
    use super::super::watch::TEST_TIMING;
    use super::*;
    use crate::config::{ApiAccess, NamespaceDiscovery, RoleSelector};
    use crate::discovery::group_channel;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("tests/data/kubernetes/{name}")).unwrap()
    }

    /// source → (addresses, a label of the group) as last reported.
    type Seen = BTreeMap<String, (Vec<String>, String)>;

    const ZONE: &str = "__meta_kubernetes_node_label_topology_kubernetes_io_zone";

    fn server(url: &str) -> ApiAccess {
        ApiAccess::Server {
            url: url.to_owned(),
            http: Box::default(),
        }
    }

    /// Reads groups into `seen` until its non-empty groups are `want`.
    async fn wait(
        seen: &mut Seen,
        rx: &mut crate::discovery::GroupReceiver,
        label: &str,
        want: &Seen,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let live: Seen = seen
                .iter()
                .filter(|(_, (a, _))| !a.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if live == *want {
                return;
            }
            let groups = tokio::time::timeout_at(deadline, rx.changed())
                .await
                .unwrap_or_else(|_| panic!("seen {seen:?}, want {want:?}"));
            for g in groups {
                let addrs = g
                    .targets
                    .iter()
                    .map(|t| t.get("__address__").unwrap_or_default().to_owned())
                    .collect();
                let z = g.labels.get(label).unwrap_or_default().to_owned();
                seen.insert(g.source, (addrs, z));
            }
        }
    }

    #[tokio::test]
    async fn pods_of_one_node_with_node_metadata_follow_the_watches() {
        let api = FakeApi::start().await;
        let pods = "/api/v1/namespaces/default/pods";
        api.script(
            &format!("LIST {pods}"),
            [
                Reply::Status(500, data("watch-status-500.json")),
                Reply::Body(data("watch-pods-page1.json")),
                Reply::Body(data("watch-pods-page2.json")),
            ],
        );
        api.script(
            &format!("WATCH {pods}"),
            [
                Reply::Body(data("watch-pods-events.jsonl")),
                Reply::Hang(String::new()),
            ],
        );
        api.script(
            "LIST /api/v1/nodes",
            [Reply::Body(data("watch-nodes.json"))],
        );
        // Node watches that end at once until the node's event is scripted.
        api.script("WATCH /api/v1/nodes", [Reply::Body(String::new())]);
        let config = KubernetesSdConfig {
            role: KubernetesRole::Pod,
            api: ApiAccess::Server {
                url: api.url.clone(),
                http: Box::default(),
            },
            namespaces: NamespaceDiscovery {
                names: vec!["default".into()],
                own_namespace: false,
            },
            selectors: vec![RoleSelector {
                role: KubernetesRole::Pod,
                label: String::new(),
                field: "spec.nodeName=node-1".into(),
            }],
            attach_node_metadata: true,
        };
        let registry = Registry::new();
        let (tx, mut rx) = group_channel();
        let provider = Provider::new(config, tx, &registry);
        let task = tokio::spawn(provider.run(InCluster::from_process(), TEST_TIMING));

        let mut seen = Seen::new();
        let converge = |want: Vec<(&str, &str, &str)>| {
            want.into_iter()
                .map(|(s, a, z)| (s.to_owned(), (vec![a.to_owned()], z.to_owned())))
                .collect::<Seen>()
        };
        // After the 500, the list; then the watch: web-d added, web-a
        // modified, web-b deleted.
        wait(
            &mut seen,
            &mut rx,
            ZONE,
            &converge(vec![
                ("pod/default/web-a", "127.0.1.1:8080", "zone-1"),
                ("pod/default/web-c", "127.0.1.3:8080", "zone-1"),
                ("pod/default/web-d", "127.0.1.4:8080", "zone-1"),
            ]),
        )
        .await;
        assert_eq!(seen["pod/default/web-b"].0, Vec::<String>::new());
        let q = api.seen();
        assert!(
            q.iter()
                .filter(|s| s.path == pods)
                .all(|s| s.query["fieldSelector"] == "spec.nodeName=node-1"),
            "{q:?}"
        );
        assert!(
            q.iter()
                .filter(|s| s.path == "/api/v1/nodes")
                .all(|s| !s.query.contains_key("fieldSelector"))
        );

        // The node moves zone: its pods are sent again with its new labels.
        api.script(
            "WATCH /api/v1/nodes",
            [
                Reply::Body(data("watch-nodes-events.jsonl")),
                Reply::Hang(String::new()),
            ],
        );
        wait(
            &mut seen,
            &mut rx,
            ZONE,
            &converge(vec![
                ("pod/default/web-a", "127.0.1.1:8080", "zone-2"),
                ("pod/default/web-c", "127.0.1.3:8080", "zone-2"),
                ("pod/default/web-d", "127.0.1.4:8080", "zone-2"),
            ]),
        )
        .await;
        assert!(
            registry
                .render()
                .contains(r#"levee_sd_kubernetes_failures_total{role="pod"} 1"#),
            "{}",
            registry.render()
        );
        task.abort();
    }

    #[tokio::test]
    async fn endpoints_are_joined_with_their_service_and_pods_and_follow_the_service() {
        let api = FakeApi::start().await;
        let ns = "/api/v1/namespaces/default";
        api.script(
            &format!("LIST {ns}/pods"),
            [
                Reply::Body(data("watch-pods-page1.json")),
                Reply::Body(data("watch-pods-page2.json")),
            ],
        );
        api.script(&format!("WATCH {ns}/pods"), [Reply::Hang(String::new())]);
        api.script(
            &format!("LIST {ns}/services"),
            [Reply::Body(data("watch-services.json"))],
        );
        api.script(
            &format!("WATCH {ns}/services"),
            [Reply::Body(String::new())],
        );
        api.script(
            &format!("LIST {ns}/endpoints"),
            [Reply::Body(data("watch-endpoints.json"))],
        );
        api.script(
            &format!("WATCH {ns}/endpoints"),
            [Reply::Hang(String::new())],
        );
        let config = KubernetesSdConfig {
            role: KubernetesRole::Endpoints,
            api: server(&api.url),
            namespaces: NamespaceDiscovery {
                names: vec!["default".into()],
                own_namespace: false,
            },
            selectors: Vec::new(),
            attach_node_metadata: false,
        };
        let registry = Registry::new();
        let (tx, mut rx) = group_channel();
        let task = tokio::spawn(
            Provider::new(config, tx, &registry).run(InCluster::from_process(), TEST_TIMING),
        );
        let tier = "__meta_kubernetes_service_label_tier";
        let want = |t: &str| {
            Seen::from([(
                "endpoints/default/web".to_owned(),
                (
                    vec!["127.0.1.1:8080".to_owned(), "127.0.1.3:8080".to_owned()],
                    t.to_owned(),
                ),
            )])
        };
        let mut seen = Seen::new();
        wait(&mut seen, &mut rx, tier, &want("front")).await;
        // The service changes: the endpoints' group follows, joined with the
        // pods (whichever of them came first).
        api.script(
            &format!("WATCH {ns}/services"),
            [
                Reply::Body(data("watch-services-events.jsonl")),
                Reply::Hang(String::new()),
            ],
        );
        let joined = |g: &TargetGroup| {
            g.labels.get(tier) == Some("edge")
                && g.targets.len() == 2
                && g.targets
                    .iter()
                    .all(|t| t.get("__meta_kubernetes_pod_name").is_some())
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut last = None;
        while !last.as_ref().is_some_and(joined) {
            let groups = tokio::time::timeout_at(deadline, rx.changed())
                .await
                .unwrap_or_else(|_| panic!("last group {last:?}"));
            for g in groups {
                assert_eq!(g.source, "endpoints/default/web");
                last = Some(g);
            }
        }
        task.abort();
    }
}
