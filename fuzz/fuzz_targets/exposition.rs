//! Fuzzes the streaming exposition parser: the input's first bytes choose
//! the format and the chunk boundaries, the rest is the body. Checks that
//! nothing panics or hangs, that every entry's accessors work, and that the
//! result does not depend on how the body was split.

#![no_main]

use levee::exposition::{Entry, Format, ParserLimits, StreamParser};
use libfuzzer_sys::fuzz_target;

fn run(format: Format, body: &[u8], cuts: &[usize], limits: ParserLimits) -> Vec<String> {
    let mut p = StreamParser::new(format, limits);
    let mut out = Vec::new();
    let drain = |p: &mut StreamParser, out: &mut Vec<String>| -> bool {
        while let Some(e) = p.next() {
            match e {
                Ok(Entry::Sample(s)) => {
                    let labels: Vec<_> = s.labels().collect();
                    out.push(format!("{s:?} {labels:?} {}", s.value.to_bits()));
                }
                Ok(other) => out.push(format!("{other:?}")),
                Err(e) => {
                    out.push(format!("error: {e}"));
                    return false;
                }
            }
        }
        true
    };
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&body.len())) {
        if let Err(e) = p.push(&body[start..end]) {
            out.push(format!("error: {e}"));
            return out;
        }
        if !drain(&mut p, &mut out) {
            return out;
        }
        start = end;
    }
    p.finish();
    drain(&mut p, &mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let format = if control & 1 == 0 {
        Format::PrometheusText
    } else {
        Format::OpenMetrics
    };
    // Chunk boundaries from a tiny generator seeded by the control byte.
    let mut seed = u64::from(control) | 1;
    let mut cuts: Vec<usize> = (0..(control >> 1) % 8)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed as usize) % (body.len() + 1)
        })
        .collect();
    cuts.sort_unstable();
    // A limit no line of a fuzz input reaches, so splitting cannot change
    // which entries come before a limit error.
    let limits = ParserLimits {
        max_line_bytes: 1 << 20,
    };
    let whole = run(format, body, &[], limits);
    let split = run(format, body, &cuts, limits);
    assert_eq!(whole, split, "result depends on chunking: cuts {cuts:?}");
});
