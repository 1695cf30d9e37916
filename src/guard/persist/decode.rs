//! Decoding of the guard state file: the frame (length, magic, checksum,
//! version; the footer with its offsets bounded by the file) first, then
//! the symbols and the targets with every index, length and tag checked,
//! so damage is a typed error, never a panic or a huge allocation.

use super::{FOOTER, HEADER, MAGIC, STATE_VERSION, StateError, TargetState};
use crate::guard::fold::FoldOrigin;
use crate::guard::settings::{BudgetAction, FoldRule, GaugeFold, GuardSettings};
use crate::guard::state::{
    Emitted, FoldState, GroupState, GrowthState, GuardState, MemberState, RouteState, SeriesState,
    role_of,
};
use crate::guard::table::DropReason;
use crate::labels::{Labels, LabelsBuilder};
use std::sync::Arc;

/// Smallest encoded member: key, group, tuple, family, flags, age.
const MIN_MEMBER: usize = 16 + 5;

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

    fn key(&mut self) -> R<u128> {
        let b = self.bytes(16)?;
        let mut w = [0u8; 16];
        w.copy_from_slice(b);
        Ok(u128::from_le_bytes(w))
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
        let mut before = prev.as_deref().into_iter().flat_map(Labels::iter);
        let mut b = LabelsBuilder::with_capacity(n);
        for i in 0..n {
            let same = before.next();
            if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                match same {
                    Some(l) => b.set(l.name, l.value),
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

    fn role(&mut self) -> R<crate::guard::role::Role> {
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
    let key_secret = if r.bool()? {
        let mut k = [0u8; 16];
        k.copy_from_slice(r.bytes(16)?);
        Some(k)
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
    let n = r.count("folded series", 12)?;
    let mut groups = Vec::with_capacity(n);
    let mut prev = None;
    let mut prev_replaced: Vec<String> = Vec::new();
    for _ in 0..n {
        let labels = r.delta_labels(&mut prev)?;
        let role = r.role()?;
        let folded = r.bool()?;
        let value = r.f64()?;
        // A folded series replaces some of its own labels: bounding the
        // names by its labels also bounds what "the same as the previous"
        // may copy.
        let tag = r.uvarint()?;
        let k = match tag {
            0 => prev_replaced.len() as u64,
            k => k - 1,
        };
        if k > labels.len() as u64 {
            return r.err(format!(
                "{k} replaced names in a folded series of {} labels",
                labels.len()
            ));
        }
        if tag != 0 {
            prev_replaced = (0..k).map(|_| r.string()).collect::<R<Vec<_>>>()?;
        }
        let replaced = prev_replaced.clone();
        groups.push(GroupState {
            labels,
            role,
            folded,
            value,
            replaced,
        });
    }
    let n = r.count("series", 7)?;
    let mut series = Vec::with_capacity(n);
    let mut prev = None;
    let mut next_slot = 0u64;
    for _ in 0..n {
        let slot = next_slot.saturating_add(r.uvarint()?);
        if slot >= u64::from(crate::guard::state::MAX_SLOT) {
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
        if flags & !0b1111 != 0 {
            return r.err(format!("series flags {flags:#04x}"));
        }
        let key = if flags & 8 != 0 { Some(r.key()?) } else { None };
        let has_value = flags & 4 != 0;
        let last_value = if has_value { r.f64()? } else { 0.0 };
        let age = r.uvarint()?;
        series.push(SeriesState {
            slot: slot as u32,
            key,
            labels,
            family,
            role,
            route,
            explicit_ts: flags & 1 != 0,
            counted: flags & 2 != 0,
            has_value,
            last_value,
            last_seen_ms: age_to_ms(last_ts_ms, age),
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
    let tuples = decode_tuples(r)?;
    let members = decode_members(r, last_ts_ms)?;
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
            key_secret,
            tuples,
            members,
        },
    })
}

fn age_to_ms(last_ts_ms: i64, age: u64) -> i64 {
    last_ts_ms.saturating_sub(age.min(i64::MAX as u64) as i64)
}

fn decode_tuples(r: &mut Reader<'_>) -> R<Vec<Vec<String>>> {
    let n = r.count("tuple", 1)?;
    let mut tuples = Vec::with_capacity(n);
    for _ in 0..n {
        tuples.push(r.strings()?);
    }
    Ok(tuples)
}

fn decode_members(r: &mut Reader<'_>, last_ts_ms: i64) -> R<Vec<MemberState>> {
    let n = r.count("member", MIN_MEMBER)?;
    let mut members = Vec::with_capacity(n);
    let mut prev_tuple = 0i64;
    for _ in 0..n {
        let key = r.key()?;
        let group = r.u32("member group")?;
        let delta = r.varint()?;
        let tuple = match u32::try_from(prev_tuple.saturating_add(delta)) {
            Ok(t) => t,
            Err(_) => return r.err(format!("member tuple {prev_tuple} + {delta}")),
        };
        prev_tuple = i64::from(tuple);
        let family = r.u32("member family")?;
        let flags = r.u8()?;
        let Some(role) = role_of(flags >> 3) else {
            return r.err(format!("member flags {flags:#04x}: role {}", flags >> 3));
        };
        let has_value = flags & 4 != 0;
        let last_value = if has_value { r.f64()? } else { 0.0 };
        let age = r.uvarint()?;
        members.push(MemberState {
            key,
            group,
            tuple,
            family,
            role,
            explicit_ts: flags & 1 != 0,
            counted: flags & 2 != 0,
            has_value,
            last_value,
            last_seen_ms: age_to_ms(last_ts_ms, age),
        });
    }
    Ok(members)
}

/// The smallest encoded target (job, url, labels, settings, timestamps,
/// lists), what bounds a target count.
const MIN_TARGET: usize = 8;

/// Decodes the bytes of state file `file`: the checksum first (a
/// truncated or torn file fails there, before its footer is believed),
/// then the footer's offsets bounded by the file, the symbols (after the
/// targets), then the targets.
pub fn decode(file: &str, b: &[u8]) -> Result<Vec<TargetState>, StateError> {
    let length = |expected: u64| StateError::Length {
        file: file.to_string(),
        expected,
        got: b.len() as u64,
    };
    let min = (HEADER + FOOTER) as u64;
    if (b.len() as u64) < min {
        return Err(length(min));
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
    check_crc(file, b)?;
    check_version(file, b)?;
    let footer = b.len() - FOOTER;
    let symbols_offset = u64_at(b, footer);
    let symbols_len = u64_at(b, footer + 8);
    let targets = u64_at(b, footer + 16);
    let malformed = |offset: usize, what: String| StateError::Malformed {
        file: file.to_string(),
        offset,
        what,
    };
    if symbols_offset < HEADER as u64 {
        return Err(malformed(
            footer,
            format!("symbol table offset {symbols_offset} inside the header"),
        ));
    }
    let expected = symbols_offset
        .saturating_add(symbols_len)
        .saturating_add(FOOTER as u64);
    if expected != b.len() as u64 {
        return Err(length(expected));
    }
    // Both fit the file now.
    let symbols_offset = symbols_offset as usize;
    let body = (symbols_offset - HEADER) as u64;
    if targets.saturating_mul(MIN_TARGET as u64) > body {
        return Err(malformed(
            footer + 16,
            format!("target count {targets} exceeds the {body} bytes of targets"),
        ));
    }
    let mut r = Reader {
        file,
        b: &b[..footer],
        pos: symbols_offset,
        syms: Vec::new(),
    };
    let syms = decode_symbols(&mut r)?;
    if r.pos != footer {
        return r.err(format!("{} bytes after the last symbol", footer - r.pos));
    }
    let mut r = Reader {
        file,
        b: &b[..symbols_offset],
        pos: HEADER,
        syms,
    };
    decode_targets(&mut r, targets as usize)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Checks the CRC32C in the last 4 bytes of `b` against the rest.
fn check_crc(file: &str, b: &[u8]) -> Result<(), StateError> {
    let end = b.len() - 4;
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
    Ok(())
}

/// Checks the version byte and the reserved bytes.
fn check_version(file: &str, b: &[u8]) -> Result<(), StateError> {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[4..8]);
    if v != [STATE_VERSION, 0, 0, 0] {
        return Err(StateError::UnsupportedVersion {
            file: file.to_string(),
            expected: STATE_VERSION,
            got: u32::from_le_bytes(v),
        });
    }
    Ok(())
}

/// Symbols: a count, then each as a length and UTF-8 bytes, ending where
/// `r`'s bytes end.
fn decode_symbols<'a>(r: &mut Reader<'a>) -> R<Vec<&'a str>> {
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
    Ok(syms)
}

/// `n` targets, ending where `r`'s bytes end.
fn decode_targets(r: &mut Reader<'_>, n: usize) -> R<Vec<TargetState>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(decode_target(r)?);
    }
    if r.pos != r.b.len() {
        return r.err(format!("{} bytes after the last target", r.b.len() - r.pos));
    }
    Ok(out)
}
