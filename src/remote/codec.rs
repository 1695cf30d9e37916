//! The remote-write 1.0 wire format: samples grouped by series into a
//! protobuf `WriteRequest`, compressed with snappy's block format; and the
//! series grouping and protobuf primitives the 2.0 encoder
//! ([`codec_v2`](super::codec_v2)) shares.
//!
//! [`WriteRequestEncoder`] writes the protobuf by hand into buffers it
//! keeps between batches (no per-request message tree, no per-request
//! allocation once warm). Its output decodes with prost to the same
//! [`WriteRequest`](crate::proto::WriteRequest) (and is byte-identical to
//! prost's encoding except that a `-0.0` value is written explicitly so it
//! survives bit-exact). [`decode_write_request`] is the other direction, with
//! the decompressed size checked against a limit before anything is
//! allocated.

use crate::labels::{LabelRef, Labels};
use crate::pipeline::Sample;
use crate::proto::WriteRequest;
use crate::varint::{put_uvarint, uvarint_len};
use prost::Message;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

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
    groups: Grouper,
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
            groups: Grouper::default(),
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
        self.groups.group(samples);
        self.encode_protobuf(samples, external);
        let stats = compress(
            &mut self.snappy,
            &self.proto,
            &mut self.compressed,
            self.groups.len(),
            samples,
        )?;
        Ok((&self.compressed, stats))
    }

    /// The uncompressed protobuf of the last [`encode`](Self::encode) call.
    pub fn last_protobuf(&self) -> &[u8] {
        &self.proto
    }

    fn encode_protobuf(&mut self, samples: &[Sample], external: &Labels) {
        self.proto.clear();
        for g in 0..self.groups.len() {
            let members = self.groups.members(g);
            let first = &samples[members[0] as usize];
            let mut labels_len = 0;
            for_each_merged(&first.labels, external, |l| {
                let n = label_len(l);
                labels_len += 1 + uvarint_len(n as u64) + n;
            });
            let series_len = labels_len + samples_len(members, samples);
            let proto = &mut self.proto;
            put_key(proto, 1, WIRE_LEN);
            put_uvarint(proto, series_len as u64);
            for_each_merged(&first.labels, external, |l| {
                put_key(proto, 1, WIRE_LEN);
                put_uvarint(proto, label_len(l) as u64);
                put_string(proto, 1, l.name);
                put_string(proto, 2, l.value);
            });
            for &i in members {
                let s = &samples[i as usize];
                put_key(proto, 2, WIRE_LEN);
                put_uvarint(proto, sample_len(s) as u64);
                let bits = s.value.to_bits();
                if bits != 0 {
                    put_key(proto, 1, WIRE_FIXED64);
                    proto.extend_from_slice(&bits.to_le_bytes());
                }
                if s.timestamp_ms != 0 {
                    put_key(proto, 2, WIRE_VARINT);
                    put_uvarint(proto, s.timestamp_ms as u64);
                }
            }
        }
    }
}

const NONE: u32 = u32::MAX;

/// Groups a batch's samples by series without borrowing the batch between
/// calls: series are found by label hash (collisions chained and resolved
/// by comparing label sets), then sample indices are counting-sorted by
/// group, so every buffer is reused.
#[derive(Default)]
pub(super) struct Grouper {
    by_hash: FxHashMap<u64, u32>,
    /// Per group: its first sample, the next group with the same hash, and
    /// (after counting) the start of its members in `order`.
    first: Vec<u32>,
    chain: Vec<u32>,
    offsets: Vec<u32>,
    /// Group of each sample.
    group_of: Vec<u32>,
    /// Sample indices, grouped.
    order: Vec<u32>,
}

impl Grouper {
    pub(super) fn len(&self) -> usize {
        self.first.len()
    }

    pub(super) fn members(&self, g: usize) -> &[u32] {
        &self.order[self.offsets[g] as usize..self.offsets[g + 1] as usize]
    }

    pub(super) fn group(&mut self, samples: &[Sample]) {
        self.group_by(samples, |l| {
            let mut h = FxHasher::default();
            l.hash(&mut h);
            h.finish()
        });
    }

    /// [`group`](Self::group) with the hash function given (tests force
    /// collisions with it).
    fn group_by(&mut self, samples: &[Sample], hash: impl Fn(&Labels) -> u64) {
        self.by_hash.clear();
        self.first.clear();
        self.chain.clear();
        self.group_of.clear();
        for (i, s) in samples.iter().enumerate() {
            let h = hash(&s.labels);
            let g = match self.by_hash.get(&h) {
                None => {
                    let g = self.new_group(i);
                    self.by_hash.insert(h, g);
                    g
                }
                Some(&head) => {
                    let mut g = head;
                    loop {
                        let f = &samples[self.first[g as usize] as usize].labels;
                        if Arc::ptr_eq(f, &s.labels) || **f == *s.labels {
                            break g;
                        }
                        if self.chain[g as usize] == NONE {
                            let new = self.new_group(i);
                            self.chain[g as usize] = new;
                            break new;
                        }
                        g = self.chain[g as usize];
                    }
                }
            };
            self.group_of.push(g);
        }
        // Counting sort by group; stable, so a series keeps sample order.
        self.offsets.clear();
        self.offsets.resize(self.first.len() + 1, 0);
        for &g in &self.group_of {
            self.offsets[g as usize + 1] += 1;
        }
        for g in 0..self.first.len() {
            self.offsets[g + 1] += self.offsets[g];
        }
        self.order.clear();
        self.order.resize(samples.len(), 0);
        // `chain` is done with; reuse it as each group's fill cursor.
        self.chain.clear();
        self.chain
            .extend_from_slice(&self.offsets[..self.first.len()]);
        for (i, &g) in self.group_of.iter().enumerate() {
            let at = &mut self.chain[g as usize];
            self.order[*at as usize] = i as u32;
            *at += 1;
        }
    }

    fn new_group(&mut self, first_sample: usize) -> u32 {
        self.first.push(first_sample as u32);
        self.chain.push(NONE);
        (self.first.len() - 1) as u32
    }
}

/// Calls `f` for each label of the series with the external labels merged
/// in, in name order; the series' own value wins on a name clash.
/// Snappy-compresses the request `proto` (of `series` series holding
/// `samples`) into `compressed`, and what the request holds.
pub(super) fn compress(
    snappy: &mut snap::raw::Encoder,
    proto: &[u8],
    compressed: &mut Vec<u8>,
    series: usize,
    samples: &[Sample],
) -> Result<EncodedStats, EncodeError> {
    compressed.resize(snap::raw::max_compress_len(proto.len()), 0);
    let n = snappy
        .compress(proto, compressed)
        .map_err(|source| EncodeError::Snappy {
            len: proto.len(),
            source,
        })?;
    compressed.truncate(n);
    Ok(EncodedStats {
        series,
        samples: samples.len(),
        uncompressed_bytes: proto.len(),
        max_timestamp_ms: samples
            .iter()
            .map(|s| s.timestamp_ms)
            .max()
            .unwrap_or(i64::MIN),
    })
}

pub(super) fn for_each_merged(series: &Labels, external: &Labels, mut f: impl FnMut(LabelRef<'_>)) {
    let mut ext = external.iter();
    let mut e = ext.next();
    for l in series {
        while let Some(x) = e
            && x.name <= l.name
        {
            if x.name != l.name {
                f(x);
            }
            e = ext.next();
        }
        f(l);
    }
    e.into_iter().chain(ext).for_each(f);
}

pub(super) const WIRE_VARINT: u8 = 0;
pub(super) const WIRE_FIXED64: u8 = 1;
pub(super) const WIRE_LEN: u8 = 2;

pub(super) fn put_key(buf: &mut Vec<u8>, field: u8, wire: u8) {
    buf.push((field << 3) | wire);
}

fn put_string(buf: &mut Vec<u8>, field: u8, s: &str) {
    if s.is_empty() {
        return;
    }
    put_key(buf, field, WIRE_LEN);
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn string_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + uvarint_len(s.len() as u64) + s.len()
    }
}

fn label_len(l: LabelRef<'_>) -> usize {
    string_field_len(l.name) + string_field_len(l.value)
}

pub(super) fn sample_len(s: &Sample) -> usize {
    let value = if s.value.to_bits() != 0 { 9 } else { 0 };
    let ts = if s.timestamp_ms != 0 {
        1 + uvarint_len(s.timestamp_ms as u64)
    } else {
        0
    };
    value + ts
}

pub(super) fn samples_len(members: &[u32], samples: &[Sample]) -> usize {
    members
        .iter()
        .map(|&i| {
            let n = sample_len(&samples[i as usize]);
            1 + uvarint_len(n as u64) + n
        })
        .sum()
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
