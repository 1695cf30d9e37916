//! [`IndexWriter`]: builds a block index file (`docs/format/index.md`)
//! from series added in label order.

use croaring::{Bitmap, Portable};
use rustc_hash::{FxHashMap, FxHashSet};

use super::format::{
    BlockIndexError, CHUNK_LEN, ChunkMeta, FORMAT_VERSION, MAGIC, NONE_REF, put_uvarint,
};
use crate::labels::Labels;

/// Collects series and writes the index file in one go.
#[derive(Debug, Default)]
pub struct IndexWriter {
    series: Vec<(Labels, Vec<ChunkMeta>)>,
}

impl IndexWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next series; series must come in strictly increasing label
    /// order (as `Labels` sort). Returns its block id.
    pub fn add_series(
        &mut self,
        labels: &Labels,
        chunks: &[ChunkMeta],
    ) -> Result<u32, BlockIndexError> {
        if labels.is_empty() {
            return Err(BlockIndexError::EmptyLabelSet);
        }
        if let Some((previous, _)) = self.series.last()
            && previous >= labels
        {
            return Err(BlockIndexError::OutOfOrder {
                previous: previous.to_string(),
                got: labels.to_string(),
            });
        }
        for (index, c) in chunks.iter().enumerate() {
            let reason = if c.min_time > c.max_time {
                Some("has min_time after max_time")
            } else if index > 0 && c.min_time <= chunks[index - 1].max_time {
                Some("starts before the previous chunk ends")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(BlockIndexError::BadChunk {
                    series: labels.to_string(),
                    index,
                    reason,
                });
            }
        }
        let id = u32::try_from(self.series.len()).map_err(|_| BlockIndexError::TooLarge {
            section: "series",
            len: self.series.len() as u64,
        })?;
        self.series.push((labels.clone(), chunks.to_vec()));
        Ok(id)
    }

    /// Number of series added.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when no series was added.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The complete index file.
    pub fn finish(self) -> Result<Vec<u8>, BlockIndexError> {
        // Symbols, sorted; a reference is a position.
        let distinct: FxHashSet<&str> = self
            .series
            .iter()
            .flat_map(|(l, _)| l.iter().flat_map(|p| [p.name, p.value]))
            .collect();
        let mut symbols: Vec<&str> = distinct.into_iter().collect();
        symbols.sort_unstable();
        let refs: FxHashMap<&str, u32> = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u32))
            .collect();
        let sym = |s: &str| refs.get(s).copied().unwrap_or(NONE_REF);

        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);

        // Symbols section.
        let mut payload = Vec::new();
        put_u32(&mut payload, symbols.len() as u32);
        let mut start = 0u64;
        for s in &symbols {
            put_u32(&mut payload, offset32("symbols", start)?);
            start += s.len() as u64;
        }
        for s in &symbols {
            payload.extend_from_slice(s.as_bytes());
        }
        let symbols_offset = put_section(&mut out, &payload);

        // Series section, and the postings as we go.
        let mut postings: FxHashMap<(u32, u32), Bitmap> = FxHashMap::default();
        let mut entries = Vec::new();
        payload.clear();
        put_u32(&mut payload, self.series.len() as u32);
        for (id, (labels, chunks)) in self.series.iter().enumerate() {
            let id = id as u32;
            put_u32(&mut payload, offset32("series", entries.len() as u64)?);
            put_uvarint(&mut entries, labels.len() as u64);
            for l in labels {
                let (n, v) = (sym(l.name), sym(l.value));
                put_uvarint(&mut entries, u64::from(n));
                put_uvarint(&mut entries, u64::from(v));
                postings.entry((n, v)).or_default().add(id);
                postings.entry((n, NONE_REF)).or_default().add(id);
            }
            put_uvarint(&mut entries, chunks.len() as u64);
            entries.reserve(chunks.len() * CHUNK_LEN);
            for c in chunks {
                entries.extend_from_slice(&c.min_time.to_le_bytes());
                entries.extend_from_slice(&c.max_time.to_le_bytes());
                entries.extend_from_slice(&c.chunk_ref.to_le_bytes());
            }
            postings.entry((NONE_REF, NONE_REF)).or_default().add(id);
        }
        payload.extend_from_slice(&entries);
        let series_offset = put_section(&mut out, &payload);

        // Postings data and table, in (name, value) reference order.
        let mut postings: Vec<((u32, u32), Bitmap)> = postings.into_iter().collect();
        postings.sort_unstable_by_key(|(key, _)| *key);
        let mut data = Vec::new();
        let mut table = Vec::new();
        put_u32(&mut table, postings.len() as u32);
        for ((n, v), mut bitmap) in postings {
            bitmap.run_optimize();
            let at = data.len() as u64;
            let written = bitmap.serialize_into_vec::<Portable>(&mut data).len();
            let len = u32::try_from(written).map_err(|_| BlockIndexError::TooLarge {
                section: "postings list",
                len: written as u64,
            })?;
            put_u32(&mut table, n);
            put_u32(&mut table, v);
            table.extend_from_slice(&at.to_le_bytes());
            put_u32(&mut table, len);
        }
        let data_offset = put_section(&mut out, &data);
        let table_offset = put_section(&mut out, &table);

        let toc_start = out.len();
        for offset in [symbols_offset, series_offset, data_offset, table_offset] {
            out.extend_from_slice(&offset.to_le_bytes());
        }
        let crc = crc32c::crc32c(&out[toc_start..]);
        put_u32(&mut out, crc);
        out.extend_from_slice(&MAGIC);
        Ok(out)
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn offset32(section: &'static str, offset: u64) -> Result<u32, BlockIndexError> {
    u32::try_from(offset).map_err(|_| BlockIndexError::TooLarge {
        section,
        len: offset,
    })
}

/// Frames a section (length, payload, CRC); returns its offset.
fn put_section(out: &mut Vec<u8>, payload: &[u8]) -> u64 {
    let offset = out.len() as u64;
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    put_u32(out, crc32c::crc32c(payload));
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn refuses_out_of_order_duplicates_and_bad_chunks() {
        let mut w = IndexWriter::new();
        assert_eq!(w.add_series(&ls(&[("a", "2")]), &[]), Ok(0));
        assert!(matches!(
            w.add_series(&ls(&[("a", "1")]), &[]),
            Err(BlockIndexError::OutOfOrder { .. })
        ));
        assert!(matches!(
            w.add_series(&ls(&[("a", "2")]), &[]),
            Err(BlockIndexError::OutOfOrder { .. })
        ));
        assert_eq!(
            w.add_series(&Labels::empty(), &[]),
            Err(BlockIndexError::EmptyLabelSet)
        );
        let c = |min_time, max_time| ChunkMeta {
            min_time,
            max_time,
            chunk_ref: 0,
        };
        assert!(matches!(
            w.add_series(&ls(&[("a", "3")]), &[c(5, 4)]),
            Err(BlockIndexError::BadChunk { index: 0, .. })
        ));
        assert!(matches!(
            w.add_series(&ls(&[("a", "3")]), &[c(1, 4), c(4, 9)]),
            Err(BlockIndexError::BadChunk { index: 1, .. })
        ));
        assert_eq!(w.add_series(&ls(&[("a", "3")]), &[c(1, 4), c(5, 9)]), Ok(1));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn file_starts_and_ends_with_magic() {
        let mut w = IndexWriter::new();
        w.add_series(&ls(&[("a", "1")]), &[]).unwrap();
        let f = w.finish().unwrap();
        assert_eq!(&f[..4], b"LVIX");
        assert_eq!(f[4], FORMAT_VERSION);
        assert_eq!(&f[f.len() - 4..], b"LVIX");
    }
}
