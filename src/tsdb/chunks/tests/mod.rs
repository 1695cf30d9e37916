//! Tests of the chunk files.
