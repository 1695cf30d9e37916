//! Record frames: `header_crc | len | kind | payload_crc | payload`
//! (`docs/format/wal.md`). Encoding, and reading one frame from a file
//! with the torn-versus-corrupt distinction the WAL's repair relies on.

use crate::tsdb::fs::{FsError, ReadFile};

use super::{Corruption, MAX_RECORD_BYTES, WalError};

/// Length of a frame header.
pub(super) const FRAME_HEADER_LEN: usize = 13;
/// Payload kind: snappy raw block.
const KIND_SNAPPY: u8 = 1;

/// Appends the frame of `record` to `out`.
pub(super) fn encode(
    record: &[u8],
    out: &mut Vec<u8>,
    encoder: &mut snap::raw::Encoder,
) -> Result<(), WalError> {
    if record.len() > MAX_RECORD_BYTES {
        return Err(WalError::RecordTooLarge {
            len: record.len(),
            max: MAX_RECORD_BYTES,
        });
    }
    let start = out.len();
    let payload_start = start + FRAME_HEADER_LEN;
    out.resize(payload_start + snap::raw::max_compress_len(record.len()), 0);
    let stored = encoder
        .compress(record, &mut out[payload_start..])
        .map_err(|_| WalError::RecordTooLarge {
            len: record.len(),
            max: MAX_RECORD_BYTES,
        })?;
    out.truncate(payload_start + stored);
    let payload_crc = crc32c::crc32c(&out[payload_start..]);
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[4..8].copy_from_slice(&(stored as u32).to_le_bytes());
    header[8] = KIND_SNAPPY;
    header[9..13].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&header[4..]);
    header[..4].copy_from_slice(&header_crc.to_le_bytes());
    out[start..payload_start].copy_from_slice(&header);
    Ok(())
}

/// What is found at an offset of a segment.
#[derive(Debug)]
pub(super) enum Frame {
    /// A whole, valid record, now in the output buffer; the next frame
    /// starts at `end`.
    Record { end: u64 },
    /// The offset is the end of the file.
    End,
    /// The file ends inside a frame whose header (if whole) is valid, or in
    /// a run of zero bytes: a write that stopped partway.
    Torn,
    /// A damaged frame.
    Corrupt(Corruption),
}

/// Reusable buffers for reading frames.
#[derive(Default)]
pub(super) struct FrameReader {
    stored: Vec<u8>,
    decoder: snap::raw::Decoder,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader").finish_non_exhaustive()
    }
}

impl FrameReader {
    /// Reads the frame at `offset` of `file`, whose length is `len`, and
    /// decompresses its record into `out`.
    pub(super) fn read(
        &mut self,
        file: &dyn ReadFile,
        offset: u64,
        len: u64,
        out: &mut Vec<u8>,
    ) -> Result<Frame, FsError> {
        if offset >= len {
            return Ok(Frame::End);
        }
        if len - offset < FRAME_HEADER_LEN as u64 {
            return Ok(Frame::Torn);
        }
        let mut header = [0u8; FRAME_HEADER_LEN];
        file.read_exact_at(offset, &mut header)?;
        let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let expected = le32(&header[..4]);
        let got = crc32c::crc32c(&header[4..]);
        if expected != got {
            if zeros_to_end(file, offset, len)? {
                return Ok(Frame::Torn);
            }
            return Ok(Frame::Corrupt(Corruption::HeaderChecksum { expected, got }));
        }
        let stored_len = le32(&header[4..8]);
        let kind = header[8];
        let payload_crc = le32(&header[9..13]);
        let max_stored = snap::raw::max_compress_len(MAX_RECORD_BYTES) as u64;
        if u64::from(stored_len) > max_stored {
            return Ok(Frame::Corrupt(Corruption::TooLarge {
                len: u64::from(stored_len),
                max: max_stored,
            }));
        }
        let end = offset + FRAME_HEADER_LEN as u64 + u64::from(stored_len);
        if end > len {
            return Ok(Frame::Torn);
        }
        self.stored.resize(stored_len as usize, 0);
        file.read_exact_at(offset + FRAME_HEADER_LEN as u64, &mut self.stored)?;
        let got = crc32c::crc32c(&self.stored);
        if got != payload_crc {
            return Ok(Frame::Corrupt(Corruption::PayloadChecksum {
                expected: payload_crc,
                got,
            }));
        }
        if kind != KIND_SNAPPY {
            return Ok(Frame::Corrupt(Corruption::UnknownKind { got: kind }));
        }
        let decoded_len = match snap::raw::decompress_len(&self.stored) {
            Ok(n) => n,
            Err(e) => return Ok(Frame::Corrupt(Corruption::Snappy(e))),
        };
        if decoded_len > MAX_RECORD_BYTES {
            return Ok(Frame::Corrupt(Corruption::TooLarge {
                len: decoded_len as u64,
                max: MAX_RECORD_BYTES as u64,
            }));
        }
        out.resize(decoded_len, 0);
        match self.decoder.decompress(&self.stored, out) {
            Ok(n) if n == decoded_len => Ok(Frame::Record { end }),
            Ok(got) => Ok(Frame::Corrupt(Corruption::SnappyLength {
                expected: decoded_len,
                got,
            })),
            Err(e) => Ok(Frame::Corrupt(Corruption::Snappy(e))),
        }
    }
}

/// Whether every byte of `file` from `offset` to `len` is zero (a tail the
/// file system extended but never filled).
fn zeros_to_end(file: &dyn ReadFile, mut offset: u64, len: u64) -> Result<bool, FsError> {
    let mut buf = vec![0u8; 64 << 10];
    while offset < len {
        let n = buf.len().min((len - offset) as usize);
        file.read_exact_at(offset, &mut buf[..n])?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}
