//! The series refs a tailer resolves samples with: ref → the endpoint's
//! label set (after its `write_relabel_configs`), loaded from the newest
//! checkpoint and the WAL before the start position, then kept up to date
//! from the series records the tailer reads.

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
    map: FxHashMap<u32, Option<Arc<Labels>>>,
    scratch: Vec<RefSeries>,
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
    /// Adds the series of one series record. Errors are bad records.
    pub fn add_record(&mut self, rec: &[u8], rules: &Rules) -> Result<(), record::RecordError> {
        self.scratch.clear();
        record::decode_series(rec, &mut self.scratch)?;
        for s in self.scratch.drain(..) {
            let labels = if rules.is_empty() {
                Some(Arc::new(s.labels))
            } else {
                rules.apply(&s.labels).map(Arc::new)
            };
            self.map.insert(s.series, labels);
        }
        Ok(())
    }

    /// The labels of `series`.
    pub fn resolve(&self, series: u32) -> Resolved<'_> {
        match self.map.get(&series) {
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
        let dir = wal_dir.subdir(&checkpoint::checkpoint_name(cp))?;
        let mut reader = WalReader::from_start(dir)?;
        self.load_until(&mut reader, None, rules)?;
        Ok(Some(cp))
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
                && let Err(e) = self.add_record(rec, rules)
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
