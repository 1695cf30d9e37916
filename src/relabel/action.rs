//! The relabel actions and their names. Names are matched after Go's
//! `strings.ToLower`, as Prometheus does (`Keep` is `keep`).

use std::fmt;

/// What a relabel rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Write the expanded `replacement` to the expanded `target_label`
    /// when `regex` matches the joined source values.
    Replace,
    /// Drop the label set unless `regex` matches.
    Keep,
    /// Drop the label set when `regex` matches.
    Drop,
    /// Drop the label set unless the joined source values equal the
    /// value of `target_label`.
    KeepEqual,
    /// Drop the label set when the joined source values equal the value
    /// of `target_label`.
    DropEqual,
    /// Set `target_label` to md5(joined values) mod `modulus`.
    HashMod,
    /// Copy every label whose name matches `regex` to the name given by
    /// the expanded `replacement`.
    LabelMap,
    /// Remove every label whose name matches `regex`.
    LabelDrop,
    /// Remove every label whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the lowercased joined values.
    Lowercase,
    /// Set `target_label` to the uppercased joined values.
    Uppercase,
}

impl Action {
    /// Every action, in documentation order.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The canonical (lowercase) name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name case-insensitively (Go's `strings.ToLower`,
    /// so even the Kelvin sign `K` lowercases to `k`).
    pub fn parse(s: &str) -> Option<Action> {
        let mut lower = String::with_capacity(s.len());
        super::case::push_lower(s, &mut lower);
        Action::ALL.into_iter().find(|a| a.name() == lower)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.name()), Some(a));
            assert_eq!(Action::parse(&a.name().to_uppercase()), Some(a));
        }
        assert_eq!(Action::parse("LabelMap"), Some(Action::LabelMap));
        assert_eq!(Action::parse("\u{212A}eep"), Some(Action::Keep));
        assert_eq!(Action::parse(""), None);
        assert_eq!(Action::parse("replace "), None);
    }
}
