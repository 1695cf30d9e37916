//! Fuzzes what the web server decodes from outside: the web config file
//! (`levee::web::web_config::WebConfig::parse`, Prometheus' format) and
//! the `Authorization: Basic` header (`levee::web::basic_credentials`).
//! The control byte's low bit picks one; the rest is the input (non-UTF-8
//! inputs are skipped: both take a `&str`).
//!
//! Checks, beyond "no panic, no hang, no unbounded allocation":
//! - a web config parses the same way twice, and one that is refused says
//!   why;
//! - credentials that decode have a user without `:`, and encoding them
//!   again decodes to the same user and password.
//!
//! File names in the config are read relative to the working directory;
//! run the target from `fuzz/`.

#![no_main]

use base64::Engine;
use levee::web::basic_credentials;
use levee::web::web_config::WebConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if control & 1 == 0 {
        let path = Path::new("web.yml");
        let first = WebConfig::parse(path, text).map_err(|e| e.to_string());
        let again = WebConfig::parse(path, text).map_err(|e| e.to_string());
        match (&first, &again) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.tls, b.tls);
                assert_eq!(a.requires_auth("/metrics"), b.requires_auth("/metrics"));
            }
            (Err(a), Err(b)) => {
                assert!(!a.is_empty());
                assert_eq!(a, b);
            }
            _ => panic!("parsed differently twice: {first:?} / {again:?}"),
        }
        return;
    }
    if let Some((user, password)) = basic_credentials(text) {
        assert!(!user.contains(':'), "user {user:?}");
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        assert_eq!(
            basic_credentials(&format!("Basic {encoded}")),
            Some((user, password))
        );
    }
});
