//! Reference counts of the distinct values of one label in one family
//! ([`super::stats`]), eight bytes a value: the top 40 bits of the value's
//! 64-bit hash and a 24-bit count in one word of an open-addressing table
//! (a map of hash to count took 16, twice as much: in the Istio storm the
//! five host labels of four families hold ~480k values at the tenth
//! minute).
//!
//! Two values of a pair whose hashes share their top 40 bits count as one
//! distinct value: with n values that happens with probability about
//! n²/2⁴¹ (24,000 values: 3·10⁻⁴), and makes a statistic one lower;
//! nothing forwarded depends on it. Counts past 2²⁴ − 1 (that many series
//! sharing one value) continue in a side map.

use hashbrown::HashTable;
use rustc_hash::FxHashMap;

const COUNT_BITS: u32 = 24;
/// The count field's largest value; in the table it means "see `big`".
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

/// Distinct values with reference counts.
#[derive(Debug, Default, Clone)]
pub struct ValueCounts {
    table: HashTable<u64>,
    /// Counts of at least [`COUNT_MAX`], by tag.
    big: FxHashMap<u64, u64>,
}

fn tag(value_hash: u64) -> u64 {
    value_hash >> COUNT_BITS
}

/// The table's hash of a tag: spread over all 64 bits (the table reads
/// both the low and the top bits).
fn spread(tag: u64) -> u64 {
    tag.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn tag_of(entry: u64) -> u64 {
    entry >> COUNT_BITS
}

impl ValueCounts {
    /// Distinct values.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// One more series with the value of hash `value_hash`; true when the
    /// value is new.
    pub fn add(&mut self, value_hash: u64) -> bool {
        let t = tag(value_hash);
        let Some(e) = self.table.find_mut(spread(t), |&e| tag_of(e) == t) else {
            self.table
                .insert_unique(spread(t), (t << COUNT_BITS) | 1, |&e| spread(tag_of(e)));
            return true;
        };
        let count = *e & COUNT_MAX;
        if count == COUNT_MAX {
            *self.big.entry(t).or_insert(COUNT_MAX) += 1;
        } else {
            *e += 1;
            if count + 1 == COUNT_MAX {
                self.big.insert(t, COUNT_MAX);
            }
        }
        false
    }

    /// One series fewer with the value of hash `value_hash`; the value goes
    /// with its last series.
    pub fn remove(&mut self, value_hash: u64) {
        let t = tag(value_hash);
        let Ok(entry) = self.table.find_entry(spread(t), |&e| tag_of(e) == t) else {
            return;
        };
        let count = *entry.get() & COUNT_MAX;
        if count == 1 {
            entry.remove();
            return;
        }
        let left = if count == COUNT_MAX {
            let big = self.big.get(&t).copied().unwrap_or(COUNT_MAX) - 1;
            if big >= COUNT_MAX {
                self.big.insert(t, big);
                return;
            }
            self.big.remove(&t);
            big
        } else {
            count - 1
        };
        let mut entry = entry;
        *entry.get_mut() = (t << COUNT_BITS) | left;
    }

    /// The series with the value of hash `value_hash` (0: not a value).
    #[cfg(test)]
    pub fn count(&self, value_hash: u64) -> u64 {
        let t = tag(value_hash);
        match self.table.find(spread(t), |&e| tag_of(e) == t) {
            None => 0,
            Some(&e) if e & COUNT_MAX == COUNT_MAX => self.big.get(&t).copied().unwrap_or(0),
            Some(&e) => e & COUNT_MAX,
        }
    }

    /// Gives back room after many values went.
    pub fn shrink(&mut self) {
        if self.table.capacity() / 4 > self.table.len() {
            self.table
                .shrink_to(self.table.len(), |&e| spread(tag_of(e)));
        }
        super::table::shrink_map(&mut self.big);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_and_leave_with_their_last_series() {
        let mut v = ValueCounts::default();
        assert!(v.add(1 << 40));
        assert!(!v.add(1 << 40));
        assert!(v.add(2 << 40));
        assert_eq!(v.len(), 2);
        assert_eq!(v.count(1 << 40), 2);
        v.remove(1 << 40);
        assert_eq!((v.len(), v.count(1 << 40)), (2, 1));
        v.remove(1 << 40);
        assert_eq!((v.len(), v.count(1 << 40)), (1, 0));
        v.remove(1 << 40);
        assert_eq!(v.len(), 1, "removing an absent value changes nothing");
        for i in 0..10_000u64 {
            v.add(i.wrapping_mul(0xA24B_AED4_963E_E407));
        }
        for i in 0..10_000u64 {
            v.remove(i.wrapping_mul(0xA24B_AED4_963E_E407));
        }
        v.shrink();
        assert_eq!(v.len(), 1);
        assert_eq!(v.count(2 << 40), 1);
    }

    #[test]
    fn hashes_differing_only_in_their_low_bits_are_one_value() {
        let mut v = ValueCounts::default();
        assert!(v.add(0xABCD_0000_0000_0001));
        assert!(!v.add(0xABCD_0000_0000_0002));
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn counts_past_the_field_continue_on_the_side() {
        let mut v = ValueCounts::default();
        let h = 7 << 40;
        let n = COUNT_MAX + 5;
        for _ in 0..n {
            v.add(h);
        }
        assert_eq!(v.count(h), n);
        assert_eq!(v.big.len(), 1);
        for _ in 0..6 {
            v.remove(h);
        }
        assert_eq!(v.count(h), n - 6);
        assert!(v.big.is_empty(), "back under the field");
        for _ in 0..n - 6 {
            v.remove(h);
        }
        assert_eq!((v.len(), v.count(h)), (0, 0));
    }
}
