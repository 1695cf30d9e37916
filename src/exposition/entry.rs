//! What the parser hands out: [`Entry`] (metadata or a sample) and
//! [`Sample`] with its label iterator, all borrowing the parser's buffer.

use super::MetricType;
use super::lex::unescape_label_value;
use std::borrow::Cow;

/// One parsed line that matters: metadata or a sample. Comments, blank
/// lines and `# EOF` are consumed without an entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP family text`, escapes decoded.
    Help {
        /// The metric family name.
        family: &'a str,
        /// The help text.
        text: Cow<'a, str>,
    },
    /// `# TYPE family kind`.
    Type {
        /// The metric family name.
        family: &'a str,
        /// The declared type.
        kind: MetricType,
    },
    /// OpenMetrics `# UNIT family unit`.
    Unit {
        /// The metric family name.
        family: &'a str,
        /// The unit (empty allowed).
        unit: &'a str,
    },
    /// One sample.
    Sample(Sample<'a>),
}

/// One sample: a series, a value and an optional timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    /// The exact body bytes of `name{labels}` (no value, no timestamp):
    /// the same series written the same way gives the same bytes, so this
    /// is the scrape cache key.
    pub series: &'a [u8],
    /// The metric name.
    pub name: &'a str,
    /// The value. `NaN` is always [`NORMAL_NAN_BITS`](super::NORMAL_NAN_BITS).
    pub value: f64,
    /// The timestamp in milliseconds, if the line had one (OpenMetrics
    /// seconds are converted, truncating toward zero).
    pub timestamp_ms: Option<i64>,
    /// The type of the family this sample belongs to, from the last `# TYPE`
    /// line when the sample's name is that family's name or one of its
    /// type's suffixes; [`MetricType::Unknown`] otherwise.
    pub kind: MetricType,
    pub(crate) labels_text: &'a str,
    pub(crate) spans: &'a [LabelSpan],
}

impl<'a> Sample<'a> {
    /// The labels in body order as `(name, value)`, value escapes decoded.
    /// Allocates only for a value that has escapes.
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter {
            text: self.labels_text,
            spans: self.spans.iter(),
        }
    }

    /// The number of labels (not counting the metric name).
    pub fn label_count(&self) -> usize {
        self.spans.len()
    }
}

/// Where one label's name and value sit in the series text. Offsets are
/// relative to the start of the series; the value excludes its quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct LabelSpan {
    pub name_start: u32,
    pub name_end: u32,
    pub value_start: u32,
    pub value_end: u32,
    pub escaped: bool,
}

/// Iterator over a sample's labels; see [`Sample::labels`].
#[derive(Clone, Debug)]
pub struct LabelIter<'a> {
    text: &'a str,
    spans: std::slice::Iter<'a, LabelSpan>,
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let span = self.spans.next()?;
        // The spans were taken at ASCII delimiters of validated UTF-8, so
        // these slices always exist; `get` keeps a bug from panicking.
        let name = self
            .text
            .get(span.name_start as usize..span.name_end as usize)
            .unwrap_or_default();
        let value = self
            .text
            .get(span.value_start as usize..span.value_end as usize)
            .unwrap_or_default();
        let value = if span.escaped {
            unescape_label_value(value)
        } else {
            Cow::Borrowed(value)
        };
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for LabelIter<'_> {}
