//! Fuzzes the block index reader (`levee::tsdb::index::block`,
//! `docs/format/index.md`): the bytes of a block's `index` file, which the
//! reader takes from a memory map. After a control byte comes the file.
//! When the control byte is odd, every section's CRC-32C and the table of
//! contents' CRC are first set right (a mutation almost always breaks
//! one), so the mutations reach the tables, varints and roaring bitmaps
//! behind them.
//!
//! Checks, beyond "no panic, no hang, no out-of-bounds bitmap view":
//! - an index that opens answers every query (series, symbols, label names
//!   and values, postings, matcher selection) with values or typed errors;
//!   what a postings list holds is a series of the block;
//! - `MappedIndex` opens the same bytes to the same answers;
//! - when every series decodes and they are in label order, writing them
//!   again with `IndexWriter` gives an index that opens to the same series,
//!   whose postings are exactly the series having each label.

#![no_main]

use levee::tsdb::fs::FileBytes;
use levee::tsdb::index::Matcher;
use levee::tsdb::index::block::{IndexReader, IndexWriter, MappedIndex, SeriesEntry};
use libfuzzer_sys::fuzz_target;

const TOC_LEN: usize = 40;
const HEADER_LEN: usize = 8;

/// Sets every section's CRC and the table of contents' CRC to match.
fn fix_checksums(file: &mut [u8]) {
    if file.len() < HEADER_LEN + TOC_LEN {
        return;
    }
    let toc = file.len() - TOC_LEN;
    for i in 0..4 {
        let at = toc + i * 8;
        let off = u64::from_le_bytes(file[at..at + 8].try_into().unwrap_or([0; 8]));
        let Ok(start) = usize::try_from(off) else {
            continue;
        };
        let Some(len_end) = start.checked_add(8).filter(|&e| e <= toc) else {
            continue;
        };
        let len = u64::from_le_bytes(file[start..len_end].try_into().unwrap_or([0; 8]));
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| len_end.checked_add(l))
        else {
            continue;
        };
        if end.checked_add(4).is_none_or(|e| e > toc) {
            continue;
        }
        let crc = crc32c::crc32c(&file[len_end..end]);
        file[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32c::crc32c(&file[toc..toc + 32]);
    file[toc + 32..toc + 36].copy_from_slice(&crc.to_le_bytes());
}

/// Everything a reader answers: each series (or its error), and each label
/// name with its values.
type Answers = (Vec<Result<SeriesEntry, String>>, Vec<(String, Vec<String>)>);

/// Everything the reader answers, as comparable values.
fn survey(r: &IndexReader<'_>) -> Answers {
    let n = r.num_series();
    let series: Vec<_> = (0..n)
        .map(|id| r.series(id).map_err(|e| e.to_string()))
        .collect();
    assert!(r.series(n).is_err(), "a series past the count");
    let all = r.all_postings();
    assert!(all.iter().all(|id| id < n));
    for i in 0..r.num_symbols() {
        let Some(s) = r.symbol(i) else { continue };
        assert_eq!(
            r.symbol_ref(s),
            Some(i),
            "symbol {i} {s:?} not found by value"
        );
    }
    assert!(r.symbol(r.num_symbols()).is_none());
    let mut labels = Vec::new();
    for name in r.label_names() {
        let values: Vec<String> = r.label_values(name).into_iter().map(String::from).collect();
        if let Some(p) = r.name_postings(name) {
            assert!(p.iter().all(|id| id < n));
        }
        for v in &values {
            let p = r.postings(name, v).expect("a listed value has postings");
            assert!(p.iter().all(|id| id < n));
            let sel = r.select(&[Matcher::equal(name, v.as_str())]);
            assert!(sel.iter().all(|id| id < n));
        }
        if let Ok(m) = Matcher::regex(name, ".+") {
            let _ = r.select(&[m, Matcher::not_equal(name, "x")]);
        }
        labels.push((name.to_string(), values));
    }
    (series, labels)
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let mut file = rest.to_vec();
    if control & 1 == 1 {
        fix_checksums(&mut file);
    }
    let reader = match IndexReader::open(&file) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            assert!(MappedIndex::open(FileBytes::from_vec(file.clone())).is_err());
            return;
        }
    };
    let answers = survey(&reader);
    let mapped = MappedIndex::open(FileBytes::from_vec(file.clone())).expect("same bytes open");
    assert_eq!(
        survey(&mapped.reader()),
        answers,
        "mapped index answers differently"
    );

    // Write the series back out.
    let Ok(series) = answers.0.into_iter().collect::<Result<Vec<_>, _>>() else {
        return;
    };
    let mut w = IndexWriter::new();
    for s in &series {
        if w.add_series(&s.labels, &s.chunks).is_err() {
            return; // out of order or bad chunk ranges: nothing to compare
        }
    }
    let bytes = w.finish().expect("a writer fed valid series finishes");
    let again = IndexReader::open(&bytes).expect("an index levee wrote opens");
    assert_eq!(again.num_series() as usize, series.len());
    for (id, s) in series.iter().enumerate() {
        let got = again
            .series(id as u32)
            .expect("series of a written index decode");
        assert_eq!(&got, s, "series {id} changed in the round trip");
        for l in &s.labels {
            let p = again
                .postings(l.name, l.value)
                .expect("postings of a label");
            assert!(
                p.contains(id as u32),
                "series {id} missing from {}={}",
                l.name,
                l.value
            );
        }
    }
    for name in again.label_names() {
        for v in again.label_values(name) {
            for id in again.postings(name, v).expect("listed").iter() {
                assert_eq!(series[id as usize].labels.get(name), Some(v));
            }
        }
    }
});
