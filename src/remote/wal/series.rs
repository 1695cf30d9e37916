//! The series refs a tailer resolves samples with: ref → the endpoint's
//! label set (after its `write_relabel_configs`), loaded from the newest
//! checkpoint and the WAL before the start position, then kept up to date
//! from the series records the tailer reads.
//!
//! Garbage collection (as Prometheus' WAL watcher does): each ref remembers
//! the segment of its newest declaration (a checkpoint counts as its index).
//! Once the tailer has read past a new checkpoint's index, it re-reads the
//! checkpoint's series and forgets refs declared only before it: the
//! database dropped those series from its head, so no later sample names
//! them.

use crate::labels::Labels;
use crate::relabel::Rules;
use crate::tsdb::checkpoint;
use crate::tsdb::fs::Directory;
use crate::tsdb::record::{self, RecordType, RefSeries};
use crate::tsdb::wal::{Position, WalError, WalReader, list_segments};
use rustc_hash::FxHashMap;
use std::sync::Arc;

use super::error::WalSourceError;

/// Ref → labels as this endpoint sends them; `None` when its
/// `write_relabel_configs` drop the series.
#[derive(Debug, Default)]
pub(crate) struct SeriesCache {
    map: FxHashMap<u32, Entry>,
    scratch: Vec<RefSeries>,
}

#[derive(Debug)]
struct Entry {
    labels: Option<Arc<Labels>>,
    /// Segment of the newest declaration (a checkpoint's index).
    seen: u32,
}

/// What resolving a ref found.
pub(crate) enum Resolved<'a> {
    /// Send under these labels.
    Send(&'a Arc<Labels>),
    /// Dropped by `write_relabel_configs`.
    Relabeled,
    /// Never declared.
    Unknown,
}

impl SeriesCache {
    /// Adds the series of one series record read in segment `seen`. Errors
    /// are bad records.
    pub fn add_record(
        &mut self,
        rec: &[u8],
        seen: u32,
        rules: &Rules,
    ) -> Result<(), record::RecordError> {
        self.scratch.clear();
        record::decode_series(rec, &mut self.scratch)?;
        for s in self.scratch.drain(..) {
            let labels = if rules.is_empty() {
                Some(Arc::new(s.labels))
            } else {
                rules.apply(&s.labels).map(Arc::new)
            };
            self.map.insert(s.series, Entry { labels, seen });
        }
        Ok(())
    }

    /// The labels of `series`.
    pub fn resolve(&self, series: u32) -> Resolved<'_> {
        match self.map.get(&series).map(|e| &e.labels) {
            Some(Some(l)) => Resolved::Send(l),
            Some(None) => Resolved::Relabeled,
            None => Resolved::Unknown,
        }
    }

    /// Series known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Loads the series of the newest checkpoint in `wal_dir`.
    pub fn load_checkpoint(
        &mut self,
        wal_dir: &Arc<dyn Directory>,
        rules: &Rules,
    ) -> Result<Option<u32>, WalSourceError> {
        let Some(cp) = checkpoint::last(&**wal_dir)? else {
            return Ok(None);
        };
        self.load_checkpoint_at(wal_dir, cp, rules)?;
        Ok(Some(cp))
    }

    /// Loads the series of checkpoint `cp`, marking them seen at `cp`.
    fn load_checkpoint_at(
        &mut self,
        wal_dir: &Arc<dyn Directory>,
        cp: u32,
        rules: &Rules,
    ) -> Result<(), WalSourceError> {
        let dir = wal_dir.subdir(&checkpoint::checkpoint_name(cp))?;
        let mut reader = WalReader::from_start(dir)?;
        while let Some(rec) = reader.next_record()? {
            if matches!(record::record_type(rec), Ok(RecordType::Series))
                && let Err(e) = self.add_record(rec, cp, rules)
            {
                tracing::error!(
                    checkpoint = cp,
                    "remote write: skipping a checkpoint series record that does not decode: {e}"
                );
            }
        }
        Ok(())
    }

    /// Forgets the refs declared only before checkpoint `cp` (which the
    /// tailer has read past): re-reads its series, then drops every ref
    /// last declared in a segment below `cp`. Returns how many were dropped.
    pub fn collect(
        &mut self,
        wal_dir: &Arc<dyn Directory>,
        cp: u32,
        rules: &Rules,
    ) -> Result<usize, WalSourceError> {
        self.load_checkpoint_at(wal_dir, cp, rules)?;
        let before = self.map.len();
        self.map.retain(|_, e| e.seen >= cp);
        Ok(before - self.map.len())
    }

    /// Reads series records from `reader` until `stop` (or the end),
    /// skipping samples records. Returns how many records were read.
    pub fn load_until(
        &mut self,
        reader: &mut WalReader,
        stop: Option<Position>,
        rules: &Rules,
    ) -> Result<u64, WalSourceError> {
        let mut n = 0;
        loop {
            if stop.is_some_and(|s| reader.position() >= s) {
                return Ok(n);
            }
            let end_before = reader.position();
            let Some(rec) = reader.next_record()? else {
                return Ok(n);
            };
            n += 1;
            if matches!(record::record_type(rec), Ok(RecordType::Series))
                && let Err(e) = self.add_record(rec, end_before.segment, rules)
            {
                tracing::error!(position = %end_before, "remote write: skipping a series record that does not decode: {e}");
            }
        }
    }
}

/// The oldest segment present in `wal_dir` and the end of the newest one.
pub(crate) fn wal_bounds(wal_dir: &dyn Directory) -> Result<Option<(u32, u32)>, WalError> {
    let segs = list_segments(wal_dir)?;
    Ok(segs.first().copied().zip(segs.last().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::fs::MemDirectory;
    use crate::tsdb::record::RefSample;
    use crate::tsdb::wal::{SyncPolicy, Wal, WalOptions};

    fn series(refs: &[u32]) -> Vec<u8> {
        let s: Vec<RefSeries> = refs
            .iter()
            .map(|&r| RefSeries {
                series: r,
                labels: Labels::from_pairs([("__name__", format!("m{r}"))]),
            })
            .collect();
        let mut buf = Vec::new();
        record::encode_series(&s, &mut buf);
        buf
    }

    fn samples(refs: &[u32]) -> Vec<u8> {
        let s: Vec<RefSample> = refs
            .iter()
            .map(|&r| RefSample {
                series: r,
                t: 1,
                v: 1.0,
            })
            .collect();
        let mut buf = Vec::new();
        record::encode_samples(&s, &mut buf);
        buf
    }

    #[test]
    fn collect_forgets_refs_the_checkpoint_dropped() {
        let dir: Arc<dyn Directory> = MemDirectory::new();
        let opts = WalOptions {
            segment_size: 64,
            sync: SyncPolicy::Never,
        };
        let (mut wal, _) = Wal::open(dir.clone(), opts).unwrap();
        wal.log(&[&series(&[1, 2])]).unwrap();
        for _ in 0..6 {
            wal.log(&[&samples(&[1, 2])]).unwrap();
        }
        let (_, newest) = wal.segments();
        assert!(newest >= 3);
        // The head dropped series 1; series 3 is declared after the cut.
        checkpoint::create(&dir, newest - 1, |s| s.series == 2, i64::MAX).unwrap();
        wal.log(&[&series(&[3])]).unwrap();
        let rules = Rules::default();
        let mut cache = SeriesCache::default();
        let mut reader = WalReader::from_start(dir.clone()).unwrap();
        cache.load_until(&mut reader, None, &rules).unwrap();
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.collect(&dir, newest - 1, &rules).unwrap(), 1);
        assert!(matches!(cache.resolve(1), Resolved::Unknown));
        assert!(matches!(cache.resolve(2), Resolved::Send(_)));
        assert!(matches!(cache.resolve(3), Resolved::Send(_)));
    }
}
