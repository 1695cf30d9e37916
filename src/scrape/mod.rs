//! Scraping: compiled jobs, targets, the per-target scrape loop with its
//! cache and staleness tracking, and the manager that runs one task per
//! target.
//!
//! The loop is generic over a [`Fetcher`] (HTTP in production) and appends
//! each scrape as one batch to a [`SampleSink`](crate::pipeline::SampleSink)
//! (the TSDB in `levee run`), so it is tested without sockets where sockets
//! are not the point.

mod cache;
mod error;
mod fetch;
mod guarded;
mod job;
mod manager;
mod memory_fetch;
mod metadata;
mod metrics;
mod scrape_loop;
mod status;
mod target;

pub use cache::ScrapeCache;
pub use error::ScrapeError;
pub use fetch::{AuthHeader, BodyStream, FetchRequest, Fetcher, HttpFetcher, error_chain};
pub use guarded::{GuardCeiling, GuardMetrics, GuardedTarget};
pub use job::{Job, JobError, Limits, TargetGroup};
pub use manager::{GuardStates, ScrapeManager};
pub use memory_fetch::{MemoryBody, MemoryFetcher, MemoryResponse};
pub use metrics::ScrapeMetrics;
pub use scrape_loop::{ScrapeLoop, ScrapeStats, StopReason, initial_delay, merge_target_labels};
pub use status::{CardinalityTarget, StatusList, TargetHealth, TargetStatus, TargetsView};
pub use target::{Target, TargetError, populate};
