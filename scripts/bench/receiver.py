"""The receiver of a benchmark run: a fresh VictoriaMetrics on 127.0.0.1,
and what arrived in it, counted exactly through its APIs."""

import json
import math
import os
import urllib.parse

from procs import free_port, http_get, metric_sum, wait_http_ok

VM_BIN = "/usr/bin/victoria-metrics"


def start(procs, run_dir):
    """Starts VictoriaMetrics with its storage in `run_dir`/vm; returns (proc, url)."""
    port = free_port()
    log = os.path.join(run_dir, "victoria-metrics.log")
    p = procs.start("victoria-metrics", [
        VM_BIN,
        f"-storageDataPath={os.path.join(run_dir, 'vm')}",
        f"-httpListenAddr=127.0.0.1:{port}",
        "-retentionPeriod=100y",
        "-search.latencyOffset=0s",
        "-search.disableCache",
        "-search.maxUniqueTimeseries=100000000",
    ], log)
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{url}/health", p, 60, log)
    return p, url


def rows_inserted(url):
    """Samples VictoriaMetrics took in over remote write so far."""
    status, body = http_get(f"{url}/metrics")
    if status != 200:
        return None
    return metric_sum(body.decode(), "vm_rows_inserted_total", {"type": "promremotewrite"})


def flush(url):
    """Makes everything received searchable."""
    http_get(f"{url}/internal/force_flush", timeout=60)


def series_count(url):
    """Series stored (the receiver is fresh, so: series that arrived)."""
    status, body = http_get(f"{url}/api/v1/series/count", timeout=120)
    if status != 200:
        return None
    data = json.loads(body)["data"]
    return int(data[0]) if data else 0


def storm_exactness(url, loadgen_report, truth_key="istio_totals"):
    """Checks each scrape of the storm target that arrived: the sum of its
    `istio_requests_total` samples against the load generator's ground
    truth for the tick the scrape saw (its `loadgen_tick` sample):
    `truth_key` "istio_totals" is the body's sum, "istio_retained_totals"
    the sum where every host that left the body counts at its last values
    (the same while no host has left; a report without it falls back to
    the body's sum).

    Returns a dict: scrapes served, scrapes arrived, exact scrapes, the
    last arrived scrape's sum and truth, and the largest relative error."""
    truth = {t["tick"]: t.get(truth_key, t["istio_totals"])["istio_requests_total"]
             for t in loadgen_report["ticks"] if "istio_totals" in t}
    served = next((t["requests"] for t in loadgen_report["targets"] if t["job"] == "istio"), 0)
    match = '{job="istio",__name__=~"istio_requests_total|loadgen_tick"}'
    query = urllib.parse.urlencode({"match[]": match, "start": "0"})
    status, body = http_get(f"{url}/api/v1/export?{query}", timeout=600)
    if status != 200:
        return {"error": f"export answered {status}: {body[:200]!r}"}
    tick_at, sums = {}, {}
    for line in body.splitlines():
        if not line.strip():
            continue
        s = json.loads(line)
        name = s["metric"].get("__name__")
        for ts, v in zip(s["timestamps"], s["values"]):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue  # staleness marker
            if name == "loadgen_tick":
                tick_at[ts] = int(v)
            else:
                sums[ts] = sums.get(ts, 0.0) + float(v)
    arrived = sorted(tick_at)
    exact, worst = 0, 0.0
    for ts in arrived:
        want = truth.get(tick_at[ts])
        got = sums.get(ts, 0.0)
        if want is None:
            continue
        if got == want:
            exact += 1
        worst = max(worst, abs(got - want) / want if want else 0.0)
    last = arrived[-1] if arrived else None
    return {
        "scrapes_served": served,
        "scrapes_arrived": len(arrived),
        "scrapes_exact": exact,
        "max_relative_error": worst,
        "last_tick": tick_at[last] if last is not None else None,
        "last_sum": sums.get(last, 0.0) if last is not None else None,
        "last_truth": truth.get(tick_at[last]) if last is not None else None,
        "truth_final": truth[max(truth)] if truth else None,
        "truth": truth_key,
    }


def _instant(url, promql, at):
    query = urllib.parse.urlencode({"query": promql, "time": f"{at:.3f}"})
    status, body = http_get(f"{url}/api/v1/query?{query}", timeout=600)
    if status != 200:
        return None
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def window_counts(url, end_unix, window_s):
    """Series and samples (staleness markers not counted) that arrived
    with timestamps in the `window_s` seconds before `end_unix`: the run's
    measuring window, which ends when the load generator stops serving (the
    markers agents send for targets that went away come after it)."""
    selector = f'{{__name__=~".+"}}[{int(window_s)}s]'
    at = end_unix - 0.001
    series = _instant(url, f"count(last_over_time({selector}))", at)
    samples = _instant(url, f"sum(count_over_time({selector}))", at)
    return (int(series) if series is not None else None,
            int(samples) if samples is not None else None)
