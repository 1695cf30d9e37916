//! The guard state file (`docs/format/guard-state.md`): every guarded
//! target's [`GuardState`] with the target's identity, encoded straight
//! from each live guard with a shared symbol table and delta-coded label
//! sets (`encode.rs`), decoded with every index and length checked
//! (`decode.rs`), framed by a magic, a version and a CRC32C; and its
//! atomic write and read through a [`Directory`]. One format, version 1.
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
pub use encode::Encoder;
pub use sink::{Sink, TmpFile};

use super::state::GuardState;
use crate::labels::Labels;
use crate::tsdb::fs::{Directory, FsError};

const MAGIC: [u8; 4] = *b"LGST";
/// The state file format version this code writes and reads.
pub const STATE_VERSION: u8 = 1;
/// The state file's name in its directory.
pub const STATE_FILE: &str = "state";
/// The header: magic, version, reserved.
const HEADER: usize = 8;
/// The footer: symbol table offset and length, target count, CRC32C.
const FOOTER: usize = 28;

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
    #[error("{file}: unsupported version {got} (this levee reads version {expected})")]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// The version read here.
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

/// Writes `bytes` (a whole state file, [`Encoder::into_bytes`]) to
/// `file` atomically: `<file>.tmp`, fsync, rename, fsync of the
/// directory. A failure leaves `file` as it was.
pub fn write(dir: &dyn Directory, file: &str, bytes: &[u8]) -> Result<(), StateError> {
    let mut tmp = TmpFile::create(dir, file)?;
    tmp.put(bytes).map_err(|e| sink::fs_error(file, e))?;
    tmp.commit()
}

/// What a save of `guard` reads back as: its state as the state file
/// holds it, through the encoder and decoder the agent uses.
#[cfg(test)]
pub(crate) fn saved_state(guard: &crate::guard::TargetGuard) -> GuardState {
    let mut enc = Encoder::new();
    enc.add_guard("job", "http://target/metrics", &Labels::empty(), guard);
    let mut targets = decode("saved", &enc.into_bytes()).expect("a saved state decodes");
    targets.remove(0).state
}
