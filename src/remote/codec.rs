//! The remote-write 1.0 wire format: samples grouped by series into a
//! protobuf `WriteRequest`, compressed with snappy's block format.
//!
//! [`WriteRequestEncoder`] writes the protobuf by hand into buffers it
//! keeps between batches (no per-request message tree, no per-request
//! allocation once warm). Its output decodes with prost to the same
//! [`WriteRequest`](crate::proto::WriteRequest) (and is byte-identical to
//! prost's encoding except that a `-0.0` value is written explicitly so it
//! survives bit-exact). [`decode_write_request`] is the other direction, with
//! the decompressed size checked against a limit before anything is
//! allocated.

use super::Sample;
use crate::labels::{Label, Labels};
use crate::proto::WriteRequest;
use prost::Message;
use rustc_hash::FxHashMap;

/// Why a request body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The snappy header claims more bytes than allowed.
    #[error("snappy body decompresses to {claimed} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Decompressed length the snappy header announces.
        claimed: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The body is not valid snappy block format.
    #[error("invalid snappy block data ({len} bytes): {source}")]
    Snappy {
        /// Length of the compressed body.
        len: usize,
        /// What snap reported.
        source: snap::Error,
    },
    /// The decompressed bytes are not a valid `WriteRequest`.
    #[error("invalid WriteRequest protobuf ({len} bytes after snappy): {source}")]
    Protobuf {
        /// Length of the decompressed body.
        len: usize,
        /// What prost reported.
        source: prost::DecodeError,
    },
}

/// Why a batch could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Snappy refused the input (only for inputs over its ~4 GiB limit).
    #[error("snappy compression of {len} bytes failed: {source}")]
    Snappy {
        /// Length of the protobuf that was to be compressed.
        len: usize,
        /// What snap reported.
        source: snap::Error,
    },
}

/// Decodes a remote-write request body (snappy block format around a
/// protobuf `WriteRequest`). The decompressed length announced in the snappy
/// header is checked against `max_decoded_bytes` before any buffer is
/// allocated, so a tiny body cannot claim gigabytes.
pub fn decode_write_request(
    body: &[u8],
    max_decoded_bytes: usize,
) -> Result<WriteRequest, DecodeError> {
    let snappy_err = |source| DecodeError::Snappy {
        len: body.len(),
        source,
    };
    let claimed = snap::raw::decompress_len(body).map_err(snappy_err)?;
    if claimed > max_decoded_bytes {
        return Err(DecodeError::TooLarge {
            claimed,
            limit: max_decoded_bytes,
        });
    }
    let mut raw = vec![0u8; claimed];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut raw)
        .map_err(snappy_err)?;
    raw.truncate(n);
    WriteRequest::decode(raw.as_slice()).map_err(|source| DecodeError::Protobuf { len: n, source })
}

/// What one encoded batch holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedStats {
    /// Distinct series (TimeSeries messages).
    pub series: usize,
    /// Samples.
    pub samples: usize,
    /// Protobuf bytes before compression.
    pub uncompressed_bytes: usize,
    /// Highest sample timestamp in milliseconds (`i64::MIN` when empty).
    pub max_timestamp_ms: i64,
}

/// Encodes batches of samples into snappy-compressed `WriteRequest` bodies,
/// reusing its buffers from one batch to the next.
pub struct WriteRequestEncoder {
    /// Series-group id and sample index per sample, sorted into groups.
    order: Vec<(u32, u32)>,
    proto: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for WriteRequestEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteRequestEncoder {
    /// An encoder with empty buffers.
    pub fn new() -> Self {
        WriteRequestEncoder {
            order: Vec::new(),
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// Encodes `samples` into one request body. Samples of the same series
    /// become one `TimeSeries` (series in order of first appearance, samples
    /// in the order given); `external` labels are added to every series that
    /// does not already have a label of that name. The returned slice is
    /// valid until the next call.
    pub fn encode(
        &mut self,
        samples: &[Sample],
        external: &Labels,
    ) -> Result<(&[u8], EncodedStats), EncodeError> {
        self.encode_protobuf(samples, external);
        let max_len = snap::raw::max_compress_len(self.proto.len());
        self.compressed.resize(max_len, 0);
        let n = self
            .snappy
            .compress(&self.proto, &mut self.compressed)
            .map_err(|source| EncodeError::Snappy {
                len: self.proto.len(),
                source,
            })?;
        self.compressed.truncate(n);
        let stats = EncodedStats {
            series: self.order.last().map_or(0, |&(g, _)| g as usize + 1),
            samples: samples.len(),
            uncompressed_bytes: self.proto.len(),
            max_timestamp_ms: samples
                .iter()
                .map(|s| s.timestamp_ms)
                .max()
                .unwrap_or(i64::MIN),
        };
        Ok((&self.compressed, stats))
    }

    /// The uncompressed protobuf of the last [`encode`](Self::encode) call.
    pub fn last_protobuf(&self) -> &[u8] {
        &self.proto
    }

    fn encode_protobuf(&mut self, samples: &[Sample], external: &Labels) {
        self.group(samples);
        self.proto.clear();
        let mut i = 0;
        while i < self.order.len() {
            let group = self.order[i].0;
            let mut end = i;
            while end < self.order.len() && self.order[end].0 == group {
                end += 1;
            }
            let first = &samples[self.order[i].1 as usize];
            let members = &self.order[i..end];
            let mut labels_len = 0;
            for_each_merged(&first.labels, external, |l| {
                let n = label_len(l);
                labels_len += 1 + varint_len(n as u64) + n;
            });
            let series_len = labels_len + samples_len(members, samples);
            let proto = &mut self.proto;
            put_key(proto, 1, WIRE_LEN);
            put_varint(proto, series_len as u64);
            for_each_merged(&first.labels, external, |l| {
                put_key(proto, 1, WIRE_LEN);
                put_varint(proto, label_len(l) as u64);
                put_string(proto, 1, &l.name);
                put_string(proto, 2, &l.value);
            });
            for &(_, s) in members {
                let s = &samples[s as usize];
                put_key(&mut self.proto, 2, WIRE_LEN);
                put_varint(&mut self.proto, sample_len(s) as u64);
                let bits = s.value.to_bits();
                if bits != 0 {
                    put_key(&mut self.proto, 1, WIRE_FIXED64);
                    self.proto.extend_from_slice(&bits.to_le_bytes());
                }
                if s.timestamp_ms != 0 {
                    put_key(&mut self.proto, 2, WIRE_VARINT);
                    put_varint(&mut self.proto, s.timestamp_ms as u64);
                }
            }
            i = end;
        }
    }

    /// Fills `order` with (group, sample index), groups numbered by first
    /// appearance and samples kept in input order within a group.
    fn group(&mut self, samples: &[Sample]) {
        self.order.clear();
        let mut ids: FxHashMap<&Labels, u32> = FxHashMap::default();
        ids.reserve(samples.len());
        for (i, s) in samples.iter().enumerate() {
            let next = ids.len() as u32;
            let g = *ids.entry(&*s.labels).or_insert(next);
            self.order.push((g, i as u32));
        }
        // Stable: samples of a series keep their order.
        self.order.sort_by_key(|&(g, _)| g);
    }
}

/// Calls `f` for each label of the series with the external labels merged
/// in, in name order; the series' own value wins on a name clash.
fn for_each_merged(series: &Labels, external: &Labels, mut f: impl FnMut(&Label)) {
    let (a, b) = (series.as_slice(), external.as_slice());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i].name <= b[j].name) {
            if j < b.len() && a[i].name == b[j].name {
                j += 1;
            }
            f(&a[i]);
            i += 1;
        } else {
            f(&b[j]);
            j += 1;
        }
    }
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;

fn put_key(buf: &mut Vec<u8>, field: u8, wire: u8) {
    buf.push((field << 3) | wire);
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // Bits needed, 7 per byte; zero still takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_string(buf: &mut Vec<u8>, field: u8, s: &str) {
    if s.is_empty() {
        return;
    }
    put_key(buf, field, WIRE_LEN);
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn string_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + varint_len(s.len() as u64) + s.len()
    }
}

fn label_len(l: &Label) -> usize {
    string_field_len(&l.name) + string_field_len(&l.value)
}

fn sample_len(s: &Sample) -> usize {
    let value = if s.value.to_bits() != 0 { 9 } else { 0 };
    let ts = if s.timestamp_ms != 0 {
        1 + varint_len(s.timestamp_ms as u64)
    } else {
        0
    };
    value + ts
}

fn samples_len(members: &[(u32, u32)], samples: &[Sample]) -> usize {
    members
        .iter()
        .map(|&(_, i)| {
            let n = sample_len(&samples[i as usize]);
            1 + varint_len(n as u64) + n
        })
        .sum()
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
