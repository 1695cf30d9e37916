//! Sample values with a special meaning.

/// The bit pattern Prometheus uses for a staleness marker: a NaN that no
/// arithmetic produces. It must travel bit-exact through every layer.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `v` is exactly the staleness marker (not just any NaN).
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
    }
}
