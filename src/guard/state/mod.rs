//! A target guard's state as plain data ([`GuardState`]): what the state
//! file holds (`persist/`, `docs/format/guard-state.md`) and a new guard is
//! restored from, so a restart continues where the guard stopped: the same
//! active series, folds, `keep_top` members, member counter values and
//! folded totals. What is scratch within one scrape (generations,
//! per-scrape accumulators) is not saved; the restored guard's first
//! scrape behaves as the next scrape of the saved one.
//!
//! The jobs, one file each: `export.rs` reads a live guard's series, folds
//! and folded series out for the encoder, `walk.rs` its tuples and folded
//! members (visited in the member table, not copied), `restore.rs` builds
//! a guard from a decoded state, checking every reference in it.

mod export;
mod restore;
mod walk;

pub(super) use walk::ExportIndex;

use super::fold::FoldOrigin;
use super::role::Role;
use super::settings::GuardSettings;
use super::table::DropReason;
use crate::labels::Labels;
use std::sync::Arc;

/// Highest series slot id a restored state may use.
pub const MAX_SLOT: u32 = 1 << 28;

/// Everything a target's guard needs to continue after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardState {
    /// The settings the guard enforced when the state was taken.
    pub settings: GuardSettings,
    /// Timestamp of the last scrape applied.
    pub last_ts_ms: i64,
    /// When the staleness window was last swept.
    pub last_sweep_ms: Option<i64>,
    /// A breach no fold resolved: when, and the scraped series then.
    pub unresolved: Option<(i64, u64)>,
    /// Family names; [`SeriesState::family`] indexes this.
    pub families: Vec<String>,
    /// Active folds, rules and automatic ones.
    pub folds: Vec<FoldState>,
    /// Folded series.
    pub groups: Vec<GroupState>,
    /// Scraped series within the staleness window, by increasing slot.
    pub series: Vec<SeriesState>,
    /// What the last scrape forwarded, in order.
    pub emitted: Vec<Emitted>,
    /// Recent new distinct values per minute, per (family, label name).
    pub growth: Vec<GrowthState>,
    /// The secret of the target's series keys ([`crate::series_key`]), so
    /// saved keys stay valid; `None`: the restored guard draws a new one.
    pub key_secret: Option<[u8; 16]>,
    /// The values a folded member's labels had where its folded series has
    /// the overflow value (in [`GroupState::replaced`] order), shared by
    /// every member with the same values; [`MemberState::tuple`] indexes it.
    pub tuples: Vec<Vec<String>>,
    /// Folded members, kept as a key and a few numbers each.
    pub members: Vec<MemberState>,
}

/// A folded member: a series merged into a folded series, whose labels are
/// that series' labels with [`GroupState::replaced`] set to its tuple.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberState {
    /// Its series key.
    pub key: u128,
    /// Index into [`GuardState::groups`].
    pub group: u32,
    /// Index into [`GuardState::tuples`].
    pub tuple: u32,
    /// Index into [`GuardState::families`].
    pub family: u32,
    /// Its part in its family.
    pub role: Role,
    /// The target gave an explicit timestamp.
    pub explicit_ts: bool,
    /// Its history is part of its folded series already.
    pub counted: bool,
    /// `last_value` is set.
    pub has_value: bool,
    /// The last value merged.
    pub last_value: f64,
    /// When it was last scraped.
    pub last_seen_ms: i64,
}

/// One fold.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldState {
    /// Folded labels; the first is ranked by `keep_top`.
    pub labels: Vec<String>,
    /// The anchored metric-name regex of a rule.
    pub metric: Option<String>,
    /// Rule or automatic.
    pub origin: FoldOrigin,
    /// When it started.
    pub started_ms: i64,
    /// Since when its label stayed under half the budget.
    pub quiet_since: Option<i64>,
    /// Values kept as they are (`keep_top`), sorted.
    pub keep: Vec<String>,
    /// Activity rank of the ranked label's values, sorted by value.
    pub activity: Vec<(String, f64)>,
}

/// One folded series.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupState {
    /// Its labels (the folded labels set to the overflow value).
    pub labels: Arc<Labels>,
    /// How its members merge.
    pub role: Role,
    /// Some label was replaced (false: a `keep_top` value kept as it is).
    pub folded: bool,
    /// Running total (counter-like groups).
    pub value: f64,
    /// Names of the labels set to the overflow value, in the order of a
    /// member's tuple.
    pub replaced: Vec<String>,
}

/// Where a series' samples go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    /// Forwarded as scraped.
    Raw,
    /// Merged into the folded series at this index of [`GuardState::groups`].
    Group(u32),
    /// Not forwarded.
    Dropped(DropReason),
}

/// One scraped series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesState {
    /// Its slot in the guard's table.
    pub slot: u32,
    /// Its series key, once one was seen (`None`: found by labels).
    pub key: Option<u128>,
    /// Its labels.
    pub labels: Arc<Labels>,
    /// Index into [`GuardState::families`].
    pub family: u32,
    /// Its part in its family.
    pub role: Role,
    /// Where it goes.
    pub route: RouteState,
    /// The target gave an explicit timestamp.
    pub explicit_ts: bool,
    /// Its history is part of its folded series already.
    pub counted: bool,
    /// `last_value` is set.
    pub has_value: bool,
    /// The last value forwarded or merged.
    pub last_value: f64,
    /// When it was last scraped.
    pub last_seen_ms: i64,
}

/// Something the last scrape forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    /// The series in this slot.
    Series(u32),
    /// The folded series at this index of [`GuardState::groups`].
    Group(u32),
}

/// Recent growth of one (family, label name) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthState {
    /// The family.
    pub family: String,
    /// The label name.
    pub label: String,
    /// (minute since the epoch, new distinct values), oldest first.
    pub recent: Vec<(i64, u32)>,
}

/// Why a state could not be restored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestoreError {
    /// An index points outside its list, or a slot repeats.
    #[error("guard state: {what} {index} out of range (limit {limit})")]
    Index {
        /// Which reference.
        what: &'static str,
        /// Its value.
        index: u64,
        /// The bound it broke.
        limit: u64,
    },
    /// A rule or fold regex does not compile.
    #[error("guard state: metric regex {pattern:?}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        #[source]
        source: regex::Error,
    },
    /// Two members, or a member and a series, share a key.
    #[error("guard state: series key {key:032x} appears twice")]
    RepeatedKey {
        /// The key.
        key: u128,
    },
    /// More folds than a guard can have.
    #[error("guard state: {got} folds, at most {max}")]
    TooManyFolds {
        /// Folds in the state.
        got: usize,
        /// The limit.
        max: usize,
    },
}

/// A role's byte in the state file.
pub fn role_byte(r: Role) -> u8 {
    match r {
        Role::Cumulative => 0,
        Role::Gauge => 1,
        Role::Quantile => 2,
        Role::Created => 3,
    }
}

/// The role of a byte of the state file.
pub fn role_of(b: u8) -> Option<Role> {
    Some(match b {
        0 => Role::Cumulative,
        1 => Role::Gauge,
        2 => Role::Quantile,
        3 => Role::Created,
        _ => return None,
    })
}
