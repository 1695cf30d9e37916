//! Basic auth in front of the router, by the `basic_auth_users` of the web
//! config file as it is at each request: 401 with `WWW-Authenticate:
//! Basic` (Prometheus' answer) unless the credentials match or the path is
//! one of `levee_unauthenticated_paths`. bcrypt runs on the blocking pool.

use super::web_config::WebConfigSource;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::Arc;

/// The layer's function.
pub(super) async fn require(
    State(web): State<Arc<WebConfigSource>>,
    request: Request,
    next: Next,
) -> Response {
    let config = web.current();
    if !config.requires_auth(request.uri().path()) {
        return next.run(request).await;
    }
    let ok = match credentials(request.headers()) {
        Some((user, password)) => {
            let web = web.clone();
            tokio::task::spawn_blocking(move || web.verify(&config, &user, &password))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    if ok {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [
                (WWW_AUTHENTICATE, "Basic"),
                (CONTENT_TYPE, "text/plain; charset=utf-8"),
            ],
            "Unauthorized\n",
        )
            .into_response()
    }
}

/// User and password of an `Authorization: Basic …` header.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    basic_credentials(headers.get(AUTHORIZATION)?.to_str().ok()?)
}

/// User and password of the value of an `Authorization` header of the
/// `Basic` scheme (`Basic base64(user:password)`, RFC 7617; the user ends
/// at the first `:`); `None` for any other scheme or a value that does not
/// decode to UTF-8 with a `:`.
pub fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_a_basic_header_only() {
        let mut h = HeaderMap::new();
        assert_eq!(credentials(&h), None);
        h.insert(
            AUTHORIZATION,
            "Basic YWxpY2U6czNjcjp0".parse().expect("header"),
        );
        assert_eq!(credentials(&h), Some(("alice".into(), "s3cr:t".into())));
        h.insert(
            AUTHORIZATION,
            "Bearer YWxpY2U6czNjcjp0".parse().expect("header"),
        );
        assert_eq!(credentials(&h), None);
        h.insert(AUTHORIZATION, "Basic !!!".parse().expect("header"));
        assert_eq!(credentials(&h), None);
        h.insert(AUTHORIZATION, "basic bm9jb2xvbg==".parse().expect("header"));
        assert_eq!(credentials(&h), None, "no colon");
    }
}
