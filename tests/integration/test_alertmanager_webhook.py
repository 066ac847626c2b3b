"""A real sender: Debian's prometheus-alertmanager with a webhook receiver pointing at the
aggregator's hook URL. Alerts posted to Alertmanager's API v2 arrive as firing events, repeats
fold into one alert, and an alert ended in the past arrives resolved and pairs up.

Before that (and also without Alertmanager) the operator's `admin integration create/list/
revoke` run against the real binary. Skips the Alertmanager part when the binary is missing,
except in CI (CI=true), where that is a failure."""
import datetime
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from harness import Aggregator, Workdir, _track, log, wait_for

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat().replace(
        "+00:00", "Z")


def post_alerts(am_url, alerts):
    request = urllib.request.Request(am_url + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


def check_cli_revoke(agg):
    """`admin integration create/list/revoke` as an operator runs them: the key works until
    revoked, then the hook answers 404; revoking an unknown id fails."""
    path = agg.admin("integration", "create", "--tenant", "acme", "--kind", "pagerduty",
                     "--name", "pd").stdout.decode().strip()
    body = json.dumps({"routing_key": "x", "event_action": "trigger", "dedup_key": "cli",
                       "payload": {"summary": "s", "source": "h", "severity": "info"}})
    status, _, answer = agg.request("POST", path + "/v2/enqueue", body=body,
                                    headers={"Content-Type": "application/json"})
    assert status == 202 and json.loads(answer)["dedup_key"] == "cli", (status, answer)
    listed = agg.admin("integration", "list", "--tenant", "acme").stdout.decode()
    integration_id = next(line.split("\t")[0] for line in listed.splitlines()
                          if "\tpagerduty\t" in line)
    agg.admin("integration", "revoke", "--tenant", "acme", integration_id)
    # The CLI writes the store behind the server's back, like another node: the server's cached
    # key lookup stands for at most auth.credential_cache_ttl (1s in this test's config).
    revoked_at = time.time()

    def refused():
        status, _, _ = agg.request("POST", path + "/v2/enqueue", body=body,
                                   headers={"Content-Type": "application/json"})
        assert status in (202, 404), status
        return status == 404

    wait_for(refused, 5, "the revoked key to be refused")
    assert time.time() - revoked_at < 3, "a revocation took longer than the cache TTL to apply"
    assert agg.admin("integration", "revoke", "--tenant", "acme", "int_nope",
                     check=False).returncode != 0
    bad = agg.admin("integration", "create", "--tenant", "acme", "--kind", "generic", check=False)
    assert bad.returncode == 2 and b"mapping" in bad.stderr, bad.stderr
    log("ok: integration create, list and revoke from the CLI")


def main():
    with Workdir("alertmanager_webhook") as work:
        agg = Aggregator(work, extra_config='[auth]\ncredential_cache_ttl = "1s"\n').start()
        agg.create_tenant("acme")
        check_cli_revoke(agg)
        if not os.path.isfile(ALERTMANAGER):
            if os.environ.get("CI", "") not in ("", "0", "false"):
                sys.exit(f"{ALERTMANAGER} is missing but CI is set: installers/deps.sh installs it")
            print(f"skipped: prometheus-alertmanager is not installed ({ALERTMANAGER})")
            return
        hook_path = agg.admin("integration", "create", "--tenant", "acme", "--kind",
                              "alertmanager", "--name", "am").stdout.decode().strip()
        assert hook_path.startswith("/v1/hooks/flh_"), hook_path
        listed = agg.admin("integration", "list", "--tenant", "acme").stdout.decode()
        assert "alertmanager" in listed and hook_path.rsplit("/", 1)[1] not in listed, listed
        viewer_key = agg.admin("api-key", "create", "--tenant", "acme", "--role",
                               "viewer").stdout.decode().strip()

        am_port = free_port()
        am_url = f"http://127.0.0.1:{am_port}"
        config = os.path.join(work, "alertmanager.yml")
        with open(config, "w") as f:
            f.write(f"""
route:
  receiver: faultline
  group_by: ['alertname', 'instance']
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: faultline
    webhook_configs:
      - url: '{agg.url}{hook_path}'
        send_resolved: true
""")
        am_log = open(os.path.join(work, "alertmanager.log"), "ab")
        _track(subprocess.Popen(
            [ALERTMANAGER, f"--config.file={config}",
             f"--storage.path={os.path.join(work, 'am-data')}",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
             "--log.level=debug"], stdout=am_log, stderr=am_log))

        def ready():
            try:
                with urllib.request.urlopen(am_url + "/-/ready", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, 60, "alertmanager ready")

        def events():
            status, _, body = agg.request("GET", "/v1/events?limit=500&source=alertmanager",
                                          headers={"Authorization": f"Bearer {viewer_key}"})
            assert status == 200, body
            return list(reversed(json.loads(body)["events"]))  # oldest first

        def stats():
            status, _, body = agg.request("GET", "/v1/events/stats",
                                          headers={"Authorization": f"Bearer {viewer_key}"})
            assert status == 200, body
            return json.loads(body)

        now = time.time()
        alert = {"labels": {"alertname": "DiskFull", "instance": "db-1:9100",
                            "severity": "critical", "service": "db"},
                 "annotations": {"summary": "Disk full on db-1"},
                 "startsAt": iso(now), "endsAt": iso(now + 600)}
        post_alerts(am_url, [alert])
        # The first notification, then Alertmanager's repeats of the same alert.
        firing = wait_for(lambda: [e for e in events() if e["status"] == "firing"]
                          if len([e for e in events() if e["status"] == "firing"]) >= 2 else None,
                          60, "a firing event and a repeat from alertmanager", interval=0.3)
        log(f"firing events: {[(e['decision'], e['reason']) for e in firing]}")
        assert firing[0]["decision"] == "new", firing[0]
        assert all(e["decision"] == "deduplicated" for e in firing[1:]), firing
        assert len({e["fingerprint"] for e in firing}) == 1, firing
        assert firing[0]["service"] == "db" and firing[0]["host"] == "db-1:9100", firing[0]
        assert firing[0]["title"] == "Disk full on db-1", firing[0]
        figures = stats()
        assert figures["alerts"] == 2 and figures["open_alerts"] == 2, figures  # and the CLI's

        # Ended in the past: Alertmanager sends it resolved at the next group interval.
        alert["endsAt"] = iso(time.time() - 1)
        post_alerts(am_url, [alert])
        resolved = wait_for(lambda: [e for e in events() if e["status"] == "resolved"], 60,
                            "the resolved event from alertmanager", interval=0.3)
        log(f"resolved: {resolved[0]['decision']}: {resolved[0]['reason']}")
        assert resolved[0]["decision"] == "resolved", resolved[0]
        assert resolved[0]["fingerprint"] == firing[0]["fingerprint"], resolved[0]
        figures = stats()
        log(f"stats: {figures}")
        assert figures["alerts"] == 2 and figures["open_alerts"] == 1, figures
        assert figures["events"] >= 4 and figures["compression_ratio"] >= 2, figures
        log("ok: alertmanager firing, dedup and resolve pairing")


if __name__ == "__main__":
    main()
