//! Encoding of the guard state file, straight from live guards: each
//! target, label sets delta-coded against the previous one of their list,
//! folded members as a key and a few numbers each, then a symbol table of
//! every string, then the footer. [`Encoder::add_guard`] takes a target
//! from its [`TargetGuard`] (its members walked in its member table, not
//! copied: `state/walk.rs`) and hands the target's bytes to the encoder's
//! [`Sink`] (`state.tmp`, or memory) a buffer at a time as they are
//! encoded: only the symbol table waits for the end.

use super::chunks::Chunks;
use super::sink::{Out, Sink, TmpFile, fs_error};
use super::{FOOTER, HEADER, MAGIC, STATE_VERSION, StateError};
use crate::guard::TargetGuard;
use crate::guard::fold::FoldOrigin;
use crate::guard::settings::{BudgetAction, GaugeFold};
use crate::guard::state::{Emitted, GuardState, MemberState, RouteState, role_byte};
use crate::guard::table::DropReason;
use crate::labels::Labels;
use crate::tsdb::fs::Directory;
use crate::varint::uvarint_len;
use rustc_hash::FxHashMap;
use std::sync::Arc;

struct Writer<S: Sink> {
    /// The file from its header on, up to the symbol table.
    body: Out<S>,
    /// The symbol table's entries, after their count.
    symbols: Chunks,
    syms: FxHashMap<Box<str>, u32>,
    /// A delta label set's bitmap.
    scratch: Vec<u8>,
}

impl<S: Sink> Writer<S> {
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
            self.sym(x.name);
            self.sym(x.value);
        }
    }

    fn delta_labels(&mut self, l: &Arc<Labels>, prev: &mut Option<Arc<Labels>>) {
        let mut before = prev.as_deref().into_iter().flat_map(Labels::iter);
        let n = l.len();
        self.uvarint(n as u64);
        let mut bitmap = std::mem::take(&mut self.scratch);
        bitmap.clear();
        bitmap.resize(n.div_ceil(8), 0);
        for (i, x) in l.iter().enumerate() {
            if before.next() == Some(x) {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        self.body.extend(&bitmap);
        for (i, x) in l.iter().enumerate() {
            if bitmap[i / 8] & (1 << (i % 8)) == 0 {
                self.sym(x.name);
                self.sym(x.value);
            }
        }
        self.scratch = bitmap;
        *prev = Some(l.clone());
    }

    /// A folded member; `prev_tuple` is the previous member's tuple.
    fn member(&mut self, m: &MemberState, prev_tuple: &mut u32, last_ts_ms: i64) {
        let o = &mut self.body;
        o.extend(&m.key.to_le_bytes());
        o.uvarint(u64::from(m.group));
        o.uvarint(zigzag(i64::from(m.tuple) - i64::from(*prev_tuple)));
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
        o.uvarint(last_ts_ms.saturating_sub(m.last_seen_ms).max(0) as u64);
        *prev_tuple = m.tuple;
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
fn encode_target<S: Sink>(
    w: &mut Writer<S>,
    job: &str,
    url: &str,
    labels: &Labels,
    s: &GuardState,
) {
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

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// A state file being encoded, one target at a time, into a [`Sink`]:
/// each target's bytes go to the sink a buffer (64 KiB) at a time as they
/// are encoded, its strings into the symbol table (held until the end,
/// each string once, in chunks that never copy: `chunks.rs`), and
/// [`Encoder::finish`] (or [`Encoder::into_bytes`]) appends the table
/// and the footer. A save holds the table and one buffer, not the file.
///
/// A failed write is kept and reported by [`Encoder::finish`] (the
/// targets added after it are encoded but not written; see
/// [`Encoder::failed`]), so adding a target cannot fail.
pub struct Encoder<S: Sink = Vec<u8>> {
    w: Writer<S>,
    targets: usize,
    series: usize,
    members: usize,
}

impl Default for Encoder<Vec<u8>> {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder<Vec<u8>> {
    /// An empty state file in memory.
    pub fn new() -> Encoder<Vec<u8>> {
        Encoder::with_sink(Vec::new())
    }

    /// The file's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        match self.end() {
            Ok((bytes, _)) => bytes,
            Err(never) => match never {},
        }
    }
}

impl<'d> Encoder<TmpFile<'d>> {
    /// An empty state file written to `<file>.tmp` in `dir` as it is
    /// encoded; [`Encoder::finish`] renames it over `file`.
    pub fn create(dir: &'d dyn Directory, file: &str) -> Result<Encoder<TmpFile<'d>>, StateError> {
        Ok(Encoder::with_sink(TmpFile::create(dir, file)?))
    }

    /// Writes the symbol table and the footer, makes the file durable and
    /// renames it over the file atomically (see [`TmpFile::commit`]);
    /// returns its length. Any failure, here or in an earlier write,
    /// leaves the file as it was.
    pub fn finish(self) -> Result<usize, StateError> {
        let file = self.w.body.sink().file().to_string();
        let (tmp, len) = self.end().map_err(|e| fs_error(&file, e))?;
        tmp.commit()?;
        Ok(len as usize)
    }
}

impl<S: Sink> Encoder<S> {
    /// An empty state file going to `sink`: its header.
    pub fn with_sink(sink: S) -> Encoder<S> {
        let mut body = Out::new(sink);
        let mut head = [0u8; HEADER];
        head[..4].copy_from_slice(&MAGIC);
        head[4] = STATE_VERSION;
        body.extend(&head);
        Encoder {
            w: Writer {
                body,
                symbols: Chunks::default(),
                syms: FxHashMap::default(),
                scratch: Vec::new(),
            },
            targets: 0,
            series: 0,
            members: 0,
        }
    }

    /// Adds the state of a live guard, its folded members encoded straight
    /// from its member table in the table's order (nothing is copied per
    /// member; `state/walk.rs`): one pass to count them (their count comes
    /// first), one to encode them. The caller holds the guard (its lock)
    /// for as long as this takes: the guard's series, folds and folded
    /// series gathered and encoded, two passes over the member table, and
    /// the writes of the buffers filled meanwhile (see
    /// [`crate::scrape::GuardStates::encode`]).
    pub fn add_guard(&mut self, job: &str, url: &str, labels: &Labels, guard: &TargetGuard) {
        let ix = guard.export_index();
        let s = guard.state_head(&ix);
        encode_target(&mut self.w, job, url, labels, &s);
        self.w.uvarint(ix.tuples() as u64);
        for t in guard.tuple_values() {
            self.w.uvarint(t.len() as u64);
            for v in t {
                self.w.sym(v);
            }
        }
        let n = guard.count_members(&ix);
        self.w.uvarint(n as u64);
        let (w, mut prev) = (&mut self.w, 0);
        let walked = guard.walk_members(&ix, |m| w.member(m, &mut prev, s.last_ts_ms));
        debug_assert_eq!(walked, n, "the guard's members changed under its borrow");
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

    /// Whether a write to the sink has failed (reported by
    /// [`Encoder::finish`]; a caller may stop adding targets).
    pub fn failed(&self) -> bool {
        self.w.body.failed()
    }

    /// The file's length in bytes were it finished now.
    pub fn file_len(&self) -> usize {
        let count = uvarint_len(self.w.syms.len() as u64);
        self.w.body.len() as usize + count + self.w.symbols.len() + FOOTER
    }

    /// Appends the symbol table, the footer and the CRC; the sink and the
    /// file's length.
    fn end(self) -> Result<(S, u64), S::Error> {
        let mut out = self.w.body;
        let symbols_offset = out.len();
        out.uvarint(self.w.syms.len() as u64);
        for p in self.w.symbols.parts() {
            out.extend(p);
        }
        let symbols_len = out.len() - symbols_offset;
        out.extend(&symbols_offset.to_le_bytes());
        out.extend(&symbols_len.to_le_bytes());
        out.extend(&(self.targets as u64).to_le_bytes());
        out.finish()
    }
}
