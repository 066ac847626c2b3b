#!/usr/bin/env python3
"""Nezha/TrainTicket RCA benchmark: feeds one day of fault injections to a throwaway aggregator
as a deployment would see it, then scores the RCA ranking of each fault's incident.

Usage: nezha_bench.py DATA_ROOT DAY [--small N] [--bin-dir DIR] [--k K]
  DATA_ROOT  the nezha-trainticket folder (rca_data/DAY, construct_data/DAY, metric_threshold/)
  --small N  feed only the first N log windows (and the metrics and traces up to their end);
             only the faults injected in that span are scored. Env NEZHA_SMALL does the same.

What is fed (original timestamps throughout; nothing from the ground truth):
  1. the service graph: parent/child span pairs of every trace window, as service names
     (POST /v1/service-graph/spans; skipped with a message while the endpoint is absent);
  2. history: construct_data/DAY's container logs (the fault-free phase), when present;
  3. the day in time order: each log window's container logs, one upload per pod (source
     "<service>.log", format docker), with the Alertmanager notifications of the per-pod metric
     thresholds (nezha_data.METRIC_RULES, k = nezha_data.K_STD) that precede the window's end.
Then it waits for ingestion to settle, reads GET /v1/incidents and each incident, and scores
(nezha_score). Without the incidents API it checks the fed events and prints "skipped: ...".
"""
import argparse
import http.client
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
import nezha_calibration  # noqa: E402
import nezha_data  # noqa: E402
import nezha_retrieval  # noqa: E402
import nezha_score  # noqa: E402
from harness import Aggregator, Workdir, kill_all, log  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SPAN_BATCH = 5000


class Client:
    """Keep-alive HTTP to the aggregator, reconnecting once when the server closed the
    connection."""

    def __init__(self, port, key):
        self.port = port
        self.key = key
        self.conn = None

    def request(self, method, path, body=None, content_type="application/json"):
        headers = {"Authorization": "Bearer " + self.key}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                if resp.status == 429 and attempt == 0:  # as a sender retries: once, later
                    time.sleep(float(resp.getheader("Retry-After") or 1))
                    continue
                return resp.status, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def get_json(self, path):
        status, data = self.request("GET", path)
        if status != 200:
            return status, None
        return status, json.loads(data)


def trace_batches(spans, limit=SPAN_BATCH):
    """Spans in requests of about `limit`, a trace never split between two (its parent and
    child spans pair up in one request whatever the receiver keeps between requests)."""
    by_trace = {}
    for span in spans:
        by_trace.setdefault(span[0], []).append(span)
    batch = []
    for trace in by_trace.values():
        if batch and len(batch) + len(trace) > limit:
            yield batch
            batch = []
        batch.extend(trace)
    if batch:
        yield batch


def feed_graph(client, trace_paths):
    """Sends every span as (trace, span, parent, service); False when the endpoint is absent."""
    sent = 0
    for path in trace_paths:
        for batch in trace_batches(nezha_data.read_spans(path)):
            body = json.dumps({"spans": [
                {"trace_id": t, "span_id": s, "parent_span_id": p, "service": svc}
                for t, s, p, svc in batch]})
            status, data = client.request("POST", "/v1/service-graph/spans", body.encode())
            if status == 404 and sent == 0:
                print("skipped: service graph: POST /v1/service-graph/spans answered 404 (the "
                      "endpoint is not on this build); no graph fed", flush=True)
                return False
            if status // 100 != 2:
                raise SystemExit(f"service graph: {status} {data[:300]!r}")
            sent += len(batch)
    log(f"service graph: {sent} spans from {len(trace_paths)} trace windows")
    return True


def upload_window(client, path, stats):
    for pod, lines in sorted(nezha_data.read_pod_logs(path).items()):
        source = nezha_data.service_of(pod) + ".log"
        body = ("\n".join(lines) + "\n").encode()
        status, data = client.request("POST", f"/v1/logs/upload?source={source}&format=docker",
                                      body, "application/octet-stream")
        if status != 200:
            raise SystemExit(f"upload {path} {pod}: {status} {data[:300]!r}")
        stats["uploads"] += 1
        stats["lines"] += len(lines)


def post_alerts(client, hook_path, bodies, stats):
    for body in bodies:
        status, data = client.request("POST", hook_path, json.dumps(body).encode())
        if status // 100 != 2:
            raise SystemExit(f"alertmanager hook: {status} {data[:300]!r}")
        stats["notifications"] += 1
        stats["alerts"] += len(body["alerts"])


def window_end(path):
    """Unix seconds of the end of a log window, from the day and HH_MM of its path."""
    day = os.path.basename(os.path.dirname(os.path.dirname(path)))
    hhmm = os.path.basename(path)[:5].replace("_", ":")
    return nezha_score.parse_time(f"{day} {hhmm}:00") + 60


def all_pages(client, path, key):
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        url = path + (f"{sep}cursor={cursor}" if cursor else "")
        status, doc = client.get_json(url)
        if status != 200:
            return status, items
        items.extend(doc.get(key) or [])
        cursor = doc.get("next_cursor")
        if not cursor:
            return 200, items


def settle(client, quiet_seconds=5, timeout=300):
    """Waits until the event count and the incident list stop changing for quiet_seconds."""
    deadline = time.time() + timeout
    last, since = None, time.time()
    while time.time() < deadline:
        _, stats = client.get_json("/v1/events/stats")
        status, page = client.get_json("/v1/incidents?limit=100")
        now = (json.dumps(stats, sort_keys=True),
               json.dumps(page, sort_keys=True) if status == 200 else status)
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet_seconds:
            return
        time.sleep(0.5)
    log("warning: ingestion did not settle before the timeout")


def check_events(events, day):
    """Prints what the fed events look like: per source and kind, and whether log events carry
    the data's own time (the docker "time" field) and level."""
    by_kind = {}
    off_day = 0
    for e in events:
        key = (e["source"], e["labels"].get("event_kind") or e["labels"].get("alertname") or
               e["status"])
        by_kind[key] = by_kind.get(key, 0) + 1
        if not e["occurred_at"].startswith(day):
            off_day += 1
    log(f"events: {len(events)}; per (source, kind): " +
        ", ".join(f"{k[0]}/{k[1]}={n}" for k, n in sorted(by_kind.items())))
    log(f"events whose occurred_at is not on {day}: {off_day}")
    services = sorted({e["service"] for e in events if e["service"]})
    log(f"services in events: {len(services)}")
    sample = next((e for e in events if e["source"] != "alertmanager" and
                   e["severity"] in ("error", "critical")), None)
    if sample:
        log(f"a log error event: occurred_at={sample['occurred_at']} service={sample['service']} "
            f"severity={sample['severity']} title={sample['title'][:100]!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_root")
    parser.add_argument("day")
    parser.add_argument("--small", type=int, default=int(os.environ.get("NEZHA_SMALL", "0")))
    parser.add_argument("--bin-dir", default=os.environ.get("FAULTLINE_BIN_DIR") or
                        os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--k", type=float, default=nezha_data.K_STD)
    parser.add_argument("--dump", help="write the events and incidents read back here (JSON)")
    parser.add_argument("--similar", action="store_true",
                        help="also score retrieval: resolve every incident (indexing it), ask "
                        "GET /v1/incidents/{id}/similar for each fault's incident, print "
                        "precision@3 and MRR (nezha_retrieval)")
    parser.add_argument("--calibration", action="store_true",
                        help="also score the confidence of the AI answers: POST "
                        "/v1/incidents/{id}/runbook for each fault's incident (before --similar "
                        "resolves them), print a reliability table, Brier score and ECE "
                        "(nezha_calibration)")
    args = parser.parse_args()
    os.environ["FAULTLINE_BIN_DIR"] = os.path.abspath(args.bin_dir)

    day_dir = os.path.join(args.data_root, "rca_data", args.day)
    history_dir = os.path.join(args.data_root, "construct_data", args.day)
    fault_list = os.path.join(day_dir, f"{args.day}-fault_list.json")
    if not os.path.isdir(day_dir):
        print(f"skipped: no data at {day_dir}")
        return 0
    log_paths = nezha_data.window_files(day_dir, "log")
    if args.small > 0:
        log_paths = log_paths[:args.small]
    end = window_end(log_paths[-1]) + 300 if args.small > 0 and log_paths else float("inf")
    trace_paths = nezha_data.window_files(history_dir, "trace") + [
        p for p in nezha_data.window_files(day_dir, "trace") if window_end(p) <= end]

    # Metric alerts: every pod of the day (history and fault phases share the metric files).
    samples = nezha_data.read_metric_samples(nezha_data.metric_files(day_dir) +
                                             nezha_data.metric_files(history_dir))
    changes = [c for c in nezha_data.threshold_transitions(
        samples, nezha_data.read_thresholds(args.data_root), args.k) if c[0] < end]
    pending = [(nezha_score.parse_time(b["alerts"][0]["startsAt"] if b["alerts"][0]["status"] ==
                                       "firing" else b["alerts"][0]["endsAt"]), b)
               for b in nezha_data.alertmanager_notifications(changes)]

    with Workdir("nezha") as work:
        # A replay sends hours of notifications in seconds: the per-principal rate limit (100/s,
        # far above a live Alertmanager's few per minute) is off so that it measures nothing.
        agg = Aggregator(work, extra_config="[rate_limit.principal]\nrps = 0\n").start()
        try:
            agg.create_tenant("nezha")
            key = agg.admin("api-key", "create", "--tenant", "nezha", "--role",
                            "responder").stdout.decode().strip()
            hook_path = agg.admin("integration", "create", "--tenant", "nezha", "--kind",
                                  "alertmanager", "--name", "prometheus").stdout.decode().strip()
            client = Client(agg.port, key)
            started = time.time()
            feed_graph(client, trace_paths)
            stats = {"uploads": 0, "lines": 0, "notifications": 0, "alerts": 0}
            for path in nezha_data.window_files(history_dir, "log"):
                upload_window(client, path, stats)
            log(f"history: {stats['lines']} lines in {stats['uploads']} uploads")
            for path in log_paths:
                due = [b for t, b in pending if t < window_end(path)]
                pending = [(t, b) for t, b in pending if t >= window_end(path)]
                post_alerts(client, hook_path, due, stats)
                upload_window(client, path, stats)
            post_alerts(client, hook_path, [b for _, b in pending], stats)
            log(f"fed {stats['lines']} log lines in {stats['uploads']} uploads and "
                f"{stats['alerts']} alert changes in {stats['notifications']} notifications in "
                f"{time.time() - started:.1f}s")
            settle(client)
            status, events = all_pages(client, "/v1/events?limit=500", "events")
            if status != 200:
                raise SystemExit(f"GET /v1/events: {status}")
            check_events(events, args.day)
            if args.dump:
                os.makedirs(args.dump, exist_ok=True)
                with open(os.path.join(args.dump, "events.json"), "w") as f:
                    json.dump(events, f)

            status, listed = all_pages(client, "/v1/incidents?limit=100", "incidents")
            if status == 404:
                print("skipped: GET /v1/incidents answered 404 (no incidents API on this "
                      "build): nothing to score")
                return 0
            if status != 200:
                raise SystemExit(f"GET /v1/incidents: {status}")
            incidents = []
            for item in listed:
                status, doc = client.get_json(f"/v1/incidents/{item['id']}")
                if status != 200:
                    raise SystemExit(f"GET /v1/incidents/{item['id']}: {status}")
                incidents.append(doc)
            if args.dump:
                with open(os.path.join(args.dump, "incidents.json"), "w") as f:
                    json.dump(incidents, f)
            if args.calibration:
                answers = runbook_answers(client, incidents, args.small, log_paths, fault_list)
                if args.dump:
                    with open(os.path.join(args.dump, "runbooks.json"), "w") as f:
                        json.dump(answers, f)
            if args.similar:
                retrieval = similar_lists(client, incidents, args.small, log_paths, fault_list)
        finally:
            agg.stop()

    # Scoring: the only step that reads the ground truth.
    faults = nezha_score.load_faults(fault_list)
    if args.small > 0:
        first = window_end(log_paths[0]) - 60 if log_paths else 0
        faults = [f for f in faults if first <= f["time"] < window_end(log_paths[-1])]
    in_incidents = {str(e.get("event_id")) for i in incidents for e in i.get("events") or []}
    loose = [nezha_score.parse_time(e["occurred_at"]) for e in events
             if str(e["id"]) not in in_incidents]
    nezha_score.score(faults, incidents, loose)
    if args.calibration:
        by_id = {str(i["id"]): i for i in incidents}
        records, unmatched = [], 0
        for f, inc in nezha_calibration.plan(faults, incidents):
            if inc is None:
                unmatched += 1
                continue
            answer = answers[str(inc["id"])]
            top = ((by_id[str(inc["id"])].get("rca") or {}).get("candidates") or [{}])[0]
            records.append({"fault": f, "incident_id": inc["id"],
                            "confidence": float(answer["confidence"]),
                            "rca": float(top.get("confidence") or 0.0),
                            "right": nezha_calibration.is_right(f, inc)})
        nezha_calibration.score(records, unmatched=unmatched)
    if args.similar:
        starts = {str(i["id"]): nezha_score.parse_time(i["first_event_at"]) for i in incidents}
        services = {str(i["id"]): i.get("services") or [] for i in incidents}
        nezha_retrieval.score(retrieval[0], lambda iid: retrieval[1].get(iid, []), starts.get,
                              services_of=lambda iid: services.get(iid, []))
    return 0


def runbook_answers(client, incidents, small, log_paths, fault_list):
    """{incident id: runbook answer} for each fault's incident (POST .../runbook). Reads the
    fault list only to pick which incidents to ask about."""
    started = time.time()
    faults = nezha_score.load_faults(fault_list)
    if small > 0:
        first = window_end(log_paths[0]) - 60 if log_paths else 0
        faults = [f for f in faults if first <= f["time"] < window_end(log_paths[-1])]
    answers = {}
    for _, inc in nezha_calibration.plan(faults, incidents):
        if inc is None or str(inc["id"]) in answers:
            continue
        status, data = client.request("POST", f"/v1/incidents/{inc['id']}/runbook", b"{}")
        if status != 200:
            raise SystemExit(f"POST /v1/incidents/{inc['id']}/runbook: {status} {data[:200]}")
        answers[str(inc["id"])] = json.loads(data)
    log(f"runbooks: {len(answers)} answers in {time.time() - started:.1f}s")
    return answers


def similar_lists(client, incidents, small, log_paths, fault_list):
    """Resolves every incident still open (a responder closing out the day: each joins the
    knowledge index), then asks for the similar list of each fault's incident. Reads the fault
    list only to pick which incidents to ask about."""
    started = time.time()
    for inc in incidents:
        if inc.get("status") in ("triggered", "acknowledged"):
            status, data = client.request("POST", f"/v1/incidents/{inc['id']}/resolve", b"{}")
            if status not in (200, 409):  # 409: it resolved by itself meanwhile
                raise SystemExit(f"resolve {inc['id']}: {status} {data[:200]}")
    faults = nezha_score.load_faults(fault_list)
    if small > 0:
        first = window_end(log_paths[0]) - 60 if log_paths else 0
        faults = [f for f in faults if first <= f["time"] < window_end(log_paths[-1])]
    planned = nezha_retrieval.plan(faults, incidents)
    lists = {}
    for _, inc, _, _ in planned:
        if inc is None or str(inc["id"]) in lists:
            continue
        status, doc = client.get_json(f"/v1/incidents/{inc['id']}/similar?limit=50")
        if status != 200:
            raise SystemExit(f"GET /v1/incidents/{inc['id']}/similar: {status}")
        lists[str(inc["id"])] = [h["id"] for h in doc["hits"]]
    log(f"similar: {len(lists)} lists in {time.time() - started:.1f}s")
    return planned, lists


if __name__ == "__main__":
    def _timeout(signum, frame):
        raise SystemExit("error: the Nezha bench timed out")

    signal.signal(signal.SIGALRM, _timeout)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit("error: terminated"))
    signal.alarm(int(os.environ.get("NEZHA_TIMEOUT_SECONDS", "1200")))
    try:
        sys.exit(main())
    finally:
        kill_all()
