//! Opening an [`IndexReader`]: magic, version, every section's checksum
//! and bounds, sorted symbols, the postings table, and every bitmap checked
//! exactly as the in-place view will read it, each failure a
//! [`BlockIndexError`] naming the section and byte offset.

use croaring::{Bitmap, Portable};

use super::{Entry, IndexReader, Table, entry_at};
use crate::tsdb::index::block::format::{
    BlockIndexError, ENTRY_LEN, FORMAT_VERSION, FRAME_LEN, HEADER_LEN, MAGIC, NONE_REF, TOC_LEN,
    get_u32, get_u64,
};

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
