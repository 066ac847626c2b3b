"""Every bad input gets a clear 4xx with a JSON error body, stores nothing, and the server keeps
serving: unknown, expired and reused tokens, a wrong secret, corrupt and truncated batches, a
wrong content type, an oversized body, garbage HTTP. A resent batch gets the same ack and is
stored once."""
import json
import os
import socket
import sys
import time

from harness import Agent, Aggregator, Workdir, log
from msgpack_min import batch, pack, zstd

BATCH_HEADERS = {"Content-Type": "application/vnd.faultline.batch+msgpack",
                 "Content-Encoding": "zstd"}


def expect_error(result, status, code, what):
    got_status, headers, body = result
    assert got_status == status, f"{what}: expected {status}, got {got_status}: {body[:300]!r}"
    ctype = headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"{what}: content type {ctype!r}"
    doc = json.loads(body)
    assert doc["error"]["code"] == code, f"{what}: expected code {code}, got {doc}"
    assert doc["error"]["message"], f"{what}: empty message"
    log(f"ok  {what}: {status} {code}: {doc['error']['message']}")


def healthy(agg):
    status, _, body = agg.request("GET", "/healthz")
    assert status == 200, (status, body)


def enroll_raw(agg, token, ctype="application/json"):
    return agg.request("POST", "/v1/agents/enroll",
                       body=json.dumps({"token": token, "hostname": "test"}),
                       headers={"Content-Type": ctype})


def main():
    with Workdir("badinput") as work:
        agg = Aggregator(work, "[limits]\nmax_body_bytes = \"1MiB\"\n").start()
        agg.create_tenant("acme")
        agg.create_tenant("other")

        # --- enrollment -------------------------------------------------------------------
        expect_error(enroll_raw(agg, "fet_unknown-token"), 401, "invalid_token", "unknown token")
        healthy(agg)
        token = agg.create_token("acme")
        expect_error(enroll_raw(agg, token, ctype="text/plain"), 415, "unsupported_media_type",
                     "enroll with wrong content type")
        status, _, body = enroll_raw(agg, token)
        assert status == 201, (status, body)
        ident = json.loads(body)
        agent_id, secret = ident["agent_id"], ident["secret"]
        assert ident["tenant"] == "acme"
        expect_error(enroll_raw(agg, token), 401, "token_used", "reused token")
        short = agg.create_token("acme", ttl="1s")
        time.sleep(1.5)
        expect_error(enroll_raw(agg, short), 401, "token_expired", "expired token")
        expect_error(agg.request("POST", "/v1/agents/enroll", body=b"{not json",
                                 headers={"Content-Type": "application/json"}),
                     400, "bad_request", "malformed enroll JSON")
        expect_error(agg.request("POST", "/v1/agents/enroll", body=json.dumps({"token": 5}),
                                 headers={"Content-Type": "application/json"}),
                     400, "bad_request", "enroll token of the wrong type")
        # The CLI refuses a used token too, with a clear message and a non-zero exit.
        cli = Agent(work, "cli-agent").enroll(agg.url, token, check=False)
        assert cli.returncode != 0 and b"used" in cli.stderr.lower(), cli.stderr
        healthy(agg)

        # --- ingest ------------------------------------------------------------------------
        auth = dict(BATCH_HEADERS, Authorization=f"Bearer {secret}")
        good = zstd(pack(batch(agent_id, 1, 1, [b"hello", b"world"])))

        expect_error(agg.request("POST", "/v1/ingest", body=good, headers=BATCH_HEADERS),
                     401, "unauthenticated", "no credentials")
        expect_error(agg.request("POST", "/v1/ingest", body=good,
                                 headers=dict(BATCH_HEADERS, Authorization="Bearer fas_wrong")),
                     401, "unauthenticated", "wrong secret")
        expect_error(agg.request("POST", "/v1/ingest", body=os.urandom(500), headers=auth),
                     400, "bad_batch", "corrupt batch")
        expect_error(agg.request("POST", "/v1/ingest", body=good[: len(good) // 2], headers=auth),
                     400, "bad_batch", "truncated batch")
        expect_error(agg.request("POST", "/v1/ingest",
                                 body=zstd(b"\x81\xa1v\x01"), headers=auth),
                     400, "bad_batch", "batch missing fields")
        expect_error(agg.request("POST", "/v1/ingest", body=good,
                                 headers=dict(auth, **{"Content-Type": "application/json"})),
                     415, "unsupported_media_type", "wrong content type")
        expect_error(agg.request("POST", "/v1/ingest", body=pack(batch(agent_id, 1, 1, [b"x"])),
                                 headers={k: v for k, v in auth.items()
                                          if k != "Content-Encoding"}),
                     415, "unsupported_media_type", "missing content encoding")
        expect_error(agg.request("POST", "/v1/ingest", body=os.urandom(2 * 1024 * 1024),
                                 headers=auth), 413, "payload_too_large", "oversized body")
        other = zstd(pack(batch("agt_someone_else", 1, 1, [b"spoof"])))
        expect_error(agg.request("POST", "/v1/ingest", body=other, headers=auth),
                     403, "agent_mismatch", "batch naming another agent")
        healthy(agg)
        assert agg.export("acme") == b"", "a rejected request stored something"

        # Garbage on the socket: 400 and close, the server keeps serving.
        with socket.create_connection(("127.0.0.1", agg.port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            reply = s.recv(4096)
            assert reply.startswith(b"HTTP/1.1 400"), reply[:100]
        log("ok  garbage bytes: 400")
        healthy(agg)

        # --- idempotency ---------------------------------------------------------------------
        first = agg.request("POST", "/v1/ingest", body=good, headers=auth)
        assert first[0] == 200, first
        again = agg.request("POST", "/v1/ingest", body=good, headers=auth)
        assert again[0] == 200, again
        assert again[2] == first[2], (first[2], again[2])
        ack = json.loads(first[2])
        assert ack["seq"] == 1 and ack["epoch"] == 1 and ack["records"] == 2, ack
        assert agg.export("acme") == b"hello\nworld\n", agg.export("acme")
        assert agg.export("other") == b"", "tenant isolation: other tenant sees acme's lines"
        log("ok  resent batch: same ack, stored once; other tenant sees nothing")
        agg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
