//! The lifecycle endpoints (`POST`/`PUT /-/reload`, `/-/quit`, served
//! with `--web.enable-lifecycle` as Prometheus does) as requests to
//! whoever runs the agent: the web server owns no agent, it sends a
//! [`LifecycleRequest`] down a channel and answers with the result.

use tokio::sync::{mpsc, oneshot};

/// Why a reload failed, as the run loop reports it (the agent's error,
/// with its causes).
pub type ReloadFailure = Box<dyn std::error::Error + Send + Sync>;

/// What the lifecycle endpoints ask of the run loop.
#[derive(Debug)]
pub enum LifecycleRequest {
    /// Reload the configuration; the result goes back on the sender.
    Reload(oneshot::Sender<Result<(), ReloadFailure>>),
    /// Stop cleanly, as on SIGTERM.
    Quit,
}

/// The sending half the web server holds; the run loop holds the
/// [`mpsc::Receiver`] of [`channel`].
pub type LifecycleSender = mpsc::Sender<LifecycleRequest>;

/// A lifecycle channel: requests are handled one at a time, a few may wait.
pub fn channel() -> (LifecycleSender, mpsc::Receiver<LifecycleRequest>) {
    mpsc::channel(4)
}
