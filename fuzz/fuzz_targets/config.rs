//! Fuzzes the config loader (`levee::config::Config::from_yaml`: YAML
//! with anchors and merge keys, prometheus.yml keys, levee's sections,
//! relabel configs) and, with what loads, the relabel compiler
//! (`levee::relabel::Rules::compile`) and the duration and size parsers.
//! The input is the config text (non-UTF-8 inputs are skipped: the loader
//! takes a `&str`; reading a file as UTF-8 is std's job).
//!
//! Checks, beyond "no panic, no hang, no unbounded allocation":
//! - a config that does not load says why, and every problem it lists has
//!   a message;
//! - a config that loads has relabel rules that compile or are refused
//!   with a typed error naming the rule, and compiled rules apply to a
//!   label set without panicking;
//! - every duration and size the loader accepted prints to a text that
//!   parses back to the same value; so does the whole input, when it
//!   parses as a duration or a size.
//!
//! File names in the config (`password_file`, `ca_file` …) are read
//! relative to the working directory; run the target from `fuzz/`.

#![no_main]

use levee::config::{ByteSize, Config, Duration};
use levee::labels::Labels;
use levee::relabel::{RelabelConfig, Rules};
use libfuzzer_sys::fuzz_target;

fn duration_round_trips(d: Duration) {
    let text = d.to_string();
    assert_eq!(
        Duration::parse(&text),
        Ok(d),
        "duration {d:?} printed as {text:?}"
    );
}

fn size_round_trips(s: ByteSize) {
    let text = s.to_string();
    assert_eq!(
        ByteSize::parse(&text),
        Ok(s),
        "size {s:?} printed as {text:?}"
    );
}

fn compile_and_apply(rules: &[RelabelConfig]) {
    match Rules::compile(rules) {
        Ok(compiled) => {
            let labels = Labels::from_pairs([
                ("__address__", "10.0.0.1:9100"),
                ("__name__", "http_requests_total"),
                ("__meta_kubernetes_pod_name", "web-7d9f"),
                ("job", "node"),
            ]);
            let _ = compiled.apply(&labels);
            let _ = compiled.apply(&Labels::empty());
        }
        Err(e) => {
            assert!(e.index() < rules.len(), "{e} names no rule");
            let _ = (e.to_string(), e.field());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = Duration::parse(text) {
        duration_round_trips(d);
    }
    if let Ok(s) = ByteSize::parse(text) {
        size_round_trips(s);
    }
    let config = match Config::from_yaml(text) {
        Ok(c) => c,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            for p in e.problems() {
                assert!(!p.to_string().is_empty());
            }
            return;
        }
    };
    let _ = config.summary();
    let g = &config.global;
    for d in [g.scrape_interval, g.scrape_timeout, g.evaluation_interval] {
        duration_round_trips(d);
    }
    let st = &config.storage;
    for d in [Some(st.retention), Some(st.block_range), st.wal_max_lag]
        .into_iter()
        .flatten()
    {
        duration_round_trips(d);
    }
    for s in [
        st.retention_size,
        Some(st.wal_segment_size),
        st.wal_max_size,
    ]
    .into_iter()
    .flatten()
    {
        size_round_trips(s);
    }
    for job in &config.scrape_configs {
        duration_round_trips(job.scrape_interval);
        duration_round_trips(job.scrape_timeout);
        size_round_trips(job.body_size_limit);
        compile_and_apply(&job.relabel_configs);
        compile_and_apply(&job.metric_relabel_configs);
    }
    for rw in &config.remote_write {
        duration_round_trips(rw.remote_timeout);
        compile_and_apply(&rw.write_relabel_configs);
    }
});
