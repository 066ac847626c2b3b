"""The live event stream with the real binary: GET /v1/events/stream opened with a session
(tenant acme) and with an API key (tenant other); an Alertmanager webhook posted to acme's hook
arrives on acme's stream in well under a second with its decision, while the other tenant's
stream sees only keepalives; a reconnect with Last-Event-ID gets what was missed, in order; and a
closed stream frees its subscriber (visible in /metrics)."""
import http.client
import json
import time

from harness import Aggregator, Workdir, log, wait_for

PASSWORD = "correct horse battery staple"


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


class EventStream:
    """One open GET /v1/events/stream, read frame by frame."""

    def __init__(self, agg, headers, timeout=5):
        self.conn = http.client.HTTPConnection("127.0.0.1", agg.port, timeout=timeout)
        self.conn.request("GET", "/v1/events/stream", headers=headers)
        self.sock = self.conn.sock  # http.client lets go of it once the response is read
        self.resp = self.conn.getresponse()

    def frame(self):
        """The next frame as {field: value} (comments under ':'); raises socket.timeout."""
        fields = {}
        while True:
            line = self.resp.fp.readline()
            if not line:
                raise EOFError("the stream ended")
            line = line.decode().rstrip("\n")
            if line == "":
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value

    def next_event(self, timeout):
        """The next event frame within `timeout` seconds, skipping comments and retry."""
        self.sock.settimeout(timeout)
        while True:
            frame = self.frame()
            if "id" in frame:
                expect(frame.get("event") == "event", f"frame {frame}")
                return frame["id"], json.loads(frame["data"])

    def close(self):
        self.resp.close()
        self.sock.close()
        self.conn.close()


def metric(agg, name):
    status, _, body = agg.request("GET", "/metrics")
    expect(status == 200, f"/metrics: {status}")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"{name} missing from /metrics")


def alertmanager(status, instance):
    return json.dumps({"version": "4", "status": status, "receiver": "faultline", "alerts": [{
        "status": status,
        "labels": {"alertname": "InstanceDown", "instance": instance, "severity": "critical"},
        "annotations": {"summary": f"Instance {instance} down"},
        "startsAt": "2026-11-26T08:24:38.326Z",
        "fingerprint": "fp-" + instance}]})


def post(agg, hook, body):
    status, _, answer = agg.request("POST", hook, body=body,
                                    headers={"Content-Type": "application/json"})
    expect(status == 202, f"webhook: {status} {answer}")


def main():
    with Workdir("event_stream") as work:
        agg = Aggregator(work, extra_config='[events]\nstream_heartbeat = "200ms"\n').start()
        agg.create_tenant("acme")
        agg.create_tenant("other")
        agg.admin("user", "create", "--tenant", "acme", "--email", "viewer@acme.example.com",
                  "--role", "viewer", stdin=(PASSWORD + "\n").encode())
        status, headers, raw = agg.request(
            "POST", "/v1/auth/login",
            body=json.dumps({"email": "viewer@acme.example.com", "password": PASSWORD}),
            headers={"Content-Type": "application/json"})
        expect(status == 200, f"login: {status} {raw}")
        cookie = {k.lower(): v for k, v in headers.items()}["set-cookie"].split(";")[0]
        other_key = agg.admin("api-key", "create", "--tenant", "other", "--role",
                              "viewer").stdout.decode().strip()
        hook = agg.admin("integration", "create", "--tenant", "acme", "--kind",
                         "alertmanager").stdout.decode().strip()

        refused = EventStream(agg, {})
        expect(refused.resp.status == 401, f"no credentials: {refused.resp.status}")
        refused.close()
        acme = EventStream(agg, {"Cookie": cookie})
        other = EventStream(agg, {"Authorization": "Bearer " + other_key})
        for stream in (acme, other):
            expect(stream.resp.status == 200, f"stream: {stream.resp.status}")
            expect(stream.resp.getheader("Content-Type").startswith("text/event-stream"),
                   stream.resp.getheader("Content-Type"))
        expect(acme.frame() == {"retry": "3000"}, "retry hint first")
        wait_for(lambda: metric(agg, "faultline_event_stream_subscribers") == 2, 5,
                 "two subscribers")

        start = time.monotonic()
        post(agg, hook, alertmanager("firing", "db-1"))
        first_id, event = acme.next_event(timeout=1)
        took = time.monotonic() - start
        expect(event["decision"] == "new" and event["status"] == "firing", f"event {event}")
        expect(event["id"] == first_id and first_id.startswith("evt_"), f"id {first_id}")
        log(f"ok: webhook to stream in {took * 1000:.1f} ms, decision {event['decision']}")
        expect(took < 1, f"took {took:.3f}s")

        # The other tenant's stream gets keepalives only.
        other.sock.settimeout(1)
        seen = []
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            seen.append(other.frame())
        expect(all("id" not in frame for frame in seen), f"other tenant saw {seen}")
        expect(any("" in frame for frame in seen), f"no keepalive comment in {seen}")
        log(f"ok: the other tenant's stream saw {len(seen)} frames, none an event")

        # Disconnect frees the subscriber; what it missed comes back with Last-Event-ID.
        acme.close()
        wait_for(lambda: metric(agg, "faultline_event_stream_subscribers") == 1, 5,
                 "the closed stream's subscriber to go")
        expect(metric(agg, "faultline_http_streams_open") == 1, "one stream open")
        post(agg, hook, alertmanager("firing", "db-1"))
        post(agg, hook, alertmanager("resolved", "db-1"))
        again = EventStream(agg, {"Cookie": cookie, "Last-Event-ID": first_id})
        missed = [again.next_event(timeout=2), again.next_event(timeout=2)]
        expect([e["decision"] for _, e in missed] == ["deduplicated", "resolved"],
               f"missed {missed}")
        post(agg, hook, alertmanager("firing", "db-2"))
        _, live = again.next_event(timeout=1)
        expect(live["decision"] == "new" and "db-2" in live["title"], f"live {live}")
        log("ok: reconnect with Last-Event-ID replayed 2 missed events, then live")

        again.close()
        other.close()
        wait_for(lambda: metric(agg, "faultline_event_stream_subscribers") == 0, 5,
                 "every subscriber to go")
        expect(metric(agg, "faultline_http_streams_open") == 0, "no stream open")
        expect(metric(agg, "faultline_event_stream_published_total") == 4, "4 events published")
        agg.stop()
        log("ok: event stream")


if __name__ == "__main__":
    main()
