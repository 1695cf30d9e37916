//! Lookups on a validated [`IndexReader`]: symbols, label names and
//! values, postings viewed in place, a series' labels and chunks (decoded
//! on demand, checked as they are read), and matcher selection through the
//! same [`select`] the head index uses.

use std::cmp::Ordering;
use std::ops::Range;

use croaring::{Bitmap, BitmapView};

use super::{IndexReader, SeriesEntry};
use crate::labels::{Label, Labels};
use crate::tsdb::index::block::format::{
    BlockIndexError, CHUNK_LEN, ChunkMeta, NONE_REF, get_u64, get_uvarint,
};
use crate::tsdb::index::matcher::Matcher;
use crate::tsdb::index::select::{PostingsList, PostingsSource, select};

impl<'a> IndexReader<'a> {
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
