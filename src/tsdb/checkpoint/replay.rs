//! [`Replay`]: the records to replay at open, the newest checkpoint's first
//! and then the WAL segments after it.

use std::sync::Arc;

use crate::tsdb::fs::Directory;
use crate::tsdb::wal::{Position, WalReader};

use super::{CheckpointError, checkpoint_name, delete_before, last};

/// Replays the newest checkpoint, then the WAL after it.
#[derive(Debug)]
pub struct Replay {
    checkpoint: Option<(String, WalReader)>,
    checkpoint_done: bool,
    wal: WalReader,
}

impl Replay {
    /// Combines the newest checkpoint in `wal_dir` with `wal_replay` (the
    /// reader [`Wal::open`](crate::tsdb::wal::Wal::open) returned): the checkpoint's records, then the
    /// segments after the ones it covers. Deletes older checkpoints (a
    /// crash may have left them). Segments the checkpoint covers are
    /// skipped, not deleted: other readers of the WAL (remote write) may
    /// still need them, so their deletion is the owner's decision
    /// ([`Wal::truncate_before`](crate::tsdb::wal::Wal::truncate_before)).
    pub fn new(
        wal_dir: &Arc<dyn Directory>,
        wal_replay: WalReader,
    ) -> Result<Self, CheckpointError> {
        let Some(cp) = last(&**wal_dir)? else {
            return Ok(Replay {
                checkpoint: None,
                checkpoint_done: true,
                wal: wal_replay,
            });
        };
        delete_before(&**wal_dir, cp)?;
        let name = checkpoint_name(cp);
        let reader = WalReader::from_start(wal_dir.subdir(&name)?).map_err(|source| {
            CheckpointError::InCheckpoint {
                name: name.clone(),
                source,
            }
        })?;
        let from = wal_replay
            .position()
            .max(Position::start_of(cp.saturating_add(1)));
        let mut wal_reader = WalReader::new(Arc::clone(wal_dir), from);
        if let Some(end) = wal_replay.end() {
            wal_reader = wal_reader.with_end(end);
        }
        Ok(Replay {
            checkpoint: Some((name, reader)),
            checkpoint_done: false,
            wal: wal_reader,
        })
    }

    /// Whether the records now come from the checkpoint.
    pub fn in_checkpoint(&self) -> bool {
        !self.checkpoint_done
    }

    /// The next record, or `Ok(None)` at the end.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>, CheckpointError> {
        if !self.checkpoint_done {
            if let Some((name, reader)) = self.checkpoint.as_mut() {
                match reader.next_record() {
                    Ok(Some(rec)) => return Ok(Some(rec)),
                    Ok(None) => {}
                    Err(source) => {
                        return Err(CheckpointError::InCheckpoint {
                            name: name.clone(),
                            source,
                        });
                    }
                }
            }
            self.checkpoint_done = true;
        }
        Ok(self.wal.next_record()?)
    }
}
