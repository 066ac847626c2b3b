"""Retrieval through the real binary over loopback (issue 8): resolved incidents join the
tenant's knowledge index, GET /v1/incidents/{id}/similar ranks the earlier incident of the same
service first and never lists the incident itself, runbooks (POST/GET/DELETE /v1/runbooks,
Markdown cut at headings, size limit, responders only) are found by POST /v1/search with their
matching passage, a comment on a resolved incident re-indexes it, its postmortem (PUT/GET
/v1/incidents/{id}/postmortem) is indexed with it, and another tenant never sees
or changes any of it (its own documents with the same words stay its own). Runbooks synced from
a folder (ai.runbook_folders, and `admin runbooks sync` once) are found, follow the file's edits
and removal, and cannot be written through the API. On SQLite, and on
PostgreSQL too when FAULTLINE_TEST_PG_URL is set."""
import datetime
import json
import os
import secrets

from harness import Aggregator, Workdir, log, wait_for
from test_incidents import am_body


def alert(name, service, at):
    return ({"alertname": name, "service": service, "severity": "critical"}, "firing", at, None)


def run(store_url):
    with Workdir("retrieval") as work:
        folder = os.path.join(work, "runbooks")
        os.makedirs(os.path.join(folder, "db"))
        with open(os.path.join(folder, "db", "Disk Full.md"), "w") as f:
            f.write("---\nservices: [db]\n---\n# Disk full\n## Prune\nprune the numbat snapshots\n")
        config = (f'[ai]\nrunbook_folders = ["acme: {folder}"]\n'
                  f'runbook_sync_interval = "1s"\n')
        agg = Aggregator(work, extra_config=config, store_url=store_url).start()
        agg.create_tenant("acme")
        agg.create_tenant("other")
        hook = agg.admin("integration", "create", "--tenant", "acme", "--kind", "alertmanager",
                         "--name", "am").stdout.decode().strip()
        responder = agg.admin("api-key", "create", "--tenant", "acme", "--role",
                              "responder").stdout.decode().strip()
        viewer = agg.admin("api-key", "create", "--tenant", "acme", "--role",
                           "viewer").stdout.decode().strip()
        outsider = agg.admin("api-key", "create", "--tenant", "other", "--role",
                             "owner").stdout.decode().strip()

        def call(method, path, key, body=None, expect=200, raw=None):
            return agg.call(method, path, key, body, expect, raw)

        def post(alerts):
            status, _, data = agg.request("POST", hook, body=am_body(alerts),
                                          headers={"Content-Type": "application/json"})
            assert status == 202, (status, data)

        def incidents():
            return call("GET", "/v1/incidents?limit=100", viewer)["incidents"]

        def incident_of(service, count):
            wait_for(lambda: len([i for i in incidents() if service in i["services"]]) >= count,
                     10, f"{count} incidents of {service}")
            return [i for i in incidents() if service in i["services"]]  # newest first

        t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - \
            datetime.timedelta(hours=6)
        hour = datetime.timedelta(hours=1)
        # Earlier: payments declines cards (resolved with a note), the database fills its disk.
        post([alert("CardDeclines", "payments", t0)])
        first = incident_of("payments", 1)[0]
        post([alert("DiskFull", "db", t0 + hour)])
        disk = incident_of("db", 1)[0]
        call("POST", f"/v1/incidents/{first['id']}/comments", responder,
             {"text": "rolled back the payments gateway deploy"}, expect=201)
        call("POST", f"/v1/incidents/{first['id']}/resolve", responder)
        call("POST", f"/v1/incidents/{disk['id']}/resolve", responder)
        # Now: payments again.
        post([alert("CardDeclines", "payments", t0 + 3 * hour)])
        now = incident_of("payments", 2)[0]
        assert now["id"] != first["id"], now

        similar = call("GET", f"/v1/incidents/{now['id']}/similar", viewer)
        log(json.dumps(similar)[:600])
        hit_ids = [h["id"] for h in similar["hits"]]
        assert hit_ids and hit_ids[0] == first["id"], similar
        assert now["id"] not in hit_ids, similar
        top = similar["hits"][0]
        assert top["kind"] == "incident" and top["score"] > 0 and "payments" in top["services"], top
        assert top["passages"] and "[" in top["passages"][0]["snippet"], top
        # An indexed incident's own similar list never holds itself either.
        own = call("GET", f"/v1/incidents/{first['id']}/similar?limit=50", viewer)
        assert first["id"] not in [h["id"] for h in own["hits"]], own
        call("GET", "/v1/incidents/inc_nosuch/similar", viewer, expect=404)
        call("GET", f"/v1/incidents/{now['id']}/similar?kinds=secrets", viewer, expect=400)

        # The resolution note is searchable; a later comment re-indexes the resolved incident.
        found = call("POST", "/v1/search", viewer, {"query": "gateway rollback", "limit": 5})
        assert [h["id"] for h in found["hits"]] == [first["id"]], found
        call("POST", f"/v1/incidents/{disk['id']}/comments", responder,
             {"text": "grew the volume and pruned zanzibar snapshots"}, expect=201)
        found = call("POST", "/v1/search", viewer, {"query": "zanzibar"})
        assert [h["id"] for h in found["hits"]] == [disk["id"]], found

        # A postmortem (Markdown, responders write, viewers read) joins the incident's document
        # with its sections; replacing it replaces them; another tenant cannot read or write it.
        pm_path = f"/v1/incidents/{disk['id']}/postmortem"
        empty = call("GET", pm_path, viewer)
        assert empty["markdown"] == "" and empty["updated_at"] is None, empty
        call("GET", "/v1/incidents/inc_nosuch/postmortem", viewer, expect=404)
        postmortem = ("# Timeline\nThe quokka volume filled at 03:10.\n\n"
                      "## Contributing factors\nNo alert on inode use.\n")
        call("PUT", pm_path, viewer, {"markdown": postmortem}, expect=403)
        call("PUT", pm_path, outsider, {"markdown": "x"}, expect=404)
        call("PUT", pm_path, responder, {"markdown": 7}, expect=400)
        call("PUT", pm_path, responder, {"markdown": "x" * (128 * 1024 + 1)}, expect=400)
        call("PUT", "/v1/incidents/inc_nosuch/postmortem", responder, {"markdown": "x"},
             expect=404)
        saved = call("PUT", pm_path, responder, {"markdown": postmortem})
        assert saved["markdown"] == postmortem and saved["updated_by"], saved
        assert call("GET", pm_path, viewer)["markdown"] == postmortem
        call("GET", pm_path, outsider, expect=404)
        found = call("POST", "/v1/search", viewer, {"query": "quokka inode"})
        assert [h["id"] for h in found["hits"]] == [disk["id"]], found
        headings = [p["heading"] for p in found["hits"][0]["passages"]]
        assert any(h.startswith("Postmortem:") for h in headings), found
        assert call("POST", "/v1/search", outsider, {"query": "quokka"})["hits"] == []
        call("PUT", pm_path, responder, {"markdown": "# Timeline\nwombat burrow\n"})
        assert call("POST", "/v1/search", viewer, {"query": "quokka"})["hits"] == []
        found = call("POST", "/v1/search", viewer, {"query": "wombat"})
        assert [h["id"] for h in found["hits"]] == [disk["id"]], found
        timeline = call("GET", f"/v1/incidents/{disk['id']}", viewer)["timeline"]
        assert [t["kind"] for t in timeline].count("postmortem") == 2, timeline

        # Runbooks: responders write, viewers read; Markdown cut at headings.
        markdown = ("# Payments card declines\nCheck the gateway.\n\n"
                    "## Roll back\nRun `deploy rollback payments-gateway` and watch the "
                    "decline rate.\n\n## Escalate\nPage the payments team.\n")
        call("POST", "/v1/runbooks", viewer, {"title": "x", "markdown": "x"}, expect=403)
        made = call("POST", "/v1/runbooks", responder,
                    {"title": "Card declines", "markdown": markdown, "services": ["payments"]},
                    expect=201)
        rid = made["id"]
        call("POST", "/v1/runbooks", responder,
             {"id": "db-disk", "title": "Disk full", "markdown": "# Disk\nprune snapshots\n"})
        shown = call("GET", f"/v1/runbooks/{rid}", viewer)
        assert shown["markdown"] == markdown, shown
        assert [p["heading"] for p in shown["passages"]] == \
            ["Payments card declines", "Roll back", "Escalate"], shown
        listed = call("GET", "/v1/runbooks", viewer)["runbooks"]
        assert sorted(r["id"] for r in listed if not r["id"].startswith("folder-")) == \
            sorted([rid, "db-disk"]), listed
        found = call("POST", "/v1/search", viewer,
                     {"query": "how do I roll back payments-gateway?", "kinds": ["runbook"]})
        assert found["hits"][0]["id"] == rid, found
        assert found["hits"][0]["passages"][0]["heading"] == "Roll back", found
        both = call("POST", "/v1/search", viewer, {"query": "payments gateway rollback"})
        assert {h["kind"] for h in both["hits"]} == {"incident", "runbook"}, both
        with_runbooks = call("GET", f"/v1/incidents/{now['id']}/similar?kinds=incident,runbook",
                             viewer)
        assert rid in [h["id"] for h in with_runbooks["hits"]], with_runbooks
        # Limits and bad input.
        call("POST", "/v1/runbooks", responder,
             {"title": "big", "markdown": "# Big\n" + "x" * (256 * 1024)}, expect=413)
        call("POST", "/v1/runbooks", responder, {"title": "no text"}, expect=400)
        call("POST", "/v1/runbooks", responder, {"id": "Bad Id", "title": "t", "markdown": "m"},
             expect=400)
        call("POST", "/v1/search", viewer, {"query": 3}, expect=400)
        call("POST", "/v1/search", viewer, {"query": "x", "limit": 0}, expect=400)
        call("POST", "/v1/search", viewer, raw=b"not json", expect=400)
        call("POST", "/v1/search", viewer, {"query": "\" OR * NEAR( -"})  # no syntax, no error

        # Another tenant: sees nothing, changes nothing; its documents stay its own.
        assert call("POST", "/v1/search", outsider,
                    {"query": "payments gateway rollback zanzibar"})["hits"] == []
        call("GET", f"/v1/incidents/{now['id']}/similar", outsider, expect=404)
        call("GET", f"/v1/runbooks/{rid}", outsider, expect=404)
        call("DELETE", f"/v1/runbooks/{rid}", outsider, expect=404)
        assert call("GET", "/v1/runbooks", outsider)["runbooks"] == []
        call("POST", "/v1/runbooks", outsider,
             {"id": "db-disk", "title": "Other's disk", "markdown": "# Disk\nzanzibar secret\n"})
        found = call("POST", "/v1/search", viewer, {"query": "zanzibar secret"})
        assert [h["id"] for h in found["hits"]] == [disk["id"]], found
        theirs = call("POST", "/v1/search", outsider, {"query": "zanzibar"})
        assert [(h["kind"], h["id"], h["title"]) for h in theirs["hits"]] == \
            [("runbook", "db-disk", "Other's disk")], theirs
        assert call("GET", "/v1/runbooks/db-disk", viewer)["title"] == "Disk full"

        # Runbooks synced from the folder (ai.runbook_folders): found, updated when the file
        # changes, removed when it goes; the API cannot write or delete them; other tenants
        # never see them.
        def search_ids(query, key=viewer):
            return [h["id"] for h in call("POST", "/v1/search", key,
                                          {"query": query, "kinds": ["runbook"]})["hits"]]
        wait_for(lambda: search_ids("numbat") == ["folder-db-disk-full"], 10,
                 "the folder's runbook is searchable")
        synced = call("GET", "/v1/runbooks/folder-db-disk-full", viewer)
        assert synced["title"] == "Disk full" and synced["services"] == ["db"], synced
        assert search_ids("numbat", outsider) == []
        call("POST", "/v1/runbooks", responder,
             {"id": "folder-db-disk-full", "title": "x", "markdown": "x"}, expect=409)
        call("DELETE", "/v1/runbooks/folder-db-disk-full", responder, expect=409)
        with open(os.path.join(folder, "db", "Disk Full.md"), "w") as f:
            f.write("# Disk full\ngrow the bandicoot volume\n")
        wait_for(lambda: search_ids("bandicoot") == ["folder-db-disk-full"], 10,
                 "the edited file is searchable")
        assert search_ids("numbat") == []
        os.remove(os.path.join(folder, "db", "Disk Full.md"))
        wait_for(lambda: search_ids("bandicoot") == [], 10, "the removed file's runbook is gone")
        call("GET", "/v1/runbooks/folder-db-disk-full", viewer, expect=404)
        _, _, metrics = agg.request("GET", "/metrics")
        assert b"faultline_runbook_sync_changes_total 3" in metrics, metrics[-2000:]
        # The same through the CLI, once: the other tenant's folder.
        theirs = os.path.join(work, "theirs")
        os.makedirs(theirs)
        with open(os.path.join(theirs, "Echidna.md"), "w") as f:
            f.write("# Echidna outage\nrestart the echidna\n")
        done = agg.admin("runbooks", "sync", "--tenant", "other", "--dir", theirs)
        assert b"1 added" in done.stdout, done.stdout
        assert search_ids("echidna", outsider) == ["folder-echidna"]
        assert search_ids("echidna") == []

        # Delete: gone from the index.
        call("DELETE", f"/v1/runbooks/{rid}", viewer, expect=403)
        call("DELETE", f"/v1/runbooks/{rid}", responder)
        call("GET", f"/v1/runbooks/{rid}", viewer, expect=404)
        call("DELETE", f"/v1/runbooks/{rid}", responder, expect=404)
        found = call("POST", "/v1/search", viewer, {"query": "escalate", "kinds": ["runbook"]})
        assert found["hits"] == [], found
        log(f"retrieval on {'postgres' if store_url else 'sqlite'}: ok")


def main():
    run(None)
    base = os.environ.get("FAULTLINE_TEST_PG_URL")
    if not base:
        log("retrieval on postgres: not run (FAULTLINE_TEST_PG_URL is not set)")
        return
    from test_postgres_store import psql
    schema = "fl_it_" + secrets.token_hex(6)
    psql(base, f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        run(f"{base}{sep}options=-csearch_path%3D{schema}")
    finally:
        psql(base, f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
