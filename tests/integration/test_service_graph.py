"""The service graph through the real binary over loopback: a JSON import, a TOML import that
replaces it, a PUT and a DELETE, call edges learned from OTLP/JSON spans whose parents arrive in
another request, and every version read back exactly as it was. Declarations are audited,
viewers read but cannot change, another tenant sees none of it."""
import json
import os

from harness import Aggregator, Workdir, log, wait_for


def main():
    with Workdir("service_graph") as work:
        agg = Aggregator(work).start()
        agg.create_tenant("acme")
        agg.create_tenant("other")

        def key(tenant, role):
            return agg.admin("api-key", "create", "--tenant", tenant, "--role",
                             role).stdout.decode().strip()

        responder, viewer, owner = key("acme", "responder"), key("acme", "viewer"), key(
            "acme", "owner")
        outsider = key("other", "owner")

        def call(method, path, who, body=None, expect=200, content_type="application/json"):
            headers = {"Authorization": f"Bearer {who}"}
            if body is not None:
                headers["Content-Type"] = content_type
                body = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            status, _, data = agg.request(method, path, body=body, headers=headers)
            assert status == expect, (method, path, status, data)
            return json.loads(data) if data else None

        def edges(graph):
            return sorted((e["from"], e["to"], e["origin"], e["weight"]) for e in graph["edges"])

        # v1: a JSON import.
        imported = call("POST", "/v1/service-graph/import", responder, {"services": [
            {"name": "web", "owner": "team-web", "environment": "prod", "tier": "frontend",
             "labels": {"lang": "ts"}, "depends_on": ["api", "auth"]},
            {"name": "api", "owner": "team-api", "depends_on": ["db"]},
            {"name": "auth", "depends_on": ["db"]},
            {"name": "db", "owner": "dba"}]})
        assert imported == {"mode": "merge", "services": 4, "version": 1, "changed": True}, imported
        # The same file again changes nothing: no version.
        again = call("POST", "/v1/service-graph/import", responder, {"services": [
            {"name": "db", "owner": "dba"}]})
        assert again["version"] == 1 and again["changed"] is False, again

        # Bad files: 400 with the offending path; nothing changes.
        bad = call("POST", "/v1/service-graph/import", responder,
                   {"services": [{"name": "x", "depends_on": [1]}]}, expect=400)
        assert "services[0].depends_on[0]" in bad["error"]["message"], bad
        bad = call("POST", "/v1/service-graph/import", responder,
                   "[[services]]\nname = \"x\"\ncolour = \"red\"\n", expect=400,
                   content_type="application/toml")
        assert "services[0].colour" in bad["error"]["message"], bad
        call("POST", "/v1/service-graph/import?mode=overwrite", responder, {"services": []},
             expect=400)
        call("POST", "/v1/service-graph/import", responder, "x", expect=415,
             content_type="image/png")

        # v2: spans. A trace whose child spans arrive before and after their parents, across
        # two requests; one OTLP/JSON, one compact.
        otlp = {"resourceSpans": [
            {"resource": {"attributes": [{"key": "service.name",
                                          "value": {"stringValue": "api"}}]},
             "scopeSpans": [{"spans": [
                 {"traceId": "t1", "spanId": "s2", "parentSpanId": "s1"},
                 {"traceId": "t1", "spanId": "s3", "parentSpanId": "s2"}]}]},
            {"resource": {"attributes": [{"key": "service.name",
                                          "value": {"stringValue": "cache"}}]},
             "scopeSpans": [{"spans": [{"traceId": "t1", "spanId": "s4",
                                        "parentSpanId": "s3"}]}]}]}
        first = call("POST", "/v1/service-graph/spans", responder, otlp)
        assert first["calls"] == 1 and first["version"] == 2, first  # api -> cache
        second = call("POST", "/v1/service-graph/spans", responder, {"spans": [
            {"trace_id": "t1", "span_id": "s1", "service": "web"},
            {"trace_id": "t1", "span_id": "s5", "parent_span_id": "s1", "service": "api"}]})
        assert second["calls"] == 2 and second["version"] == 3, second  # web -> api twice

        # v4: a TOML import in replace mode: auth goes (with its edge), learned edges stay.
        toml = ('[[services]]\nname = "web"\nowner = "team-web"\ndepends_on = ["api"]\n\n'
                '[[services]]\nname = "api"\ndepends_on = ["db"]\n\n'
                '[[services]]\nname = "db"\n')
        replaced = call("POST", "/v1/service-graph/import?mode=replace", responder, toml,
                        content_type="text/plain")
        assert replaced["version"] == 4 and replaced["changed"], replaced

        # v5: PUT adds a service; v6: DELETE removes one.
        put = call("PUT", "/v1/services/queue", owner, {"owner": "team-q", "depends_on": ["db"]})
        assert put["version"] == 5 and put["service"]["depends_on"] == ["db"], put
        call("PUT", "/v1/services/queue", viewer, {"owner": "nope"}, expect=403)
        deleted = call("DELETE", "/v1/services/queue", responder)
        assert deleted == {"name": "queue", "deleted": True, "version": 6}, deleted
        call("DELETE", "/v1/services/queue", responder, expect=404)

        # Every version reads back as it was.
        v1 = call("GET", "/v1/service-graph?version=1", viewer)
        assert sorted(s["name"] for s in v1["services"]) == ["api", "auth", "db", "web"], v1
        assert edges(v1) == [("api", "db", "declared", 0), ("auth", "db", "declared", 0),
                             ("web", "api", "declared", 0), ("web", "auth", "declared", 0)], v1
        web = [s for s in v1["services"] if s["name"] == "web"][0]
        assert web["labels"] == {"lang": "ts"} and web["tier"] == "frontend", web
        v3 = call("GET", "/v1/service-graph?version=3", viewer)
        assert ("api", "cache", "spans", 1) in edges(v3) and ("web", "api", "spans", 2) in edges(
            v3), v3
        v5 = call("GET", "/v1/service-graph?version=5", viewer)
        assert "queue" in [s["name"] for s in v5["services"]], v5
        now = call("GET", "/v1/service-graph", viewer)
        assert now["version"] == 6, now
        assert sorted(s["name"] for s in now["services"]) == ["api", "db", "web"], now
        assert edges(now) == [("api", "cache", "spans", 1), ("api", "db", "declared", 0),
                              ("web", "api", "declared", 0), ("web", "api", "spans", 2)], now
        services = call("GET", "/v1/services", viewer)
        assert services["version"] == 6 and [s["name"] for s in services["services"]] == [
            "api", "db", "web"], services
        call("GET", "/v1/service-graph?version=7", viewer, expect=404)
        call("GET", "/v1/service-graph?version=x", viewer, expect=400)

        versions = call("GET", "/v1/service-graph/versions?limit=4", viewer)
        assert [v["version"] for v in versions["versions"]] == [6, 5, 4, 3], versions
        assert versions["versions"][0]["cause"].startswith("DELETE /v1/services/queue"), versions
        rest = call("GET", "/v1/service-graph/versions?limit=4&cursor=" +
                    versions["next_cursor"], viewer)
        assert [v["version"] for v in rest["versions"]] == [2, 1], rest
        assert rest["next_cursor"] is None, rest

        # Declarations are audited; span learning is not, one by one.
        entries = call("GET", "/v1/audit?limit=200", owner)["entries"]
        actions = [e["action"] for e in entries]
        assert actions.count("service_graph.import") == 2, actions
        assert "service.put" in actions and "service.delete" in actions, actions

        # Another tenant sees none of it and cannot change it.
        assert call("GET", "/v1/service-graph", outsider) == {
            "version": 0, "created_at": None, "services": [], "edges": []}
        call("GET", "/v1/service-graph?version=1", outsider, expect=404)
        call("DELETE", "/v1/services/web", outsider, expect=404)
        assert call("GET", "/v1/service-graph", viewer)["version"] == 6
        # The operator's import: the same file format from the command line, one more version.
        path = os.path.join(work, "graph.toml")
        with open(path, "w") as f:
            f.write('[[services]]\nname = "batch"\ndepends_on = ["db"]\n')
        out = agg.admin("graph", "import", "--tenant", "acme", path).stdout.decode()
        assert out.strip() == "version 7", out
        out = agg.admin("graph", "import", "--tenant", "acme", path).stdout.decode()
        assert out.strip() == "version 7 (unchanged)", out
        bad = agg.admin("graph", "import", "--tenant", "acme", "--mode", "replace", path + ".x",
                        check=False)
        assert bad.returncode != 0, bad
        latest = call("GET", "/v1/service-graph/versions?limit=1", viewer)["versions"][0]
        assert latest["version"] == 7 and latest["cause"].endswith("by admin-cli"), latest
        # Made behind the server's back: its cached graph catches up within the cache TTL (5 s).
        wait_for(lambda: ("batch", "db", "declared", 0) in edges(
            call("GET", "/v1/service-graph", viewer)), 15, "the server to see version 7")
        log("ok: import (JSON, TOML), spans across requests, versions, audit, tenant walls, "
            "admin graph import")


if __name__ == "__main__":
    main()
