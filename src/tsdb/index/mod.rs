//! The in-memory index of the head: interned symbols, the series registry
//! (series id ↔ label set), postings (label pair → roaring bitmap of series
//! ids) and label matchers evaluated over them. [`HeadIndex`] is the door;
//! the parts are public for callers that need one of them alone. [`block`]
//! is the persisted form of an index (`docs/format/index.md`).
//!
//! Data structures, memory per series and matcher semantics: `docs/tsdb.md`.

pub mod block;
pub mod head_index;
pub mod matcher;
pub mod postings;
pub mod select;
pub mod series;
pub mod symbols;

#[cfg(test)]
mod model_tests;

pub use head_index::{HeadIndex, IndexHeapStats};
pub use matcher::{MatchOp, Matcher, MatcherError, RegexShape};
pub use series::{SeriesError, SeriesId};
