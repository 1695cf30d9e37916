//! Decoding a request's protobuf (1.0 `prometheus.WriteRequest` or 2.0
//! `io.prometheus.write.v2.Request`) into what levee stores: series with
//! checked label sets and their samples, and metadata. Series that cannot
//! be stored are refused one by one, each with the reason, and the rest of
//! the request stands (a partial write, for both protocols). Exemplars are
//! skipped and counted; native histograms are refused and counted (levee's
//! storage has none).
//!
//! A label set is taken as Prometheus' receiver takes it: names
//! `[a-zA-Z_][a-zA-Z0-9_]*`, each once, a `__name__` that is a valid metric
//! name; labels with empty values are left out, and the order sent does not
//! matter.

use super::negotiate::Protocol;
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::pipeline::Metadata;
use crate::proto;
use crate::proto::write_v2;
use crate::relabel::{is_valid_label_name, is_valid_metric_name};
use prost::Message;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Longest description of a refused series in an answer.
const MAX_DESCRIPTION: usize = 240;

/// One series of a request: its label set, checked, and its samples
/// (milliseconds, value) in the order sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSeries {
    /// The label set.
    pub labels: Labels,
    /// The samples.
    pub samples: Vec<(i64, f64)>,
}

/// A request decoded.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The series that may be stored.
    pub series: Vec<ReceivedSeries>,
    /// The metadata sent, one entry per family.
    pub metadata: Vec<Metadata>,
    /// The series refused, in request order.
    pub refused: Vec<Refusal>,
    /// Float samples in the request (refused series' included).
    pub samples: u64,
    /// Native histogram samples in the request (all refused).
    pub histograms: u64,
    /// Exemplars in the request (all skipped).
    pub exemplars: u64,
}

/// A series refused, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The series as sent (truncated).
    pub series: String,
    /// Why.
    pub reason: Invalid,
    /// Float samples not stored because of it.
    pub samples: u64,
    /// Native histogram samples not stored because of it.
    pub histograms: u64,
}

/// Why a series was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A label with an empty name.
    #[error("a label name is empty")]
    EmptyLabelName,
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}")]
    LabelName(String),
    /// A label name twice.
    #[error("duplicate label name {0:?}")]
    DuplicateLabelName(String),
    /// No `__name__`, or an empty one.
    #[error("no metric name (__name__)")]
    NoMetricName,
    /// A `__name__` outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name {0:?}")]
    MetricName(String),
    /// 2.0: `labels_refs` of odd length.
    #[error("labels_refs has an odd length ({0})")]
    OddLabelRefs(usize),
    /// 2.0: a reference past the symbols table.
    #[error("symbol ref {reference} is out of range (the request has {symbols} symbols)")]
    UnknownSymbol {
        /// The reference.
        reference: u32,
        /// The table's length.
        symbols: usize,
    },
    /// 2.0: native histogram samples, which levee cannot store.
    #[error("native histograms are not supported (levee's storage has none)")]
    NativeHistograms,
}

impl Invalid {
    /// The `reason` label of refused samples in self-metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::EmptyLabelName | Invalid::LabelName(_) | Invalid::DuplicateLabelName(_) => {
                "invalid_label_name"
            }
            Invalid::NoMetricName | Invalid::MetricName(_) => "invalid_metric_name",
            Invalid::OddLabelRefs(_) | Invalid::UnknownSymbol { .. } => "invalid_symbol_ref",
            Invalid::NativeHistograms => "native_histogram",
        }
    }
}

/// The message name of `protocol`'s request.
pub fn message_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::V1 => "prometheus.WriteRequest",
        Protocol::V2 => "io.prometheus.write.v2.Request",
    }
}

/// Decodes `buf`, a decompressed request of `protocol`.
pub fn decode(protocol: Protocol, buf: &[u8]) -> Result<Decoded, prost::DecodeError> {
    match protocol {
        Protocol::V1 => proto::WriteRequest::decode(buf).map(decode_v1),
        Protocol::V2 => write_v2::Request::decode(buf).map(decode_v2),
    }
}

fn decode_v1(req: proto::WriteRequest) -> Decoded {
    let mut out = Decoded::default();
    for ts in req.timeseries {
        out.samples += ts.samples.len() as u64;
        out.exemplars += ts.exemplars.len() as u64;
        let pairs: Vec<(&str, &str)> = ts
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        match label_set(&pairs) {
            Ok(labels) => out.push(labels, ts.samples.iter().map(|s| (s.timestamp, s.value))),
            Err(reason) => out.refused.push(Refusal {
                series: describe(&pairs),
                reason,
                samples: ts.samples.len() as u64,
                histograms: 0,
            }),
        }
    }
    out.metadata = req
        .metadata
        .into_iter()
        .map(|m| Metadata {
            kind: metric_type(m.r#type),
            family: m.metric_family_name,
            help: m.help,
            unit: m.unit,
        })
        .collect();
    out
}

fn decode_v2(req: write_v2::Request) -> Decoded {
    let symbols = &req.symbols;
    let mut out = Decoded::default();
    let mut metadata = BTreeMap::new();
    for ts in &req.timeseries {
        out.samples += ts.samples.len() as u64;
        out.histograms += ts.histograms.len() as u64;
        out.exemplars += ts.exemplars.len() as u64;
        let refuse = |series: String, reason| Refusal {
            series,
            reason,
            samples: ts.samples.len() as u64,
            histograms: ts.histograms.len() as u64,
        };
        let pairs = match symbol_pairs(symbols, &ts.labels_refs) {
            Ok(pairs) => pairs,
            Err(reason) => {
                out.refused
                    .push(refuse(describe_refs(&ts.labels_refs), reason));
                continue;
            }
        };
        let labels = match label_set(&pairs) {
            Ok(labels) => labels,
            Err(reason) => {
                out.refused.push(refuse(describe(&pairs), reason));
                continue;
            }
        };
        if let Some(m) = &ts.metadata {
            match series_metadata(symbols, m, &labels) {
                Ok(Some(m)) => {
                    metadata.insert(m.family.clone(), m);
                }
                Ok(None) => {}
                Err(reason) => {
                    out.refused.push(refuse(labels.to_string(), reason));
                    continue;
                }
            }
        }
        if !ts.histograms.is_empty() {
            out.refused.push(Refusal {
                series: truncate(labels.to_string()),
                reason: Invalid::NativeHistograms,
                samples: 0,
                histograms: ts.histograms.len() as u64,
            });
        }
        out.push(labels, ts.samples.iter().map(|s| (s.timestamp, s.value)));
    }
    out.metadata = metadata.into_values().collect();
    out
}

impl Decoded {
    /// Keeps a series with its samples (none: nothing to store).
    fn push(&mut self, labels: Labels, samples: impl Iterator<Item = (i64, f64)>) {
        let samples: Vec<(i64, f64)> = samples.collect();
        if !samples.is_empty() {
            self.series.push(ReceivedSeries { labels, samples });
        }
    }
}

/// The label pairs `refs` name in `symbols`.
fn symbol_pairs<'a>(
    symbols: &'a [String],
    refs: &[u32],
) -> Result<Vec<(&'a str, &'a str)>, Invalid> {
    if !refs.len().is_multiple_of(2) {
        return Err(Invalid::OddLabelRefs(refs.len()));
    }
    refs.chunks_exact(2)
        .map(|pair| Ok((symbol(symbols, pair[0])?, symbol(symbols, pair[1])?)))
        .collect()
}

fn symbol(symbols: &[String], reference: u32) -> Result<&str, Invalid> {
    symbols
        .get(reference as usize)
        .map(String::as_str)
        .ok_or(Invalid::UnknownSymbol {
            reference,
            symbols: symbols.len(),
        })
}

/// A 2.0 series' metadata, if it says anything.
fn series_metadata(
    symbols: &[String],
    m: &write_v2::Metadata,
    labels: &Labels,
) -> Result<Option<Metadata>, Invalid> {
    let help = symbol(symbols, m.help_ref)?;
    let unit = symbol(symbols, m.unit_ref)?;
    if m.r#type == 0 && help.is_empty() && unit.is_empty() {
        return Ok(None);
    }
    Ok(labels.metric_name().map(|family| Metadata {
        family: family.to_string(),
        kind: metric_type(m.r#type),
        help: help.to_string(),
        unit: unit.to_string(),
    }))
}

/// The label set of `pairs`, checked.
fn label_set(pairs: &[(&str, &str)]) -> Result<Labels, Invalid> {
    let mut names: Vec<&str> = Vec::with_capacity(pairs.len());
    for &(name, _) in pairs {
        if name.is_empty() {
            return Err(Invalid::EmptyLabelName);
        }
        if !is_valid_label_name(name) {
            return Err(Invalid::LabelName(name.to_string()));
        }
        names.push(name);
    }
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Invalid::DuplicateLabelName(w[0].to_string()));
    }
    match pairs.iter().find(|(n, _)| *n == "__name__") {
        None | Some((_, "")) => return Err(Invalid::NoMetricName),
        Some((_, name)) if !is_valid_metric_name(name) => {
            return Err(Invalid::MetricName(name.to_string()));
        }
        Some(_) => {}
    }
    Ok(Labels::from_pairs(pairs.iter().copied()))
}

/// Both protocols number metric types alike (0: unknown).
fn metric_type(n: i32) -> MetricType {
    match n {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

/// `pairs` as `{name="value", …}`, truncated.
fn describe(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{name}={value:?}");
        if s.len() > MAX_DESCRIPTION {
            break;
        }
    }
    s.push('}');
    truncate(s)
}

/// A series whose refs cannot be resolved, by its refs.
fn describe_refs(refs: &[u32]) -> String {
    truncate(format!("labels_refs {refs:?}"))
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_DESCRIPTION {
        let mut end = MAX_DESCRIPTION;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1_series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
        proto::TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| proto::Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| proto::Sample { value, timestamp })
                .collect(),
            exemplars: Vec::new(),
        }
    }

    #[test]
    fn a_1_0_request_keeps_its_valid_series_and_names_the_others() {
        let req = proto::WriteRequest {
            timeseries: vec![
                v1_series(
                    &[("job", "a"), ("__name__", "up"), ("empty", "")],
                    &[(1, 1.0), (2, 0.0)],
                ),
                v1_series(&[("__name__", "up"), ("1x", "a")], &[(1, 1.0)]),
                v1_series(&[("__name__", "up"), ("a", "1"), ("a", "2")], &[(1, 1.0)]),
                v1_series(&[("job", "a")], &[(1, 1.0)]),
                v1_series(&[("__name__", "a-b")], &[(1, 1.0)]),
                v1_series(&[("__name__", "up"), ("", "x")], &[(1, 1.0)]),
            ],
            metadata: vec![proto::MetricMetadata {
                r#type: 1,
                metric_family_name: "http_requests_total".into(),
                help: "Requests.".into(),
                unit: String::new(),
            }],
        };
        let d = decode(Protocol::V1, &req.encode_to_vec()).expect("decodes");
        assert_eq!(
            d.series,
            vec![ReceivedSeries {
                labels: Labels::from_pairs([("__name__", "up"), ("job", "a")]),
                samples: vec![(1, 1.0), (2, 0.0)],
            }]
        );
        let reasons: Vec<_> = d.refused.iter().map(|r| r.reason.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                Invalid::LabelName("1x".into()),
                Invalid::DuplicateLabelName("a".into()),
                Invalid::NoMetricName,
                Invalid::MetricName("a-b".into()),
                Invalid::EmptyLabelName,
            ]
        );
        assert_eq!(d.refused[0].series, r#"{__name__="up", 1x="a"}"#);
        assert_eq!(d.samples, 7);
        assert_eq!(d.metadata[0].kind, MetricType::Counter);
    }

    #[test]
    fn a_2_0_request_resolves_symbols_and_refuses_what_it_cannot_store() {
        let symbols = ["", "__name__", "up", "job", "a", "Help.", "seconds"];
        let series = |refs: &[u32], samples: usize, histograms: usize| write_v2::TimeSeries {
            labels_refs: refs.to_vec(),
            samples: (0..samples)
                .map(|i| write_v2::Sample {
                    value: i as f64,
                    timestamp: 1000 + i as i64,
                })
                .collect(),
            histograms: vec![write_v2::Histogram::default(); histograms],
            exemplars: vec![write_v2::Exemplar::default()],
            metadata: Some(write_v2::Metadata {
                r#type: 2,
                help_ref: 5,
                unit_ref: 6,
            }),
            created_timestamp: 0,
        };
        let req = write_v2::Request {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            timeseries: vec![
                series(&[1, 2, 3, 4], 2, 0),
                series(&[1, 2, 3, 99], 1, 0),
                series(&[1, 2, 3], 1, 0),
                series(&[1, 2], 0, 3),
            ],
        };
        let d = decode(Protocol::V2, &req.encode_to_vec()).expect("decodes");
        assert_eq!(d.series.len(), 1);
        assert_eq!(
            d.series[0].labels.to_string(),
            r#"{__name__="up", job="a"}"#
        );
        assert_eq!(d.series[0].samples, vec![(1000, 0.0), (1001, 1.0)]);
        assert_eq!(
            d.refused
                .iter()
                .map(|r| r.reason.clone())
                .collect::<Vec<_>>(),
            vec![
                Invalid::UnknownSymbol {
                    reference: 99,
                    symbols: 7
                },
                Invalid::OddLabelRefs(3),
                Invalid::NativeHistograms,
            ]
        );
        assert_eq!(d.refused[0].series, "labels_refs [1, 2, 3, 99]");
        assert_eq!((d.samples, d.histograms, d.exemplars), (4, 3, 4));
        assert_eq!(
            d.metadata,
            vec![Metadata {
                family: "up".into(),
                kind: MetricType::Gauge,
                help: "Help.".into(),
                unit: "seconds".into(),
            }]
        );
    }

    #[test]
    fn garbage_is_a_decode_error_naming_what_broke() {
        assert!(decode(Protocol::V1, b"\xff\xff\xff").is_err());
        // A label value that is not UTF-8: prost names the field.
        let mut bytes = proto::WriteRequest {
            timeseries: vec![v1_series(&[("__name__", "up"), ("a", "xx")], &[(1, 1.0)])],
            metadata: Vec::new(),
        }
        .encode_to_vec();
        let at = bytes
            .windows(2)
            .position(|w| w == b"xx")
            .expect("the value");
        bytes[at] = 0xff;
        let e = decode(Protocol::V1, &bytes).expect_err("not UTF-8");
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }
}
