"""Kubernetes discovery benchmark: levee beside vmagent on one fake API
server on 127.0.0.1 (docs/benchmarks.md, "Kubernetes discovery").

The server serves a PodList of N pods (100 per node, on loopback addresses,
with the labels, annotations and managedFields real pods carry) and a watch
stream that stays open. For each agent and each case it measures the
agent's resident memory once its target count has settled, and then the
time from an ADDED event on the watch stream to the agent's first scrape
of the new pod (a loopback target served here).

Cases: `0` pods (the baseline), `N` pods watched cluster-wide (role pod
without a selector) and `N` pods with a `spec.nodeName` field selector (the
DaemonSet's config; the server filters as the API server would).
Memory per watched pod = (RSS with N pods - RSS with none) / pods watched.

  CARGO_TARGET_DIR=/work/target-bench cargo build --release --bin levee
  scripts/bench-discovery --levee-bin /work/target-bench/release/levee
"""

import argparse
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

PODS_PER_NODE = 100


def pod(i, node, ip, port, labels):
    return {
        "metadata": {
            "name": f"app-{i}",
            "namespace": f"ns-{i % 20}",
            "uid": f"00000000-0000-4000-8000-{i:012d}",
            "resourceVersion": str(1000 + i),
            "creationTimestamp": "2026-12-01T10:00:00Z",
            "generateName": f"app-{i // 10}-",
            "labels": {"app.kubernetes.io/name": f"app-{i // 10}", "pod-template-hash": "5d8f6c7b9",
                       "team": f"team-{i % 7}", **labels},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                            "kubectl.kubernetes.io/restartedAt": "2026-12-01T10:00:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"app-{i // 10}-5d8f6c7b9",
                                 "uid": "u", "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                               "time": "2026-12-01T10:00:00Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:labels": {f"f:l{k}": {} for k in range(12)}},
                                            "f:spec": {"f:containers": {f"k:{{\"name\":\"c{k}\"}}": {} for k in range(6)}}}}],
        },
        "spec": {
            "nodeName": node,
            "serviceAccountName": "default",
            "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
            "containers": [
                {"name": "app", "image": "registry.local/app:1.2.3", "args": ["--listen=:8080", "--verbose"],
                 "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                 "env": [{"name": f"E{k}", "value": "x" * 20} for k in range(5)]},
                {"name": "sidecar", "image": "registry.local/proxy:1.0", "ports": [{"name": "admin", "containerPort": 15000}]},
            ],
        },
        "status": {
            "phase": "Running", "podIP": ip, "hostIP": "127.0.0.1",
            "conditions": [{"type": t, "status": "True"} for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": "app", "containerID": f"containerd://{i:064x}", "ready": True},
                                  {"name": "sidecar", "containerID": f"containerd://{i + 1:064x}", "ready": True}],
        },
    }


class Api:
    """The fake API server: LIST of the pods (filtered by
    `spec.nodeName=` when asked), watches held open, events pushed to them."""

    def __init__(self, n):
        self.pods = []
        for i in range(n):
            node = f"node-{i // PODS_PER_NODE}"
            ip = f"127.{1 + (i >> 16) & 0xff}.{(i >> 8) & 0xff}.{i & 0xff}"
            self.pods.append(pod(i, node, ip, 9000, {}))
        self.watches = []
        self.lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(url.query)
                if url.path != "/api/v1/pods":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"kind":"List","metadata":{"resourceVersion":"1"},"items":[]}')
                    return
                node = None
                for sel in q.get("fieldSelector", []):
                    if sel.startswith("spec.nodeName="):
                        node = sel.split("=", 1)[1]
                if q.get("watch", [""])[0] in ("true", "1"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.flush()
                    with api.lock:
                        api.watches.append((self.wfile, node))
                    time.sleep(3600)
                    return
                items = [p for p in api.pods if node is None or p["spec"]["nodeName"] == node]
                body = json.dumps({"kind": "PodList", "apiVersion": "v1",
                                   "metadata": {"resourceVersion": "100000"}, "items": items}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, p):
        line = (json.dumps({"type": "ADDED", "object": p}) + "\n").encode()
        with self.lock:
            for w, node in self.watches:
                if node is None or node == p["spec"]["nodeName"]:
                    try:
                        w.write(line)
                        w.flush()
                    except OSError:
                        pass

    def close(self):
        self.server.shutdown()


class Probe:
    """The new pod's target: records when it was first scraped."""

    def __init__(self):
        self.first = None
        probe = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if probe.first is None:
                    probe.first = time.monotonic()
                body = b"probe_up 1\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) * 1024
    return out


def targets(url):
    try:
        with urllib.request.urlopen(f"{url}/api/v1/targets?state=any", timeout=10) as r:
            d = json.load(r)["data"]
        return len(d.get("activeTargets") or []) + len(d.get("droppedTargets") or [])
    except Exception:
        return -1


def run_case(agent, binary, n_pods, selector, work):
    api = Api(n_pods)
    probe = Probe()
    sel = "\n        selectors:\n          - role: pod\n            field: spec.nodeName=node-0" if selector else ""
    # Only the probe pod is kept for scraping: every other pod is a dropped
    # target (both agents keep those for their targets API).
    config = f"""global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        api_server: {api.url}{sel}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_bench]
        regex: probe
        action: keep
"""
    d = tempfile.mkdtemp(prefix=f"bench-disc-{agent}-", dir=work)
    path = os.path.join(d, "config.yml")
    with open(path, "w") as f:
        f.write(config)
    port = free_port()
    if agent == "levee":
        args = [binary, "run", "--config", path, "--data-dir", os.path.join(d, "data"), "--listen", f"127.0.0.1:{port}"]
    else:
        args = ["vmagent", f"-promscrape.config={path}", f"-httpListenAddr=127.0.0.1:{port}",
                f"-remoteWrite.url=http://127.0.0.1:{free_port()}/api/v1/write",
                f"-remoteWrite.tmpDataPath={os.path.join(d, 'q')}", "-promscrape.maxDroppedTargets=100000"]
    log = open(os.path.join(d, "log"), "w")
    proc = subprocess.Popen(args, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        watched = min(n_pods, PODS_PER_NODE) if selector else n_pods
        expect = 2 * watched  # two containers with a port each
        deadline = time.monotonic() + 180
        last = None
        while time.monotonic() < deadline:
            n = targets(base)
            if n >= expect and n == last:
                break
            last = n
            time.sleep(2)
        time.sleep(5)
        mem = rss(proc.pid)
        # Event → first scrape of the new pod.
        p = pod(10**6, "node-0", "127.0.0.1", probe.port, {"bench": "probe"})
        p["spec"]["containers"] = p["spec"]["containers"][:1]
        sent = time.monotonic()
        api.add(p)
        while probe.first is None and time.monotonic() < sent + 120:
            time.sleep(0.05)
        latency = (probe.first - sent) if probe.first else None
        return {"agent": agent, "pods": n_pods, "selector": selector, "watched": watched,
                "targets": last, **mem, "event_to_scrape_s": latency}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        api.close()
        probe.server.shutdown()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--levee-bin", required=True)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--agents", default="levee,vmagent")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-discovery-")
    rows = []
    try:
        for agent in args.agents.split(","):
            for n, selector in ((0, False), (args.pods, False), (args.pods, True)):
                r = run_case(agent, args.levee_bin, n, selector, work)
                print(json.dumps(r), flush=True)
                rows.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| agent | case | pods watched | targets (active + dropped) | RSS | RssAnon | per watched pod (RSS over the 0-pod run) | event → first scrape |")
    print("|---|---|---|---|---|---|---|---|")
    base = {r["agent"]: r for r in rows if r["pods"] == 0}
    for r in rows:
        case = "no pods" if r["pods"] == 0 else ("node selector" if r["selector"] else "cluster-wide")
        per = ""
        if r["pods"] and r["watched"]:
            per = f'{(r["VmRSS"] - base[r["agent"]]["VmRSS"]) / r["watched"]:.0f} B'
        lat = f'{r["event_to_scrape_s"]:.2f} s' if r["event_to_scrape_s"] is not None else "none in 120 s"
        print(f'| {r["agent"]} | {case} | {r["watched"]} | {r["targets"]} | {r["VmRSS"] / 2**20:.1f} MiB | '
              f'{r["RssAnon"] / 2**20:.1f} MiB | {per} | {lat} |')


if __name__ == "__main__":
    sys.exit(main())
