//! [`Metadata`]: what an exposition says about a metric family.

use crate::exposition::MetricType;

/// The metadata of one metric family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// The metric family name (`# HELP <family> …`).
    pub family: String,
    /// Its type (`# TYPE`).
    pub kind: MetricType,
    /// Its help text.
    pub help: String,
    /// Its unit (OpenMetrics `# UNIT`; empty when none).
    pub unit: String,
}
