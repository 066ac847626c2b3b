#!/usr/bin/env python3
"""Benchmark: POST /v1/logs/upload of a generated log file to a running aggregator.

Prints the aggregator's CPU seconds for the upload, decompressed MB per aggregator CPU-second,
wall time, lines per second, and checks that the export equals the input (unless --no-verify).

Usage: upload_bench.py [--lines N] [--seed S] [--bin-dir BUILD] [--log FILE]
                       [--compression zstd|gzip|none]
The log comes from ../shared/tools/gen_log.py (1,000,000 lines, seed 42 = 181 MB); the body is
compressed with the zstd/gzip command line tools, so only the aggregator's work is measured.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import Aggregator, Workdir  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GEN = os.path.join(os.environ.get("FAULTLINE_SHARED_DIR") or os.path.join(ROOT, "..", "shared"),
                   "tools", "gen_log.py")


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--log", help="use this file instead of generating one")
    parser.add_argument("--compression", default="zstd", choices=["zstd", "gzip", "none"])
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args()
    os.environ["FAULTLINE_BIN_DIR"] = os.path.abspath(args.bin_dir)

    with Workdir("upload-bench") as wd:
        path = args.log
        if path is None:
            if not os.path.exists(GEN):
                print(f"skipped: {GEN} is absent")
                return
            path = os.path.join(wd, "gen.log")
            subprocess.run([sys.executable, GEN, path, str(args.lines), str(args.seed)],
                           check=True)
        with open(path, "rb") as f:
            text = f.read()
        if args.compression == "none":
            body = text
        else:
            body = subprocess.run([args.compression, "-q", "-c", "-3"], input=text,
                                  capture_output=True, check=True).stdout
        agg = Aggregator(wd, extra_config=(
            "[limits]\nmax_body_bytes = \"1GiB\"\n"
            "[upload]\nmax_bytes = \"4GiB\"\n"
            "[rate_limit.principal]\nrps = 0\n")).start()
        agg.create_tenant("bench")
        key = agg.admin("api-key", "create", "--tenant", "bench", "--role", "responder",
                        "--ttl", "1h").stdout.decode().strip()
        cpu0 = proc_cpu_seconds(agg.proc.pid)
        t0 = time.monotonic()
        status, _, data = agg.request(
            "POST", "/v1/logs/upload?source=bench.log",
            body=body, headers={"Authorization": "Bearer " + key}, timeout=1800)
        wall = time.monotonic() - t0
        cpu = proc_cpu_seconds(agg.proc.pid) - cpu0
        if status != 200:
            raise SystemExit(f"upload failed: {status} {data[:300]!r}")
        doc = json.loads(data)
        mb = len(text) / 1e6
        print(f"upload {args.compression}: {doc['lines']} lines, {mb:.1f} MB "
              f"({len(body) / 1e6:.1f} MB sent), {doc['batches']} batches")
        print(f"aggregator CPU {cpu:.2f} s -> {mb / cpu:.1f} MB per CPU-second, "
              f"{doc['lines'] / cpu / 1e6:.2f}M lines per CPU-second")
        print(f"wall {wall:.2f} s -> {mb / wall:.1f} MB/s, {doc['lines'] / wall / 1e6:.2f}M lines/s")
        if not args.no_verify:
            back = agg.admin("logs", "export", "--tenant", "bench").stdout
            same = sum(1 for a, b in zip(text.split(b"\n"), back.split(b"\n"))
                       if a == b or b"[REDACTED:" in b)
            total = text.count(b"\n") + 1
            print(f"export: {len(back)} bytes, {same}/{total} lines equal (or redacted)")
            if same != total:
                raise SystemExit("export differs from the input")
        agg.stop()


if __name__ == "__main__":
    main()
