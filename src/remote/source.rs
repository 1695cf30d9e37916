//! Where an endpoint's samples come from. [`SampleSource`] is the seam: the
//! dispatcher only takes samples from a source and tells it when they are
//! finished, so the in-memory [`MemoryQueue`] and the WAL tailer
//! ([`wal`](super::wal)) share batching, sharding and retries.

use super::Sample;
use parking_lot::Mutex;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::sync::Notify;

/// A supply of samples for one endpoint.
pub trait SampleSource: Send + Sync + 'static {
    /// Moves the samples available now into `out` (appending, in order).
    fn take(&self, out: &mut Vec<Sample>);
    /// Resolves when samples may be available or the source was closed.
    fn wait(&self) -> impl Future<Output = ()> + Send;
    /// True once closed: after that, `take` yields what is left and then
    /// nothing more.
    fn is_closed(&self) -> bool;
    /// Reports that `n` samples taken earlier are finished (acknowledged or
    /// given up on), so the source may release them.
    fn done(&self, n: usize);
    /// Samples taken or takeable but not yet finished.
    fn pending(&self) -> usize;
    /// Samples accepted since the start (for the arrival rate).
    fn accepted_total(&self) -> u64;
    /// Every sample numbered below `upto` is finished (acknowledged or
    /// given up on). Samples are numbered 0, 1, 2, … in the order `take`
    /// hands them out; batches finish out of order across shards, and the
    /// dispatcher reports the lowest number still held anywhere. A durable
    /// source advances its position here; the memory queue ignores it.
    fn release(&self, upto: u64) {
        let _ = upto;
    }
    /// Samples waiting to be sent, including any not yet taken (a WAL
    /// source counts the unread part of the WAL): what the shard count
    /// must catch up with.
    fn backlog(&self) -> usize {
        self.pending()
    }
    /// The dispatcher has stopped: everything it will ever release is
    /// released.
    fn stopped(&self) {}
}

/// The in-memory queue: bounded by `capacity` samples counted from append
/// until the batch holding them is finished.
pub struct MemoryQueue {
    buf: Mutex<Vec<Sample>>,
    pending: AtomicUsize,
    accepted: AtomicU64,
    capacity: usize,
    closed: AtomicBool,
    notify: Notify,
}

impl MemoryQueue {
    /// An empty queue holding at most `capacity` samples.
    pub fn new(capacity: usize) -> Self {
        MemoryQueue {
            buf: Mutex::new(Vec::new()),
            pending: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            capacity,
            closed: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Appends the samples that `admit` lets through (it may rewrite the
    /// series), as long as there is room. Returns how many were refused for
    /// lack of room, or all of them when the queue is closed.
    pub fn push<'a>(
        &self,
        samples: impl Iterator<Item = &'a Sample>,
        mut admit: impl FnMut(&Sample) -> Option<Sample>,
    ) -> PushResult {
        let mut r = PushResult::default();
        {
            let mut buf = self.buf.lock();
            let closed = self.closed.load(Ordering::Acquire);
            // Only pushers increase `pending`, and they hold the lock, so
            // the room computed here can only grow while we push.
            let mut room = self
                .capacity
                .saturating_sub(self.pending.load(Ordering::Acquire));
            for s in samples {
                let Some(s) = admit(s) else { continue };
                if closed {
                    r.closed += 1;
                } else if room == 0 {
                    r.full += 1;
                } else {
                    room -= 1;
                    buf.push(s);
                    r.accepted += 1;
                }
            }
            self.pending.fetch_add(r.accepted, Ordering::AcqRel);
        }
        if r.accepted > 0 {
            self.accepted
                .fetch_add(r.accepted as u64, Ordering::Relaxed);
            self.notify.notify_one();
        }
        r
    }

    /// Closes the queue: later pushes are refused, the dispatcher drains
    /// what is there and stops.
    pub fn close(&self) {
        // Take the lock so no push is half done when the flag flips.
        let _buf = self.buf.lock();
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }
}

/// The outcome of [`MemoryQueue::push`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushResult {
    /// Queued.
    pub accepted: usize,
    /// Refused: queue at capacity.
    pub full: usize,
    /// Refused: queue closed (shutting down).
    pub closed: usize,
}

impl SampleSource for MemoryQueue {
    fn take(&self, out: &mut Vec<Sample>) {
        let mut buf = self.buf.lock();
        if out.is_empty() {
            std::mem::swap(&mut *buf, out);
        } else {
            out.append(&mut buf);
        }
    }

    fn wait(&self) -> impl Future<Output = ()> + Send {
        self.notify.notified()
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn done(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::AcqRel);
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use std::sync::Arc;

    fn samples(n: usize) -> Vec<Sample> {
        let l = Arc::new(Labels::from_pairs([("__name__", "x")]));
        (0..n)
            .map(|i| Sample {
                labels: l.clone(),
                timestamp_ms: i as i64,
                value: 1.0,
            })
            .collect()
    }

    #[test]
    fn capacity_counts_until_done() {
        let q = MemoryQueue::new(5);
        let r = q.push(samples(3).iter(), |s| Some(s.clone()));
        assert_eq!((r.accepted, r.full), (3, 0));
        let mut out = Vec::new();
        q.take(&mut out);
        assert_eq!(out.len(), 3);
        // Taken but not done: still counted.
        let r = q.push(samples(4).iter(), |s| Some(s.clone()));
        assert_eq!((r.accepted, r.full), (2, 2));
        q.done(3);
        assert_eq!(q.pending(), 2);
        let r = q.push(samples(4).iter(), |s| Some(s.clone()));
        assert_eq!((r.accepted, r.full), (3, 1));
        q.close();
        let r = q.push(samples(2).iter(), |s| Some(s.clone()));
        assert_eq!((r.accepted, r.closed), (0, 2));
        assert_eq!(q.accepted_total(), 8);
    }

    #[test]
    fn admit_filters_before_capacity() {
        let q = MemoryQueue::new(2);
        let r = q.push(samples(6).iter(), |s| {
            (s.timestamp_ms % 2 == 0).then(|| s.clone())
        });
        assert_eq!((r.accepted, r.full), (2, 1));
    }
}
