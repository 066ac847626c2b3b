"""The agent killed with SIGKILL at random moments (at least 20 times) and the aggregator killed
and restarted mid-stream: zero lines lost and zero duplicated."""
import os
import random
import sys
import threading
import time

from harness import Agent, Aggregator, Workdir, compare_exports, log, wait_for

LINES = int(os.environ.get("FAULTLINE_CRASH_LINES", "60000"))
AGENT_KILLS = int(os.environ.get("FAULTLINE_CRASH_KILLS", "24"))


def main():
    rng = random.Random(int(os.environ.get("FAULTLINE_SEED", "1234")))
    with Workdir("crash") as work:
        agg = Aggregator(work).start()
        port = agg.port
        agg.create_tenant("acme")
        agent = Agent(work, config='[inputs]\nstart_at = "beginning"\nscan_interval = "50ms"\n'
                      '[batch]\nmax_age = "50ms"\nmax_bytes = "64KiB"\n'
                      '[retry]\ninitial_backoff = "50ms"\nmax_backoff = "500ms"\n')
        agent.enroll(agg.url, agg.create_token("acme"))
        logdir = os.path.join(work, "logs")
        os.makedirs(logdir)
        app = os.path.join(logdir, "app.log")
        open(app, "wb").close()
        agent.start(app + "*")

        expected = bytearray()
        done = threading.Event()

        def writer():
            with open(app, "ab") as out:
                for i in range(LINES):
                    line = b"%06d crash-test payload %s\n" % (i, b"y" * (i % 50))
                    out.write(line)
                    expected.extend(line)
                    if i % 200 == 199:
                        out.flush()
                        time.sleep(0.02)
            done.set()

        t = threading.Thread(target=writer)
        t.start()
        kills = 0
        agg_kills = 0
        while not done.is_set() or kills < AGENT_KILLS:
            time.sleep(rng.uniform(0.05, 0.6))
            agent.kill()
            kills += 1
            if kills in (AGENT_KILLS // 3, 2 * AGENT_KILLS // 3):
                agg.kill()
                agg_kills += 1
                time.sleep(rng.uniform(0.1, 0.5))
                agg.start(port)
            agent.start(app + "*")
        t.join()
        log(f"wrote {LINES} lines; killed the agent {kills} times, the aggregator {agg_kills} times")

        # Kill once more at a random moment after the writer finished, then let it drain.
        time.sleep(rng.uniform(0.05, 0.3))
        agent.kill()
        agent.start(app + "*")

        def arrived():
            return len(agg.export("acme")) >= len(expected)
        try:
            wait_for(arrived, 120, "all lines at the aggregator", interval=1.0)
        except AssertionError:
            pass
        time.sleep(1.0)  # anything duplicated would show up now
        actual = agg.export("acme")
        compare_exports(bytes(expected), actual)
        log("zero lines lost, zero duplicated")
        agent.stop()
        agg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
