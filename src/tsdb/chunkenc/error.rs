//! Errors of chunk encoding and decoding.

/// An error appending to or decoding a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A sample's timestamp is not after the chunk's last timestamp.
    #[error("out-of-order sample: timestamp {got} is not after the last timestamp {last}")]
    OutOfOrder {
        /// The chunk's last timestamp.
        last: i64,
        /// The rejected timestamp.
        got: i64,
    },
    /// The chunk already holds the maximum number of samples.
    #[error("chunk is full ({max} samples)")]
    Full {
        /// The maximum.
        max: u16,
    },
    /// The gap to the previous timestamp does not fit an `i64`.
    #[error("timestamp {got} is too far from the last timestamp {last}")]
    TimestampOverflow {
        /// The chunk's last timestamp.
        last: i64,
        /// The rejected timestamp.
        got: i64,
    },
    /// The encoding byte names no known encoding.
    #[error("unknown chunk encoding {got} (expected 1 = XOR)")]
    UnknownEncoding {
        /// The byte read.
        got: u8,
    },
    /// The chunk is shorter than its 2-byte header.
    #[error("chunk of {len} bytes is shorter than its 2-byte header")]
    TooShort {
        /// The chunk's length.
        len: usize,
    },
    /// The header claims more samples than a chunk may hold.
    #[error("chunk header claims {got} samples, at most {max} allowed")]
    TooManySamples {
        /// The count read.
        got: u16,
        /// The maximum.
        max: u16,
    },
    /// The bit stream ended inside sample `sample`.
    #[error("chunk ends inside sample {sample} (bit {bit} of {total_bits})")]
    Truncated {
        /// Index of the sample being decoded.
        sample: u16,
        /// Bit position where reading stopped.
        bit: usize,
        /// Bits in the stream.
        total_bits: usize,
    },
    /// A decoded timestamp delta is not positive or overflows.
    #[error("sample {sample}: invalid timestamp delta")]
    BadTimestamp {
        /// Index of the sample.
        sample: u16,
    },
    /// A varint is longer than 10 bytes.
    #[error("sample {sample}: varint longer than 10 bytes")]
    VarintTooLong {
        /// Index of the sample.
        sample: u16,
    },
    /// An XOR block's window does not fit 64 bits.
    #[error("sample {sample}: XOR window of {leading} leading and {significant} significant bits")]
    BadXorWindow {
        /// Index of the sample.
        sample: u16,
        /// Leading zero count read.
        leading: u32,
        /// Significant bit count read.
        significant: u32,
    },
    /// Bits left over after the last sample beyond the zero padding of the
    /// last byte.
    #[error("{extra_bits} bits left after the last sample are not zero padding")]
    TrailingBits {
        /// Bits past the last sample.
        extra_bits: usize,
    },
}
