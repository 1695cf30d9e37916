//! Translation of a relabel regex from Go's RE2 syntax (what Prometheus
//! parses) into the `regex` crate's syntax, so both accept the same
//! patterns and match the same strings:
//!
//! - Perl classes are ASCII in Go: `\d` is `[0-9]`, `\w` is
//!   `[0-9A-Za-z_]`, `\s` is `[\t\n\f\r ]`, `\b` is an ASCII word boundary.
//! - `\Q…\E` quotes a literal.
//! - Inside a class, `[` is literal (except `[:alpha:]`), and `&&`, `--`,
//!   `~~` are characters, not set operations.
//! - A `{` that does not start a valid repetition is literal.
//! - Capture names are Go's: `(?P<name>…)` with `[A-Za-z0-9_]+`, duplicates
//!   allowed; `(?<name>…)` is rejected as Go 1.19/1.20 (Prometheus 2.42)
//!   does. Groups are emitted unnamed; their names are returned by index.

/// A pattern rewritten into `regex` syntax, with its capture names.
#[derive(Debug)]
pub(crate) struct Translated {
    /// The pattern in `regex` crate syntax (not yet anchored).
    pub pattern: String,
    /// Names of capture groups 1.., in order (`None` for unnamed).
    pub names: Vec<Option<String>>,
}

/// Rewrites a Go RE2 pattern; errors use Go's wording.
pub(crate) fn translate(src: &str) -> Result<Translated, String> {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 8);
    let mut names = Vec::new();
    let mut i = 0;
    // Position of the first class member (after `[` or `[^`), while in a class.
    let mut class_start: Option<usize> = None;
    // Start of the previous repetition operator, if the last token was one,
    // and whether it already took its lazy `?`.
    let mut last_repeat: Option<(usize, bool)> = None;
    while i < b.len() {
        let c = b[i];
        if class_start.is_none() {
            let len = match c {
                b'*' | b'+' | b'?' => Some(1),
                b'{' => repetition_len(&b[i..])?,
                _ => None,
            };
            match (len, last_repeat) {
                (Some(1), Some((start, false))) if c == b'?' => {
                    last_repeat = Some((start, true));
                }
                (Some(len), Some((start, _))) => {
                    return Err(format!(
                        "invalid nested repetition operator: `{}`",
                        &src[start..i + len]
                    ));
                }
                (Some(_), None) => last_repeat = Some((i, false)),
                (None, _) => last_repeat = None,
            }
        }
        if c == b'\\' {
            i = escape(src, i, class_start.is_some(), &mut out)?;
            continue;
        }
        if let Some(start) = class_start {
            match c {
                b']' if i != start => {
                    class_start = None;
                    out.push(']');
                    i += 1;
                }
                b'[' => {
                    if let Some(len) = posix_class_len(&src[i..]) {
                        out.push_str(&src[i..i + len]);
                        i += len;
                    } else {
                        out.push_str("\\[");
                        i += 1;
                    }
                }
                b'&' | b'-' | b'~' if b.get(i + 1) == Some(&c) => {
                    out.push(char::from(c));
                    out.push('\\');
                    out.push(char::from(c));
                    i += 2;
                }
                _ => i = push_char(src, i, &mut out),
            }
            continue;
        }
        match c {
            b'[' => {
                out.push('[');
                i += 1;
                if b.get(i) == Some(&b'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = Some(i);
            }
            b'(' if b.get(i + 1) == Some(&b'?') => {
                let rest = &src[i..];
                if let Some(after) = rest.strip_prefix("(?P<") {
                    let end = after
                        .find('>')
                        .ok_or_else(|| format!("invalid named capture: `{rest}`"))?;
                    let name = &after[..end];
                    if name.is_empty()
                        || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                    {
                        return Err(format!("invalid named capture: `{}`", &rest[..end + 5]));
                    }
                    names.push(Some(name.to_string()));
                    out.push('(');
                    i += 4 + end + 1;
                } else if rest.starts_with("(?<") {
                    return Err("invalid or unsupported Perl syntax: `(?<`".to_string());
                } else {
                    check_flags(rest)?;
                    out.push_str("(?");
                    i += 2;
                }
            }
            b'(' => {
                names.push(None);
                out.push('(');
                i += 1;
            }
            b'{' => {
                if let Some(len) = repetition_len(&b[i..])? {
                    out.push_str(&src[i..i + len]);
                    i += len;
                } else {
                    out.push_str("\\{");
                    i += 1;
                }
            }
            b'}' => {
                out.push_str("\\}");
                i += 1;
            }
            _ => i = push_char(src, i, &mut out),
        }
    }
    Ok(Translated {
        pattern: out,
        names,
    })
}

/// Pushes the (possibly multi-byte) character at `i`; returns the next index.
fn push_char(src: &str, i: usize, out: &mut String) -> usize {
    let ch = src[i..].chars().next().unwrap_or('\u{FFFD}');
    out.push(ch);
    i + ch.len_utf8().max(1)
}

/// Translates the escape at `src[i] == '\\'`; returns the next index.
fn escape(src: &str, i: usize, in_class: bool, out: &mut String) -> Result<usize, String> {
    let b = src.as_bytes();
    let Some(&next) = b.get(i + 1) else {
        return Err("trailing backslash at end of expression: ``".to_string());
    };
    let class = |inner: &str, negated: bool, out: &mut String| match (in_class, negated) {
        (true, false) => out.push_str(inner),
        _ => {
            out.push('[');
            if negated {
                out.push('^');
            }
            out.push_str(inner);
            out.push(']');
        }
    };
    const DIGIT: &str = "0-9";
    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = "\\t\\n\\f\\r ";
    match next {
        b'd' => class(DIGIT, false, out),
        b'D' => class(DIGIT, true, out),
        b'w' => class(WORD, false, out),
        b'W' => class(WORD, true, out),
        b's' => class(SPACE, false, out),
        b'S' => class(SPACE, true, out),
        b'b' if !in_class => out.push_str("(?-u:\\b)"),
        b'B' if !in_class => out.push_str("(?-u:\\B)"),
        b'Q' => {
            let body = &src[i + 2..];
            let (lit, consumed) = match body.find("\\E") {
                Some(e) => (&body[..e], e + 2),
                None => (body, body.len()),
            };
            for ch in lit.chars() {
                let mut buf = [0u8; 4];
                out.push_str(&regex::escape(ch.encode_utf8(&mut buf)));
            }
            return Ok(i + 2 + consumed);
        }
        b'p' | b'P' | b'x' => {
            out.push('\\');
            out.push(char::from(next));
            let mut j = i + 2;
            if b.get(j) == Some(&b'{') {
                let close = src[j..].find('}').map_or(src.len(), |e| j + e + 1);
                out.push_str(&src[j..close]);
                j = close;
            }
            return Ok(j);
        }
        // Escaped punctuation is that character in Go; `regex` gives some
        // escapes (`\<`, `\>`) other meanings, so write it as a literal.
        c if c.is_ascii_punctuation() => out.push_str(&regex::escape(&char::from(c).to_string())),
        // The other escapes Go knows and `regex` reads the same way.
        b'a' | b'f' | b't' | b'n' | b'r' | b'v' | b'A' | b'z' | b'0'..=b'7' => {
            out.push('\\');
            out.push(char::from(next));
        }
        _ => {
            let bad = src[i..].chars().take(2).collect::<String>();
            return Err(format!("invalid escape sequence: `{bad}`"));
        }
    }
    Ok(i + 2)
}

/// Length of a POSIX class like `[:alpha:]` or `[:^digit:]` at the start.
fn posix_class_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("[:")?;
    let end = body.find(":]")?;
    let name = body[..end].strip_prefix('^').unwrap_or(&body[..end]);
    (!name.is_empty() && name.bytes().all(|c| c.is_ascii_lowercase())).then_some(end + 4)
}

/// Go accepts only the flags `i`, `m`, `s`, `U` (and `-`) in `(?flags)`
/// and `(?flags:…)`; the `regex` crate also knows `u`, `x`, `R`.
fn check_flags(group: &str) -> Result<(), String> {
    for (k, c) in group.char_indices().skip(2) {
        match c {
            ':' | ')' => return Ok(()),
            'i' | 'm' | 's' | 'U' | '-' => {}
            _ => {
                let end = k + c.len_utf8();
                return Err(format!(
                    "invalid or unsupported Perl syntax: `{}`",
                    &group[..end]
                ));
            }
        }
    }
    Ok(())
}

/// Go's largest repetition count.
const MAX_REPEAT: u32 = 1000;

/// Length of a Go repetition `{n}`, `{n,}` or `{n,m}` at the start of `b`
/// (`None`: not a repetition, so a literal `{`); counts above 1000 are
/// errors, as in Go.
fn repetition_len(b: &[u8]) -> Result<Option<usize>, String> {
    let mut i = 1;
    let mut too_big = false;
    let mut digits = |i: &mut usize| {
        let s = *i;
        let mut n: u32 = 0;
        while *i < b.len() && b[*i].is_ascii_digit() {
            n = n.saturating_mul(10).saturating_add(u32::from(b[*i] - b'0'));
            *i += 1;
        }
        too_big |= n > MAX_REPEAT;
        *i > s
    };
    if !digits(&mut i) {
        return Ok(None);
    }
    if b.get(i) == Some(&b',') {
        i += 1;
        digits(&mut i);
    }
    if b.get(i) != Some(&b'}') {
        return Ok(None);
    }
    if too_big {
        let text = String::from_utf8_lossy(&b[..=i]);
        return Err(format!("invalid repeat count: `{text}`"));
    }
    Ok(Some(i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> String {
        translate(s)
            .map(|t| t.pattern)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn perl_classes_become_ascii() {
        assert_eq!(t(r"(.+):\d+"), "(.+):[0-9]+");
        assert_eq!(t(r"[\w.]"), "[0-9A-Za-z_.]");
        assert_eq!(t(r"[\D]"), "[[^0-9]]");
        assert_eq!(t(r"\S\b"), r"[^\t\n\f\r ](?-u:\b)");
    }

    #[test]
    fn go_literals() {
        assert_eq!(t(r"\Qa.b\E+"), r"a\.b+");
        assert_eq!(t("a{"), r"a\{");
        assert_eq!(t("a{2,}b{1,3}c{x}"), r"a{2,}b{1,3}c\{x\}");
        assert_eq!(t("[a&&b]"), r"[a&\&b]");
        assert_eq!(t("[[:alpha:][]"), r"[[:alpha:]\[]");
        assert_eq!(t("[]a]"), "[]a]");
        assert_eq!(t(r"\x{41}{2}"), r"\x{41}{2}");
    }

    #[test]
    fn capture_names() {
        let tr = translate("(?P<a>x)(y)(?:z)(?P<a>w)(?i)").unwrap();
        assert_eq!(tr.pattern, "(x)(y)(?:z)(w)(?i)");
        assert_eq!(tr.names, vec![Some("a".into()), None, Some("a".into())]);
        assert!(t("(?<a>x)").starts_with("ERR"));
        assert!(t("(?P<a-b>x)").starts_with("ERR"));
        assert!(t("a\\").starts_with("ERR"));
        assert_eq!(t(r"\<a\>\-\."), r"<a>\-\.");
        assert_eq!(t(r"\101\t\z"), r"\101\t\z");
        assert_eq!(t(r"\Z"), "ERR invalid escape sequence: `\\Z`");
        assert_eq!(t(r"\u0041"), "ERR invalid escape sequence: `\\u`");
        assert_eq!(t(r"\é"), "ERR invalid escape sequence: `\\é`");
        assert_eq!(t("(?x)a"), "ERR invalid or unsupported Perl syntax: `(?x`");
        assert_eq!(
            t("(?i-u:a)"),
            "ERR invalid or unsupported Perl syntax: `(?i-u`"
        );
        assert_eq!(t("(?i-s:a)(?U)"), "(?i-s:a)(?U)");
        assert_eq!(t("a{1001}"), "ERR invalid repeat count: `{1001}`");
        assert_eq!(t("a{2,1000}"), "a{2,1000}");
        assert_eq!(t("a**"), "ERR invalid nested repetition operator: `**`");
        assert_eq!(
            t("a+?{2}"),
            "ERR invalid nested repetition operator: `+?{2}`"
        );
        assert_eq!(t("a*?b+?c??d{2}?"), "a*?b+?c??d{2}?");
        assert_eq!(t(r"a\**"), r"a\**");
        assert_eq!(t("[*][+]*"), "[*][+]*");
    }
}
