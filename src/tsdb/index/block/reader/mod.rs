//! [`IndexReader`]: a block index file (`docs/format/index.md`) held in
//! memory or a memory map, read in place. This file holds the reader's
//! parts and the one unsafe step, viewing a postings bitmap in place;
//! [`validate`] is everything [`IndexReader::open`] checks before such a
//! view may be handed out, and [`query`] serves symbols, series and
//! postings from a validated file.

mod query;
mod validate;

use std::ops::Range;

use croaring::{BitmapView, Portable};

use super::format::{ChunkMeta, ENTRY_LEN, NONE_REF, get_u32, get_u64};
use crate::labels::Labels;

/// One series of a block: its labels and its chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesEntry {
    /// The label set.
    pub labels: Labels,
    /// Its chunks in time order.
    pub chunks: Vec<ChunkMeta>,
}

/// A table of variable-length records: a count, 32-bit starts, then data.
#[derive(Clone, Copy, Debug)]
struct Table<'a> {
    count: usize,
    starts: &'a [u8],
    data: &'a [u8],
    /// File offset of `data`.
    data_offset: usize,
}

impl Table<'_> {
    fn start(&self, i: usize) -> usize {
        get_u32(self.starts, i * 4).unwrap_or(0) as usize
    }

    /// Byte range of record `i` within `data` (checked at parse time).
    fn range(&self, i: usize) -> Range<usize> {
        let end = if i + 1 < self.count {
            self.start(i + 1)
        } else {
            self.data.len()
        };
        self.start(i)..end
    }
}

/// A validated block index, borrowing the file's bytes.
#[derive(Clone, Debug)]
pub struct IndexReader<'a> {
    symbols: Table<'a>,
    series: Table<'a>,
    postings_data: &'a [u8],
    postings_data_offset: usize,
    /// The postings table's entries (after the count).
    entries: &'a [u8],
}

impl<'a> IndexReader<'a> {
    /// Where this reader's parts lie in `file`, the bytes it was opened on,
    /// so that [`MappedIndex`](super::MappedIndex) can rebuild it without
    /// validating again.
    pub(super) fn layout(&self, file: &[u8]) -> Layout {
        let base = file.as_ptr() as usize;
        let range = |part: &[u8]| {
            let start = part.as_ptr() as usize - base;
            start..start + part.len()
        };
        let table = |t: &Table<'_>| TableLayout {
            count: t.count,
            starts: range(t.starts),
            data: range(t.data),
        };
        Layout {
            symbols: table(&self.symbols),
            series: table(&self.series),
            postings_data: range(self.postings_data),
            entries: range(self.entries),
        }
    }

    /// Rebuilds the reader that [`IndexReader::layout`] described, without
    /// validating again.
    ///
    /// # Safety
    ///
    /// `file` must be the very bytes, unchanged, of the reader `layout` was
    /// taken from, which [`IndexReader::open`] validated. The reader views
    /// their postings in place trusting that validation; other bytes let
    /// croaring's view read outside them.
    pub(super) unsafe fn from_layout(file: &'a [u8], layout: &Layout) -> Self {
        let part = |r: &Range<usize>| file.get(r.clone()).unwrap_or(&[]);
        let table = |t: &TableLayout| Table {
            count: t.count,
            starts: part(&t.starts),
            data: part(&t.data),
            data_offset: t.data.start,
        };
        IndexReader {
            symbols: table(&layout.symbols),
            series: table(&layout.series),
            postings_data: part(&layout.postings_data),
            postings_data_offset: layout.postings_data.start,
            entries: part(&layout.entries),
        }
    }

    fn view_at(&self, i: usize) -> BitmapView<'a> {
        let bytes = self.bitmap_bytes(&self.entry(i));
        // SAFETY: `open` checked with croaring's bounds-checked portable
        // deserialiser (which also runs its internal validation) that the
        // bytes of every entry hold one valid portable bitmap, and that they
        // are exactly that bitmap's serialization (offset header included,
        // which the view trusts), which is what the view requires. A reader
        // rebuilt by `from_layout` is over those same bytes (its contract).
        unsafe { BitmapView::deserialize::<Portable>(bytes) }
    }

    fn bitmap_bytes(&self, e: &Entry) -> &'a [u8] {
        let start = e.offset as usize;
        self.postings_data
            .get(start..start + e.len as usize)
            .unwrap_or(&[])
    }

    fn entry_count(&self) -> usize {
        self.entries.len() / ENTRY_LEN
    }

    fn entry(&self, i: usize) -> Entry {
        entry_at(self.entries, i)
    }

    /// First entry not before (name, value).
    fn lower_bound(&self, name: u32, value: u32) -> usize {
        let (mut lo, mut hi) = (0usize, self.entry_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.entry(mid);
            if (e.name, e.value) < (name, value) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn view_of(&self, name: u32, value: u32) -> Option<BitmapView<'a>> {
        let i = self.lower_bound(name, value);
        if i >= self.entry_count() {
            return None;
        }
        let e = self.entry(i);
        if (e.name, e.value) != (name, value) {
            return None;
        }
        Some(self.view_at(i))
    }
}

/// Byte ranges of a [`Table`] in the file.
#[derive(Clone, Debug)]
struct TableLayout {
    count: usize,
    starts: Range<usize>,
    data: Range<usize>,
}

/// Byte ranges of a validated reader's parts in its file.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    symbols: TableLayout,
    series: TableLayout,
    postings_data: Range<usize>,
    entries: Range<usize>,
}

/// One postings table entry.
#[derive(Clone, Copy, Debug)]
struct Entry {
    name: u32,
    value: u32,
    offset: u64,
    len: u32,
}

fn entry_at(entries: &[u8], i: usize) -> Entry {
    let at = i * ENTRY_LEN;
    Entry {
        name: get_u32(entries, at).unwrap_or(NONE_REF),
        value: get_u32(entries, at + 4).unwrap_or(NONE_REF),
        offset: get_u64(entries, at + 8).unwrap_or(u64::MAX),
        len: get_u32(entries, at + 16).unwrap_or(0),
    }
}
