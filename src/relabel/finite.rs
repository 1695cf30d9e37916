//! Literal-set analysis of a relabel regex: a pattern built only from
//! literal characters, groups and `|` (e.g.
//! `(source|destination)_principal|response_flags`) matches exactly a small
//! set of strings, and one whose top-level branches may also end in `.*`
//! (`istio_(request|response)_bytes_.*|envoy_.*`) matches a small set of
//! strings and prefixes. Matching either is a lookup, not a regex run.

/// Most strings a pattern may expand to before we stop and use the regex.
const MAX_STRINGS: usize = 1024;

/// Characters with a meaning in Go's regex syntax.
const META: &[u8] = b"\\.+*?()|[]{}^$";

/// What a literal-set pattern matches: exactly one of `exact`, or one of
/// `prefixes` followed by anything without a newline (`.*` as Prometheus
/// 2.42 anchors it). Both sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Language {
    pub exact: Vec<String>,
    pub prefixes: Vec<String>,
}

/// Most `.*` branches we test one by one.
const MAX_PREFIXES: usize = 32;

/// The language of `src` (anchored), if it is literals, groups and
/// alternations, with `.*` only at the end of top-level branches, and
/// expands to few strings.
pub(crate) fn finite_language(src: &str) -> Option<Language> {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        i: 0,
    };
    let mut lang = Language {
        exact: Vec::new(),
        prefixes: Vec::new(),
    };
    loop {
        let (strings, open) = p.seq(true)?;
        if open {
            lang.prefixes.extend(strings);
        } else {
            lang.exact.extend(strings);
        }
        if lang.exact.len() > MAX_STRINGS || lang.prefixes.len() > MAX_PREFIXES {
            return None;
        }
        match p.s.get(p.i) {
            Some(b'|') => p.i += 1,
            None => break,
            Some(_) => return None,
        }
    }
    for v in [&mut lang.exact, &mut lang.prefixes] {
        v.sort();
        v.dedup();
    }
    Some(lang)
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl Parser<'_> {
    /// Alternation inside a group: exact strings only.
    fn alt(&mut self) -> Option<Vec<String>> {
        let mut out = self.seq(false)?.0;
        while self.s.get(self.i) == Some(&b'|') {
            self.i += 1;
            out.extend(self.seq(false)?.0);
            if out.len() > MAX_STRINGS {
                return None;
            }
        }
        Some(out)
    }

    /// A sequence; with `top`, a final `.*` makes it open-ended (`true`).
    fn seq(&mut self, top: bool) -> Option<(Vec<String>, bool)> {
        let mut acc = vec![String::new()];
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Some((acc, false));
            };
            match c {
                b'|' | b')' => return Some((acc, false)),
                b'.' if top
                    && self.s.get(self.i + 1) == Some(&b'*')
                    && matches!(self.s.get(self.i + 2), None | Some(&b'|')) =>
                {
                    self.i += 2;
                    return Some((acc, true));
                }
                b'(' => {
                    self.group_open()?;
                    let inner = self.alt()?;
                    if self.s.get(self.i) != Some(&b')') {
                        return None;
                    }
                    self.i += 1;
                    if acc.len() * inner.len() > MAX_STRINGS {
                        return None;
                    }
                    acc = acc
                        .iter()
                        .flat_map(|a| inner.iter().map(move |b| format!("{a}{b}")))
                        .collect();
                }
                b'\\' => {
                    let &e = self.s.get(self.i + 1)?;
                    // Escaped punctuation is that character; anything else
                    // (\d, \b, \Q, octal …) is left to the regex.
                    if !e.is_ascii_punctuation() {
                        return None;
                    }
                    acc.iter_mut().for_each(|a| a.push(char::from(e)));
                    self.i += 2;
                }
                _ if META.contains(&c) => return None,
                _ => {
                    let ch = self.src[self.i..].chars().next()?;
                    acc.iter_mut().for_each(|a| a.push(ch));
                    self.i += ch.len_utf8();
                }
            }
        }
    }

    /// Consumes `(`, `(?:` or `(?P<name>`; other `(?…` forms (flags) are
    /// not finite-literal.
    fn group_open(&mut self) -> Option<()> {
        let rest = &self.src[self.i..];
        if let Some(after) = rest.strip_prefix("(?P<") {
            let end = after.find('>')?;
            self.i += 4 + end + 1;
        } else if rest.starts_with("(?:") {
            self.i += 3;
        } else if rest.starts_with("(?") {
            return None;
        } else {
            self.i += 1;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Option<Vec<String>> {
        finite_language(s)
            .filter(|l| l.prefixes.is_empty())
            .map(|l| l.exact)
    }

    #[test]
    fn top_level_dot_star_branches_are_prefixes() {
        let l = finite_language("istio_(request|response)_bytes_.*|envoy_.*|up").unwrap();
        assert_eq!(l.exact, vec!["up"]);
        assert_eq!(
            l.prefixes,
            vec!["envoy_", "istio_request_bytes_", "istio_response_bytes_"]
        );
        assert_eq!(finite_language("(a.*)"), None);
        assert_eq!(finite_language("a.*b"), None);
        assert_eq!(finite_language("a.+"), None);
    }

    #[test]
    fn expands_groups_and_alternations() {
        assert_eq!(
            f("(source|destination)_principal|flags").unwrap(),
            vec!["destination_principal", "flags", "source_principal"]
        );
        assert_eq!(f("a(?:b|c)(d|)").unwrap(), vec!["ab", "abd", "ac", "acd"]);
        assert_eq!(f(r"a\.b").unwrap(), vec!["a.b"]);
        assert_eq!(f("").unwrap(), vec![""]);
        assert_eq!(f("é|ü").unwrap(), vec!["é", "ü"]);
        assert_eq!(f("(?P<x>a|b)c").unwrap(), vec!["ac", "bc"]);
    }

    #[test]
    fn refuses_everything_else() {
        for s in [
            "a.b", "a*", "(?i)a", r"\d", "[ab]", "a)", "(a", "a{2}", "^a", r"\Qa\E",
        ] {
            assert_eq!(f(s), None, "{s}");
        }
        let big = "(a|b|c|d|e|f|g|h)".repeat(4);
        assert_eq!(f(&big), None);
    }
}
