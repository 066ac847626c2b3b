#!/usr/bin/env python3
"""Log-derived events end to end, real binaries on loopback: an agent tails a file with error
lines and templates the aggregator has not seen; GET /v1/events shows one error event per
template (not per line) with its noise decision, new-template events once per template, repeats
of an error folding into the same alert ("deduplicated"), and a second tenant sees none of it.
"""
import json
import os
import time
import urllib.parse

from harness import Agent, Aggregator, Workdir, log, wait_for


def stamp(offset=0.0):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + offset)) + "Z"


def main():
    with Workdir("logevents") as work:
        agg = Aggregator(work).start()
        agg.create_tenant("acme")
        agg.create_tenant("globex")

        def key(tenant):
            return agg.admin("api-key", "create", "--tenant", tenant, "--role",
                             "viewer").stdout.decode().strip()
        acme_key, globex_key = key("acme"), key("globex")

        def events(api_key, **filters):
            query = urllib.parse.urlencode({"limit": 500, "source": "log", **filters})
            status, _, body = agg.request("GET", "/v1/events?" + query,
                                          headers={"Authorization": f"Bearer {api_key}"})
            assert status == 200, body
            return list(reversed(json.loads(body)["events"]))  # oldest first

        def of_kind(evs, kind):
            return [e for e in evs if e["labels"].get("kind") == kind]

        agent = Agent(work, config='[inputs]\nstart_at = "beginning"\nscan_interval = "50ms"\n'
                                   '[batch]\nmax_age = "100ms"\n')
        agent.enroll(agg.url, agg.create_token("acme"))
        app = os.path.join(work, "payments.log")
        lines = []
        for i in range(200):
            lines.append(f"{stamp()} INFO payment p{i} accepted in {i % 50} ms")
        for i in range(300):
            lines.append(f"{stamp()} ERROR payment p{i} failed: upstream timeout after {30000 + i} ms")
        lines.append(f"{stamp()} CRITICAL ledger db-1 unreachable, writes stopped")
        with open(app, "w") as f:
            f.write("\n".join(lines) + "\n")
        agent.start(app)

        def first_errors():
            evs = events(acme_key)
            errs = of_kind(evs, "log_error")
            return evs if sum(int(e["labels"]["lines"]) for e in errs) >= 301 else None
        evs = wait_for(first_errors, 60, "error events of the first 501 lines", interval=0.3)
        errors = of_kind(evs, "log_error")
        log(f"{len(evs)} log events: {[(e['labels']['kind'], e['title'][:60]) for e in evs]}")
        # 301 error lines, a handful of events: one per (template, severity) and batch. (The
        # agent's miner gives the first lines of a shape their own templates before it
        # generalizes, so a few small groups come first.)
        assert len(errors) <= 10, errors
        by_fingerprint = {}
        for e in errors:
            by_fingerprint.setdefault(e["fingerprint"], []).append(e)
        main_alert = max(by_fingerprint.values(),
                         key=lambda evs: sum(int(e["labels"]["lines"]) for e in evs))
        assert sum(int(e["labels"]["lines"]) for e in main_alert) >= 250, main_alert
        timeouts = main_alert
        assert "upstream timeout" in timeouts[0]["title"], timeouts
        assert timeouts[0]["severity"] == "error", timeouts
        assert timeouts[0]["decision"] == "new", timeouts[0]
        assert all(e["decision"] == "deduplicated" for e in timeouts[1:]), timeouts
        assert all(e["decision"] == "new" for evs in by_fingerprint.values() for e in evs[:1])
        first = timeouts[0]
        assert first["service"] == "payments" and first["status"] == "firing", first
        assert first["host"], first  # the agent's enrolled hostname
        assert first["labels"]["source"] == app, first
        assert "upstream timeout after" in first["raw"], first
        critical = [e for e in errors if e["severity"] == "critical"]
        assert len(critical) == 1 and "unreachable" in critical[0]["title"], errors
        new_templates = of_kind(evs, "new_template")
        assert len(new_templates) >= 3, evs  # accepted, timeout, unreachable
        assert all(e["status"] == "info" and e["decision"] == "new" for e in new_templates), \
            new_templates
        assert len({e["labels"]["template"] for e in new_templates}) == len(new_templates)
        seen_templates = {e["labels"]["template"] for e in new_templates}

        # More of the same error, and one line of a template never seen before.
        with open(app, "a") as f:
            for i in range(50):
                f.write(f"{stamp()} ERROR payment q{i} failed: upstream timeout after {i} ms\n")
            f.write(f"{stamp()} WARN refund r1 queued behind 7 others\n")

        def second_round():
            evs = events(acme_key)
            fresh = [e for e in of_kind(evs, "new_template")
                     if e["labels"]["template"] not in seen_templates]
            timeouts = [e for e in of_kind(evs, "log_error")
                        if e["fingerprint"] == first["fingerprint"]]
            lines = sum(int(e["labels"]["lines"]) for e in timeouts)
            return (fresh, timeouts) if fresh and lines >= main_lines + 50 else None
        main_lines = sum(int(e["labels"]["lines"]) for e in timeouts)
        fresh, timeouts = wait_for(second_round, 60, "the second round of log events",
                                   interval=0.3)
        assert len(fresh) == 1 and "refund" in fresh[0]["title"], fresh
        assert timeouts[-1]["decision"] == "deduplicated", timeouts[-1]
        assert timeouts[-1]["fingerprint"] == first["fingerprint"]
        # The old templates were not announced again.
        assert len(of_kind(events(acme_key), "new_template")) == len(new_templates) + 1

        # The filters of GET /v1/events apply to log events like any other.
        assert all(e["severity"] == "critical" for e in events(acme_key, severity="critical"))
        assert len(events(acme_key, severity="critical")) == 1
        # Another tenant sees nothing of acme's logs.
        assert events(globex_key) == [], "globex sees acme's log events"
        status, _, body = agg.request("GET", "/v1/events/stats",
                                      headers={"Authorization": f"Bearer {globex_key}"})
        assert status == 200 and json.loads(body)["events"] == 0, body
        # The derivation's counters are on /metrics, and they agree with what was stored.
        status, _, body = agg.request("GET", "/metrics")
        assert status == 200, status
        scraped = {}
        for line in body.decode().splitlines():
            if line.startswith("faultline_log_event"):
                name, value = line.split()
                scraped[name] = int(float(value))
        assert scraped["faultline_log_event_batches_total"] >= 2, scraped
        assert scraped["faultline_log_events_total"] >= len(events(acme_key)), scraped
        assert scraped["faultline_log_event_failures_total"] == 0, scraped
        assert "faultline_log_events_dropped_total" in scraped, scraped
        agent.stop()
        agg.stop()
    log("ok")


if __name__ == "__main__":
    main()
