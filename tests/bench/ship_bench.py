#!/usr/bin/env python3
"""Benchmark: ship a generated log file through the agent to a running aggregator.

Prints agent CPU seconds, lines per agent CPU-second, wall time, bytes on the wire relative to
the file, agent peak RSS and aggregator CPU seconds, and checks the export equals the input.

Usage: ship_bench.py [--lines N] [--seed S] [--bin-dir BUILD] [--log FILE]
The log comes from ../shared/tools/gen_log.py when it is there (the reference data set: 1,000,000
lines, seed 42 = 181 MB); otherwise from a built-in generator of the same shape.
"""
import argparse
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import Agent, Aggregator, Workdir, wait_for  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GEN = os.path.join(ROOT, "..", "shared", "tools", "gen_log.py")


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def proc_peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def proc_rss_kib(pid):
    """(VmRSS, RssAnon, RssFile) in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(line.split()[1])
    return values.get("VmRSS", 0), values.get("RssAnon", 0), values.get("RssFile", 0)


def proc_rss_by_mapping(pid, top=12):
    """Resident KiB per mapped file (anonymous mappings grouped as [anon]/[heap]/[stack]),
    largest first: where the idle agent's RSS is."""
    sizes = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split()
                name = parts[5] if len(parts) > 5 else "[anon]"
                name = os.path.basename(name) if name.startswith("/") else name
            elif first == "Rss:":
                sizes[name] = sizes.get(name, 0) + int(line.split()[1])
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:top]


def compare_redacted(expected: bytes, actual: bytes):
    """The export equals the input except inside redacted spans: same number of lines, and every
    line that differs carries a placeholder. Returns (identical, lines_redacted)."""
    if expected == actual:
        return True, 0
    exp_lines = expected.split(b"\n")
    act_lines = actual.split(b"\n")
    if len(exp_lines) != len(act_lines):
        return False, 0
    redacted = 0
    for e, a in zip(exp_lines, act_lines):
        if e != a:
            if b"[REDACTED:" not in a:
                return False, redacted
            redacted += 1
    return True, redacted


def make_log(path, lines, seed):
    if os.path.exists(GEN):
        subprocess.run([sys.executable, GEN, path, str(lines), str(seed)], check=True)
        return "gen_log.py"
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(lines):
            f.write(f"2026-11-26T12:00:{i % 60:02d}.{i % 1000:03d}Z INFO request completed "
                    f"path=/api/v1/orders/{rng.randint(1, 9999999)} status=200 "
                    f"duration_ms={rng.randint(1, 2500)} trace_id={rng.getrandbits(128):032x}\n")
    return "built-in generator"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--bin-dir", default=os.environ.get("FAULTLINE_BIN_DIR",
                                                        os.path.join(ROOT, "build")))
    ap.add_argument("--log", help="use this log file instead of generating one")
    ap.add_argument("--compression-level", type=int, default=None)
    ap.add_argument("--config", default="", help="extra agent config (TOML) appended")
    ap.add_argument("--idle-seconds", type=float, default=10.0,
                    help="after shipping, measure the idle agent this long")
    ap.add_argument("--rss-by-mapping", action="store_true",
                    help="also print the idle agent's resident KiB per library / mapping")
    args = ap.parse_args()
    os.environ["FAULTLINE_BIN_DIR"] = args.bin_dir

    with Workdir("bench") as work:
        path = args.log or os.path.join(work, "bench.log")
        source = "given file"
        if not args.log:
            source = make_log(path, args.lines, args.seed)
        size = os.path.getsize(path)
        # Counting the lines also pulls the file into the page cache, as a log that was just
        # written is. This VM's host reclaims page cache between runs; a cold read costs the
        # agent ~0.4 CPU-s more (docs/benchmarks.md), so warm it right before the run.
        with open(path, "rb") as f:
            lines = sum(1 for _ in f)

        agg = Aggregator(work).start()
        agg.create_tenant("bench")
        config = '[inputs]\nstart_at = "beginning"\n'
        if args.compression_level is not None:
            config += f"[batch]\ncompression_level = {args.compression_level}\n"
        config += args.config.replace("\\n", "\n")
        agent = Agent(work, config=config)
        agent.enroll(agg.url, agg.create_token("bench"))

        start = time.time()
        agent.start(path)

        def shipped():
            st = agent.status_json()
            if not st:
                return None
            counters = st.get("counters", st)
            pipeline = st.get("pipeline", {})
            records = pipeline.get("records", lines)
            return st if (counters.get("lines_read", 0) >= lines and
                          counters.get("lines_sent", 0) >= records and
                          st.get("spool", {}).get("batches", 1) == 0) else None
        st = wait_for(shipped, 1800, "every line acked", interval=0.05)
        wall = time.time() - start
        agent_cpu = proc_cpu_seconds(agent.proc.pid)
        agent_rss = proc_peak_rss_mib(agent.proc.pid)
        agg_cpu = proc_cpu_seconds(agg.proc.pid)
        counters = st.get("counters", st)
        # Bytes on the wire: the compressed batch bodies the aggregator accepted (HTTP headers,
        # about 300 bytes a request, not counted).
        import sqlite3
        with sqlite3.connect(os.path.join(agg.data_dir, "faultline.db")) as db:
            wire, batches = db.execute(
                "SELECT COALESCE(SUM(LENGTH(payload)), 0), COUNT(*) FROM logs_batches").fetchone()

        exported = subprocess.run(
            [os.path.join(args.bin_dir, "bin", "faultline-aggregator"), "admin", "--config",
             agg.config, "--data-dir", agg.data_dir, "logs", "export", "--tenant", "bench"],
            capture_output=True, check=True).stdout
        with open(path, "rb") as f:
            identical, redacted_lines = compare_redacted(f.read(), exported)

        # Idle: no new lines. CPU over the window and resident memory at its end.
        idle_cpu0 = proc_cpu_seconds(agent.proc.pid)
        time.sleep(args.idle_seconds)
        idle_cpu = proc_cpu_seconds(agent.proc.pid) - idle_cpu0
        idle_rss, idle_anon, idle_file = proc_rss_kib(agent.proc.pid)
        by_mapping = proc_rss_by_mapping(agent.proc.pid) if args.rss_by_mapping else []
        pipeline = st.get("pipeline", {})

        print(f"input: {lines} lines, {size} bytes ({source})")
        print(f"wall time:            {wall:.2f} s")
        print(f"agent CPU:            {agent_cpu:.2f} s")
        print(f"lines per agent CPU-s:{lines / max(agent_cpu, 1e-9):,.0f}")
        print(f"bytes on the wire:    {wire} in {batches} batches "
              f"({100.0 * wire / size:.1f}% of the file)")
        print(f"agent peak RSS:       {agent_rss:.1f} MiB")
        print(f"aggregator CPU:       {agg_cpu:.2f} s")
        print(f"export identical:     {identical} (lines differing only by redaction: "
              f"{redacted_lines})")
        if pipeline:
            print(f"records:              {pipeline.get('records')} "
                  f"({pipeline.get('templated')} templated, {pipeline.get('templates_known')} "
                  f"templates, {pipeline.get('lines_redacted')} redacted, "
                  f"{pipeline.get('deduped')} deduped)")
        print(f"idle {args.idle_seconds:.0f} s:            CPU {idle_cpu:.3f} s "
              f"({100.0 * idle_cpu / max(args.idle_seconds, 1e-9):.2f}%), RSS {idle_rss / 1024:.1f} MiB "
              f"(anon {idle_anon / 1024:.1f}, file-backed {idle_file / 1024:.1f})")
        for name, kib in by_mapping:
            print(f"  idle RSS {kib:>7} KiB  {name}")
        agent.stop()
        agg.stop()
        return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
