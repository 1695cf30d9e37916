//! Durations as Prometheus writes them: `1y` (365 days), `1w`, `1d`, `1h30m`,
//! `500ms`, `0`: the grammar and canonical form of Prometheus'
//! `model.Duration`, which differs from humantime (`1y` = 365.25 days there).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// The units in the order they must appear, with their length in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// The largest duration Prometheus can represent (Go's `time.Duration` is
/// `int64` nanoseconds), in milliseconds.
const MAX_MILLIS: u64 = i64::MAX as u64 / 1_000_000;

/// A non-negative duration with millisecond resolution, parsed from and
/// displayed in Prometheus' format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    millis: u64,
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is empty.
    #[error("empty duration string")]
    Empty,
    /// The text does not follow `[Ny][Nw][Nd][Nh][Nm][Ns][Nms]` (or `0`).
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    /// The value does not fit Prometheus' duration range (about 292 years).
    #[error("duration out of range: {0:?}")]
    OutOfRange(String),
}

impl Duration {
    /// The zero duration.
    pub const ZERO: Duration = Duration { millis: 0 };

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Duration {
        Duration { millis }
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Duration {
        Duration {
            millis: secs * 1_000,
        }
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// True for the zero duration.
    pub const fn is_zero(self) -> bool {
        self.millis == 0
    }

    /// The same length as a [`std::time::Duration`].
    pub const fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }

    /// Parses Prometheus' duration format. Units must appear at most once
    /// each and from largest to smallest; a bare `0` is allowed.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        if text == "0" {
            return Ok(Duration::ZERO);
        }
        let invalid = || DurationError::Invalid(text.to_owned());
        let mut rest = text.as_bytes();
        let mut next_unit = 0;
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return Err(invalid());
            }
            let number = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse::<u64>().ok())
                .ok_or_else(|| DurationError::OutOfRange(text.to_owned()))?;
            rest = &rest[digits..];
            let unit_len = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let found = UNITS[next_unit..]
                .iter()
                .position(|(name, _)| name.as_bytes() == unit)
                .ok_or_else(invalid)?;
            let (_, millis) = UNITS[next_unit + found];
            next_unit += found + 1;
            total = number
                .checked_mul(millis)
                .and_then(|v| total.checked_add(v))
                .filter(|v| *v <= MAX_MILLIS)
                .ok_or_else(|| DurationError::OutOfRange(text.to_owned()))?;
        }
        Ok(Duration { millis: total })
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl fmt::Display for Duration {
    /// The canonical form Prometheus prints: years and weeks only when they
    /// divide the duration exactly (`90d`, not `12w6d`), `0s` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.millis;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (i, (unit, mult)) in UNITS.iter().enumerate() {
            let exact_only = i < 2;
            if exact_only && !ms.is_multiple_of(*mult) {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.as_std()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Result<u64, DurationError> {
        Duration::parse(text).map(Duration::as_millis)
    }

    #[test]
    fn parses_every_unit() {
        let cases = [
            ("0", 0),
            ("0s", 0),
            ("500ms", 500),
            ("15s", 15_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            (
                "1y2w3d4h5m6s7ms",
                31_536_000_000
                    + 2 * 604_800_000
                    + 3 * 86_400_000
                    + 4 * 3_600_000
                    + 5 * 60_000
                    + 6_000
                    + 7,
            ),
            ("90s", 90_000),
            ("0h0m1s", 1_000),
        ];
        for (text, want) in cases {
            assert_eq!(ms(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        for text in [
            "1.5s", "1h1h", "1s1h", "-1s", "1", "s", "1 s", "1S", "1sm", "10us", " 1s", "1s ",
        ] {
            assert_eq!(
                ms(text),
                Err(DurationError::Invalid(text.to_owned())),
                "{text}"
            );
        }
        assert_eq!(ms(""), Err(DurationError::Empty));
        assert_eq!(
            ms("300y"),
            Err(DurationError::OutOfRange("300y".to_owned()))
        );
        assert_eq!(
            ms("99999999999999999999999s"),
            Err(DurationError::OutOfRange(
                "99999999999999999999999s".to_owned()
            ))
        );
        assert!(ms("292y").is_ok());
    }

    #[test]
    fn displays_canonical_form() {
        let cases = [
            (0, "0s"),
            (500, "500ms"),
            (15_000, "15s"),
            (5_400_000, "1h30m"),
            (90 * 86_400_000, "90d"),
            (14 * 86_400_000, "2w"),
            (365 * 86_400_000, "1y"),
            (366 * 86_400_000, "366d"),
            (61_001, "1m1s1ms"),
        ];
        for (millis, want) in cases {
            assert_eq!(Duration::from_millis(millis).to_string(), want);
        }
    }

    #[test]
    fn error_messages_match_prometheus() {
        assert_eq!(
            Duration::parse("1.5s").unwrap_err().to_string(),
            r#"not a valid duration string: "1.5s""#
        );
    }

    proptest::proptest! {
        #[test]
        fn display_round_trips(millis in 0u64..=MAX_MILLIS) {
            let d = Duration::from_millis(millis);
            proptest::prop_assert_eq!(Duration::parse(&d.to_string()), Ok(d));
        }

        #[test]
        fn never_panics(text in "\\PC{0,24}") {
            let _ = Duration::parse(&text);
        }
    }
}
