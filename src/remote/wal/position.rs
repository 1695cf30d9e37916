//! The durable position of one endpoint in the WAL: file name, the 24-byte
//! format of `docs/format/remote_position.md`, atomic write and read.

use super::error::PositionError;
use crate::tsdb::fs::{Directory, FsError};
use crate::tsdb::wal::Position;
use md5::{Digest, Md5};

const MAGIC: [u8; 4] = *b"LRWP";
/// The position file format version this code writes and reads.
pub const POSITION_VERSION: u8 = 1;
const LEN: usize = 24;

/// The position file name of the endpoint called `name`: `<name>.pos` when
/// the name is a safe file name, else `md5-<hex of the name's MD5>.pos`.
pub fn file_name(name: &str) -> String {
    let safe = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if safe {
        format!("{name}.pos")
    } else {
        let digest = Md5::digest(name.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("md5-{hex}.pos")
    }
}

/// Encodes `pos` as the 24 bytes of a position file.
pub fn encode(pos: Position) -> [u8; LEN] {
    let mut b = [0u8; LEN];
    b[..4].copy_from_slice(&MAGIC);
    b[4] = POSITION_VERSION;
    b[8..12].copy_from_slice(&pos.segment.to_le_bytes());
    b[12..20].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32c::crc32c(&b[..20]);
    b[20..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Decodes the bytes of position file `file`.
pub fn decode(file: &str, b: &[u8]) -> Result<Position, PositionError> {
    if b.len() != LEN {
        return Err(PositionError::Length {
            file: file.to_string(),
            expected: LEN as u64,
            got: b.len() as u64,
        });
    }
    let word = |r: std::ops::Range<usize>| -> [u8; 4] {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[r]);
        w
    };
    let magic = word(0..4);
    if magic != MAGIC {
        return Err(PositionError::BadMagic {
            file: file.to_string(),
            expected: MAGIC,
            got: magic,
        });
    }
    let stored = u32::from_le_bytes(word(20..24));
    let computed = crc32c::crc32c(&b[..20]);
    if stored != computed {
        return Err(PositionError::Checksum {
            file: file.to_string(),
            expected: stored,
            got: computed,
        });
    }
    let version = u32::from_le_bytes(word(4..8));
    if version != u32::from(POSITION_VERSION) {
        return Err(PositionError::UnsupportedVersion {
            file: file.to_string(),
            expected: POSITION_VERSION,
            got: version,
        });
    }
    let mut off = [0u8; 8];
    off.copy_from_slice(&b[12..20]);
    Ok(Position {
        segment: u32::from_le_bytes(word(8..12)),
        offset: u64::from_le_bytes(off),
    })
}

/// Reads position file `file` from `dir`; `Ok(None)` when it does not exist.
pub fn read(dir: &dyn Directory, file: &str) -> Result<Option<Position>, PositionError> {
    let fs_err = |source| PositionError::Fs {
        file: file.to_string(),
        source,
    };
    let f = match dir.open_read(file) {
        Ok(f) => f,
        Err(FsError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(fs_err(e)),
    };
    let len = f.size().map_err(fs_err)?;
    if len != LEN as u64 {
        return Err(PositionError::Length {
            file: file.to_string(),
            expected: LEN as u64,
            got: len,
        });
    }
    let mut b = [0u8; LEN];
    f.read_exact_at(0, &mut b).map_err(fs_err)?;
    decode(file, &b).map(Some)
}

/// Writes `pos` to `file` atomically: `<file>.tmp`, fsync, rename, fsync
/// of the directory.
pub fn write(dir: &dyn Directory, file: &str, pos: Position) -> Result<(), PositionError> {
    let fs_err = |source| PositionError::Fs {
        file: file.to_string(),
        source,
    };
    let tmp = format!("{file}.tmp");
    let mut f = dir.create(&tmp).map_err(fs_err)?;
    f.append(&encode(pos)).map_err(fs_err)?;
    f.sync().map_err(fs_err)?;
    drop(f);
    dir.rename(&tmp, file).map_err(fs_err)?;
    dir.sync_dir().map_err(fs_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::fs::MemDirectory;

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = MemDirectory::new();
        let f = file_name("vm");
        assert_eq!(read(&*dir, &f).unwrap(), None);
        let p = Position {
            segment: 7,
            offset: 123_456,
        };
        write(&*dir, &f, p).unwrap();
        assert_eq!(read(&*dir, &f).unwrap(), Some(p));
        let q = Position {
            segment: u32::MAX,
            offset: u64::MAX,
        };
        write(&*dir, &f, q).unwrap();
        assert_eq!(read(&*dir, &f).unwrap(), Some(q));
        assert!(!dir.exists(&format!("{f}.tmp")).unwrap());
    }

    #[test]
    fn names() {
        assert_eq!(file_name("a1b2c3"), "a1b2c3.pos");
        assert_eq!(file_name("prod-vm_1.eu"), "prod-vm_1.eu.pos");
        let odd = file_name("../etc/passwd");
        assert!(odd.starts_with("md5-") && odd.len() == 4 + 32 + 4, "{odd}");
        assert_ne!(file_name("a/b"), file_name("a:b"));
        assert!(file_name(".hidden").starts_with("md5-"));
    }

    #[test]
    fn every_damage_is_a_typed_error() {
        let good = encode(Position {
            segment: 3,
            offset: 99,
        });
        assert!(matches!(
            decode("f", &good[..23]),
            Err(PositionError::Length { got: 23, .. })
        ));
        let mut b = good;
        b[0] = b'X';
        assert!(matches!(
            decode("f", &b),
            Err(PositionError::BadMagic { .. })
        ));
        for i in 4..24 {
            let mut b = good;
            b[i] ^= 0x40;
            assert!(
                matches!(decode("f", &b), Err(PositionError::Checksum { .. })),
                "byte {i}"
            );
        }
        // A future version with a valid checksum.
        let mut b = good;
        b[4] = 2;
        let crc = crc32c::crc32c(&b[..20]);
        b[20..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode("f", &b),
            Err(PositionError::UnsupportedVersion { got: 2, .. })
        ));
    }
}
