#!/usr/bin/env python3
"""Benchmark: live event delivery to many open GET /v1/events/stream connections while
webhooks are posted with wrk (tests/bench/webhook_bench.py's Alertmanager body).

Starts the aggregator (SQLite, or PostgreSQL with --store URL), one Alertmanager integration and
an API key, then runs wrk twice for --seconds: once with no stream open (the ingest baseline)
and once with --streams streams open. One stream parses every frame and measures the delivery
latency (arrival minus the event's received_at, which the receiver stamps before the store
write: normalize + commit + publish + loop write + loopback); the others only count frames, in
one selector thread, so the client is not what limits the figure.

Prints webhooks/s (wrk), events published, frames delivered per second over all streams,
streams cut off as lagged, and latency p50/p90/p99/max.

Usage: event_stream_bench.py [--seconds S] [--streams N] [--connections C] [--workers W]
                             [--store URL] [--bin-dir BUILD]
"""
import argparse
import datetime
import json
import os
import selectors
import shutil
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
from harness import Aggregator, Workdir  # noqa: E402
from webhook_bench import ALERTMANAGER_LUA, run_wrk  # noqa: E402

FRAME_MARK = b"\nevent: event\n"


def open_stream(port, key):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET /v1/events/stream HTTP/1.1\r\nHost: bench\r\n"
                 f"Authorization: Bearer {key}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("stream closed before its head")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status:
        raise AssertionError(f"stream refused: {status!r}")
    return sock, head.split(b"\r\n\r\n", 1)[1]


def parse_rfc3339_ns(text):
    # "2026-11-27T01:02:03.123456789Z": Python's datetime stops at microseconds.
    seconds, _, fraction = text.rstrip("Z").partition(".")
    base = datetime.datetime.fromisoformat(seconds).replace(tzinfo=datetime.timezone.utc)
    return int(base.timestamp()) * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9])


class Counter(threading.Thread):
    """Counts event frames on many streams; notes which ones the server closed."""

    def __init__(self, socks):
        super().__init__(daemon=True)
        self.selector = selectors.DefaultSelector()
        self.frames = 0
        self.closed = 0
        self.stop = False
        self.tails = {}
        for sock, rest in socks:
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
            self.frames += rest.count(FRAME_MARK)
            self.tails[sock] = rest[-len(FRAME_MARK):]

    def run(self):
        while not self.stop:
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    self.selector.unregister(sock)
                    self.closed += 1
                    continue
                joined = self.tails[sock] + data  # a mark split across two reads counts once
                self.frames += joined.count(FRAME_MARK)
                self.tails[sock] = joined[-(len(FRAME_MARK) - 1):]


class LatencyReader(threading.Thread):
    """Parses every frame of one stream: arrival time minus the event's received_at."""

    def __init__(self, sock, rest):
        super().__init__(daemon=True)
        self.sock = sock
        self.buffer = rest
        self.latencies_ms = []
        self.stop = False
        sock.settimeout(0.2)

    def run(self):
        while not self.stop:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            if not data:
                return
            now_ns = time.time_ns()
            self.buffer += data
            *frames, self.buffer = self.buffer.split(b"\n\n")
            for frame in frames:
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        event = json.loads(line[6:])
                        received = parse_rfc3339_ns(event["received_at"])
                        self.latencies_ms.append((now_ns - received) / 1e6)


def metric(agg, name):
    status, _, body = agg.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--store", default=None)
    parser.add_argument("--bin-dir", default=os.environ.get(
        "FAULTLINE_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")))
    args = parser.parse_args()
    os.environ["FAULTLINE_BIN_DIR"] = os.path.abspath(args.bin_dir)
    if shutil.which("wrk") is None:
        print("skipped: wrk is not installed (installers/deps.sh installs it)")
        return 0

    with Workdir("event_stream_bench") as work:
        agg = Aggregator(work, store_url=args.store, extra_config=(
            f"[limits]\nworker_threads = {args.workers}\n"
            "[rate_limit]\nclient_address.rps = 0\nprincipal.rps = 0\ntenant.rps = 0\n"
            f"[events]\nstream_max_per_tenant = {args.streams + 1}\n")).start()
        tenant = "bench-" + os.urandom(4).hex()
        agg.create_tenant(tenant)
        hook = agg.admin("integration", "create", "--tenant", tenant, "--kind", "alertmanager",
                         "--rps", "1000000", "--burst", "1000000").stdout.decode().strip()
        key = agg.admin("api-key", "create", "--tenant", tenant, "--role",
                        "viewer").stdout.decode().strip()
        script = os.path.join(work, "alertmanager.lua")
        with open(script, "w") as f:
            f.write(ALERTMANAGER_LUA % {"alerts": args.alerts, "path": hook})
        engine = "postgresql" if args.store else "sqlite"
        print(f"store: {engine}; wrk -t{args.threads} -c{args.connections} -d{args.seconds}s; "
              f"{args.streams} streams; {args.workers} worker threads")

        rps, latency, errors = run_wrk(script, agg.url, args)
        print(f"no stream open: webhooks/s {rps:.0f}; p99 {latency.get('99', 0):.2f} ms; "
              f"non-2xx {errors}")

        socks = [open_stream(agg.port, key) for _ in range(args.streams)]
        reader = LatencyReader(*socks[0])
        counter = Counter(socks[1:])
        reader.start()
        counter.start()
        published_before = metric(agg, "faultline_event_stream_published_total")
        started = time.monotonic()
        rps, latency, errors = run_wrk(script, agg.url, args)
        published = metric(agg, "faultline_event_stream_published_total") - published_before
        # Let the streams drain what is still queued, then count.
        deadline = time.monotonic() + 10
        while (time.monotonic() < deadline and
               counter.frames + len(reader.latencies_ms) <
               published * args.streams - counter.closed * published):
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        reader.stop = counter.stop = True
        reader.join()
        counter.join()
        delivered = counter.frames + len(reader.latencies_ms)
        lagged = metric(agg, "faultline_event_stream_lagged_total")
        slow = metric(agg, "faultline_http_stream_slow_consumers_total")
        print(f"{args.streams} streams open: webhooks/s {rps:.0f}; p99 {latency.get('99', 0):.2f} "
              f"ms; non-2xx {errors}")
        print(f"events published {published}; frames delivered {delivered} of "
              f"{published * args.streams} ({delivered / elapsed:.0f}/s over {elapsed:.1f} s); "
              f"streams cut off {slow} (lagged {lagged})")
        lat = reader.latencies_ms
        print(f"delivery latency ms (received_at to client, {len(lat)} events): "
              f"p50 {percentile(lat, 50):.2f} p90 {percentile(lat, 90):.2f} "
              f"p99 {percentile(lat, 99):.2f} max {max(lat) if lat else 0:.2f}")
        for sock, _ in socks:
            sock.close()
        agg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
