//! Series selection: a list of matchers evaluated with bitmap
//! intersections, unions and differences over any [`PostingsSource`] (the
//! head's [`Postings`](super::postings::Postings) or a persisted block's
//! [`IndexReader`](super::block::IndexReader)), so head and blocks answer
//! matchers identically.
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

use std::ops::Deref;

use croaring::{Bitmap, BitmapView};

use super::matcher::{Matcher, RegexShape};

/// A postings list as a source hands it out: borrowed from the head, viewed
/// in place in a block, or computed.
pub enum PostingsList<'a> {
    /// A bitmap owned by the source.
    Borrowed(&'a Bitmap),
    /// A bitmap viewed in place in a block's bytes.
    View(BitmapView<'a>),
    /// A bitmap computed for the caller.
    Owned(Bitmap),
}

impl Deref for PostingsList<'_> {
    type Target = Bitmap;

    fn deref(&self) -> &Bitmap {
        match self {
            PostingsList::Borrowed(b) => b,
            PostingsList::View(v) => v,
            PostingsList::Owned(b) => b,
        }
    }
}

impl PostingsList<'_> {
    /// The list as an owned bitmap (copies unless already owned).
    pub fn into_bitmap(self) -> Bitmap {
        match self {
            PostingsList::Owned(b) => b,
            other => (*other).clone(),
        }
    }
}

/// What matcher evaluation needs from an index.
pub trait PostingsSource {
    /// Every series.
    fn all_series(&self) -> PostingsList<'_>;

    /// The series that have label `name` (`None` when none has it).
    fn name_postings(&self, name: &str) -> Option<PostingsList<'_>>;

    /// The series with `name=value`.
    fn value_postings(&self, name: &str, value: &str) -> Option<PostingsList<'_>>;

    /// The postings of every value of `name` starting with `prefix`.
    fn prefix_postings(&self, name: &str, prefix: &str) -> Vec<PostingsList<'_>>;

    /// The postings of every value of `name` for which `keep` is true.
    fn filtered_postings(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Vec<PostingsList<'_>>;
}

enum Term<'a> {
    Include(PostingsList<'a>),
    Exclude(PostingsList<'a>),
}

/// `B` of a matcher: either all of `N` or some lists.
enum Matched<'a> {
    WholeName,
    Lists(PostingsList<'a>),
}

/// The series selected by all `matchers` (a conjunction).
pub fn select<S: PostingsSource + ?Sized>(source: &S, matchers: &[Matcher]) -> Bitmap {
    let mut include: Vec<PostingsList<'_>> = Vec::new();
    let mut exclude: Vec<PostingsList<'_>> = Vec::new();
    for m in matchers {
        match term(source, m) {
            Term::Include(b) if b.is_empty() => return Bitmap::new(),
            Term::Include(b) => include.push(b),
            Term::Exclude(b) if b.is_empty() => {}
            Term::Exclude(b) => exclude.push(b),
        }
    }
    include.sort_by_key(|b| b.cardinality());
    let mut lists = include.into_iter();
    let mut result = match (lists.next(), lists.next()) {
        (None, _) => source.all_series().into_bitmap(),
        (Some(only), None) => only.into_bitmap(),
        (Some(first), Some(second)) => {
            let mut r = first.and(&second);
            for b in lists {
                if r.is_empty() {
                    break;
                }
                r.and_inplace(&b);
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

fn term<'a, S: PostingsSource + ?Sized>(source: &'a S, m: &Matcher) -> Term<'a> {
    let Some(name_all) = source.name_postings(m.name()) else {
        // Nobody has the label: every series has it empty.
        return if m.matches_empty() {
            Term::Exclude(PostingsList::Owned(Bitmap::new()))
        } else {
            Term::Include(PostingsList::Owned(Bitmap::new()))
        };
    };
    let matched = pattern_postings(source, m);
    let resolve = |matched, name_all| match matched {
        Matched::WholeName => name_all,
        Matched::Lists(b) => b,
    };
    let complement = |matched, name_all: PostingsList<'a>| match matched {
        Matched::WholeName => PostingsList::Owned(Bitmap::new()),
        Matched::Lists(b) if b.is_empty() => name_all,
        Matched::Lists(b) => PostingsList::Owned(name_all.andnot(&b)),
    };
    match (m.op().is_negative(), m.matches_empty()) {
        (false, false) => Term::Include(resolve(matched, name_all)),
        (false, true) => Term::Exclude(complement(matched, name_all)),
        (true, true) => Term::Exclude(resolve(matched, name_all)),
        (true, false) => Term::Include(complement(matched, name_all)),
    }
}

/// `B`: the series having the label with a value the matcher's pattern
/// matches (negation ignored).
fn pattern_postings<'a, S: PostingsSource + ?Sized>(source: &'a S, m: &Matcher) -> Matched<'a> {
    let name = m.name();
    if let Some(value) = m.literal() {
        return Matched::Lists(
            source
                .value_postings(name, value)
                .unwrap_or(PostingsList::Owned(Bitmap::new())),
        );
    }
    let lists = match m.regex_shape() {
        // Stored values are never empty, so `.+` holds for all of them.
        Some(RegexShape::Any | RegexShape::NonEmpty) => return Matched::WholeName,
        Some(RegexShape::Literals(set)) => set
            .iter()
            .filter_map(|v| source.value_postings(name, v))
            .collect(),
        Some(RegexShape::Prefix(p)) => source.prefix_postings(name, p),
        Some(RegexShape::General) | None => {
            source.filtered_postings(name, &mut |v| m.pattern_matches(v))
        }
    };
    Matched::Lists(union(lists))
}

fn union(mut lists: Vec<PostingsList<'_>>) -> PostingsList<'_> {
    match lists.len() {
        0 => PostingsList::Owned(Bitmap::new()),
        1 => lists.pop().unwrap_or(PostingsList::Owned(Bitmap::new())),
        _ => {
            let refs: Vec<&Bitmap> = lists.iter().map(|b| &**b).collect();
            PostingsList::Owned(Bitmap::fast_or(&refs))
        }
    }
}
