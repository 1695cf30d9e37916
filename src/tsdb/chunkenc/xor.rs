//! The XOR chunk: appender ([`XorChunk`]) and iterator ([`XorIterator`]).
//! Layout in `docs/format/chunks.md`.

use super::bstream::{BitReader, BitWriter, ReadError};
use super::{ChunkError, MAX_SAMPLES_PER_CHUNK};

/// Size of the sample-count header.
const HEADER_LEN: usize = 2;
/// "No XOR window written yet".
const NO_WINDOW: u32 = u32::MAX;

/// Delta-of-delta buckets: (prefix bit count, payload bits).
/// The 7-bit bucket is the Gorilla paper's: it keeps the few milliseconds
/// of scrape jitter at 10 bits per timestamp (Prometheus' smallest bucket,
/// 14 bits, makes it 16).
const DOD_BUCKETS: [(u32, u32); 3] = [(2, 7), (3, 14), (4, 20)];

/// Whether `x` fits an `n`-bit dod bucket: −(2ⁿ⁻¹−1) ..= 2ⁿ⁻¹.
fn fits_bits(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// A chunk being appended to. Holds its encoded bytes and just enough state
/// to append the next sample.
#[derive(Debug, Clone)]
pub struct XorChunk {
    stream: BitWriter,
    num: u16,
    min_t: i64,
    t: i64,
    delta: i64,
    v_bits: u64,
    leading: u32,
    trailing: u32,
}

impl Default for XorChunk {
    fn default() -> Self {
        XorChunk::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        XorChunk {
            stream: BitWriter::new(vec![0; HEADER_LEN]),
            num: 0,
            min_t: 0,
            t: 0,
            delta: 0,
            v_bits: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Reloads a chunk from its bytes (validating all of them) so appending
    /// can continue where it stopped.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        let mut it = XorIterator::new(&bytes)?;
        for sample in it.by_ref() {
            sample?;
        }
        let end = it.finish()?;
        let free = (bytes.len() * 8 - end) as u32;
        let (num, min_t, t, delta, v_bits) = (it.num, it.first_t, it.t, it.delta, it.v_bits);
        let (leading, trailing) = (it.leading, it.trailing);
        Ok(XorChunk {
            stream: BitWriter::resume(bytes, free),
            num,
            min_t,
            t,
            delta,
            v_bits,
            leading,
            trailing,
        })
    }

    /// The chunk's bytes: the 2-byte header and the bit stream.
    pub fn bytes(&self) -> &[u8] {
        self.stream.bytes()
    }

    /// Number of samples in the chunk.
    pub fn num_samples(&self) -> u16 {
        self.num
    }

    /// Whether the chunk holds no samples.
    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    /// Whether the chunk holds [`MAX_SAMPLES_PER_CHUNK`] samples.
    pub fn is_full(&self) -> bool {
        self.num >= MAX_SAMPLES_PER_CHUNK
    }

    /// First and last timestamp, if any samples.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        (self.num > 0).then_some((self.min_t, self.t))
    }

    /// Appends a sample. Timestamps must strictly increase
    /// ([`ChunkError::OutOfOrder`]); a full chunk returns
    /// [`ChunkError::Full`]. On error the chunk is unchanged.
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        if self.is_full() {
            return Err(ChunkError::Full {
                max: MAX_SAMPLES_PER_CHUNK,
            });
        }
        let v_bits = v.to_bits();
        match self.num {
            0 => {
                self.stream.write_varint(t);
                self.stream.write_bits(v_bits, 64);
                self.min_t = t;
            }
            n => {
                if t <= self.t {
                    return Err(ChunkError::OutOfOrder {
                        last: self.t,
                        got: t,
                    });
                }
                let delta = t.checked_sub(self.t).ok_or(ChunkError::TimestampOverflow {
                    last: self.t,
                    got: t,
                })?;
                if n == 1 {
                    self.stream.write_uvarint(delta as u64);
                } else {
                    self.write_dod(delta - self.delta);
                }
                self.write_value(v_bits);
                self.delta = delta;
            }
        }
        self.t = t;
        self.v_bits = v_bits;
        self.num += 1;
        let header = self.num.to_be_bytes();
        self.stream.bytes_mut()[..HEADER_LEN].copy_from_slice(&header);
        Ok(())
    }

    /// Iterates the chunk's samples.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator {
            reader: BitReader::new(&self.bytes()[HEADER_LEN..]),
            ..XorIterator::empty(self.num)
        }
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.stream.write_bit(false);
            return;
        }
        for (prefix, bits) in DOD_BUCKETS {
            if fits_bits(dod, bits) {
                // `prefix − 1` ones then a zero.
                self.stream.write_bits((1 << prefix) - 2, prefix);
                self.stream.write_bits(dod as u64, bits);
                return;
            }
        }
        self.stream.write_bits(0b1111, 4);
        self.stream.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, v_bits: u64) {
        let x = v_bits ^ self.v_bits;
        if x == 0 {
            self.stream.write_bit(false);
            return;
        }
        self.stream.write_bit(true);
        let leading = x.leading_zeros().min(31);
        let trailing = x.trailing_zeros();
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            self.stream.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.stream.write_bits(x >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let sig = 64 - leading - trailing;
        self.stream.write_bit(true);
        self.stream.write_bits(u64::from(leading), 5);
        self.stream.write_bits(u64::from(sig % 64), 6);
        self.stream.write_bits(x >> trailing, sig);
    }
}

/// Iterates the samples of an XOR chunk as `(timestamp, value)` pairs,
/// validating as it goes: a damaged chunk yields one `Err` and then ends.
#[derive(Debug, Clone)]
pub struct XorIterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    num: u16,
    first_t: i64,
    t: i64,
    delta: i64,
    v_bits: u64,
    leading: u32,
    trailing: u32,
    /// The last sample returned by `next`/`seek`.
    current: Option<(i64, f64)>,
    failed: bool,
}

impl<'a> XorIterator<'a> {
    /// An iterator over the chunk `bytes` (header included), checking the
    /// header.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let header: [u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(ChunkError::TooShort { len: bytes.len() })?;
        let total = u16::from_be_bytes(header);
        if total > MAX_SAMPLES_PER_CHUNK {
            return Err(ChunkError::TooManySamples {
                got: total,
                max: MAX_SAMPLES_PER_CHUNK,
            });
        }
        Ok(XorIterator {
            reader: BitReader::new(&bytes[HEADER_LEN..]),
            ..XorIterator::empty(total)
        })
    }

    fn empty(total: u16) -> Self {
        XorIterator {
            reader: BitReader::new(&[]),
            total,
            num: 0,
            first_t: 0,
            t: 0,
            delta: 0,
            v_bits: 0,
            leading: NO_WINDOW,
            trailing: 0,
            current: None,
            failed: false,
        }
    }

    /// The number of samples the chunk holds.
    pub fn len(&self) -> u16 {
        self.total
    }

    /// Whether the chunk holds no samples.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The sample last returned by `next` or `seek`.
    pub fn at(&self) -> Option<(i64, f64)> {
        self.current
    }

    /// Moves to the first sample with timestamp ≥ `t` and returns it. If the
    /// sample last returned already qualifies, it is returned again.
    pub fn seek(&mut self, t: i64) -> Option<Result<(i64, f64), ChunkError>> {
        if let Some(cur) = self.current.filter(|c| c.0 >= t) {
            return Some(Ok(cur));
        }
        loop {
            match self.next()? {
                Ok(s) if s.0 < t => continue,
                other => return Some(other),
            }
        }
    }

    /// After all samples: checks that only padding (< 8 bits) is left and
    /// returns the bit position the stream ended at (header excluded, plus
    /// 16 for the header).
    fn finish(&self) -> Result<usize, ChunkError> {
        let extra_bits = self.reader.total_bits() - self.reader.pos();
        let padding_is_zero =
            extra_bits < 8 && matches!(self.reader.clone().read_bits(extra_bits as u32), Ok(0));
        if !padding_is_zero {
            return Err(ChunkError::TrailingBits { extra_bits });
        }
        Ok(self.reader.pos() + HEADER_LEN * 8)
    }

    fn error(&self, e: ReadError) -> ChunkError {
        match e {
            ReadError::Eof => ChunkError::Truncated {
                sample: self.num,
                bit: self.reader.pos(),
                total_bits: self.reader.total_bits(),
            },
            ReadError::VarintTooLong => ChunkError::VarintTooLong { sample: self.num },
        }
    }

    fn decode_next(&mut self) -> Result<(i64, f64), ChunkError> {
        let sample = self.num;
        let bad_t = ChunkError::BadTimestamp { sample };
        match sample {
            0 => {
                self.t = self.reader.read_varint().map_err(|e| self.error(e))?;
                self.first_t = self.t;
                self.v_bits = self.reader.read_bits(64).map_err(|e| self.error(e))?;
            }
            n => {
                let delta = if n == 1 {
                    let d = self.reader.read_uvarint().map_err(|e| self.error(e))?;
                    i64::try_from(d).map_err(|_| bad_t.clone())?
                } else {
                    let dod = self.read_dod()?;
                    self.delta.checked_add(dod).ok_or(bad_t.clone())?
                };
                if delta <= 0 {
                    return Err(bad_t);
                }
                self.t = self.t.checked_add(delta).ok_or(bad_t)?;
                self.delta = delta;
                self.read_value()?;
            }
        }
        self.num += 1;
        Ok((self.t, f64::from_bits(self.v_bits)))
    }

    fn read_dod(&mut self) -> Result<i64, ChunkError> {
        let mut ones = 0;
        while ones < 4 {
            if !self.reader.read_bit().map_err(|e| self.error(e))? {
                break;
            }
            ones += 1;
        }
        let bits = match ones {
            0 => return Ok(0),
            4 => 64,
            n => DOD_BUCKETS[n - 1].1,
        };
        let raw = self.reader.read_bits(bits).map_err(|e| self.error(e))?;
        if bits == 64 {
            return Ok(raw as i64);
        }
        let raw = raw as i64;
        Ok(if raw > 1 << (bits - 1) {
            raw - (1 << bits)
        } else {
            raw
        })
    }

    fn read_value(&mut self) -> Result<(), ChunkError> {
        if !self.reader.read_bit().map_err(|e| self.error(e))? {
            return Ok(());
        }
        let new_window = self.reader.read_bit().map_err(|e| self.error(e))?;
        if new_window {
            let leading = self.reader.read_bits(5).map_err(|e| self.error(e))? as u32;
            let mut sig = self.reader.read_bits(6).map_err(|e| self.error(e))? as u32;
            if sig == 0 {
                sig = 64;
            }
            if leading + sig > 64 {
                return Err(ChunkError::BadXorWindow {
                    sample: self.num,
                    leading,
                    significant: sig,
                });
            }
            self.leading = leading;
            self.trailing = 64 - leading - sig;
        } else if self.leading == NO_WINDOW {
            return Err(ChunkError::BadXorWindow {
                sample: self.num,
                leading: 0,
                significant: 0,
            });
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.reader.read_bits(sig).map_err(|e| self.error(e))?;
        self.v_bits ^= bits << self.trailing;
        Ok(())
    }
}

impl Iterator for XorIterator<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.num >= self.total {
            return None;
        }
        match self.decode_next() {
            Ok(s) => {
                self.current = Some(s);
                Some(Ok(s))
            }
            Err(e) => {
                self.failed = true;
                self.current = None;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests;
