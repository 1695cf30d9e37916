//! `$1`, `${1}`, `$name`, `${name}` and `$$` in `target_label` and
//! `replacement`, parsed once at compile time and expanded exactly as Go's
//! `regexp.Expand` does: a name is the longest run of letters, digits and
//! `_` (so `$1x` refers to the group named `1x`); an all-digit name without
//! a leading zero is a group number; unknown or non-participating groups
//! expand to nothing; a malformed reference leaves the `$` as text.

use super::pattern::{Pattern, Slots};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Box<str>),
    /// Group number.
    Group(usize),
    /// Groups sharing a name, in order: the first that took part wins.
    Named(Box<[usize]>),
}

/// A parsed template, resolved against one pattern's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Box<[Piece]>,
}

impl Template {
    /// Parses `src` against `pattern`'s groups. References to groups the
    /// pattern does not have are dropped (they always expand to nothing).
    pub(crate) fn parse(src: &str, pattern: &Pattern) -> Template {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = src;
        while let Some(dollar) = rest.find('$') {
            text.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                text.push('$');
                rest = after;
                continue;
            }
            let Some((name, after)) = extract(rest) else {
                text.push('$');
                continue;
            };
            rest = after;
            let piece = match group_number(name) {
                Some(n) if n < pattern.groups() => Some(Piece::Group(n)),
                Some(_) => None,
                None => {
                    let groups = pattern.groups_named(name);
                    (!groups.is_empty()).then(|| Piece::Named(groups.into()))
                }
            };
            if let Some(piece) = piece {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text).into()));
                }
                pieces.push(piece);
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text.into()));
        }
        Template {
            pieces: pieces.into(),
        }
    }

    /// True when the template refers to no group: it expands to itself.
    pub(crate) fn literal(&self) -> Option<&str> {
        match &*self.pieces {
            [] => Some(""),
            [Piece::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Appends the expansion for a match of `hay` with `slots` to `out`.
    pub(crate) fn expand(&self, hay: &str, slots: &Slots, out: &mut String) {
        let group = |g: usize| slots.get(g).copied().flatten().map(|(s, e)| &hay[s..e]);
        for piece in &*self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Group(g) => out.push_str(group(*g).unwrap_or("")),
                Piece::Named(gs) => {
                    if let Some(v) = gs.iter().find_map(|g| group(*g)) {
                        out.push_str(v);
                    }
                }
            }
        }
    }
}

/// Go's `extract`: the name after a `$` and the rest, or `None` when
/// malformed (empty name, missing `}`).
fn extract(s: &str) -> Option<(&str, &str)> {
    let (body, brace) = match s.strip_prefix('{') {
        Some(b) => (b, true),
        None => (s, false),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if brace {
        let rest = body[end..].strip_prefix('}')?;
        return Some((name, rest));
    }
    Some((name, &body[end..]))
}

/// Go's number rule: ASCII digits only, no leading zero, below 1e8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    let mut n: usize = 0;
    for b in name.bytes() {
        if n >= 100_000_000 {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::super::pattern::LocCache;
    use super::*;

    fn expand(re: &str, tpl: &str, hay: &str) -> Option<String> {
        let p = Pattern::new(re).unwrap();
        let t = Template::parse(tpl, &p);
        let mut slots = Slots::new();
        let mut locs = LocCache::default();
        if !p.captures(hay, &mut slots, &mut locs) {
            return None;
        }
        let mut out = String::new();
        t.expand(hay, &slots, &mut out);
        Some(out)
    }

    #[test]
    fn go_expand_rules() {
        let re = "(?P<host>[a-z]+):(?P<port>[0-9]+)";
        let hay = "web:80";
        let e = |t| expand(re, t, hay).unwrap();
        assert_eq!(e("$1"), "web");
        assert_eq!(e("${1}x"), "webx");
        assert_eq!(e("$1x"), "");
        assert_eq!(e("$host-$port"), "web-80");
        assert_eq!(e("${host}_$2"), "web_80");
        assert_eq!(e("$$1"), "$1");
        assert_eq!(e("$0"), "web:80");
        assert_eq!(e("$01"), "");
        assert_eq!(e("$9"), "");
        assert_eq!(e("$nope"), "");
        assert_eq!(e("a$"), "a$");
        assert_eq!(e("${1"), "${1");
        assert_eq!(e("$-"), "$-");
        assert_eq!(e("${}"), "${}");
        assert_eq!(e("$999999999"), "");
        assert_eq!(expand("(a)|(b)", "[$1$2]", "b").unwrap(), "[b]");
        assert_eq!(expand("(?P<x>a)|(?P<x>b)", "$x", "b").unwrap(), "b");
    }

    #[test]
    fn literal_templates() {
        let p = Pattern::new("(.*)").unwrap();
        assert_eq!(Template::parse("abc", &p).literal(), Some("abc"));
        assert_eq!(Template::parse("a$$", &p).literal(), Some("a$"));
        assert_eq!(Template::parse("$5", &p).literal(), Some(""));
        assert_eq!(Template::parse("$1", &p).literal(), None);
    }
}
