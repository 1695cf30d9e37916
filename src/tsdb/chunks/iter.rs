//! [`ChunkSeriesIterator`]: the samples of one series' chunks within a time
//! range, in time order, whether the chunks come from the head, a block or
//! both.

use crate::tsdb::chunkenc::{self, ChunkError, XorIterator};

/// One encoded chunk and the time range it covers, borrowed from wherever
/// it lives (a chunk file's map, the head's open chunk).
#[derive(Clone, Copy, Debug)]
pub struct ChunkSlice<'a> {
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// The encoding byte.
    pub encoding: u8,
    /// The encoded chunk.
    pub data: &'a [u8],
}

/// The samples of a series' chunks with `min_time ≤ t ≤ max_time`, in
/// increasing timestamp order.
///
/// Chunks may come in any order and may overlap (a block and the head at a
/// boundary): they are merged, and of several samples with the same
/// timestamp the one from the chunk with the smallest `min_time` (the first
/// given, among equals) is kept. Chunks outside the range are never decoded.
/// A damaged chunk yields one `Err` and ends the iteration.
#[derive(Debug)]
pub struct ChunkSeriesIterator<'a> {
    /// Chunks not yet opened, by `min_time` descending (popped from the end).
    pending: Vec<ChunkSlice<'a>>,
    /// Opened chunks with their next sample (in opening order).
    active: Vec<(XorIterator<'a>, (i64, f64))>,
    min_time: i64,
    max_time: i64,
    current: Option<(i64, f64)>,
    done: bool,
}

impl<'a> ChunkSeriesIterator<'a> {
    /// Iterates the samples of `chunks` in `[min_time, max_time]`.
    pub fn new(chunks: Vec<ChunkSlice<'a>>, min_time: i64, max_time: i64) -> Self {
        let mut pending: Vec<ChunkSlice<'a>> = chunks
            .into_iter()
            .filter(|c| c.max_time >= min_time && c.min_time <= max_time)
            .collect();
        // Stable sort, then reverse: equal min_times keep their given order
        // when popped.
        pending.sort_by_key(|c| c.min_time);
        pending.reverse();
        ChunkSeriesIterator {
            pending,
            active: Vec::new(),
            min_time,
            max_time,
            current: None,
            done: min_time > max_time,
        }
    }

    /// The sample last returned by `next` or `seek`.
    pub fn at(&self) -> Option<(i64, f64)> {
        self.current
    }

    /// Moves to the first sample with timestamp ≥ `t` and returns it; if the
    /// sample last returned qualifies, it is returned again.
    pub fn seek(&mut self, t: i64) -> Option<Result<(i64, f64), ChunkError>> {
        if let Some(cur) = self.current.filter(|c| c.0 >= t) {
            return Some(Ok(cur));
        }
        if t > self.min_time {
            self.min_time = t;
            self.pending.retain(|c| c.max_time >= t);
            let mut i = 0;
            while i < self.active.len() {
                let (it, peek) = &mut self.active[i];
                if peek.0 >= t {
                    i += 1;
                    continue;
                }
                match it.seek(t) {
                    Some(Ok(s)) => {
                        *peek = s;
                        i += 1;
                    }
                    Some(Err(e)) => return Some(Err(self.fail(e))),
                    None => {
                        self.active.remove(i);
                    }
                }
            }
        }
        self.next()
    }

    fn fail(&mut self, e: ChunkError) -> ChunkError {
        self.done = true;
        self.current = None;
        e
    }

    /// The smallest next timestamp among the active chunks, and the first
    /// chunk holding it.
    fn head(&self) -> Option<(usize, i64)> {
        let mut best: Option<(usize, i64)> = None;
        for (i, (_, (t, _))) in self.active.iter().enumerate() {
            if best.is_none_or(|(_, bt)| *t < bt) {
                best = Some((i, *t));
            }
        }
        best
    }

    /// Opens pending chunks that may hold the next sample.
    fn open_pending(&mut self) -> Result<(), ChunkError> {
        while let Some(c) = self.pending.last() {
            if self.head().is_some_and(|(_, t)| c.min_time > t) {
                return Ok(());
            }
            let c = *c;
            self.pending.pop();
            let mut it = chunkenc::iter_chunk(c.encoding, c.data)?;
            match it.seek(self.min_time) {
                Some(Ok(s)) => self.active.push((it, s)),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        Ok(())
    }

    /// Advances chunk `i` past its peeked sample.
    fn advance(&mut self, i: usize) -> Result<(), ChunkError> {
        match self.active[i].0.next() {
            Some(Ok(s)) => self.active[i].1 = s,
            Some(Err(e)) => return Err(e),
            None => {
                self.active.remove(i);
            }
        }
        Ok(())
    }
}

impl Iterator for ChunkSeriesIterator<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Err(e) = self.open_pending() {
            return Some(Err(self.fail(e)));
        }
        let Some((i, t)) = self.head() else {
            self.done = true;
            return None;
        };
        if t > self.max_time {
            self.done = true;
            self.current = None;
            return None;
        }
        let sample = self.active[i].1;
        // Drop duplicates of `t` in the other chunks, then advance `i`
        // (indexes above `i` shift when `i` is exhausted, so go backwards).
        for j in (0..self.active.len()).rev() {
            if self.active[j].1.0 == t
                && let Err(e) = self.advance(j)
            {
                return Some(Err(self.fail(e)));
            }
        }
        // Whatever comes next is after `t`, also in chunks opened later.
        match t.checked_add(1) {
            Some(next) => self.min_time = next,
            None => {
                self.pending.clear();
                self.active.clear();
            }
        }
        self.current = Some(sample);
        Some(Ok(sample))
    }
}
