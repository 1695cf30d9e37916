//! Where an encoded state file goes as it is encoded: a [`Sink`] (the
//! bytes in memory, or `state.tmp` in a [`Directory`] renamed over
//! `state` once whole: [`TmpFile`]) behind [`Out`], a fixed buffer that is
//! handed to the sink each time it is full, with the CRC32C and the length
//! of everything put through it. A failed write is kept (the first one)
//! and reported when the file is finished, as `std::io::BufWriter` and
//! Go's `bufio.Writer` keep theirs: encoding goes on without writing, so
//! the encoder's `add` keeps its infallible shape.

use super::StateError;
use crate::tsdb::fs::{Directory, FsError, WriteFile};
use crate::varint::put_uvarint;

/// The buffer's size: what a save holds of the file's body at a time.
pub const BUFFER: usize = 64 << 10;

/// Takes the bytes of a state file in order.
pub trait Sink {
    /// Why a put failed.
    type Error;
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
}

impl Sink for Vec<u8> {
    type Error = std::convert::Infallible;
    fn put(&mut self, bytes: &[u8]) -> Result<(), Self::Error> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// `<file>.tmp` in a directory, becoming `<file>` by
/// [`TmpFile::commit`]: fsync, rename, fsync of the directory. Dropped
/// without a commit, it leaves `<file>` as it was.
pub struct TmpFile<'d> {
    dir: &'d dyn Directory,
    file: String,
    tmp: Box<dyn WriteFile>,
}

impl<'d> TmpFile<'d> {
    /// Creates (or truncates) `<file>.tmp` in `dir`.
    pub fn create(dir: &'d dyn Directory, file: &str) -> Result<TmpFile<'d>, StateError> {
        let tmp = dir
            .create(&format!("{file}.tmp"))
            .map_err(|e| fs_error(file, e))?;
        Ok(TmpFile {
            dir,
            file: file.to_string(),
            tmp,
        })
    }

    /// The file this becomes.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Makes what was put durable and renames it over the file.
    pub fn commit(self) -> Result<(), StateError> {
        let TmpFile { dir, file, mut tmp } = self;
        let err = |e| fs_error(&file, e);
        tmp.sync().map_err(err)?;
        drop(tmp);
        dir.rename(&format!("{file}.tmp"), &file).map_err(err)?;
        dir.sync_dir().map_err(err)
    }
}

impl Sink for TmpFile<'_> {
    type Error = FsError;
    fn put(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        self.tmp.append(bytes)
    }
}

/// A file error as a [`StateError`].
pub fn fs_error(file: &str, source: FsError) -> StateError {
    StateError::Fs {
        file: file.to_string(),
        source,
    }
}

/// A buffer in front of a sink, keeping the CRC32C and the length of
/// what went through, and the sink's first error.
pub struct Out<S: Sink> {
    sink: S,
    buf: Vec<u8>,
    crc: u32,
    flushed: u64,
    err: Option<S::Error>,
}

impl<S: Sink> Out<S> {
    /// An empty buffer in front of `sink`.
    pub fn new(sink: S) -> Out<S> {
        Out {
            sink,
            buf: Vec::with_capacity(BUFFER),
            crc: 0,
            flushed: 0,
            err: None,
        }
    }

    /// Hands the buffer to the sink (unless it failed before).
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        self.put(&buf);
        self.buf = buf;
        self.buf.clear();
    }

    /// Hands `bytes` to the sink (unless it failed before).
    fn put(&mut self, bytes: &[u8]) {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.flushed += bytes.len() as u64;
        if self.err.is_none()
            && let Err(e) = self.sink.put(bytes)
        {
            self.err = Some(e);
        }
    }

    /// Makes room for `n` (at most [`BUFFER`]) more bytes in the buffer,
    /// flushing it when it has not.
    #[inline]
    fn room(&mut self, n: usize) {
        if self.buf.capacity() - self.buf.len() < n {
            self.flush();
        }
    }

    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, b: u8) {
        self.room(1);
        self.buf.push(b);
    }

    /// Appends `bytes` (as they are, behind the buffer, when they would
    /// fill it).
    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) {
        if bytes.len() >= BUFFER {
            self.flush();
            self.put(bytes);
            return;
        }
        self.room(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// Appends `v` as an unsigned LEB128 varint.
    #[inline]
    pub fn uvarint(&mut self, v: u64) {
        self.room(10);
        put_uvarint(&mut self.buf, v);
    }

    /// Bytes put so far.
    pub fn len(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// Whether a write has failed (the rest is encoded but not written).
    pub fn failed(&self) -> bool {
        self.err.is_some()
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Flushes, appends the CRC32C of everything put, and returns the sink
    /// with the total length, or the first failure.
    pub fn finish(mut self) -> Result<(S, u64), S::Error> {
        self.flush();
        let crc = self.crc.to_le_bytes();
        if let Some(e) = self.err {
            return Err(e);
        }
        self.sink.put(&crc)?;
        Ok((self.sink, self.flushed + crc.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that fails from its `fail_at`th put on.
    struct Failing {
        puts: usize,
        fail_at: usize,
        got: Vec<u8>,
    }

    impl Sink for Failing {
        type Error = FsError;
        fn put(&mut self, bytes: &[u8]) -> Result<(), FsError> {
            self.puts += 1;
            if self.puts >= self.fail_at {
                return Err(FsError::Io {
                    op: "append",
                    path: "f".into(),
                    source: std::io::Error::other("disk full").into(),
                });
            }
            self.got.extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn bytes_go_out_in_order_in_buffers_with_their_crc_last() {
        let mut out = Out::new(Vec::new());
        let mut want = Vec::new();
        for i in 0..100_000u64 {
            out.uvarint(i * 977);
            put_uvarint(&mut want, i * 977);
            out.push(i as u8);
            want.push(i as u8);
            if i % 10_000 == 0 {
                let big = vec![i as u8; 3 * BUFFER];
                out.extend(&big);
                want.extend_from_slice(&big);
            }
            assert_eq!(out.buf.capacity(), BUFFER);
        }
        assert_eq!(out.len(), want.len() as u64);
        let Ok((got, len)) = out.finish();
        let crc = crc32c::crc32c(&want);
        want.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(len, want.len() as u64);
        assert_eq!(got, want);
    }

    #[test]
    fn the_first_failure_is_kept_and_nothing_after_it_is_written() {
        let mut out = Out::new(Failing {
            puts: 0,
            fail_at: 2,
            got: Vec::new(),
        });
        for i in 0..4 * BUFFER {
            out.push(i as u8);
        }
        assert!(out.failed());
        assert_eq!(out.len(), 4 * BUFFER as u64);
        let err = out.finish().err().expect("failed");
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
