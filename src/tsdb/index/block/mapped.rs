//! [`MappedIndex`]: a validated block index that owns its file's bytes (a
//! memory map), handing out [`IndexReader`]s without validating again.

use super::format::BlockIndexError;
use super::reader::{IndexReader, Layout};
use crate::tsdb::fs::FileBytes;

/// A block index file, validated once by [`MappedIndex::open`]; every
/// [`MappedIndex::reader`] afterwards is a few slice operations.
#[derive(Clone, Debug)]
pub struct MappedIndex {
    bytes: FileBytes,
    layout: Layout,
}

impl MappedIndex {
    /// Validates `bytes` as [`IndexReader::open`] does and keeps them.
    pub fn open(bytes: FileBytes) -> Result<Self, BlockIndexError> {
        let layout = IndexReader::open(&bytes)?.layout(&bytes);
        Ok(MappedIndex { bytes, layout })
    }

    /// A reader over the index.
    pub fn reader(&self) -> IndexReader<'_> {
        // SAFETY: `self.layout` was taken in `open` from the reader that
        // validated these very bytes, and they have not changed since:
        // `FileBytes` is immutable and never moves its bytes while alive.
        unsafe { IndexReader::from_layout(&self.bytes, &self.layout) }
    }

    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the file is empty (never true for a valid index).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::tsdb::index::Matcher;
    use crate::tsdb::index::block::{ChunkMeta, IndexWriter};

    #[test]
    fn rebuilt_reader_answers_like_the_validated_one() {
        let mut w = IndexWriter::new();
        for i in 0..50 {
            let l = Labels::from_pairs([("__name__", "m"), ("i", &format!("{i:03}"))]);
            let c = ChunkMeta {
                min_time: i,
                max_time: i + 1,
                chunk_ref: i as u64,
            };
            w.add_series(&l, &[c]).unwrap();
        }
        let file = w.finish().unwrap();
        let direct = IndexReader::open(&file).unwrap();
        let mapped = MappedIndex::open(FileBytes::from_vec(file.clone())).unwrap();
        let r = mapped.reader();
        let m = [Matcher::regex("i", "01.|04.").unwrap()];
        assert_eq!(r.select(&m).to_vec(), direct.select(&m).to_vec());
        assert_eq!(r.label_values("i",), direct.label_values("i"));
        for id in 0..50 {
            assert_eq!(r.series(id).unwrap(), direct.series(id).unwrap());
        }
        assert_eq!(mapped.len(), file.len());
        let mut bad = file;
        let last = bad.len() - 5;
        bad[last] ^= 1;
        assert!(MappedIndex::open(FileBytes::from_vec(bad)).is_err());
    }
}
