//! The scrape loop's integration tests (`levee::scrape`), one test binary:
//! scrapes served from memory (exact samples, staleness, the guard inside
//! the loop on Istio storm bodies) and the load generator's targets over
//! real HTTP.

mod guard;
mod loadgen;
mod scrape_loop;
