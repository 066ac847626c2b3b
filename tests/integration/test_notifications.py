"""Outbound incident notifications through the real binary: a real HTTP receiver (Python
http.server on loopback) fails the first two attempts with 503 and then accepts; the webhook is
retried with the same Idempotency-Key and a valid X-Faultline-Signature; a Slack channel gets a
Slack-shaped body; an incident opened by an Alertmanager alert and then acknowledged through the
API makes two deliveries; a delivery still pending when the aggregator stops is delivered after
it restarts (same key). Viewers cannot create channels, secrets and URL paths are never served,
and another tenant sees none of the channels."""
import datetime
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import Aggregator, Workdir, log, wait_for

SECRET = "whsec-0123456789abcdef"


class Receiver:
    """Records every request; answers from a per-path script (then 200)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.script = {}  # path -> list of statuses to answer before 200
        self.always_fail = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    queued = receiver.script.get(self.path, [])
                    if self.path in receiver.always_fail:
                        status = 503
                    elif queued:
                        status = queued.pop(0)
                    else:
                        status = 200
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def got(self, path, status=None):
        with self.lock:
            return [r for r in self.requests
                    if r["path"] == path and (status is None or r["status"] == status)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def am_body(name, service, at):
    alert = {"status": "firing",
             "labels": {"alertname": name, "service": service, "severity": "critical"},
             "annotations": {"summary": f"{name} on {service}"}, "startsAt": iso(at),
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph",
             "fingerprint": ""}
    return json.dumps({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0,
                       "status": "firing", "receiver": "faultline", "groupLabels": {},
                       "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "http://alertmanager:9093", "alerts": [alert]}).encode()


def main():
    receiver = Receiver()
    try:
        run(receiver)
    finally:
        receiver.close()


def run(receiver):
    with Workdir("notifications") as work:
        agg = Aggregator(work).start()
        agg.create_tenant("acme")
        agg.create_tenant("other")
        hook = agg.admin("integration", "create", "--tenant", "acme", "--kind", "alertmanager",
                         "--name", "am").stdout.decode().strip()
        keys = {role: agg.admin("api-key", "create", "--tenant", "acme", "--role",
                                role).stdout.decode().strip()
                for role in ("responder", "viewer", "owner")}
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

        webhook_spec = {"name": "pager", "kind": "webhook",
                        "url": receiver.base + "/hook?token=t0ps3cret", "secret": SECRET,
                        "events": ["opened", "acknowledged", "resolved"]}
        slack_spec = {"name": "chat", "kind": "slack",
                      "url": receiver.base + "/services/T000/B000/XXXX", "events": ["opened"]}
        call("POST", "/v1/notification-channels", keys["viewer"], webhook_spec, expect=403)
        call("POST", "/v1/notification-channels", keys["responder"],
             {**webhook_spec, "url": "ftp://example.com/x"}, expect=400)
        call("POST", "/v1/notification-channels", keys["responder"],
             {**webhook_spec, "url": "https://user:pw@example.com/x"}, expect=400)
        webhook = call("POST", "/v1/notification-channels", keys["responder"], webhook_spec,
                       expect=201)
        slack = call("POST", "/v1/notification-channels", keys["responder"], slack_spec,
                     expect=201)
        assert webhook["signed"] and not slack["signed"], (webhook, slack)
        status, _, listed_raw = agg.request("GET", "/v1/notification-channels",
                                            headers={"Authorization": "Bearer " + keys["viewer"]})
        assert status == 200, listed_raw
        # Neither the secret nor the URL's path and query are ever served.
        for hidden in (SECRET.encode(), b"t0ps3cret", b"XXXX", b"/hook"):
            assert hidden not in listed_raw, (hidden, listed_raw)
        listed = json.loads(listed_raw)["channels"]
        assert [c["id"] for c in listed] == [webhook["id"], slack["id"]], listed
        assert listed[0]["url"] == receiver.base + "/...", listed[0]
        # Another tenant sees none of them and cannot touch them.
        assert call("GET", "/v1/notification-channels", outsider)["channels"] == []
        call("DELETE", f"/v1/notification-channels/{webhook['id']}", outsider, expect=404)
        call("POST", f"/v1/notification-channels/{webhook['id']}/test", outsider, expect=404)
        call("GET", f"/v1/notification-channels/{webhook['id']}/deliveries", outsider,
             expect=404)

        # An alert opens an incident: the webhook fails twice (503) and then gets through.
        receiver.script["/hook?token=t0ps3cret"] = [503, 503]
        at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        status, _, data = agg.request("POST", hook, body=am_body("Errors", "checkout", at),
                                      headers={"Content-Type": "application/json"})
        assert status == 202, data
        wait_for(lambda: receiver.got("/hook?token=t0ps3cret", 200), 20, "webhook delivered")
        attempts = receiver.got("/hook?token=t0ps3cret")
        assert [a["status"] for a in attempts] == [503, 503, 200], attempts
        keys_sent = {a["headers"]["Idempotency-Key"] for a in attempts}
        assert len(keys_sent) == 1, keys_sent
        opened_key = keys_sent.pop()
        for a in attempts:
            expected = "sha256=" + hmac.new(SECRET.encode(), a["body"], hashlib.sha256).hexdigest()
            assert a["headers"]["X-Faultline-Signature"] == expected, a["headers"]
            assert a["body"] == attempts[0]["body"]
        doc = json.loads(attempts[0]["body"])
        log(f"webhook body: {doc}")
        assert doc["version"] == 1 and doc["type"] == "incident.opened", doc
        assert doc["id"] == opened_key, doc
        incident_id = doc["incident"]["id"]
        assert doc["incident"]["path"] == f"/v1/incidents/{incident_id}", doc
        assert doc["incident"]["services"] == ["checkout"], doc

        wait_for(lambda: receiver.got("/services/T000/B000/XXXX", 200), 20, "slack delivered")
        slack_doc = json.loads(receiver.got("/services/T000/B000/XXXX")[0]["body"])
        assert isinstance(slack_doc["text"], str) and "Errors" in slack_doc["text"], slack_doc
        assert [b["type"] for b in slack_doc["blocks"]] == ["header", "section", "context"], \
            slack_doc
        field_text = "\n".join(f["text"] for f in slack_doc["blocks"][1]["fields"])
        for label in ("*Status*", "*Severity*\ncritical", "*Services*\ncheckout", "*Top cause*"):
            assert label in field_text, (label, field_text)
        assert "X-Faultline-Signature" not in receiver.got("/services/T000/B000/XXXX")[0][
            "headers"]

        # Acknowledged through the API: a second delivery with its own key.
        call("POST", f"/v1/incidents/{incident_id}/acknowledge", keys["responder"])
        wait_for(lambda: len(receiver.got("/hook?token=t0ps3cret", 200)) == 2, 20,
                 "acknowledged delivered")
        acked = receiver.got("/hook?token=t0ps3cret", 200)[1]
        assert json.loads(acked["body"])["type"] == "incident.acknowledged", acked
        assert acked["headers"]["Idempotency-Key"] != opened_key
        # The receiver sees the request before the aggregator records its answer, so wait for
        # the recorded state rather than reading it once.
        def deliveries_by_change():
            rows = call("GET", f"/v1/notification-channels/{webhook['id']}/deliveries",
                        keys["viewer"])["deliveries"]
            return rows, {d["change"]: d for d in rows}
        wait_for(lambda: deliveries_by_change()[1].get("acknowledged", {}).get("state")
                 == "delivered", 20, "acknowledged recorded as delivered")
        deliveries, _ = deliveries_by_change()
        log(f"deliveries: {deliveries}")
        by_change = {d["change"]: d for d in deliveries}
        assert by_change["opened"]["state"] == "delivered", deliveries
        assert by_change["opened"]["attempts"] == 3, deliveries
        assert by_change["opened"]["idempotency_key"] == opened_key, deliveries
        assert by_change["acknowledged"]["state"] == "delivered", deliveries
        # The slack channel is not subscribed to acknowledged.
        assert len(receiver.got("/services/T000/B000/XXXX")) == 1

        # A pending delivery survives a restart: the receiver refuses until the aggregator is
        # down, then accepts; the restarted aggregator delivers it with the same key.
        receiver.always_fail.add("/hook?token=t0ps3cret")
        call("POST", f"/v1/incidents/{incident_id}/resolve", keys["responder"])

        def resolved_rows():
            rows = call("GET", f"/v1/notification-channels/{webhook['id']}/deliveries",
                        keys["viewer"])["deliveries"]
            return [d for d in rows if d["change"] == "resolved"]
        wait_for(lambda: resolved_rows() and resolved_rows()[0]["attempts"] >= 1, 20,
                 "a failed attempt at the resolved delivery")
        pending = resolved_rows()[0]
        assert pending["state"] == "pending" and pending["last_status"] == 503, pending
        agg.stop()
        receiver.always_fail.discard("/hook?token=t0ps3cret")
        agg.start()
        wait_for(lambda: len(receiver.got("/hook?token=t0ps3cret", 200)) == 3, 30,
                 "the pending delivery after the restart")
        resent = receiver.got("/hook?token=t0ps3cret", 200)[2]
        assert json.loads(resent["body"])["type"] == "incident.resolved", resent
        assert resent["headers"]["Idempotency-Key"] == pending["idempotency_key"], resent
        wait_for(lambda: resolved_rows()[0]["state"] == "delivered", 10, "resolved delivered")

        # The test endpoint, metrics, audit, delete.
        call("POST", f"/v1/notification-channels/{slack['id']}/test", keys["viewer"],
             expect=403)
        sent = call("POST", f"/v1/notification-channels/{slack['id']}/test", keys["responder"])
        assert sent["delivered"] and sent["status"] == 200, sent
        status, _, metrics = agg.request("GET", "/metrics")
        assert status == 200
        assert b"faultline_notifications_delivered_total 1" in metrics, metrics  # after restart
        assert b"faultline_notifications_retried_total" in metrics
        assert b"faultline_notifications_failed_total 0" in metrics
        call("DELETE", f"/v1/notification-channels/{slack['id']}", keys["viewer"], expect=403)
        call("DELETE", f"/v1/notification-channels/{slack['id']}", keys["responder"])
        call("DELETE", f"/v1/notification-channels/{slack['id']}", keys["responder"], expect=404)
        assert [c["id"] for c in call("GET", "/v1/notification-channels",
                                      keys["viewer"])["channels"]] == [webhook["id"]]
        entries = call("GET", "/v1/audit?limit=100", keys["owner"])["entries"]
        actions = [e["action"] for e in entries]
        for action in ("notification_channel.create", "notification_channel.test",
                       "notification_channel.delete"):
            assert action in actions, (action, actions)
        assert SECRET not in json.dumps(entries) and "t0ps3cret" not in json.dumps(entries)
        log("notifications: ok")


if __name__ == "__main__":
    main()
