//! The pipeline's vocabulary: what producers of samples (the scrape loop,
//! later the remote-write receiver) hand to their consumers (the TSDB,
//! remote write), and the two narrow doors they hand it through.
//!
//! - [`Sample`]: one value of one series at one time.
//! - [`Metadata`]: a metric family's HELP, TYPE and UNIT.
//! - [`SampleSink`] takes samples a batch at a time; [`MetadataSink`] takes
//!   metadata when it is new or changed. They are separate channels: samples
//!   go to storage (and reach remote write through its WAL), metadata goes
//!   to remote write directly. [`Sinks`] carries one of each to a producer.
//!
//! This module sits below every producer and consumer and uses nothing of
//! levee but label sets and the exposition's metric types.

mod metadata;
mod sample;
mod sink;

pub use metadata::Metadata;
pub use sample::Sample;
pub use sink::{Appended, MetadataSink, SampleSink, Sinks};
