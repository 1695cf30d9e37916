//! Synthetic workloads for tests and benches: exposition bodies whose
//! content and totals are known exactly, so a test can check what arrived
//! and a bench can size its input.

mod istio;

pub use istio::{IstioTotals, IstioWorkload, SERIES_PER_HOST};
