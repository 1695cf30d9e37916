//! [`BlockId`]: a block's ULID-style id (48-bit millisecond timestamp, 80
//! random bits, 26 characters of Crockford base32, sortable by time).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::BlockError;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Length of an id's text form.
pub const ID_LEN: usize = 26;

/// A block id. Ordering is by time first (then the random bits), the same
/// as ordering the text forms.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(u128);

impl BlockId {
    /// The id made of `time_ms` (only its low 48 bits are kept) and 80
    /// `random` bits.
    pub fn from_parts(time_ms: u64, random: [u8; 10]) -> Self {
        let mut r = [0u8; 16];
        r[6..].copy_from_slice(&random);
        BlockId(u128::from(time_ms & 0xFFFF_FFFF_FFFF) << 80 | u128::from_be_bytes(r))
    }

    /// A new id for now, with random bits from `/dev/urandom` (std's
    /// randomly keyed hasher if that cannot be read).
    pub fn generate() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        BlockId::from_parts(now, random_bits())
    }

    /// The millisecond timestamp the id was made at.
    pub fn time_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }

    /// The 128 bits.
    pub fn to_u128(self) -> u128 {
        self.0
    }
}

fn random_bits() -> [u8; 10] {
    let mut out = [0u8; 10];
    let urandom = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out));
    if urandom.is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let state = std::collections::hash_map::RandomState::new();
        for (i, part) in out.chunks_mut(8).enumerate() {
            let mut h = state.build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            h.write_usize(i);
            part.copy_from_slice(&h.finish().to_le_bytes()[..part.len()]);
        }
    }
    out
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = [0u8; ID_LEN];
        for (i, c) in s.iter_mut().enumerate() {
            let shift = 5 * (ID_LEN - 1 - i);
            *c = ALPHABET[((self.0 >> shift) & 31) as usize];
        }
        f.write_str(std::str::from_utf8(&s).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({self})")
    }
}

impl FromStr for BlockId {
    type Err = BlockError;

    fn from_str(s: &str) -> Result<Self, BlockError> {
        let bad = |reason: &'static str| BlockError::BadId {
            got: s.to_string(),
            reason,
        };
        if s.len() != ID_LEN {
            return Err(bad("not 26 characters"));
        }
        let mut v: u128 = 0;
        for (i, b) in s.bytes().enumerate() {
            let up = b.to_ascii_uppercase();
            let digit = ALPHABET
                .iter()
                .position(|&a| a == up)
                .ok_or_else(|| bad("not a Crockford base32 character"))?;
            if i == 0 && digit > 7 {
                return Err(bad("first character above 7 (more than 128 bits)"));
            }
            v = v << 5 | digit as u128;
        }
        Ok(BlockId(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_sorts_by_time() {
        let a = BlockId::from_parts(1_700_000_000_000, [0xFF; 10]);
        let b = BlockId::from_parts(1_700_000_000_001, [0; 10]);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        for id in [a, b, BlockId::generate(), BlockId(u128::MAX), BlockId(0)] {
            let s = id.to_string();
            assert_eq!(s.len(), 26);
            assert_eq!(s.parse::<BlockId>().unwrap(), id);
            assert_eq!(s.to_lowercase().parse::<BlockId>().unwrap(), id);
        }
        assert_eq!(a.time_ms(), 1_700_000_000_000);
        assert_eq!(BlockId(u128::MAX).to_string(), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert_eq!(BlockId(0).to_string(), "00000000000000000000000000");
    }

    #[test]
    fn known_vector_and_bad_text() {
        // The ULID spec's example: ulid(1469918176385) starts "01ARYZ6S41".
        let id: BlockId = "01ARYZ6S41TSV4RRFFQ69G5FAV".parse().unwrap();
        assert_eq!(id.time_ms(), 1_469_918_176_385);
        assert!(
            BlockId::from_parts(1_469_918_176_385, [0; 10])
                .to_string()
                .starts_with("01ARYZ6S41")
        );
        for bad in [
            "",
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "0000000000000000000000000U",
            "01J",
            "0000000000000000000000000000",
        ] {
            assert!(
                matches!(bad.parse::<BlockId>(), Err(BlockError::BadId { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn generated_ids_differ() {
        let ids: std::collections::HashSet<BlockId> =
            (0..100).map(|_| BlockId::generate()).collect();
        assert_eq!(ids.len(), 100);
    }
}
