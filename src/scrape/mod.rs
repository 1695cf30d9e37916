//! Scraping: compiled jobs, targets, the per-target scrape loop with its
//! cache and staleness tracking, and the manager that runs one task per
//! target.
//!
//! The loop is generic over a [`Fetcher`] (HTTP in production) and appends
//! each scrape as one batch to a [`SampleSink`](crate::pipeline::SampleSink)
//! (the TSDB in `levee run`, called on the blocking pool), so it is tested
//! without sockets where sockets are not the point. What scraping shows of
//! its targets ([`TargetStatus`], [`TargetsView`]) is read by the web
//! server; scraping knows nothing of it. The guard's whole-agent ceiling
//! is [`crate::guard::Ceiling`]; each guarded target holds a share of it.

mod cache;
mod commit;
mod error;
mod fetch;
mod guarded;
mod job;
mod manager;
mod memory_fetch;
mod metadata;
mod metrics;
mod pass;
mod report;
mod scrape_loop;
mod series;
mod series_labels;
mod status;
mod target;

pub use cache::ScrapeCache;
pub use error::ScrapeError;
pub use fetch::{BodyStream, FetchRequest, Fetcher, HttpFetcher};
pub use guarded::{GuardMetrics, GuardedTarget};
pub use job::{Job, JobError, Limits};
pub use manager::{GuardStates, RESTORE_GRACE, ScrapeManager};
pub use memory_fetch::{MemoryBody, MemoryFetcher, MemoryResponse};
pub use metrics::ScrapeMetrics;
pub use report::ScrapeStats;
pub use scrape_loop::{ScrapeLoop, StopReason, initial_delay};
pub use series_labels::merge_target_labels;
pub use status::{
    CardinalityTarget, DroppedTarget, StatusList, TargetHealth, TargetStatus, TargetsView,
};
pub use target::{Populated, Target, TargetError, populate};
