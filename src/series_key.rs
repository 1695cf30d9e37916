//! Series keys: a 128-bit keyed hash (SipHash-1-3) that names one series of
//! one target without keeping its text.
//!
//! The scrape cache and the guard's member table are keyed by it, so a
//! series seen again costs a hash of its bytes and one lookup, and a folded
//! member costs its key and a few numbers instead of its label strings.
//! The key is secret and random (per target, saved with the guard state
//! when the target has a guard, so saved keys stay valid after a restart):
//! a target whose label values an outsider controls cannot aim at
//! collisions, and two of a target's series share a key with probability
//! about n²/2¹²⁹ (10⁷ series: 10⁻²⁵).

use crate::labels::Labels;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// The key of one series: 128 bits, held as two words so that a table of
/// keys needs 8-byte alignment only (a `u128` would pad every entry to 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey([u64; 2]);

impl SeriesKey {
    /// The key with this value.
    pub fn from_u128(v: u128) -> SeriesKey {
        SeriesKey([(v >> 64) as u64, v as u64])
    }

    /// 64 bits of it independent of those a [`KeyMap`] uses (to spread keys
    /// over several maps).
    pub fn spread(self) -> u64 {
        self.0[0]
    }

    /// Its value.
    pub fn as_u128(self) -> u128 {
        (u128::from(self.0[0]) << 64) | u128::from(self.0[1])
    }
}

impl std::hash::Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniform: one word is enough for a table.
        state.write_u64(self.0[1]);
    }
}

/// A map keyed by [`SeriesKey`]: the key is already a uniform hash, so the
/// map uses its low bits as they are.
pub type KeyMap<V> = HashMap<SeriesKey, V, BuildHasherDefault<KeyHasher>>;

/// The pass-through hasher of [`KeyMap`].
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if something other than a SeriesKey is hashed.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Computes series keys under one secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SeriesKeyer {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for SeriesKeyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.write_str("SeriesKeyer(..)")
    }
}

impl SeriesKeyer {
    /// A keyer with a fresh random secret (from the operating system's
    /// randomness, through the standard library's hash seeds).
    pub fn random() -> SeriesKeyer {
        let a = std::collections::hash_map::RandomState::new();
        let b = std::collections::hash_map::RandomState::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        SeriesKeyer {
            k0: a.hash_one(now),
            k1: b.hash_one(!now),
        }
    }

    /// The keyer with this saved secret.
    pub fn from_bytes(secret: [u8; 16]) -> SeriesKeyer {
        let (lo, hi) = secret.split_at(8);
        SeriesKeyer {
            k0: u64::from_le_bytes(lo.try_into().unwrap_or_default()),
            k1: u64::from_le_bytes(hi.try_into().unwrap_or_default()),
        }
    }

    /// The secret, to be saved.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.k0.to_le_bytes());
        out[8..].copy_from_slice(&self.k1.to_le_bytes());
        out
    }

    /// The key of a series given as bytes (the scrape path: the series as
    /// the target wrote it, `name{labels}`).
    pub fn key(&self, bytes: &[u8]) -> SeriesKey {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(bytes);
        SeriesKey::from_u128(h.finish128().as_u128())
    }

    /// The key of a label set (the library path, where no series bytes
    /// exist): names and values with separators that cannot occur in
    /// either, so different label sets never share an encoding.
    pub fn key_labels(&self, labels: &Labels) -> SeriesKey {
        self.key_labels_in(labels, &mut Vec::new())
    }

    /// [`SeriesKeyer::key_labels`] encoding into `scratch` first (hashing
    /// one buffer is several times faster than feeding the hasher every
    /// name and value on its own).
    pub fn key_labels_in(&self, labels: &Labels, scratch: &mut Vec<u8>) -> SeriesKey {
        scratch.clear();
        for l in labels {
            scratch.extend_from_slice(l.name.as_bytes());
            scratch.push(0xff);
            scratch.extend_from_slice(l.value.as_bytes());
            scratch.push(0xfe);
        }
        self.key(scratch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_bytes_and_secret() {
        let k = SeriesKeyer::from_bytes([7; 16]);
        assert_eq!(k.key(b"a{x=\"1\"}"), k.key(b"a{x=\"1\"}"));
        assert_ne!(k.key(b"a{x=\"1\"}"), k.key(b"a{x=\"2\"}"));
        let other = SeriesKeyer::from_bytes([8; 16]);
        assert_ne!(k.key(b"a"), other.key(b"a"));
        assert_ne!(SeriesKeyer::random(), SeriesKeyer::random());
    }

    #[test]
    fn the_secret_round_trips() {
        let k = SeriesKeyer::random();
        let back = SeriesKeyer::from_bytes(k.to_bytes());
        assert_eq!(k, back);
        assert_eq!(k.key(b"m"), back.key(b"m"));
    }

    #[test]
    fn keys_convert_and_pack() {
        let v = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        assert_eq!(SeriesKey::from_u128(v).as_u128(), v);
        assert!(SeriesKey::from_u128(1) < SeriesKey::from_u128(1 << 64));
        assert_eq!(std::mem::align_of::<SeriesKey>(), 8);
    }

    #[test]
    fn label_encoding_is_unambiguous() {
        let k = SeriesKeyer::from_bytes([1; 16]);
        let a = Labels::from_pairs([("a", "bc")]);
        let b = Labels::from_pairs([("ab", "c")]);
        assert_ne!(k.key_labels(&a), k.key_labels(&b));
        let mut scratch = b"left over".to_vec();
        assert_eq!(k.key_labels_in(&a, &mut scratch), k.key_labels(&a));
    }

    #[test]
    fn key_maps_spread_keys() {
        let k = SeriesKeyer::random();
        let mut m: KeyMap<u32> = KeyMap::default();
        for i in 0..10_000u32 {
            m.insert(k.key(&i.to_le_bytes()), i);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.get(&k.key(&42u32.to_le_bytes())), Some(&42));
    }
}
