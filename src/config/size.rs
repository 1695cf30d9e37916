//! Byte sizes as Prometheus writes them (`body_size_limit: 10MB`): the
//! grammar of `units.Base2Bytes`, where `KB` and `KiB` both mean 1024 bytes.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// Unit suffixes, powers of 1024. Prometheus accepts either the `KiB` or the
/// `KB` spelling, but one family per value (`1MB512KB`, not `1MiB512KB`).
const IEC: [(&str, u64); 7] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("PiB", 1 << 50),
    ("EiB", 1 << 60),
];
const OLD: [(&str, u64); 7] = [
    ("B", 1),
    ("KB", 1 << 10),
    ("MB", 1 << 20),
    ("GB", 1 << 30),
    ("TB", 1 << 40),
    ("PB", 1 << 50),
    ("EB", 1 << 60),
];

/// A number of bytes, parsed from Prometheus' size format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Why a size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// A number without a unit, or an unknown unit.
    #[error(
        "unknown unit {unit:?} in {text:?} (units: B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, PB/PiB, EB/EiB)"
    )]
    UnknownUnit {
        /// The offending unit text.
        unit: String,
        /// The whole value.
        text: String,
    },
    /// Not a sequence of numbers with units.
    #[error("not a valid size: {0:?}")]
    Invalid(String),
    /// Negative sizes are rejected (Prometheus reads them as "no limit").
    #[error("size must not be negative: {0:?}")]
    Negative(String),
    /// More than `i64::MAX` bytes.
    #[error("size out of range: {0:?}")]
    Overflow(String),
}

impl ByteSize {
    /// Parses `10MB`, `1.5GiB`, `1MB512KB`, `0`.
    pub fn parse(text: &str) -> Result<ByteSize, SizeError> {
        if text == "0" {
            return Ok(ByteSize(0));
        }
        if text.starts_with('-') {
            return Err(SizeError::Negative(text.to_owned()));
        }
        let body = text.strip_prefix('+').unwrap_or(text);
        match parse_with(body, text, &IEC) {
            Err(SizeError::UnknownUnit { .. }) => parse_with(body, text, &OLD),
            other => other,
        }
    }
}

fn parse_with(body: &str, text: &str, units: &[(&str, u64)]) -> Result<ByteSize, SizeError> {
    if body.is_empty() {
        return Err(SizeError::Invalid(text.to_owned()));
    }
    let overflow = || SizeError::Overflow(text.to_owned());
    let mut rest = body;
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..num_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(SizeError::Invalid(text.to_owned()));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| SizeError::Invalid(text.to_owned()))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .bytes()
            .take_while(|b| !(b.is_ascii_digit() || *b == b'.'))
            .count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let (_, scale) = units
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(|| SizeError::UnknownUnit {
                unit: unit.to_owned(),
                text: text.to_owned(),
            })?;
        total += value * *scale as f64;
        if total > i64::MAX as f64 {
            return Err(overflow());
        }
    }
    // Truncation toward zero is what Prometheus does with fractional bytes.
    Ok(ByteSize(total as u64))
}

impl fmt::Display for ByteSize {
    /// The largest IEC unit that divides the size exactly, e.g. `10MiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, scale) = IEC
            .iter()
            .rev()
            .find(|(_, scale)| self.0 != 0 && self.0.is_multiple_of(*scale))
            .copied()
            .unwrap_or(("B", 1));
        write!(f, "{}{unit}", self.0 / scale)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ByteSize::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_unit_families() {
        let cases = [
            ("0", 0),
            ("0B", 0),
            ("1B", 1),
            ("10KB", 10 << 10),
            ("10KiB", 10 << 10),
            ("10MB", 10 << 20),
            ("1GiB", 1 << 30),
            ("1.5MB", 3 << 19),
            ("1MB512KB", (1 << 20) + (512 << 10)),
            ("1EB", 1 << 60),
        ];
        for (text, want) in cases {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(want)), "{text}");
        }
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        for text in ["10", "10kb", "10b", "1ZB", "1MiB512KB", "10 MB"] {
            assert!(
                matches!(ByteSize::parse(text), Err(SizeError::UnknownUnit { .. })),
                "{text}: {:?}",
                ByteSize::parse(text)
            );
        }
        assert_eq!(
            ByteSize::parse("100EB"),
            Err(SizeError::Overflow("100EB".into()))
        );
        assert_eq!(ByteSize::parse("MB"), Err(SizeError::Invalid("MB".into())));
        assert_eq!(ByteSize::parse(""), Err(SizeError::Invalid("".into())));
        assert_eq!(
            ByteSize::parse("-1MB"),
            Err(SizeError::Negative("-1MB".into()))
        );
    }

    #[test]
    fn displays_largest_exact_unit() {
        assert_eq!(ByteSize(0).to_string(), "0B");
        assert_eq!(ByteSize(10 << 20).to_string(), "10MiB");
        assert_eq!(ByteSize(1536).to_string(), "1536B");
        assert_eq!(ByteSize(3 << 10).to_string(), "3KiB");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,16}") {
            let _ = ByteSize::parse(&text);
        }
    }
}
