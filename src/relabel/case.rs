//! Case mapping for the `lowercase` and `uppercase` actions, rune by rune
//! like Go's `strings.ToLower` / `strings.ToUpper`: the *simple* Unicode
//! case mapping, so one character always maps to one character (`ß` stays
//! `ß`, `İ` becomes `i`), unlike Rust's full mapping (`ß` → `SS`).

/// Appends the Go-style lowercase form of `s` to `out`.
pub(crate) fn push_lower(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        return;
    }
    for c in s.chars() {
        let mut it = c.to_lowercase();
        match (it.next(), it.next()) {
            (Some(l), None) => out.push(l),
            // Only U+0130 (İ) has a multi-character full lowercase mapping;
            // its simple mapping is U+0069 (i).
            (Some(_), Some(_)) if c == '\u{130}' => out.push('i'),
            _ => out.push(c),
        }
    }
}

/// Appends the Go-style uppercase form of `s` to `out`.
pub(crate) fn push_upper(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_uppercase())));
        return;
    }
    for c in s.chars() {
        let mut it = c.to_uppercase();
        match (it.next(), it.next()) {
            (Some(u), None) => out.push(u),
            _ => out.push(simple_upper_of_special(c)),
        }
    }
}

/// The simple uppercase mapping of a character whose full mapping has
/// several characters (`ß`, ligatures, Greek with ypogegrammeni …). Most
/// have none (they map to themselves); the Greek small letters with
/// ypogegrammeni map to their prosgegrammeni capitals.
fn simple_upper_of_special(c: char) -> char {
    let cp = u32::from(c);
    let mapped = match cp {
        0x1F80..=0x1FAF if (cp - 0x1F80) % 16 < 8 => cp + 8,
        0x1FB3 => 0x1FBC,
        0x1FC3 => 0x1FCC,
        0x1FF3 => 0x1FFC,
        _ => cp,
    };
    char::from_u32(mapped).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(s: &str) -> String {
        let mut o = String::new();
        push_lower(s, &mut o);
        o
    }
    fn upper(s: &str) -> String {
        let mut o = String::new();
        push_upper(s, &mut o);
        o
    }

    #[test]
    fn ascii() {
        assert_eq!(lower("AbC_1-"), "abc_1-");
        assert_eq!(upper("AbC_1-"), "ABC_1-");
    }

    #[test]
    fn one_rune_to_one_rune_like_go() {
        assert_eq!(upper("straße"), "STRAßE");
        assert_eq!(upper("ﬁ"), "ﬁ");
        assert_eq!(upper("\u{1F80}"), "\u{1F88}");
        assert_eq!(upper("\u{1FB3}"), "\u{1FBC}");
        assert_eq!(upper("\u{1F88}"), "\u{1F88}");
        assert_eq!(lower("İSTANBUL"), "istanbul");
        assert_eq!(upper("ǅ"), "Ǆ");
        assert_eq!(lower("ΣΑΣ"), "σασ");
        assert_eq!(upper("élan"), "ÉLAN");
    }
}
