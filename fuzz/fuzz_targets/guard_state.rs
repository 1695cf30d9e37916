//! Fuzzes the guard state file reader: any bytes decode to states or to a
//! typed error, never a panic or a hang; a state that decodes restores
//! into a guard or is refused with a typed error; and a restored guard
//! saves a file that reads back and restores to the same guard.
//!
//! The file ends with a CRC32C of the bytes before it, which a mutation
//! almost always breaks; so when the first input byte is odd, the
//! rest gets its last four bytes set to the right checksum first, and the
//! mutations reach the frame and payload checks behind it.

#![no_main]

use levee::guard::TargetGuard;
use levee::guard::persist::{Encoder, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let mut data = rest.to_vec();
    if mode & 1 == 1 && data.len() >= 4 {
        let body = data.len() - 4;
        let crc = crc32c::crc32c(&data[..body]);
        data[body..].copy_from_slice(&crc.to_le_bytes());
    }
    let Ok(targets) = decode("fuzz", &data) else {
        return;
    };
    for t in &targets {
        let Ok(guard) = TargetGuard::restore(t.state.settings.clone(), &t.state) else {
            continue;
        };
        let mut enc = Encoder::new();
        enc.add_guard(&t.job, &t.url, &t.labels, &guard);
        let bytes = enc.into_bytes();
        let back = decode("re-encoded", &bytes).expect("a state levee wrote reads back");
        assert_eq!(back.len(), 1);
        let g2 = TargetGuard::restore(back[0].state.settings.clone(), &back[0].state)
            .expect("a state levee saved restores");
        assert_eq!(g2.scraped_series(), guard.scraped_series());
    }
});
