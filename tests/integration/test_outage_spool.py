"""The aggregator unreachable for a while: the agent spools to disk, then drains everything once
it is back; also the spool cap pauses reading instead of dropping."""
import os
import sys
import time

from harness import Agent, Aggregator, Workdir, compare_exports, log, wait_for


def write_lines(path, start, count, expected):
    with open(path, "ab") as out:
        for i in range(start, start + count):
            # Random bytes keep the batches big: templated, typed encoding shrinks repetitive
            # lines so far that they would never fill the spool.
            line = b"%06d outage test line %s %s\n" % (i, os.urandom(12).hex().encode(),
                                                       b"z" * (i % 40))
            out.write(line)
            expected.extend(line)


def main():
    with Workdir("outage") as work:
        agg = Aggregator(work).start()
        port = agg.port
        agg.create_tenant("acme")
        agent = Agent(work, config='[inputs]\nstart_at = "beginning"\nscan_interval = "50ms"\n'
                      '[batch]\nmax_age = "100ms"\nmax_bytes = "16KiB"\n'
                      '[spool]\nmax_bytes = "256KiB"\n'
                      '[retry]\ninitial_backoff = "100ms"\nmax_backoff = "1s"\n')
        agent.enroll(agg.url, agg.create_token("acme"))
        app = os.path.join(work, "app.log")
        expected = bytearray()
        write_lines(app, 0, 1000, expected)
        agent.start(app)
        wait_for(lambda: len(agg.export("acme")) == len(expected), 30, "first lines")
        log("first 1000 lines arrived; stopping the aggregator")

        agg.stop()
        # Enough data to overflow a 256 KiB spool several times over (compressed).
        write_lines(app, 1000, 60000, expected)

        def spooled_and_paused():
            st = agent.status_json()
            if not st:
                return None
            spool = st.get("spool", {})
            return st if spool.get("batches", 0) > 0 and spool.get("paused_spool_full") else None
        st = wait_for(spooled_and_paused, 60, "agent to spool and pause on a full spool")
        log(f"agent spooled {st['spool']} while the aggregator was down")
        time.sleep(2.0)
        st2 = agent.status_json()
        assert st2["spool"]["bytes"] <= 256 * 1024 + 64 * 1024, st2["spool"]
        assert agent.proc.poll() is None, "agent died while the aggregator was down"

        agg.start(port)
        wait_for(lambda: len(agg.export("acme")) >= len(expected), 120,
                 "spool to drain after the aggregator came back", interval=1.0)
        time.sleep(0.5)
        compare_exports(bytes(expected), agg.export("acme"))
        st3 = wait_for(lambda: (s := agent.status_json()) and s["spool"]["batches"] == 0 and s,
                       30, "empty spool")
        assert not st3["spool"].get("paused_spool_full"), st3["spool"]
        log("everything drained, byte-identical")
        agent.stop()
        agg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
