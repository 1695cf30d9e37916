//! The merge arithmetic of folded series: counter members contribute their
//! increases (a drop is a reset: the new value is the increase), gauge
//! members combine by `gauge_fold`, `_created` members by the earliest.

use super::role::Role;
use super::settings::GaugeFold;

/// What a counter member adds to its folded series: the full value when it
/// has no previous sample in the fold, the difference when it grew, the new
/// value when it dropped (a reset).
pub fn member_increase(previous: Option<f64>, value: f64) -> f64 {
    match previous {
        Some(p) if value >= p => value - p,
        _ => value,
    }
}

/// The combination of one scrape's member values of a non-counter group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Accumulator {
    /// Members combined so far in this scrape.
    pub members: u32,
    /// The combined value.
    pub value: f64,
}

impl Accumulator {
    /// Adds one member value; `role` says how (gauges by `fold`,
    /// `_created` by the minimum).
    pub fn add(&mut self, role: Role, fold: GaugeFold, v: f64) {
        if self.members == 0 {
            self.value = v;
            self.members = 1;
            return;
        }
        self.members += 1;
        let fold = if role == Role::Created {
            GaugeFold::Min
        } else {
            fold
        };
        self.value = match fold {
            GaugeFold::Sum => self.value + v,
            GaugeFold::Max => self.value.max(v),
            GaugeFold::Min => self.value.min(v),
            GaugeFold::Last => v,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increases_and_resets() {
        assert_eq!(member_increase(None, 7.0), 7.0);
        assert_eq!(member_increase(Some(7.0), 10.0), 3.0);
        assert_eq!(member_increase(Some(10.0), 2.0), 2.0);
        assert_eq!(member_increase(Some(2.0), 2.0), 0.0);
    }

    #[test]
    fn gauge_folds() {
        for (fold, want) in [
            (GaugeFold::Sum, 6.0),
            (GaugeFold::Max, 4.0),
            (GaugeFold::Min, -1.0),
            (GaugeFold::Last, 3.0),
        ] {
            let mut a = Accumulator::default();
            for v in [-1.0, 4.0, 3.0] {
                a.add(Role::Gauge, fold, v);
            }
            assert_eq!(a.value, want, "{fold:?}");
            assert_eq!(a.members, 3);
        }
        let mut c = Accumulator::default();
        for v in [5.0, 2.0, 9.0] {
            c.add(Role::Created, GaugeFold::Sum, v);
        }
        assert_eq!(c.value, 2.0);
    }
}
