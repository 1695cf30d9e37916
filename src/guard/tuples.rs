//! Value tuples shared by folded members: the values a member had in its
//! folded series' replaced labels, interned with a reference count (in the
//! Istio storm one tuple per destination host, shared by its ~25 series).
//!
//! A tuple is packed: its values' text side by side in one string and
//! where each value ends, two allocations whatever the number of values
//! (a boxed string per value cost ~330 bytes for the storm's five host
//! labels; packed, ~190).

use super::table::{NONE, compact_slots, shrink_map, unlink};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

/// One interned tuple.
#[derive(Debug)]
pub struct Tuple {
    text: Box<str>,
    ends: Box<[u32]>,
    hash: u64,
    next: u32,
    refs: u32,
}

impl Tuple {
    /// Its values.
    pub fn values(&self) -> TupleValues<'_> {
        TupleValues {
            text: &self.text,
            ends: &self.ends,
        }
    }
}

/// The values of a tuple, by position.
#[derive(Debug, Clone, Copy)]
pub struct TupleValues<'a> {
    text: &'a str,
    ends: &'a [u32],
}

impl<'a> TupleValues<'a> {
    const EMPTY: TupleValues<'static> = TupleValues {
        text: "",
        ends: &[],
    };

    /// Number of values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Value `i`.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => *self.ends.get(i - 1)? as usize,
        };
        self.text.get(start..end)
    }

    /// The values in order.
    pub fn iter(&self) -> TupleIter<'a> {
        TupleIter {
            values: *self,
            next: 0,
        }
    }
}

impl<'a> IntoIterator for TupleValues<'a> {
    type Item = &'a str;
    type IntoIter = TupleIter<'a>;

    fn into_iter(self) -> TupleIter<'a> {
        self.iter()
    }
}

/// Iterator over [`TupleValues`].
#[derive(Debug, Clone)]
pub struct TupleIter<'a> {
    values: TupleValues<'a>,
    next: usize,
}

impl<'a> Iterator for TupleIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let v = self.values.get(self.next)?;
        self.next += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.values.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for TupleIter<'_> {}

/// Interned tuples with reference counts.
#[derive(Debug, Default)]
pub struct TupleTable {
    slots: Vec<Option<Tuple>>,
    free: Vec<u32>,
    by_hash: FxHashMap<u64, u32>,
}

fn tuple_hash<S: AsRef<str>>(values: &[S]) -> u64 {
    let mut h = FxHasher::default();
    for v in values {
        h.write(v.as_ref().as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

fn pack<S: AsRef<str>>(values: &[S]) -> (Box<str>, Box<[u32]>) {
    let mut text = String::with_capacity(values.iter().map(|v| v.as_ref().len()).sum());
    let mut ends = Vec::with_capacity(values.len());
    for v in values {
        text.push_str(v.as_ref());
        // A tuple's text is a few label values of one series, far below
        // 4 GiB (a body line is limited long before that).
        ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
    }
    (text.into_boxed_str(), ends.into_boxed_slice())
}

impl TupleTable {
    /// The id of `values`, interned if new, with one more reference.
    pub fn acquire<S: AsRef<str>>(&mut self, values: &[S]) -> u32 {
        let hash = tuple_hash(values);
        let mut id = self.by_hash.get(&hash).copied().unwrap_or(NONE);
        while id != NONE {
            let Some(t) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
                break;
            };
            let same = {
                let have = t.values();
                have.len() == values.len() && have.iter().zip(values).all(|(a, b)| a == b.as_ref())
            };
            if same {
                t.refs += 1;
                return id;
            }
            id = t.next;
        }
        let (text, ends) = pack(values);
        let tuple = Tuple {
            text,
            ends,
            hash,
            next: self.by_hash.get(&hash).copied().unwrap_or(NONE),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(tuple);
                id
            }
            None => {
                self.slots.push(Some(tuple));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_hash.insert(hash, id);
        id
    }

    /// Drops one reference; the tuple goes with the last.
    pub fn release(&mut self, id: u32) {
        let Some(t) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        t.refs -= 1;
        if t.refs > 0 {
            return;
        }
        let (hash, next) = (t.hash, t.next);
        self.slots[id as usize] = None;
        unlink(&mut self.slots, &mut self.by_hash, hash, id, next, |c| {
            &mut c.next
        });
        self.free.push(id);
    }

    /// The values of tuple `id` (none when there is no such tuple).
    pub fn values(&self, id: u32) -> TupleValues<'_> {
        self.slots
            .get(id as usize)
            .and_then(Option::as_ref)
            .map_or(TupleValues::EMPTY, Tuple::values)
    }

    /// Live tuples with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Tuple)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, t)))
    }

    /// Gives back memory after many tuples went.
    pub fn compact(&mut self) {
        compact_slots(&mut self.slots, &mut self.free);
        shrink_map(&mut self.by_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_are_shared_and_released() {
        let mut t = TupleTable::default();
        let a = t.acquire(&["h1", "svc-1"]);
        let b = t.acquire(&["h1".to_string(), "svc-1".to_string()]);
        assert_eq!(a, b);
        let c = t.acquire(&["h2", "svc-2"]);
        assert_ne!(a, c);
        t.release(a);
        assert_eq!(t.values(a).get(0), Some("h1"), "one reference left");
        t.release(b);
        assert_eq!(t.values(a).len(), 0);
        let d = t.acquire(&["h3"]);
        assert_eq!(d, a, "the free slot is reused");
        assert_eq!(t.iter().count(), 2);
    }

    #[test]
    fn packed_values_keep_their_boundaries() {
        let mut t = TupleTable::default();
        // Empty values and multi-byte text, and two tuples whose text is
        // the same once joined.
        let a = t.acquire(&["", "añ", "", "ß€"]);
        let b = t.acquire(&["a", "ñß€"]);
        assert_ne!(a, b);
        let v = t.values(a);
        assert_eq!(v.len(), 4);
        assert_eq!(v.iter().collect::<Vec<_>>(), ["", "añ", "", "ß€"]);
        assert_eq!((v.get(1), v.get(4)), (Some("añ"), None));
        assert_eq!(v.iter().len(), 4);
        assert_eq!(t.values(b).into_iter().collect::<Vec<_>>(), ["a", "ñß€"]);
        assert_eq!(t.acquire(&["a", "ñß€"]), b);
        assert!(t.values(99).len() == 0 && t.values(99).get(0).is_none());
    }
}
