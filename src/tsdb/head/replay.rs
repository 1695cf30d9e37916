//! Rebuilding the head on open: full chunks from the head chunk files, then
//! the checkpoint and WAL records after them. Samples already in a chunk
//! file, or older than the head's lower bound (cut into blocks), are
//! skipped; a corrupt WAL record stops replay there and, when allowed, the
//! WAL is repaired to keep everything before it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::series::Admission;
use super::{HeadError, HeadState};
use crate::tsdb::checkpoint::{CheckpointError, Replay};
use crate::tsdb::chunks::ChunkRef;
use crate::tsdb::fs::Directory;
use crate::tsdb::index::SeriesId;
use crate::tsdb::record::{self, RefSample, RefSeries};
use crate::tsdb::wal::{Position, RepairReport, WalError, WalReader};

/// How replay treats damage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplayOptions {
    /// Repair a corrupt WAL (drop the damaged record and everything after
    /// it) instead of failing to open.
    pub repair: bool,
}

/// What replay found.
#[derive(Debug, Clone, Default)]
pub struct ReplayStats {
    /// Series records read.
    pub series: u64,
    /// Samples put back into the head.
    pub samples: u64,
    /// Samples skipped: already in a chunk file or before the head's
    /// lower bound.
    pub samples_skipped: u64,
    /// Full chunks found in the head chunk files.
    pub mapped_chunks: u64,
    /// Where a corrupt WAL record was repaired, and what the repair dropped.
    pub repaired_at: Option<(Position, RepairReport)>,
    /// How long replay took.
    pub duration: Duration,
}

/// Replays into `st` (fresh) the chunk files, then `wal_replay` (from
/// `Wal::open`) through the newest checkpoint.
pub(crate) fn replay(
    st: &mut HeadState,
    wal_dir: &Arc<dyn Directory>,
    wal_replay: WalReader,
    opts: ReplayOptions,
) -> Result<ReplayStats, HeadError> {
    let started = Instant::now();
    let mut stats = ReplayStats::default();
    let min_valid = st.min_valid_time;
    let mut mapped: FxHashMap<SeriesId, Vec<(ChunkRef, i64, i64)>> = FxHashMap::default();
    for (series, chunk_ref, mint, maxt) in st.chunks.take_scanned() {
        if maxt >= min_valid {
            stats.mapped_chunks += 1;
            mapped
                .entry(series)
                .or_default()
                .push((chunk_ref, mint, maxt));
        }
    }
    let mut replay = Replay::new(wal_dir, wal_replay).map_err(HeadError::Replay)?;
    let mut series_buf: Vec<RefSeries> = Vec::new();
    let mut samples_buf: Vec<RefSample> = Vec::new();
    loop {
        let rec = match replay.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(e) => {
                let position = corrupt_position(&e);
                match position {
                    Some(at) if opts.repair && !replay.in_checkpoint() => {
                        let report = st.wal.repair(at)?;
                        tracing::warn!(position = %at, ?report, "WAL corrupt: repaired, keeping everything before the damage");
                        stats.repaired_at = Some((at, report));
                        break;
                    }
                    _ => return Err(HeadError::Replay(e)),
                }
            }
        };
        match record::record_type(rec)? {
            record::RecordType::Series => {
                series_buf.clear();
                record::decode_series(rec, &mut series_buf)?;
                for s in series_buf.drain(..) {
                    stats.series += 1;
                    st.restore_series(s.series, &s.labels)?;
                    if let Some(chunks) = mapped.remove(&s.series) {
                        st.attach_mapped(s.series, chunks)?;
                    }
                }
            }
            record::RecordType::Samples => {
                samples_buf.clear();
                record::decode_samples(rec, &mut samples_buf)?;
                for s in &samples_buf {
                    let id = s.series;
                    let admit = st.series(id).map(|m| {
                        let in_chunks = m.mapped.last().is_some_and(|c| c.max_time >= s.t);
                        (in_chunks, m.admit(s.t, s.v))
                    });
                    match admit {
                        Some((false, Admission::Accept)) if s.t >= min_valid => {
                            st.apply(id, s.t, s.v)?;
                            stats.samples += 1;
                        }
                        _ => stats.samples_skipped += 1,
                    }
                }
            }
        }
    }
    st.index.optimize();
    stats.duration = started.elapsed();
    Ok(stats)
}

fn corrupt_position(e: &CheckpointError) -> Option<Position> {
    match e {
        CheckpointError::Wal(w @ WalError::Corrupt { .. }) => w.position(),
        CheckpointError::Record { position, .. } => Some(*position),
        _ => None,
    }
}
