//! The `head.json` file: the head's lower time bound, persisted at every
//! head cut before anything is deleted, so a reopened head never takes back
//! samples that were cut into blocks (even after retention deleted those
//! blocks). Format: `docs/format/head.md`.

use serde::{Deserialize, Serialize};

use crate::tsdb::db::DbError;
use crate::tsdb::fs::Directory;

/// The file name.
pub const HEAD_FILE: &str = "head.json";
const TMP: &str = "head.json.tmp";
/// The version this levee writes and reads.
pub const HEAD_FILE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct HeadFile {
    version: u32,
    min_valid_time: i64,
}

/// What is wrong with `head.json`.
#[derive(Debug, thiserror::Error)]
pub enum HeadFileError {
    /// It is not the JSON this levee writes (or could not be encoded).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// It was written by a version this levee does not read.
    #[error("version {got} is not supported (this levee reads version {HEAD_FILE_VERSION})")]
    UnsupportedVersion {
        /// The version in the file.
        got: u32,
    },
}

fn bad(cause: impl Into<HeadFileError>) -> DbError {
    DbError::HeadState {
        file: HEAD_FILE,
        cause: cause.into(),
    }
}

/// The stored lower bound, if the file exists.
pub fn read(dir: &dyn Directory) -> Result<Option<i64>, DbError> {
    if !dir.exists(HEAD_FILE)? {
        return Ok(None);
    }
    let bytes = dir.map(HEAD_FILE)?;
    let f: HeadFile = serde_json::from_slice(&bytes).map_err(bad)?;
    if f.version != HEAD_FILE_VERSION {
        return Err(bad(HeadFileError::UnsupportedVersion { got: f.version }));
    }
    Ok(Some(f.min_valid_time))
}

/// Stores the lower bound atomically (write, sync, rename, sync dir).
pub fn write(dir: &dyn Directory, min_valid_time: i64) -> Result<(), DbError> {
    let body = serde_json::to_vec(&HeadFile {
        version: HEAD_FILE_VERSION,
        min_valid_time,
    })
    .map_err(bad)?;
    let mut f = dir.create(TMP)?;
    f.append(&body)?;
    f.sync()?;
    drop(f);
    dir.rename(TMP, HEAD_FILE)?;
    dir.sync_dir()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::fs::MemDirectory;

    #[test]
    fn round_trip_and_bad_version() {
        let dir = MemDirectory::new();
        assert_eq!(read(&*dir).unwrap(), None);
        write(&*dir, -42).unwrap();
        assert_eq!(read(&*dir).unwrap(), Some(-42));
        let mut f = dir.create(HEAD_FILE).unwrap();
        f.append(br#"{"version":9,"min_valid_time":1}"#).unwrap();
        drop(f);
        let err = read(&*dir).unwrap_err().to_string();
        assert!(err.contains("version 9 is not supported"), "{err}");
    }
}
