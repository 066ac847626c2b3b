#!/usr/bin/env python3
"""Log upload over loopback: Loghub samples (../shared/datasets/loghub2k; skipped when absent)
posted plain, gzip and zstd to POST /v1/logs/upload with a responder API key, then read back
through `admin logs export` and compared line by line (lines where redaction replaced a secret
are the only ones allowed to differ, and only around a [REDACTED:...] marker). A re-upload is a
duplicate; corrupt, truncated and oversized bodies are refused and store nothing; viewers and
other tenants' keys cannot upload into, or read, the tenant."""
import gzip
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import Aggregator, Workdir, log  # noqa: E402

# ../shared next to the repository; FAULTLINE_SHARED_DIR points elsewhere (e.g. from a worktree).
SHARED = os.environ.get("FAULTLINE_SHARED_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared")
DATASETS = os.path.join(SHARED, "datasets", "loghub2k")
SAMPLES = ["Apache/Apache_2k.log", "HDFS/HDFS_2k.log", "Linux/Linux_2k.log"]


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def zstd_compress(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True,
                          check=True, timeout=60).stdout


def upload(agg, key, source, body, fmt="auto", encoding=None):
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/octet-stream"}
    if encoding:
        headers["Content-Encoding"] = encoding
    status, _, data = agg.request("POST", f"/v1/logs/upload?source={source}&format={fmt}",
                                  body=body, headers=headers, timeout=120)
    return status, json.loads(data) if data else {}


def compare_redacted(expected: bytes, actual: bytes, what):
    exp_lines = expected.split(b"\n")
    act_lines = actual.split(b"\n")
    expect(len(exp_lines) == len(act_lines),
           f"{what}: {len(act_lines)} lines back, {len(exp_lines)} sent")
    redacted = 0
    for i, (a, b) in enumerate(zip(exp_lines, act_lines)):
        if a == b:
            continue
        expect(b"[REDACTED:" in b, f"{what}: line {i + 1} differs: sent {a[:120]!r}, got {b[:120]!r}")
        redacted += 1
    return redacted


def main():
    samples = [os.path.join(DATASETS, s) for s in SAMPLES]
    if not all(os.path.exists(s) for s in samples):
        print("skipped: ../shared/datasets/loghub2k is absent")
        return
    if shutil.which("zstd") is None:
        print("skipped: the zstd command is not installed")
        return
    with Workdir("upload") as wd:
        agg = Aggregator(wd, extra_config="[upload]\nmax_bytes = \"2MiB\"\n").start()
        agg.create_tenant("acme")
        agg.create_tenant("globex")

        def key(tenant, role):
            return agg.admin("api-key", "create", "--tenant", tenant, "--role", role,
                             "--ttl", "1h").stdout.decode().strip()

        responder = key("acme", "responder")
        viewer = key("acme", "viewer")
        globex = key("globex", "admin")

        for sample in samples:
            name = os.path.basename(sample)
            with open(sample, "rb") as f:
                text = f.read()
            for kind, body, encoding in [("plain", text, None),
                                         ("gzip", gzip.compress(text), "gzip"),
                                         ("zstd", zstd_compress(text), None)]:
                source = f"{kind}/{name}"
                status, doc = upload(agg, responder, source, body, encoding=encoding)
                expect(status == 200, f"{source}: {status} {doc}")
                expect(doc["lines"] == text.count(b"\n") + (0 if text.endswith(b"\n") else 1),
                       f"{source}: lines {doc}")
                expect(doc["bytes"] == len(text) and not doc["duplicate"], f"{source}: {doc}")
                back = agg.export("acme", "--source", source)
                redacted = compare_redacted(text, back, source)
                log(f"{source}: {doc['lines']} lines, {doc['batches']} batches, "
                    f"{len(body)} bytes sent, {redacted} lines redacted")
                status, again = upload(agg, responder, source, body, encoding=encoding)
                expect(status == 200 and again["duplicate"], f"{source} again: {status} {again}")

        # Refused, and nothing stored: corrupt, truncated, too large once decompressed.
        text = open(samples[0], "rb").read()
        gz = gzip.compress(text)
        zs = zstd_compress(text)
        bad_gz = bytearray(gz)
        bad_gz[len(gz) // 2] ^= 0x55
        for name, body in [("truncated.gz", gz[:-20]), ("corrupt.gz", bytes(bad_gz)),
                           ("truncated.zst", zs[:-20])]:
            status, doc = upload(agg, responder, name, body)
            expect(status == 400 and doc["error"]["code"] == "bad_upload", f"{name}: {status} {doc}")
            expect(agg.export("acme", "--source", name) == b"", f"{name}: something was stored")
        bomb = gzip.compress(b"A" * (8 << 20), 9)
        status, doc = upload(agg, responder, "bomb.gz", bomb)
        expect(status == 413, f"bomb: {status} {doc}")
        expect(agg.export("acme", "--source", "bomb.gz") == b"", "bomb: something was stored")

        # Roles and tenants: a viewer may not upload; globex's upload stays in globex.
        status, doc = upload(agg, viewer, "viewer.log", b"hello\n")
        expect(status == 403, f"viewer upload: {status} {doc}")
        status, doc = upload(agg, globex, "globex.log", b"globex line\n")
        expect(status == 200, f"globex upload: {status} {doc}")
        expect(agg.export("acme", "--source", "globex.log") == b"", "globex data in acme")
        expect(agg.export("globex") == b"globex line\n", "globex export")
        status, _, _ = agg.request("POST", "/v1/logs/upload?source=x", body=b"x\n")
        expect(status == 401, f"anonymous upload: {status}")

        # Every upload is in the tenant's audit log, refused ones too, and only there.
        def audit(api_key):
            status, _, data = agg.request("GET", "/v1/audit?action=logs.upload&limit=500",
                                          headers={"Authorization": "Bearer " + api_key})
            expect(status == 200, f"audit: {status} {data!r}")
            return json.loads(data)["entries"]
        admin = key("acme", "admin")
        entries = audit(admin)
        expect(len(entries) == len(samples) * 6 + 4, f"acme audit: {len(entries)} entries")
        expect(all(e["actor"].startswith("api_key:") for e in entries), "audit actors")
        outcomes = {(e["target"], e["outcome"]) for e in entries}
        expect(("source:bomb.gz", "failure") in outcomes, f"bomb not audited: {outcomes}")
        expect(not any(e["target"] == "source:globex.log" for e in entries), "globex in acme")
        expect([e["target"] for e in audit(globex)] == ["source:globex.log"], "globex audit")
        # The upload pseudo-agent is listed, and marked as such.
        status, _, data = agg.request("GET", "/v1/agents",
                                      headers={"Authorization": "Bearer " + admin})
        agents = json.loads(data)["agents"]
        expect(status == 200 and [a["kind"] for a in agents] == ["upload"], f"agents: {agents}")
        agg.stop()
    print("log upload: ok")


if __name__ == "__main__":
    main()
