//! Scraping an Istio storm body the way the scrape loop hands it to the
//! guard: parsed in 64 KiB chunks into samples with their metric types,
//! each series' label set (plus `job` and `instance`) built once and
//! shared from scrape to scrape.

use std::collections::HashMap;
use std::sync::Arc;

use levee::exposition::{Entry, Format, MetricType, ParserLimits, StreamParser};
use levee::labels::{Labels, LabelsBuilder};
use levee::pipeline::Sample;

/// Parses a body into samples, sharing label sets across scrapes the way
/// the scrape cache does.
pub struct Scraper {
    /// The label sets seen so far, by the series' text.
    pub cache: HashMap<Vec<u8>, Arc<Labels>>,
}

impl Scraper {
    /// The samples and types of `body`, stamped `ts`.
    pub fn scrape(&mut self, body: &[u8], ts: i64) -> (Vec<Sample>, Vec<MetricType>) {
        let mut p = StreamParser::new(Format::PrometheusText, ParserLimits::default());
        let (mut samples, mut kinds) = (Vec::new(), Vec::new());
        for chunk in body.chunks(64 * 1024) {
            p.push(chunk).expect("storm body parses");
            self.drain(&mut p, ts, &mut samples, &mut kinds);
        }
        p.finish();
        self.drain(&mut p, ts, &mut samples, &mut kinds);
        (samples, kinds)
    }

    fn drain(
        &mut self,
        p: &mut StreamParser,
        ts: i64,
        samples: &mut Vec<Sample>,
        kinds: &mut Vec<MetricType>,
    ) {
        while let Some(e) = p.next() {
            let Entry::Sample(s) = e.expect("storm body parses") else {
                continue;
            };
            let labels = self
                .cache
                .entry(s.series.to_vec())
                .or_insert_with(|| {
                    let mut b = LabelsBuilder::new();
                    for (n, v) in s.labels() {
                        b.set(n, &v);
                    }
                    b.set("__name__", s.name);
                    b.set("job", "istio");
                    b.set("instance", "sidecar:15090");
                    Arc::new(b.into_labels())
                })
                .clone();
            samples.push(Sample {
                labels,
                timestamp_ms: ts,
                value: s.value,
            });
            kinds.push(s.kind);
        }
    }
}
