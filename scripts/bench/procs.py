"""Processes of a benchmark run: free ports, start/stop by PID, and the
per-second readings of /proc (CPU seconds, RSS) and of a data dir's size.

Every process started here is remembered and killed by its PID when the
run ends, is interrupted, or fails (see `Procs.stop_all`).
"""

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10.0):
    """GET `url`; returns (status, body bytes); (0, b"") when unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


class Procs:
    """The processes started by this script, each stopped by PID."""

    def __init__(self):
        self.running = {}  # pid -> (name, Popen)

    def start(self, name, argv, log_path, cwd=None):
        """Starts `argv` with stdout and stderr into `log_path`."""
        log = open(log_path, "wb")
        p = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.running[p.pid] = (name, p)
        return p

    def stop(self, p, grace=30.0):
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.running.pop(p.pid, None)
        return p.returncode

    def stop_all(self, grace=5.0):
        """Stops every process still running (newest first)."""
        for pid in sorted(self.running, reverse=True):
            _, p = self.running[pid]
            self.stop(p, grace)


def wait_http_ok(url, proc, timeout, log_path):
    """Waits until `url` answers 200; raises if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}) before {url} "
                               f"answered; log: {log_path}\n{tail(log_path)}")
        status, _ = http_get(url, timeout=2.0)
        if status == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s; log: {log_path}\n{tail(log_path)}")


def tail(path, lines=15):
    """The last lines of a log file, for error messages."""
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return ""


def cpu_seconds(pid):
    """utime + stime of `pid` in seconds, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 1:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory(pid):
    """(VmRSS, VmHWM) of `pid` in bytes, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    if "VmRSS" not in values:
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


def disk_bytes(path):
    """Bytes allocated on disk under `path` (like `du`), 0 if absent."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def metric_sum(text, name, labels=None):
    """Sum of the samples of `name` in Prometheus text `text` whose labels
    include every pair of `labels`; None if there is no such sample."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        rest = line[len(name):]
        if rest[:1] not in ("{", " "):
            continue
        series, _, value = line.rpartition(" ")
        if labels and not all(f'{k}="{v}"' in series for k, v in labels.items()):
            continue
        try:
            total += float(value)
            found = True
        except ValueError:
            pass
    return total if found else None
