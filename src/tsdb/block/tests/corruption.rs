//! Named corruption cases: each a typed error at open or read, never a
//! panic or a wrong answer.

use std::sync::Arc;

use super::{model, on_both, write_block};
use crate::tsdb::block::{Block, BlockError, BlockMeta, open_all};
use crate::tsdb::chunks::{ChunkFileError, ChunkRef, Corruption};
use crate::tsdb::fs::Directory;
use crate::tsdb::index::block::BlockIndexError;

/// Replaces file `name` of `dir` by `f(bytes)`.
fn rewrite(dir: &dyn Directory, name: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = dir.map(name).unwrap().to_vec();
    f(&mut bytes);
    let mut w = dir.create(name).unwrap();
    w.append(&bytes).unwrap();
    w.sync().unwrap();
}

/// Rewrites `meta.json` through `f`.
fn edit_meta(block: &dyn Directory, f: impl FnOnce(&mut BlockMeta)) {
    let mut meta = BlockMeta::from_json(&block.map("meta.json").unwrap()).unwrap();
    f(&mut meta);
    rewrite(block, "meta.json", |b| *b = meta.to_json());
}

/// Writes a block and runs `case` on its directory, on disk and in memory;
/// also checks that `open_all` reports (not panics on) whatever `case` left.
fn with_block(case: impl Fn(&Arc<dyn Directory>)) {
    on_both(|dir| {
        write_block(&dir, &model(30, 7), 2 << 10);
        let name = dir.list_dirs().unwrap()[0].clone();
        let block = dir.subdir(&name).unwrap();
        case(&block);
        let opened = open_all(&dir).unwrap();
        assert_eq!(opened.blocks.len() + opened.failed.len(), 1);
    });
}

fn open_err(block: &Arc<dyn Directory>) -> BlockError {
    Block::open(Arc::clone(block)).unwrap_err()
}

#[test]
fn truncated_index() {
    with_block(|block| {
        let len = block.len("index").unwrap();
        block.truncate("index", len - 10).unwrap();
        assert!(matches!(
            open_err(block),
            BlockError::SizeMismatch { file, expected, got } if file == "index" && expected == len && got == len - 10
        ));
        // Behind a meta.json that agrees, the index's own checks catch it.
        edit_meta(&**block, |m| m.index_bytes = len - 10);
        assert!(matches!(
            open_err(block),
            BlockError::Index(BlockIndexError::BadMagic { .. })
        ));
        block.truncate("index", 20).unwrap();
        edit_meta(&**block, |m| m.index_bytes = 20);
        assert!(matches!(
            open_err(block),
            BlockError::Index(BlockIndexError::TooShort { .. })
        ));
    });
}

#[test]
fn unknown_meta_version() {
    with_block(|block| {
        rewrite(&**block, "meta.json", |b| {
            *b = String::from_utf8(b.clone())
                .unwrap()
                .replace("\"version\": 1", "\"version\": 2")
                .into_bytes()
        });
        let err = open_err(block);
        assert!(
            matches!(
                err,
                BlockError::UnknownVersion {
                    got: 2,
                    supported: 1
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "meta.json: block format version 2 is not supported (this levee reads version 1)"
        );
    });
}

#[test]
fn bad_meta_and_missing_files() {
    with_block(|block| {
        let meta = block.map("meta.json").unwrap().to_vec();
        rewrite(&**block, "meta.json", |b| b.truncate(b.len() / 2));
        assert!(matches!(open_err(block), BlockError::BadMeta { .. }));
        rewrite(&**block, "meta.json", |b| *b = meta.clone());
        block.remove("index").unwrap();
        assert!(matches!(open_err(block), BlockError::MissingFile { file } if file == "index"));
    });
    with_block(|block| {
        block.remove("meta.json").unwrap();
        assert!(matches!(open_err(block), BlockError::MissingFile { file } if file == "meta.json"));
    });
    with_block(|block| {
        block.remove_dir("chunks").unwrap();
        assert!(matches!(open_err(block), BlockError::MissingFile { file } if file == "chunks/"));
        assert!(
            !block.list_dirs().unwrap().contains(&"chunks".to_string()),
            "open changed nothing"
        );
    });
    with_block(|block| {
        block.subdir("chunks").unwrap().remove("000001").unwrap();
        assert!(
            matches!(open_err(block), BlockError::MissingFile { file } if file == "chunks/000001")
        );
    });
}

#[test]
fn bitmap_bytes_that_do_not_validate() {
    with_block(|block| {
        rewrite(&**block, "index", |file| {
            let toc = file.len() - 40;
            let section = |k: usize| {
                u64::from_le_bytes(file[toc + k * 8..toc + k * 8 + 8].try_into().unwrap()) as usize
            };
            let data = section(2);
            let len = u64::from_le_bytes(file[data..data + 8].try_into().unwrap()) as usize;
            // Garbage where the first bitmap's cookie is, behind a valid CRC.
            for b in &mut file[data + 8..data + 16] {
                *b = 0xAB;
            }
            let crc = crc32c::crc32c(&file[data + 8..data + 8 + len]);
            file[data + 8 + len..data + 12 + len].copy_from_slice(&crc.to_le_bytes());
        });
        assert!(matches!(
            open_err(block),
            BlockError::Index(BlockIndexError::BadBitmap { entry: 0, .. })
        ));
    });
}

#[test]
fn torn_chunk_file() {
    with_block(|block| {
        let chunks = block.subdir("chunks").unwrap();
        let len = chunks.len("000001").unwrap();
        chunks.truncate("000001", len - 3).unwrap();
        assert!(matches!(
            open_err(block),
            BlockError::SizeMismatch { file, .. } if file == "chunks/000001"
        ));
        // Behind a meta.json that agrees, the torn chunk is an error when read
        // and every other chunk still reads.
        edit_meta(&**block, |m| m.chunk_files[0].bytes = len - 3);
        let b = Block::open(Arc::clone(block)).unwrap();
        let (mut ok, mut bad) = (0, 0);
        for s in b.select(i64::MIN, i64::MAX, &[]).unwrap() {
            for c in &s.chunks {
                match b.chunk(ChunkRef(c.chunk_ref)) {
                    Ok(data) => {
                        assert!(data.iter().unwrap().all(|r| r.is_ok()));
                        ok += 1;
                    }
                    Err(BlockError::Chunks(ChunkFileError::Corrupt {
                        reason: Corruption::PastEnd { .. },
                        seq: 1,
                        ..
                    })) => bad += 1,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert_eq!(bad, 1);
        assert!(ok > 10);
    });
}

#[test]
fn chunk_checksum_and_version_damage() {
    with_block(|block| {
        let b = Block::open(Arc::clone(block)).unwrap();
        let first = b.select(i64::MIN, i64::MAX, &[]).unwrap()[0].chunks[0];
        drop(b);
        let r = ChunkRef(first.chunk_ref);
        let chunks = block.subdir("chunks").unwrap();
        rewrite(&*chunks, &crate::tsdb::chunks::file_name(r.seq()), |f| {
            f[r.offset() as usize + 14] ^= 0x01
        });
        let b = Block::open(Arc::clone(block)).unwrap();
        assert!(matches!(
            b.chunk(r),
            Err(BlockError::Chunks(ChunkFileError::Corrupt {
                reason: Corruption::Checksum { .. },
                ..
            }))
        ));
        assert!(matches!(
            b.chunk(ChunkRef(u64::MAX)),
            Err(BlockError::Chunks(ChunkFileError::NoSuchFile { .. }))
        ));
        drop(b);
        rewrite(&*chunks, "000001", |f| f[4] = 9);
        assert!(matches!(
            open_err(block),
            BlockError::Chunks(ChunkFileError::UnknownVersion { got: 9, .. })
        ));
    });
}

#[test]
fn a_block_in_the_wrong_directory_is_reported() {
    on_both(|dir| {
        write_block(&dir, &model(2, 8), 1 << 20);
        let name = dir.list_dirs().unwrap()[0].clone();
        let other = crate::tsdb::block::BlockId::generate().to_string();
        dir.rename_dir(&name, &other).unwrap();
        let opened = open_all(&dir).unwrap();
        assert!(opened.blocks.is_empty());
        assert!(matches!(&opened.failed[..], [(n, BlockError::IdMismatch { .. })] if *n == other));
    });
}

mod props {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::super::{model, write_block};
    use crate::tsdb::block::Block;
    use crate::tsdb::chunks::ChunkRef;
    use crate::tsdb::fs::{Directory, MemDirectory};

    /// Opens and reads everything; any error is fine, a panic is not.
    fn exercise(block: &Arc<dyn Directory>) {
        let Ok(b) = Block::open(Arc::clone(block)) else {
            return;
        };
        let _ = b.label_names(&[]);
        let _ = b.label_values("job", &[crate::tsdb::index::Matcher::equal("job", "api")]);
        let Ok(all) = b.select(i64::MIN, i64::MAX, &[]) else {
            return;
        };
        for s in all {
            for c in s.chunks {
                if let Ok(data) = b.chunk(ChunkRef(c.chunk_ref))
                    && let Ok(it) = data.iter()
                {
                    let _ = it.count();
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_edits_to_any_block_file_never_panic(
            file in 0usize..3,
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<Option<prop::sample::Index>>(),
        ) {
            let dir: Arc<dyn Directory> = MemDirectory::new();
            write_block(&dir, &model(8, 11), 1 << 20);
            let block = dir.subdir(&dir.list_dirs().unwrap()[0]).unwrap();
            let chunks = block.subdir("chunks").unwrap();
            let (target, name): (&dyn Directory, &str) = match file {
                0 => (&*block, "meta.json"),
                1 => (&*block, "index"),
                _ => (&*chunks, "000001"),
            };
            let mut bytes = target.map(name).unwrap().to_vec();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            if let Some(at) = cut {
                bytes.truncate(at.index(bytes.len()));
            }
            target.create(name).unwrap().append(&bytes).unwrap();
            exercise(&block);
        }
    }
}
