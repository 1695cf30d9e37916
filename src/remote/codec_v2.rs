//! The remote-write 2.0 wire format: samples grouped by series into a
//! protobuf `io.prometheus.write.v2.Request` (one symbols table, every
//! label name and value a reference into it, metadata in-line per series),
//! compressed with snappy's block format.
//!
//! [`RequestV2Encoder`] writes the protobuf by hand like the 1.0
//! [`WriteRequestEncoder`](super::WriteRequestEncoder), with the same
//! grouping and buffers kept between batches. Its output decodes with
//! prost to the same [`write_v2::Request`](crate::proto::write_v2::Request)
//! and is byte-identical to prost's encoding, except that a `-0.0` value is
//! written explicitly so it survives bit-exact.

use super::codec::{
    EncodeError, EncodedStats, Grouper, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, for_each_merged,
    put_key, sample_len, samples_len,
};
use crate::exposition::MetricType;
use crate::labels::Labels;
use crate::pipeline::{Metadata, Sample};
use crate::varint::{put_uvarint, uvarint_len};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};

/// The metadata of one series as 2.0 sends it: the type's enum number and
/// the symbol refs of help and unit (all zero: nothing known).
#[derive(Clone, Copy, Default)]
struct SeriesMeta {
    kind: u32,
    help: u32,
    unit: u32,
}

impl SeriesMeta {
    fn is_empty(self) -> bool {
        self.kind == 0 && self.help == 0 && self.unit == 0
    }

    fn len(self) -> usize {
        let field = |v: u32| if v == 0 { 0 } else { 1 + uvarint_len(v.into()) };
        field(self.kind) + field(self.help) + field(self.unit)
    }
}

/// The 2.0 `MetricType` number of a type (`unknown` is unspecified, 0).
fn type_number(kind: MetricType) -> u32 {
    match kind {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

/// The metadata of the family a series named `name` belongs to: the
/// family of that name, or the one whose type produces `name` with a
/// suffix (`x_total` of counter `x`, `x_bucket` of histogram `x`, …).
pub(crate) fn family_of<'m>(
    name: &str,
    lookup: &impl Fn(&str) -> Option<&'m Metadata>,
) -> Option<&'m Metadata> {
    use MetricType as T;
    if let Some(m) = lookup(name) {
        return Some(m);
    }
    const SUFFIXES: &[(&str, &[MetricType])] = &[
        ("_total", &[T::Counter]),
        ("_created", &[T::Counter, T::Histogram, T::Summary]),
        ("_bucket", &[T::Histogram, T::GaugeHistogram]),
        ("_count", &[T::Histogram, T::Summary]),
        ("_sum", &[T::Histogram, T::Summary]),
        ("_gcount", &[T::GaugeHistogram]),
        ("_gsum", &[T::GaugeHistogram]),
        ("_info", &[T::Info]),
    ];
    SUFFIXES.iter().find_map(|(suffix, kinds)| {
        let family = name.strip_suffix(suffix)?;
        lookup(family).filter(|m| kinds.contains(&m.kind))
    })
}

/// The symbols table of one request: each distinct string once, the empty
/// string at index 0. Strings live in one arena and are found by hash
/// (collisions chained), so nothing is allocated per symbol once warm.
#[derive(Default)]
struct Symbols {
    by_hash: FxHashMap<u64, u32>,
    chain: Vec<u32>,
    spans: Vec<(u32, u32)>,
    arena: String,
}

impl Symbols {
    fn clear(&mut self) {
        self.by_hash.clear();
        self.chain.clear();
        self.spans.clear();
        self.arena.clear();
        self.intern("");
    }

    fn get(&self, r: u32) -> &str {
        let (start, len) = self.spans[r as usize];
        &self.arena[start as usize..(start + len) as usize]
    }

    fn intern(&mut self, s: &str) -> u32 {
        let mut h = FxHasher::default();
        s.hash(&mut h);
        let h = h.finish();
        let new = self.spans.len() as u32;
        let mut at = match self.by_hash.get(&h) {
            None => {
                self.by_hash.insert(h, new);
                None
            }
            Some(&head) => Some(head),
        };
        while let Some(r) = at {
            if self.get(r) == s {
                return r;
            }
            let next = self.chain[r as usize];
            if next == u32::MAX {
                self.chain[r as usize] = new;
                break;
            }
            at = Some(next);
        }
        self.chain.push(u32::MAX);
        self.spans.push((self.arena.len() as u32, s.len() as u32));
        self.arena.push_str(s);
        new
    }

    fn len(&self) -> usize {
        self.spans.len()
    }
}

/// Encodes batches of samples into snappy-compressed 2.0 `Request` bodies,
/// reusing its buffers from one batch to the next.
pub struct RequestV2Encoder {
    groups: Grouper,
    symbols: Symbols,
    /// Label refs of every group, concatenated; `ref_offsets[g]..[g + 1]`.
    refs: Vec<u32>,
    ref_offsets: Vec<usize>,
    meta: Vec<SeriesMeta>,
    proto: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for RequestV2Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestV2Encoder {
    /// An encoder with empty buffers.
    pub fn new() -> Self {
        RequestV2Encoder {
            groups: Grouper::default(),
            symbols: Symbols::default(),
            refs: Vec::new(),
            ref_offsets: Vec::new(),
            meta: Vec::new(),
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// Encodes `samples` into one request body. Samples of the same series
    /// become one `TimeSeries` (series in order of first appearance, samples
    /// in the order given); `external` labels are added to every series that
    /// does not already have a label of that name. Each series carries the
    /// metadata `lookup` gives for its family (by family name; see
    /// [`family_of`]), when there is any. The returned slice is valid until
    /// the next call.
    pub fn encode<'m>(
        &mut self,
        samples: &[Sample],
        external: &Labels,
        lookup: impl Fn(&str) -> Option<&'m Metadata>,
    ) -> Result<(&[u8], EncodedStats), EncodeError> {
        self.groups.group(samples);
        self.intern_all(samples, external, &lookup);
        self.encode_protobuf(samples);
        let stats = super::codec::compress(
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

    /// Builds the symbols table, every group's label refs and metadata.
    fn intern_all<'m>(
        &mut self,
        samples: &[Sample],
        external: &Labels,
        lookup: &impl Fn(&str) -> Option<&'m Metadata>,
    ) {
        self.symbols.clear();
        self.refs.clear();
        self.ref_offsets.clear();
        self.ref_offsets.push(0);
        self.meta.clear();
        for g in 0..self.groups.len() {
            let labels = &samples[self.groups.members(g)[0] as usize].labels;
            let (symbols, refs) = (&mut self.symbols, &mut self.refs);
            for_each_merged(labels, external, |l| {
                refs.push(symbols.intern(l.name));
                refs.push(symbols.intern(l.value));
            });
            self.ref_offsets.push(self.refs.len());
            let meta = labels
                .metric_name()
                .and_then(|name| family_of(name, lookup))
                .map_or_else(SeriesMeta::default, |m| SeriesMeta {
                    kind: type_number(m.kind),
                    help: symbols.intern(&m.help),
                    unit: symbols.intern(&m.unit),
                });
            self.meta.push(meta);
        }
    }

    fn encode_protobuf(&mut self, samples: &[Sample]) {
        let proto = &mut self.proto;
        proto.clear();
        for r in 0..self.symbols.len() as u32 {
            let s = self.symbols.get(r);
            put_key(proto, 4, WIRE_LEN);
            put_uvarint(proto, s.len() as u64);
            proto.extend_from_slice(s.as_bytes());
        }
        for g in 0..self.groups.len() {
            let members = self.groups.members(g);
            let refs = &self.refs[self.ref_offsets[g]..self.ref_offsets[g + 1]];
            let refs_len: usize = refs.iter().map(|&r| uvarint_len(r.into())).sum();
            let meta = self.meta[g];
            let mut series_len = samples_len(members, samples);
            if refs_len > 0 {
                series_len += 1 + uvarint_len(refs_len as u64) + refs_len;
            }
            if !meta.is_empty() {
                series_len += 1 + uvarint_len(meta.len() as u64) + meta.len();
            }
            put_key(proto, 5, WIRE_LEN);
            put_uvarint(proto, series_len as u64);
            if refs_len > 0 {
                put_key(proto, 1, WIRE_LEN);
                put_uvarint(proto, refs_len as u64);
                for &r in refs {
                    put_uvarint(proto, r.into());
                }
            }
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
            if !meta.is_empty() {
                put_key(proto, 5, WIRE_LEN);
                put_uvarint(proto, meta.len() as u64);
                for (field, v) in [(1, meta.kind), (3, meta.help), (4, meta.unit)] {
                    if v != 0 {
                        put_key(proto, field, WIRE_VARINT);
                        put_uvarint(proto, v.into());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "codec_v2_tests.rs"]
mod tests;
