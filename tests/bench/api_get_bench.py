#!/usr/bin/env python3
"""Benchmark: authenticated GET on a list endpoint under load from wrk.

Starts the aggregator (SQLite, or PostgreSQL with --store URL), enrolls --agents agents with a
heartbeat each, creates a viewer API key with the CLI, then runs
`wrk --latency -H 'Authorization: Bearer <key>' <url>/v1/agents?limit=50` for --seconds with
--connections connections. Prints requests per second, p50/p90/p99 latency, non-2xx responses
and aggregator CPU seconds. wrk runs flat out, so the p99 it reports is at the highest rate the
server sustains; the issue's target is p99 < 20 ms at 2,000 requests per second. With --rate R
each connection waits between requests (wrk's delay() hook) so that the connections together
send about R requests per second: a 3-second calibration run measures the response time and
sets the wait; the achieved rate is printed beside the latencies (wrk times each request from
send to response, so the wait is not counted as latency).

Usage: api_get_bench.py [--agents N] [--seconds S] [--connections C] [--threads T] [--store URL]
                        [--rate R] [--bin-dir BUILD]
Rate limits are raised in the bench's config: the point is the endpoint, not the limiter.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import Aggregator, Workdir  # noqa: E402


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post_json(url, body, headers=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def to_ms(text):
    value = float(re.match(r"[\d.]+", text).group(0))
    if text.endswith("us"):
        return value / 1000
    if text.endswith("ms"):
        return value
    if text.endswith("s"):
        return value * 1000
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--store", default=None)
    parser.add_argument("--rate", type=float, default=0,
                        help="requests per second to pace at (0: flat out)")
    parser.add_argument("--bin-dir", default=os.environ.get(
        "FAULTLINE_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")))
    args = parser.parse_args()
    os.environ["FAULTLINE_BIN_DIR"] = os.path.abspath(args.bin_dir)
    if shutil.which("wrk") is None:
        print("skipped: wrk is not installed (installers/deps.sh installs it)")
        return 0

    with Workdir("api_get_bench") as work:
        agg = Aggregator(work, store_url=args.store, extra_config=(
            "[rate_limit]\nclient_address.rps = 0\nprincipal.rps = 0\ntenant.rps = 0\n")).start()
        # A fresh tenant each run: a PostgreSQL store outlives the bench.
        tenant = "bench-" + os.urandom(4).hex()
        agg.create_tenant(tenant)
        for i in range(args.agents):
            enrolled = post_json(agg.url + "/v1/agents/enroll",
                                 {"token": agg.create_token(tenant), "hostname": f"web-{i:04d}",
                                  "version": "1.0.0"})
            post_json(agg.url + "/v1/agents/heartbeat",
                      {"version": "1.0.0", "spool": {"batches": 0}, "files": []},
                      {"Authorization": "Bearer " + enrolled["secret"]})
        key = agg.admin("api-key", "create", "--tenant", tenant, "--role", "viewer",
                        "--name", "bench").stdout.decode().strip()
        url = agg.url + "/v1/agents?limit=50"
        # One request by hand first: a bench of 401s would be meaningless.
        request = urllib.request.Request(url, headers={"Authorization": "Bearer " + key})
        with urllib.request.urlopen(request, timeout=10) as response:
            page = json.loads(response.read())
        assert len(page["agents"]) == min(50, args.agents), page

        def run_wrk(seconds, delay_ms=None):
            command = ["wrk", "--latency", f"-t{args.threads}", f"-c{args.connections}",
                       f"-d{seconds}s", "-H", "Authorization: Bearer " + key]
            if delay_ms is not None:
                script = os.path.join(work, "pace.lua")
                with open(script, "w") as f:
                    f.write(f"function delay()\n  return {delay_ms}\nend\n")
                command += ["-s", script]
            result = subprocess.run(command + [url], capture_output=True, text=True,
                                    timeout=seconds + 60)
            return result.stdout

        def requests_per_second(out):
            return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

        delay_ms = None
        if args.rate > 0:
            # Each connection sends one request per (wait + response time).
            period_ms = args.connections * 1000.0 / args.rate
            achieved = requests_per_second(run_wrk(3, int(round(period_ms))))
            response_ms = max(0.0, args.connections * 1000.0 / achieved - round(period_ms))
            delay_ms = max(0, int(round(period_ms - response_ms)))
        cpu_before = proc_cpu_seconds(agg.proc.pid)
        out = run_wrk(args.seconds, delay_ms)
        cpu = proc_cpu_seconds(agg.proc.pid) - cpu_before
        rps = requests_per_second(out)
        latency = {m.group(1): to_ms(m.group(2))
                   for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors = int(non2xx.group(1)) if non2xx else 0
        agg.stop()

    engine = "postgresql" if args.store else "sqlite"
    print(f"store: {engine}; agents listed: {args.agents} (pages of 50); "
          f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s"
          + (f", paced at {args.rate:.0f}/s (wait {delay_ms} ms per connection)"
             if delay_ms is not None else ", flat out"))
    print(f"requests/s: {rps:.0f}")
    print(f"latency ms: p50 {latency.get('50', 0):.2f}  p90 {latency.get('90', 0):.2f}  "
          f"p99 {latency.get('99', 0):.2f}")
    print(f"non-2xx responses: {errors}")
    print(f"aggregator CPU-s: {cpu:.2f} ({rps * args.seconds / max(cpu, 1e-9):.0f} requests "
          f"per CPU-second)")
    if errors:
        print("FAIL: some requests were not answered 200", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
