"""The agent's processing pipeline end to end, real binaries on loopback:

1. Secrets planted in a log never reach a spool file, a batch stored by the aggregator, or the
   export: each is replaced by its typed placeholder and counted.
2. The local Prometheus endpoint reports the pipeline's counters.
3. SIGHUP reloads the config between two lines: a new drop filter applies from then on, and
   no line is lost or repeated.
4. Heartbeats reach the aggregator (`admin agents list` shows the last one).
"""
import glob
import os
import random
import signal
import socket
import sqlite3
import string
import subprocess
import time
import urllib.request

from harness import Agent, Aggregator, Workdir, compare_exports, log, wait_for

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rand(n, alphabet=string.ascii_letters + string.digits):
    return "".join(random.choice(alphabet) for _ in range(n))


def luhn_card(prefix="4", length=16):
    digits = [int(c) for c in prefix] + [random.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def make_secrets():
    """(line, secret) pairs: each secret must be gone, the rest of the line kept."""
    pw = "Pw" + rand(18)
    bearer = "tok" + rand(30)
    jwt = "eyJhbGciOiJIUzI1NiJ9." + rand(40, string.ascii_letters + string.digits + "_-") + "." + rand(43)
    akia = "AKIA" + rand(16, string.ascii_uppercase + string.digits)
    urlpw = "Url" + rand(14)
    card = luhn_card()
    email = "alice." + rand(8).lower() + "@example.org"
    return [
        (f"2026-11-26T10:00:00Z INFO login ok user=bob password={pw} from 10.0.0.1", pw),
        (f"2026-11-26T10:00:01Z INFO GET /api Authorization: Bearer {bearer} took 5ms", bearer),
        (f"2026-11-26T10:00:02Z WARN token refresh session={jwt} expired", jwt),
        (f"2026-11-26T10:00:03Z INFO uploading with key {akia} to bucket logs", akia),
        (f"2026-11-26T10:00:04Z ERROR cannot connect postgres://app:{urlpw}@db.internal:5432/app", urlpw),
        (f"2026-11-26T10:00:05Z INFO charged card {card} amount=12.00", card),
        (f"2026-11-26T10:00:06Z INFO sent receipt to {email}", email),
    ]


def decompressed_blobs(data: bytes):
    """Every zstd frame found in `data`, decompressed (spool files and stored payloads)."""
    out = []
    start = data.find(ZSTD_MAGIC)
    while start != -1:
        res = subprocess.run(["zstd", "-d", "-c", "-q"], input=data[start:], capture_output=True)
        if res.stdout:
            out.append(res.stdout)
        start = data.find(ZSTD_MAGIC, start + 4)
    return out


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    raise AssertionError(f"metric {name} not found in:\n{text}")


def main():
    random.seed()
    with Workdir("pipeline") as work:
        agg = Aggregator(work).start()
        agg.create_tenant("acme")
        port = free_port()
        base_config = ('[inputs]\nstart_at = "beginning"\nscan_interval = "50ms"\n'
                       '[batch]\nmax_age = "100ms"\n'
                       '[retry]\ninitial_backoff = "100ms"\nmax_backoff = "500ms"\n'
                       '[heartbeat]\ninterval = "1s"\n'
                       f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
        agent = Agent(work, config=base_config)
        agent.enroll(agg.url, agg.create_token("acme"))
        app = os.path.join(work, "app.log")
        secrets = make_secrets()
        with open(app, "w") as f:
            for line, _ in secrets:
                f.write(line + "\n")

        # Phase 1: the aggregator is down, so batches stay in the spool for inspection.
        agg.stop()
        agent.start(app)
        spool_dir = os.path.join(agent.state_dir, "spool")
        wait_for(lambda: [p for p in glob.glob(os.path.join(spool_dir, "*")) if os.path.isfile(p)],
                 30, "a spooled batch")
        time.sleep(0.5)
        spool_bytes = b""
        for path in glob.glob(os.path.join(spool_dir, "**"), recursive=True):
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    spool_bytes += f.read()
        blobs = decompressed_blobs(spool_bytes)
        assert blobs, "no zstd frame found in the spool"
        for line, secret in secrets:
            assert secret.encode() not in spool_bytes, f"secret in a spool file: {line}"
            for blob in blobs:
                assert secret.encode() not in blob, f"secret in a spooled batch: {line}"
        assert any(b"[REDACTED:password]" in b for b in blobs), "no placeholder in the batch"
        log(f"spool: {len(blobs)} batch(es), no secret bytes, placeholders present")

        # Phase 2: the aggregator comes back; stored payloads and the export hold no secret.
        agg.start(agg.port)
        wait_for(lambda: agg.export("acme").count(b"\n") >= len(secrets), 30, "export")
        exported = agg.export("acme")
        for line, secret in secrets:
            assert secret.encode() not in exported, f"secret exported: {line}"
        for kind in ("password", "bearer", "jwt", "cloud_key", "url_password", "card", "email"):
            assert f"[REDACTED:{kind}]".encode() in exported, (kind, exported)
        db = os.path.join(agg.data_dir, "faultline.db")
        if not os.path.exists(db):
            db = next(p for p in glob.glob(os.path.join(agg.data_dir, "*.db")))
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        stored = b"".join(bytes(r[0]) for r in conn.execute("SELECT payload FROM logs_batches"))
        conn.close()
        for blob in decompressed_blobs(stored) + [stored]:
            for line, secret in secrets:
                assert secret.encode() not in blob, f"secret stored by the aggregator: {line}"
        log("aggregator: stored batches and export hold placeholders only")

        # Phase 3: the Prometheus endpoint.
        text = scrape(port)
        assert metric(text, "faultline_agent_lines_read_total") == len(secrets), text
        assert metric(text, 'faultline_agent_redactions_total{kind="password"}') >= 1, text
        assert metric(text, "faultline_agent_lines_redacted_total") == len(secrets), text
        assert 'faultline_agent_dropped_total{reason="pattern"} 0' in text, text
        log("metrics endpoint reports reads and redactions")

        # Phase 4: SIGHUP with a new drop filter, lines written before and after.
        expected = bytearray(exported)
        with open(app, "a") as f:
            for i in range(500):
                line = f"2026-11-26T10:01:00Z INFO before reload {i}\n"
                f.write(line)
                expected += line.encode()
        wait_for(lambda: agg.export("acme") == bytes(expected), 30, "lines before the reload")
        with open(agent.config, "a") as f:
            f.write('[filter]\ndrop = ["DROPME"]\n')
        agent.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: (s := agent.status_json()) and s["counters"].get("config_reloads") == 1,
                 10, "reload counted")
        with open(app, "a") as f:
            for i in range(1000):
                if i % 2:
                    line = f"2026-11-26T10:02:00Z INFO DROPME noisy {i}\n"
                else:
                    line = f"2026-11-26T10:02:00Z INFO after reload {i}\n"
                    expected += line.encode()
                f.write(line)
        wait_for(lambda: len(agg.export("acme")) >= len(expected), 30, "lines after the reload")
        time.sleep(0.5)
        compare_exports(bytes(expected), agg.export("acme"))
        # status.json is rewritten once a second.
        st = wait_for(lambda: (s := agent.status_json()) and s["pipeline"]["lines_in"] == 1507 and s,
                      10, "status with every line counted")
        assert st["pipeline"]["dropped"]["pattern"] == 500, st["pipeline"]
        log("SIGHUP: new filter applied from the next line, nothing lost or repeated")

        # A bad config on SIGHUP is refused and the old one stays.
        with open(agent.config, "a") as f:
            f.write('[reduce]\naggregate_max_severity = "error"\n')
        agent.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: (s := agent.status_json()) and s["counters"].get("config_reload_errors") == 1,
                 10, "bad reload counted")
        assert agent.proc.poll() is None, "agent died on a bad reload"

        # Phase 5: heartbeats.
        def heartbeat_listed():
            out = agg.admin("agents", "list", "--tenant", "acme").stdout.decode()
            return out if "heartbeat" in out.lower() and "never" not in out.lower() else None
        out = wait_for(heartbeat_listed, 15, "a heartbeat in agents list")
        log("heartbeat: " + out.strip().splitlines()[-1])
        agent.stop()
        agg.stop()
    print("pipeline e2e: OK")


if __name__ == "__main__":
    main()
