//! Streaming parsers for the text exposition formats: Prometheus text 0.0.4
//! and OpenMetrics 1.0 text.
//!
//! A scrape body is fed to a [`StreamParser`] chunk by chunk as it arrives
//! from the network. The parser keeps only the unfinished last line plus the
//! newest chunk, and hands out [`Entry`] values that borrow from its buffer
//! (a lending iterator): no allocation per sample, and a body of any size
//! never sits in memory whole.
//!
//! ```
//! use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
//!
//! let mut parser = StreamParser::new(Format::PrometheusText, ParserLimits::default());
//! let mut samples = 0;
//! for chunk in [&b"# TYPE up gauge\nup{job=\"a\"} 1\nup{jo"[..], &b"b=\"b\"} 0\n"[..]] {
//!     parser.push(chunk).unwrap();
//!     while let Some(entry) = parser.next() {
//!         if let Entry::Sample(s) = entry.unwrap() {
//!             assert_eq!(s.name, "up");
//!             samples += 1;
//!         }
//!     }
//! }
//! parser.finish();
//! while let Some(entry) = parser.next() {
//!     entry.unwrap();
//! }
//! assert_eq!(samples, 2);
//! ```
//!
//! The accepted syntax follows what Prometheus 2.42 accepts; the few places
//! where levee is stricter are listed in `docs/exposition.md`.

mod content_type;
mod entry;
mod error;
mod family;
mod lex;
mod openmetrics;
mod record;
mod stream;
mod text;

pub use content_type::{Format, SCRAPE_ACCEPT_HEADER};
pub use entry::{Entry, LabelIter, Sample};
pub use error::{ErrorKind, Got, ParseError};
pub use lex::{NORMAL_NAN_BITS, is_label_name, is_metric_name};
pub use stream::{ParserLimits, StreamParser};

/// The type of a metric family, as declared by a `# TYPE` line.
///
/// The Prometheus text format knows `counter`, `gauge`, `histogram`,
/// `summary` and `untyped` (read as [`MetricType::Unknown`]); OpenMetrics adds
/// `gaugehistogram`, `info`, `stateset` and spells untyped `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A monotonically increasing value.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// Cumulative buckets plus `_count` and `_sum`.
    Histogram,
    /// OpenMetrics gauge histogram: buckets plus `_gcount` and `_gsum`.
    GaugeHistogram,
    /// Quantiles plus `_count` and `_sum`.
    Summary,
    /// OpenMetrics info metric (`_info` samples).
    Info,
    /// OpenMetrics state set.
    StateSet,
    /// No type declared, `untyped`, or `unknown`.
    Unknown,
}

impl MetricType {
    /// The name used in `# TYPE` lines of the given format.
    pub fn as_str(self, format: Format) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => match format {
                Format::PrometheusText => "untyped",
                Format::OpenMetrics => "unknown",
            },
        }
    }
}
