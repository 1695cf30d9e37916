//! [`IndexReader`]: validates a block index file (`docs/format/index.md`)
//! held in memory or a memory map, then serves symbols, series and
//! postings from it without copying the postings.

use std::cmp::Ordering;
use std::ops::Range;

use croaring::{Bitmap, BitmapView, Portable};

use super::format::{
    BlockIndexError, CHUNK_LEN, ChunkMeta, ENTRY_LEN, FORMAT_VERSION, FRAME_LEN, HEADER_LEN, MAGIC,
    NONE_REF, TOC_LEN, get_u32, get_u64, get_uvarint,
};
use crate::labels::{Label, Labels};
use crate::tsdb::index::matcher::Matcher;
use crate::tsdb::index::select::{PostingsList, PostingsSource, select};

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

impl<'a> Table<'a> {
    fn parse(
        section: &'static str,
        payload: &'a [u8],
        offset: usize,
    ) -> Result<Self, BlockIndexError> {
        let corrupt = |reason: String| BlockIndexError::Corrupt {
            section,
            offset: offset as u64,
            reason,
        };
        let count = get_u32(payload, 0).ok_or_else(|| corrupt("no count".into()))? as usize;
        let starts_end = count
            .checked_mul(4)
            .and_then(|n| n.checked_add(4))
            .filter(|&end| end <= payload.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "{count} records need {} bytes of offsets, payload has {}",
                    count as u64 * 4,
                    payload.len().saturating_sub(4)
                ))
            })?;
        let table = Table {
            count,
            starts: &payload[4..starts_end],
            data: &payload[starts_end..],
            data_offset: offset + starts_end,
        };
        let mut previous = 0usize;
        for i in 0..count {
            let start = table.start(i);
            if start < previous || start > table.data.len() || (i == 0 && start != 0) {
                return Err(BlockIndexError::Corrupt {
                    section,
                    offset: (offset + 4 + i * 4) as u64,
                    reason: format!(
                        "record {i} starts at {start}: previous starts at {previous}, data has {} bytes",
                        table.data.len()
                    ),
                });
            }
            previous = start;
        }
        Ok(table)
    }

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
    /// Validates `file` (every check of `docs/format/index.md`, including
    /// each bitmap) and returns a reader over it.
    pub fn open(file: &'a [u8]) -> Result<Self, BlockIndexError> {
        let need = HEADER_LEN + TOC_LEN;
        if file.len() < need {
            return Err(BlockIndexError::TooShort {
                len: file.len(),
                need,
            });
        }
        check_magic(file, 0)?;
        if file[4] != FORMAT_VERSION {
            return Err(BlockIndexError::UnknownVersion {
                got: file[4],
                supported: FORMAT_VERSION,
            });
        }
        if file[5..HEADER_LEN] != [0, 0, 0] {
            return Err(BlockIndexError::Corrupt {
                section: "header",
                offset: 5,
                reason: format!(
                    "reserved bytes are {:02x?}, expected zero",
                    &file[5..HEADER_LEN]
                ),
            });
        }
        let toc_start = file.len() - TOC_LEN;
        check_magic(file, file.len() - 4)?;
        let toc = &file[toc_start..];
        let stored = get_u32(toc, 32).unwrap_or(0);
        let computed = crc32c::crc32c(&toc[..32]);
        if stored != computed {
            return Err(BlockIndexError::ChecksumMismatch {
                section: "table of contents",
                offset: toc_start as u64,
                expected: stored,
                got: computed,
            });
        }
        let offset = |i: usize| get_u64(toc, i * 8).unwrap_or(u64::MAX);
        let body = &file[..toc_start];
        let (symbols, symbols_at) = section(body, "symbols section", offset(0))?;
        let (series, series_at) = section(body, "series section", offset(1))?;
        let (postings_data, postings_data_offset) =
            section(body, "postings data section", offset(2))?;
        let (table, table_at) = section(body, "postings table section", offset(3))?;

        let symbols = Table::parse("symbols section", symbols, symbols_at)?;
        let series = Table::parse("series section", series, series_at)?;
        let mut reader = IndexReader {
            symbols,
            series,
            postings_data,
            postings_data_offset,
            entries: &[],
        };
        reader.check_symbols()?;
        reader.entries = reader.check_postings_table(table, table_at)?;
        Ok(reader)
    }

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

    /// Rebuilds the reader that [`IndexReader::layout`] described. Only
    /// sound on the very bytes that reader was opened (and validated) on:
    /// the postings are viewed in place without further checks.
    pub(super) fn from_layout(file: &'a [u8], layout: &Layout) -> Self {
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

    /// Number of series in the block.
    pub fn num_series(&self) -> u32 {
        self.series.count as u32
    }

    /// Number of symbols in the block.
    pub fn num_symbols(&self) -> u32 {
        self.symbols.count as u32
    }

    /// The string of a symbol reference.
    pub fn symbol(&self, r: u32) -> Option<&'a str> {
        let r = r as usize;
        if r >= self.symbols.count {
            return None;
        }
        std::str::from_utf8(&self.symbols.data[self.symbols.range(r)]).ok()
    }

    /// The reference of a string, if it is a symbol of the block.
    pub fn symbol_ref(&self, s: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.symbols.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.symbol(mid as u32)?.cmp(s) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// Label names of the block, sorted.
    pub fn label_names(&self) -> Vec<&'a str> {
        (0..self.entry_count())
            .map(|i| self.entry(i))
            .filter(|e| e.name != NONE_REF && e.value == NONE_REF)
            .filter_map(|e| self.symbol(e.name))
            .collect()
    }

    /// Values of label `name` in the block, sorted.
    pub fn label_values(&self, name: &str) -> Vec<&'a str> {
        let Some(n) = self.symbol_ref(name) else {
            return Vec::new();
        };
        let first = self.lower_bound(n, 0);
        (first..self.entry_count())
            .map(|i| self.entry(i))
            .take_while(|e| e.name == n && e.value != NONE_REF)
            .filter_map(|e| self.symbol(e.value))
            .collect()
    }

    /// The series with `name=value`, viewed in place.
    pub fn postings(&self, name: &str, value: &str) -> Option<BitmapView<'a>> {
        let n = self.symbol_ref(name)?;
        let v = self.symbol_ref(value)?;
        self.view_of(n, v)
    }

    /// The series having label `name`, viewed in place.
    pub fn name_postings(&self, name: &str) -> Option<BitmapView<'a>> {
        self.view_of(self.symbol_ref(name)?, NONE_REF)
    }

    /// Every series of the block (empty for a block without series).
    pub fn all_postings(&self) -> Bitmap {
        self.view_of(NONE_REF, NONE_REF)
            .map(|v| v.to_bitmap())
            .unwrap_or_default()
    }

    /// Labels and chunks of series `id`.
    pub fn series(&self, id: u32) -> Result<SeriesEntry, BlockIndexError> {
        let count = self.num_series();
        if id >= count {
            return Err(BlockIndexError::NoSuchSeries { id, count });
        }
        let range = self.series.range(id as usize);
        let base = self.series.data_offset + range.start;
        let rec = &self.series.data[range];
        let corrupt = |pos: usize, reason: String| BlockIndexError::Corrupt {
            section: "series section",
            offset: (base + pos) as u64,
            reason: format!("series {id}: {reason}"),
        };
        let varint = |pos: usize, what: &str| {
            get_uvarint(rec, pos).ok_or_else(|| corrupt(pos, format!("truncated {what}")))
        };
        let (nlabels, mut pos) = varint(0, "label count")?;
        if nlabels == 0 {
            return Err(corrupt(0, "no labels".into()));
        }
        let mut labels: Vec<Label> = Vec::with_capacity((nlabels as usize).min(rec.len() / 2));
        for _ in 0..nlabels {
            let at = pos;
            let (n, next) = varint(pos, "label name")?;
            let (v, next) = varint(next, "label value")?;
            pos = next;
            let resolve = |r: u64| u32::try_from(r).ok().and_then(|r| self.symbol(r));
            let (Some(name), Some(value)) = (resolve(n), resolve(v)) else {
                return Err(corrupt(
                    at,
                    format!("symbol reference {n} or {v} out of range"),
                ));
            };
            if value.is_empty() || labels.last().is_some_and(|l| l.name.as_str() >= name) {
                return Err(corrupt(
                    at,
                    format!("label {name}={value:?} out of order or empty"),
                ));
            }
            labels.push(Label::new(name, value));
        }
        let (nchunks, pos) = varint(pos, "chunk count")?;
        let want = (nchunks as usize).checked_mul(CHUNK_LEN);
        if want != Some(rec.len() - pos) {
            return Err(corrupt(
                pos,
                format!(
                    "{nchunks} chunks do not fill the {} bytes left",
                    rec.len() - pos
                ),
            ));
        }
        let chunks = rec[pos..]
            .chunks_exact(CHUNK_LEN)
            .map(|c| ChunkMeta {
                min_time: get_u64(c, 0).unwrap_or(0) as i64,
                max_time: get_u64(c, 8).unwrap_or(0) as i64,
                chunk_ref: get_u64(c, 16).unwrap_or(0),
            })
            .collect();
        Ok(SeriesEntry {
            labels: Labels::from_pairs(labels.into_iter().map(|l| (l.name, l.value))),
            chunks,
        })
    }

    /// The series of the block selected by all `matchers`, with the same
    /// semantics as the head's [`HeadIndex::select`](crate::tsdb::index::HeadIndex::select).
    pub fn select(&self, matchers: &[Matcher]) -> Bitmap {
        select(self, matchers)
    }

    /// Entry indexes of the values of symbol `name` (its value entries,
    /// before its name entry).
    fn value_entries(&self, name: u32) -> Range<usize> {
        self.lower_bound(name, 0)..self.lower_bound(name, NONE_REF)
    }

    fn view_at(&self, i: usize) -> BitmapView<'a> {
        let bytes = self.bitmap_bytes(&self.entry(i));
        // SAFETY: `open` checked with croaring's bounds-checked portable
        // deserialiser (which also runs its internal validation) that the
        // bytes of every entry hold one valid portable bitmap, and that they
        // are exactly that bitmap's serialization (offset header included,
        // which the view trusts), which is what the view requires.
        unsafe { BitmapView::deserialize::<Portable>(bytes) }
    }

    fn check_symbols(&self) -> Result<(), BlockIndexError> {
        let mut previous: Option<&str> = None;
        for i in 0..self.symbols.count {
            let range = self.symbols.range(i);
            let offset = (self.symbols.data_offset + range.start) as u64;
            let Ok(s) = std::str::from_utf8(&self.symbols.data[range]) else {
                return Err(BlockIndexError::Corrupt {
                    section: "symbols section",
                    offset,
                    reason: format!("symbol {i} is not UTF-8"),
                });
            };
            if previous.is_some_and(|p| p >= s) {
                return Err(BlockIndexError::Corrupt {
                    section: "symbols section",
                    offset,
                    reason: format!("symbol {i} {s:?} is not after {previous:?}"),
                });
            }
            previous = Some(s);
        }
        Ok(())
    }

    /// Checks the postings table and every bitmap; returns the entries.
    fn check_postings_table(
        &self,
        table: &'a [u8],
        offset: usize,
    ) -> Result<&'a [u8], BlockIndexError> {
        let corrupt = |at: usize, reason: String| BlockIndexError::Corrupt {
            section: "postings table section",
            offset: (offset + at) as u64,
            reason,
        };
        let count = get_u32(table, 0).ok_or_else(|| corrupt(0, "no count".into()))? as usize;
        let entries = &table[4..];
        if Some(entries.len()) != count.checked_mul(ENTRY_LEN) {
            return Err(corrupt(
                0,
                format!(
                    "{count} entries need {} bytes, have {}",
                    count as u64 * 20,
                    entries.len()
                ),
            ));
        }
        let symbols = self.symbols.count as u64;
        let mut previous: Option<(u32, u32)> = None;
        let mut has_all = false;
        let mut scratch = Vec::new();
        for i in 0..count {
            let e = entry_at(entries, i);
            let at = 4 + i * ENTRY_LEN;
            let name_ok = e.name == NONE_REF || u64::from(e.name) < symbols;
            let value_ok = e.value == NONE_REF || u64::from(e.value) < symbols;
            // The all-series entry has no value reference either.
            let shape_ok = e.name != NONE_REF || e.value == NONE_REF;
            let refs_ok = name_ok && value_ok && shape_ok;
            if !refs_ok {
                return Err(corrupt(
                    at,
                    format!("entry {i}: bad references ({}, {})", e.name, e.value),
                ));
            }
            if previous.is_some_and(|p| p >= (e.name, e.value)) {
                return Err(corrupt(at, format!("entry {i} is out of order")));
            }
            previous = Some((e.name, e.value));
            has_all |= e.name == NONE_REF;
            let end = e.offset.checked_add(u64::from(e.len));
            if end.is_none_or(|end| end > self.postings_data.len() as u64) {
                return Err(BlockIndexError::OutOfBounds {
                    section: "postings list",
                    offset: (self.postings_data_offset as u64).saturating_add(e.offset),
                    len: u64::from(e.len),
                    file_len: self.postings_data_offset + self.postings_data.len(),
                });
            }
            self.check_bitmap(i, &e, &mut scratch)?;
        }
        if has_all != (self.series.count > 0) {
            return Err(corrupt(
                0,
                format!(
                    "all-series list present: {has_all}, series: {}",
                    self.series.count
                ),
            ));
        }
        Ok(entries)
    }

    /// Checks the bitmap of entry `e`; `scratch` is a reused buffer.
    fn check_bitmap(
        &self,
        entry: usize,
        e: &Entry,
        scratch: &mut Vec<u8>,
    ) -> Result<(), BlockIndexError> {
        let bad = |reason| BlockIndexError::BadBitmap {
            entry,
            offset: self.postings_data_offset as u64 + e.offset,
            len: e.len,
            reason,
        };
        let bytes = self.bitmap_bytes(e);
        let Some(bitmap) = Bitmap::try_deserialize::<Portable>(bytes) else {
            return Err(bad("not a valid portable roaring bitmap"));
        };
        if bitmap.get_serialized_size_in_bytes::<Portable>() != bytes.len() {
            return Err(bad("recorded length differs from the bitmap's size"));
        }
        // The in-place view (`view_at`) finds each container through the
        // offset header, which the deserialiser above does not read: a
        // header pointing elsewhere passes it and then sends the view out
        // of bounds. Bytes that are exactly the bitmap's own serialization
        // have the header croaring computes.
        scratch.clear();
        if bitmap.serialize_into_vec::<Portable>(scratch) != bytes {
            return Err(bad("bytes differ from the bitmap's serialization"));
        }
        match bitmap.maximum() {
            None => Err(bad("empty postings list")),
            Some(max) if max as usize >= self.series.count => {
                Err(bad("names a series past the series count"))
            }
            Some(_) => Ok(()),
        }
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

impl PostingsSource for IndexReader<'_> {
    fn all_series(&self) -> PostingsList<'_> {
        match self.view_of(NONE_REF, NONE_REF) {
            Some(v) => PostingsList::View(v),
            None => PostingsList::Owned(Bitmap::new()),
        }
    }

    fn name_postings(&self, name: &str) -> Option<PostingsList<'_>> {
        self.name_postings(name).map(PostingsList::View)
    }

    fn value_postings(&self, name: &str, value: &str) -> Option<PostingsList<'_>> {
        self.postings(name, value).map(PostingsList::View)
    }

    fn prefix_postings(&self, name: &str, prefix: &str) -> Vec<PostingsList<'_>> {
        let Some(n) = self.symbol_ref(name) else {
            return Vec::new();
        };
        let range = self.value_entries(n);
        let value = |i: usize| self.symbol(self.entry(i).value).unwrap_or("");
        // Values are sorted: binary search the first one not before prefix.
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if value(mid) < prefix {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo..range.end)
            .take_while(|&i| value(i).starts_with(prefix))
            .map(|i| PostingsList::View(self.view_at(i)))
            .collect()
    }

    fn filtered_postings(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Vec<PostingsList<'_>> {
        let Some(n) = self.symbol_ref(name) else {
            return Vec::new();
        };
        self.value_entries(n)
            .filter(|&i| keep(self.symbol(self.entry(i).value).unwrap_or("")))
            .map(|i| PostingsList::View(self.view_at(i)))
            .collect()
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

fn check_magic(file: &[u8], offset: usize) -> Result<(), BlockIndexError> {
    let mut got = [0u8; 4];
    got.copy_from_slice(&file[offset..offset + 4]);
    if got != MAGIC {
        return Err(BlockIndexError::BadMagic {
            offset,
            got,
            expected: MAGIC,
        });
    }
    Ok(())
}

/// The payload of the section whose frame starts at `offset`, and the
/// payload's file offset; checks bounds and CRC.
fn section<'a>(
    body: &'a [u8],
    name: &'static str,
    offset: u64,
) -> Result<(&'a [u8], usize), BlockIndexError> {
    let out_of_bounds = |len: u64| BlockIndexError::OutOfBounds {
        section: name,
        offset,
        len,
        file_len: body.len() + TOC_LEN,
    };
    if offset < HEADER_LEN as u64 || offset.saturating_add(FRAME_LEN as u64) > body.len() as u64 {
        return Err(out_of_bounds(FRAME_LEN as u64));
    }
    let start = offset as usize;
    let len = get_u64(body, start).unwrap_or(u64::MAX);
    let total = len.checked_add(FRAME_LEN as u64);
    if total.is_none_or(|t| t > (body.len() - start) as u64) {
        return Err(out_of_bounds(len));
    }
    let payload = &body[start + 8..start + 8 + len as usize];
    let stored = get_u32(body, start + 8 + len as usize).unwrap_or(0);
    let computed = crc32c::crc32c(payload);
    if stored != computed {
        return Err(BlockIndexError::ChecksumMismatch {
            section: name,
            offset: (start + 8) as u64,
            expected: stored,
            got: computed,
        });
    }
    Ok((payload, start + 8))
}
