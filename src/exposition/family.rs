//! Which metric family a sample belongs to: the last `# TYPE` line and the
//! sample-name suffixes each type allows.

use super::MetricType;

/// The family declared by the most recent `# TYPE` line.
#[derive(Debug, Default)]
pub(crate) struct CurrentFamily {
    name: Vec<u8>,
    kind: Option<MetricType>,
}

impl CurrentFamily {
    /// Remembers a `# TYPE` line (reusing the name buffer).
    pub fn set(&mut self, name: &[u8], kind: MetricType) {
        self.name.clear();
        self.name.extend_from_slice(name);
        self.kind = Some(kind);
    }

    /// The type of the family `sample_name` belongs to.
    #[inline]
    pub fn kind_of(&self, sample_name: &[u8]) -> MetricType {
        let Some(kind) = self.kind else {
            return MetricType::Unknown;
        };
        let Some(suffix) = sample_name.strip_prefix(self.name.as_slice()) else {
            return MetricType::Unknown;
        };
        if suffix.is_empty() || suffixes(kind).contains(&suffix) {
            kind
        } else {
            MetricType::Unknown
        }
    }
}

/// The sample-name suffixes a family of this type may use.
fn suffixes(kind: MetricType) -> &'static [&'static [u8]] {
    match kind {
        MetricType::Counter => &[b"_total", b"_created"],
        MetricType::Histogram => &[b"_bucket", b"_count", b"_sum", b"_created"],
        MetricType::GaugeHistogram => &[b"_bucket", b"_gcount", b"_gsum"],
        MetricType::Summary => &[b"_count", b"_sum", b"_created"],
        MetricType::Info => &[b"_info"],
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_follow_the_type() {
        let mut f = CurrentFamily::default();
        assert_eq!(f.kind_of(b"x"), MetricType::Unknown);
        f.set(b"http", MetricType::Histogram);
        assert_eq!(f.kind_of(b"http_bucket"), MetricType::Histogram);
        assert_eq!(f.kind_of(b"http_sum"), MetricType::Histogram);
        assert_eq!(f.kind_of(b"http_created"), MetricType::Histogram);
        assert_eq!(f.kind_of(b"http"), MetricType::Histogram);
        assert_eq!(f.kind_of(b"http_total"), MetricType::Unknown);
        assert_eq!(f.kind_of(b"https"), MetricType::Unknown);
        f.set(b"req", MetricType::Counter);
        assert_eq!(f.kind_of(b"req_total"), MetricType::Counter);
        assert_eq!(f.kind_of(b"req_count"), MetricType::Unknown);
        f.set(b"g", MetricType::GaugeHistogram);
        assert_eq!(f.kind_of(b"g_gcount"), MetricType::GaugeHistogram);
        assert_eq!(f.kind_of(b"g_count"), MetricType::Unknown);
        f.set(b"build", MetricType::Info);
        assert_eq!(f.kind_of(b"build_info"), MetricType::Info);
    }
}
