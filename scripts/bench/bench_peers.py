"""scripts/bench-peers: levee beside Prometheus' agent and vmagent on the
same load-generated targets, one agent at a time, each into a fresh
VictoriaMetrics; writes results as JSON and renders docs/benchmarks.md and
docs/img/*.svg. Run `scripts/bench-peers --help`."""

import argparse
import atexit
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import agents  # noqa: E402
import report  # noqa: E402
from procs import Procs  # noqa: E402
from run import run_one  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_AGENTS = {
    "steady": ["levee", "prometheus", "vmagent"],
    "storm": list(agents.VARIANTS),
    "churn": ["levee-series-budget", "prometheus", "vmagent"],
    "big": ["levee", "prometheus", "vmagent"],
    "calm": ["levee-series-budget"],
}
WORKLOAD_TEXT = {
    "steady": "50 targets × 2,000 series (counters, gauges, 10-bucket histograms), every value "
              "changing every scrape.",
    "storm": "One Istio-style target adding 200 new `destination_service` hosts × 25 series per "
             "scrape (it keeps every series it ever made), beside 10 ordinary targets × 1,000 series.",
    "churn": "The storm with hosts that leave: each host's 25 series stay in the body for "
             "{lifetime} scrapes, then the target drops them (as a sidecar with a metric expiry does), "
             "so the target serves {live:,} series at a time while 200 new hosts arrive every scrape. "
             "levee's members leave with the staleness window (5 min); its exactness is checked against "
             "the sum where every host that left counts at its last values (what a fold keeps), the "
             "others' against the body's sum.",
    "big": "One target with 1,000,000 series.",
    "calm": "The storm's targets with the storm target not growing (no hosts): the agent's idle "
            "RSS for the storm's configuration, the reference of the storm's memory target.",
}
INTRO = """# Benchmarks: levee beside Prometheus' agent and vmagent

(Hand-written notes go above the generated section.)
"""


def sh(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_meta(opts, command):
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    dpkg = lambda p: sh(["dpkg-query", "-W", "-f", "${Version}", p])
    levee_version = sh([opts["levee_bin"], "--version"])
    git = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": mem / 2**30,
        "kernel": platform.release(),
        "versions": {
            "levee": f"{levee_version.removeprefix('levee ')} (built from git {git}, "
                     f"sha256 {opts['levee_sha256'][:12]})",
            "Prometheus": dpkg("prometheus"),
            "VictoriaMetrics and vmagent": dpkg("victoria-metrics"),
        },
        "command": command,
        "workload_text": WORKLOAD_TEXT,
    }


def snapshot(path, out):
    """Copies binary `path` into `out`/bin (named by its hash); returns
    (copy path, sha256)."""
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    dest_dir = os.path.join(out, "bin", digest[:12])
    os.makedirs(dest_dir, exist_ok=True)
    dest = os.path.join(dest_dir, os.path.basename(path))
    if not os.path.exists(dest):
        shutil.copy2(path, dest)
    return dest, digest


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="scripts/bench-peers",
        description="Run levee, Prometheus' agent (2.42, --enable-feature=agent) and vmagent (1.79), "
                    "and their limit variants, one at a time on the same load-generated targets, each "
                    "remote-writing into a fresh VictoriaMetrics; everything on 127.0.0.1.")
    p.add_argument("--workloads", default="storm,calm,steady,big",
                   help="comma-separated: storm, churn, calm, steady, big (default: storm, calm, "
                        "steady, big; calm runs levee-series-budget only and churn levee-series-budget, "
                        "prometheus and vmagent unless --agents says otherwise)")
    p.add_argument("--agents", default=None,
                   help="comma-separated agent variants for every workload (default: all six for the "
                        "storm, levee/prometheus/vmagent otherwise). Variants: " + ", ".join(agents.VARIANTS))
    p.add_argument("--duration", type=int, default=150, help="seconds per run (default 150)")
    p.add_argument("--storm-duration", type=int,
                   help="seconds per storm and churn run (default: --duration)")
    p.add_argument("--host-lifetime", type=int, default=12,
                   help="churn: scrapes each storm host stays in the body (default 12: one minute)")
    p.add_argument("--calm-duration", type=int,
                   help="seconds of the calm run (default: the storm's, so the storm's RSS is "
                        "compared with the idle RSS at the same time into the run)")
    p.add_argument("--full", action="store_true",
                   help="the documented run: 600 s per storm run, 300 s per steady and big run")
    p.add_argument("--interval", type=int, default=5, help="scrape interval and tick, seconds (default 5)")
    p.add_argument("--big-interval", type=int, default=15, help="the same for the big workload (default 15)")
    p.add_argument("--budget", type=int, default=10000,
                   help="per-target limit of the limit variants (sample_limit, series_limit; default 10000)")
    p.add_argument("--levee-bin", default="/work/target-bench/release/levee")
    p.add_argument("--loadgen-bin", default=None, help="default: levee-loadgen beside --levee-bin")
    p.add_argument("--out", default=None, help="results directory (default: a new dir under /tmp)")
    p.add_argument("--drain", type=int, default=60,
                   help="most seconds to wait for an agent's queue to reach the receiver (default 60)")
    p.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md and docs/img")
    p.add_argument("--render", metavar="RESULTS_DIR",
                   help="only render the docs from an earlier results directory")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    docs = os.path.join(REPO, "docs")
    if args.render:
        print(report.render(args.render, docs, INTRO))
        return 0
    levee_bin = os.path.abspath(args.levee_bin)
    loadgen_bin = args.loadgen_bin or os.path.join(os.path.dirname(levee_bin), "levee-loadgen")
    for b in (levee_bin, loadgen_bin, agents.PROMETHEUS_BIN, agents.VMAGENT_BIN,
              "/usr/bin/victoria-metrics"):
        if not os.access(b, os.X_OK):
            hint = ("build it: CARGO_TARGET_DIR=/work/target-bench cargo build --release --bins"
                    if "levee" in b else "install it: apt-get install prometheus victoria-metrics")
            print(f"bench-peers: {b} is missing; {hint}", file=sys.stderr)
            return 2
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in DEFAULT_AGENTS:
            print(f"bench-peers: unknown workload {w!r}", file=sys.stderr)
            return 2
    chosen = args.agents.split(",") if args.agents else None
    for a in chosen or []:
        if a not in agents.VARIANTS:
            print(f"bench-peers: unknown agent {a!r}; known: {', '.join(agents.VARIANTS)}", file=sys.stderr)
            return 2
    base = args.duration if not args.full else 300
    storm_duration = args.storm_duration or (600 if args.full else args.duration)
    durations = {"steady": base, "big": base, "storm": storm_duration, "churn": storm_duration,
                 "calm": args.calm_duration or storm_duration}
    intervals = {"steady": args.interval, "storm": args.interval, "churn": args.interval,
                 "big": args.big_interval, "calm": args.interval}
    # The hourly limit is global: the storm target's budget plus every
    # ordinary target's series and synthetic series.
    hourly = args.budget + 10 * 1000 + 11 * 10
    opts = {
        "levee_bin": levee_bin, "loadgen_bin": loadgen_bin, "durations": durations,
        "intervals": intervals, "budget": args.budget, "hourly": hourly, "drain": args.drain,
        "loadgen_extra": {"calm": ["--hosts-per-tick=0"],
                          "churn": [f"--host-lifetime={args.host_lifetime}"]},
    }
    out = args.out or tempfile.mkdtemp(prefix="levee-bench-")
    os.makedirs(out, exist_ok=True)
    # Run private copies: a shared release target dir may be rebuilt from
    # another branch while the benchmark runs.
    opts["levee_bin"], opts["levee_sha256"] = snapshot(levee_bin, out)
    opts["loadgen_bin"], _ = snapshot(loadgen_bin, out)
    command = "scripts/bench-peers " + " ".join(shlex.quote(a) for a in argv)
    meta_path = os.path.join(out, "meta.json")
    meta = machine_meta(opts, command)
    meta["workload_text"]["churn"] = meta["workload_text"]["churn"].format(
        lifetime=args.host_lifetime, live=args.host_lifetime * 200 * 25)
    if os.path.exists(meta_path):
        # A later invocation into the same results dir (e.g. rerunning one
        # agent) adds its command; the docs list them all.
        with open(meta_path) as f:
            old = json.load(f)
        meta["commands"] = old.get("commands", [old["command"]]) + [command]
    else:
        meta["commands"] = [command]
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)

    procs = Procs()
    atexit.register(procs.stop_all)

    def on_signal(signum, _frame):
        procs.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"bench-peers: results in {out}")
    for w in workloads:
        for a in chosen or DEFAULT_AGENTS[w]:
            print(f"bench-peers: {w} / {a}")
            try:
                r = run_one(procs, opts, w, a, out)
            except RuntimeError as e:
                print(f"bench-peers: {w}/{a} failed: {e}", file=sys.stderr)
                procs.stop_all()
                continue
            print(f"  CPU {r['cpu_seconds']} s, {r['cpu_us_per_sample'] or 0:.2f} µs/sample, "
                  f"peak RSS {(r['rss_peak_bytes'] or 0) / 2**20:.0f} MiB, "
                  f"slope {r['rss_slope_mib_per_min']:.1f} MiB/min, "
                  f"receiver {r['receiver_series']} series / {r['receiver_rows']} samples"
                  + (f", storm {r['storm']}" if r["storm"] else ""))
    if not args.no_docs:
        print(report.render(out, docs, INTRO))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
