//! Config loading end to end: a realistic prometheus.yml with anchors and
//! merge keys, the defaults table, the embedded example, every bad input in
//! `tests/data/config/bad/` against the exact message in its `# expect:`
//! header, and random input that must never panic.

use std::path::{Path, PathBuf};

use levee::config::{Config, ConfigError, Duration, ProblemKind, ProtobufMessage, Scheme};
use levee::http_client::{self, HttpSettings, Owner};
use levee::labels::Labels;

fn data(name: &str) -> PathBuf {
    Path::new("tests/data/config").join(name)
}

/// The `Authorization` value a client built from `http` sends.
fn auth_header(http: &levee::config::HttpClientConfig) -> String {
    let settings = HttpSettings::from_config(http, std::time::Duration::from_secs(1));
    let client = http_client::build(&Owner::ScrapeJob("t".into()), false, &settings).unwrap();
    let value = client.auth.expect("credentials").value();
    value.to_str().unwrap().to_owned()
}

fn d(text: &str) -> Duration {
    Duration::parse(text).unwrap()
}

#[test]
fn realistic_prometheus_yml_loads() {
    let config = Config::load_file(&data("prometheus.yml")).unwrap();

    let g = &config.global;
    assert_eq!(g.scrape_interval, d("15s"));
    assert_eq!(g.scrape_timeout, d("10s"));
    assert_eq!(g.evaluation_interval, d("15s"));
    assert_eq!(
        g.external_labels,
        Labels::from_pairs([("cluster", "prod-eu-1"), ("replica", "1")])
    );
    assert_eq!(config.notes.len(), 1);
    assert!(config.notes[0].starts_with("global.evaluation_interval: accepted and unused"));

    let jobs: Vec<&str> = config
        .scrape_configs
        .iter()
        .map(|j| j.job_name.as_str())
        .collect();
    assert_eq!(jobs, ["prometheus", "node", "node-canary", "blackbox"]);

    let prom = &config.scrape_configs[0];
    assert_eq!(
        (prom.scrape_interval, prom.scrape_timeout),
        (d("5s"), d("5s"))
    );
    assert_eq!(prom.static_configs[0].targets, ["localhost:9090"]);

    let node = &config.scrape_configs[1];
    assert_eq!(
        (node.scrape_interval, node.scrape_timeout),
        (d("30s"), d("20s"))
    );
    assert_eq!(node.scheme, Scheme::Https);
    assert_eq!(node.metrics_path, "/metrics");
    assert_eq!(node.params["collect[]"], ["cpu", "meminfo"]);
    assert!(node.honor_labels);
    assert!(!node.honor_timestamps);
    assert_eq!(node.sample_limit, 50_000);
    assert_eq!(node.label_limit, 64);
    assert_eq!(node.label_name_length_limit, 128);
    assert_eq!(node.label_value_length_limit, 2048);
    assert_eq!(node.body_size_limit.0, 10 << 20);
    let auth = node.http.basic_auth.as_ref().unwrap();
    assert_eq!(auth.username, "prometheus");
    assert_eq!(auth.password.expose(), "s3cret-from-file");
    assert_eq!(
        auth.password.file(),
        Some(data("secrets/node-password").as_path())
    );
    let tls = &node.http.tls_config;
    assert!(tls.ca.as_ref().unwrap().bytes.starts_with(b"-----BEGIN"));
    assert_eq!(tls.server_name.as_deref(), Some("node.internal"));
    assert!(!tls.insecure_skip_verify);
    assert_eq!(node.static_configs.len(), 2);
    assert_eq!(
        node.static_configs[0].targets,
        ["10.0.0.1:9100", "10.0.0.2:9100"]
    );
    assert_eq!(
        node.static_configs[0].labels,
        Labels::from_pairs([("env", "production"), ("rack", "42")])
    );
    assert_eq!(node.relabel_configs.len(), 2);
    assert_eq!(node.relabel_configs[0].replacement.as_deref(), Some("${1}"));
    assert_eq!(node.relabel_configs[1].action.as_deref(), Some("labeldrop"));
    assert_eq!(node.metric_relabel_configs.len(), 1);

    // The merge key copies node's settings; explicit keys win.
    let canary = &config.scrape_configs[2];
    assert_eq!(canary.scrape_interval, d("30s"));
    assert_eq!(canary.scheme, Scheme::Https);
    assert_eq!(canary.http, node.http);
    assert_eq!(canary.static_configs[0].targets, ["10.0.1.1:9100"]);
    assert_eq!(
        canary.static_configs[0].labels,
        Labels::from_pairs([("canary", "true")])
    );

    let bb = &config.scrape_configs[3];
    assert_eq!(
        (bb.scrape_interval, bb.scrape_timeout),
        (d("15s"), d("10s"))
    );
    assert_eq!(bb.metrics_path, "/probe");
    assert_eq!(auth_header(&bb.http), "Bearer tok3n");
    assert!(!bb.http.follow_redirects);
    assert!(!bb.http.enable_http2);
    assert_eq!(bb.metric_relabel_configs, node.metric_relabel_configs);

    let rw = &config.remote_write[0];
    assert_eq!(rw.name, "local-prometheus");
    assert_eq!(rw.remote_timeout, d("1m"));
    assert_eq!(rw.headers["X-Scope-OrgID"], "tenant-1");
    assert_eq!(rw.write_relabel_configs.len(), 1);
    let q = rw.queue_config;
    assert_eq!(
        (
            q.capacity,
            q.max_shards,
            q.min_shards,
            q.max_samples_per_send
        ),
        (10_000, 50, 2, 2000)
    );
    assert_eq!(
        (q.batch_send_deadline, q.min_backoff, q.max_backoff),
        (d("10s"), d("100ms"), d("10s"))
    );
    assert!(q.retry_on_http_429);
    assert!(!rw.metadata_config.send);
    assert_eq!(rw.metadata_config.send_interval, d("2m"));
    assert_eq!(rw.metadata_config.max_samples_per_send, 500);

    let vm = &config.remote_write[1];
    assert_eq!(vm.name.len(), 6);
    assert_eq!(auth_header(&vm.http), "Bearer abc");
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let config = Config::load_file(&data("prometheus.yml")).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret-from-file"));
    assert!(!debug.contains("tok3n"));
    assert!(debug.contains("<secret from tests/data/config/secrets/node-password>"));
}

#[test]
fn upstream_example_loads() {
    let config = Config::load_file(&data("upstream-example.yml")).unwrap();
    assert_eq!(config.scrape_configs.len(), 1);
    assert_eq!(config.scrape_configs[0].scrape_interval, d("15s"));
}

#[test]
fn embedded_example_loads() {
    let config = Config::load_file(Path::new("examples/levee.yml")).unwrap();
    let targets: Vec<(&str, &str)> = config
        .scrape_configs
        .iter()
        .flat_map(|j| {
            j.static_configs
                .iter()
                .flat_map(|s| s.targets.iter().map(|t| (j.job_name.as_str(), t.as_str())))
        })
        .collect();
    assert_eq!(
        targets,
        [("levee", "127.0.0.1:9310"), ("node", "127.0.0.1:9100")]
    );
    for job in &config.scrape_configs {
        assert_eq!(job.scrape_interval, d("5s"));
        assert_eq!(job.metrics_path, "/metrics");
    }
    assert!(config.remote_write.is_empty());
}

/// Every default, as Prometheus 2.42 reports it in /api/v1/status/config.
#[test]
fn defaults_table() {
    let config = Config::from_yaml(
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:1']}]\n\
         remote_write:\n  - url: http://127.0.0.1:9090/api/v1/write\n",
    )
    .unwrap();
    let g = &config.global;
    assert_eq!(
        (g.scrape_interval, g.scrape_timeout, g.evaluation_interval),
        (d("1m"), d("10s"), d("1m"))
    );
    assert!(g.external_labels.is_empty());
    assert!(config.notes.is_empty());

    let job = &config.scrape_configs[0];
    assert_eq!(
        (job.scrape_interval, job.scrape_timeout),
        (d("1m"), d("10s"))
    );
    assert_eq!(job.metrics_path, "/metrics");
    assert_eq!(job.scheme, Scheme::Http);
    assert!(job.params.is_empty());
    assert!(!job.honor_labels);
    assert!(job.honor_timestamps);
    assert_eq!(
        (
            job.sample_limit,
            job.label_limit,
            job.label_name_length_limit,
            job.label_value_length_limit,
            job.body_size_limit.0
        ),
        (0, 0, 0, 0, 0)
    );
    assert!(job.relabel_configs.is_empty() && job.metric_relabel_configs.is_empty());
    let http = &job.http;
    assert!(http.basic_auth.is_none() && http.authorization.is_none());
    assert!(http.follow_redirects && http.enable_http2);
    assert_eq!(http.tls_config, Default::default());

    let rw = &config.remote_write[0];
    assert_eq!(rw.remote_timeout, d("30s"));
    assert_eq!(rw.protobuf_message, ProtobufMessage::V1);
    assert_eq!(rw.name.len(), 6);
    assert!(rw.headers.is_empty() && rw.write_relabel_configs.is_empty());
    let q = rw.queue_config;
    assert_eq!(
        (
            q.capacity,
            q.max_shards,
            q.min_shards,
            q.max_samples_per_send
        ),
        (2500, 200, 1, 500)
    );
    assert_eq!(
        (q.batch_send_deadline, q.min_backoff, q.max_backoff),
        (d("5s"), d("30ms"), d("5s"))
    );
    assert!(!q.retry_on_http_429);
    let m = rw.metadata_config;
    assert_eq!(
        (m.send, m.send_interval, m.max_samples_per_send),
        (true, d("1m"), 500)
    );
}

#[test]
fn timeouts_follow_prometheus_rules() {
    // A job interval shorter than the global timeout caps the timeout.
    let c =
        Config::from_yaml("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n").unwrap();
    assert_eq!(c.scrape_configs[0].scrape_timeout, d("5s"));
    // A global interval shorter than 10s caps the global timeout.
    let c = Config::from_yaml("global: {scrape_interval: 5s}\n").unwrap();
    assert_eq!(c.global.scrape_timeout, d("5s"));
    // Zero means "take the default".
    let c = Config::from_yaml(
        "global: {scrape_interval: 0s}\nscrape_configs:\n  - {job_name: a, scrape_interval: 0, scrape_timeout: 0s}\n",
    )
    .unwrap();
    assert_eq!(c.global.scrape_interval, d("1m"));
    assert_eq!(
        (
            c.scrape_configs[0].scrape_interval,
            c.scrape_configs[0].scrape_timeout
        ),
        (d("1m"), d("10s"))
    );
}

#[test]
fn empty_file_is_all_defaults() {
    let c = Config::from_yaml("# nothing here\n").unwrap();
    assert!(c.scrape_configs.is_empty() && c.remote_write.is_empty());
    assert_eq!(c.global.scrape_interval, d("1m"));
}

/// The `# expect:` header lines of a bad config, joined by newlines.
fn expected_message(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bad_configs_give_their_exact_messages() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "bad cases missing: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let want = expected_message(&text);
        assert!(
            !want.is_empty(),
            "{} has no # expect: header",
            file.display()
        );
        match Config::load_file(file) {
            Ok(_) => failures.push(format!("{}: loaded, expected: {want}", file.display())),
            Err(err) => {
                let got = err.to_string();
                if got != want {
                    failures.push(format!(
                        "{}:\n   got: {got}\n  want: {want}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn protobuf_message_names_either_protocol() {
    let config = Config::from_yaml(
        "remote_write:\n  - url: http://127.0.0.1:9090/api/v1/write\n    protobuf_message: io.prometheus.write.v2.Request\n\
         \x20 - url: http://127.0.0.1:8428/api/v1/write\n    protobuf_message: prometheus.WriteRequest\n",
    )
    .unwrap();
    let messages: Vec<_> = config
        .remote_write
        .iter()
        .map(|r| r.protobuf_message)
        .collect();
    assert_eq!(messages, [ProtobufMessage::V2, ProtobufMessage::V1]);
}

#[test]
fn problem_kinds_and_lines_are_exposed() {
    let err = Config::load_file(&data("bad/multiple_problems.yml")).unwrap_err();
    let kinds: Vec<(ProblemKind, Option<u64>)> =
        err.problems().iter().map(|p| (p.kind, p.line())).collect();
    assert_eq!(
        kinds,
        [
            (ProblemKind::NotSupported, Some(8)),
            (ProblemKind::NotSupported, Some(12)),
            (ProblemKind::Invalid, Some(14)),
            (ProblemKind::Invalid, Some(19)),
        ]
    );
    let err = Config::load_file(&data("bad/unknown_key.yml")).unwrap_err();
    assert_eq!(err.problems()[0].kind, ProblemKind::UnknownKey);
}

#[test]
fn missing_file_names_the_file() {
    let err = Config::load_file(&data("no-such.yml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert_eq!(
        err.to_string(),
        "cannot read config file tests/data/config/no-such.yml: No such file or directory (os error 2)"
    );
}

#[test]
fn check_file_reports_summary_and_notes() {
    let out = levee::config::check_file(&data("prometheus.yml")).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(
            "tests/data/config/prometheus.yml: OK: 4 scrape job(s) with 6 static target(s), 2 remote_write endpoint(s)"
        )
    );
    assert_eq!(
        lines.next(),
        Some(
            "  note: global.evaluation_interval: accepted and unused (levee evaluates no rules) (line 5, column 3)"
        )
    );
    assert_eq!(lines.next(), None);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// YAML-looking garbage never panics the loader.
    #[test]
    fn garbage_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
        "scrape_configs:", "global:", "remote_write:", "- ", "  ", "    ", "\n", "job_name: a",
        "static_configs:", "targets: [", "]", "{", "}", "&a ", "*a", "<<: *a", "'", "\"", ":",
        "1.5s", "10MB", "~", "null", "- url: http://x", "queue_config:", "relabel_configs:",
        "#", "!!str ", "|", ">", "? ", "scrape_interval: 5s", "labels: {a: 1}", ",", "\t", "é",
    ]), 0..40)) {
        let text: String = parts.concat();
        let _ = Config::from_yaml(&text);
    }

    /// Arbitrary text never panics the loader.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Config::from_yaml(&text);
    }
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    let deep = format!("global: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(
        Config::from_yaml(&deep),
        Err(ConfigError::Syntax { .. })
    ));
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..9 {
        let prev = if i == 0 {
            "a".to_owned()
        } else {
            format!("b{}", i - 1)
        };
        bomb.push_str(&format!(
            "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    assert!(matches!(
        Config::from_yaml(&bomb),
        Err(ConfigError::Syntax { .. })
    ));
}

#[test]
fn empty_secret_keys_count_as_unset() {
    let c = Config::from_yaml(
        "scrape_configs:\n  - job_name: a\n    bearer_token: ''\n    basic_auth: {username: u, password: p, password_file: ''}\n",
    )
    .unwrap();
    let http = &c.scrape_configs[0].http;
    assert!(http.authorization.is_none());
    assert_eq!(http.basic_auth.as_ref().unwrap().password.expose(), "p");
}

#[test]
fn storage_section() {
    use levee::config::{ByteSize, StorageConfig, WalSync};
    let c = Config::from_yaml("").unwrap();
    assert_eq!(c.storage, StorageConfig::default());
    assert_eq!(c.storage.retention, d("15d"));
    assert_eq!(c.storage.wal_sync, WalSync::Interval(d("1s")));
    let c = Config::from_yaml(
        "storage:\n  path: /var/lib/levee\n  retention: 2d\n  retention_size: 10GB\n  wal_sync: always\n  wal_segment_size: 1MiB\n  block_range: 10m\n",
    )
    .unwrap();
    let s = &c.storage;
    assert_eq!(s.path.as_deref(), Some(Path::new("/var/lib/levee")));
    assert_eq!(s.retention, d("2d"));
    assert_eq!(s.retention_size, Some(ByteSize(10 << 30)));
    assert_eq!(s.wal_sync, WalSync::Always);
    assert_eq!(s.wal_segment_size, ByteSize(1 << 20));
    assert_eq!(s.block_range, d("10m"));
    let err = Config::from_yaml("storage:\n  wal_sync: sometimes\n  block_range: 10ms\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("storage.wal_sync"), "{err}");
    assert!(
        err.contains("storage.block_range: 10ms is too short"),
        "{err}"
    );
}
