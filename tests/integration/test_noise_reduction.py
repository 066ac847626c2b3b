"""Noise reduction through the real binary over loopback: maintenance windows (one-off, and
recurring in a time zone), suppression rules, flapping and transient alerts decide Alertmanager
webhook events (a transient one opens no incident), each decision stored with its reason and
rule; the alert keeps following its events, so when a window is deleted the alert shows its
real state again. Rule changes are audited, viewers
cannot make them, another tenant sees none of them."""
import datetime
import json

from harness import Aggregator, Workdir, log, wait_for


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def am_body(alerts):
    """An Alertmanager v4 webhook body for (labels, status, starts, ends) tuples."""
    out = []
    for labels, status, starts, ends in alerts:
        out.append({"status": status, "labels": labels,
                    "annotations": {"summary": labels["alertname"] + " on " + labels["service"]},
                    "startsAt": iso(starts),
                    "endsAt": iso(ends) if ends else "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus/graph", "fingerprint": ""})
    return json.dumps({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0,
                       "status": alerts[0][1], "receiver": "faultline", "groupLabels": {},
                       "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "http://alertmanager:9093", "alerts": out}).encode()


def main():
    with Workdir("noise_reduction") as work:
        agg = Aggregator(work, extra_config='[noise]\nflap_window = "10m"\nflap_changes = 4\n'
                         ).start()
        agg.create_tenant("acme")
        agg.create_tenant("other")
        hook = agg.admin("integration", "create", "--tenant", "acme", "--kind", "alertmanager",
                         "--name", "am").stdout.decode().strip()
        responder = agg.admin("api-key", "create", "--tenant", "acme", "--role",
                              "responder").stdout.decode().strip()
        viewer = agg.admin("api-key", "create", "--tenant", "acme", "--role",
                           "viewer").stdout.decode().strip()
        owner = agg.admin("api-key", "create", "--tenant", "acme", "--role",
                          "owner").stdout.decode().strip()
        outsider = agg.admin("api-key", "create", "--tenant", "other", "--role",
                             "owner").stdout.decode().strip()

        def call(method, path, key, body=None, expect=200):
            headers = {"Authorization": f"Bearer {key}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
                body = json.dumps(body).encode() if not isinstance(body, bytes) else body
            status, _, data = agg.request(method, path, body=body, headers=headers)
            assert status == expect, (method, path, status, data)
            return json.loads(data) if data else None

        def post(alerts):
            status, _, data = agg.request("POST", hook, body=am_body(alerts),
                                          headers={"Content-Type": "application/json"})
            assert status == 202, (status, data)
            return json.loads(data)["events"]

        def alert(name, service, status="firing", starts=None, ends=None):
            now = datetime.datetime.now(datetime.timezone.utc)
            return ({"alertname": name, "service": service, "severity": "critical",
                     "instance": service + "-1:9100"}, status, starts or now, ends)

        now = datetime.datetime.now(datetime.timezone.utc)
        # Before any rule: plain dedup.
        first = post([alert("DiskFull", "db")])
        assert first[0]["decision"] == "new", first

        # A one-off maintenance window on service=db, now.
        window = call("POST", "/v1/maintenance-windows", responder, {
            "name": "db upgrade", "comment": "ticket OPS-12",
            "matchers": [{"name": "service", "value": "db"}],
            "starts_at": iso(now - datetime.timedelta(minutes=1)),
            "ends_at": iso(now + datetime.timedelta(minutes=30))}, expect=201)
        assert window["active_now"] is True and window["id"].startswith("nr_"), window
        in_window = post([alert("ReplicaLag", "db"), alert("ReplicaLag", "api")])
        log(f"in window: {[(e['decision'], e['reason']) for e in in_window]}")
        assert in_window[0]["decision"] == "maintenance", in_window
        assert in_window[0]["rule_id"] == window["id"], in_window
        assert "db upgrade" in in_window[0]["reason"], in_window
        assert in_window[1]["decision"] == "new", in_window  # service=api is not in the window
        # The alert opened before the window goes on: its repeat is muted, and it stays firing.
        repeat = post([alert("DiskFull", "db")])
        assert repeat[0]["decision"] == "maintenance", repeat
        alerts = call("GET", "/v1/alerts?status=firing", viewer)["alerts"]
        by_title = {a["title"]: a for a in alerts}
        assert by_title["DiskFull on db"]["muted"]["rule_id"] == window["id"], by_title
        assert by_title["ReplicaLag on api"]["muted"] is None, by_title

        # A timeless suppression rule with a regex matcher.
        silence = call("POST", "/v1/suppression-rules", responder, {
            "name": "heartbeats", "matchers": [{"name": "alertname", "op": "=~",
                                                "value": "Watchdog|InfoInhibitor"}]},
            expect=201)
        suppressed = post([alert("Watchdog", "monitoring")])
        assert suppressed[0]["decision"] == "suppressed", suppressed
        assert suppressed[0]["rule_id"] == silence["id"], suppressed

        # A recurring window in Tokyo (UTC+9, no DST), open every day from 5 minutes ago.
        tokyo = now + datetime.timedelta(hours=9) - datetime.timedelta(minutes=5)
        recurring = call("POST", "/v1/maintenance-windows", responder, {
            "name": "nightly cache flush", "matchers": [{"name": "service", "value": "cache"}],
            "recurrence": {"time_zone": "Asia/Tokyo", "start": tokyo.strftime("%H:%M"),
                           "duration": "1h"}}, expect=201)
        assert recurring["active_now"] is True, recurring
        assert recurring["next_start"] is not None, recurring
        cached = post([alert("Evictions", "cache")])
        assert cached[0]["decision"] == "maintenance", cached
        assert cached[0]["rule_id"] == recurring["id"], cached

        # Bad specs, viewers, other kinds and other tenants.
        bad = call("POST", "/v1/maintenance-windows", responder, {
            "name": "x", "matchers": [{"name": "service", "value": "db"}],
            "recurrence": {"time_zone": "Mars/Olympus", "start": "02:00", "duration": "1h"}},
            expect=400)
        assert "time zone" in bad["error"]["message"], bad
        call("POST", "/v1/suppression-rules", responder, {"name": "x", "matchers": []},
             expect=400)
        call("POST", "/v1/suppression-rules", viewer, {
            "name": "x", "matchers": [{"name": "a", "value": "b"}]}, expect=403)
        call("DELETE", "/v1/suppression-rules/" + window["id"], responder, expect=404)
        call("DELETE", "/v1/maintenance-windows/" + window["id"], outsider, expect=404)
        assert call("GET", "/v1/maintenance-windows", outsider)["maintenance_windows"] == []
        assert call("GET", "/v1/alerts", outsider)["alerts"] == []
        listed = call("GET", "/v1/maintenance-windows?limit=1", viewer)
        assert len(listed["maintenance_windows"]) == 1 and listed["next_cursor"], listed

        # The window ends (deleted): the alert shows its real state, still firing, unmuted.
        call("DELETE", "/v1/maintenance-windows/" + window["id"], responder)
        alerts = {a["title"]: a for a in call("GET", "/v1/alerts", viewer)["alerts"]}
        disk = alerts["DiskFull on db"]
        assert disk["status"] == "firing" and disk["muted"] is None, disk
        assert disk["count"] == 2, disk
        after = post([alert("DiskFull", "db")])
        assert after[0]["decision"] == "deduplicated", after

        # Flapping: firing and resolving four times within the window.
        decisions = []
        base = datetime.datetime.now(datetime.timezone.utc)
        for i in range(5):
            at = base + datetime.timedelta(seconds=i)
            status = "firing" if i % 2 == 0 else "resolved"
            decisions.append(post([alert("LinkFlap", "edge", status, starts=base,
                                         ends=at if status == "resolved" else None)])[0])
        log(f"flapping: {[d['decision'] for d in decisions]}")
        assert [d["decision"] for d in decisions] == [
            "new", "resolved", "new", "flapping", "flapping"], decisions
        edge = {a["title"]: a for a in call("GET", "/v1/alerts", viewer)["alerts"]}["LinkFlap on edge"]
        assert edge["flapping"] is True and edge["status"] == "firing", edge

        # Transient: an alert that resolved by itself within 5 minutes three times (half an
        # hour apart, so never flapping) fires again: decided transient. Resolved again within
        # the pause, it opens no incident; the next time it stays firing, and once event time
        # is 5 minutes past that firing it opens one (across a restart of the aggregator),
        # while the first three firings each opened their own.
        # A tenant of its own: the pause is measured in the tenant's event time, which the
        # alerts above (dated now) would already have moved hours past these.
        agg.create_tenant("ops")
        ops_hook = agg.admin("integration", "create", "--tenant", "ops", "--kind",
                             "alertmanager", "--name", "am").stdout.decode().strip()
        ops_viewer = agg.admin("api-key", "create", "--tenant", "ops", "--role",
                               "viewer").stdout.decode().strip()

        def post_ops(alerts):
            status, _, data = agg.request("POST", ops_hook, body=am_body(alerts),
                                          headers={"Content-Type": "application/json"})
            assert status == 202, (status, data)
            return json.loads(data)["events"]
        past = base - datetime.timedelta(hours=3)
        for i in range(3):
            fired = past + datetime.timedelta(minutes=30 * i)
            opened = post_ops([alert("CpuBurst", "batch", starts=fired)])[0]
            assert opened["decision"] == "new", opened
            post_ops([alert("CpuBurst", "batch", "resolved", starts=fired,
                        ends=fired + datetime.timedelta(minutes=2))])
        fired = past + datetime.timedelta(minutes=90)
        blip = post_ops([alert("CpuBurst", "batch", starts=fired)])[0]
        log(f"transient: {blip}")
        assert blip["decision"] == "transient", blip
        assert "resolved by itself within 5m 3 times" in blip["reason"], blip
        post_ops([alert("CpuBurst", "batch", "resolved", starts=fired,
                    ends=fired + datetime.timedelta(minutes=1))])
        lasting = post_ops([alert("CpuBurst", "batch",
                              starts=past + datetime.timedelta(minutes=120))])[0]
        assert lasting["decision"] == "transient", lasting
        # A restart while it waits: the waiting firing is read back from the store, not lost.
        agg.stop()
        agg.start()
        # An ordinary alert now: event time moves past the pause, and once the marker's incident
        # is there the engine has passed everything before it (events are correlated in order).
        marker = post_ops([alert("Marker", "marker-svc")])[0]
        assert marker["decision"] == "new", marker

        def incidents_of(service):
            found = []
            for item in call("GET", "/v1/incidents?limit=100", ops_viewer)["incidents"]:
                doc = call("GET", "/v1/incidents/" + item["id"], ops_viewer)
                if any(e["service"] == service for e in doc["events"]):
                    found.append(doc)
            return found
        wait_for(lambda: incidents_of("marker-svc"), 20, "the marker alert's incident")
        batch = incidents_of("batch")
        linked = {e["event_id"] for i in batch for e in i["events"]}
        assert len(batch) == 4, [i["id"] for i in batch]
        assert blip["id"] not in linked, batch
        assert lasting["id"] in linked, batch

        # Every decision counted; stored events filter by decision.
        stats = call("GET", "/v1/events/stats", viewer)
        log(f"stats: {stats}")
        d = stats["decisions"]
        assert d["maintenance"] == 3 and d["suppressed"] == 1 and d["flapping"] == 2, stats
        stored = call("GET", "/v1/events?decision=maintenance", viewer)["events"]
        assert len(stored) == 3 and all(e["rule_id"] for e in stored), stored
        call("GET", "/v1/events?decision=loud", viewer, expect=400)

        # Rule changes are audited.
        entries = call("GET", "/v1/audit?limit=200", owner)["entries"]
        actions = [e["action"] for e in entries]
        for action in ("maintenance_window.create", "maintenance_window.delete",
                       "suppression_rule.create"):
            assert action in actions, actions
        log("ok: maintenance windows, suppression, flapping, transient alerts, audited, "
            "tenant walls")


if __name__ == "__main__":
    main()
