//! Applying compiled rules to a [`LabelsBuilder`], rule by rule, exactly as
//! Prometheus 2.42's `relabel.Process`. Working buffers live in a
//! per-thread scratch so the common paths do not allocate.

use std::cell::RefCell;
use std::fmt::Write as _;

use md5::{Digest, Md5};

use super::action::Action;
use super::case::{push_lower, push_upper};
use super::names::is_valid_label_name;
use super::pattern::{LocCache, Slots};
use super::rule::Rule;
use crate::labels::LabelsBuilder;

/// Reusable buffers for one thread.
#[derive(Debug, Default)]
struct Scratch {
    joined: String,
    out: String,
    target: String,
    slots: Slots,
    locs: LocCache,
    /// `labelmap` results: the first `n` entries are live.
    pairs: Vec<(String, String)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `rules` in order over `lb`; false as soon as one drops the set.
pub(crate) fn process(rules: &[Rule], lb: &mut LabelsBuilder) -> bool {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => rules.iter().all(|r| apply(r, lb, &mut s)),
        Err(_) => {
            let mut s = Scratch::default();
            rules.iter().all(|r| apply(r, lb, &mut s))
        }
    })
}

/// The source label values joined with the separator (borrowed when
/// there is only one source label).
fn source_value<'a>(r: &Rule, lb: &'a LabelsBuilder, joined: &'a mut String) -> &'a str {
    match &*r.source_labels {
        [] => "",
        [one] => lb.get(one),
        many => {
            joined.clear();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    joined.push_str(&r.separator);
                }
                joined.push_str(lb.get(name));
            }
            joined
        }
    }
}

/// Applies one rule; false means the label set is dropped.
fn apply(r: &Rule, lb: &mut LabelsBuilder, s: &mut Scratch) -> bool {
    let Scratch {
        joined,
        out,
        target,
        slots,
        locs,
        pairs,
    } = s;
    match r.action {
        Action::Keep => r.pattern.is_match(source_value(r, lb, joined)),
        Action::Drop => !r.pattern.is_match(source_value(r, lb, joined)),
        Action::KeepEqual => lb.get(&r.target_label) == source_value(r, lb, joined),
        Action::DropEqual => lb.get(&r.target_label) != source_value(r, lb, joined),
        Action::Replace => {
            let value = source_value(r, lb, joined);
            out.clear();
            let name: &str = match (r.target.literal(), r.replacement.literal()) {
                (Some(t), Some(rep)) => {
                    if !r.pattern.is_match(value) {
                        return true;
                    }
                    out.push_str(rep);
                    t
                }
                (t, _) => {
                    if !r.pattern.captures(value, slots, locs) {
                        return true;
                    }
                    r.replacement.expand(value, slots, out);
                    match t {
                        Some(t) => t,
                        None => {
                            target.clear();
                            r.target.expand(value, slots, target);
                            target
                        }
                    }
                }
            };
            if is_valid_label_name(name) {
                // An empty value deletes the label.
                lb.set(name, out);
            }
            true
        }
        Action::Lowercase | Action::Uppercase => {
            let value = source_value(r, lb, joined);
            out.clear();
            if r.action == Action::Lowercase {
                push_lower(value, out);
            } else {
                push_upper(value, out);
            }
            // target_label may be a `$` template Prometheus accepts but does
            // not expand here; it never names a valid label, so skip it.
            if is_valid_label_name(&r.target_label) {
                lb.set(&r.target_label, out);
            }
            true
        }
        Action::HashMod => {
            let digest = Md5::digest(source_value(r, lb, joined).as_bytes());
            let mut low = [0u8; 8];
            low.copy_from_slice(&digest[8..16]);
            let m = u64::from_be_bytes(low) % r.modulus.max(1);
            out.clear();
            let _ = write!(out, "{m}");
            lb.set(&r.target_label, out);
            true
        }
        Action::LabelMap => {
            let mut n = 0;
            let literal = r.replacement.literal();
            for l in lb.iter() {
                let matched = match literal {
                    Some(_) => r.pattern.is_match(&l.name),
                    None => r.pattern.captures(&l.name, slots, locs),
                };
                if !matched {
                    continue;
                }
                if n == pairs.len() {
                    pairs.push(Default::default());
                }
                let (name, value) = &mut pairs[n];
                name.clear();
                match literal {
                    Some(t) => name.push_str(t),
                    None => r.replacement.expand(&l.name, slots, name),
                }
                value.clear();
                value.push_str(&l.value);
                n += 1;
            }
            for (name, value) in &pairs[..n] {
                // Prometheus would create a label with an invalid name here;
                // levee skips it (see docs/relabeling.md).
                if is_valid_label_name(name) {
                    lb.set(name, value);
                }
            }
            true
        }
        Action::LabelDrop => {
            lb.retain(|l| !r.pattern.is_match(&l.name));
            true
        }
        Action::LabelKeep => {
            lb.retain(|l| r.pattern.is_match(&l.name));
            true
        }
    }
}
