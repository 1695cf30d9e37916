//! The symbol table of the head: every label name and label value interned
//! once and referred to by a `u32` id, with reference counts so the symbols
//! of removed series are freed.
//!
//! A symbol's count is the number of places that hold its id (one per
//! label-pair occurrence in a live series). [`SymbolTable::intern`] adds one,
//! [`SymbolTable::release`] takes one away; at zero the string is dropped and
//! its id goes back to a free list for the next new symbol. Nobody may keep a
//! symbol id after releasing it.
//!
//! Strings are held as `Arc<str>` so the postings can key their maps by the
//! same allocation instead of a copy.

use std::mem::size_of;
use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Errors of the symbol table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SymbolError {
    /// Every `u32` id is held by a live symbol.
    #[error("symbol table full: {live} live symbols use every u32 id")]
    Exhausted {
        /// Live symbols at the time.
        live: usize,
    },
    /// One symbol is referenced `u32::MAX` times.
    #[error("symbol {id} is referenced u32::MAX times")]
    TooManyReferences {
        /// The symbol.
        id: SymbolId,
    },
}

/// Id of an interned string.
pub type SymbolId = u32;

/// One live symbol.
#[derive(Debug)]
struct Slot {
    text: Arc<str>,
    refs: u32,
}

/// Interned label names and values with reference counts.
#[derive(Debug, Default)]
pub struct SymbolTable {
    /// Indexed by id; `None` marks a freed id waiting in `free`.
    slots: Vec<Option<Slot>>,
    by_text: FxHashMap<Arc<str>, SymbolId>,
    free: Vec<SymbolId>,
    /// Sum of the string lengths of live symbols.
    text_bytes: usize,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `text`, interning it if new, and counts one more reference.
    ///
    /// Fails only when every `u32` id is taken by a live symbol, or when one
    /// symbol's count would overflow.
    pub fn intern(&mut self, text: &str) -> Result<SymbolId, SymbolError> {
        if let Some(&id) = self.by_text.get(text) {
            if let Some(Some(slot)) = self.slots.get_mut(id as usize) {
                slot.refs = slot
                    .refs
                    .checked_add(1)
                    .ok_or(SymbolError::TooManyReferences { id })?;
            }
            return Ok(id);
        }
        let text: Arc<str> = Arc::from(text);
        let slot = Slot {
            text: Arc::clone(&text),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(slot);
                id
            }
            None => {
                let id =
                    SymbolId::try_from(self.slots.len()).map_err(|_| SymbolError::Exhausted {
                        live: self.by_text.len(),
                    })?;
                self.slots.push(Some(slot));
                id
            }
        };
        self.text_bytes += text.len();
        self.by_text.insert(text, id);
        Ok(id)
    }

    /// Takes one reference away from `id`; frees the symbol when none is
    /// left. Returns true when the symbol was freed. Unknown ids are ignored
    /// (returns false).
    pub fn release(&mut self, id: SymbolId) -> bool {
        let Some(entry) = self.slots.get_mut(id as usize) else {
            return false;
        };
        let Some(slot) = entry else {
            return false;
        };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs > 0 {
            return false;
        }
        if let Some(slot) = entry.take() {
            self.by_text.remove(&*slot.text);
            self.text_bytes -= slot.text.len();
        }
        self.free.push(id);
        true
    }

    /// The id of `text` if it is interned; does not count a reference.
    pub fn lookup(&self, text: &str) -> Option<SymbolId> {
        self.by_text.get(text).copied()
    }

    /// The string of a live id.
    pub fn resolve(&self, id: SymbolId) -> Option<&str> {
        self.shared(id).map(|s| &**s)
    }

    /// The shared allocation of a live id (for maps keyed by the symbol).
    pub fn shared(&self, id: SymbolId) -> Option<&Arc<str>> {
        match self.slots.get(id as usize) {
            Some(Some(slot)) => Some(&slot.text),
            _ => None,
        }
    }

    /// The reference count of `id` (0 when not live).
    pub fn refs(&self, id: SymbolId) -> u32 {
        match self.slots.get(id as usize) {
            Some(Some(slot)) => slot.refs,
            _ => 0,
        }
    }

    /// Number of live symbols.
    pub fn len(&self) -> usize {
        self.by_text.len()
    }

    /// True when no symbol is live.
    pub fn is_empty(&self) -> bool {
        self.by_text.is_empty()
    }

    /// Estimated heap bytes held by the table: slots, the lookup map (at its
    /// capacity), the free list and the strings with their `Arc` headers.
    pub fn heap_bytes(&self) -> usize {
        let slots = self.slots.capacity() * size_of::<Option<Slot>>();
        let map = hash_map_bytes::<Arc<str>, SymbolId>(self.by_text.capacity());
        let free = self.free.capacity() * size_of::<SymbolId>();
        // An `Arc<str>` allocation holds two counters before the text.
        let strings = self.text_bytes + self.len() * 2 * size_of::<usize>();
        slots + map + free + strings
    }
}

/// Estimated heap bytes of a `std` (hashbrown) map able to hold `capacity`
/// entries: buckets (a power of two, at most 7/8 full) of entries plus one
/// control byte each.
pub(crate) fn hash_map_bytes<K, V>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    buckets * (size_of::<(K, V)>() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_resolves_both_ways() {
        let mut t = SymbolTable::new();
        let a = t.intern("job").unwrap();
        let b = t.intern("node").unwrap();
        assert_eq!(t.intern("job").unwrap(), a);
        assert_ne!(a, b);
        assert_eq!(t.resolve(a), Some("job"));
        assert_eq!(t.lookup("node"), Some(b));
        assert_eq!(t.lookup("nope"), None);
        assert_eq!(t.refs(a), 2);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn release_frees_at_zero_and_reuses_the_id() {
        let mut t = SymbolTable::new();
        let a = t.intern("a").unwrap();
        t.intern("a").unwrap();
        assert!(!t.release(a));
        assert_eq!(t.resolve(a), Some("a"));
        assert!(t.release(a));
        assert_eq!(t.resolve(a), None);
        assert_eq!(t.lookup("a"), None);
        assert!(t.is_empty());
        // A second release of a freed id is ignored.
        assert!(!t.release(a));
        let b = t.intern("b").unwrap();
        assert_eq!(b, a, "freed id is reused");
        assert_eq!(t.resolve(b), Some("b"));
        assert!(!t.release(999));
    }

    #[test]
    fn heap_bytes_tracks_strings() {
        let mut t = SymbolTable::new();
        let empty = t.heap_bytes();
        let id = t.intern(&"x".repeat(1000)).unwrap();
        assert!(t.heap_bytes() >= empty + 1000);
        t.release(id);
        assert!(t.heap_bytes() < 1000 + empty + 200);
    }
}
