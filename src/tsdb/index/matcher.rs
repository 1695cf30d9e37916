//! Label matchers with Prometheus semantics: `=`, `!=`, `=~`, `!~`.
//!
//! - A series lacking a label has the empty value for it, so a matcher that
//!   matches `""` also selects series without the label (`foo=""`,
//!   `foo!~".+"`, `foo=~"|bar"`).
//! - Regexes are fully anchored and `.` matches newlines, as Prometheus
//!   compiles them: `^(?s:REGEX)$`.
//! - Each regex is analysed once into a [`RegexShape`]; the common shapes
//!   (`.*`, `.+`, literal alternations, a literal prefix followed by `.*`)
//!   are matched without running the regex, and postings selection uses the
//!   shape to look values up directly instead of testing each one.

use std::fmt;

use regex::Regex;

/// The comparison a matcher makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `name="value"`
    Equal,
    /// `name!="value"`
    NotEqual,
    /// `name=~"regex"`
    RegexMatch,
    /// `name!~"regex"`
    RegexNoMatch,
}

impl MatchOp {
    /// The operator as PromQL writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }

    /// True for `!=` and `!~`.
    pub fn is_negative(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::RegexNoMatch)
    }
}

/// Errors building a matcher.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    /// The regex does not compile.
    #[error("label matcher {name}{op}\"{regex}\": invalid regex: {reason}")]
    BadRegex {
        /// Label name of the matcher.
        name: String,
        /// The operator (`=~` or `!~`).
        op: &'static str,
        /// The regex as given.
        regex: String,
        /// What the regex compiler said.
        #[source]
        reason: regex::Error,
    },
}

/// How a regex can be evaluated without running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegexShape {
    /// `.*`: every value, including the empty one.
    Any,
    /// `.+`: every non-empty value.
    NonEmpty,
    /// `a|b|c` (also `""` and `|a`): exactly these strings, sorted and
    /// deduplicated.
    Literals(Vec<String>),
    /// `abc.*`: values starting with the prefix.
    Prefix(String),
    /// Anything else: the regex is run on each value.
    General,
}

/// What a matcher compares against.
#[derive(Clone, Debug)]
enum Pattern {
    Literal,
    Regex { regex: Regex, shape: RegexShape },
}

/// One label matcher, compiled.
#[derive(Clone, Debug)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    pattern: Pattern,
}

impl Matcher {
    /// Builds a matcher; regexes are compiled and analysed here.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let pattern = match op {
            MatchOp::Equal | MatchOp::NotEqual => Pattern::Literal,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                let regex =
                    Regex::new(&format!("^(?s:{value})$")).map_err(|e| MatcherError::BadRegex {
                        name: name.clone(),
                        op: op.as_str(),
                        regex: value.clone(),
                        reason: e,
                    })?;
                Pattern::Regex {
                    regex,
                    shape: analyse(&value),
                }
            }
        };
        Ok(Matcher {
            name,
            op,
            value,
            pattern,
        })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            pattern: Pattern::Literal,
        }
    }

    /// `name!="value"`.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::NotEqual,
            value: value.into(),
            pattern: Pattern::Literal,
        }
    }

    /// `name=~"regex"`.
    pub fn regex(name: impl Into<String>, regex: impl Into<String>) -> Result<Self, MatcherError> {
        Self::new(MatchOp::RegexMatch, name, regex)
    }

    /// `name!~"regex"`.
    pub fn not_regex(
        name: impl Into<String>,
        regex: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        Self::new(MatchOp::RegexNoMatch, name, regex)
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The analysed shape of a regex matcher (`None` for `=` and `!=`).
    pub fn regex_shape(&self) -> Option<&RegexShape> {
        match &self.pattern {
            Pattern::Literal => None,
            Pattern::Regex { shape, .. } => Some(shape),
        }
    }

    /// Whether a label value satisfies the matcher; an absent label is `""`.
    pub fn matches(&self, value: &str) -> bool {
        self.pattern_matches(value) != self.op.is_negative()
    }

    /// True when the matcher selects series that lack the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// Whether `value` matches the value or regex, ignoring negation.
    pub(crate) fn pattern_matches(&self, value: &str) -> bool {
        match &self.pattern {
            Pattern::Literal => value == self.value,
            Pattern::Regex { regex, shape } => match shape {
                RegexShape::Any => true,
                RegexShape::NonEmpty => !value.is_empty(),
                RegexShape::Literals(set) => {
                    set.binary_search_by(|s| s.as_str().cmp(value)).is_ok()
                }
                RegexShape::Prefix(p) => value.starts_with(p.as_str()),
                RegexShape::General => regex.is_match(value),
            },
        }
    }

    /// Runs the compiled regex itself, never a fast path (for tests that
    /// check the fast paths).
    #[cfg(test)]
    pub(crate) fn slow_pattern_matches(&self, value: &str) -> bool {
        match &self.pattern {
            Pattern::Literal => value == self.value,
            Pattern::Regex { regex, .. } => regex.is_match(value),
        }
    }

    /// The value of an `=` or `!=` matcher.
    pub(crate) fn literal(&self) -> Option<&str> {
        match &self.pattern {
            Pattern::Literal => Some(&self.value),
            Pattern::Regex { .. } => None,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// One lexical piece of a regex, as far as the analysis cares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Token {
    Lit(char),
    Dot,
    Star,
    Plus,
    Pipe,
    /// `(` or `(?:`
    Open,
    Close,
    /// Anything the analysis does not model (classes, anchors, flags,
    /// other quantifiers, escapes like `\d`).
    Other,
}

fn tokens(re: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        let t = match c {
            '\\' => match chars.next() {
                // `\<` and `\>` are word boundaries; other escaped
                // punctuation is the character itself.
                Some(e) if e.is_ascii_punctuation() && e != '<' && e != '>' => Token::Lit(e),
                _ => Token::Other,
            },
            '.' => Token::Dot,
            '*' => Token::Star,
            '+' => Token::Plus,
            '|' => Token::Pipe,
            '(' => {
                if chars.peek() == Some(&'?') {
                    chars.next();
                    if chars.next() == Some(':') {
                        Token::Open
                    } else {
                        Token::Other
                    }
                } else {
                    Token::Open
                }
            }
            ')' => Token::Close,
            '?' | '[' | ']' | '{' | '}' | '^' | '$' => Token::Other,
            c => Token::Lit(c),
        };
        out.push(t);
    }
    out
}

/// Classifies a regex (as written, before anchoring) into a [`RegexShape`].
/// Only called on regexes that compiled. Anything not recognised is
/// [`RegexShape::General`], which is always correct.
pub fn analyse(re: &str) -> RegexShape {
    let mut toks = tokens(re);
    // One group around everything: `(a|b)`, `(?:foo.*)`.
    if toks.first() == Some(&Token::Open)
        && toks.last() == Some(&Token::Close)
        && toks.len() >= 2
        && toks[1..toks.len() - 1]
            .iter()
            .all(|t| !matches!(t, Token::Open | Token::Close))
    {
        toks = toks[1..toks.len() - 1].to_vec();
    }
    match toks.as_slice() {
        [Token::Dot, Token::Star] => return RegexShape::Any,
        [Token::Dot, Token::Plus] => return RegexShape::NonEmpty,
        [lits @ .., Token::Dot, Token::Star] if lits.iter().all(|t| matches!(t, Token::Lit(_))) => {
            return RegexShape::Prefix(literal(lits));
        }
        _ => {}
    }
    if toks
        .iter()
        .all(|t| matches!(t, Token::Lit(_) | Token::Pipe))
    {
        let mut set: Vec<String> = toks.split(|t| *t == Token::Pipe).map(literal).collect();
        set.sort();
        set.dedup();
        return RegexShape::Literals(set);
    }
    RegexShape::General
}

fn literal(toks: &[Token]) -> String {
    toks.iter()
        .filter_map(|t| match t {
            Token::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(v: &[&str]) -> RegexShape {
        RegexShape::Literals(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn shapes() {
        let cases: &[(&str, RegexShape)] = &[
            (".*", RegexShape::Any),
            ("(.*)", RegexShape::Any),
            ("(?:.*)", RegexShape::Any),
            (".+", RegexShape::NonEmpty),
            ("", lits(&[""])),
            ("foo", lits(&["foo"])),
            ("b|a|b", lits(&["a", "b"])),
            ("|bar", lits(&["", "bar"])),
            ("(a|bc)", lits(&["a", "bc"])),
            (r"a\.b|c\|d", lits(&["a.b", "c|d"])),
            ("héllo|wörld", lits(&["héllo", "wörld"])),
            ("foo.*", RegexShape::Prefix("foo".into())),
            (r"foo\..*", RegexShape::Prefix("foo.".into())),
            ("(?:api-.*)", RegexShape::Prefix("api-".into())),
            ("a.b", RegexShape::General),
            ("foo.+", RegexShape::General),
            (r"foo\.*", RegexShape::General),
            ("ab*", RegexShape::General),
            ("a?", RegexShape::General),
            ("[ab]", RegexShape::General),
            ("(?i)foo", RegexShape::General),
            ("(a)|(b)", RegexShape::General),
            ("a|.*", RegexShape::General),
            (r"\d+", RegexShape::General),
            (r"\<a", RegexShape::General),
            ("a)(b", RegexShape::General),
            ("()", lits(&[""])),
            ("^foo$", RegexShape::General),
            (".*foo", RegexShape::General),
            ("a{2}", RegexShape::General),
        ];
        for (re, want) in cases {
            assert_eq!(&analyse(re), want, "regex {re:?}");
        }
    }

    /// Every shape agrees with running the anchored regex, on values chosen
    /// to sit at the edges (empty, prefix itself, newlines, case, unicode).
    #[test]
    fn fast_paths_agree_with_the_regex() {
        let regexes = [
            ".*",
            ".+",
            "",
            "foo",
            "b|a|b",
            "|bar",
            "(a|bc)",
            r"a\.b|c\|d",
            "foo.*",
            r"foo\..*",
            "(?:api-.*)",
            "a.b",
            "foo.+",
            "ab*",
            "[ab]",
            "(?i)foo",
            ".*foo",
            "héllo|wörld",
        ];
        let values = [
            "", "a", "b", "bc", "bar", "foo", "FOO", "foo.", "foo.x", "foox", "foo\n", "\n", "a.b",
            "axb", "c|d", "api-", "api-x\ny", "abbb", "xfoo", "héllo", "a b",
        ];
        for re in regexes {
            let m = Matcher::regex("l", re).unwrap();
            for v in values {
                assert_eq!(
                    m.pattern_matches(v),
                    m.slow_pattern_matches(v),
                    "regex {re:?} on {v:?} (shape {:?})",
                    m.regex_shape()
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Random regexes over an alphabet rich in metacharacters: whenever
        /// one compiles, its shape (fast path or not) agrees with the
        /// regex on random values.
        #[test]
        fn analysed_shapes_agree_with_random_regexes(
            re in "[ab.*+?|()\\\\:\\[\\]^$<>{}1é\n-]{0,8}",
            values in proptest::collection::vec("[ab.*|()<>\\\\é\n-]{0,5}", 1..16),
        ) {
            if let Ok(m) = Matcher::regex("l", re.as_str()) {
                for v in &values {
                    proptest::prop_assert_eq!(
                        m.pattern_matches(v),
                        m.slow_pattern_matches(v),
                        "regex {:?} on {:?} (shape {:?})", re, v, m.regex_shape()
                    );
                }
            }
        }
    }

    #[test]
    fn regexes_are_anchored_and_dot_matches_newline() {
        let m = Matcher::regex("l", "o").unwrap();
        assert!(!m.matches("foo"));
        let m = Matcher::regex("l", "a.c").unwrap();
        assert!(m.matches("a\nc"));
        let m = Matcher::regex("l", "a|b").unwrap();
        assert!(!m.matches("ab"));
    }

    #[test]
    fn empty_matching_table() {
        // (matcher, matches "" i.e. also selects series lacking the label)
        let table: &[(Matcher, bool)] = &[
            (Matcher::equal("foo", ""), true),
            (Matcher::equal("foo", "bar"), false),
            (Matcher::not_equal("foo", ""), false),
            (Matcher::not_equal("foo", "bar"), true),
            (Matcher::regex("foo", ".*").unwrap(), true),
            (Matcher::regex("foo", ".+").unwrap(), false),
            (Matcher::regex("foo", "").unwrap(), true),
            (Matcher::regex("foo", "|bar").unwrap(), true),
            (Matcher::regex("foo", "bar").unwrap(), false),
            (Matcher::regex("foo", "b.*").unwrap(), false),
            (Matcher::regex("foo", "x?").unwrap(), true),
            (Matcher::not_regex("foo", ".+").unwrap(), true),
            (Matcher::not_regex("foo", ".*").unwrap(), false),
            (Matcher::not_regex("foo", "").unwrap(), false),
            (Matcher::not_regex("foo", "bar").unwrap(), true),
            (Matcher::not_regex("foo", "|bar").unwrap(), false),
        ];
        for (m, want) in table {
            assert_eq!(m.matches_empty(), *want, "{m}");
        }
    }

    #[test]
    fn bad_regex_is_a_typed_error() {
        let err = Matcher::regex("job", "a(b").unwrap_err();
        let MatcherError::BadRegex {
            name, op, regex, ..
        } = &err;
        assert_eq!((name.as_str(), *op, regex.as_str()), ("job", "=~", "a(b"));
        assert!(
            err.to_string()
                .starts_with("label matcher job=~\"a(b\": invalid regex")
        );
        assert!(Matcher::not_regex("x", "[").is_err());
    }

    #[test]
    fn display_and_accessors() {
        let m = Matcher::new(MatchOp::RegexNoMatch, "code", "5..").unwrap();
        assert_eq!(m.to_string(), "code!~\"5..\"");
        assert_eq!(
            (m.name(), m.op(), m.value()),
            ("code", MatchOp::RegexNoMatch, "5..")
        );
        assert_eq!(m.regex_shape(), Some(&RegexShape::General));
        assert_eq!(Matcher::equal("a", "b").regex_shape(), None);
    }
}
