//! The guard state file (`docs/format/guard-state.md`): every guarded
//! target's [`GuardState`] with the target's identity, encoded with a
//! shared symbol table and delta-coded label sets, framed by a magic,
//! a version and a CRC32C; and its atomic write and read through a
//! [`Directory`].

use super::fold::FoldOrigin;
use super::settings::{BudgetAction, FoldRule, GaugeFold, GuardSettings};
use super::state::{
    Emitted, FoldState, GroupState, GrowthState, GuardState, RouteState, SeriesState, role_byte,
    role_of,
};
use super::table::DropReason;
use crate::labels::{Labels, LabelsBuilder};
use crate::tsdb::fs::{Directory, FsError};
use rustc_hash::FxHashMap;
use std::sync::Arc;

const MAGIC: [u8; 4] = *b"LGST";
/// The state file format version this code writes and reads.
pub const STATE_VERSION: u8 = 1;
/// The state file's name in its directory.
pub const STATE_FILE: &str = "state";
const HEADER: usize = 16;
const FOOTER: usize = 4;

/// One target's saved state and who it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetState {
    /// The scrape job.
    pub job: String,
    /// The scrape URL.
    pub url: String,
    /// The target's labels.
    pub labels: Labels,
    /// Its guard's state.
    pub state: GuardState,
}

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file's length disagrees with its header.
    #[error("{file}: length {got}, expected {expected}")]
    Length {
        /// The file.
        file: String,
        /// Length the header promises (or the minimum).
        expected: u64,
        /// Actual length.
        got: u64,
    },
    /// Not a guard state file.
    #[error("{file}: bad magic {got:02x?}, expected {expected:02x?}")]
    BadMagic {
        /// The file.
        file: String,
        /// `LGST`.
        expected: [u8; 4],
        /// What was there.
        got: [u8; 4],
    },
    /// The checksum does not match.
    #[error("{file}: checksum mismatch: stored {expected:#010x}, computed {got:#010x}")]
    Checksum {
        /// The file.
        file: String,
        /// Stored CRC32C.
        expected: u32,
        /// Computed CRC32C.
        got: u32,
    },
    /// Written by another format version (or reserved bytes set).
    #[error("{file}: unsupported version {got} (this levee reads version {expected})")]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// The version read here.
        expected: u8,
        /// Version byte and reserved bytes as found.
        got: u32,
    },
    /// The payload does not decode.
    #[error("{file}: malformed at byte {offset}: {what}")]
    Malformed {
        /// The file.
        file: String,
        /// Byte offset in the file.
        offset: usize,
        /// What was wrong.
        what: String,
    },
    /// Reading or writing failed.
    #[error("{file}: {source}")]
    Fs {
        /// The file.
        file: String,
        /// The failure.
        source: FsError,
    },
}

// ---------------------------------------------------------------- encoding

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
    syms: FxHashMap<String, u32>,
    order: Vec<String>,
}

impl Writer {
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn varint(&mut self, v: i64) {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    fn sym(&mut self, s: &str) {
        let id = match self.syms.get(s) {
            Some(&id) => id,
            None => {
                let id = self.order.len() as u32;
                self.syms.insert(s.to_string(), id);
                self.order.push(s.to_string());
                id
            }
        };
        self.uvarint(u64::from(id));
    }

    fn opt_varint(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.varint(v);
            }
        }
    }

    fn opt_sym(&mut self, v: Option<&str>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.sym(v);
            }
        }
    }

    fn syms(&mut self, v: &[String]) {
        self.uvarint(v.len() as u64);
        for s in v {
            self.sym(s);
        }
    }

    fn labelset(&mut self, l: &Labels) {
        self.uvarint(l.len() as u64);
        for x in l {
            self.sym(&x.name);
            self.sym(&x.value);
        }
    }

    fn delta_labels(&mut self, l: &Arc<Labels>, prev: &mut Option<Arc<Labels>>) {
        let before = prev.as_deref().map_or(&[][..], Labels::as_slice);
        self.uvarint(l.len() as u64);
        let mut bitmap = vec![0u8; l.len().div_ceil(8)];
        for (i, x) in l.iter().enumerate() {
            if before.get(i) == Some(x) {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        self.buf.extend_from_slice(&bitmap);
        for (i, x) in l.iter().enumerate() {
            if bitmap[i / 8] & (1 << (i % 8)) == 0 {
                self.sym(&x.name);
                self.sym(&x.value);
            }
        }
        *prev = Some(l.clone());
    }
}

fn action_byte(a: BudgetAction) -> u8 {
    match a {
        BudgetAction::Fold => 0,
        BudgetAction::Drop => 1,
        BudgetAction::Fail => 2,
    }
}

fn gauge_byte(g: GaugeFold) -> u8 {
    match g {
        GaugeFold::Sum => 0,
        GaugeFold::Max => 1,
        GaugeFold::Min => 2,
        GaugeFold::Last => 3,
    }
}

fn encode_target(w: &mut Writer, t: &TargetState) {
    let s = &t.state;
    w.sym(&t.job);
    w.sym(&t.url);
    w.labelset(&t.labels);
    let st = &s.settings;
    w.uvarint(st.series_budget);
    w.u8(action_byte(st.action));
    w.uvarint(st.keep_top as u64);
    w.sym(&st.overflow_value);
    w.u8(gauge_byte(st.gauge_fold));
    w.varint(st.staleness_window_ms);
    w.varint(st.cooldown_ms);
    w.uvarint(st.fold_rules.len() as u64);
    for r in &st.fold_rules {
        w.syms(&r.labels);
        w.opt_sym(r.metric.as_ref().map(regex::Regex::as_str));
    }
    w.varint(s.last_ts_ms);
    w.opt_varint(s.last_sweep_ms);
    match s.unresolved {
        None => w.u8(0),
        Some((t, n)) => {
            w.u8(1);
            w.varint(t);
            w.uvarint(n);
        }
    }
    w.syms(&s.families);
    w.uvarint(s.folds.len() as u64);
    for f in &s.folds {
        w.syms(&f.labels);
        w.opt_sym(f.metric.as_deref());
        w.u8(match f.origin {
            FoldOrigin::Rule => 0,
            FoldOrigin::Auto => 1,
        });
        w.varint(f.started_ms);
        w.opt_varint(f.quiet_since);
        w.syms(&f.keep);
        w.uvarint(f.activity.len() as u64);
        for (v, rank) in &f.activity {
            w.sym(v);
            w.f64(*rank);
        }
    }
    w.uvarint(s.groups.len() as u64);
    let mut prev = None;
    for g in &s.groups {
        w.delta_labels(&g.labels, &mut prev);
        w.u8(role_byte(g.role));
        w.u8(u8::from(g.folded));
        w.f64(g.value);
    }
    w.uvarint(s.series.len() as u64);
    let mut prev = None;
    let mut next_slot = 0u64;
    for x in &s.series {
        w.uvarint(u64::from(x.slot).saturating_sub(next_slot));
        next_slot = u64::from(x.slot) + 1;
        w.delta_labels(&x.labels, &mut prev);
        w.uvarint(u64::from(x.family));
        w.u8(role_byte(x.role));
        match x.route {
            RouteState::Raw => w.u8(0),
            RouteState::Group(g) => {
                w.u8(1);
                w.uvarint(u64::from(g));
            }
            RouteState::Dropped(DropReason::Budget) => w.u8(2),
            RouteState::Dropped(DropReason::Quantile) => w.u8(3),
        }
        w.u8(u8::from(x.explicit_ts) | u8::from(x.counted) << 1 | u8::from(x.has_value) << 2);
        if x.has_value {
            w.f64(x.last_value);
        }
        w.uvarint(s.last_ts_ms.saturating_sub(x.last_seen_ms).max(0) as u64);
    }
    w.uvarint(s.emitted.len() as u64);
    for e in &s.emitted {
        w.uvarint(match *e {
            Emitted::Series(i) => u64::from(i) << 1,
            Emitted::Group(i) => u64::from(i) << 1 | 1,
        });
    }
    w.uvarint(s.growth.len() as u64);
    for g in &s.growth {
        w.sym(&g.family);
        w.sym(&g.label);
        w.uvarint(g.recent.len() as u64);
        for &(m, n) in &g.recent {
            w.varint(m);
            w.uvarint(u64::from(n));
        }
    }
}

/// The bytes of a state file holding `targets`.
pub fn encode(targets: &[TargetState]) -> Vec<u8> {
    let mut body = Writer::default();
    body.uvarint(targets.len() as u64);
    for t in targets {
        encode_target(&mut body, t);
    }
    let mut head = Writer::default();
    head.uvarint(body.order.len() as u64);
    for s in &body.order {
        head.uvarint(s.len() as u64);
        head.buf.extend_from_slice(s.as_bytes());
    }
    let payload = head.buf.len() + body.buf.len();
    let mut out = Vec::with_capacity(HEADER + payload + FOOTER);
    out.extend_from_slice(&MAGIC);
    out.push(STATE_VERSION);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload as u64).to_le_bytes());
    out.extend_from_slice(&head.buf);
    out.extend_from_slice(&body.buf);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

// ---------------------------------------------------------------- decoding

struct Reader<'a> {
    file: &'a str,
    b: &'a [u8],
    pos: usize,
    syms: Vec<&'a str>,
}

type R<T> = Result<T, StateError>;

impl<'a> Reader<'a> {
    fn err<T>(&self, what: impl Into<String>) -> R<T> {
        Err(StateError::Malformed {
            file: self.file.to_string(),
            offset: self.pos,
            what: what.into(),
        })
    }

    fn u8(&mut self) -> R<u8> {
        match self.b.get(self.pos) {
            Some(&v) => {
                self.pos += 1;
                Ok(v)
            }
            None => self.err("unexpected end of payload"),
        }
    }

    fn bytes(&mut self, n: usize) -> R<&'a [u8]> {
        match self.b.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => self.err(format!("{n} bytes past the end of the payload")),
        }
    }

    fn uvarint(&mut self) -> R<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return self.err("varint overflows 64 bits");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.err("varint longer than 10 bytes")
    }

    fn varint(&mut self) -> R<i64> {
        let u = self.uvarint()?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    fn u32(&mut self, what: &str) -> R<u32> {
        let v = self.uvarint()?;
        u32::try_from(v).or_else(|_| self.err(format!("{what} {v} does not fit 32 bits")))
    }

    /// A count of items each at least `min_bytes` long: never more than
    /// the rest of the payload can hold.
    fn count(&mut self, what: &str, min_bytes: usize) -> R<usize> {
        let n = self.uvarint()?;
        let left = (self.b.len() - self.pos) as u64;
        if n.saturating_mul(min_bytes.max(1) as u64) > left {
            return self.err(format!("{what} count {n} exceeds the payload"));
        }
        Ok(n as usize)
    }

    fn f64(&mut self) -> R<f64> {
        let b = self.bytes(8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(f64::from_bits(u64::from_le_bytes(w)))
    }

    fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            t => self.err(format!("flag {t}, expected 0 or 1")),
        }
    }

    fn sym(&mut self) -> R<&'a str> {
        let i = self.uvarint()?;
        match self.syms.get(i as usize) {
            Some(s) => Ok(s),
            None => self.err(format!("symbol {i} of {}", self.syms.len())),
        }
    }

    fn string(&mut self) -> R<String> {
        self.sym().map(str::to_string)
    }

    fn strings(&mut self) -> R<Vec<String>> {
        let n = self.count("string", 1)?;
        (0..n).map(|_| self.string()).collect()
    }

    fn opt_varint(&mut self) -> R<Option<i64>> {
        Ok(if self.bool()? {
            Some(self.varint()?)
        } else {
            None
        })
    }

    fn opt_string(&mut self) -> R<Option<String>> {
        Ok(if self.bool()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    fn labelset(&mut self) -> R<Labels> {
        let n = self.count("label", 2)?;
        let mut b = LabelsBuilder::with_capacity(n);
        for _ in 0..n {
            let (name, value) = (self.sym()?, self.sym()?);
            b.set(name, value);
        }
        Ok(b.into_labels())
    }

    /// A delta label set; `prev` is the previous one of the same list
    /// (label `i` of a set as written is label `i` of its sorted labels).
    fn delta_labels(&mut self, prev: &mut Option<Arc<Labels>>) -> R<Arc<Labels>> {
        let n = self.count("label", 1)?;
        let bitmap = self.bytes(n.div_ceil(8))?;
        let before = prev.as_deref().map_or(&[][..], Labels::as_slice);
        let mut b = LabelsBuilder::with_capacity(n);
        for i in 0..n {
            if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                match before.get(i) {
                    Some(l) => b.set(&l.name, &l.value),
                    None => return self.err(format!("label {i} refers past the previous set")),
                }
            } else {
                let (name, value) = (self.sym()?, self.sym()?);
                b.set(name, value);
            }
        }
        let labels = Arc::new(b.into_labels());
        *prev = Some(labels.clone());
        Ok(labels)
    }

    fn role(&mut self) -> R<super::role::Role> {
        let b = self.u8()?;
        match role_of(b) {
            Some(r) => Ok(r),
            None => self.err(format!("role {b}")),
        }
    }
}

fn decode_settings(r: &mut Reader<'_>) -> R<GuardSettings> {
    let series_budget = r.uvarint()?;
    let action = match r.u8()? {
        0 => BudgetAction::Fold,
        1 => BudgetAction::Drop,
        2 => BudgetAction::Fail,
        t => return r.err(format!("budget action {t}")),
    };
    let keep_top = r.uvarint()? as usize;
    let overflow_value = r.string()?;
    let gauge_fold = match r.u8()? {
        0 => GaugeFold::Sum,
        1 => GaugeFold::Max,
        2 => GaugeFold::Min,
        3 => GaugeFold::Last,
        t => return r.err(format!("gauge fold {t}")),
    };
    let staleness_window_ms = r.varint()?;
    let cooldown_ms = r.varint()?;
    let n = r.count("rule", 2)?;
    let mut fold_rules = Vec::with_capacity(n);
    for _ in 0..n {
        let labels = r.strings()?;
        let metric = match r.opt_string()? {
            None => None,
            Some(m) => match regex::Regex::new(&m) {
                Ok(re) => Some(re),
                Err(e) => return r.err(format!("rule regex {m:?}: {e}")),
            },
        };
        fold_rules.push(FoldRule { labels, metric });
    }
    Ok(GuardSettings {
        series_budget,
        action,
        keep_top,
        overflow_value,
        gauge_fold,
        fold_rules,
        staleness_window_ms,
        cooldown_ms,
    })
}

fn decode_target(r: &mut Reader<'_>) -> R<TargetState> {
    let job = r.string()?;
    let url = r.string()?;
    let labels = r.labelset()?;
    let settings = decode_settings(r)?;
    let last_ts_ms = r.varint()?;
    let last_sweep_ms = r.opt_varint()?;
    let unresolved = if r.bool()? {
        Some((r.varint()?, r.uvarint()?))
    } else {
        None
    };
    let families = r.strings()?;
    let n = r.count("fold", 4)?;
    let mut folds = Vec::with_capacity(n);
    for _ in 0..n {
        let labels = r.strings()?;
        let metric = r.opt_string()?;
        let origin = match r.u8()? {
            0 => FoldOrigin::Rule,
            1 => FoldOrigin::Auto,
            t => return r.err(format!("fold origin {t}")),
        };
        let started_ms = r.varint()?;
        let quiet_since = r.opt_varint()?;
        let keep = r.strings()?;
        let m = r.count("activity", 9)?;
        let mut activity = Vec::with_capacity(m);
        for _ in 0..m {
            activity.push((r.string()?, r.f64()?));
        }
        folds.push(FoldState {
            labels,
            metric,
            origin,
            started_ms,
            quiet_since,
            keep,
            activity,
        });
    }
    let n = r.count("folded series", 11)?;
    let mut groups = Vec::with_capacity(n);
    let mut prev = None;
    for _ in 0..n {
        let labels = r.delta_labels(&mut prev)?;
        let role = r.role()?;
        let folded = r.bool()?;
        let value = r.f64()?;
        groups.push(GroupState {
            labels,
            role,
            folded,
            value,
        });
    }
    let n = r.count("series", 7)?;
    let mut series = Vec::with_capacity(n);
    let mut prev = None;
    let mut next_slot = 0u64;
    for _ in 0..n {
        let slot = next_slot.saturating_add(r.uvarint()?);
        if slot >= u64::from(super::state::MAX_SLOT) {
            return r.err(format!("series slot {slot}"));
        }
        next_slot = slot + 1;
        let labels = r.delta_labels(&mut prev)?;
        let family = r.u32("family")?;
        let role = r.role()?;
        let route = match r.u8()? {
            0 => RouteState::Raw,
            1 => RouteState::Group(r.u32("group")?),
            2 => RouteState::Dropped(DropReason::Budget),
            3 => RouteState::Dropped(DropReason::Quantile),
            t => return r.err(format!("route {t}")),
        };
        let flags = r.u8()?;
        if flags & !0b111 != 0 {
            return r.err(format!("series flags {flags:#04x}"));
        }
        let has_value = flags & 4 != 0;
        let last_value = if has_value { r.f64()? } else { 0.0 };
        let age = r.uvarint()?;
        series.push(SeriesState {
            slot: slot as u32,
            labels,
            family,
            role,
            route,
            explicit_ts: flags & 1 != 0,
            counted: flags & 2 != 0,
            has_value,
            last_value,
            last_seen_ms: last_ts_ms.saturating_sub(age.min(i64::MAX as u64) as i64),
        });
    }
    let n = r.count("emitted", 1)?;
    let mut emitted = Vec::with_capacity(n);
    for _ in 0..n {
        let v = r.uvarint()?;
        let i = match u32::try_from(v >> 1) {
            Ok(i) => i,
            Err(_) => return r.err(format!("emitted reference {v}")),
        };
        emitted.push(if v & 1 == 0 {
            Emitted::Series(i)
        } else {
            Emitted::Group(i)
        });
    }
    let n = r.count("growth", 3)?;
    let mut growth = Vec::with_capacity(n);
    for _ in 0..n {
        let family = r.string()?;
        let label = r.string()?;
        let m = r.count("growth minute", 2)?;
        let mut recent = Vec::with_capacity(m);
        for _ in 0..m {
            recent.push((r.varint()?, r.u32("new values")?));
        }
        growth.push(GrowthState {
            family,
            label,
            recent,
        });
    }
    Ok(TargetState {
        job,
        url,
        labels,
        state: GuardState {
            settings,
            last_ts_ms,
            last_sweep_ms,
            unresolved,
            families,
            folds,
            groups,
            series,
            emitted,
            growth,
        },
    })
}

/// Decodes the bytes of state file `file`.
pub fn decode(file: &str, b: &[u8]) -> Result<Vec<TargetState>, StateError> {
    let min = (HEADER + FOOTER) as u64;
    if (b.len() as u64) < min {
        return Err(StateError::Length {
            file: file.to_string(),
            expected: min,
            got: b.len() as u64,
        });
    }
    let mut magic = [0u8; 4];
    magic.copy_from_slice(&b[..4]);
    if magic != MAGIC {
        return Err(StateError::BadMagic {
            file: file.to_string(),
            expected: MAGIC,
            got: magic,
        });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&b[8..16]);
    let payload = u64::from_le_bytes(len);
    let expected = payload.saturating_add(min);
    if expected != b.len() as u64 {
        return Err(StateError::Length {
            file: file.to_string(),
            expected,
            got: b.len() as u64,
        });
    }
    let end = b.len() - FOOTER;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&b[end..]);
    let stored = u32::from_le_bytes(crc);
    let computed = crc32c::crc32c(&b[..end]);
    if stored != computed {
        return Err(StateError::Checksum {
            file: file.to_string(),
            expected: stored,
            got: computed,
        });
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[4..8]);
    if v != [STATE_VERSION, 0, 0, 0] {
        return Err(StateError::UnsupportedVersion {
            file: file.to_string(),
            expected: STATE_VERSION,
            got: u32::from_le_bytes(v),
        });
    }
    let mut r = Reader {
        file,
        b: &b[..end],
        pos: HEADER,
        syms: Vec::new(),
    };
    let n = r.count("symbol", 1)?;
    let mut syms = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.uvarint()?;
        let bytes = r.bytes(usize::try_from(len).unwrap_or(usize::MAX))?;
        match std::str::from_utf8(bytes) {
            Ok(s) => syms.push(s),
            Err(e) => return r.err(format!("symbol is not UTF-8: {e}")),
        }
    }
    r.syms = syms;
    let n = r.count("target", 8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(decode_target(&mut r)?);
    }
    if r.pos != end {
        return r.err(format!("{} bytes after the last target", end - r.pos));
    }
    Ok(out)
}

/// Reads the state file `file` from `dir`; `Ok(None)` when it does not
/// exist.
pub fn read(dir: &dyn Directory, file: &str) -> Result<Option<Vec<TargetState>>, StateError> {
    let fs_err = |source| StateError::Fs {
        file: file.to_string(),
        source,
    };
    let bytes = match dir.map(file) {
        Ok(b) => b,
        Err(FsError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(fs_err(e)),
    };
    decode(file, &bytes).map(Some)
}

/// Writes `bytes` (from [`encode`]) to `file` atomically: `<file>.tmp`,
/// fsync, rename, fsync of the directory.
pub fn write(dir: &dyn Directory, file: &str, bytes: &[u8]) -> Result<(), StateError> {
    let fs_err = |source| StateError::Fs {
        file: file.to_string(),
        source,
    };
    let tmp = format!("{file}.tmp");
    let mut f = dir.create(&tmp).map_err(fs_err)?;
    f.append(bytes).map_err(fs_err)?;
    f.sync().map_err(fs_err)?;
    drop(f);
    dir.rename(&tmp, file).map_err(fs_err)?;
    dir.sync_dir().map_err(fs_err)
}
