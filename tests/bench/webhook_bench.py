#!/usr/bin/env python3
"""Benchmark: webhook ingest under load from wrk, per body kind.

Starts the aggregator (SQLite, or PostgreSQL with --store URL), creates an Alertmanager and a
PagerDuty integration with the CLI (rate limits raised: the point is the receiver, not the
bucket), then for each kind runs wrk with a Lua script that POSTs a realistic body, the alert's
instance (Alertmanager) or dedup_key (PagerDuty) cycling over --alerts values so that most
requests fold into an open alert and a few open new ones. Each request is normalized, stored
with its noise decision in its own transaction and answered 202.

Prints requests per second, p50/p90/p99 latency, non-2xx responses and aggregator CPU seconds
per kind. The issue's target: 20,000 webhooks/s per node with p99 under 20 ms.

Usage: webhook_bench.py [--seconds S] [--connections C] [--threads T] [--alerts N]
                        [--workers W] [--store URL] [--bin-dir BUILD]
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
from api_get_bench import proc_cpu_seconds, to_ms  # noqa: E402

ALERTMANAGER_LUA = r"""
local n = 0
request = function()
  n = n + 1
  local instance = "web-" .. (n %% %(alerts)d) .. ":9100"
  local body = '{"version":"4","status":"firing","receiver":"faultline",' ..
    '"groupKey":"{}:{alertname=HighLatency}","alerts":[{"status":"firing",' ..
    '"labels":{"alertname":"HighLatency","instance":"' .. instance .. '","job":"api",' ..
    '"severity":"critical","service":"checkout","env":"prod"},' ..
    '"annotations":{"summary":"p99 latency above 500ms on ' .. instance .. '",' ..
    '"description":"The checkout API has answered slowly for 5 minutes."},' ..
    '"startsAt":"2026-11-26T08:24:38.326Z","endsAt":"0001-01-01T00:00:00Z",' ..
    '"generatorURL":"http://prometheus:9090/graph","fingerprint":"' .. instance .. '"}]}'
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end
"""

PAGERDUTY_LUA = r"""
local n = 0
request = function()
  n = n + 1
  local key = "db-lag-" .. (n %% %(alerts)d)
  local body = '{"routing_key":"%(key)s","event_action":"trigger","dedup_key":"' .. key .. '",' ..
    '"payload":{"summary":"Replica lag above 30s on db-2","source":"db-2.prod",' ..
    '"severity":"error","component":"postgres","group":"prod-datapipe","class":"replication",' ..
    '"custom_details":{"lag_seconds":42,"primary":"db-1"}},"client":"bench"}'
  return wrk.format("POST", "/v1/hooks/pagerduty/v2/enqueue",
                    {["Content-Type"] = "application/json"}, body)
end
"""


def run_wrk(script_path, url, args):
    result = subprocess.run(
        ["wrk", "--latency", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s",
         "-s", script_path, url],
        capture_output=True, text=True, timeout=args.seconds + 60)
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {m.group(1): to_ms(m.group(2))
               for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, latency, int(non2xx.group(1)) if non2xx else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=32,
                        help="limits.worker_threads: handlers block on the store, so requests "
                             "in flight (and so group-commit sizes) are bounded by this")
    parser.add_argument("--store", default=None)
    parser.add_argument("--bin-dir", default=os.environ.get(
        "FAULTLINE_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")))
    args = parser.parse_args()
    os.environ["FAULTLINE_BIN_DIR"] = os.path.abspath(args.bin_dir)
    if shutil.which("wrk") is None:
        print("skipped: wrk is not installed (installers/deps.sh installs it)")
        return 0

    failed = False
    with Workdir("webhook_bench") as work:
        agg = Aggregator(work, store_url=args.store,
                         extra_config=(f"[limits]\nworker_threads = {args.workers}\n"
                                       # wrk is one client address: the point is the receivers,
                                       # not the address limit in front of them.
                                       "[rate_limit]\nclient_address.rps = 0\n")).start()
        tenant = "bench-" + os.urandom(4).hex()  # a PostgreSQL store outlives the bench
        agg.create_tenant(tenant)

        def integration(kind):
            return agg.admin("integration", "create", "--tenant", tenant, "--kind", kind,
                             "--rps", "1000000", "--burst", "1000000").stdout.decode().strip()
        am_path = integration("alertmanager")
        pd_key = integration("pagerduty").rsplit("/", 1)[1]
        scripts = {
            "alertmanager": ALERTMANAGER_LUA % {"alerts": args.alerts, "path": am_path},
            "pagerduty": PAGERDUTY_LUA % {"alerts": args.alerts, "key": pd_key},
        }
        # One request of each by hand first: a bench of 404s would be meaningless.
        probe = urllib.request.Request(
            agg.url + "/v1/hooks/pagerduty/v2/enqueue", method="POST",
            data=json.dumps({"routing_key": pd_key, "event_action": "trigger", "dedup_key": "p",
                             "payload": {"summary": "probe", "source": "bench",
                                         "severity": "info"}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(probe, timeout=10) as response:
            assert response.status == 202, response.status

        engine = "postgresql" if args.store else "sqlite"
        print(f"store: {engine}; wrk -t{args.threads} -c{args.connections} -d{args.seconds}s; "
              f"{args.alerts} distinct alerts per kind; {args.workers} worker threads")
        for kind, script in scripts.items():
            path = os.path.join(work, f"{kind}.lua")
            with open(path, "w") as f:
                f.write(script)
            cpu_before = proc_cpu_seconds(agg.proc.pid)
            rps, latency, errors = run_wrk(path, agg.url, args)
            cpu = proc_cpu_seconds(agg.proc.pid) - cpu_before
            print(f"{kind}: requests/s {rps:.0f}; latency ms p50 {latency.get('50', 0):.2f} "
                  f"p90 {latency.get('90', 0):.2f} p99 {latency.get('99', 0):.2f}; "
                  f"non-2xx {errors}; aggregator CPU-s {cpu:.2f}")
            failed |= errors > 0
        agg.stop()
    if failed:
        print("FAIL: some webhooks were not answered 202", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
