//! The Prometheus relabeling engine: rule configs, compilation, and
//! application to label sets.

mod config;

pub use config::RelabelConfig;
