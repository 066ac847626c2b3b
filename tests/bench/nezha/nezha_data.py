"""Readers for one day of the Nezha/TrainTicket layout, and the metric -> alert rules.

Nothing here reads the ground truth (the fault list, root_cause_ts.json): this is what a
deployment would have. Files may be plain or gzipped CSV (`X.csv` or `X.csv.gz`).

Layout of DAY_DIR (rca_data/DAY or construct_data/DAY):
  log/HH_MM_log.csv[.gz]      Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log
  trace/HH_MM_trace.csv[.gz]  TraceID,SpanID,ParentID,PodName,OperationName,...
  metric/<pod>_metric.csv[.gz] Time,TimeStamp,PodName,CpuUsageRate(%),...
and DATA_ROOT/metric_threshold/<service>.csv: header, row 1 = mean, row 2 = std.
"""
import csv
import datetime
import glob
import gzip
import io
import os
import re

csv.field_size_limit(16 << 20)

# A Prometheus rule `value > mean + K_STD * std` (for >= 1 sample): 3 sigma, chosen before
# looking at any result (the textbook outlier bound; Nezha's own alarm.py defaults to 6 but then
# uses fixed bounds instead).
K_STD = 3.0

# Threshold column -> (metric column, scale to the threshold's unit, alert name).
# NetworkP90(ms) in the threshold files is Nezha's trace-derived P90 of the time between a
# pod's span ending and its parent's span ending (alarm.py: get_netwrok_metric), i.e. the latency
# a pod's callers see from it. Of the per-pod metric columns the one that measures the same thing
# is PodServerLatencyP90(s) (the P90 latency of the requests the pod serves), in seconds: x1000.
METRIC_RULES = [
    ("CpuUsageRate(%)", "CpuUsageRate(%)", 1.0, "PodCpuUsageHigh"),
    ("MemoryUsageRate(%)", "MemoryUsageRate(%)", 1.0, "PodMemoryUsageHigh"),
    ("SyscallRead", "SyscallRead", 1.0, "PodSyscallReadHigh"),
    ("SyscallWrite", "SyscallWrite", 1.0, "PodSyscallWriteHigh"),
    ("NetworkP90(ms)", "PodServerLatencyP90(s)", 1000.0, "PodLatencyP90High"),
]

_WINDOW_RE = re.compile(r"^(\d\d)_(\d\d)_(log|trace)\.csv(\.gz)?$")


def open_text(path):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace",
                                newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def service_of(pod):
    """The service of a pod: its name without the ReplicaSet and pod hash suffixes
    ("ts-order-service-5b67c48447-mv5hb" -> "ts-order-service"), as an app label says."""
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pod


def window_files(day_dir, kind):
    """The day's per-window files of `kind` ("log" or "trace"), in time order."""
    found = []
    for path in glob.glob(os.path.join(day_dir, kind, f"*_{kind}.csv*")):
        m = _WINDOW_RE.match(os.path.basename(path))
        if m and m.group(3) == kind:
            found.append((m.group(1) + m.group(2), path))
    return [path for _, path in sorted(found)]


def metric_files(day_dir):
    return sorted(p for p in glob.glob(os.path.join(day_dir, "metric", "*_metric.csv*"))
                  if re.search(r"_metric\.csv(\.gz)?$", p))


def read_pod_logs(path):
    """{pod: [docker json-file line, ...]} of one log window, each pod's lines in the order the
    runtime wrote them (by time; the CSV interleaves pods and is not sorted)."""
    per_pod = {}
    with open_text(path) as f:
        for row in csv.DictReader(f):
            pod = row.get("PodName") or ""
            line = row.get("Log") or ""
            if not pod or not line:
                continue
            try:
                ts = int(row.get("TimeUnixNano") or 0)
            except ValueError:
                ts = 0
            per_pod.setdefault(pod, []).append((ts, line.rstrip("\n")))
    return {pod: [line for _, line in sorted(lines, key=lambda x: x[0])]
            for pod, lines in per_pod.items()}


def read_spans(path):
    """[(trace_id, span_id, parent_span_id or "", service)] of one trace window."""
    spans = []
    with open_text(path) as f:
        for row in csv.DictReader(f):
            parent = row.get("ParentID") or ""
            if parent == "root":
                parent = ""
            spans.append((row["TraceID"], row["SpanID"], parent, service_of(row["PodName"])))
    return spans


def read_thresholds(data_root):
    """{service: {threshold column: (mean, std)}} from DATA_ROOT/metric_threshold/*.csv."""
    out = {}
    for path in glob.glob(os.path.join(data_root, "metric_threshold", "*.csv")):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if len(rows) < 3:
            continue
        svc = os.path.basename(path)[:-len(".csv")]
        out[svc] = {}
        for col, mean, std in zip(rows[0], rows[1], rows[2]):
            try:
                out[svc][col] = (float(mean), float(std))
            except ValueError:
                pass
    return out


def read_metric_samples(paths):
    """{pod: [(unix seconds, row dict)]} sorted by time; a (pod, time) present in several files
    (history and fault phases share the day's metric files) counts once."""
    per_pod = {}
    for path in paths:
        with open_text(path) as f:
            for row in csv.DictReader(f):
                pod = row.get("PodName") or ""
                try:
                    ts = int(float(row.get("TimeStamp") or ""))
                except ValueError:
                    continue
                if pod:
                    per_pod.setdefault(pod, {})[ts] = row
    return {pod: sorted(rows.items()) for pod, rows in per_pod.items()}


def rfc3339(unix_seconds):
    return datetime.datetime.fromtimestamp(unix_seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def threshold_transitions(samples, thresholds, k=K_STD):
    """Alert state changes as a Prometheus rule `value > mean + k*std` (for: 0) would make them.

    samples: {pod: [(ts, row)]}; thresholds: read_thresholds(). Returns a time-ordered list of
    (ts, service, alert dict) where alert is the Alertmanager alert (status firing with startsAt
    at the first sample over the bound; resolved with endsAt at the first sample back under it).
    Pods whose service has no threshold file raise nothing."""
    changes = []
    for pod, rows in samples.items():
        svc = service_of(pod)
        bounds = thresholds.get(svc)
        if not bounds:
            continue
        for threshold_col, metric_col, scale, alertname in METRIC_RULES:
            if threshold_col not in bounds:
                continue
            mean, std = bounds[threshold_col]
            limit = mean + k * std
            started = None
            for ts, row in rows:
                try:
                    value = float(row.get(metric_col, "")) * scale
                except ValueError:
                    continue
                if value != value:  # NaN: no sample
                    continue
                labels = {"alertname": alertname, "service": svc, "pod": pod,
                          "severity": "warning"}
                if value > limit and started is None:
                    started = ts
                    changes.append((ts, svc, {
                        "status": "firing", "labels": labels,
                        "annotations": {"summary": f"{alertname} on {pod}",
                                        "description": f"{metric_col} {value:.4g} > {limit:.4g}"
                                                       f" (mean + {k:g} std)"},
                        "startsAt": rfc3339(ts), "endsAt": "0001-01-01T00:00:00Z"}))
                elif value <= limit and started is not None:
                    changes.append((ts, svc, {
                        "status": "resolved", "labels": labels,
                        "annotations": {"summary": f"{alertname} on {pod}",
                                        "description": f"{metric_col} back to {value:.4g}"},
                        "startsAt": rfc3339(started), "endsAt": rfc3339(ts)}))
                    started = None
    changes.sort(key=lambda c: (c[0], c[1], c[2]["labels"]["pod"], c[2]["labels"]["alertname"]))
    return changes


def alertmanager_notifications(changes, receiver="faultline"):
    """Webhook bodies (version 4) as Alertmanager sends them with group_by: [service]: one
    notification per (time, service) with the alerts that changed then, in time order."""
    out = []
    for ts, svc, alert in changes:
        if out and out[-1][0] == ts and out[-1][1] == svc:
            out[-1][2]["alerts"].append(alert)
            continue
        out.append((ts, svc, {
            "version": "4", "groupKey": '{}:{service="%s"}' % svc, "truncatedAlerts": 0,
            "receiver": receiver, "groupLabels": {"service": svc},
            "commonLabels": {"service": svc}, "commonAnnotations": {}, "externalURL": "",
            "alerts": [alert]}))
    for _, _, body in out:
        statuses = {a["status"] for a in body["alerts"]}
        body["status"] = "firing" if "firing" in statuses else "resolved"
    return [body for _, _, body in out]
