//! Sample values with special meaning: the StaleNaN staleness marker.

/// The bit pattern of Prometheus' staleness marker (a NaN with payload 2).
///
/// A sample whose value has exactly these bits marks a series as stale. It
/// must be compared by bits ([`is_stale_nan`]), never with `==`.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is the staleness marker (exact bit comparison).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_a_nan_but_not_the_default_nan() {
        assert!(stale_nan().is_nan());
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(0.0));
    }
}
