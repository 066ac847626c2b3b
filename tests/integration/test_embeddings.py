"""Embeddings combined with BM25 (issue 8, retrieval) through the real binary over loopback,
against the OpenAI-compatible STAND-IN server of the tests (test_ai.StandIn, whose
/v1/embeddings is standin_embeddings.py: a deterministic bag of hashed words with a small
synonym table, NOT a model).

Checks, on SQLite and on PostgreSQL (when FAULTLINE_TEST_PG_URL is set):
- a runbook written with embeddings on is found by a query that shares NO word with it (only
  synonyms), through the embedding retriever alone; the same query on the same store with
  embeddings off finds nothing, and the answer has no retriever fields (as before);
- a query both retrievers match is fused: the hit names both, with each one's score;
- a resolved incident is embedded as it is indexed (its resolution note found by synonyms,
  by a search and by a later incident's similar list);
- another tenant's vectors are never scored nor returned (its runbook matches the query best);
- the embeddings endpoint down (HTTP 503) or answering the wrong count: runbooks are still
  stored (BM25 only), searches still answer with BM25, and the failures are counted on
  /metrics; the API key is sent to the stand-in and never logged."""
import datetime
import json
import os

from harness import Aggregator, Workdir, log, wait_for
from test_ai import API_KEY, StandIn, with_pg_schema
from test_incidents import am_body
from test_retrieval import alert

QUOTA = ("# Storage quota\nWhen the drive is full, purge the cache directory and rotate the "
         "journal.\n\n## Escalate\nPage the platform team.\n")


def config(stand_in, embeddings=True):
    out = (f'[ai]\nopenai.url = "http://127.0.0.1:{stand_in.port}/v1"\n'
           f'openai.api_key = "{API_KEY}"\nopenai.timeout = "2s"\n')
    if embeddings:
        out += 'embeddings.provider = "openai"\nembeddings.model = "stand-in-embed"\n'
    return out


def metric(agg, name):
    status, _, data = agg.request("GET", "/metrics")
    assert status == 200, status
    for line in data.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not on /metrics")


def run(store_url=None):
    engine = "postgres" if store_url else "sqlite"
    stand_in = StandIn()
    try:
        with Workdir("embeddings") as work:
            agg = Aggregator(work, extra_config=config(stand_in), store_url=store_url).start()
            agg.create_tenant("acme")
            agg.create_tenant("other")
            keys = {role: agg.admin("api-key", "create", "--tenant", "acme", "--role",
                                    role).stdout.decode().strip()
                    for role in ("responder", "viewer")}
            keys["outsider"] = agg.admin("api-key", "create", "--tenant", "other", "--role",
                                         "owner").stdout.decode().strip()
            hook = agg.admin("integration", "create", "--tenant", "acme", "--kind",
                             "alertmanager", "--name", "am").stdout.decode().strip()

            def call(method, path, key, body=None, expect=200):
                return agg.call(method, path, keys[key], body, expect)

            def search(key, query, **extra):
                return call("POST", "/v1/search", key, {"query": query, **extra})

            call("POST", "/v1/runbooks", "responder",
                 {"id": "quota", "title": "Quota alarm", "markdown": QUOTA,
                  "services": ["storage"]})
            call("POST", "/v1/runbooks", "responder",
                 {"id": "db-login", "title": "DB login failures",
                  "markdown": "# Credentials\nCheck the db password rotation.\n"})
            # The other tenant's runbook says exactly what acme will ask.
            call("POST", "/v1/runbooks", "outsider",
                 {"id": "other-disk", "title": "Disk filled", "markdown": "# Disk filled\n"
                  "disk filled disk filled\n"})
            embedded = [p for p in stand_in.paths if p.endswith("/embeddings")]
            assert len(embedded) == 3, stand_in.paths
            sent = json.loads(stand_in.bodies[0])
            assert sent["model"] == "stand-in-embed" and len(sent["input"]) == 3, sent
            assert stand_in.headers[0].get("Authorization") == f"Bearer {API_KEY}"

            # Synonyms only: found by the embedding retriever, never the other tenant's.
            found = search("viewer", "disk filled")
            log(json.dumps(found)[:600])
            assert found["terms"] == ["disk", "filled"], found
            ids = [h["id"] for h in found["hits"]]
            assert ids == ["quota"], found
            top = found["hits"][0]
            assert top["retrievers"] == ["embedding"] and top["bm25_score"] == 0, top
            assert 0.3 <= top["embedding_score"] <= 1, top
            assert top["passages"][0]["retriever"] == "embedding", top
            assert top["passages"][0]["heading"] == "Storage quota", top
            assert top["score"] > 0, top
            assert "other-disk" not in json.dumps(found), found
            # The other tenant finds its own, and never acme's.
            theirs = search("outsider", "drive full quota")
            assert [h["id"] for h in theirs["hits"]] == ["other-disk"], theirs

            # Both retrievers: fused, each named with its score.
            both = search("viewer", "drive full")
            assert both["hits"][0]["id"] == "quota", both
            assert both["hits"][0]["retrievers"] == ["bm25", "embedding"], both
            assert both["hits"][0]["bm25_score"] > 0 and both["hits"][0]["embedding_score"] > 0
            assert both["hits"][0]["score"] > top["score"], (both, top)

            # A resolved incident is embedded as it is indexed: its note found by synonyms.
            at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            status, _, data = agg.request("POST", hook, body=am_body([alert("Saturation", "nfs",
                                                                            at)]),
                                          headers={"Content-Type": "application/json"})
            assert status == 202, (status, data)
            wait_for(lambda: call("GET", "/v1/incidents", "viewer")["incidents"], 10,
                     "an incident")
            iid = call("GET", "/v1/incidents", "viewer")["incidents"][0]["id"]
            call("POST", f"/v1/incidents/{iid}/comments", "responder",
                 {"text": "authentication sluggish after the certificate swap"}, expect=201)
            call("POST", f"/v1/incidents/{iid}/resolve", "responder")
            wait_for(lambda: search("viewer", "signin latency", kinds=["incident"])["hits"], 10,
                     "the incident found by synonyms")
            hits = search("viewer", "signin latency", kinds=["incident"])["hits"]
            assert [h["id"] for h in hits] == [iid] and hits[0]["retrievers"] == ["embedding"]
            # Similar incidents are fused too: a new incident named only in synonyms of the
            # resolved one's note ("Slow" on "login") finds it through its embedding.
            status, _, data = agg.request("POST", hook, body=am_body([alert("Slow", "login",
                                                                            at)]),
                                          headers={"Content-Type": "application/json"})
            assert status == 202, (status, data)
            wait_for(lambda: len(call("GET", "/v1/incidents", "viewer")["incidents"]) == 2, 10,
                     "a second incident")
            new = [i["id"] for i in call("GET", "/v1/incidents", "viewer")["incidents"]
                   if i["id"] != iid][0]
            similar = call("GET", f"/v1/incidents/{new}/similar", "viewer")["hits"]
            assert similar and similar[0]["id"] == iid, similar
            assert "embedding" in similar[0]["retrievers"], similar
            assert similar[0]["embedding_score"] > 0, similar
            assert metric(agg, "faultline_knowledge_embedded_documents_total") >= 4
            assert metric(agg, "faultline_knowledge_embedding_failures_total") == 0

            # The embeddings endpoint down: the runbook is stored (BM25 only), search answers.
            stand_in.embeddings_mode = "down"
            call("POST", "/v1/runbooks", "responder",
                 {"id": "cache-warm", "title": "Cache warmup",
                  "markdown": "# Warm the cache\nreplay yesterday's hot keys when the drive is "
                              "full\n"})
            assert call("GET", "/v1/runbooks/cache-warm", "viewer")["title"] == "Cache warmup"
            found = search("viewer", "warm cache hot keys")
            assert found["hits"][0]["id"] == "cache-warm", found
            assert found["hits"][0]["retrievers"] == ["bm25"], found
            failures = metric(agg, "faultline_knowledge_embedding_failures_total")
            assert failures >= 1, failures
            assert metric(agg, "faultline_knowledge_embedding_query_failures_total") >= 1
            # A wrong count of vectors is a failure too (never half a document's vectors).
            stand_in.embeddings_mode = "wrong_count"
            call("POST", "/v1/runbooks", "responder",
                 {"id": "cache-cold", "title": "Cache cold start", "markdown": "# Cold\nslow\n"})
            assert metric(agg, "faultline_knowledge_embedding_failures_total") >= failures + 1
            stand_in.embeddings_mode = "ok"
            # Written while down: BM25 only, so a synonym-only query finds it no more.
            assert [h["id"] for h in search("viewer", "disk filled")["hits"]] == ["quota"]
            with open(agg.log_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
                assert API_KEY not in text
                assert "indexed with BM25 only" in text, text[-2000:]
            agg.stop()

            # The same store with embeddings off: BM25 only, answers as before.
            with open(agg.config, "w") as f:
                f.write(config(stand_in, embeddings=False))
            before = len(stand_in.paths)
            agg.start()
            found = search("viewer", "disk filled")
            assert found["hits"] == [], found
            found = search("viewer", "drive full")
            assert sorted(h["id"] for h in found["hits"]) == ["cache-warm", "quota"], found
            for hit in found["hits"]:
                assert "retrievers" not in hit and "bm25_score" not in hit, hit
                assert all("retriever" not in p for p in hit["passages"]), hit
            assert len(stand_in.paths) == before, stand_in.paths[before:]
            agg.stop()
            log(f"embeddings with BM25 on {engine}: ok")
    finally:
        stand_in.close()


def main():
    run()
    base = os.environ.get("FAULTLINE_TEST_PG_URL")
    if not base:
        log("embeddings on postgres: not run (FAULTLINE_TEST_PG_URL is not set)")
        return
    with_pg_schema(base, run)


if __name__ == "__main__":
    main()
