//! [`Querier`]: reads over the blocks and the head for one time range.
//! A series present in several blocks and the head comes out once, its
//! samples merged in time order.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Db, DbError};
use crate::labels::Labels;
use crate::tsdb::block::Block;
use crate::tsdb::chunks::{ChunkRef, ChunkSeriesIterator, ChunkSlice};
use crate::tsdb::index::Matcher;

/// Reads `[mint, maxt]` (inclusive) from a [`Db`].
pub struct Querier<'a> {
    db: &'a Db,
    mint: i64,
    maxt: i64,
}

/// One series found by [`Querier::select`]: labels and its chunks (copied,
/// so the series outlives head cuts and block deletion).
#[derive(Debug, Clone)]
pub struct Series {
    labels: Labels,
    chunks: Vec<OwnedChunk>,
    mint: i64,
    maxt: i64,
}

#[derive(Debug, Clone)]
struct OwnedChunk {
    min_time: i64,
    max_time: i64,
    encoding: u8,
    bytes: Vec<u8>,
}

impl<'a> Querier<'a> {
    pub(super) fn new(db: &'a Db, mint: i64, maxt: i64) -> Self {
        Querier { db, mint, maxt }
    }

    fn blocks(&self) -> Vec<Arc<Block>> {
        self.db
            .blocks()
            .into_iter()
            .filter(|b| b.meta().max_time > self.mint && b.meta().min_time <= self.maxt)
            .collect()
    }

    /// The series matching every matcher (an empty list matches all), in
    /// label order, with samples in `[mint, maxt]`.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, DbError> {
        let mut found: BTreeMap<Labels, Vec<OwnedChunk>> = BTreeMap::new();
        for b in self.blocks() {
            for s in b.select(self.mint, self.maxt, matchers)? {
                let entry = found.entry(s.labels.clone()).or_default();
                for c in &s.chunks {
                    let data = b.chunk(ChunkRef(c.chunk_ref))?;
                    entry.push(OwnedChunk {
                        min_time: c.min_time,
                        max_time: c.max_time,
                        encoding: data.encoding,
                        bytes: data.data().to_vec(),
                    });
                }
            }
        }
        let head = self
            .db
            .head
            .lock()
            .select_chunks(matchers, self.mint, self.maxt, None)?;
        for s in head {
            let entry = found.entry(s.labels).or_default();
            entry.extend(s.chunks.into_iter().map(|c| OwnedChunk {
                min_time: c.min_time,
                max_time: c.max_time,
                encoding: c.encoding,
                bytes: c.bytes,
            }));
        }
        Ok(found
            .into_iter()
            .filter(|(_, chunks)| !chunks.is_empty())
            .map(|(labels, mut chunks)| {
                chunks.sort_by_key(|c| c.min_time);
                Series {
                    labels,
                    chunks,
                    mint: self.mint,
                    maxt: self.maxt,
                }
            })
            .collect())
    }

    /// Label names of the series matching `matchers` (all series when
    /// empty), sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, DbError> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for b in self.blocks() {
            names.extend(b.label_names(matchers)?);
        }
        names.extend(self.db.head.lock().index.label_names(matchers));
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` among the series matching `matchers`, sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, DbError> {
        let mut values: BTreeSet<String> = BTreeSet::new();
        for b in self.blocks() {
            values.extend(b.label_values(name, matchers)?);
        }
        values.extend(self.db.head.lock().index.label_values(name, matchers));
        Ok(values.into_iter().collect())
    }
}

impl Series {
    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Its samples in the querier's range, in time order, each timestamp
    /// once (values by their exact bits: StaleNaN markers included).
    /// Overlapping chunks (a block and the head at a boundary) are merged.
    pub fn samples(&self) -> ChunkSeriesIterator<'_> {
        let slices = self
            .chunks
            .iter()
            .map(|c| ChunkSlice {
                min_time: c.min_time,
                max_time: c.max_time,
                encoding: c.encoding,
                data: &c.bytes,
            })
            .collect();
        ChunkSeriesIterator::new(slices, self.mint, self.maxt)
    }
}
