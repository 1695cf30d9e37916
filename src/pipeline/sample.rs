//! [`Sample`]: the unit every stage of the pipeline passes on.

use crate::labels::Labels;
use std::sync::Arc;

/// One sample on its way through the pipeline: a series, a timestamp and a
/// value. The value travels as its exact bit pattern (StaleNaN
/// `0x7ff0000000000002` included).
#[derive(Clone, Debug)]
pub struct Sample {
    /// The series' labels (sorted, as [`Labels`] always is).
    pub labels: Arc<Labels>,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}
