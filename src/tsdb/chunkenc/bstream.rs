//! Bit streams, most significant bit first: the writer the appender uses and
//! the reader the iterator uses.

/// Appends bits to a byte vector.
#[derive(Debug, Clone)]
pub(super) struct BitWriter {
    bytes: Vec<u8>,
    /// Unused low bits in the last byte.
    free: u32,
}

impl BitWriter {
    /// A writer appending after `prefix` (which it treats as whole bytes).
    pub(super) fn new(prefix: Vec<u8>) -> Self {
        BitWriter {
            bytes: prefix,
            free: 0,
        }
    }

    /// Continues writing a stream whose last byte has `free` unused bits.
    pub(super) fn resume(bytes: Vec<u8>, free: u32) -> Self {
        BitWriter { bytes, free }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(super) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    pub(super) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v` (n ≤ 64), most significant first.
    pub(super) fn write_bits(&mut self, v: u64, mut n: u32) {
        while n > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (self.free - take);
            }
            self.free -= take;
            n -= take;
        }
    }

    /// Writes an unsigned LEB128 varint, byte by byte.
    pub(super) fn write_uvarint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.write_bits(u64::from(byte), 8);
                return;
            }
            self.write_bits(u64::from(byte | 0x80), 8);
        }
    }

    /// Writes a zig-zag signed varint.
    pub(super) fn write_varint(&mut self, v: i64) {
        self.write_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }
}

/// Reads bits from a byte slice.
#[derive(Debug, Clone)]
pub(super) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next bit to read.
    pos: usize,
}

/// The stream ended before the requested bits.
#[derive(Debug)]
pub(super) enum ReadError {
    Eof,
    VarintTooLong,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn total_bits(&self) -> usize {
        self.bytes.len() * 8
    }

    pub(super) fn read_bit(&mut self) -> Result<bool, ReadError> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Reads `n` bits (n ≤ 64) as the low bits of the result.
    pub(super) fn read_bits(&mut self, mut n: u32) -> Result<u64, ReadError> {
        if self.pos + n as usize > self.total_bits() {
            return Err(ReadError::Eof);
        }
        let mut v = 0u64;
        while n > 0 {
            let byte = self.bytes[self.pos / 8];
            let avail = 8 - (self.pos % 8) as u32;
            let take = n.min(avail);
            let bits = (u32::from(byte) >> (avail - take)) & ((1u32 << take) - 1);
            v = (v << take) | u64::from(bits);
            self.pos += take as usize;
            n -= take;
        }
        Ok(v)
    }

    pub(super) fn read_uvarint(&mut self) -> Result<u64, ReadError> {
        let mut v = 0u64;
        for i in 0..10 {
            let byte = self.read_bits(8)?;
            if i == 9 && byte > 1 {
                return Err(ReadError::VarintTooLong);
            }
            v |= (byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ReadError::VarintTooLong)
    }

    pub(super) fn read_varint(&mut self) -> Result<i64, ReadError> {
        let u = self.read_uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}
