//! levee: a Prometheus-compatible metrics agent with series budgets and its
//! own memory-mapped time-series database.
//!
//! The crate is the agent (`levee run`) and a library: the modules below are
//! usable on their own. See `docs/architecture.md` for how they fit together.

pub mod agent;
pub mod config;
pub mod discovery;
pub mod exposition;
pub mod guard;
pub mod http_client;
pub mod labels;
pub mod loadgen;
pub mod pipeline;
pub mod receiver;
pub mod relabel;
pub mod remote;
pub mod scrape;
pub mod selfmon;
pub mod series_key;
pub mod synth;
pub mod tsdb;
pub mod value;
pub(crate) mod varint;

#[cfg(test)]
mod layering_tests;
pub mod web;

pub mod proto {
    //! Remote-write protobuf messages, generated from `proto/` by `build.rs`:
    //! 1.0 (`prometheus.WriteRequest`) here, 2.0 in [`write_v2`].
    #![allow(missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));

    pub mod write_v2 {
        //! Remote-write 2.0 (`io.prometheus.write.v2.Request`), from
        //! `proto/write_v2.proto`.
        #![allow(missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/io.prometheus.write.v2.rs"));
    }
}
