//! Encoding of the guard state file (version 2, the only one written): a
//! symbol table of every string, then each target, label sets delta-coded
//! against the previous one of their list, folded members as a key and a
//! few numbers each. [`Encoder`] takes a target from its exported
//! [`GuardState`] or straight from a live [`TargetGuard`] (the saver's
//! way: no copy of its members) and writes the file in pieces.

use super::chunks::{Chunks, uvarint_bytes};
use super::{FOOTER, HEADER, MAGIC, STATE_VERSION, StateError, TargetState};
use crate::guard::TargetGuard;
use crate::guard::fold::FoldOrigin;
use crate::guard::settings::{BudgetAction, GaugeFold};
use crate::guard::state::{Emitted, GuardState, MemberState, RouteState, role_byte};
use crate::guard::table::DropReason;
use crate::labels::Labels;
use crate::tsdb::fs::Directory;
use rustc_hash::FxHashMap;
use std::sync::Arc;

#[derive(Default)]
struct Writer {
    /// The targets, after their count.
    body: Chunks,
    /// The symbol table's entries, after their count.
    symbols: Chunks,
    syms: FxHashMap<Box<str>, u32>,
    /// A delta label set's bitmap.
    scratch: Vec<u8>,
}

impl Writer {
    fn uvarint(&mut self, v: u64) {
        self.body.uvarint(v);
    }

    fn varint(&mut self, v: i64) {
        self.uvarint(zigzag(v));
    }

    fn u8(&mut self, v: u8) {
        self.body.push(v);
    }

    fn key(&mut self, k: u128) {
        self.body.extend(&k.to_le_bytes());
    }

    fn f64(&mut self, v: f64) {
        self.body.extend(&v.to_bits().to_le_bytes());
    }

    fn sym(&mut self, s: &str) {
        let id = match self.syms.get(s) {
            Some(&id) => id,
            None => {
                let id = self.syms.len() as u32;
                self.syms.insert(s.into(), id);
                self.symbols.uvarint(s.len() as u64);
                self.symbols.extend(s.as_bytes());
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
        let mut bitmap = std::mem::take(&mut self.scratch);
        bitmap.clear();
        bitmap.resize(l.len().div_ceil(8), 0);
        for (i, x) in l.iter().enumerate() {
            if before.get(i) == Some(x) {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        self.body.extend(&bitmap);
        for (i, x) in l.iter().enumerate() {
            if bitmap[i / 8] & (1 << (i % 8)) == 0 {
                self.sym(&x.name);
                self.sym(&x.value);
            }
        }
        self.scratch = bitmap;
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

/// Everything of one target up to its tuples and members.
fn encode_target(w: &mut Writer, job: &str, url: &str, labels: &Labels, s: &GuardState) {
    w.sym(job);
    w.sym(url);
    w.labelset(labels);
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
    match &s.key_secret {
        None => w.u8(0),
        Some(k) => {
            w.u8(1);
            w.body.extend(k);
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
    let mut prev_replaced: &[String] = &[];
    for g in &s.groups {
        w.delta_labels(&g.labels, &mut prev);
        w.u8(role_byte(g.role));
        w.u8(u8::from(g.folded));
        w.f64(g.value);
        if g.replaced == prev_replaced {
            w.u8(0);
        } else {
            w.uvarint(g.replaced.len() as u64 + 1);
            for n in &g.replaced {
                w.sym(n);
            }
            prev_replaced = &g.replaced;
        }
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
        w.u8(u8::from(x.explicit_ts)
            | u8::from(x.counted) << 1
            | u8::from(x.has_value) << 2
            | u8::from(x.key.is_some()) << 3);
        if let Some(k) = x.key {
            w.key(k);
        }
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

/// Folded members encoded one after the other.
struct Members {
    out: Chunks,
    prev_tuple: u32,
    last_ts_ms: i64,
}

impl Members {
    fn new(last_ts_ms: i64) -> Members {
        Members {
            out: Chunks::default(),
            prev_tuple: 0,
            last_ts_ms,
        }
    }

    fn add(&mut self, m: &MemberState) {
        let o = &mut self.out;
        o.extend(&m.key.to_le_bytes());
        o.uvarint(u64::from(m.group));
        o.uvarint(zigzag(i64::from(m.tuple) - i64::from(self.prev_tuple)));
        o.uvarint(u64::from(m.family));
        o.push(
            u8::from(m.explicit_ts)
                | u8::from(m.counted) << 1
                | u8::from(m.has_value) << 2
                | role_byte(m.role) << 3,
        );
        if m.has_value {
            o.extend(&m.last_value.to_bits().to_le_bytes());
        }
        o.uvarint(self.last_ts_ms.saturating_sub(m.last_seen_ms).max(0) as u64);
        self.prev_tuple = m.tuple;
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// A state file being encoded, one target at a time: each target's bytes
/// go straight into the body (in chunks that never copy: `chunks.rs`), its
/// strings into the symbol table, and the file is written as those pieces
/// ([`Encoder::write`]) with no copy of the whole. Only what the format
/// needs before the body (the symbols, the lengths) waits for the last
/// target.
#[derive(Default)]
pub struct Encoder {
    w: Writer,
    targets: usize,
    series: usize,
    members: usize,
}

impl Encoder {
    /// An empty state file.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Adds a target's exported state.
    pub fn add(&mut self, t: &TargetState) {
        let s = &t.state;
        encode_target(&mut self.w, &t.job, &t.url, &t.labels, s);
        self.w.uvarint(s.tuples.len() as u64);
        for t in &s.tuples {
            self.w.syms(t);
        }
        let mut members = Members::new(s.last_ts_ms);
        for m in &s.members {
            members.add(m);
        }
        self.w.uvarint(s.members.len() as u64);
        self.w.body.append(members.out);
        self.finish_target(s.series.len(), s.members.len());
    }

    /// Adds the state of a live guard, its folded members encoded straight
    /// from its member table in one pass, in the table's order (nothing is
    /// copied per member; `state_walk.rs`). The same bytes as
    /// [`Encoder::add`] of its [`TargetGuard::export_state`]. The caller
    /// holds the guard (its lock) for as long as this takes: what encoding
    /// an exported state takes plus one pass over the member table, about
    /// 30 ms for 600k members in a release build (see
    /// [`crate::scrape::GuardStates::encode`]).
    pub fn add_guard(&mut self, job: &str, url: &str, labels: &Labels, guard: &TargetGuard) {
        let ix = guard.export_index();
        let s = guard.export_without_members(&ix);
        encode_target(&mut self.w, job, url, labels, &s);
        self.w.uvarint(ix.tuples() as u64);
        for t in guard.tuple_values() {
            self.w.uvarint(t.len() as u64);
            for v in t {
                self.w.sym(v);
            }
        }
        // Their count comes first in the file and is known at the end of
        // the pass: the members go to chunks of their own, moved (not
        // copied) behind it.
        let mut members = Members::new(s.last_ts_ms);
        let n = guard.walk_members(&ix, |m| members.add(m));
        self.w.uvarint(n as u64);
        self.w.body.append(members.out);
        self.finish_target(s.series.len(), n);
    }

    fn finish_target(&mut self, series: usize, members: usize) {
        self.targets += 1;
        self.series += series;
        self.members += members;
    }

    /// Targets added.
    pub fn targets(&self) -> usize {
        self.targets
    }

    /// Scraped series (with labels) in the targets added.
    pub fn series(&self) -> usize {
        self.series
    }

    /// Folded members in the targets added.
    pub fn members(&self) -> usize {
        self.members
    }

    /// The pieces of the file in order, all but the checksum.
    fn pieces(&self) -> ([u8; HEADER + 10], usize, [u8; 10], usize) {
        let (syms, syms_len) = uvarint_bytes(self.w.syms.len() as u64);
        let (targets, targets_len) = uvarint_bytes(self.targets as u64);
        let payload = syms_len + self.w.symbols.len() + targets_len + self.w.body.len();
        let mut head = [0u8; HEADER + 10];
        head[..4].copy_from_slice(&MAGIC);
        head[4] = STATE_VERSION;
        head[8..HEADER].copy_from_slice(&(payload as u64).to_le_bytes());
        head[HEADER..HEADER + syms_len].copy_from_slice(&syms[..syms_len]);
        (head, HEADER + syms_len, targets, targets_len)
    }

    /// Calls `f` with every piece of the file in order, the checksum last.
    fn each_piece<E>(&self, mut f: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let (head, head_len, targets, targets_len) = self.pieces();
        let mut crc = 0u32;
        let parts = std::iter::once(&head[..head_len])
            .chain(self.w.symbols.parts())
            .chain(std::iter::once(&targets[..targets_len]))
            .chain(self.w.body.parts());
        for p in parts {
            crc = crc32c::crc32c_append(crc, p);
            f(p)?;
        }
        f(&crc.to_le_bytes())
    }

    /// The file's length in bytes.
    pub fn file_len(&self) -> usize {
        let (_, head_len, _, targets_len) = self.pieces();
        head_len + self.w.symbols.len() + targets_len + self.w.body.len() + FOOTER
    }

    /// The file's bytes (one copy of them; [`Encoder::write`] needs none).
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.file_len());
        let done: Result<(), std::convert::Infallible> = self.each_piece(|p| {
            out.extend_from_slice(p);
            Ok(())
        });
        match done {
            Ok(()) => out,
            Err(never) => match never {},
        }
    }

    /// Writes the file to `file` in `dir` atomically, piece by piece (see
    /// [`super::write`]); returns its length.
    pub fn write(self, dir: &dyn Directory, file: &str) -> Result<usize, StateError> {
        let len = self.file_len();
        super::write_with(dir, file, |f| self.each_piece(|p| f.append(p)))?;
        Ok(len)
    }
}

/// The bytes of a state file holding `targets`.
pub fn encode(targets: &[TargetState]) -> Vec<u8> {
    let mut enc = Encoder::new();
    for t in targets {
        enc.add(t);
    }
    enc.into_bytes()
}
