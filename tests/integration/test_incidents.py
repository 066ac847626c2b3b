"""Incidents through the real binary over loopback: Alertmanager alerts and change events
correlate into incidents by EVENT time (a backfill sent out of order groups the same way), with
the reason each event joined; the tenant's rules (window, group_by, min_events) change the
grouping; the lifecycle (acknowledge, assign, comment, resolve, close) is audited and on the
timeline; alerts that all resolve resolve their incident, and a later alert does not reopen it;
split and merge by hand; RCA ranks candidates with evidence; `admin incidents list/show` print
them; viewers cannot change incidents and another tenant sees none of them."""
import datetime
import json

from harness import Aggregator, Workdir, log, wait_for


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def am_body(alerts):
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
    with Workdir("incidents") as work:
        agg = Aggregator(work).start()
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
                body = json.dumps(body).encode()
            status, _, data = agg.request(method, path, body=body, headers=headers)
            assert status == expect, (method, path, status, data)
            return json.loads(data) if data else None

        def post(alerts):
            status, _, data = agg.request("POST", hook, body=am_body(alerts),
                                          headers={"Content-Type": "application/json"})
            assert status == 202, (status, data)
            return json.loads(data)["events"]

        def alert(name, service, at, status="firing", ends=None, **labels):
            return ({"alertname": name, "service": service, "severity": "critical", **labels},
                    status, at, ends)

        def incidents(key=viewer, query=""):
            return call("GET", "/v1/incidents" + query, key)["incidents"]

        def settle(count):
            try:
                wait_for(lambda: len(incidents()) == count, 10, f"{count} incidents")
            except AssertionError:
                log(json.dumps([(i["services"], i["event_count"], i["status"], i["title"])
                                for i in incidents()]))
                raise
            return incidents()

        # A backfill two hours ago, sent newest first: db fails at t0, again at t0+2m (another
        # alert), and an hour later on its own. Event time decides, not arrival.
        t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - \
            datetime.timedelta(hours=2)
        post([alert("DiskFull", "db", t0 + datetime.timedelta(hours=1))])
        post([alert("ReplicaLag", "db", t0 + datetime.timedelta(minutes=2))])
        post([alert("SlowQueries", "db", t0)])
        found = settle(2)
        log(f"incidents: {[(i['first_event_at'], i['event_count']) for i in found]}")
        later, first = found  # newest first
        assert first["event_count"] == 2 and later["event_count"] == 1, found
        assert first["first_event_at"] == iso(t0).replace("Z", ".000000000Z") or \
            first["first_event_at"].startswith(iso(t0)[:19]), first
        detail = call("GET", "/v1/incidents/" + first["id"], viewer)
        reasons = sorted(e["reason"]["rule"] for e in detail["events"])
        assert reasons == ["opened", "service"] or reasons == ["service", "service"] or \
            "opened" in reasons, reasons
        assert all(e["reason"] for e in detail["events"]), detail["events"]
        assert detail["rca"]["candidates"][0]["name"] == "db", detail["rca"]
        assert detail["rca"]["candidates"][0]["evidence"], detail["rca"]
        assert 0 < detail["rca"]["candidates"][0]["confidence"] <= 1, detail["rca"]
        assert detail["timeline"][0]["kind"] == "opened", detail["timeline"]

        # Rules: group by cluster; api and cache in cluster eu join one incident.
        rules = call("GET", "/v1/correlation-rules", viewer)
        assert rules["window"] == "5m" and rules["max_hops"] == 2, rules
        call("PUT", "/v1/correlation-rules", viewer, {"group_by": ["cluster"]}, expect=403)
        call("PUT", "/v1/correlation-rules", responder, {"group_by": ["clusters", 3]}, expect=400)
        call("PUT", "/v1/correlation-rules", responder, {"group_by": ["cluster"]})
        t1 = t0 + datetime.timedelta(hours=1, minutes=30)
        post([alert("Errors", "api", t1, cluster="eu")])
        post([alert("Evictions", "cache", t1 + datetime.timedelta(seconds=30), cluster="eu")])
        wait_for(lambda: any(set(i["services"]) == {"api", "cache"} for i in incidents()), 10,
                 "api and cache grouped")
        found = settle(3)
        grouped = [i for i in found if set(i["services"]) == {"api", "cache"}]
        assert len(grouped) == 1, found
        grouped_detail = call("GET", "/v1/incidents/" + grouped[0]["id"], viewer)
        cache_event = [e for e in grouped_detail["events"] if e["service"] == "cache"][0]
        assert cache_event["reason"] == {"rule": "group_key", "key": "cluster=eu"}, cache_event

        # A deploy of api just before: a change candidate with its evidence.
        change = call("POST", "/v1/changes", responder, {
            "service": "api", "title": "deploy api v2.3.1", "kind": "deploy",
            "occurred_at": iso(t1 + datetime.timedelta(seconds=10))}, expect=201)
        wait_for(lambda: any(c["kind"] == "change" for c in call(
            "GET", "/v1/incidents/" + grouped[0]["id"], viewer)["rca"]["candidates"]), 10,
            "the change in the RCA")
        grouped_detail = call("GET", "/v1/incidents/" + grouped[0]["id"], viewer)
        kinds = [(c["kind"], c["name"]) for c in grouped_detail["rca"]["candidates"]]
        log(f"candidates: {kinds}")
        assert ("change", "deploy api v2.3.1") in kinds, kinds
        assert grouped_detail["rca"]["candidates"][0]["service"] == "api", kinds
        assert change["event_id"] in [e for c in grouped_detail["rca"]["candidates"]
                                      for e in c["evidence"]], grouped_detail["rca"]
        call("POST", "/v1/changes", viewer, {"service": "api", "title": "x"}, expect=403)
        call("POST", "/v1/changes", responder, {"title": "no service"}, expect=400)

        # Lifecycle: acknowledge, assign, comment, resolve, close; every step on the timeline
        # and in the audit log; closed is final.
        iid = first["id"]
        call("POST", f"/v1/incidents/{iid}/acknowledge", viewer, expect=403)
        assert call("POST", f"/v1/incidents/{iid}/acknowledge", responder)["status"] == \
            "acknowledged"
        updated = call("PATCH", f"/v1/incidents/{iid}", responder,
                       {"assignee": "alice@example.com", "severity": "error"})
        assert updated["assignee"] == "alice@example.com", updated
        call("PATCH", f"/v1/incidents/{iid}", responder, {"status": "merged"}, expect=400)
        call("POST", f"/v1/incidents/{iid}/comments", responder, {"text": "failing over"},
             expect=201)
        call("POST", f"/v1/incidents/{iid}/resolve", responder)
        call("POST", f"/v1/incidents/{iid}/close", responder)
        call("POST", f"/v1/incidents/{iid}/acknowledge", responder, expect=409)
        kinds = [t["kind"] for t in call("GET", f"/v1/incidents/{iid}", viewer)["timeline"]]
        assert kinds == ["opened", "status", "assignee", "severity", "comment", "status",
                         "status"], kinds
        actions = [e["action"] for e in call("GET", "/v1/audit?limit=100", owner)["entries"]]
        for action in ("incident.acknowledged", "incident.update", "incident.comment",
                       "incident.resolved", "incident.closed", "correlation_rules.update",
                       "change.create"):
            assert action in actions, (action, actions)

        # Auto-resolve: the alerts of an incident all resolve; a later alert on the same service
        # inside the window opens a new incident rather than reopening the resolved one.
        t2 = t0 + datetime.timedelta(minutes=40)
        post([alert("QueueDepth", "worker", t2)])
        settle(4)
        post([alert("QueueDepth", "worker", t2, status="resolved",
                    ends=t2 + datetime.timedelta(minutes=1))])
        wait_for(lambda: any(i["status"] == "resolved" and i["services"] == ["worker"]
                             for i in incidents()), 10, "auto-resolve")
        post([alert("QueueStuck", "worker", t2 + datetime.timedelta(minutes=2))])
        found = settle(5)
        workers = [i for i in found if i["services"] == ["worker"]]
        assert sorted(i["status"] for i in workers) == ["resolved", "triggered"], workers

        # Split by hand, then merge back.
        grouped_id = grouped[0]["id"]
        cache_id = cache_event["event_id"]
        split = call("POST", f"/v1/incidents/{grouped_id}/split", responder,
                     {"event_ids": [cache_id]}, expect=201)
        assert split["services"] == ["cache"], split
        call("POST", f"/v1/incidents/{grouped_id}/split", responder,
             {"event_ids": ["evt_nope"]}, expect=400)
        merged = call("POST", f"/v1/incidents/{grouped_id}/merge", responder,
                      {"source": split["id"]})
        assert sorted(merged["services"]) == ["api", "cache"], merged
        gone = call("GET", "/v1/incidents/" + split["id"], viewer)
        assert gone["status"] == "merged" and gone["merged_into"] == grouped_id, gone

        # Threshold: with min_events 3, two alerts open nothing, the third opens one with all.
        call("PUT", "/v1/correlation-rules", responder, {"min_events": 3})
        t3 = t0 + datetime.timedelta(minutes=70)
        before = len(incidents())
        post([alert("A1", "search", t3)])
        post([alert("A2", "search", t3 + datetime.timedelta(seconds=5))])
        post([alert("Watch", "watch", t3 - datetime.timedelta(minutes=30))])  # flush the queue
        found = settle(before)
        post([alert("A3", "search", t3 + datetime.timedelta(seconds=9))])
        found = settle(before + 1)
        search = [i for i in found if i["services"] == ["search"]]
        assert len(search) == 1 and search[0]["event_count"] == 3, search
        reasons = sorted(e["reason"]["rule"] for e in
                         call("GET", "/v1/incidents/" + search[0]["id"], viewer)["events"])
        assert reasons == ["opened", "service", "threshold"], reasons

        # Other tenants see nothing; listing filters and pages.
        assert call("GET", "/v1/incidents", outsider)["incidents"] == []
        call("GET", "/v1/incidents/" + iid, outsider, expect=404)
        call("POST", f"/v1/incidents/{grouped_id}/acknowledge", outsider, expect=404)
        page = call("GET", "/v1/incidents?limit=2", viewer)
        assert len(page["incidents"]) == 2 and page["next_cursor"], page
        rest = call("GET", "/v1/incidents?limit=50&cursor=" + page["next_cursor"], viewer)
        ids = [i["id"] for i in page["incidents"] + rest["incidents"]]
        assert len(ids) == len(set(ids)) == len(incidents(query="?limit=100")), ids
        assert all(i["status"] == "closed" for i in incidents(query="?status=closed")), ids

        # The admin CLI.
        listed = agg.admin("incidents", "list", "--tenant", "acme").stdout.decode()
        assert listed.startswith("INCIDENT_ID\tSTATUS") and iid in listed, listed
        shown = agg.admin("incidents", "show", grouped_id, "--tenant", "acme").stdout.decode()
        log(shown)
        assert "RANK\tKIND\tCANDIDATE" in shown and "\tservice\tapi\t" in shown, shown
        assert "EVENT CHAIN" in shown and "TIMELINE" in shown, shown
        log("incidents: ok")


if __name__ == "__main__":
    main()
