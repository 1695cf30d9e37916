//! A compiled relabel regex: anchored like Prometheus 2.42
//! (`^(?:…)$`, so `.` does not match a newline), with fast paths for the
//! shapes relabel configs use most (`(.*)`, literals, `a|b|c`,
//! `prefix_(.+)`) that answer without running the regex engine.

use std::sync::atomic::{AtomicU64, Ordering};

use regex::{CaptureLocations, Regex, RegexBuilder};

use super::finite::finite_language;
use super::syntax;

/// Characters that make a pattern more than a literal in Go's syntax.
const META: &[u8] = b"\\.+*?()|[]{}^$";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Shapes recognised at compile time; all others run the regex.
#[derive(Debug, Clone)]
enum Fast {
    None,
    /// `.*` or `.+`, optionally wrapped in one capture group.
    Dot {
        nonempty: bool,
        group: bool,
    },
    /// `a|b|c` (or one literal), optionally wrapped in one capture group.
    /// Sorted for binary search.
    Literals {
        items: Box<[Box<str>]>,
        group: bool,
    },
    /// Any other pattern of literals, groups and `|` (see `finite.rs`):
    /// matching is a lookup in its sorted strings; captures use the regex.
    Finite {
        exact: Box<[Box<str>]>,
        prefixes: Box<[Box<str>]>,
    },
    /// `lit.*`, `lit.+`, `lit(.*)`, `lit(.+)`; `group` = rest is group 1.
    Prefix {
        prefix: Box<str>,
        nonempty: bool,
        group: bool,
    },
}

/// A compiled, anchored relabel regex.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    regex: Regex,
    fast: Fast,
    /// Names of groups 1.. as written (Go allows duplicates).
    names: Box<[Option<String>]>,
    /// Identifies this compiled regex in per-thread capture scratch.
    id: u64,
}

/// Match positions of groups 0.. of the last successful match.
pub(crate) type Slots = Vec<Option<(usize, usize)>>;

impl Pattern {
    /// Compiles `source` (Go RE2 syntax); the error is a one-line message.
    pub(crate) fn new(source: &str) -> Result<Pattern, String> {
        let tr = syntax::translate(source)?;
        let anchored = format!("^(?:{})$", tr.pattern);
        let regex = RegexBuilder::new(&anchored)
            .octal(true)
            .build()
            .map_err(|e| one_line(&e))?;
        let mut fast = classify(source);
        if fast_groups(&fast) != Some(regex.captures_len()) {
            fast = match finite_language(source) {
                Some(lang) => Fast::Finite {
                    exact: lang.exact.into_iter().map(Box::from).collect(),
                    prefixes: lang.prefixes.into_iter().map(Box::from).collect(),
                },
                None => Fast::None,
            };
        }
        let mut names: Vec<Option<String>> = tr.names;
        if names.len() + 1 != regex.captures_len() {
            // The translation miscounted (should not happen): trust the engine.
            names = regex
                .capture_names()
                .skip(1)
                .map(|n| n.map(str::to_string))
                .collect();
        }
        Ok(Pattern {
            regex,
            fast,
            names: names.into(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Number of groups including group 0.
    pub(crate) fn groups(&self) -> usize {
        self.names.len() + 1
    }

    /// Indexes of the groups called `name`, in order.
    pub(crate) fn groups_named(&self, name: &str) -> Vec<usize> {
        self.names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.as_deref() == Some(name))
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// Whether the whole of `hay` matches.
    pub(crate) fn is_match(&self, hay: &str) -> bool {
        match &self.fast {
            Fast::None => self.regex.is_match(hay),
            Fast::Dot { nonempty, .. } => dot_match(hay, *nonempty),
            Fast::Finite { exact, prefixes } => {
                exact.binary_search_by(|s| (**s).cmp(hay)).is_ok()
                    || prefixes.iter().any(|p| {
                        hay.strip_prefix(&**p)
                            .is_some_and(|rest| dot_match(rest, false))
                    })
            }
            Fast::Literals { items, .. } => items.binary_search_by(|s| (**s).cmp(hay)).is_ok(),
            Fast::Prefix {
                prefix, nonempty, ..
            } => hay
                .strip_prefix(&**prefix)
                .is_some_and(|rest| dot_match(rest, *nonempty)),
        }
    }

    /// Matches `hay` and records group positions in `slots` (resized to
    /// [`Pattern::groups`]). `locs` caches the engine's capture buffers.
    pub(crate) fn captures(&self, hay: &str, slots: &mut Slots, locs: &mut LocCache) -> bool {
        slots.clear();
        if !self.captures_fast() {
            let l = locs.get(self);
            if self.regex.captures_read(l, hay).is_none() {
                return false;
            }
            slots.extend((0..self.groups()).map(|g| l.get(g)));
            return true;
        }
        if !self.is_match(hay) {
            return false;
        }
        slots.push(Some((0, hay.len())));
        match &self.fast {
            Fast::Dot { group: true, .. } | Fast::Literals { group: true, .. } => {
                slots.push(Some((0, hay.len())));
            }
            Fast::Prefix {
                prefix,
                group: true,
                ..
            } => slots.push(Some((prefix.len(), hay.len()))),
            _ => {}
        }
        true
    }

    /// Whether [`Pattern::captures`] can answer without the engine.
    fn captures_fast(&self) -> bool {
        !matches!(self.fast, Fast::None | Fast::Finite { .. })
    }
}

/// `.` matches anything but `\n` (Prometheus 2.42 anchors without `(?s)`).
fn dot_match(s: &str, nonempty: bool) -> bool {
    (!nonempty || !s.is_empty()) && !s.as_bytes().contains(&b'\n')
}

/// Per-thread capture buffers keyed by pattern id, so the general path
/// allocates once per pattern and thread, not once per match.
#[derive(Debug, Default)]
pub(crate) struct LocCache {
    map: rustc_hash::FxHashMap<u64, CaptureLocations>,
}

impl LocCache {
    /// Bound on cached patterns; config reloads create new ids.
    const MAX: usize = 4096;

    fn get(&mut self, p: &Pattern) -> &mut CaptureLocations {
        if self.map.len() >= Self::MAX && !self.map.contains_key(&p.id) {
            self.map.clear();
        }
        self.map
            .entry(p.id)
            .or_insert_with(|| p.regex.capture_locations())
    }
}

/// Groups (with group 0) a capturing fast path reports, if it is one.
fn fast_groups(f: &Fast) -> Option<usize> {
    match f {
        Fast::None | Fast::Finite { .. } => None,
        Fast::Dot { group, .. } | Fast::Literals { group, .. } | Fast::Prefix { group, .. } => {
            Some(1 + usize::from(*group))
        }
    }
}

fn is_literal(s: &str) -> bool {
    !s.bytes().any(|b| META.contains(&b))
}

/// Recognises the fast shapes in the pattern as written.
fn classify(src: &str) -> Fast {
    let (inner, group) = match src.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        Some(inner) if !inner.contains(['(', ')']) => (inner, true),
        _ => (src, false),
    };
    match inner {
        ".*" => {
            return Fast::Dot {
                nonempty: false,
                group,
            };
        }
        ".+" => {
            return Fast::Dot {
                nonempty: true,
                group,
            };
        }
        _ => {}
    }
    let parts: Vec<&str> = inner.split('|').collect();
    if parts.iter().all(|p| is_literal(p)) {
        let mut items: Vec<Box<str>> = parts.into_iter().map(Box::from).collect();
        items.sort();
        items.dedup();
        return Fast::Literals {
            items: items.into(),
            group,
        };
    }
    if group {
        return Fast::None;
    }
    for (suffix, nonempty, group) in [
        (".*", false, false),
        (".+", true, false),
        ("(.*)", false, true),
        ("(.+)", true, true),
    ] {
        if let Some(prefix) = src.strip_suffix(suffix)
            && is_literal(prefix)
        {
            return Fast::Prefix {
                prefix: prefix.into(),
                nonempty,
                group,
            };
        }
    }
    Fast::None
}

/// The `regex` crate's multi-line syntax error, reduced to its last line.
fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map_or_else(|| text.replace('\n', " "), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast_kind(p: &str) -> String {
        let pat = Pattern::new(p).unwrap();
        format!("{:?}", pat.fast)
    }

    #[test]
    fn classifies_common_shapes() {
        assert!(fast_kind("(.*)").starts_with("Dot { nonempty: false, group: true"));
        assert!(fast_kind(".+").starts_with("Dot { nonempty: true, group: false"));
        assert!(fast_kind("a|b|c").starts_with("Literals"));
        assert!(fast_kind("(a|b)").contains("group: true"));
        assert!(fast_kind("up").starts_with("Literals"));
        assert!(fast_kind("__meta_x_(.+)").starts_with("Prefix"));
        assert!(fast_kind("foo.*").starts_with("Prefix"));
        assert!(fast_kind("(a)|(b)").starts_with("Finite"));
        assert!(fast_kind("(source|destination)_principal|x").starts_with("Finite"));
        assert_eq!(fast_kind("a.b"), "None");
        assert_eq!(fast_kind("(?i)up"), "None");
    }

    /// Every fast path must agree with the regex engine.
    #[test]
    fn fast_paths_agree_with_engine() {
        let pats = [
            "(.*)", ".*", ".+", "(.+)", "a|b|", "(x|yy)", "up", "", "p_(.+)", "p_(.*)", "p.*",
            "p.+",
        ];
        let hays = [
            "", "a", "b", "x", "yy", "up", "p_", "p_q", "p", "pq", "a\nb", "p_\n",
        ];
        let mut locs = LocCache::default();
        for p in pats {
            let pat = Pattern::new(p).unwrap();
            assert!(pat.captures_fast(), "{p}");
            let mut slow = pat.clone();
            slow.fast = Fast::None;
            for h in hays {
                assert_eq!(pat.is_match(h), slow.is_match(h), "{p:?} on {h:?}");
                let (mut a, mut b) = (Slots::new(), Slots::new());
                let ma = pat.captures(h, &mut a, &mut locs);
                let mb = slow.captures(h, &mut b, &mut locs);
                assert_eq!(ma, mb, "{p:?} on {h:?}");
                if ma {
                    assert_eq!(a, b, "{p:?} on {h:?}");
                }
            }
        }
    }

    #[test]
    fn anchored_and_ascii() {
        let p = Pattern::new("b").unwrap();
        assert!(!p.is_match("abc"));
        let p = Pattern::new(r"\d+").unwrap();
        assert!(p.is_match("123"));
        assert!(!p.is_match("١٢٣"));
        let p = Pattern::new(r"a\bb|x\b").unwrap();
        assert!(p.is_match("x"));
        let p = Pattern::new("a)|(b").unwrap();
        assert!(p.is_match("a") && p.is_match("b"));
    }

    #[test]
    fn errors_are_one_line() {
        let e = Pattern::new("[[:alpha:]").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("unclosed"), "{e}");
    }

    proptest::proptest! {
        /// Fast paths and the engine agree on random strings.
        #[test]
        fn fast_paths_agree_on_random_input(
            idx in 0usize..10,
            hay in "(p_|x|yy|a|\\n|é){0,4}",
        ) {
            let pats = [
                "(.*)", ".+", "x|yy", "(x|yy|)", "p_(.+)", "p_.*", "a", "(.+)", "(p_|x)(a|é)|yy",
                "(p|x)_.*|a|é.*",
            ];
            let pat = Pattern::new(pats[idx]).unwrap();
            let mut slow = pat.clone();
            slow.fast = Fast::None;
            let mut locs = LocCache::default();
            let (mut a, mut b) = (Slots::new(), Slots::new());
            let fast_hit = pat.captures(&hay, &mut a, &mut locs);
            proptest::prop_assert_eq!(fast_hit, slow.captures(&hay, &mut b, &mut locs));
            proptest::prop_assert_eq!(fast_hit, slow.is_match(&hay));
            if fast_hit {
                proptest::prop_assert_eq!(a, b);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Random patterns (meta characters, escapes, multi-byte text)
        /// never panic the translation or matching, and whatever fast path
        /// is chosen agrees with the regex engine.
        #[test]
        fn random_patterns_never_panic_and_fast_paths_agree(
            pat in r"(\\[a-zA-Z0-9.<QE]|[ab.*+?()|{}\[\]^$:,0-9é]|\(\?[PimsUx:<]|\.\*|_){0,12}",
            hay in "[ab.:é_\n]{0,6}",
        ) {
            let Ok(p) = Pattern::new(&pat) else { return Ok(()) };
            let mut slow = p.clone();
            slow.fast = Fast::None;
            let mut locs = LocCache::default();
            let (mut a, mut b) = (Slots::new(), Slots::new());
            let hit = p.captures(&hay, &mut a, &mut locs);
            proptest::prop_assert_eq!(hit, slow.captures(&hay, &mut b, &mut locs), "{:?}", p.fast);
            proptest::prop_assert_eq!(p.is_match(&hay), slow.is_match(&hay), "{:?}", p.fast);
            if hit {
                proptest::prop_assert_eq!(a, b);
            }
        }
    }
}
