//! Waiting in a test for a state to come about: a bounded poll, not a
//! timing assertion.

use std::time::{Duration, Instant};

/// Polls `done` every `every` until it holds; fails the test, naming
/// `what`, when `limit` has passed.
pub async fn wait_until(
    what: &str,
    limit: Duration,
    every: Duration,
    mut done: impl AsyncFnMut() -> bool,
) {
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < limit,
            "gave up waiting for {what} after {limit:?}"
        );
        tokio::time::sleep(every).await;
    }
}
