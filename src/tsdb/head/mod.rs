//! The head: the series being written now. It owns the head index (labels
//! ↔ ids, postings), per-series state ([`series::MemSeries`]: the open XOR
//! chunk and where the full ones are), the head chunk files full chunks
//! move to, and the WAL every accepted sample is logged to first.
//!
//! # Locking
//!
//! One mutex guards all of it. An appender buffers samples without the
//! lock and takes it once per commit (a scrape is one commit), so the lock
//! is held per batch, not per sample. Queries take it to snapshot the
//! chunks they need; the head cut takes it twice, briefly, around writing
//! the block (see `tsdb::db::compact`).

mod appender;
mod chunk_store;
mod error;
mod replay;
mod series;
mod table;

use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

pub use appender::{AppendError, Appender, CommitStats};
pub(crate) use chunk_store::HeadChunks;
pub use error::HeadError;
pub(crate) use replay::{ReplayOptions, ReplayStats, replay};
use series::{MappedChunk, MemSeries};
use table::SeriesTable;

use crate::labels::Labels;
use crate::tsdb::chunkenc::{Encoding, XorChunk};
use crate::tsdb::chunks::ChunkRef;
use crate::tsdb::index::{HeadIndex, Matcher, SeriesId};
use crate::tsdb::wal::{Position, Wal, WalObserver};

/// A reference to a head series, valid while the series is in the head:
/// pass it to [`Appender::append_ref`] to skip the label lookup. A ref to a
/// series the head has since dropped is recognised and refused, even if
/// its id was given to another series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesRef(u64);

impl SeriesRef {
    fn new(id: SeriesId, seq: u32) -> Self {
        SeriesRef(u64::from(seq) << 32 | u64::from(id))
    }

    /// The series id (as in WAL records).
    pub fn id(self) -> SeriesId {
        self.0 as u32
    }

    fn seq(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The raw value (for storing in caches).
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds a ref from [`SeriesRef::to_u64`].
    pub fn from_u64(raw: u64) -> Self {
        SeriesRef(raw)
    }
}

/// Running counters of the head (since open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadCounters {
    /// Samples appended (stale markers included).
    pub samples_appended: u64,
    /// Samples refused as older than their series' last sample (or same
    /// timestamp, other value).
    pub out_of_order: u64,
    /// Samples refused as older than the head's lower bound (already cut
    /// into a block).
    pub out_of_bounds: u64,
    /// Samples repeating the last sample exactly (ignored).
    pub duplicates: u64,
    /// Samples for a [`SeriesRef`] whose series is gone.
    pub unknown_refs: u64,
    /// Series created.
    pub series_created: u64,
    /// Series removed by head cuts.
    pub series_removed: u64,
    /// Full chunks written to the head chunk files.
    pub chunks_written: u64,
}

/// The mutable state behind the head's lock.
pub(crate) struct HeadState {
    pub index: HeadIndex,
    series: SeriesTable,
    next_seq: u32,
    pub chunks: HeadChunks,
    pub wal: Wal,
    /// Samples before this are refused (they belong to cut blocks).
    pub min_valid_time: i64,
    /// Block range in ms: chunks never straddle a multiple of it.
    pub block_range: i64,
    pub counters: HeadCounters,
    /// Set when a full chunk could not be written: the head refuses
    /// further commits (the WAL has everything; a restart replays it).
    pub failed: Option<Arc<HeadError>>,
    rec_buf: Vec<u8>,
}

/// The head.
pub(crate) struct Head {
    state: Mutex<HeadState>,
    observer: parking_lot::RwLock<Option<Arc<dyn WalObserver>>>,
}

/// One series' chunks as a query or head cut sees them.
#[derive(Debug, Clone)]
pub(crate) struct SeriesChunks {
    pub labels: Labels,
    /// `(min_time, max_time, bytes)` per chunk, oldest first; bytes are XOR.
    pub chunks: Vec<ChunkCopy>,
}

/// A copy of one chunk's bytes.
#[derive(Debug, Clone)]
pub(crate) struct ChunkCopy {
    pub min_time: i64,
    pub max_time: i64,
    pub encoding: u8,
    pub bytes: Vec<u8>,
}

impl Head {
    pub fn new(state: HeadState) -> Self {
        Head {
            state: Mutex::new(state),
            observer: parking_lot::RwLock::new(None),
        }
    }

    pub fn set_observer(&self, o: Arc<dyn WalObserver>) {
        *self.observer.write() = Some(o);
    }

    pub fn observer(&self) -> Option<Arc<dyn WalObserver>> {
        self.observer.read().clone()
    }

    /// Tells the observer the WAL grew; call without the state lock.
    pub fn notify(&self, synced: Position) {
        if let Some(o) = self.observer.read().as_ref() {
            o.logged(synced);
        }
    }

    pub fn lock(&self) -> parking_lot::MutexGuard<'_, HeadState> {
        self.state.lock()
    }

    /// A new appender.
    pub fn appender(self: &Arc<Self>) -> Appender {
        Appender::new(Arc::clone(self))
    }
}

/// The end of the block range `t` falls in.
pub(crate) fn range_end(t: i64, block_range: i64) -> i64 {
    t.div_euclid(block_range)
        .saturating_add(1)
        .saturating_mul(block_range)
}

impl HeadState {
    pub fn new(wal: Wal, chunks: HeadChunks, block_range: i64, min_valid_time: i64) -> Self {
        HeadState {
            index: HeadIndex::new(),
            series: SeriesTable::default(),
            next_seq: 0,
            chunks,
            wal,
            min_valid_time,
            block_range,
            counters: HeadCounters::default(),
            failed: None,
            rec_buf: Vec::new(),
        }
    }

    fn series(&self, id: SeriesId) -> Option<&MemSeries> {
        self.series.get(id)
    }

    fn series_mut(&mut self, id: SeriesId) -> Option<&mut MemSeries> {
        self.series.get_mut(id)
    }

    /// The live series `r` names, if it still does.
    fn resolve(&mut self, r: SeriesRef) -> Option<&mut MemSeries> {
        self.series_mut(r.id()).filter(|s| s.seq == r.seq())
    }

    /// The id of `labels`, creating the series if needed.
    pub fn get_or_create(&mut self, labels: &Labels) -> Result<SeriesRef, AppendError> {
        let (id, created) = self.index.get_or_create(labels)?;
        if created {
            self.counters.series_created += 1;
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            self.put_series(id, MemSeries::new(seq));
        }
        let seq = self.series(id).map_or(0, |s| s.seq);
        Ok(SeriesRef::new(id, seq))
    }

    fn put_series(&mut self, id: SeriesId, s: MemSeries) {
        self.series.insert(id, s);
    }

    /// Restores a series from a WAL series record (replay). Records are
    /// authoritative in WAL order: from here on `id` names `labels`. An
    /// earlier binding of either (the id held other labels, or the labels
    /// lived under another id) is stale: that series left the head at a cut
    /// (all its samples are older than the head's bound) and its id or
    /// labels were given out again, so it goes.
    pub fn restore_series(&mut self, id: SeriesId, labels: &Labels) -> Result<(), AppendError> {
        let existing = self.index.get(labels);
        if existing == Some(id) {
            return Ok(());
        }
        if let Some(old) = existing {
            self.remove_series(old);
        }
        if self.series(id).is_some() {
            self.remove_series(id);
        }
        self.index.insert_with_id(id, labels)?;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let mut s = MemSeries::new(seq);
        s.logged = true;
        self.put_series(id, s);
        self.counters.series_created += 1;
        Ok(())
    }

    fn remove_series(&mut self, id: SeriesId) {
        self.series.remove(id);
        self.index.remove(id);
        self.counters.series_removed += 1;
    }

    /// Appends one sample whose admission was checked and which is in the
    /// WAL. Cuts the open chunk into the chunk files when it is full or the
    /// sample starts a new block range.
    pub(crate) fn apply(&mut self, id: SeriesId, t: i64, v: f64) -> Result<(), HeadError> {
        let block_range = self.block_range;
        let Some(s) = self.series.get_mut(id) else {
            return Ok(());
        };
        if s.needs_cut(t) {
            let open = s.open.take();
            if let Some(chunk) = open {
                match write_chunk(&mut self.chunks, id, &chunk) {
                    Ok(mapped) => {
                        s.mapped.push(mapped);
                        self.counters.chunks_written += 1;
                    }
                    Err(e) => {
                        s.open = Some(chunk);
                        return Err(e);
                    }
                }
            }
        }
        let end = range_end(t, block_range);
        if s.append(t, v, end).is_err() {
            // A timestamp gap too wide for the open chunk's encoding: start
            // a new chunk (a first sample always fits).
            if let Some(chunk) = s.open.take() {
                let mapped = write_chunk(&mut self.chunks, id, &chunk)?;
                s.mapped.push(mapped);
                self.counters.chunks_written += 1;
            }
            s.append(t, v, end)?;
        }
        self.counters.samples_appended += 1;
        Ok(())
    }

    /// Oldest and newest sample time in the head, if it has samples.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let mut range: Option<(i64, i64)> = None;
        for s in self.series.values() {
            let (Some(min), max) = (s.min_time(), s.last_t) else {
                continue;
            };
            range = Some(match range {
                None => (min, max),
                Some((a, b)) => (a.min(min), b.max(max)),
            });
        }
        range
    }

    /// Number of live series.
    pub fn num_series(&self) -> usize {
        self.index.num_series()
    }

    /// Number of chunks held (full and open).
    pub fn num_chunks(&self) -> usize {
        self.series
            .values()
            .map(|s| s.mapped.len() + usize::from(s.open.is_some()))
            .sum()
    }

    /// Heap bytes of the index plus per-series state (estimate).
    pub fn heap_bytes(&self) -> usize {
        self.index.heap_bytes()
            + self.series.heap_bytes()
            + self
                .series
                .values()
                .map(MemSeries::heap_bytes)
                .sum::<usize>()
    }

    /// The selected series with copies of their chunks overlapping
    /// `[mint, maxt]` (full chunks read from the chunk files).
    pub fn select_chunks(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        before: Option<i64>,
    ) -> Result<Vec<SeriesChunks>, HeadError> {
        let ids = self.index.select(matchers);
        // First the chunk metadata (borrowing the series), then the bytes
        // of full chunks (borrowing the chunk files).
        let mut wanted: Vec<(SeriesId, Vec<MappedChunk>, Option<ChunkCopy>)> = Vec::new();
        for id in ids.iter() {
            let Some(s) = self.series(id) else { continue };
            let mapped: Vec<MappedChunk> = s
                .mapped
                .iter()
                .filter(|c| c.max_time >= mint && c.min_time <= maxt)
                .filter(|c| before.is_none_or(|b| c.max_time < b))
                .copied()
                .collect();
            let open = s.open.as_ref().and_then(|c| {
                let (lo, hi) = c.time_range()?;
                let wanted = hi >= mint && lo <= maxt && before.is_none_or(|b| hi < b);
                wanted.then(|| ChunkCopy {
                    min_time: lo,
                    max_time: hi,
                    encoding: Encoding::Xor.into(),
                    bytes: c.bytes().to_vec(),
                })
            });
            if !mapped.is_empty() || open.is_some() {
                wanted.push((id, mapped, open));
            }
        }
        let mut out = Vec::with_capacity(wanted.len());
        for (id, mapped, open) in wanted {
            let Some(labels) = self.index.labels_of(id) else {
                continue;
            };
            let mut chunks = Vec::with_capacity(mapped.len() + 1);
            for c in mapped {
                let (encoding, bytes) = self.chunks.read(c.chunk_ref)?;
                chunks.push(ChunkCopy {
                    min_time: c.min_time,
                    max_time: c.max_time,
                    encoding,
                    bytes,
                });
            }
            chunks.extend(open);
            out.push(SeriesChunks { labels, chunks });
        }
        Ok(out)
    }

    /// Drops every chunk ending before `t` and removes series left with no
    /// samples (unless an appender holds them). Returns chunks and series
    /// removed.
    pub fn truncate_before(&mut self, t: i64) -> (usize, usize) {
        let mut chunks = 0;
        let mut gone = Vec::new();
        for (id, s) in self.series.iter_mut() {
            chunks += s.truncate_before(t);
            if s.is_empty() && s.pending == 0 {
                gone.push(id);
            }
        }
        for &id in &gone {
            self.remove_series(id);
        }
        (chunks, gone.len())
    }

    /// Live series ids with a hash of their labels (what a checkpoint keeps).
    pub fn live_label_hashes(&self) -> FxHashMap<SeriesId, u64> {
        let mut out = FxHashMap::default();
        for id in self.index.all_series().iter() {
            if let Some(l) = self.index.labels_of(id) {
                out.insert(id, l.stable_hash());
            }
        }
        out
    }

    /// Attaches full chunks found in the chunk files to a series being
    /// replayed and restores its last sample.
    pub(crate) fn attach_mapped(
        &mut self,
        id: SeriesId,
        mut mapped: Vec<(ChunkRef, i64, i64)>,
    ) -> Result<(), HeadError> {
        mapped.sort_by_key(|m| m.1);
        let last = match mapped.last() {
            Some(&(r, _, _)) => Some(self.chunks.last_sample(r)?),
            None => None,
        };
        let Some(s) = self.series_mut(id) else {
            return Ok(());
        };
        for (chunk_ref, min_time, max_time) in mapped {
            if s.mapped.last().is_some_and(|p| p.max_time >= min_time) {
                continue;
            }
            s.mapped.push(MappedChunk {
                chunk_ref,
                min_time,
                max_time,
            });
        }
        if let Some(Some((t, v))) = last {
            s.last_t = t;
            s.last_v = v.to_bits();
        }
        Ok(())
    }

    /// Encodes the WAL records for a commit into the head's buffers and logs
    /// them.
    fn log_commit(
        &mut self,
        new_series: &[crate::tsdb::record::RefSeries],
        samples: &[crate::tsdb::record::RefSample],
    ) -> Result<(), crate::tsdb::wal::WalError> {
        use crate::tsdb::record::{encode_samples, encode_series};
        // One record per bounded chunk, so a huge scrape (a million
        // series) stays far below the WAL's record limit. Series records
        // come first: every sample's series is declared before it.
        let buf = &mut self.rec_buf;
        buf.clear();
        let mut ends = Vec::new();
        for chunk in new_series.chunks(SERIES_PER_RECORD) {
            encode_series(chunk, buf);
            ends.push(buf.len());
        }
        for chunk in samples.chunks(SAMPLES_PER_RECORD) {
            encode_samples(chunk, buf);
            ends.push(buf.len());
        }
        if ends.is_empty() {
            return Ok(());
        }
        let mut records: Vec<&[u8]> = Vec::with_capacity(ends.len());
        let mut start = 0;
        for end in ends {
            records.push(&buf[start..end]);
            start = end;
        }
        let res = self.wal.log(&records).map(|_| ());
        drop(records);
        crate::tsdb::release_if_large(&mut self.rec_buf);
        res
    }
}

/// Most series declarations in one WAL record (a few MB at most).
const SERIES_PER_RECORD: usize = 10_000;
/// Most samples in one WAL record (about 1.5 MB).
const SAMPLES_PER_RECORD: usize = 100_000;

fn write_chunk(
    chunks: &mut HeadChunks,
    id: SeriesId,
    chunk: &XorChunk,
) -> Result<MappedChunk, HeadError> {
    let (min_time, max_time) = chunk.time_range().unwrap_or((0, 0));
    let chunk_ref = chunks.write(id, min_time, max_time, Encoding::Xor.into(), chunk.bytes())?;
    Ok(MappedChunk {
        chunk_ref,
        min_time,
        max_time,
    })
}
