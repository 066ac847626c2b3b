#!/usr/bin/env python3
"""Benchmark: how fast the dashboard's first screens are usable with many events stored.

Starts the aggregator (SQLite) with one tenant and a user, stores --events events (Alertmanager
webhooks of 500 alerts each, over 60 services, 700 alert names and the last --events * 0.8
seconds), then tests/e2e/first_screen.mjs drives Debian's chromium headless: signs in, and
--runs times each loads the incidents view and the events view from scratch (page load, script,
/v1/auth/me, the list) until the first row is visible. Prints the median and the worst.

The issue's target: the first screen usable within a second on loopback with 100,000 events.
Needs what the e2e test needs (installers/e2e_deps.sh).

Usage: dashboard_first_screen.py [--events N] [--runs R] [--bin-dir BUILD]
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Aggregator, Workdir, log  # noqa: E402

PASSWORD = "first screen password"
PER_REQUEST = 500


def alert(i, total, now):
    at = now - datetime.timedelta(seconds=(total - i) * 0.8)
    return {"status": "firing" if i % 3 else "resolved",
            "labels": {"alertname": f"Alert{i % 700}", "service": f"svc-{i % 60}",
                       "instance": f"host-{i % 40}", "severity": "critical"},
            "annotations": {"summary": f"alert {i}"},
            "startsAt": at.isoformat().replace("+00:00", "Z"),
            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": ""}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bin-dir", default=os.environ.get(
        "FAULTLINE_BIN_DIR", os.path.join(HERE, "..", "..", "build")))
    args = parser.parse_args()
    os.environ["FAULTLINE_BIN_DIR"] = os.path.abspath(args.bin_dir)
    with Workdir("dashboard-first-screen") as work:
        agg = Aggregator(work).start()
        agg.create_tenant("acme")
        agg.admin("user", "create", "--tenant", "acme", "--email", "bench@example.com",
                  "--role", "responder", stdin=(PASSWORD + "\n").encode())
        hook = agg.admin("integration", "create", "--tenant", "acme", "--kind", "alertmanager",
                         "--name", "am", "--rps", "1000000",
                         "--burst", "1000000").stdout.decode().strip()
        now = datetime.datetime.now(datetime.timezone.utc)
        started = time.time()
        for first in range(0, args.events, PER_REQUEST):
            alerts = [alert(i, args.events, now)
                      for i in range(first, min(args.events, first + PER_REQUEST))]
            body = json.dumps({"version": "4", "status": "firing", "receiver": "faultline",
                               "groupKey": "{}", "groupLabels": {}, "commonLabels": {},
                               "commonAnnotations": {}, "externalURL": "http://alertmanager",
                               "alerts": alerts}).encode()
            status, _, data = agg.request("POST", hook, body=body, timeout=120,
                                          headers={"Content-Type": "application/json"})
            assert status == 202, (status, data[:300])
        log(f"stored {args.events} events in {time.time() - started:.1f} s")
        driver = subprocess.run(
            ["node", os.path.join(HERE, "..", "e2e", "first_screen.mjs")],
            env={**os.environ, "DASHBOARD_URL": f"http://localhost:{agg.port}/",
                 "DASHBOARD_EMAIL": "bench@example.com", "DASHBOARD_PASSWORD": PASSWORD,
                 "DASHBOARD_RUNS": str(args.runs)},
            timeout=300)
        assert driver.returncode == 0, f"first_screen.mjs failed ({driver.returncode})"


if __name__ == "__main__":
    main()
