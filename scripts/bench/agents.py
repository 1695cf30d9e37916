"""The agents compared and how each is started: the one standard
prometheus.yml they all read (plus each limit variant's additions), their
command lines, and the self-metric holding the bytes each sent."""

import json
import os

PROMETHEUS_BIN = "/usr/bin/prometheus"
VMAGENT_BIN = "/usr/bin/vmagent"

# name -> (kind, what the variant adds). `scrape` keys go into every
# scrape_config; `flags` are extra command-line flags. "{budget}" and
# "{hourly}" are filled in from the run's options.
VARIANTS = {
    "levee": ("levee", {}),
    "levee-series-budget": ("levee", {"scrape": {"series_budget": "{budget}"}}),
    "prometheus": ("prometheus", {}),
    "prometheus-sample-limit": ("prometheus", {"scrape": {"sample_limit": "{budget}"}}),
    "vmagent": ("vmagent", {}),
    "vmagent-series-limit": ("vmagent", {"scrape": {"series_limit": "{budget}"}}),
    "vmagent-max-hourly-series": ("vmagent", {"flags": ["-remoteWrite.maxHourlySeries={hourly}"]}),
}

# The self-metric with the (compressed) remote-write bytes each agent sent.
SENT_BYTES = {
    "levee": "levee_remote_write_bytes_sent_total",
    "prometheus": "prometheus_remote_storage_bytes_total",
    "vmagent": "vmagent_remotewrite_bytes_sent_total",
}

# Self-metrics kept in the results for the record (summed over labels).
RECORDED = {
    "levee": ["levee_scrape_samples_scraped_total", "levee_scrape_failures_total",
              "levee_remote_write_samples_total", "levee_remote_write_samples_dropped_total",
              "levee_remote_write_bytes_sent_total", "levee_guard_folded_series",
              "levee_tsdb_head_series", "levee_target_active_series",
              "levee_guard_state_bytes", "levee_guard_state_save_duration_seconds",
              "levee_memory_trims_total", "levee_memory_trim_duration_seconds"],
    "prometheus": ["prometheus_remote_storage_samples_total",
                   "prometheus_remote_storage_samples_dropped_total",
                   "prometheus_remote_storage_bytes_total",
                   "prometheus_target_scrapes_exceeded_sample_limit_total",
                   "prometheus_target_scrapes_sample_out_of_order_total"],
    "vmagent": ["vmagent_remotewrite_bytes_sent_total", "vmagent_remotewrite_block_size_rows_sum",
                "vm_promscrape_scrapes_failed_total", "vmagent_hourly_series_limit_rows_dropped_total",
                "vm_promscrape_series_limit_rows_dropped_total", "vm_promscrape_scrapes_skipped_by_sample_limit_total"],
}


def prometheus_yml(ready, interval, remote_write_url, scrape_extra=None):
    """The standard config: one scrape_config per job of the load
    generator, static targets, interval = timeout = the tick interval, one
    remote_write to the receiver; `scrape_extra` adds keys to every job."""
    jobs = {}
    for t in ready["targets"]:
        jobs.setdefault(t["job"], []).append(t["address"])
    lines = ["global:", f"  scrape_interval: {interval}", f"  scrape_timeout: {interval}",
             "scrape_configs:"]
    for job, addrs in jobs.items():
        lines.append(f"  - job_name: {job}")
        for k, v in (scrape_extra or {}).items():
            lines.append(f"    {k}: {v}")
        lines.append("    static_configs:")
        lines.append("      - targets: " + json.dumps(addrs))
    lines += ["remote_write:", f"  - url: {remote_write_url}", ""]
    return "\n".join(lines)


def command(kind, variant, opts, config_path, data_dir, port, remote_write_url):
    """The argv that starts agent `kind` (variant settings applied)."""
    flags = [f.format(**opts) for f in variant.get("flags", [])]
    if kind == "levee":
        return [opts["levee_bin"], "run", f"--config={config_path}",
                f"--data-dir={data_dir}", f"--listen=127.0.0.1:{port}"] + flags
    if kind == "prometheus":
        return [PROMETHEUS_BIN, "--enable-feature=agent", f"--config.file={config_path}",
                f"--storage.agent.path={data_dir}", f"--web.listen-address=127.0.0.1:{port}"] + flags
    if kind == "vmagent":
        # vmagent reads scrape_configs from the same file (it ignores
        # remote_write there only with strictParse off) and takes the
        # receiver from a flag. Its default 16 MB scrape size limit would
        # fail the storm and big targets outright, so it is raised.
        return [VMAGENT_BIN, f"-promscrape.config={config_path}",
                "-promscrape.config.strictParse=false",
                f"-remoteWrite.url={remote_write_url}",
                f"-remoteWrite.tmpDataPath={data_dir}",
                "-promscrape.maxScrapeSize=4GB",
                f"-httpListenAddr=127.0.0.1:{port}"] + flags
    raise ValueError(f"unknown agent kind {kind}")


def scrape_extra(variant, opts):
    """The variant's additions to every scrape_config, filled in."""
    return {k: str(v).format(**opts) for k, v in variant.get("scrape", {}).items()}


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path
