//! Immutable blocks.
