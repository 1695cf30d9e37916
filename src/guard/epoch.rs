//! A folded member's "last seen" as a coarse 8-bit epoch: the staleness
//! window cut into [`EPOCHS_PER_WINDOW`] periods, a member stamped with the
//! period it was last merged in (wrapping), and its age read as the
//! difference from the current period. This makes a member 8 bytes
//! smaller than a millisecond timestamp would (`docs/guard.md`, the member
//! table).
//!
//! The clock is the largest scrape timestamp the guard has seen, so a wall
//! clock stepping backwards cannot make an age negative (it would read as
//! ~255 periods and expire everything): members simply stop ageing until
//! the scrapes' time passes the largest one again.
//!
//! **When a member expires.** With period `p = ceil(window / 64)`, a
//! member last seen at `t` has epoch `e = floor(t / p)`; at `now`, with
//! `n = floor(now / p)`, it expires when `n - e >= EXPIRED_AGE` (65). Then
//! `now - t > (n - e - 1) p >= 64 p >= window`: never before its true age
//! exceeds the window; and once `now - t >= 65 p` (less than a window
//! plus one period plus 64 ms of rounding) it has expired: at most a
//! period and 64 ms late, within 2/64 of a window for any window of 4 s
//! or more, on top of the sweep's own granularity.
//!
//! **Why 8 bits do not wrap.** Ages are only read modulo 256; they are
//! right while every member is younger than 256 periods. Sweeps
//! ([`super::emit`]) run at the first scrape a tenth of a window (6.4
//! periods) after the previous sweep, and remove every member aged 65 or
//! more; a member stamped from a millisecond age (a restore, a reload)
//! is given at most [`MAX_STAMPED_AGE`]. So between sweeps no member is
//! older than 128 + 7 periods. At a sweep, either the clock moved more than
//! a window since the previous scrape (every member is then older than the
//! window and all of them go without their epochs being read: that is how
//! a gap of many windows, which would wrap, is handled), or it moved at
//! most a window (64 periods) since a scrape that was no later than a
//! tenth of a window after the previous sweep, so no member is older than
//! 128 + 7 + 65 < 256 periods.

/// Periods per staleness window.
pub const EPOCHS_PER_WINDOW: i64 = 64;

/// A member this many periods old (or older) has left the window.
pub const EXPIRED_AGE: u8 = 65;

/// The oldest age a member is stamped with from a millisecond age (older
/// ones are stamped this old): past [`EXPIRED_AGE`], so it leaves at the
/// next sweep, and far enough from 256 that it cannot wrap before then.
pub const MAX_STAMPED_AGE: u8 = 128;

/// The period of a window of `window_ms`: `ceil(window / 64)`, at least
/// 1 ms, so that 64 periods are never shorter than the window.
pub fn period_ms(window_ms: i64) -> i64 {
    (window_ms.max(1) - 1) / EPOCHS_PER_WINDOW + 1
}

/// The guard's member clock: the largest scrape timestamp seen, and the
/// period of the current staleness window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochClock {
    period_ms: i64,
    /// The largest scrape timestamp seen (`i64::MIN`: none yet).
    now_ms: i64,
    /// The full-width index of its period (kept: the scrape path stamps
    /// every member with it, a save reads every member's age from it).
    index: i64,
}

impl EpochClock {
    /// A clock for a staleness window of `window_ms`, before any scrape.
    pub fn new(window_ms: i64) -> EpochClock {
        EpochClock::at(period_ms(window_ms), i64::MIN)
    }

    /// The same clock for a window of `window_ms`.
    pub fn with_window(self, window_ms: i64) -> EpochClock {
        EpochClock::at(period_ms(window_ms), self.now_ms)
    }

    fn at(period_ms: i64, now_ms: i64) -> EpochClock {
        EpochClock {
            period_ms,
            now_ms,
            index: now_ms.div_euclid(period_ms),
        }
    }

    /// The length of one epoch.
    #[cfg(test)]
    pub fn period_ms(&self) -> i64 {
        self.period_ms
    }

    /// The largest scrape timestamp seen (`i64::MIN` before any).
    #[cfg(test)]
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Sets the clock (a restored guard continues from its saved time).
    pub fn set_now_ms(&mut self, now_ms: i64) {
        *self = EpochClock::at(self.period_ms, now_ms);
    }

    /// A scrape at `ts_ms`: returns how far the clock moved forward (0
    /// when `ts_ms` is not later than what it has seen; at the first
    /// scrape, from `i64::MIN`, saturated at `i64::MAX`).
    pub fn advance(&mut self, ts_ms: i64) -> i64 {
        if ts_ms <= self.now_ms {
            return 0;
        }
        let moved = i128::from(ts_ms) - i128::from(self.now_ms);
        self.set_now_ms(ts_ms);
        i64::try_from(moved).unwrap_or(i64::MAX)
    }

    /// The current epoch.
    pub fn now(&self) -> u8 {
        self.index as u8
    }

    /// The age of epoch `e` in periods (right while it is below 256; see
    /// the module docs).
    pub fn age(&self, e: u8) -> u8 {
        self.now().wrapping_sub(e)
    }

    /// True when a member of epoch `e` has left the window.
    pub fn expired(&self, e: u8) -> bool {
        self.age(e) >= EXPIRED_AGE
    }

    /// The age in milliseconds of a member of epoch `e`, read as seen in
    /// the last millisecond of its epoch (or now, when that is later): a
    /// member never looks older than it is. Never negative.
    pub fn age_ms(&self, e: u8) -> i64 {
        // Whole periods back from the current one's start, then back to the
        // member's period's last millisecond (saturating: only a clock at
        // the ends of i64 comes near them).
        let age = i64::from(self.age(e));
        if age == 0 {
            return 0;
        }
        let start = self.index.saturating_mul(self.period_ms);
        let last = start
            .saturating_sub((age - 1).saturating_mul(self.period_ms))
            .saturating_sub(1);
        self.now_ms.saturating_sub(last).max(0)
    }

    /// The epoch of a member last seen `age_ms` ago (a negative age is
    /// read as now), at most [`MAX_STAMPED_AGE`] periods old.
    /// `stamp(age_ms(e)) == e` for every age up to that.
    pub fn stamp(&self, age_ms: i64) -> u8 {
        let now = i128::from(self.now_ms);
        let p = i128::from(self.period_ms);
        let seen = now - i128::from(age_ms.max(0));
        let age = i128::from(self.index) - seen.div_euclid(p);
        let age = age.clamp(0, i128::from(MAX_STAMPED_AGE)) as u8;
        self.now().wrapping_sub(age)
    }

    /// Epoch `e` of this clock as the same age under `to` (the same
    /// time, another period): for a reload that changes the window.
    pub fn restamp(&self, e: u8, to: &EpochClock) -> u8 {
        to.stamp(self.age_ms(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: i64 = 300_000;

    fn at(now_ms: i64) -> EpochClock {
        let mut c = EpochClock::new(WINDOW);
        c.set_now_ms(now_ms);
        c
    }

    #[test]
    fn sixty_four_periods_cover_the_window() {
        for w in [1, 63, 64, 65, 100, 10_000, WINDOW, 300_001, 3_600_000] {
            let p = period_ms(w);
            assert!(EPOCHS_PER_WINDOW * p >= w, "window {w}: period {p}");
            assert!(
                EPOCHS_PER_WINDOW * (p - 1) < w.max(1),
                "window {w}: period {p}"
            );
        }
        assert_eq!(period_ms(0), 1);
        assert_eq!(period_ms(-5), 1);
        assert_eq!(period_ms(WINDOW), 4688);
    }

    /// Brute force over seen and now times: a member expires only once
    /// its true age exceeds the window, and at most a period (and the
    /// rounding of the period) later.
    #[test]
    fn expiry_is_never_early_and_at_most_a_period_late() {
        let p = period_ms(WINDOW);
        for seen in (1_000_000..1_000_000 + 3 * p).step_by(197) {
            let e = at(seen).now();
            for now in (seen..seen + WINDOW + 3 * p).step_by(311) {
                let c = at(now);
                let age = now - seen;
                if c.expired(e) {
                    assert!(age > WINDOW, "seen {seen}, now {now}: expired at {age} ms");
                }
                if age >= WINDOW + p + EPOCHS_PER_WINDOW {
                    assert!(c.expired(e), "seen {seen}, now {now}: kept at {age} ms");
                }
            }
        }
    }

    #[test]
    fn ages_and_milliseconds_round_trip() {
        let p = period_ms(WINDOW);
        for now in [0, 1, p - 1, p, 7 * p + 3, -5 * p - 1, 1_700_000_000_123] {
            let c = at(now);
            for age in 0..=MAX_STAMPED_AGE {
                let e = c.now().wrapping_sub(age);
                assert_eq!(c.age(e), age);
                let ms = c.age_ms(e);
                assert!(ms >= 0);
                assert_eq!(c.stamp(ms), e, "now {now}, age {age}: {ms} ms");
                // The last millisecond of its epoch: never older than it is.
                let seen = now - ms;
                assert_eq!(at(seen).now(), e);
                if age > 0 {
                    assert_ne!(at(seen + 1).now(), e);
                } else {
                    assert_eq!(ms, 0);
                }
            }
        }
    }

    #[test]
    fn stamping_clamps_the_age() {
        let c = at(1_700_000_000_000);
        assert_eq!(c.stamp(-10), c.now(), "a future time is now");
        assert_eq!(c.age(c.stamp(10 * WINDOW)), MAX_STAMPED_AGE);
        assert_eq!(c.age(c.stamp(i64::MAX)), MAX_STAMPED_AGE);
        assert!(c.expired(c.stamp(WINDOW + 2 * period_ms(WINDOW))));
        assert!(!c.expired(c.stamp(WINDOW - 1)));
    }

    /// Clocks and windows at the ends of i64 (a state file can hold any
    /// time) neither overflow nor give negative ages.
    #[test]
    fn extreme_clocks_do_not_overflow() {
        for window in [1, 64, WINDOW, i64::MAX] {
            for now in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
                let mut c = EpochClock::new(window);
                c.set_now_ms(now);
                for age in 0..=255u8 {
                    let e = c.now().wrapping_sub(age);
                    assert!(c.age_ms(e) >= 0, "window {window}, now {now}, age {age}");
                    assert!(c.age(c.stamp(c.age_ms(e))) <= MAX_STAMPED_AGE);
                }
                for age_ms in [i64::MIN, -1, 0, 1, i64::MAX] {
                    assert!(c.age(c.stamp(age_ms)) <= MAX_STAMPED_AGE);
                }
                let _ = c.restamp(c.now(), &c.with_window(1));
                let _ = c.advance(i64::MAX);
            }
        }
    }

    #[test]
    fn the_clock_never_goes_back() {
        let mut c = EpochClock::new(WINDOW);
        assert_eq!(c.advance(5_000), i64::MAX, "the first scrape");
        assert_eq!(c.advance(6_000), 1_000);
        let e = c.now();
        assert_eq!(c.advance(-3 * WINDOW), 0, "a step back");
        assert_eq!((c.now_ms(), c.age(e)), (6_000, 0));
        assert_eq!(c.advance(6_000 + 2 * WINDOW), 2 * WINDOW);
        assert!(c.expired(e));
    }

    #[test]
    fn a_new_window_keeps_ages_in_milliseconds() {
        let old = at(1_000_000_000);
        let long = old.with_window(4 * WINDOW);
        let short = old.with_window(WINDOW / 10);
        for age in 0..EXPIRED_AGE {
            let e = old.now().wrapping_sub(age);
            let ms = old.age_ms(e);
            // A longer period: the new epoch holds the old one's time.
            let l = old.restamp(e, &long);
            assert!(long.age_ms(l) <= ms && ms - long.age_ms(l) < long.period_ms());
            // A shorter one: the same, up to the clamp.
            let s = old.restamp(e, &short);
            if ms < i64::from(MAX_STAMPED_AGE) * short.period_ms() {
                assert!(short.age_ms(s) <= ms && ms - short.age_ms(s) < short.period_ms());
            } else {
                assert_eq!(short.age(s), MAX_STAMPED_AGE);
            }
        }
    }
}
