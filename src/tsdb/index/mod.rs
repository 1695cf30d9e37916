//! The in-memory index of the head: interned symbols, the series registry
//! (series id ↔ label set), postings (label pair → roaring bitmap of series
//! ids) and label matchers evaluated over them. [`HeadIndex`] is the door;
//! the parts are public for callers that need one of them alone. [`block`]
//! is the persisted form of an index (`docs/format/index.md`).
//!
//! Data structures, memory per series and matcher semantics: `docs/tsdb.md`.
//!
//! ```
//! use levee::labels::Labels;
//! use levee::tsdb::index::block::{IndexReader, IndexWriter};
//! use levee::tsdb::index::{HeadIndex, Matcher};
//!
//! let mut head = HeadIndex::new();
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
//! let (id, created) = head.get_or_create(&up)?;
//! assert!(created);
//! assert_eq!(head.get_or_create(&up)?, (id, false));
//!
//! // `job` is absent from this series, so `job=""` selects it.
//! let other = Labels::from_pairs([("__name__", "scrape_duration_seconds")]);
//! let (other_id, _) = head.get_or_create(&other)?;
//! let selected = head.select(&[Matcher::regex("__name__", ".+")?, Matcher::equal("job", "")]);
//! assert_eq!(selected.to_vec(), vec![other_id]);
//! assert_eq!(head.label_values("job", &[]), vec!["node"]);
//!
//! // The same series persisted as a block index, queried in place.
//! let mut writer = IndexWriter::new();
//! writer.add_series(&other, &[])?;
//! writer.add_series(&up, &[])?;
//! let file = writer.finish()?;
//! let block = IndexReader::open(&file)?;
//! let hits = block.select(&[Matcher::equal("job", "node")]);
//! assert_eq!(block.series(hits.to_vec()[0])?.labels, up);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
