"""The aggregator on PostgreSQL: `serve --store postgres://...`, an enrolled agent ships lines
(also across an aggregator kill -9 and restart), and `admin logs export` equals the input byte for
byte. Needs FAULTLINE_TEST_PG_URL (installers/pg_cluster.sh start); skipped without it unless CI
is set, then it fails."""
import os
import secrets
import subprocess
import sys
import time

from harness import Agent, Aggregator, Workdir, compare_exports, log, wait_for


def pg_url():
    url = os.environ.get("FAULTLINE_TEST_PG_URL", "")
    if url:
        return url
    if os.environ.get("CI", "") not in ("", "0", "false"):
        sys.exit("FAULTLINE_TEST_PG_URL is not set but CI is: this test must run in CI "
                 "(installers/test.sh starts a cluster with installers/pg_cluster.sh)")
    print("skipped: FAULTLINE_TEST_PG_URL is not set (installers/pg_cluster.sh start prints one)")
    sys.exit(0)


def psql(url, sql):
    """Runs SQL (several statements allowed) and returns the last line it printed."""
    res = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url],
                         input=sql.encode(), capture_output=True, timeout=60)
    if res.returncode != 0:
        raise AssertionError(f"psql {sql!r} failed: {res.stderr.decode()}")
    lines = res.stdout.decode().strip().splitlines()
    return lines[-1] if lines else ""


def write_lines(path, start, count, expected):
    with open(path, "ab") as out:
        for i in range(start, start + count):
            # Not all of it UTF-8: logs are bytes, and so are the stored batches.
            line = b"%06d postgres store line \xff\xfe %s\n" % (i, b"q" * (i % 37))
            out.write(line)
            expected.extend(line)


def main():
    base = pg_url()
    schema = "fl_it_" + secrets.token_hex(6)
    psql(base, f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        with Workdir("postgres") as work:
            agg = Aggregator(work, store_url=url).start()
            port = agg.port
            tenant_id = agg.create_tenant("acme")
            agent = Agent(work, config='[inputs]\nstart_at = "beginning"\nscan_interval = "50ms"\n'
                          '[batch]\nmax_age = "50ms"\nmax_bytes = "32KiB"\n'
                          '[retry]\ninitial_backoff = "50ms"\nmax_backoff = "500ms"\n')
            agent.enroll(agg.url, agg.create_token("acme"))
            app = os.path.join(work, "app.log")
            expected = bytearray()
            write_lines(app, 0, 20000, expected)
            agent.start(app)
            wait_for(lambda: len(agg.export("acme")) >= len(expected) // 3, 60, "first batches")

            log("first batches stored; killing the aggregator mid-stream")
            agg.kill()
            write_lines(app, 20000, 20000, expected)
            time.sleep(0.3)
            agg.start(port)
            wait_for(lambda: len(agg.export("acme")) >= len(expected), 120,
                     "every line at the aggregator", interval=0.5)
            time.sleep(0.5)  # anything stored twice would show up now
            compare_exports(bytes(expected), agg.export("acme"))

            # The lines are in PostgreSQL, not in a SQLite file under the data dir.
            assert not os.path.exists(os.path.join(agg.data_dir, "faultline.db")), \
                "a SQLite database was created"
            batches = psql(url, "BEGIN;\nSELECT set_config('faultline.tenant_id', "
                           f"'{tenant_id}', true);\nSELECT count(*) FROM logs_batches;\nCOMMIT;\n")
            assert int(batches) > 1, batches
            listed = agg.admin("agents", "list", "--tenant", "acme").stdout.decode()
            assert listed.count("\n") == 2, listed
            log(f"{len(expected)} bytes in {batches} batches on PostgreSQL, byte-identical")
            agent.stop()
            agg.stop()
    finally:
        psql(base, f"DROP SCHEMA {schema} CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
