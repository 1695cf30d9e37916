//! A narrow file abstraction for the storage engine: a [`Directory`] of flat
//! files, with a real on-disk implementation ([`DiskDirectory`]) and an
//! in-memory one ([`MemDirectory`]) that can inject failures.
//!
//! Everything the TSDB writes goes through this trait, so the same tests run
//! over both implementations, and crash and full-disk cases are tested by
//! making the in-memory directory fail a write halfway.

mod disk;
mod error;
mod mem;
#[cfg(test)]
mod suite;

pub use disk::DiskDirectory;
pub use error::FsError;
pub use mem::MemDirectory;

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A directory of files, named by plain names (no `/`, not `.` or `..`).
///
/// Implementations are shared between threads (`Arc<dyn Directory>`).
pub trait Directory: Send + Sync + fmt::Debug {
    /// Creates `name` empty (truncating it if it exists) and opens it for
    /// appending.
    fn create(&self, name: &str) -> Result<Box<dyn WriteFile>, FsError>;
    /// Opens the existing file `name` for appending at its end.
    fn open_append(&self, name: &str) -> Result<Box<dyn WriteFile>, FsError>;
    /// Opens the existing file `name` for positional reads. Reads see data
    /// appended after opening.
    fn open_read(&self, name: &str) -> Result<Box<dyn ReadFile>, FsError>;
    /// Maps the whole file `name` read-only (memory-mapped on disk). The
    /// bytes are those present when mapping; the file must not be truncated
    /// while mapped.
    fn map(&self, name: &str) -> Result<FileBytes, FsError>;
    /// The names of the files (not subdirectories) in this directory, sorted.
    fn list(&self) -> Result<Vec<String>, FsError>;
    /// The length of file `name` in bytes.
    fn len(&self, name: &str) -> Result<u64, FsError>;
    /// Whether file `name` exists.
    fn exists(&self, name: &str) -> Result<bool, FsError>;
    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    fn rename(&self, from: &str, to: &str) -> Result<(), FsError>;
    /// Removes file `name`.
    fn remove(&self, name: &str) -> Result<(), FsError>;
    /// Cuts file `name` down to `len` bytes.
    fn truncate(&self, name: &str, len: u64) -> Result<(), FsError>;
    /// Makes creations, renames and removals in this directory durable.
    fn sync_dir(&self) -> Result<(), FsError>;
    /// The subdirectory `name`, created if missing.
    fn subdir(&self, name: &str) -> Result<Arc<dyn Directory>, FsError>;
    /// The names of the subdirectories, sorted.
    fn list_dirs(&self) -> Result<Vec<String>, FsError>;
    /// Renames the subdirectory `from` to `to` (which must not exist).
    fn rename_dir(&self, from: &str, to: &str) -> Result<(), FsError>;
    /// Removes the subdirectory `name` and everything in it.
    fn remove_dir(&self, name: &str) -> Result<(), FsError>;
    /// Takes the exclusive lock file `name` (created if missing), held until
    /// the returned guard is dropped. A second holder, in this process or
    /// another, gets [`FsError::Locked`]. On disk the lock is an OS file lock,
    /// so it is released when the process dies.
    fn lock(&self, name: &str) -> Result<DirLock, FsError>;
}

/// A held lock file (see [`Directory::lock`]); dropping it releases the
/// lock.
pub struct DirLock(#[allow(dead_code)] Box<dyn Send + Sync>);

impl fmt::Debug for DirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirLock")
    }
}

/// A file open for appending.
pub trait WriteFile: Send + fmt::Debug {
    /// Appends all of `buf`. On error, a prefix of `buf` may have been
    /// written (a torn write).
    fn append(&mut self, buf: &[u8]) -> Result<(), FsError>;
    /// Makes everything appended so far durable (fdatasync).
    fn sync(&mut self) -> Result<(), FsError>;
    /// The file's length as this handle last saw it: its length when opened
    /// plus what this handle appended.
    fn len(&self) -> u64;
    /// Whether [`WriteFile::len`] is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file open for positional reads.
pub trait ReadFile: Send + Sync + fmt::Debug {
    /// The file's current length in bytes.
    fn size(&self) -> Result<u64, FsError>;
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (0 at or past the end).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, FsError>;
    /// The file's name, for error messages.
    fn name(&self) -> &str;

    /// Fills `buf` from `offset`, or fails with [`FsError::UnexpectedEof`].
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), FsError> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(offset + done as u64, &mut buf[done..])?;
            if n == 0 {
                return Err(FsError::UnexpectedEof {
                    name: self.name().to_string(),
                    offset,
                    wanted: buf.len(),
                    got: done,
                });
            }
            done += n;
        }
        Ok(())
    }
}

/// Read-only bytes of a whole file: a memory map on disk, a copy in memory.
/// Cheap to clone.
#[derive(Clone)]
pub struct FileBytes(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl FileBytes {
    /// Wraps owned bytes.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        FileBytes(Arc::new(bytes))
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileBytes({} bytes)", self.len())
    }
}

/// Checks that `name` is a plain file name.
pub(crate) fn check_name(name: &str) -> Result<(), FsError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name == "." || name == ".." {
        "reserved"
    } else if name.contains('/') || name.contains('\\') || name.contains('\0') {
        "contains a path separator or NUL"
    } else {
        return Ok(());
    };
    Err(FsError::InvalidName {
        name: name.to_string(),
        reason,
    })
}
