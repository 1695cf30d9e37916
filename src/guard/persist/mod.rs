//! The guard state file (`docs/format/guard-state.md`): every guarded
//! target's [`GuardState`] with the target's identity, encoded with a
//! shared symbol table and delta-coded label sets (`encode.rs`), decoded
//! with every index and length checked (`decode.rs`), framed by a magic,
//! a version and a CRC32C; and its atomic write and read through a
//! [`Directory`]. Version 3 is written; versions 1, 2 and 3 are read.
//!
//! The agent saves through [`Encoder::create`], [`Encoder::add_guard`]
//! and [`Encoder::finish`]: each guard's members go straight from its
//! table into the encoder, and the encoder appends the file's body to
//! `state.tmp` a buffer at a time as it encodes it (`sink.rs`), so a save
//! costs the symbol table and one buffer in heap, not the file.

mod chunks;
mod decode;
mod encode;
mod sink;

pub use decode::decode;
pub use encode::{Encoder, encode};
pub use sink::{Sink, TmpFile};

use super::state::GuardState;
use crate::labels::Labels;
use crate::tsdb::fs::{Directory, FsError};

const MAGIC: [u8; 4] = *b"LGST";
/// The state file format version this code writes (and the newest it
/// reads).
pub const STATE_VERSION: u8 = 3;
/// The oldest state file format version this code reads.
pub const OLDEST_STATE_VERSION: u8 = 1;
/// The state file's name in its directory.
pub const STATE_FILE: &str = "state";
/// Version 3's header: magic, version, reserved.
const HEADER: usize = 8;
/// Version 3's footer: symbol table offset and length, target count,
/// CRC32C.
const FOOTER: usize = 28;
/// Versions 1 and 2's header: magic, version, reserved, payload length.
const HEADER_V2: usize = 16;
/// Versions 1 and 2's footer: the CRC32C.
const FOOTER_V2: usize = 4;

/// One target's saved state and who it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetState {
    /// The scrape job.
    pub job: String,
    /// The scrape URL.
    pub url: String,
    /// The target's labels.
    pub labels: Labels,
    /// Its guard's state.
    pub state: GuardState,
}

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file's length disagrees with its header.
    #[error("{file}: length {got}, expected {expected}")]
    Length {
        /// The file.
        file: String,
        /// Length the header promises (or the minimum).
        expected: u64,
        /// Actual length.
        got: u64,
    },
    /// Not a guard state file.
    #[error("{file}: bad magic {got:02x?}, expected {expected:02x?}")]
    BadMagic {
        /// The file.
        file: String,
        /// `LGST`.
        expected: [u8; 4],
        /// What was there.
        got: [u8; 4],
    },
    /// The checksum does not match.
    #[error("{file}: checksum mismatch: stored {expected:#010x}, computed {got:#010x}")]
    Checksum {
        /// The file.
        file: String,
        /// Stored CRC32C.
        expected: u32,
        /// Computed CRC32C.
        got: u32,
    },
    /// Written by another format version (or reserved bytes set).
    #[error("{file}: unsupported version {got} (this levee reads versions {oldest} to {expected})")]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// The oldest version read here.
        oldest: u8,
        /// The newest version read here.
        expected: u8,
        /// Version byte and reserved bytes as found.
        got: u32,
    },
    /// The payload does not decode.
    #[error("{file}: malformed at byte {offset}: {what}")]
    Malformed {
        /// The file.
        file: String,
        /// Byte offset in the file.
        offset: usize,
        /// What was wrong.
        what: String,
    },
    /// Reading or writing failed.
    #[error("{file}: {source}")]
    Fs {
        /// The file.
        file: String,
        /// The failure.
        source: FsError,
    },
}

/// Reads the state file `file` from `dir`; `Ok(None)` when it does not
/// exist.
pub fn read(dir: &dyn Directory, file: &str) -> Result<Option<Vec<TargetState>>, StateError> {
    let fs_err = |source| StateError::Fs {
        file: file.to_string(),
        source,
    };
    let bytes = match dir.map(file) {
        Ok(b) => b,
        Err(FsError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(fs_err(e)),
    };
    decode(file, &bytes).map(Some)
}

/// Writes `bytes` (from [`encode`]) to `file` atomically: `<file>.tmp`,
/// fsync, rename, fsync of the directory. A failure leaves `file` as it
/// was.
pub fn write(dir: &dyn Directory, file: &str, bytes: &[u8]) -> Result<(), StateError> {
    let mut tmp = TmpFile::create(dir, file)?;
    tmp.put(bytes).map_err(|e| sink::fs_error(file, e))?;
    tmp.commit()
}
