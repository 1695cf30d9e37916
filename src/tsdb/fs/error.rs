//! Errors of the file abstraction.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// An error from a [`Directory`](super::Directory) or one of its files.
///
/// It is `Clone` (the I/O error is shared) so that a writer can both
/// return a failure and keep it as the reason it refuses further writes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FsError {
    /// An operating-system error on `path`.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `append`, `sync`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: Arc<io::Error>,
    },
    /// The file does not exist.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// A file name that is not a plain name.
    #[error("invalid file name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The lock file is held by someone else.
    #[error("{}: locked by another process or handle", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A read ran past the end of the file.
    #[error("{name}: read of {wanted} bytes at offset {offset} got only {got}")]
    UnexpectedEof {
        /// The file read.
        name: String,
        /// Where the read started.
        offset: u64,
        /// Bytes wanted.
        wanted: usize,
        /// Bytes available.
        got: usize,
    },
    /// A failure injected by [`MemDirectory`](super::MemDirectory) for tests.
    #[error("{}: injected failure during {op}", path.display())]
    Injected {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
    },
}

impl FsError {
    /// Maps an I/O error, turning `NotFound` into [`FsError::NotFound`].
    pub(crate) fn io(op: &'static str, path: PathBuf, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            FsError::NotFound { path }
        } else {
            FsError::Io {
                op,
                path,
                source: Arc::new(source),
            }
        }
    }
}
