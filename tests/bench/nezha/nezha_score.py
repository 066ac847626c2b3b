"""Scoring of Faultline's incidents against the fault list: the only code that reads it.

- A fault's incident: the one open at inject_time (first_event_at <= t <= last_event_at; of
  several, the one opened last, being the most specific to t) or else the one opened soonest
  after t.
- Its ranking: the distinct services in rca.candidates order (kind "service": its name; other
  kinds: their service). Found at k when the injected pod's service is in the first k.
- Grouping, pairwise: every event that falls in a fault window [inject_time, inject_time +
  5 min) belongs to that fault; events outside every window are left out. Of the pairs of such
  events, precision = same incident and same fault / same incident, recall = same incident and
  same fault / same fault. An event in no incident is alone in its own.
"""
import datetime
import json

from nezha_data import service_of

FAULT_WINDOW_SECONDS = 300


def parse_time(text):
    """RFC 3339 (any fraction, Z or offset) or "YYYY-mm-dd HH:MM:SS" (UTC) -> unix seconds."""
    text = text.strip()
    if "T" not in text:
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    main, offset = text[:-6], text[-6:]
    if "." in main:  # Python's fromisoformat takes at most 6 fraction digits
        head, frac = main.split(".", 1)
        main = head + "." + (frac + "000000")[:6]
    return datetime.datetime.fromisoformat(main + offset).timestamp()


def load_faults(path):
    """[{time (unix s), time_text, type, pod, service}] in time order; inject_time is UTC
    (inject_timestamp is not used: it disagrees with inject_time in the data)."""
    with open(path) as f:
        doc = json.load(f)
    faults = []
    for entries in doc.values():
        for e in entries:
            faults.append({"time": parse_time(e["inject_time"]), "time_text": e["inject_time"],
                           "type": e["inject_type"], "pod": e["inject_pod"],
                           "service": service_of(e["inject_pod"])})
    return sorted(faults, key=lambda f: f["time"])


def match_incident(t, incidents):
    """The incident of a fault injected at t (unix s), or None."""
    open_at = [i for i in incidents
               if parse_time(i["first_event_at"]) <= t <= parse_time(i["last_event_at"])]
    if open_at:
        return max(open_at, key=lambda i: (parse_time(i["first_event_at"]), str(i["id"])))
    after = [i for i in incidents if parse_time(i["first_event_at"]) > t]
    if after:
        return min(after, key=lambda i: (parse_time(i["first_event_at"]), str(i["id"])))
    return None


def ranking(incident):
    """Distinct services in the order of the incident's RCA candidates."""
    ranked = []
    for c in ((incident or {}).get("rca") or {}).get("candidates") or []:
        svc = c.get("name") if c.get("kind") == "service" else c.get("service")
        if svc and svc not in ranked:
            ranked.append(svc)
    return ranked


def _pairs(n):
    return n * (n - 1) // 2


def grouping(faults, incidents):
    """(precision, recall, events counted) of the pairwise grouping; None when undefined."""
    cells = {}  # (incident, fault) -> events
    for inc in incidents:
        for ev in inc.get("events") or []:
            t = parse_time(ev["occurred_at"])
            owner = next((i for i, f in enumerate(faults)
                          if f["time"] <= t < f["time"] + FAULT_WINDOW_SECONDS), None)
            if owner is not None:
                key = (str(inc["id"]), owner)
                cells[key] = cells.get(key, 0) + 1
    return cells


def grouping_scores(cells, loose_events_per_fault=None):
    """Precision and recall from {(incident, fault): n}; loose events (in a fault window but in
    no incident) add to the fault's pairs only."""
    same_both = sum(_pairs(n) for n in cells.values())
    per_incident, per_fault = {}, {}
    for (inc, fault), n in cells.items():
        per_incident[inc] = per_incident.get(inc, 0) + n
        per_fault[fault] = per_fault.get(fault, 0) + n
    for fault, n in (loose_events_per_fault or {}).items():
        per_fault[fault] = per_fault.get(fault, 0) + n
    same_incident = sum(_pairs(n) for n in per_incident.values())
    same_fault = sum(_pairs(n) for n in per_fault.values())
    precision = same_both / same_incident if same_incident else None
    recall = same_both / same_fault if same_fault else None
    return precision, recall, sum(per_fault.values())


def score(faults, incidents, loose_event_times=(), out=print):
    """Prints one line per fault, the incident count, the grouping and, last, the AS@k line.
    incidents: full incident documents (with events and rca). Returns {1: AS@1, 3:.., 5:..}."""
    found = {1: 0, 3: 0, 5: 0}
    for f in faults:
        inc = match_incident(f["time"], incidents)
        ranked = ranking(inc)
        for k in found:
            if f["service"] in ranked[:k]:
                found[k] += 1
        pos = ranked.index(f["service"]) + 1 if f["service"] in ranked else "-"
        out(f"{f['time_text']}  {f['type']:<15} truth={f['service']:<32} "
            f"incident={inc['id'] if inc else '-'}  rank={pos}  top3={','.join(ranked[:3])}")
    out(f"incidents: {len(incidents)} for {len(faults)} faults")
    loose = {}
    for t in loose_event_times:
        owner = next((i for i, f in enumerate(faults)
                      if f["time"] <= t < f["time"] + FAULT_WINDOW_SECONDS), None)
        if owner is not None:
            loose[owner] = loose.get(owner, 0) + 1
    precision, recall, counted = grouping_scores(grouping(faults, incidents), loose)

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.2f}%"

    out(f"grouping (pairs of the {counted} events inside a fault window [inject_time, +5 min);"
        f" same incident vs same fault): precision={pct(precision)} recall={pct(recall)}")
    n = len(faults) or 1
    result = {k: 100.0 * v / n for k, v in found.items()}
    out(f"AS@1={result[1]:.2f} AS@3={result[3]:.2f} AS@5={result[5]:.2f}")
    return result
