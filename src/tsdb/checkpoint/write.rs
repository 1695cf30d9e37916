//! Writing a checkpoint (`docs/format/checkpoint.md`).

use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::tsdb::fs::Directory;
use crate::tsdb::record::{self, Record, RefSample, RefSeries};
use crate::tsdb::wal::{Position, SyncPolicy, Wal, WalOptions, WalReader, list_segments};

use super::{CheckpointError, TMP_SUFFIX, checkpoint_name, last};

/// Samples per samples record in a checkpoint.
const SAMPLES_PER_RECORD: usize = 10_000;
/// Series per series record in a checkpoint.
const SERIES_PER_RECORD: usize = 1_000;

/// What a checkpoint kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// The last segment the checkpoint covers.
    pub index: u32,
    /// Series records kept (each ref once).
    pub series_kept: u64,
    /// Series dropped because `keep` said so.
    pub series_dropped: u64,
    /// Samples kept.
    pub samples_kept: u64,
    /// Samples dropped (series not kept, or older than `mint`).
    pub samples_dropped: u64,
}

/// Writes the checkpoint covering WAL segments up to `to` (which must be
/// completed: older than the segment being written), from the previous
/// checkpoint and the segments after it. Keeps the series records for which
/// `keep(record)` is true (the head passes "this ref still names these
/// labels", so a record of an id that was removed and later reused for
/// another series is dropped) and the samples with `t ≥ mint` of the
/// series kept.
///
/// The checkpoint is complete (renamed into place, synced) when this
/// returns; the caller then deletes the covered segments
/// ([`Wal::truncate_before`]`(to + 1)`) and older checkpoints
/// ([`delete_before`](super::delete_before)`(to)`).
pub fn create(
    wal_dir: &Arc<dyn Directory>,
    to: u32,
    keep: impl Fn(&RefSeries) -> bool,
    mint: i64,
) -> Result<CheckpointStats, CheckpointError> {
    let prev = last(&**wal_dir)?;
    if let Some(existing) = prev.filter(|&p| p >= to) {
        return Err(CheckpointError::AlreadyCovered { to, existing });
    }
    let segs = list_segments(&**wal_dir)?;
    let newest = segs.last().copied();
    if newest.is_none_or(|n| to >= n) {
        return Err(CheckpointError::ActiveSegment {
            to,
            newest_done: newest.map_or(-1, |n| i64::from(n) - 1),
        });
    }
    let final_name = checkpoint_name(to);
    let tmp_name = format!("{final_name}{TMP_SUFFIX}");
    if wal_dir.list_dirs()?.contains(&tmp_name) {
        wal_dir.remove_dir(&tmp_name)?;
    }
    let opts = WalOptions {
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    };
    let (out, _) = Wal::open(wal_dir.subdir(&tmp_name)?, opts)?;
    let mut w = Writer {
        out,
        keep,
        mint,
        series: Vec::new(),
        samples: Vec::new(),
        seen: FxHashSet::default(),
        buf: Vec::new(),
        stats: CheckpointStats {
            index: to,
            ..CheckpointStats::default()
        },
    };
    let start = match prev {
        Some(p) => {
            let name = checkpoint_name(p);
            let mut r = WalReader::from_start(wal_dir.subdir(&name)?)?;
            w.copy(&mut r, &name)?;
            p + 1
        }
        None => segs.first().copied().unwrap_or(0),
    };
    let mut r = WalReader::new(Arc::clone(wal_dir), Position::start_of(start))
        .with_end(Position::start_of(to + 1));
    w.copy(&mut r, "wal")?;
    w.flush()?;
    let stats = w.stats;
    w.out.close()?;
    wal_dir.rename_dir(&tmp_name, &final_name)?;
    wal_dir.sync_dir()?;
    Ok(stats)
}

struct Writer<F> {
    out: Wal,
    keep: F,
    mint: i64,
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    seen: FxHashSet<u32>,
    buf: Vec<u8>,
    stats: CheckpointStats,
}

impl<F: Fn(&RefSeries) -> bool> Writer<F> {
    /// Copies what is kept of every record `r` returns.
    fn copy(&mut self, r: &mut WalReader, source_name: &str) -> Result<(), CheckpointError> {
        loop {
            let decoded = match r.next_record() {
                Ok(Some(rec)) => record::decode(rec),
                Ok(None) => return Ok(()),
                Err(e) if source_name == "wal" => return Err(e.into()),
                Err(source) => {
                    return Err(CheckpointError::InCheckpoint {
                        name: source_name.to_string(),
                        source,
                    });
                }
            };
            let record = decoded.map_err(|source| CheckpointError::Record {
                source_name: source_name.to_string(),
                position: r.position(),
                source,
            })?;
            match record {
                Record::Series(series) => {
                    for s in series {
                        if !(self.keep)(&s) {
                            self.stats.series_dropped += 1;
                        } else if self.seen.insert(s.series) {
                            self.stats.series_kept += 1;
                            self.series.push(s);
                        }
                    }
                }
                Record::Samples(samples) => {
                    for s in samples {
                        if self.seen.contains(&s.series) && s.t >= self.mint {
                            self.stats.samples_kept += 1;
                            self.samples.push(s);
                        } else {
                            self.stats.samples_dropped += 1;
                        }
                    }
                }
            }
            if self.series.len() >= SERIES_PER_RECORD || self.samples.len() >= SAMPLES_PER_RECORD {
                self.flush()?;
            }
        }
    }

    /// Logs the buffered series, then the buffered samples.
    fn flush(&mut self) -> Result<(), CheckpointError> {
        for chunk in self.series.chunks(SERIES_PER_RECORD) {
            self.buf.clear();
            record::encode_series(chunk, &mut self.buf);
            self.out.log(&[&self.buf])?;
        }
        for chunk in self.samples.chunks(SAMPLES_PER_RECORD) {
            self.buf.clear();
            record::encode_samples(chunk, &mut self.buf);
            self.out.log(&[&self.buf])?;
        }
        self.series.clear();
        self.samples.clear();
        Ok(())
    }
}
