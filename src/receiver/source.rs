//! Which source (tenant) a request comes from: the configured source header
//! (`X-Scope-OrgID` by default), else the user of its basic-auth
//! credentials, else `default`. Per-source series budgets are keyed by it.

use axum::http::HeaderMap;
use axum::http::HeaderName;
use axum::http::header::AUTHORIZATION;

/// The source of a request that names none.
pub const DEFAULT_SOURCE: &str = "default";
/// The longest source name kept; longer ones are cut (at a character
/// boundary), so a sender cannot make the name arbitrarily long.
const MAX_SOURCE_LEN: usize = 128;

/// The source `headers` name, by `source_header` or basic auth.
pub fn source_of(headers: &HeaderMap, source_header: &HeaderName) -> String {
    let named = headers
        .get(source_header)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| basic_auth_user(headers));
    let mut source = named.unwrap_or_else(|| DEFAULT_SOURCE.to_string());
    if source.len() > MAX_SOURCE_LEN {
        let mut end = MAX_SOURCE_LEN;
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        source.truncate(end);
    }
    source
}

/// The user of `Authorization: Basic base64(user:password)`, if sent and
/// well formed.
fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, _) = text.split_once(':')?;
    (!user.is_empty()).then(|| user.to_string())
}

/// Standard base64 (RFC 4648) with optional padding; `None` when `s` is not.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let digits = s.trim_end_matches('=');
    if s.len() - digits.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in digits.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn base64_decodes_rfc4648_vectors() {
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(base64_decode(enc).as_deref(), Some(dec.as_bytes()), "{enc}");
        }
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Zg==="), None);
    }

    #[test]
    fn the_header_wins_then_the_basic_auth_user_then_default() {
        let org = HeaderName::from_static("x-scope-orgid");
        let mut h = HeaderMap::new();
        assert_eq!(source_of(&h, &org), "default");
        // alice:secret
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic YWxpY2U6c2VjcmV0"),
        );
        assert_eq!(source_of(&h, &org), "alice");
        h.insert(&org, HeaderValue::from_static(" team-a "));
        assert_eq!(source_of(&h, &org), "team-a");
        h.insert(
            &org,
            HeaderValue::from_str(&"x".repeat(500)).expect("a header"),
        );
        assert_eq!(source_of(&h, &org).len(), MAX_SOURCE_LEN);
    }
}
