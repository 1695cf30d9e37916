#!/usr/bin/env python3
"""Writes the fuzz seeds: fuzz/seeds/NAME/* for every target in
fuzz/Cargo.toml. Small valid inputs, built here from the format docs
(docs/format/*.md) or copied from the committed fixtures under tests/data.
Deterministic; run from the repository root:  python3 fuzz/seeds/gen.py
"""

import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(v: int) -> int:
    return ((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF


def fbits(v: float) -> int:
    return struct.unpack(">Q", struct.pack(">d", v))[0]


STALE_NAN = 0x7FF0000000000002


def snappy_literal(data: bytes) -> bytes:
    """The snappy raw block format with every byte as one literal."""
    out = bytearray(uvarint(len(data)))
    pos = 0
    while pos < len(data) or (pos == 0 and not data):
        chunk = data[pos:pos + 65536]
        n = len(chunk) - 1
        if n < 0:
            break
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
        pos += len(chunk)
    return bytes(out)


# --- WAL records (docs/format/record.md) ---

def series_record(series):
    out = bytearray([1, 1])
    for ref, labels in series:
        out += struct.pack(">I", ref) + uvarint(len(labels))
        for name, value in sorted(labels):
            out += uvarint(len(name)) + name.encode() + uvarint(len(value)) + value.encode()
    return bytes(out)


def samples_record(samples):
    out = bytearray([2, 1])
    if not samples:
        return bytes(out)
    ref0, t0, _ = samples[0]
    out += struct.pack(">I", ref0) + struct.pack(">q", t0)
    for ref, t, bits in samples:
        out += uvarint(zigzag(ref - ref0)) + uvarint(zigzag(t - t0)) + struct.pack(">Q", bits)
    return bytes(out)


# --- WAL segments (docs/format/wal.md) ---

def wal_frame(record: bytes) -> bytes:
    payload = snappy_literal(record)
    rest = struct.pack("<I", len(payload)) + bytes([1]) + struct.pack("<I", crc32c(payload))
    return struct.pack("<I", crc32c(rest)) + rest + payload


def wal_segment(records) -> bytes:
    return b"LWAL\x01\x00\x00\x00" + b"".join(wal_frame(r) for r in records)


# --- XOR chunks (docs/format/chunks.md) ---

class Bits:
    def __init__(self):
        self.bits = []

    def write(self, v: int, n: int):
        for i in range(n - 1, -1, -1):
            self.bits.append((v >> i) & 1)

    def uvarint(self, v: int):
        for b in uvarint(v):
            self.write(b, 8)

    def bytes(self) -> bytes:
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def xor_chunk(samples) -> bytes:
    """Encodes (t, value bits) pairs as levee's XorChunk does."""
    w = Bits()
    prev_t = prev_delta = prev_v = 0
    leading = None
    trailing = 0
    for i, (t, v) in enumerate(samples):
        if i == 0:
            w.uvarint(zigzag(t))
            w.write(v, 64)
        else:
            delta = t - prev_t
            if i == 1:
                w.uvarint(delta)
            else:
                dod = delta - prev_delta
                if dod == 0:
                    w.write(0, 1)
                else:
                    for prefix, nbits in ((2, 7), (3, 14), (4, 20), (4, 64)):
                        half = 1 << (nbits - 1)
                        if nbits == 64 or -(half - 1) <= dod <= half:
                            w.write((1 << prefix) - (1 if nbits == 64 else 2), prefix)
                            w.write(dod & ((1 << nbits) - 1), nbits)
                            break
            x = v ^ prev_v
            if x == 0:
                w.write(0, 1)
            else:
                w.write(1, 1)
                lead = min(64 - x.bit_length(), 31)
                trail = (x & -x).bit_length() - 1
                if leading is not None and lead >= leading and trail >= trailing:
                    w.write(0, 1)
                    w.write(x >> trailing, 64 - leading - trailing)
                else:
                    leading, trailing = lead, trail
                    sig = 64 - lead - trail
                    w.write(1, 1)
                    w.write(lead, 5)
                    w.write(sig % 64, 6)
                    w.write(x >> trail, sig)
            prev_delta = delta
        prev_t, prev_v = t, v
    return struct.pack(">H", len(samples)) + w.bytes()


# --- remote write protobuf (proto/remote.proto, proto/types.proto) ---

def pb_key(field: int, wire: int) -> bytes:
    return uvarint(field << 3 | wire)


def pb_bytes(field: int, data: bytes) -> bytes:
    return pb_key(field, 2) + uvarint(len(data)) + data


def write_request(series) -> bytes:
    out = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for name, value in labels:
            ts += pb_bytes(1, pb_bytes(1, name.encode()) + pb_bytes(2, value.encode()))
        for t, bits in samples:
            s = pb_key(1, 1) + struct.pack("<Q", bits) + pb_key(2, 0) + uvarint(t & 0xFFFFFFFFFFFFFFFF)
            ts += pb_bytes(2, s)
        out += pb_bytes(1, bytes(ts))
    # One metadata entry (field 3): type COUNTER, family name, help.
    md = pb_key(1, 0) + uvarint(1) + pb_bytes(2, b"http_requests_total") + pb_bytes(4, b"Requests.")
    out += pb_bytes(3, md)
    return bytes(out)


def write_request_v2(symbols, series) -> bytes:
    """A remote-write 2.0 Request: symbols (field 4), then per series
    (field 5) packed labels_refs (1), samples (2), empty native histograms
    (3), one exemplar (4) and metadata (5: type, help_ref, unit_ref)."""
    out = bytearray()
    for s in symbols:
        out += pb_bytes(4, s.encode())
    for refs, samples, histograms, metadata in series:
        ts = bytearray(pb_bytes(1, b"".join(uvarint(r) for r in refs)))
        for t, bits in samples:
            s = pb_key(1, 1) + struct.pack("<Q", bits) + pb_key(2, 0) + uvarint(t & 0xFFFFFFFFFFFFFFFF)
            ts += pb_bytes(2, s)
        for _ in range(histograms):
            ts += pb_bytes(3, b"")
        ts += pb_bytes(4, pb_key(2, 1) + struct.pack("<Q", fbits(1.5)))
        if metadata:
            kind, help_ref, unit_ref = metadata
            ts += pb_bytes(5, pb_key(1, 0) + uvarint(kind) + pb_key(3, 0) + uvarint(help_ref) + pb_key(4, 0) + uvarint(unit_ref))
        out += pb_bytes(5, bytes(ts))
    return bytes(out)


def write(target: str, name: str, data: bytes):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fixture(*path) -> bytes:
    with open(os.path.join(ROOT, "tests", "data", *path), "rb") as f:
        return f.read()


def main():
    for entry in os.listdir(SEEDS):
        p = os.path.join(SEEDS, entry)
        if os.path.isdir(p):
            shutil.rmtree(p)

    node = [("__name__", "node_load1"), ("instance", "localhost:9100"), ("job", "node")]
    up = [("__name__", "up"), ("job", "node")]
    series = series_record([(1, node), (2, up)])
    samples = samples_record([(1, 1_700_000_000_000, fbits(0.5)), (2, 1_700_000_000_000, fbits(1.0)),
                              (1, 1_700_000_015_000, fbits(0.75)), (2, 1_700_000_015_000, STALE_NAN)])

    write("record", "series", series)
    write("record", "samples", samples)
    write("record", "samples_empty", samples_record([]))
    write("record", "samples_negative", samples_record([(7, -5, fbits(-0.0)), (3, -9_000_000_000_000, 0)]))

    # db_replay: control byte (bit 0: 1 s block range; bit 1: compact), then
    # records, each a u16 LE length and the record.
    def records(*recs):
        return b"".join(struct.pack("<H", len(r)) + r for r in recs)
    write("db_replay", "series_and_samples", b"\x00" + records(series, samples))
    spread = samples_record([(1, 1_000 * i, fbits(float(i))) for i in range(0, 40, 3)]
                            + [(2, 1_000 * i + 500, fbits(-float(i))) for i in range(0, 40, 7)])
    write("db_replay", "compact_small_range", b"\x03" + records(series, spread, samples))
    write("db_replay", "unknown_ref_and_stale", b"\x02" + records(
        series, samples_record([(9, 5, fbits(1.0)), (1, 5, STALE_NAN), (1, 4, fbits(2.0))])))

    # wal: control byte, then segments back to back (bit 0: fix checksums).
    write("wal", "fixture_v1", b"\x01" + fixture("tsdb", "wal-v1", "00000000"))
    write("wal", "checkpoint_v1", b"\x01" + fixture("tsdb", "wal-checkpoint-v1", "checkpoint.00000000", "00000000"))
    two = wal_segment([series, samples]) + wal_segment([samples_record([(2, 1_700_000_030_000, fbits(1.0))])])
    write("wal", "two_segments", b"\x03" + two)
    torn = wal_segment([series, samples])
    write("wal", "torn_tail_small_segments", b"\x09" + torn[:-5])

    # xor_chunk: control byte, then the chunk.
    write("xor_chunk", "fixture_v1", b"\x03" + fixture("tsdb", "chunk-v1.xor")[1:])  # [0] is the encoding byte
    write("xor_chunk", "empty", b"\x00" + xor_chunk([]))
    write("xor_chunk", "one", b"\x05" + xor_chunk([(1_700_000_000_000, fbits(1.0))]))
    jitter = [(1_000 + 15_000 * i + (i * 37) % 11, fbits(100.0 + i * 0.25)) for i in range(20)]
    write("xor_chunk", "jitter", b"\x07" + xor_chunk(jitter))
    odd = [(-5, fbits(0.0)), (-4, STALE_NAN), (1 << 40, fbits(-0.0)), ((1 << 40) + 3, fbits(float("inf"))),
           ((1 << 41), fbits(1e-300)), ((1 << 41) + 1, fbits(1e-300))]
    write("xor_chunk", "odd_values", b"\x02" + xor_chunk(odd))

    # chunk_files: control byte (bit 0: fix CRCs; bits 1-2: first sequence
    # number - 1), then the files back to back.
    files = fixture("tsdb", "chunk-files-v1", "000001")
    write("chunk_files", "fixture_v1", b"\x01" + files)
    chunk = xor_chunk([(1_000, fbits(1.5)), (2_000, fbits(2.5)), (3_000, STALE_NAN)])
    entry = uvarint(7) + uvarint(zigzag(1_000)) + uvarint(2_000) + b"\x01" + uvarint(len(chunk)) + chunk
    entry += struct.pack("<I", crc32c(entry))
    two = b"LVCF\x01\x00\x00\x00" + entry + entry + b"LVCF\x01\x00\x00\x00" + entry
    write("chunk_files", "two_files", b"\x03" + two)
    write("chunk_files", "torn_tail", b"\x00" + two[:-3])

    # block_index: control byte (odd: fix checksums), then the file.
    write("block_index", "fixture_v1", b"\x01" + fixture("tsdb_index", "index-v1.bin"))
    write("block_index", "block_v1", b"\x01" + fixture("tsdb", "block-v1", "01M8K6RADCJNZGN15DRQQSDCW5", "index"))

    # remote_write: control byte (bit 0: the rest is a raw protobuf to be
    # snappy-compressed by the target; bits 1-2: the size limit).
    req = write_request([
        (node, [(1_700_000_000_000, fbits(0.5)), (1_700_000_015_000, STALE_NAN)]),
        (up, [(-1, fbits(-0.0)), (0, fbits(float("nan")))]),
        (up, [(5, fbits(2.0))]),
    ])
    write("remote_write", "protobuf", b"\x07" + req)
    write("remote_write", "snappy", b"\x06" + snappy_literal(req))
    write("remote_write", "empty", b"\x00" + snappy_literal(b""))

    # receiver: control byte (bit 0: 2.0; bit 1: the rest is a raw protobuf
    # to be snappy-compressed by the target; bits 2-3: the size limit).
    write("receiver", "v1_protobuf", b"\x0e" + req)
    write("receiver", "v1_snappy", b"\x0c" + snappy_literal(req))
    bad = write_request([([("__name__", "up"), ("1x", "a")], [(1, fbits(1.0))]), (up, [(2, fbits(2.0))])])
    write("receiver", "v1_invalid_label", b"\x0e" + bad)
    symbols = ["", "__name__", "up", "job", "node", "Up or not.", "seconds"]
    v2 = write_request_v2(symbols, [
        ([1, 2, 3, 4], [(1_700_000_000_000, fbits(1.0)), (1_700_000_015_000, fbits(0.0))], 0, (2, 5, 6)),
        ([1, 2, 3, 99], [(5, fbits(2.0))], 0, None),
        ([1, 2, 3], [(5, fbits(2.0))], 0, None),
        ([1, 2], [], 2, (3, 0, 0)),
    ])
    write("receiver", "v2_protobuf", b"\x0f" + v2)
    write("receiver", "v2_snappy", b"\x0d" + snappy_literal(v2))

    # config: the text.
    write("config", "prometheus.yml", fixture("config", "prometheus.yml"))
    write("config", "upstream-example.yml", fixture("config", "upstream-example.yml"))
    write("config", "duration", b"1h30m")
    write("config", "size", b"512MiB")
    write("config", "relabel.yml", b"""global:
  scrape_interval: 15s
  external_labels: {cluster: eu-1}
x-common: &common
  scrape_timeout: 5s
scrape_configs:
  - job_name: pods
    <<: *common
    static_configs: [{targets: ['10.0.0.1:9100'], labels: {zone: a}}]
    relabel_configs:
      - {source_labels: [__address__], regex: '([^:]+):\\d+', target_label: host, replacement: '${1}'}
      - {action: hashmod, source_labels: [host], modulus: 4, target_label: shard}
      - {action: keep, source_labels: [shard], regex: '0|1'}
      - {action: labelmap, regex: '__meta_kubernetes_pod_label_(.+)'}
      - {action: lowercase, source_labels: [job], target_label: job_lc}
    metric_relabel_configs:
      - {action: labeldrop, regex: 'destination_service'}
      - {action: drop, source_labels: [__name__], regex: 'go_.*'}
remote_write:
  - url: http://127.0.0.1:9090/api/v1/write
    write_relabel_configs:
      - {action: replace, source_labels: [a, b], separator: '-', target_label: ab}
""")

    # exposition: control byte (bit 0: OpenMetrics; the rest: chunk cuts).
    write("exposition", "text", b"\x08" + fixture("exposition", "valid", "text_crlf_comments.txt"))
    write("exposition", "text_help", b"\x06" + fixture("exposition", "valid", "text_help_unicode.txt"))
    write("exposition", "openmetrics", b"\x0b" + fixture("exposition", "valid", "om_exemplar_duplicate_label.txt"))

    # kubernetes_watch: control byte (bits 0-2: pod, node, service, endpoints,
    # endpointslice; bit 3: watch lines or kubeconfig), then the body.
    write("kubernetes_watch", "pod_events", b"\x00" + fixture("kubernetes", "watch-pods-events.jsonl"))
    write("kubernetes_watch", "pod_error", b"\x00" + fixture("kubernetes", "watch-error-410.jsonl"))
    write("kubernetes_watch", "node_events", b"\x01" + fixture("kubernetes", "watch-nodes-events.jsonl"))
    write("kubernetes_watch", "kubeconfig", b"\x08" + b"""current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc}}]
""")

    # guard_state: control byte (odd: fix the trailing CRC), then the file.
    write("guard_state", "state", b"\x01" + fixture("guard", "state-v1"))
    write("file_sd", "json", b'[{"targets": ["127.0.0.1:9100"], "labels": {"env": "a"}}]')
    write("file_sd", "yaml", b"- targets: ['127.0.0.1:9100']\n  labels: {env: a}\n")

    # kubernetes_objects: control byte (the list type), then the list.
    for control, name in enumerate(["pods", "nodes", "services", "endpoints", "endpointslices"]):
        write("kubernetes_objects", name, bytes([control]) + fixture("kubernetes", name + ".json"))

    # web_config: control byte (even: a web config file; odd: an
    # Authorization header value), then the text.
    write("web_config", "auth_tls.yml", b"""\x00tls_server_config:
  cert_file: ../tests/data/remote/tls/server.pem
  key_file: ../tests/data/remote/tls/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ../tests/data/remote/tls/ca.pem
  min_version: TLS12
basic_auth_users:
  alice: $2b$04$9Wx8l3QJjY0HhlUV5ZQnEuKr3fF4m9aT0D7mYbq6lKQyqQ6Vb0N6e
levee_unauthenticated_paths: [/metrics, /-/healthy]
""")
    write("web_config", "basic", b"\x01Basic YWxpY2U6czNjcjp0")


if __name__ == "__main__":
    main()
