"""The audit log end to end on the real binary: what serve and admin record, `admin audit
verify` (intact, then edited and truncated with raw SQL), export, GET /v1/audit for an admin
API key (403 for a viewer), /readyz, /metrics, and JSON logs."""
import json
import os
import re
import sqlite3
import subprocess

from harness import Aggregator, Workdir, binary, log


def main():
    with Workdir("audit") as work:
        agg = Aggregator(work, extra_config='[log]\nformat = "json"\n').start()
        tenant_id = agg.create_tenant("acme")
        token = agg.create_token("acme")
        status, _, body = agg.request(
            "POST", "/v1/agents/enroll",
            json.dumps({"token": token, "hostname": "web-1", "version": "0.1"}),
            {"Content-Type": "application/json"})
        assert status == 201, body
        agent_id = json.loads(body)["agent_id"]
        status, _, _ = agg.request("POST", "/v1/ingest", b"x",
                                   {"Authorization": "Bearer fas_wrong"})
        assert status == 401
        log("ok  tenant, token, enrollment and a refused secret")

        # /v1/audit: 401 without credentials, 403 for a viewer, the tenant's chain for an admin.
        admin_key = agg.admin("api-key", "create", "--tenant", "acme", "--role", "admin",
                              "--name", "auditor").stdout.decode().strip()
        viewer_key = agg.admin("api-key", "create", "--tenant", "acme", "--role", "viewer",
                               "--name", "viewer").stdout.decode().strip()
        status, _, _ = agg.request("GET", "/v1/audit")
        assert status == 401
        status, _, _ = agg.request("GET", "/v1/audit",
                                   headers={"Authorization": "Bearer " + viewer_key})
        assert status == 403
        status, headers, body = agg.request("GET", "/v1/audit",
                                            headers={"Authorization": "Bearer " + admin_key})
        assert status == 200, body
        entries = json.loads(body)["entries"]
        actions = [e["action"] for e in entries]
        assert actions[:4] == ["enrollment_token.create", "agent.enroll", "api_key.create",
                               "api_key.create"], entries
        assert "auth.denied" in actions, actions  # the viewer's refused request
        assert entries[1]["actor"] == "agent:" + agent_id and entries[1]["tenant_id"] == tenant_id
        status, headers, body = agg.request("GET", "/v1/audit?format=jsonl",
                                            headers={"Authorization": "Bearer " + admin_key})
        assert status == 200 and headers["Content-Type"] == "application/x-ndjson", headers
        assert len(body.decode().splitlines()) == len(entries)
        res = agg.admin("audit", "export", "--system")
        system = [json.loads(line)["action"] for line in res.stdout.decode().splitlines()]
        assert system[0] == "tenant.create" and "agent.auth_failed" in system, system
        log("ok  GET /v1/audit")

        status, _, body = agg.request("GET", "/readyz")
        assert status == 200 and json.loads(body) == {"status": "ready"}, body
        status, headers, body = agg.request("GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = body.decode()
        assert re.search(r'^faultline_http_requests_total\{route="/readyz",method="GET",'
                         r'status="2xx"\} 1$', text, re.M), text
        assert re.search(r'^faultline_auth_failures_total\{kind="agent"\} 1$', text, re.M), text
        log("ok  /readyz and /metrics")

        res = agg.admin("audit", "verify", "--tenant", "acme", check=False)
        assert res.returncode == 0, res
        out = res.stdout.decode()
        n = len(entries)
        assert re.fullmatch(rf"audit chain intact: {n} entries, head [0-9a-f]{{64}}\n", out), out
        res = agg.admin("audit", "verify", "--system", check=False)
        assert res.returncode == 0 and b"intact" in res.stdout, res
        assert agg.admin("audit", "verify", "--tenant", "nope", check=False).returncode == 3
        assert agg.admin("audit", "verify", check=False).returncode == 2
        res = agg.admin("audit", "export", "--tenant", "acme", "--format", "csv")
        lines = res.stdout.decode().splitlines()
        assert lines[0].startswith("seq,at,at_ns,") and len(lines) == n + 1, lines
        res = agg.admin("audit", "export", "--tenant", "acme", "--since", "2000-01-01")
        seqs = [json.loads(line)["seq"] for line in res.stdout.decode().splitlines()]
        assert seqs == list(range(1, n + 1)), seqs
        log("ok  admin audit verify and export")

        agg.stop()
        with open(agg.log_path, "rb") as f:
            log_lines = f.read().decode().splitlines()
        assert log_lines, "no log lines"
        for line in log_lines:
            record = json.loads(line)
            assert {"ts", "level", "component", "msg", "fields"} <= record.keys(), record
        log(f"ok  {len(log_lines)} JSON log lines parse")

        # Tampering with the database directly is found by verify, at the right seq.
        db_path = os.path.join(agg.data_dir, "faultline.db")
        db = sqlite3.connect(db_path)
        try:
            db.execute("UPDATE audit_log SET outcome = 'failure' WHERE seq = 1")
            raise AssertionError("the append-only trigger let an UPDATE through")
        except sqlite3.DatabaseError as e:
            assert "append-only" in str(e), e
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("DROP TRIGGER audit_log_no_delete")
        db.execute("UPDATE audit_log SET outcome = 'failure' WHERE tenant_id = ? AND seq = ?",
                   (tenant_id, n))
        db.commit()
        res = agg.admin("audit", "verify", "--tenant", "acme", check=False)
        assert res.returncode == 1, res
        assert res.stdout.decode().startswith(f"audit chain broken at seq {n}: hash mismatch"), res
        db.execute("DELETE FROM audit_log WHERE tenant_id = ? AND seq = ?", (tenant_id, n))
        db.commit()
        db.close()
        res = agg.admin("audit", "verify", "--tenant", "acme", check=False)
        assert res.returncode == 1, res
        assert res.stdout.decode().startswith(f"audit chain broken at seq {n}:") and \
            b"truncated" in res.stdout, res
        log("ok  edited and truncated chains are reported")

        # metrics.enabled = false leaves /metrics out.
        with open(agg.config, "a") as f:
            f.write("[metrics]\nenabled = false\n")
        agg.start()
        status, _, _ = agg.request("GET", "/metrics")
        assert status == 404, status
        agg.stop()
        log("ok  metrics.enabled = false")


if __name__ == "__main__":
    main()
