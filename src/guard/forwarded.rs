//! What the guard forwarded, scrape by scrape: the references (a series'
//! slot, or a folded series' id with [`super::engine::GROUP_BIT`]) the
//! previous scrape forwarded and those the current one forwards, so that
//! staleness markers go to exactly what stopped being forwarded.
//!
//! Invariant: [`Forwarded::previous`] lists what the last finished scrape
//! forwarded, in the order it forwarded it, each once; `carried` counts
//! how many of those the current scrape forwarded again. Each forwarded
//! object carries the generation it was last forwarded in (its
//! `emitted_gen`, stamped by [`Forwarded::forward`]), so an object is
//! counted once however it is reached, and when every previous object was
//! carried, nothing went stale and the walk of the previous list is
//! skipped ([`Forwarded::take_maybe_stale`]).

use super::table::shrink_vec;

/// The forwarded lists of one guard. See the module docs.
#[derive(Debug, Default)]
pub(super) struct Forwarded {
    /// The generation of the previous scrape (0: none yet).
    last_gen: u32,
    /// Objects of `previous` forwarded again by the current scrape.
    carried: usize,
    previous: Vec<u32>,
    current: Vec<u32>,
}

impl Forwarded {
    /// A new scrape begins; `last_gen` is the previous scrape's
    /// generation.
    pub fn begin(&mut self, last_gen: u32) {
        self.last_gen = last_gen;
        self.carried = 0;
    }

    /// Object `r` is forwarded by the scrape of generation `generation`;
    /// `emitted_gen` is its stamp, the generation it was last forwarded in.
    pub fn forward(&mut self, r: u32, emitted_gen: &mut u32, generation: u32) {
        if *emitted_gen == self.last_gen && self.last_gen != 0 {
            self.carried += 1;
        }
        *emitted_gen = generation;
        self.current.push(r);
    }

    /// What the previous scrape forwarded and the current one may not
    /// have: all of it, or nothing when the current scrape forwarded all
    /// of it again. Give the list back to [`Forwarded::end`].
    pub fn take_maybe_stale(&mut self) -> Vec<u32> {
        let mut previous = std::mem::take(&mut self.previous);
        if self.carried == previous.len() {
            previous.clear();
        }
        previous
    }

    /// Ends the scrape: what it forwarded becomes the previous list
    /// (`spent`, the list [`Forwarded::take_maybe_stale`] gave, is reused
    /// for the next one).
    pub fn end(&mut self, mut spent: Vec<u32>) {
        spent.clear();
        self.previous = std::mem::replace(&mut self.current, spent);
    }

    /// Takes what the last scrape forwarded (a failed scrape marks all of
    /// it stale).
    pub fn take_previous(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.previous)
    }

    /// What the last scrape forwarded, in order.
    pub fn previous(&self) -> &[u32] {
        &self.previous
    }

    /// Keeps the previous objects `keep` says still exist.
    pub fn retain_previous(&mut self, keep: impl FnMut(&u32) -> bool) {
        self.previous.retain(keep);
    }

    /// Adds `r` to the previous list (a restore: what the saved guard
    /// forwarded last, in order).
    pub fn restore_previous(&mut self, r: u32) {
        self.previous.push(r);
    }

    /// Gives back the room of lists that were longer.
    pub fn shrink(&mut self) {
        shrink_vec(&mut self.previous);
        shrink_vec(&mut self.current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One scrape of generation `generation` forwarding `objects` (each an
    /// index into `stamps`); returns what may have gone stale.
    fn scrape(f: &mut Forwarded, stamps: &mut [u32], generation: u32, objects: &[u32]) -> Vec<u32> {
        f.begin(generation - 1);
        for &r in objects {
            f.forward(r, &mut stamps[r as usize], generation);
        }
        let stale = f.take_maybe_stale();
        let out = stale.clone();
        f.end(stale);
        out
    }

    #[test]
    fn the_previous_list_is_what_the_last_scrape_forwarded_in_order() {
        let (mut f, mut stamps) = (Forwarded::default(), [0u32; 4]);
        assert!(scrape(&mut f, &mut stamps, 1, &[2, 0, 1]).is_empty());
        assert_eq!(f.previous(), &[2, 0, 1]);
        scrape(&mut f, &mut stamps, 2, &[1, 3]);
        assert_eq!(f.previous(), &[1, 3]);
        assert_eq!(stamps, [1, 2, 1, 2]);
    }

    #[test]
    fn everything_forwarded_again_skips_the_walk() {
        let (mut f, mut stamps) = (Forwarded::default(), [0u32; 3]);
        scrape(&mut f, &mut stamps, 1, &[0, 1]);
        // The same objects, and a new one: nothing went stale.
        assert!(scrape(&mut f, &mut stamps, 2, &[1, 0, 2]).is_empty());
        // One of them missing: the previous list is walked.
        assert_eq!(scrape(&mut f, &mut stamps, 3, &[0, 2]), vec![1, 0, 2]);
    }

    #[test]
    fn an_object_forwarded_before_the_previous_scrape_is_not_carried() {
        let (mut f, mut stamps) = (Forwarded::default(), [0u32; 2]);
        scrape(&mut f, &mut stamps, 1, &[0]);
        scrape(&mut f, &mut stamps, 2, &[1]);
        // 0 was forwarded at 1, not 2: it does not count for 1's absence.
        assert_eq!(scrape(&mut f, &mut stamps, 3, &[0]), vec![1]);
    }

    #[test]
    fn a_failed_scrape_takes_the_previous_list_and_a_restore_refills_it() {
        let (mut f, mut stamps) = (Forwarded::default(), [0u32; 3]);
        scrape(&mut f, &mut stamps, 1, &[0, 2]);
        assert_eq!(f.take_previous(), vec![0, 2]);
        assert!(f.previous().is_empty());
        f.restore_previous(2);
        f.restore_previous(1);
        f.retain_previous(|&r| r != 1);
        assert_eq!(f.previous(), &[2]);
    }
}
