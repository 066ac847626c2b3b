"""The command-line contract: names, outputs and failures of both binaries."""
import os
import subprocess
import sys
import time

from harness import Agent, Aggregator, Workdir, binary, log, wait_for


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, timeout=60, **kw)


def main():
    with Workdir("cli") as work:
        agg_bin, agent_bin = binary("faultline-aggregator"), binary("faultline-agent")

        bad = os.path.join(work, "bad.toml")
        with open(bad, "w") as f:
            f.write("[inputs]\npaths = [\"/tmp/x.log\"]\nbogus_key = 1\n")
        res = run(agent_bin, "check-config", "--config", bad)
        assert res.returncode != 0, res
        assert b"bad.toml:3" in res.stderr + res.stdout and b"bogus_key" in res.stderr + res.stdout, res
        good = os.path.join(work, "good.toml")
        with open(good, "w") as f:
            f.write("[inputs]\npaths = [\"/tmp/x.log\"]\n[batch]\nmax_age = \"2s\"\n")
        res = run(agent_bin, "check-config", "--config", good)
        assert res.returncode == 0, res
        log("ok  check-config")

        res = run(agg_bin, "serve", "--config", bad)
        assert res.returncode != 0 and b"bad.toml" in res.stderr, res
        log("ok  serve refuses a bad config")

        agg = Aggregator(work).start()
        tid = agg.create_tenant("acme")
        assert tid and "\n" not in tid, tid
        dup = agg.admin("tenant", "create", "acme", check=False)
        assert dup.returncode != 0 and dup.stderr, dup
        res = agg.admin("enrollment-token", "create", "--tenant", "nope", check=False)
        assert res.returncode != 0 and b"nope" in res.stderr, res
        res = agg.admin("enrollment-token", "create", "--tenant", "acme", "--ttl", "soon",
                        check=False)
        assert res.returncode != 0, res
        log("ok  admin errors")

        agent = Agent(work)
        res = run(agent_bin, "run", "--state-dir", agent.state_dir, "--path", "/tmp/none.log")
        assert res.returncode != 0 and b"enroll" in res.stderr.lower(), res
        agent.enroll(agg.url, agg.create_token("acme"))
        ident = os.path.join(agent.state_dir, "identity.json")
        assert (os.stat(ident).st_mode & 0o777) == 0o600, oct(os.stat(ident).st_mode)
        log("ok  enroll writes a 0600 identity")

        app = os.path.join(work, "app.log")
        with open(app, "wb") as f:
            f.write(b"one\ntwo\n")
        with open(agent.config, "w") as f:
            f.write('[inputs]\nstart_at = "beginning"\nscan_interval = "100ms"\n'
                    '[batch]\nmax_age = "100ms"\n')
        agent.start(app)
        wait_for(lambda: agg.export("acme") == b"one\ntwo\n", 30, "lines exported")
        with open(app, "ab") as f:
            f.write(b"three\n")
        wait_for(lambda: agg.export("acme") == b"one\ntwo\nthree\n", 30, "appended line")
        # status.json is rewritten once a second: wait for the one that has read the file.
        def status_shows_file():
            res = run(agent_bin, "status", "--state-dir", agent.state_dir)
            text = res.stdout.decode()
            return text if res.returncode == 0 and app in text and "read: 3 lines" in text else None
        text = wait_for(status_shows_file, 10, "status to show the file and its 3 lines")
        assert "spool" in text.lower(), text
        log("ok  status:\n" + text)

        # Files that appear after the agent started are read from their first byte.
        late = os.path.join(work, "late.log")
        agent.stop()
        agent.start(os.path.join(work, "*.log"))
        time.sleep(0.5)
        with open(late, "wb") as f:
            f.write(b"late-1\nlate-2\n")
        wait_for(lambda: agg.export("acme", "--source", late) == b"late-1\nlate-2\n", 30,
                 "late file from its first byte")
        assert agg.export("acme", "--source", app) == b"one\ntwo\nthree\n"
        assert agg.export("acme", "--since", "2000-01-01T00:00:00Z", "--until",
                          "2000-01-02T00:00:00Z") == b""
        log("ok  late file read from byte 0; export filters")
        agent.stop()
        agg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
