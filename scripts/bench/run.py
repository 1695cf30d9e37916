"""One benchmark run: a fresh receiver, a fresh load generator and one
agent, measured once a second from /proc for the whole window, then the
agent's own counters and what arrived at the receiver."""

import json
import os
import shutil
import time

import agents
import receiver
from procs import cpu_seconds, disk_bytes, free_port, http_get, memory, metric_sum, wait_http_ok


def loadgen_args(opts, workload, duration, interval, run_dir):
    # The calm workload is the storm's targets with a storm target that
    # does not grow (loadgen_extra gives it no new hosts); churn is the
    # storm with hosts that leave (loadgen_extra gives them a lifetime).
    served = "storm" if workload in ("calm", "churn") else workload
    args = [opts["loadgen_bin"], f"--workload={served}", f"--duration={duration}s",
            f"--interval={interval}s",
            f"--ready-file={os.path.join(run_dir, 'ready.json')}",
            f"--report={os.path.join(run_dir, 'loadgen.json')}"]
    return args + opts["loadgen_extra"].get(workload, [])


def wait_file(path, proc, timeout, log):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}); log: {log}")
        time.sleep(0.1)
    raise RuntimeError(f"{path} did not appear within {timeout}s; log: {log}")


def slope_mib_per_min(points):
    """Least-squares slope of (seconds, bytes) points, in MiB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return 0.0
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx * 60 / 1048576


def run_one(procs, opts, workload, name, out_dir, log=print):
    """Runs agent variant `name` on `workload`; returns the result dict."""
    kind, variant = agents.VARIANTS[name]
    duration = opts["durations"][workload]
    interval = opts["intervals"][workload]
    run_dir = os.path.join(out_dir, f"{workload}-{name}")
    if os.path.exists(run_dir):
        # A rerun into the same results: nothing of the earlier run (its
        # ready file, its receiver's data) may leak into this one.
        shutil.rmtree(run_dir)
    agents.ensure_dir(run_dir)
    vm, vm_url = receiver.start(procs, run_dir)
    write_url = f"{vm_url}/api/v1/write"

    lg_log = os.path.join(run_dir, "loadgen.log")
    lg = procs.start("levee-loadgen", loadgen_args(opts, workload, duration, interval, run_dir), lg_log)
    ready = wait_file(os.path.join(run_dir, "ready.json"), lg, 120, lg_log)

    config = os.path.join(run_dir, "prometheus.yml")
    with open(config, "w") as f:
        f.write(agents.prometheus_yml(ready, f"{interval}s", write_url,
                                      agents.scrape_extra(variant, opts)))
    data_dir = os.path.join(run_dir, "data")
    port = free_port()
    argv = agents.command(kind, variant, opts, config, data_dir, port, write_url)
    agent_log = os.path.join(run_dir, "agent.log")
    started = time.monotonic()
    agent = procs.start(name, argv, agent_log)
    log(f"  {workload}/{name}: pid {agent.pid}, {duration}s; {' '.join(argv)}")

    samples = []  # (seconds since agent start, cpu seconds, rss bytes)
    disk = []  # (seconds, bytes)
    peak_disk = 0
    next_tick = started
    while lg.poll() is None:
        now = time.monotonic()
        if agent.poll() is not None:
            log(f"  {name} exited early with {agent.returncode}; see {agent_log}")
            break
        cpu, mem = cpu_seconds(agent.pid), memory(agent.pid)
        if cpu is not None and mem is not None:
            samples.append((now - started, cpu, mem[0]))
        if len(samples) % 5 == 1:  # the data dir every 5 s
            d = disk_bytes(data_dir)
            disk.append((now - started, d))
            peak_disk = max(peak_disk, d)
        next_tick += 1.0
        time.sleep(max(0.0, next_tick - time.monotonic()))
    window_end = time.monotonic() - started
    hwm = memory(agent.pid)
    final_disk = disk_bytes(data_dir)
    peak_disk = max(peak_disk, final_disk)

    # Let the agent's queue drain into the receiver: wait until the
    # receiver's row count holds still for 5 s (at most opts["drain"] s).
    last, still_since, deadline = None, time.monotonic(), time.monotonic() + opts["drain"]
    while time.monotonic() < deadline and agent.poll() is None:
        rows = receiver.rows_inserted(vm_url)
        if rows != last:
            last, still_since = rows, time.monotonic()
        elif time.monotonic() - still_since >= 5:
            break
        time.sleep(1)
    status, text = http_get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    text = text.decode("utf-8", "replace") if status == 200 else ""
    self_metrics = {m: metric_sum(text, m) for m in agents.RECORDED[kind]}
    sent_bytes = metric_sum(text, agents.SENT_BYTES[kind])
    exit_code = procs.stop(agent, grace=40)

    receiver.flush(vm_url)
    rows = receiver.rows_inserted(vm_url)
    series_total = receiver.series_count(vm_url)
    procs.stop(lg, grace=10)
    with open(os.path.join(run_dir, "loadgen.json")) as f:
        lg_report = json.load(f)
    window_end_unix = lg_report["ticks"][0]["published_unix_ms"] / 1000 + lg_report["duration_seconds"]
    series, samples_arrived = receiver.window_counts(vm_url, window_end_unix,
                                                     lg_report["duration_seconds"] + 60)
    storm = None
    if workload in ("storm", "churn"):
        # An agent that folds keeps what a host that left added; one that
        # forwards the raw series sums what the body holds.
        truth = "istio_retained_totals" if "series_budget" in variant.get("scrape", {}) \
            else "istio_totals"
        storm = receiver.storm_exactness(vm_url, lg_report, truth)
    procs.stop(vm, grace=20)

    window = [s for s in samples if s[0] <= window_end]
    cpu_end = window[-1][1] if window else None
    rss_final = window[-1][2] if window else None
    half = [(t, rss) for t, _, rss in window if t >= window_end / 2]
    last_tick = lg_report["ticks"][-1] if lg_report["ticks"] else {"series": 0}
    served = lg_report["samples_served"]
    result = {
        "workload": workload,
        "agent": name,
        "kind": kind,
        "argv": argv,
        "binary_sha256": opts["levee_sha256"] if kind == "levee" else None,
        "duration_s": duration,
        "interval_s": interval,
        "window_s": window_end,
        "agent_exit_code": exit_code,
        "exited_early": bool(samples) and samples[-1][0] < window_end - 2,
        "cpu_seconds": cpu_end,
        "samples_scraped": served,
        "cpu_us_per_sample": (cpu_end * 1e6 / served) if cpu_end and served else None,
        "rss_peak_bytes": hwm[1] if hwm else max((s[2] for s in samples), default=None),
        "rss_final_bytes": rss_final,
        "active_series": last_tick["series"],
        "rss_bytes_per_series": (rss_final / last_tick["series"])
        if rss_final and last_tick["series"] else None,
        "rss_slope_mib_per_min": slope_mib_per_min(half),
        "rss_median_2nd_half_bytes": sorted(v for _, v in half)[len(half) // 2] if half else None,
        "disk_final_bytes": final_disk,
        "disk_peak_bytes": peak_disk,
        "sent_bytes": sent_bytes,
        "receiver_rows": samples_arrived,
        "receiver_series": series,
        "receiver_rows_all": rows,
        "receiver_series_all": series_total,
        "wire_bytes_per_sample": (sent_bytes / rows) if sent_bytes and rows else None,
        "storm": storm,
        "self_metrics": self_metrics,
        "loadgen": {k: lg_report[k] for k in ("requests", "samples_served", "bytes_served",
                                               "late_ticks", "cpu_seconds", "peak_rss_bytes")},
        "loadgen_ticks": len(lg_report["ticks"]),
        "samples": samples,
        "disk": disk,
    }
    with open(os.path.join(out_dir, f"{workload}-{name}.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result
