//! Value tuples shared by folded members: the values a member had in its
//! folded series' replaced labels, interned with a reference count (in the
//! Istio storm one tuple per destination host, shared by its ~25 series).
//!
//! Tuples live in two arenas shared by the whole table: one string holding
//! every tuple's values side by side, one vector holding where each value
//! ends. A tuple is a 32-byte slot pointing into them, so interning one
//! allocates nothing of its own: in the storm a new tuple arrives with
//! every new host, lives as long as its members, and, were it two small
//! blocks, would land between the scrape's short-lived ones and keep their
//! pages from going back. Released tuples leave holes in the arenas;
//! [`TupleTable::compact`] closes them once they outweigh the live text.

use super::members::MAX_TUPLE;
use super::table::{NONE, compact_slots, put_slot, shrink_map, shrink_vec, unlink};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::Hasher;

/// One interned tuple: where its values are in the arenas.
#[derive(Debug, Clone, Copy)]
struct Tuple {
    /// Start of its text in [`TupleTable::text`].
    text_start: u32,
    /// Bytes of text.
    text_len: u32,
    /// Start of its value ends in [`TupleTable::ends`] (relative to
    /// `text_start`).
    ends_start: u32,
    /// Number of values.
    values: u32,
    hash: u64,
    next: u32,
    refs: u32,
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
    /// Every tuple's values, side by side.
    text: String,
    /// Where each value ends, relative to its tuple's start.
    ends: Vec<u32>,
    /// Bytes of `text` and entries of `ends` no live tuple uses.
    dead_text: usize,
    dead_ends: usize,
}

fn tuple_hash<S: AsRef<str>>(values: &[S]) -> u64 {
    let mut h = FxHasher::default();
    for v in values {
        h.write(v.as_ref().as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

/// Arena offsets are u32: past 4 GiB of tuple text, as past
/// [`MAX_TUPLE`] tuples, no tuple is interned and the series stays a
/// labeled one (the text of one tuple is a few label values of a series).
fn offset(n: usize) -> Option<u32> {
    u32::try_from(n).ok()
}

impl TupleTable {
    /// The id of `values`, interned if new, with one more reference;
    /// `None` when a new tuple does not fit: [`MAX_TUPLE`] tuples live, or
    /// 4 GiB of tuple text.
    pub fn acquire<S: AsRef<str>>(&mut self, values: &[S]) -> Option<u32> {
        let hash = tuple_hash(values);
        let mut id = self.by_hash.get(&hash).copied().unwrap_or(NONE);
        while id != NONE {
            let Some(t) = self.slots.get(id as usize).copied().flatten() else {
                break;
            };
            let same = {
                let have = self.view(&t);
                have.len() == values.len() && have.iter().zip(values).all(|(a, b)| a == b.as_ref())
            };
            if same {
                if let Some(Some(t)) = self.slots.get_mut(id as usize) {
                    t.refs += 1;
                }
                return Some(id);
            }
            id = t.next;
        }
        if self.free.is_empty() && self.slots.len() > MAX_TUPLE as usize {
            return None;
        }
        let text_len: usize = values.iter().map(|v| v.as_ref().len()).sum();
        let tuple = Tuple {
            text_start: offset(self.text.len())?,
            text_len: offset(text_len)?,
            ends_start: offset(self.ends.len())?,
            values: offset(values.len())?,
            hash,
            next: self.by_hash.get(&hash).copied().unwrap_or(NONE),
            refs: 1,
        };
        offset(self.text.len() + text_len)?;
        offset(self.ends.len() + values.len())?;
        let mut end = 0u32;
        for v in values {
            self.text.push_str(v.as_ref());
            end += v.as_ref().len() as u32;
            self.ends.push(end);
        }
        let id = put_slot(&mut self.slots, &mut self.free, tuple);
        self.by_hash.insert(hash, id);
        Some(id)
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
        let t = *t;
        self.slots[id as usize] = None;
        self.dead_text += t.text_len as usize;
        self.dead_ends += t.values as usize;
        unlink(
            &mut self.slots,
            &mut self.by_hash,
            t.hash,
            id,
            t.next,
            |c| &mut c.next,
        );
        self.free.push(id);
    }

    fn view(&self, t: &Tuple) -> TupleValues<'_> {
        let text = (t.text_start as usize).checked_add(t.text_len as usize);
        let ends = (t.ends_start as usize).checked_add(t.values as usize);
        match (
            text.and_then(|e| self.text.get(t.text_start as usize..e)),
            ends.and_then(|e| self.ends.get(t.ends_start as usize..e)),
        ) {
            (Some(text), Some(ends)) => TupleValues { text, ends },
            _ => TupleValues::EMPTY,
        }
    }

    /// The values of tuple `id` (none when there is no such tuple).
    pub fn values(&self, id: u32) -> TupleValues<'_> {
        self.slots
            .get(id as usize)
            .and_then(Option::as_ref)
            .map_or(TupleValues::EMPTY, |t| self.view(t))
    }

    /// Live tuples with their ids and values.
    pub fn iter(&self) -> impl Iterator<Item = (u32, TupleValues<'_>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, self.view(t))))
    }

    /// Bytes the arenas hold (live and dead).
    #[cfg(test)]
    fn arena_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4
    }

    /// Gives back memory after many tuples went: trailing free slots, and
    /// the arenas' holes once they outweigh what is live.
    pub fn compact(&mut self) {
        compact_slots(&mut self.slots, &mut self.free);
        shrink_map(&mut self.by_hash);
        let live_text = self.text.len() - self.dead_text;
        let live_ends = self.ends.len() - self.dead_ends;
        if self.dead_text + self.dead_ends * 4 > (live_text + live_ends * 4).max(4096) {
            self.rebuild_arenas(live_text, live_ends);
        }
    }

    /// Copies the live tuples' values into fresh arenas, in slot order.
    fn rebuild_arenas(&mut self, live_text: usize, live_ends: usize) {
        let mut text = String::with_capacity(live_text);
        let mut ends = Vec::with_capacity(live_ends);
        for slot in self.slots.iter_mut() {
            let Some(t) = slot.as_mut() else { continue };
            let start = t.text_start as usize;
            let (Some(s), Some(e)) = (
                self.text.get(start..start + t.text_len as usize),
                self.ends
                    .get(t.ends_start as usize..t.ends_start as usize + t.values as usize),
            ) else {
                continue;
            };
            // Both fit: the fresh arenas hold less than the old ones.
            t.text_start = text.len() as u32;
            t.ends_start = ends.len() as u32;
            text.push_str(s);
            ends.extend_from_slice(e);
        }
        self.text = text;
        self.ends = ends;
        shrink_vec(&mut self.ends);
        self.dead_text = 0;
        self.dead_ends = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_are_shared_and_released() {
        let mut t = TupleTable::default();
        let a = t.acquire(&["h1", "svc-1"]).unwrap();
        let b = t.acquire(&["h1".to_string(), "svc-1".to_string()]).unwrap();
        assert_eq!(a, b);
        let c = t.acquire(&["h2", "svc-2"]).unwrap();
        assert_ne!(a, c);
        t.release(a);
        assert_eq!(t.values(a).get(0), Some("h1"), "one reference left");
        t.release(b);
        assert_eq!(t.values(a).len(), 0);
        let d = t.acquire(&["h3"]).unwrap();
        assert_eq!(d, a, "the free slot is reused");
        assert_eq!(t.iter().count(), 2);
    }

    #[test]
    fn packed_values_keep_their_boundaries() {
        let mut t = TupleTable::default();
        // Empty values and multi-byte text, and two tuples whose text is
        // the same once joined.
        let a = t.acquire(&["", "añ", "", "ß€"]).unwrap();
        let b = t.acquire(&["a", "ñß€"]).unwrap();
        assert_ne!(a, b);
        let v = t.values(a);
        assert_eq!(v.len(), 4);
        assert_eq!(v.iter().collect::<Vec<_>>(), ["", "añ", "", "ß€"]);
        assert_eq!((v.get(1), v.get(4)), (Some("añ"), None));
        assert_eq!(v.iter().len(), 4);
        assert_eq!(t.values(b).into_iter().collect::<Vec<_>>(), ["a", "ñß€"]);
        assert_eq!(t.acquire(&["a", "ñß€"]), Some(b));
        assert!(t.values(99).len() == 0 && t.values(99).get(0).is_none());
    }

    #[test]
    fn released_tuples_leave_the_arenas_at_compaction() {
        let mut t = TupleTable::default();
        let name = |i: u32| format!("svc-{i}.mesh.svc.cluster.local");
        let ids: Vec<u32> = (0..10_000)
            .map(|i| t.acquire(&[name(i), format!("svc-{i}")]).unwrap())
            .collect();
        let full = t.arena_bytes();
        for (i, id) in ids.iter().enumerate() {
            if i % 10 != 0 {
                t.release(*id);
            }
        }
        t.compact();
        assert!(
            t.arena_bytes() * 4 < full,
            "{} of {full} bytes kept",
            t.arena_bytes()
        );
        for (i, id) in ids.iter().enumerate().step_by(10) {
            let v: Vec<&str> = t.values(*id).iter().collect();
            assert_eq!(
                v,
                [name(i as u32), format!("svc-{i}")],
                "tuple {id} moved intact"
            );
        }
        // Still interned: the same values find the same ids; new ones
        // reuse freed slots and append to the rebuilt arena.
        assert_eq!(t.acquire(&[name(20), "svc-20".to_string()]), Some(ids[20]));
        let n = t.acquire(&["new"]).unwrap();
        assert!(ids.contains(&n) && t.values(n).get(0) == Some("new"));
        assert_eq!(t.iter().count(), 1_001);
    }

    #[test]
    fn a_few_holes_stay_until_they_outweigh_the_live_text() {
        let mut t = TupleTable::default();
        let ids: Vec<u32> = (0..1_000)
            .map(|i| t.acquire(&[format!("host-{i}")]).unwrap())
            .collect();
        let full = t.arena_bytes();
        for id in &ids[..100] {
            t.release(*id);
        }
        t.compact();
        assert_eq!(t.arena_bytes(), full, "10 % holes: not worth a copy");
        assert_eq!(t.values(ids[500]).get(0), Some("host-500"));
    }
}
