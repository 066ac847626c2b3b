"""Unit test of the Nezha bench's scoring and alert rules on synthetic data (no binaries)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nezha_data  # noqa: E402
import nezha_score  # noqa: E402

FAULTS = {
    "08": [{"inject_time": "2023-01-29 08:43:04", "inject_timestamp": "1",
            "inject_pod": "ts-contacts-service-866bd68c97-xcqfx", "inject_type": "return"}],
    "09": [{"inject_time": "2023-01-29 09:03:53", "inject_timestamp": "1",
            "inject_pod": "ts-basic-service-5dc8d4f9fd-46997", "inject_type": "exception"},
           {"inject_time": "2023-01-29 09:30:00", "inject_timestamp": "1",
            "inject_pod": "ts-food-service-f5756978c-k8vqf", "inject_type": "cpu_contention"},
           {"inject_time": "2023-01-29 10:00:00", "inject_timestamp": "1",
            "inject_pod": "ts-price-service-76846864d9-g465z", "inject_type": "return"}],
}


def incident(iid, first, last, candidates, events):
    return {"id": iid, "first_event_at": first, "last_event_at": last,
            "rca": {"candidates": candidates},
            "events": [{"event_id": f"{iid}-{n}", "occurred_at": t} for n, t in enumerate(events)]}


INCIDENTS = [
    # Open at the first fault's time; contacts is second (found at 3, not at 1).
    incident("inc_a", "2023-01-29T08:42:59.5Z", "2023-01-29T08:47:00.123456789Z", [
        {"kind": "service", "name": "ts-gateway-service", "confidence": 0.9},
        {"kind": "template", "name": "tpl 1", "service": "ts-gateway-service"},
        {"kind": "template", "name": "tpl 2", "service": "ts-contacts-service"},
    ], ["2023-01-29T08:43:10Z", "2023-01-29T08:44:00Z", "2023-01-29T08:50:00Z"]),
    # A long-open noise incident and a more specific one at the second fault: the later wins.
    incident("inc_noise", "2023-01-29T08:00:00Z", "2023-01-29T12:00:00Z", [
        {"kind": "service", "name": "ts-food-service"}], ["2023-01-29T09:30:30Z"]),
    incident("inc_b", "2023-01-29T09:03:00+00:00", "2023-01-29T09:06:00+00:00", [
        {"kind": "host", "name": "node-1", "service": "ts-basic-service"}],
        ["2023-01-29T09:04:00Z", "2023-01-29T09:05:00Z", "2023-01-29T08:44:30Z"]),
    # Opened after the fourth fault (none open at it, noise closed at 12:00 is open: see test).
]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def test_times():
    check(nezha_score.parse_time("2023-01-29 08:43:04") == 1674981784, "inject_time is UTC")
    check(abs(nezha_score.parse_time("2023-01-29T08:43:04.123456789Z") - 1674981784.123456)
          < 1e-5, "nanosecond RFC 3339")
    check(nezha_score.parse_time("2023-01-29T16:43:04+08:00") == 1674981784, "offset")


def test_score():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "faults.json")
        with open(path, "w") as f:
            json.dump(FAULTS, f)
        faults = nezha_score.load_faults(path)
    check([f["service"] for f in faults] == ["ts-contacts-service", "ts-basic-service",
                                             "ts-food-service", "ts-price-service"], faults)
    check(nezha_score.match_incident(faults[0]["time"], INCIDENTS)["id"] == "inc_a", "open")
    check(nezha_score.match_incident(faults[1]["time"], INCIDENTS)["id"] == "inc_b",
          "the latest opened of the open ones")
    check(nezha_score.match_incident(faults[2]["time"], INCIDENTS)["id"] == "inc_noise", "")
    check(nezha_score.ranking(INCIDENTS[0]) == ["ts-gateway-service", "ts-contacts-service"],
          "distinct services in order")
    # Before every incident: the one opened soonest after.
    check(nezha_score.match_incident(1674900000, INCIDENTS)["id"] == "inc_noise", "after")
    check(nezha_score.match_incident(1675900000, INCIDENTS) is None, "none after the last")

    lines = []
    result = nezha_score.score(faults, INCIDENTS, loose_event_times=[
        nezha_score.parse_time("2023-01-29T08:45:00Z")], out=lines.append)
    # Found: fault 1 at rank 2, fault 2 at rank 1, fault 3 at rank 1, fault 4 (inc_noise is open
    # at 10:00, ranks food only) not at all.
    check(result == {1: 50.0, 3: 75.0, 5: 75.0}, result)
    check(lines[-1] == "AS@1=50.00 AS@3=75.00 AS@5=75.00", lines[-1])
    check(lines[-3] == "incidents: 3 for 4 faults", lines[-3])
    # Window events: fault 0: inc_a x2, inc_b x1 (08:44:30), loose x1; fault 1: inc_b x2;
    # fault 2: inc_noise x1. Same incident pairs: inc_a 1 + inc_b 3 = 4, of which same fault 1+1.
    # Same fault pairs: fault 0 has 4 events -> 6, fault 1 -> 1: 7.
    check("precision=50.00% recall=28.57%" in lines[-2], lines[-2])
    check("of the 7 events" in lines[-2], lines[-2])


def test_alert_rules():
    thresholds = {"ts-a-service": {"CpuUsageRate(%)": (10.0, 2.0), "NetworkP90(ms)": (100.0, 1.0)}}
    rows = [(60, {"CpuUsageRate(%)": "15", "PodServerLatencyP90(s)": "0.05"}),
            (120, {"CpuUsageRate(%)": "17", "PodServerLatencyP90(s)": "0.2"}),
            (180, {"CpuUsageRate(%)": "16.5", "PodServerLatencyP90(s)": "0.2"}),
            (240, {"CpuUsageRate(%)": "nan", "PodServerLatencyP90(s)": "0.01"}),
            (300, {"CpuUsageRate(%)": "12", "PodServerLatencyP90(s)": ""})]
    samples = {"ts-a-service-5b67c48447-mv5hb": rows, "ts-unknown-1-2": rows}
    changes = nezha_data.threshold_transitions(samples, thresholds)
    got = [(ts, a["labels"]["alertname"], a["status"]) for ts, _, a in changes]
    check(got == [(120, "PodCpuUsageHigh", "firing"), (120, "PodLatencyP90High", "firing"),
                  (240, "PodLatencyP90High", "resolved"), (300, "PodCpuUsageHigh", "resolved")],
          got)
    check(changes[0][2]["labels"]["service"] == "ts-a-service", changes[0])
    check(changes[3][2]["startsAt"] == "1970-01-01T00:02:00Z" and
          changes[3][2]["endsAt"] == "1970-01-01T00:05:00Z", changes[3])
    bodies = nezha_data.alertmanager_notifications(changes)
    check([len(b["alerts"]) for b in bodies] == [2, 1, 1], bodies)
    check(bodies[0]["version"] == "4" and bodies[0]["status"] == "firing", bodies[0])
    check(bodies[1]["status"] == "resolved", bodies[1])
    check(nezha_data.service_of("ts-order-service-5b67c48447-mv5hb") == "ts-order-service", "")


def test_trace_batches():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "integration"))
    import nezha_bench
    spans = [("t1", "a", "", "x"), ("t2", "b", "", "x"), ("t1", "c", "a", "y"),
             ("t3", "d", "", "x"), ("t3", "e", "d", "z"), ("t3", "f", "e", "y")]
    batches = list(nezha_bench.trace_batches(spans, limit=3))
    check([[s[1] for s in b] for b in batches] == [["a", "c", "b"], ["d", "e", "f"]], batches)
    check(sum(len(b) for b in nezha_bench.trace_batches(spans, limit=1)) == 6, "all sent")


def test_retrieval():
    import nezha_retrieval
    faults = [{"time": float(t), "time_text": str(t), "type": "x", "pod": svc + "-1",
               "service": svc} for t, svc in [(100, "a"), (200, "b"), (300, "a"), (400, "a")]]
    iso = {100: "1970-01-01T00:01:40Z", 200: "1970-01-01T00:03:20Z",
           300: "1970-01-01T00:05:00Z", 400: "1970-01-01T00:06:40Z",
           250: "1970-01-01T00:04:10Z", 500: "1970-01-01T00:08:20Z"}
    incs = [{"id": f"i{t}", "first_event_at": iso[t], "last_event_at": iso[t]}
            for t in (100, 200, 250, 300, 400, 500)]
    planned = nezha_retrieval.plan(faults, incs)
    check([sorted(p[2]) for p in planned] == [[], [], ["i100"], ["i100", "i300"]], planned)
    lists = {"i300": ["i250", "i100", "i500", "i200"],  # i500 is later: dropped
             "i400": ["i300", "i100", "i200"]}
    starts = {i["id"]: nezha_score.parse_time(i["first_event_at"]) for i in incs}
    lines = []
    services = {"i100": ["a"], "i300": ["a", "b"], "i400": ["b"]}
    result = nezha_retrieval.score(planned, lambda iid: lists.get(iid, []), starts.get,
                                   out=lines.append, services_of=lambda i: services.get(i, []))
    check(result["scored"] == 2, result)
    check(abs(result["p_at_k"] - (1 / 3 + 2 / 3) / 2) < 1e-9, result)
    check(abs(result["mrr"] - (1 / 2 + 1) / 2) < 1e-9, result)
    check(result["hit_at_k"] == 1.0, result)
    check("P@3=0.500" in lines[-2] and "MRR=0.750" in lines[-2], lines[-2])
    # Reachable: only the fault at 300 (its incident and i100 both list "a").
    check(result["reachable"]["scored"] == 1, result)
    check(abs(result["reachable"]["mrr"] - 0.5) < 1e-9, result)


def test_calibration():
    import nezha_calibration as nc
    # Brier: (0.9 - 1)^2, (0.2 - 0)^2, (0.6 - 0)^2, (0.1 - 0)^2 -> 0.01 + 0.04 + 0.36 + 0.01.
    pairs = [(0.9, True), (0.2, False), (0.6, False), (0.1, False)]
    check(abs(nc.brier(pairs) - 0.42 / 4) < 1e-12, nc.brier(pairs))
    check(nc.brier([]) is None and nc.ece([]) is None, "empty")
    table = nc.reliability(pairs + [(1.0, True)], bins=5)
    check([row[2] for row in table] == [1, 1, 0, 1, 2], table)  # 1.0 is in the last bin
    check(table[4][3] == 0.95 and table[4][4] == 1.0 and table[3][4] == 0.0, table)
    check(table[2][3] is None and table[2][4] is None, table)
    # ECE: bins [0,.2): 0.1 vs 0; [.2,.4): 0.2 vs 0; [.6,.8): 0.6 vs 0; [.8,1]: 0.9 vs 1.
    check(abs(nc.ece(pairs) - (0.1 + 0.2 + 0.6 + 0.1) / 4) < 1e-12, nc.ece(pairs))
    # Perfectly calibrated: ECE 0, and Brier of a certain, right answer is 0.
    check(nc.ece([(0.5, True), (0.5, False)]) == 0.0, "calibrated")
    check(nc.brier([(1.0, True), (0.0, False)]) == 0.0, "perfect")
    # Right: the first service of the ranking is the injected one.
    fault = {"service": "ts-contacts-service", "time": 0.0, "time_text": "t0"}
    check(not nc.is_right(fault, INCIDENTS[0]), "contacts is second")
    check(nc.is_right({"service": "ts-gateway-service"}, INCIDENTS[0]), "gateway is first")
    check(not nc.is_right(fault, {"rca": {}}), "no candidates")
    records = [{"fault": dict(fault, service=s), "incident_id": "i", "confidence": c, "rca": r,
                "right": y} for s, c, r, y in [("a", 0.9, 1.0, True), ("b", 0.2, 0.5, False),
                                               ("c", 0.6, 1.0, False), ("d", 0.1, 0.0, False)]]
    lines = []
    result = nc.score(records, out=lines.append, unmatched=2)
    check(result["n"] == 4 and result["right"] == 1 and result["base_rate"] == 0.25, result)
    # Base rate 0.25: (0.75^2 + 3 x 0.25^2) / 4; rca: (0 + 0.25 + 1 + 0) / 4.
    check(abs(result["brier_base"] - 0.1875) < 1e-12, result)
    check(abs(result["brier_rca"] - 0.3125) < 1e-12, result)
    check("(2 faults without an incident left out); right: 1" in lines[4], lines[4])
    check(lines[-1].startswith("calibration over 4 answers: mean confidence=0.450 "
                               "accuracy=0.250 Brier=0.105 ECE=0.250"), lines[-1])


if __name__ == "__main__":
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            fn()
            print(f"ok: {name}")
    print("nezha scoring: 6 passed, 0 failed")
