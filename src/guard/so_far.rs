//! What the scrape in progress has seen so far ([`ScrapeSoFar`]): whether
//! one is open, the samples of folded members merged by key and the
//! duplicates among them, the series slot of each sample
//! [`super::TargetGuard::finish`] admitted, and the series it created.
//!
//! Invariant: between [`ScrapeSoFar::begin`] and [`ScrapeSoFar::close`]
//! the scrape is open; the counts are those of the current scrape's
//! member samples ([`ScrapeSoFar::merged`], [`ScrapeSoFar::duplicate`]);
//! id `i` is the slot of the finished batch's sample `i` (`NONE`: not
//! forwarded as a series), pushed in batch order; the created slots are
//! those of series created by this scrape, in creation order. `begin`
//! resets all of it (keeping the vectors' room, which
//! [`ScrapeSoFar::shrink`] gives back).

use super::table::{NONE, shrink_vec};

/// One guard's scrape in progress. See the module docs.
#[derive(Debug, Default)]
pub(super) struct ScrapeSoFar {
    open: bool,
    merged_samples: u64,
    merged_duplicates: u64,
    ids: Vec<u32>,
    created: Vec<u32>,
}

impl ScrapeSoFar {
    /// A scrape begins: nothing seen yet.
    pub fn begin(&mut self) {
        self.open = true;
        self.merged_samples = 0;
        self.merged_duplicates = 0;
        self.ids.clear();
        self.created.clear();
    }

    /// True between [`ScrapeSoFar::begin`] and [`ScrapeSoFar::close`].
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The scrape is finished or aborted (what it saw stays readable).
    pub fn close(&mut self) {
        self.open = false;
    }

    /// A member's sample was merged.
    #[inline]
    pub fn merged(&mut self) {
        self.merged_samples += 1;
    }

    /// A member's second sample was ignored.
    #[inline]
    pub fn duplicate(&mut self) {
        self.merged_duplicates += 1;
    }

    /// Member samples merged.
    pub fn merged_samples(&self) -> u64 {
        self.merged_samples
    }

    /// Member samples ignored as duplicates.
    pub fn duplicates(&self) -> u64 {
        self.merged_duplicates
    }

    /// The next sample's series slot.
    pub fn push_id(&mut self, id: u32) {
        self.ids.push(id);
    }

    /// Sample `i`'s series slot (`NONE` when none or not yet admitted).
    #[inline]
    pub fn id(&self, i: usize) -> u32 {
        self.ids.get(i).copied().unwrap_or(NONE)
    }

    /// Every admitted sample's series slot, in batch order.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// A series was created.
    pub fn push_created(&mut self, id: u32) {
        self.created.push(id);
    }

    /// The series created, in creation order.
    pub fn created(&self) -> &[u32] {
        &self.created
    }

    /// Gives back the vectors' room.
    pub fn shrink(&mut self) {
        shrink_vec(&mut self.ids);
        shrink_vec(&mut self.created);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_starts_from_nothing_and_stays_readable_once_closed() {
        let mut s = ScrapeSoFar::default();
        assert!(!s.is_open());
        s.begin();
        assert!(s.is_open());
        s.merged();
        s.merged();
        s.duplicate();
        s.push_id(4);
        s.push_id(NONE);
        s.push_created(4);
        s.close();
        assert!(!s.is_open());
        assert_eq!((s.merged_samples(), s.duplicates()), (2, 1));
        assert_eq!(
            (s.ids(), s.id(0), s.id(1), s.id(2)),
            (&[4, NONE][..], 4, NONE, NONE)
        );
        assert_eq!(s.created(), [4]);
        s.shrink();
        assert_eq!(s.ids(), [4, NONE]);
        s.begin();
        assert_eq!((s.merged_samples(), s.duplicates()), (0, 0));
        assert!(s.ids().is_empty() && s.created().is_empty());
    }
}
