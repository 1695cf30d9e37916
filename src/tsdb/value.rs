//! Sample values with special meaning, as the storage engine sees them: the
//! StaleNaN staleness marker, compared by bits, never with `==`. One
//! definition for the whole crate lives in [`crate::value`].

pub use crate::value::{STALE_NAN_BITS, is_stale_nan, stale_nan};
