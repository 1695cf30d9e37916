//! Shared by the targets that fuzz several files at once (`wal`,
//! `chunk_files`): one input is cut into files at every occurrence of the
//! format's magic but a leading one, so the fuzzer's splices and copies
//! make multi-file directories.

/// Splits `data` before every `magic` except at offset 0.
pub fn split_at_magic<'a>(data: &'a [u8], magic: &[u8]) -> Vec<&'a [u8]> {
    let mut starts = vec![0];
    starts.extend(
        data.windows(magic.len())
            .enumerate()
            .skip(1)
            .filter(|(_, w)| *w == magic)
            .map(|(i, _)| i),
    );
    starts.push(data.len());
    starts.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}
