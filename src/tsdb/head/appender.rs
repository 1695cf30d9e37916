//! [`Appender`]: buffers samples and commits them as one WAL write. A
//! sample is accepted when [`Appender::commit`] returns `Ok`: by then it is
//! in the WAL (durable as the WAL's sync policy says) and visible to
//! queries.

use std::sync::Arc;

use super::series::Admission;
use super::{Head, HeadError, SeriesRef};
use crate::labels::Labels;
use crate::tsdb::index::{SeriesError, SeriesId};
use crate::tsdb::record::{RefSample, RefSeries};

/// Why a sample could not even be buffered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppendError {
    /// The label set cannot name a series (empty, or the index refused it).
    #[error("invalid series: {0}")]
    Series(#[from] SeriesError),
}

/// What a commit did with the samples it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Samples now in the WAL and the head.
    pub appended: u64,
    /// Refused: older than their series' last sample, or its timestamp with
    /// another value.
    pub out_of_order: u64,
    /// Refused: older than the head's lower bound.
    pub out_of_bounds: u64,
    /// Ignored: an exact repeat of the series' last sample.
    pub duplicates: u64,
    /// Refused: the [`SeriesRef`] names a series no longer in the head.
    pub unknown_refs: u64,
    /// Samples given with [`Appender::append_ref_or`] whose ref was stale:
    /// their series was looked up (or created) by labels instead. Callers
    /// caching refs should drop them when this is not zero.
    pub refs_replaced: u64,
}

/// Collects samples for one commit. Dropping it uncommitted rolls back.
pub struct Appender {
    head: Arc<Head>,
    samples: Vec<(SeriesRef, i64, f64)>,
    /// Labels to fall back on for the sample at an index, when its ref is
    /// stale ([`Appender::append_ref_or`]).
    fallback: Vec<(usize, Arc<Labels>)>,
    /// Series this appender created or looked up, held against removal.
    held: Vec<SeriesId>,
}

impl Appender {
    pub(super) fn new(head: Arc<Head>) -> Self {
        Appender {
            head,
            samples: Vec::new(),
            fallback: Vec::new(),
            held: Vec::new(),
        }
    }

    /// Buffers a sample of the series `labels`, creating the series if it
    /// is new; returns its ref for [`Appender::append_ref`] next time.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let r = {
            let mut st = self.head.lock();
            let r = st.get_or_create(labels)?;
            if let Some(s) = st.series_mut(r.id()) {
                s.pending += 1;
            }
            r
        };
        self.held.push(r.id());
        self.samples.push((r, t, v));
        Ok(r)
    }

    /// Buffers a sample of the series `r` names. A ref whose series left
    /// the head is counted in [`CommitStats::unknown_refs`] at commit.
    pub fn append_ref(&mut self, r: SeriesRef, t: i64, v: f64) {
        self.samples.push((r, t, v));
    }

    /// Buffers a sample of the series `r` names, or, if that ref is stale
    /// at commit (its series left the head), of the series `labels` (found
    /// or created then). For callers that cache refs by label set.
    pub fn append_ref_or(&mut self, r: SeriesRef, labels: &Arc<Labels>, t: i64, v: f64) {
        self.fallback.push((self.samples.len(), Arc::clone(labels)));
        self.samples.push((r, t, v));
    }

    /// Samples buffered.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Logs the buffered samples to the WAL and adds them to the head.
    /// Refused samples are counted, not errors. On `Err` nothing of this
    /// batch was accepted, except with [`HeadError::Failed`]: then the
    /// batch is in the WAL but not all of it in the head, and it comes back
    /// when the database is reopened.
    pub fn commit(mut self) -> Result<CommitStats, HeadError> {
        let samples = std::mem::take(&mut self.samples);
        let fallback = std::mem::take(&mut self.fallback);
        let head = Arc::clone(&self.head);
        let (res, synced) = {
            let mut st = head.lock();
            let res = commit_locked(&mut st, &samples, &fallback);
            release(&mut st, &self.held);
            (res, st.wal.synced_position())
        };
        self.held.clear();
        if matches!(&res, Ok(s) if s.appended > 0) {
            head.notify(synced);
        }
        res
    }

    /// Drops the buffered samples.
    pub fn rollback(self) {}
}

impl Drop for Appender {
    fn drop(&mut self) {
        if !self.held.is_empty() {
            let mut st = self.head.lock();
            release(&mut st, &self.held);
        }
    }
}

fn release(st: &mut super::HeadState, held: &[SeriesId]) {
    for &id in held {
        if let Some(s) = st.series_mut(id) {
            s.pending = s.pending.saturating_sub(1);
        }
    }
}

/// An undo entry: a series' last sample before this commit touched it.
struct Undo {
    id: SeriesId,
    last_t: i64,
    last_v: u64,
    logged: bool,
}

fn commit_locked(
    st: &mut super::HeadState,
    samples: &[(SeriesRef, i64, f64)],
    fallback: &[(usize, Arc<Labels>)],
) -> Result<CommitStats, HeadError> {
    if let Some(cause) = &st.failed {
        return Err(HeadError::Failed {
            cause: Arc::clone(cause),
        });
    }
    let mut stats = CommitStats::default();
    let mut accepted = Vec::with_capacity(samples.len());
    let mut new_series = Vec::new();
    let mut undo = Vec::with_capacity(samples.len());
    let min_valid = st.min_valid_time;
    let mut fallback = fallback.iter().peekable();
    for (i, &(r, t, v)) in samples.iter().enumerate() {
        let labels = loop {
            match fallback.peek() {
                Some((at, _)) if *at < i => {
                    fallback.next();
                }
                Some((at, l)) if *at == i => break Some(l),
                _ => break None,
            }
        };
        let r = if st.resolve(r).is_some() {
            r
        } else if let Some(l) = labels {
            stats.refs_replaced += 1;
            st.get_or_create(l)?
        } else {
            r
        };
        let Some(s) = st.resolve(r) else {
            stats.unknown_refs += 1;
            continue;
        };
        if t < min_valid {
            stats.out_of_bounds += 1;
            continue;
        }
        match s.admit(t, v) {
            Admission::OutOfOrder => stats.out_of_order += 1,
            Admission::Duplicate => stats.duplicates += 1,
            Admission::Accept => {
                undo.push(Undo {
                    id: r.id(),
                    last_t: s.last_t,
                    last_v: s.last_v,
                    logged: s.logged,
                });
                s.last_t = t;
                s.last_v = v.to_bits();
                let declare = !s.logged;
                s.logged = true;
                if declare && let Some(labels) = st.index.labels_of(r.id()) {
                    new_series.push(RefSeries {
                        series: r.id(),
                        labels,
                    });
                }
                accepted.push(RefSample {
                    series: r.id(),
                    t,
                    v,
                });
            }
        }
    }
    if let Err(e) = st.log_commit(&new_series, &accepted) {
        for u in undo.iter().rev() {
            if let Some(s) = st.series_mut(u.id) {
                s.last_t = u.last_t;
                s.last_v = u.last_v;
                s.logged = u.logged;
            }
        }
        return Err(e.into());
    }
    for s in &accepted {
        if let Err(e) = st.apply(s.series, s.t, s.v) {
            // The sample is in the WAL; a restart replays it. Refuse more
            // until then rather than hold data the head cannot write out.
            tracing::error!(cause = %e, "head chunk write failed; refusing appends until restart");
            let cause = Arc::new(e);
            st.failed = Some(Arc::clone(&cause));
            return Err(HeadError::Failed { cause });
        }
    }
    stats.appended = accepted.len() as u64;
    let c = &mut st.counters;
    c.out_of_order += stats.out_of_order;
    c.out_of_bounds += stats.out_of_bounds;
    c.duplicates += stats.duplicates;
    c.unknown_refs += stats.unknown_refs;
    Ok(stats)
}
