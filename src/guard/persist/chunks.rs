//! [`Chunks`]: the encoder's symbol table (the part of the file that
//! waits for the last target), a list of byte chunks that never copies
//! what it holds when it grows. A `Vec<u8>` that doubles holds
//! its old and its new allocation at once (three times the bytes written,
//! for a moment) and copies everything each time; here a full chunk is
//! kept as it is and a new one begins, so a table of tens of MB costs
//! its own size in heap plus at most one chunk. Chunks start small (a small
//! state stays small) and double up to [`MAX_CHUNK`]; their bytes in order
//! are the table, written to the file one chunk at a time.

use crate::varint::put_uvarint;

/// The first chunk's capacity.
const FIRST_CHUNK: usize = 4 << 10;
/// The largest chunk's capacity.
pub const MAX_CHUNK: usize = 1 << 20;

/// Bytes in chunks.
#[derive(Debug, Default)]
pub struct Chunks {
    full: Vec<Vec<u8>>,
    cur: Vec<u8>,
    full_len: usize,
}

impl Chunks {
    /// Makes room for `n` more bytes in the current chunk, starting a new
    /// one (of at least `n` bytes) when it has not.
    #[inline]
    fn room(&mut self, n: usize) {
        if self.cur.capacity() - self.cur.len() >= n {
            return;
        }
        let next = match self.cur.capacity() {
            0 => FIRST_CHUNK,
            c => (2 * c).min(MAX_CHUNK),
        };
        let full = std::mem::replace(&mut self.cur, Vec::with_capacity(next.max(n)));
        if !full.is_empty() {
            self.full_len += full.len();
            self.full.push(full);
        }
    }

    /// Appends `bytes` (kept in one chunk).
    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) {
        self.room(bytes.len());
        self.cur.extend_from_slice(bytes);
    }

    /// Appends `v` as an unsigned LEB128 varint.
    #[inline]
    pub fn uvarint(&mut self, v: u64) {
        self.room(10);
        put_uvarint(&mut self.cur, v);
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.full_len + self.cur.len()
    }

    /// The chunks in order.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> {
        self.full
            .iter()
            .map(Vec::as_slice)
            .chain(std::iter::once(self.cur.as_slice()))
            .filter(|c| !c.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_what_was_written_in_order_without_growing_a_chunk() {
        let mut c = Chunks::default();
        let mut want = Vec::new();
        for i in 0..300_000u64 {
            c.uvarint(i * 977);
            put_uvarint(&mut want, i * 977);
            c.extend(&[i as u8]);
            want.push(i as u8);
            if i % 1000 == 0 {
                let big = vec![i as u8; 5000];
                c.extend(&big);
                want.extend_from_slice(&big);
            }
        }
        assert_eq!(c.len(), want.len());
        let got: Vec<u8> = c.parts().flatten().copied().collect();
        assert_eq!(got, want);
        let caps: Vec<usize> = c.full.iter().map(Vec::capacity).collect();
        assert_eq!(caps[0], FIRST_CHUNK);
        assert!(caps.iter().all(|&n| n <= MAX_CHUNK), "{caps:?}");
        for ch in &c.full {
            assert!(ch.capacity() - ch.len() < 5000, "chunks are filled");
        }
    }

    #[test]
    fn an_item_larger_than_a_chunk_gets_its_own() {
        let mut c = Chunks::default();
        c.extend(&[1]);
        let big = vec![7u8; 3 * MAX_CHUNK];
        c.extend(&big);
        c.extend(&[2]);
        assert_eq!(c.len(), 2 + big.len());
        let parts: Vec<&[u8]> = c.parts().collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], &big[..]);
        assert_eq!(Chunks::default().parts().count(), 0);
    }
}
