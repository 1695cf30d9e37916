//! Fuzzes the `file_sd_configs` file decoder
//! (`levee::discovery::file::parse`) in both formats: JSON and YAML
//! target-group lists as an operator or a generator writes them.
//!
//! Checks, beyond "no panic, no hang, no unbounded allocation":
//! - a file that parses yields one group per entry, each with source
//!   `F:i` in order and `__meta_filepath` = `F`, every target with an
//!   `__address__` or none (an empty string);
//! - a file that does not parse says why, naming the file.

#![no_main]

use levee::discovery::file::{FILEPATH_LABEL, Format, parse};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/etc/levee/targets.json");
    for format in [Format::Json, Format::Yaml] {
        match parse(path, data, format) {
            Ok(groups) => {
                for (i, g) in groups.iter().enumerate() {
                    assert_eq!(g.source, format!("{}:{i}", path.display()));
                    assert_eq!(g.labels.get(FILEPATH_LABEL), Some("/etc/levee/targets.json"));
                    for t in &g.targets {
                        assert!(t.len() <= 1);
                    }
                }
            }
            Err(e) => assert!(e.to_string().starts_with("/etc/levee/targets.json")),
        }
    }
});
