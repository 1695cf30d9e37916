//! The block index format (`docs/format/index.md`): round trip, the
//! committed version-1 fixture, and named corruption cases, each of which
//! must be a typed error, never a panic or a wrong answer.
//!
//! Regenerate the fixture (only when the format version changes, keeping
//! the old one): `LEVEE_WRITE_FIXTURES=1 cargo test --test tsdb index_format::`.

use crate::support::istio_index as istio;

use std::collections::{BTreeMap, BTreeSet};

use croaring::{Bitmap, Portable};
use levee::labels::Labels;
use levee::tsdb::index::block::{BlockIndexError, ChunkMeta, IndexReader, IndexWriter};
use levee::tsdb::index::{HeadIndex, Matcher};
use proptest::prelude::*;

const FIXTURE: &str = "tests/data/tsdb_index/index-v1.bin";

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn chunk(min_time: i64, max_time: i64, chunk_ref: u64) -> ChunkMeta {
    ChunkMeta {
        min_time,
        max_time,
        chunk_ref,
    }
}

/// The series of the fixture, in label order, with their chunks.
fn fixture_series() -> Vec<(Labels, Vec<ChunkMeta>)> {
    vec![
        (
            ls(&[
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("job", "api"),
            ]),
            vec![chunk(0, 119_000, 8), chunk(120_000, 239_000, 1_000)],
        ),
        (
            ls(&[
                ("__name__", "http_requests_total"),
                ("code", "500"),
                ("job", "api"),
            ]),
            vec![chunk(-5_000, -1, 2_000)],
        ),
        (
            ls(&[
                ("__name__", "up"),
                ("instance", "héllo:9100"),
                ("job", "node"),
            ]),
            vec![],
        ),
        (
            ls(&[("__name__", "up"), ("job", "api")]),
            vec![chunk(7, 7, u64::MAX)],
        ),
    ]
}

fn write(series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u8> {
    let mut w = IndexWriter::new();
    for (i, (l, c)) in series.iter().enumerate() {
        assert_eq!(w.add_series(l, c), Ok(i as u32));
    }
    w.finish().expect("writable")
}

/// Checks everything a reader can say against the series it was built from.
fn check_against(r: &IndexReader<'_>, series: &[(Labels, Vec<ChunkMeta>)]) {
    assert_eq!(r.num_series() as usize, series.len());
    let mut pairs: BTreeMap<(&str, &str), Vec<u32>> = BTreeMap::new();
    let mut names: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (id, (l, chunks)) in series.iter().enumerate() {
        let got = r.series(id as u32).expect("valid series");
        assert_eq!(&got.labels, l);
        assert_eq!(&got.chunks, chunks);
        for p in l {
            pairs.entry((p.name, p.value)).or_default().push(id as u32);
            names.entry(p.name).or_default().push(id as u32);
        }
    }
    for ((n, v), ids) in &pairs {
        let view = r.postings(n, v).expect("pair present");
        assert_eq!(view.to_vec(), *ids, "{n}={v}");
    }
    for (n, ids) in &names {
        assert_eq!(r.name_postings(n).expect("name present").to_vec(), *ids);
    }
    assert_eq!(r.label_names(), names.keys().copied().collect::<Vec<_>>());
    for n in names.keys() {
        let values: BTreeSet<&str> = pairs
            .keys()
            .filter(|(pn, _)| pn == n)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(r.label_values(n), values.into_iter().collect::<Vec<_>>());
    }
    assert_eq!(r.all_postings().cardinality(), series.len() as u64);
    assert!(r.postings("__name__", "nope").is_none());
    assert!(r.postings("nope", "up").is_none());
    assert!(r.name_postings("nope").is_none());
    assert!(r.label_values("nope").is_empty());
    assert_eq!(
        r.series(series.len() as u32),
        Err(BlockIndexError::NoSuchSeries {
            id: series.len() as u32,
            count: series.len() as u32
        })
    );
}

#[test]
fn committed_v1_fixture_reads_back() {
    let series = fixture_series();
    if std::env::var_os("LEVEE_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all("tests/data/tsdb_index").expect("mkdir");
        std::fs::write(FIXTURE, write(&series)).expect("write fixture");
    }
    let file = std::fs::read(FIXTURE).expect("committed fixture");
    let r = IndexReader::open(&file).expect("fixture opens");
    check_against(&r, &series);
    assert_eq!(
        r.symbol_ref("héllo:9100").and_then(|i| r.symbol(i)),
        Some("héllo:9100")
    );
}

#[test]
fn istio_round_trip() {
    let mut sets: Vec<Labels> = (0..5_000).map(istio::series).collect();
    sets.sort();
    let series: Vec<_> = sets
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let t = i as i64 * 1000;
            (l, vec![chunk(t, t + 500, i as u64 * 64)])
        })
        .collect();
    let file = write(&series);
    let r = IndexReader::open(&file).expect("opens");
    check_against(&r, &series);

    // The block selects what a head with the same series selects.
    let mut head = HeadIndex::new();
    for (l, _) in &series {
        head.get_or_create(l).expect("valid labels");
    }
    let re = |n: &str, v: &str| Matcher::regex(n, v).expect("valid regex");
    let lists = [
        vec![
            Matcher::equal("__name__", "istio_requests_total"),
            re("response_code", "5.."),
        ],
        vec![
            re("destination_service", "reviews.*"),
            Matcher::not_equal("reporter", "source"),
        ],
        vec![
            re("response_code", "500|503"),
            Matcher::equal("namespace", "ns-3"),
        ],
        vec![Matcher::not_regex("response_code", "2..").expect("valid regex")],
        vec![re("pod", ".+"), re("nope", "|x")],
        vec![Matcher::equal("version", "")],
    ];
    for ms in &lists {
        let mut from_head: Vec<Labels> = head
            .select(ms)
            .iter()
            .map(|id| head.labels_of(id).expect("live"))
            .collect();
        from_head.sort();
        let from_block: Vec<Labels> = r
            .select(ms)
            .iter()
            .map(|id| r.series(id).expect("valid").labels)
            .collect();
        assert_eq!(from_block, from_head, "{ms:?}");
    }
    println!(
        "istio round trip: {} series, {} bytes, {:.1} bytes/series",
        series.len(),
        file.len(),
        file.len() as f64 / series.len() as f64
    );
}

#[test]
fn empty_index_round_trips() {
    let file = IndexWriter::new().finish().expect("writable");
    let r = IndexReader::open(&file).expect("opens");
    assert_eq!(r.num_series(), 0);
    assert!(r.label_names().is_empty());
    assert!(r.all_postings().is_empty());
}

// ---- corruption -------------------------------------------------------

/// Offsets of the four sections, from the table of contents.
fn section_offsets(file: &[u8]) -> [usize; 4] {
    let toc = file.len() - 40;
    let mut out = [0; 4];
    for (i, o) in out.iter_mut().enumerate() {
        let at = toc + i * 8;
        *o = u64::from_le_bytes(file[at..at + 8].try_into().expect("8 bytes")) as usize;
    }
    out
}

/// Payload range of section `k`.
fn payload(file: &[u8], k: usize) -> std::ops::Range<usize> {
    let at = section_offsets(file)[k];
    let len = u64::from_le_bytes(file[at..at + 8].try_into().expect("8 bytes")) as usize;
    at + 8..at + 8 + len
}

/// Recomputes every section CRC and the table of contents' CRC, so a test
/// can corrupt content behind valid checksums.
/// Sections whose (possibly corrupted) length runs out of the file are
/// left alone.
fn fix_crcs(file: &mut [u8]) {
    for k in 0..4 {
        let at = section_offsets(file)[k];
        let len = u64::from_le_bytes(file[at..at + 8].try_into().expect("8 bytes"));
        if len > (file.len() - 40 - at - 12) as u64 {
            continue;
        }
        let p = payload(file, k);
        let crc = crc32c::crc32c(&file[p.clone()]);
        file[p.end..p.end + 4].copy_from_slice(&crc.to_le_bytes());
    }
    let toc = file.len() - 40;
    let crc = crc32c::crc32c(&file[toc..toc + 32]);
    file[toc + 32..toc + 36].copy_from_slice(&crc.to_le_bytes());
}

fn fixture_file() -> Vec<u8> {
    write(&fixture_series())
}

#[test]
fn truncated_index() {
    let file = fixture_file();
    assert_eq!(
        IndexReader::open(&file[..20]).unwrap_err(),
        BlockIndexError::TooShort { len: 20, need: 48 }
    );
    let cut = &file[..file.len() - 7];
    assert!(matches!(
        IndexReader::open(cut).unwrap_err(),
        BlockIndexError::BadMagic { offset, .. } if offset == cut.len() - 4
    ));
    // Every shorter length is an error, never a panic.
    for len in 0..file.len() {
        assert!(IndexReader::open(&file[..len]).is_err(), "length {len}");
    }
}

#[test]
fn bad_magic() {
    let mut file = fixture_file();
    file[0] = b'X';
    assert_eq!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::BadMagic {
            offset: 0,
            got: *b"XVIX",
            expected: *b"LVIX"
        }
    );
}

#[test]
fn unknown_version() {
    let mut file = fixture_file();
    file[4] = 2;
    let err = IndexReader::open(&file).unwrap_err();
    assert_eq!(
        err,
        BlockIndexError::UnknownVersion {
            got: 2,
            supported: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "block index version 2 is not supported (this levee reads version 1)"
    );
}

#[test]
fn checksum_mismatch_mid_file() {
    let mut file = fixture_file();
    let series = payload(&file, 1);
    file[series.start + 6] ^= 0x40;
    assert!(matches!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::ChecksumMismatch { section: "series section", offset, .. }
            if offset == series.start as u64
    ));
    let mut file = fixture_file();
    let toc = file.len() - 40;
    file[toc + 3] ^= 1;
    assert!(matches!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::ChecksumMismatch {
            section: "table of contents",
            ..
        }
    ));
}

#[test]
fn bitmap_bytes_that_do_not_validate() {
    let mut file = fixture_file();
    let data = payload(&file, 2);
    // Garbage where the first bitmap's cookie and sizes are, behind valid
    // CRCs: only bitmap validation can catch it.
    for b in &mut file[data.start..data.start + 8] {
        *b = 0xAB;
    }
    fix_crcs(&mut file);
    assert!(matches!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::BadBitmap {
            entry: 0,
            reason: "not a valid portable roaring bitmap",
            ..
        }
    ));
}

#[test]
fn bitmap_naming_a_series_past_the_count() {
    let series = fixture_series();
    let mut file = write(&series);
    // code="500" is only on series 1: its bitmap is {1}. Swap in {1000},
    // which serializes to the same number of bytes.
    let data = payload(&file, 2);
    let old = Bitmap::of(&[1]).serialize::<Portable>();
    let new = Bitmap::of(&[1000]).serialize::<Portable>();
    assert_eq!(old.len(), new.len());
    let at = file[data.clone()]
        .windows(old.len())
        .position(|w| w == old.as_slice())
        .expect("bitmap {1} is in the data")
        + data.start;
    file[at..at + new.len()].copy_from_slice(&new);
    fix_crcs(&mut file);
    assert!(matches!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::BadBitmap {
            reason: "names a series past the series count",
            ..
        }
    ));
}

/// Found by the `block_index` fuzz target: one byte of a bitmap's offset
/// header changed (behind valid CRCs). croaring's safe deserialiser reads
/// containers in sequence and accepted it; the in-place view follows the
/// header and read 9.9 MB past the bitmap (SIGSEGV on the first iteration).
#[test]
fn bitmap_offset_header_pointing_outside_its_bytes() {
    let mut file = fixture_file();
    let data = payload(&file, 2);
    // {2, 3}: cookie 12346, one container, key 0, cardinality 2, then its
    // offset (16) at bytes 12..16 and the two values.
    let bitmap = Bitmap::of(&[2, 3]).serialize::<Portable>();
    assert_eq!(&bitmap[12..16], &16u32.to_le_bytes());
    let at = file[data.clone()]
        .windows(bitmap.len())
        .position(|w| w == bitmap.as_slice())
        .expect("bitmap {2, 3} is in the data")
        + data.start;
    file[at + 14] = 0x97; // offset 16 -> 0x0097_0010
    fix_crcs(&mut file);
    assert!(matches!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::BadBitmap {
            reason: "bytes differ from the bitmap's serialization",
            ..
        }
    ));
}

/// Found by the `block_index` fuzz target: a postings table entry whose
/// bitmap offset is near `u64::MAX` overflowed while the out-of-bounds
/// error was being built (a panic with overflow checks on, a wrong offset
/// in the message without).
#[test]
fn postings_offset_near_u64_max() {
    let mut file = fixture_file();
    let table = payload(&file, 3);
    // The first entry's offset field: after the count, name and value refs.
    let at = table.start + 4 + 8;
    file[at..at + 8].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
    fix_crcs(&mut file);
    assert!(matches!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::OutOfBounds {
            section: "postings list",
            offset: u64::MAX,
            ..
        }
    ));
}

#[test]
fn unsorted_symbols_behind_valid_checksums() {
    let mut file = fixture_file();
    let symbols = payload(&file, 0);
    // The string data ends with the largest symbol; make its first byte
    // smaller than everything ("up" -> "\x01p" breaks the order).
    let p = file[symbols.clone()]
        .windows(2)
        .rposition(|w| w == b"up")
        .expect("symbol up")
        + symbols.start;
    file[p] = 1;
    fix_crcs(&mut file);
    assert!(matches!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::Corrupt {
            section: "symbols section",
            ..
        }
    ));
}

#[test]
fn section_offset_outside_the_file() {
    let mut file = fixture_file();
    let toc = file.len() - 40;
    file[toc + 8..toc + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    fix_crcs_toc_only(&mut file);
    assert!(matches!(
        IndexReader::open(&file).unwrap_err(),
        BlockIndexError::OutOfBounds {
            section: "series section",
            ..
        }
    ));
}

fn fix_crcs_toc_only(file: &mut [u8]) {
    let toc = file.len() - 40;
    let crc = crc32c::crc32c(&file[toc..toc + 32]);
    file[toc + 32..toc + 36].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn every_single_byte_corruption_is_detected() {
    let file = fixture_file();
    for at in 0..file.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = file.clone();
            bad[at] ^= flip;
            assert!(
                IndexReader::open(&bad).is_err(),
                "flip {flip:#x} at {at} went unnoticed"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes after a valid header never panic the reader.
    #[test]
    fn garbage_never_panics(mut body in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut file = b"LVIX\x01\0\0\0".to_vec();
        file.append(&mut body);
        let _ = IndexReader::open(&file);
    }

    /// Corruption behind recomputed checksums: an error or a reader whose
    /// every answer can be computed without a panic.
    #[test]
    fn corruption_behind_valid_checksums_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut file = fixture_file();
        let body_end = file.len() - 40;
        for (i, b) in edits {
            let at = 8 + i.index(body_end - 8);
            file[at] = b;
        }
        fix_crcs(&mut file);
        if let Ok(r) = IndexReader::open(&file) {
            for n in r.label_names() {
                for v in r.label_values(n) {
                    let _ = r.postings(n, v).map(|p| p.cardinality());
                }
            }
            for id in 0..r.num_series() {
                let _ = r.series(id);
            }
        }
    }
}
