//! [`BlockMeta`]: the contents of a block's `meta.json`
//! (`docs/format/block.md`), its encoding and its validation.

use serde::{Deserialize, Serialize};

use super::error::{BlockError, MetaProblem};
use super::id::BlockId;
use crate::tsdb::chunks::parse_file_name;

/// The meta format version this levee writes and reads.
pub const META_VERSION: u32 = 1;
/// The meta file's name.
pub const META_FILE: &str = "meta.json";

/// What a block is: id, time range, contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// The block id (the directory's name).
    pub id: BlockId,
    /// Start of the time range, inclusive (ms).
    pub min_time: i64,
    /// End of the time range, exclusive (ms).
    pub max_time: i64,
    /// When the block was written (ms since the epoch).
    pub created_ms: i64,
    /// Counts of what the block holds.
    pub stats: BlockStats,
    /// Length of the `index` file.
    pub index_bytes: u64,
    /// The chunk files with their lengths, in sequence order.
    pub chunk_files: Vec<ChunkFileMeta>,
}

/// Counts of what a block holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockStats {
    /// Series in the index.
    pub num_series: u64,
    /// Chunks in the chunk files.
    pub num_chunks: u64,
    /// Samples in all chunks.
    pub num_samples: u64,
}

/// One chunk file of a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkFileMeta {
    /// The file's name in `chunks/`.
    pub name: String,
    /// Its length in bytes.
    pub bytes: u64,
}

/// `meta.json` as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaJson {
    version: u32,
    ulid: String,
    min_time: i64,
    max_time: i64,
    created_ms: i64,
    stats: BlockStats,
    index_bytes: u64,
    chunk_files: Vec<ChunkFileMeta>,
}

impl BlockMeta {
    /// Whether the block's range `[min_time, max_time)` meets the closed
    /// query range `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        mint < self.max_time && maxt >= self.min_time && mint <= maxt
    }

    /// Sum of the index's and the chunk files' lengths.
    pub fn data_bytes(&self) -> u64 {
        self.index_bytes + self.chunk_files.iter().map(|f| f.bytes).sum::<u64>()
    }

    /// The `meta.json` text.
    pub fn to_json(&self) -> Vec<u8> {
        let json = MetaJson {
            version: META_VERSION,
            ulid: self.id.to_string(),
            min_time: self.min_time,
            max_time: self.max_time,
            created_ms: self.created_ms,
            stats: self.stats,
            index_bytes: self.index_bytes,
            chunk_files: self.chunk_files.clone(),
        };
        let mut out = serde_json::to_vec_pretty(&json).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses and validates `meta.json`: the version first, then the
    /// fields.
    pub fn from_json(bytes: &[u8]) -> Result<Self, BlockError> {
        let bad = |reason: String| BlockError::BadMeta {
            reason: MetaProblem::Inconsistent(reason),
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| BlockError::BadMeta {
                reason: MetaProblem::NotJson(e),
            })?;
        match value.get("version").map(|v| v.as_u64()) {
            Some(Some(v)) if v == u64::from(META_VERSION) => {}
            Some(Some(got)) => {
                return Err(BlockError::UnknownVersion {
                    got,
                    supported: META_VERSION,
                });
            }
            Some(None) => return Err(bad("version is not an unsigned integer".into())),
            None => return Err(bad("no version field".into())),
        }
        let json: MetaJson = serde_json::from_value(value).map_err(|e| BlockError::BadMeta {
            reason: MetaProblem::Shape(e),
        })?;
        let id: BlockId = json.ulid.parse()?;
        if json.min_time >= json.max_time {
            return Err(bad(format!(
                "empty time range [{}, {})",
                json.min_time, json.max_time
            )));
        }
        let mut previous = 0;
        for f in &json.chunk_files {
            match parse_file_name(&f.name) {
                Some(seq) if seq > previous => previous = seq,
                _ => {
                    return Err(bad(format!(
                        "chunk file name {:?} is not a sequence number after {previous}",
                        f.name
                    )));
                }
            }
        }
        Ok(BlockMeta {
            id,
            min_time: json.min_time,
            max_time: json.max_time,
            created_ms: json.created_ms,
            stats: json.stats,
            index_bytes: json.index_bytes,
            chunk_files: json.chunk_files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> BlockMeta {
        BlockMeta {
            id: BlockId::from_parts(1_700_000_000_000, [7; 10]),
            min_time: 0,
            max_time: 7_200_000,
            created_ms: 1_700_000_000_123,
            stats: BlockStats {
                num_series: 2,
                num_chunks: 3,
                num_samples: 300,
            },
            index_bytes: 500,
            chunk_files: vec![ChunkFileMeta {
                name: "000001".into(),
                bytes: 1234,
            }],
        }
    }

    #[test]
    fn round_trips() {
        let m = meta();
        assert_eq!(BlockMeta::from_json(&m.to_json()).unwrap(), m);
        assert_eq!(m.data_bytes(), 1734);
        assert!(m.overlaps(7_199_999, 9_000_000));
        assert!(!m.overlaps(7_200_000, 9_000_000));
        assert!(m.overlaps(-5, 0));
        assert!(!m.overlaps(-5, -1));
    }

    #[test]
    fn rejects_unknown_versions_and_bad_fields() {
        let text = String::from_utf8(meta().to_json()).unwrap();
        let with = |from: &str, to: &str| BlockMeta::from_json(text.replace(from, to).as_bytes());
        assert!(matches!(
            with("\"version\": 1", "\"version\": 2"),
            Err(BlockError::UnknownVersion {
                got: 2,
                supported: 1
            })
        ));
        // The version is checked before anything else.
        assert!(matches!(
            with("\"version\": 1", "\"version\": 9, \"new_field\": true"),
            Err(BlockError::UnknownVersion { got: 9, .. })
        ));
        let bad = |r: Result<BlockMeta, BlockError>| matches!(r, Err(BlockError::BadMeta { .. }));
        assert!(bad(with("\"version\": 1", "\"version\": \"1\"")));
        assert!(bad(with("\"version\": 1,", "")));
        assert!(bad(with("\"version\": 1", "\"version\": 1, \"extra\": 0")));
        assert!(bad(with("\"max_time\": 7200000", "\"max_time\": 0")));
        assert!(bad(with("\"000001\"", "\"../x\"")));
        assert!(bad(BlockMeta::from_json(b"{")));
        assert!(bad(BlockMeta::from_json(b"")));
        assert!(matches!(
            with(&meta().id.to_string(), "nope"),
            Err(BlockError::BadId { .. })
        ));
    }
}
