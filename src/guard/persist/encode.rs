//! Encoding of the guard state file (version 2, the only one written): a
//! symbol table of every string, then each target, label sets delta-coded
//! against the previous one of their list, folded members as a key and a
//! few numbers each.

use super::{FOOTER, HEADER, MAGIC, STATE_VERSION, TargetState};
use crate::guard::fold::FoldOrigin;
use crate::guard::settings::{BudgetAction, GaugeFold};
use crate::guard::state::{Emitted, MemberState, RouteState, role_byte};
use crate::guard::table::DropReason;
use crate::labels::Labels;
use rustc_hash::FxHashMap;
use std::sync::Arc;

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

    fn key(&mut self, k: u128) {
        self.buf.extend_from_slice(&k.to_le_bytes());
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
    match &s.key_secret {
        None => w.u8(0),
        Some(k) => {
            w.u8(1);
            w.buf.extend_from_slice(k);
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
    w.uvarint(s.tuples.len() as u64);
    for t in &s.tuples {
        w.syms(t);
    }
    w.uvarint(s.members.len() as u64);
    let mut prev_tuple = 0u32;
    for m in &s.members {
        encode_member(w, m, prev_tuple, s.last_ts_ms);
        prev_tuple = m.tuple;
    }
}

fn encode_member(w: &mut Writer, m: &MemberState, prev_tuple: u32, last_ts_ms: i64) {
    w.key(m.key);
    w.uvarint(u64::from(m.group));
    w.varint(i64::from(m.tuple) - i64::from(prev_tuple));
    w.uvarint(u64::from(m.family));
    w.u8(u8::from(m.explicit_ts)
        | u8::from(m.counted) << 1
        | u8::from(m.has_value) << 2
        | role_byte(m.role) << 3);
    if m.has_value {
        w.f64(m.last_value);
    }
    w.uvarint(last_ts_ms.saturating_sub(m.last_seen_ms).max(0) as u64);
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
