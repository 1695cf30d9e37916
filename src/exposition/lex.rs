//! Byte-level pieces shared by both formats: character classes for names,
//! number parsing with Prometheus' accepted spellings, escape decoding.

use std::borrow::Cow;

/// The bit pattern of the NaN every parsed `NaN` value gets: Prometheus'
/// `value.NormalNaN` (also Go's `math.NaN()`). Text cannot carry NaN
/// payloads, so this is the only NaN the parser produces.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

const NAME_START: u8 = 1; // [a-zA-Z_:]
const NAME_CONT: u8 = 2; // [a-zA-Z0-9_:]
const LABEL_START: u8 = 4; // [a-zA-Z_]
const LABEL_CONT: u8 = 8; // [a-zA-Z0-9_]

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        let mut v = 0;
        if alpha || c == b':' {
            v |= NAME_START | NAME_CONT;
        }
        if digit {
            v |= NAME_CONT | LABEL_CONT;
        }
        if alpha {
            v |= LABEL_START | LABEL_CONT;
        }
        t[i] = v;
        i += 1;
    }
    t
};

/// Length of the metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) at the start of
/// `b`, 0 if there is none.
#[inline]
pub fn metric_name_len(b: &[u8]) -> usize {
    match b.first() {
        Some(&c) if CLASS[c as usize] & NAME_START != 0 => {}
        _ => return 0,
    }
    1 + b[1..]
        .iter()
        .position(|&c| CLASS[c as usize] & NAME_CONT == 0)
        .unwrap_or(b.len() - 1)
}

/// Length of the label name (`[a-zA-Z_][a-zA-Z0-9_]*`) at the start of `b`,
/// 0 if there is none.
#[inline]
pub fn label_name_len(b: &[u8]) -> usize {
    match b.first() {
        Some(&c) if CLASS[c as usize] & LABEL_START != 0 => {}
        _ => return 0,
    }
    1 + b[1..]
        .iter()
        .position(|&c| CLASS[c as usize] & LABEL_CONT == 0)
        .unwrap_or(b.len() - 1)
}

/// True for a valid metric name.
pub fn is_metric_name(s: &str) -> bool {
    !s.is_empty() && metric_name_len(s.as_bytes()) == s.len()
}

/// True for a valid label name.
pub fn is_label_name(s: &str) -> bool {
    !s.is_empty() && label_name_len(s.as_bytes()) == s.len()
}

/// Position of the first `"` or `\\` in `b` at or after `from`.
#[inline]
pub fn find_quote_or_backslash(b: &[u8], from: usize) -> Option<usize> {
    find2(b, from, b'"', b'\\')
}

/// Position of the first `x` or `y` in `b` at or after `from`. Label names
/// and values are short, so this reads eight bytes at a time (SWAR)
/// instead of paying a SIMD search's setup for each.
#[inline]
pub fn find2(b: &[u8], from: usize, x: u8, y: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let (xs, ys) = (ONES * u64::from(x), ONES * u64::from(y));
    let mut i = from;
    while let Some(word) = b.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let m = has_zero(w ^ xs) | has_zero(w ^ ys);
        if m != 0 {
            // The lowest flagged byte is always a real match.
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == x || c == y)
        .map(|k| i + k)
}

/// The common case of a label: a valid label name at `b[i..]` directly
/// followed by `=` before `end`. Returns the name's length, or `None` when
/// the slower, exact [`label_name_len`] must decide (and report).
#[inline]
pub fn label_name_before_equal(b: &[u8], i: usize, end: usize) -> Option<usize> {
    let eq = find2(&b[..end], i, b'=', b'=')?;
    let name = &b[i..eq];
    let first = *name.first()?;
    // Branch-free over the name: no misprediction on its length.
    let all = name
        .iter()
        .fold(LABEL_CONT, |acc, &c| acc & CLASS[c as usize]);
    (CLASS[first as usize] & LABEL_START != 0 && all != 0).then_some(name.len())
}

/// Parses a sample value or OpenMetrics timestamp as Prometheus does (Go's
/// `strconv.ParseFloat` without hex floats and underscores): decimal
/// numbers with optional sign, fraction and exponent; `Inf`/`Infinity` with
/// optional sign and `NaN` without, in any case. Values beyond the f64
/// range are errors, as in Go.
pub fn parse_float(tok: &[u8]) -> Option<f64> {
    // Fast path: a plain unsigned integer that f64 holds exactly.
    if !tok.is_empty() && tok.len() <= 15 && tok.iter().all(u8::is_ascii_digit) {
        let mut v: u64 = 0;
        for &d in tok {
            v = v * 10 + u64::from(d - b'0');
        }
        return Some(v as f64);
    }
    let (sign, rest) = match tok.first() {
        Some(b'+') => (1.0, &tok[1..]),
        Some(b'-') => (-1.0, &tok[1..]),
        _ => (1.0, tok),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(sign * f64::INFINITY);
    }
    if tok.eq_ignore_ascii_case(b"nan") {
        return Some(f64::from_bits(NORMAL_NAN_BITS));
    }
    if !is_decimal(rest) {
        return None;
    }
    // `is_decimal` admits only ASCII, so this cannot fail; treat it as
    // invalid all the same rather than panic.
    let s = std::str::from_utf8(tok).ok()?;
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() {
        // Go reports overflow as an error.
        return None;
    }
    Some(v)
}

/// `digits [. digits] | . digits`, then an optional exponent.
fn is_decimal(b: &[u8]) -> bool {
    let int = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = int;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac;
    }
    if int + frac == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

/// Parses a Prometheus text timestamp: decimal digits (no sign), fitting in
/// an i64.
pub fn parse_int_timestamp(tok: &[u8]) -> Option<i64> {
    if tok.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &d in tok {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(v)
}

/// Parses an OpenMetrics timestamp (float seconds) into milliseconds,
/// truncating toward zero as Prometheus' `int64(ts * 1000)` does. NaN and
/// infinities are rejected.
pub fn parse_seconds_timestamp(tok: &[u8]) -> Option<i64> {
    let secs = parse_float(tok)?;
    if !secs.is_finite() {
        return None;
    }
    // `as` saturates at the i64 range instead of Go's undefined result.
    Some((secs * 1000.0) as i64)
}

/// Decodes label-value escapes (`\\`, `\"`, `\n`); any other backslash
/// sequence is kept as written, as Prometheus does.
pub fn unescape_label_value(s: &str) -> Cow<'_, str> {
    unescape(s, true)
}

/// Decodes Prometheus text HELP escapes (`\\`, `\n`); `\"` stays as written.
pub fn unescape_help_text(s: &str) -> Cow<'_, str> {
    unescape(s, false)
}

fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    if !s.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            Some('"') if quote => {
                out.push('"');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_parses_them() {
        let ok: &[(&str, f64)] = &[
            ("0", 0.0),
            ("1", 1.0),
            ("-1", -1.0),
            ("+1.5", 1.5),
            ("1.", 1.0),
            (".5", 0.5),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("1.5e+2", 150.0),
            ("007", 7.0),
            ("1e-400", 0.0),
            ("123456789012345678", 123456789012345678.0),
            ("+Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Inf", f64::INFINITY),
            ("infinity", f64::INFINITY),
            ("-INFINITY", f64::NEG_INFINITY),
        ];
        for (s, want) in ok {
            assert_eq!(parse_float(s.as_bytes()), Some(*want), "{s}");
        }
        for s in ["NaN", "nan", "NAN"] {
            let v = parse_float(s.as_bytes()).map(f64::to_bits);
            assert_eq!(v, Some(NORMAL_NAN_BITS), "{s}");
        }
        assert_eq!(
            parse_float(b"-0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        for s in [
            "", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", "0x10", "0x1p3", "1_000", "+nan",
            "-NaN", "infin", "inff", "1e400", "-1e400", "1 ", " 1", "1\r", "١",
        ] {
            assert_eq!(parse_float(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_int_timestamp(b"1700000000000"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_int_timestamp(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int_timestamp(b"9223372036854775808"), None);
        assert_eq!(parse_int_timestamp(b"-1"), None);
        assert_eq!(parse_int_timestamp(b""), None);
        assert_eq!(parse_seconds_timestamp(b"1.5"), Some(1500));
        assert_eq!(parse_seconds_timestamp(b"-1.5"), Some(-1500));
        assert_eq!(parse_seconds_timestamp(b"1e3"), Some(1_000_000));
        assert_eq!(parse_seconds_timestamp(b"0.0019"), Some(1));
        assert_eq!(parse_seconds_timestamp(b"NaN"), None);
        assert_eq!(parse_seconds_timestamp(b"+Inf"), None);
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape_label_value(r#"a\\b\"c\nd\te"#), "a\\b\"c\nd\\te");
        assert_eq!(unescape_label_value(r"\\n"), "\\n");
        assert_eq!(unescape_label_value(r"x\"), "x\\");
        assert_eq!(unescape_help_text(r#"a\"b\\c\nd"#), "a\\\"b\\c\nd");
        assert!(matches!(
            unescape_label_value("plain"),
            Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn finds_quotes_and_backslashes() {
        let hay = b"0123456789abcdef\"xyz\\";
        for from in 0..hay.len() {
            let want = hay[from..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\')
                .map(|k| from + k);
            assert_eq!(find_quote_or_backslash(hay, from), want, "from {from}");
        }
        assert_eq!(find_quote_or_backslash(b"aaaaaaaaaaaaaaaaaaaa", 3), None);
        assert_eq!(find_quote_or_backslash(b"ab", 5), None);
        for pos in 0..24 {
            let mut v = vec![b'a'; 24];
            v[pos] = b'\\';
            if pos + 1 < 24 {
                v[pos + 1] = b'"';
            }
            assert_eq!(find_quote_or_backslash(&v, 0), Some(pos));
        }
    }

    #[test]
    fn label_name_fast_path() {
        assert_eq!(label_name_before_equal(b"{abc_9=\"", 1, 8), Some(5));
        assert_eq!(label_name_before_equal(b"ab =", 0, 4), None);
        assert_eq!(label_name_before_equal(b"9a=", 0, 3), None);
        assert_eq!(label_name_before_equal(b"a:b=", 0, 4), None);
        assert_eq!(label_name_before_equal(b"=", 0, 1), None);
        assert_eq!(label_name_before_equal(b"abc", 0, 3), None);
        assert_eq!(label_name_before_equal(b"ab\n=", 0, 2), None);
    }

    #[test]
    fn names() {
        assert!(is_metric_name("a:b_c9"));
        assert!(!is_metric_name("9a"));
        assert!(is_label_name("_a9"));
        assert!(!is_label_name("a:b"));
        assert_eq!(metric_name_len(b"foo{"), 3);
        assert_eq!(label_name_len(b"le=\""), 2);
    }
}
