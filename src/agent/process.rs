//! The standard `process_*` self-metrics every Prometheus exporter serves
//! (CPU seconds, resident and virtual memory, open and allowed file
//! descriptors, start time), read from `/proc/self` when `/metrics` is
//! rendered. On a system without `/proc` they are not registered.

use crate::selfmon::Registry;

/// The fields of `/proc/self/stat` the metrics read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    /// User plus system CPU time, in clock ticks.
    cpu_ticks: u64,
    /// Start time after boot, in clock ticks.
    start_ticks: u64,
    /// Virtual memory size, bytes.
    vsize: u64,
    /// Resident pages.
    rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses
/// and may itself hold spaces and parentheses, so fields are counted from
/// the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    // Fields from 3 (state) on; `fields[i]` is field i + 3.
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        vsize: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The boot time (`btime` of `/proc/stat`), Unix seconds.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn read_stat() -> Option<Stat> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

fn sysconf(name: libc::c_int) -> f64 {
    // SAFETY: sysconf only reads its argument.
    let v = unsafe { libc::sysconf(name) };
    if v > 0 { v as f64 } else { 0.0 }
}

fn max_fds() -> f64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into `lim`, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur as f64
    } else {
        0.0
    }
}

/// Registers the `process_*` metrics in `reg`.
pub fn register(reg: &Registry) {
    let Some(first) = read_stat() else {
        return;
    };
    let ticks = sysconf(libc::_SC_CLK_TCK);
    let page = sysconf(libc::_SC_PAGESIZE);
    if ticks == 0.0 {
        return;
    }
    let start = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| boot_time(&s))
        .map_or(0.0, |b| b as f64 + first.start_ticks as f64 / ticks);
    reg.counter_fn(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        move || read_stat().map_or(0.0, |s| s.cpu_ticks as f64 / ticks),
    );
    reg.gauge_fn(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        move || read_stat().map_or(0.0, |s| s.rss_pages as f64 * page),
    );
    reg.gauge_fn(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        || read_stat().map_or(0.0, |s| s.vsize as f64),
    );
    reg.gauge_fn(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        move || start,
    );
    reg.gauge_fn(
        "process_open_fds",
        "Number of open file descriptors.",
        || std::fs::read_dir("/proc/self/fd").map_or(0.0, |d| d.count() as f64),
    );
    reg.gauge_fn(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        max_fds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis, as a thread may
        // name itself.
        let line = "4242 (lev ee) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 125 0 0 20 0 9 0 777 104857600 2048 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                cpu_ticks: 375,
                start_ticks: 777,
                vsize: 104_857_600,
                rss_pages: 2048,
            })
        );
        assert_eq!(parse_stat("4242 (short"), None);
    }

    #[test]
    fn boot_time_is_read_from_btime() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        assert_eq!(boot_time("cpu  1 2 3\n"), None);
    }

    #[test]
    fn this_process_has_cpu_time_memory_and_file_descriptors() {
        // Spend at least one clock tick of CPU (bounded by wall time).
        let began = std::time::Instant::now();
        let mut spin = 0u64;
        while read_stat().is_some_and(|s| s.cpu_ticks == 0)
            && began.elapsed() < std::time::Duration::from_secs(5)
        {
            spin = std::hint::black_box(spin.wrapping_mul(31).wrapping_add(7));
        }
        let reg = Registry::new();
        register(&reg);
        let text = reg.render();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            let value: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
                .unwrap_or_else(|| panic!("{name} missing from\n{text}"));
            assert!(value > 0.0, "{name} = {value}");
        }
    }
}
