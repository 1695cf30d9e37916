//! Series selection: a list of matchers evaluated over the postings with
//! bitmap intersections, unions and differences.
//!
//! Each matcher becomes one term. Let `B` be the series that have the label
//! with a value the matcher's pattern (value or regex, ignoring negation)
//! matches, and `N` the series that have the label at all:
//!
//! | matcher                          | selects           | term          |
//! |----------------------------------|-------------------|---------------|
//! | `=`/`=~`, does not match `""`    | `B`               | include `B`   |
//! | `=`/`=~`, matches `""`           | `B` ∪ absent      | exclude `N−B` |
//! | `!=`/`!~`, matches `""`          | all − `B`         | exclude `B`   |
//! | `!=`/`!~`, does not match `""`   | `N − B`           | include `N−B` |
//!
//! The result is the intersection of the includes (smallest first), or all
//! series when there is none (a list of only negative or empty-matching
//! matchers, as Prometheus does), minus every exclude. An empty list selects
//! every series.
//!
//! `B` comes from the pattern's shape: a literal or literal alternation is
//! a direct lookup per value, a prefix is a range of the sorted values,
//! `.*`/`.+` are `N` itself, and only a general regex tests every value of
//! the label.

use std::borrow::Cow;

use croaring::Bitmap;

use super::matcher::{Matcher, RegexShape};
use super::postings::{NamePostings, Postings};

enum Term<'a> {
    Include(Cow<'a, Bitmap>),
    Exclude(Cow<'a, Bitmap>),
}

/// The series selected by all `matchers` (a conjunction).
pub fn select(postings: &Postings, matchers: &[Matcher]) -> Bitmap {
    let mut include: Vec<Cow<'_, Bitmap>> = Vec::new();
    let mut exclude: Vec<Cow<'_, Bitmap>> = Vec::new();
    for m in matchers {
        match term(postings, m) {
            Term::Include(b) if b.is_empty() => return Bitmap::new(),
            Term::Include(b) => include.push(b),
            Term::Exclude(b) if b.is_empty() => {}
            Term::Exclude(b) => exclude.push(b),
        }
    }
    include.sort_by_key(|b| b.cardinality());
    let mut result = match include.as_slice() {
        [] => postings.all().clone(),
        [only] => only.as_ref().clone(),
        [first, second, rest @ ..] => {
            let mut r = first.and(second);
            for b in rest {
                if r.is_empty() {
                    break;
                }
                r.and_inplace(b);
            }
            r
        }
    };
    for b in &exclude {
        if result.is_empty() {
            break;
        }
        result.andnot_inplace(b);
    }
    result
}

fn term<'a>(postings: &'a Postings, m: &'a Matcher) -> Term<'a> {
    let Some(np) = postings.name(m.name()) else {
        // Nobody has the label: every series has it empty.
        return if m.matches_empty() {
            Term::Exclude(Cow::Owned(Bitmap::new()))
        } else {
            Term::Include(Cow::Owned(Bitmap::new()))
        };
    };
    let matched = pattern_postings(np, m);
    match (m.op().is_negative(), m.matches_empty()) {
        (false, false) => Term::Include(matched),
        (false, true) => Term::Exclude(complement_within(np, matched)),
        (true, true) => Term::Exclude(matched),
        (true, false) => Term::Include(complement_within(np, matched)),
    }
}

/// `N − B` for `B` ⊆ `N`, without work when `B` is `N` itself.
fn complement_within<'a>(np: &'a NamePostings, matched: Cow<'a, Bitmap>) -> Cow<'a, Bitmap> {
    match matched {
        Cow::Borrowed(b) if std::ptr::eq(b, np.all()) => Cow::Owned(Bitmap::new()),
        b if b.is_empty() => Cow::Borrowed(np.all()),
        b => Cow::Owned(np.all().andnot(&b)),
    }
}

/// `B`: the series having the label with a value the matcher's pattern
/// matches (negation ignored).
fn pattern_postings<'a>(np: &'a NamePostings, m: &'a Matcher) -> Cow<'a, Bitmap> {
    if let Some(value) = m.literal() {
        return np
            .get(value)
            .map_or_else(|| Cow::Owned(Bitmap::new()), Cow::Borrowed);
    }
    match m.regex_shape() {
        // Stored values are never empty, so `.+` holds for all of them.
        Some(RegexShape::Any | RegexShape::NonEmpty) => Cow::Borrowed(np.all()),
        Some(RegexShape::Literals(set)) => union(set.iter().filter_map(|v| np.get(v)).collect()),
        Some(RegexShape::Prefix(p)) => union(np.values_with_prefix(p).map(|(_, b)| b).collect()),
        Some(RegexShape::General) | None => union(
            np.values()
                .filter(|(v, _)| m.pattern_matches(v))
                .map(|(_, b)| b)
                .collect(),
        ),
    }
}

fn union(parts: Vec<&Bitmap>) -> Cow<'_, Bitmap> {
    match parts.as_slice() {
        [] => Cow::Owned(Bitmap::new()),
        [only] => Cow::Borrowed(*only),
        many => Cow::Owned(Bitmap::fast_or(many)),
    }
}
