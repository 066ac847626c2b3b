"""200,000 lines written while the file is rotated both ways several times arrive byte-identical:
the aggregator's export equals the input, in order."""
import os
import random
import shutil
import sys
import time

from harness import Agent, Aggregator, Workdir, compare_exports, log, wait_for

LINES = int(os.environ.get("FAULTLINE_ROTATION_LINES", "200000"))
ROTATE_EVERY = LINES // 8


def shift_rotated(path, count):
    for k in range(count, 0, -1):
        src = f"{path}.{k}"
        if os.path.exists(src):
            os.rename(src, f"{path}.{k + 1}")


def main():
    rng = random.Random(7)
    with Workdir("rotation") as work:
        agg = Aggregator(work).start()
        agg.create_tenant("acme")
        agent = Agent(work, config='[inputs]\nstart_at = "beginning"\nscan_interval = "100ms"\n'
                      '[batch]\nmax_age = "200ms"\n')
        agent.enroll(agg.url, agg.create_token("acme"))
        logdir = os.path.join(work, "logs")
        os.makedirs(logdir)
        app = os.path.join(logdir, "app.log")
        agent.start(app + "*")
        time.sleep(0.5)

        expected = bytearray()
        out = open(app, "ab")
        rotations = {"rename": 0, "copytruncate": 0}
        for i in range(LINES):
            # Varied content: CR, tabs, non-UTF-8 bytes and empty lines must survive as they are.
            kind = i % 97
            if kind == 0:
                line = b""
            elif kind == 1:
                line = b"windows line\r"
            elif kind == 2:
                line = b"\xff\xfe binary \x00 bytes \xc3\x28"
            else:
                line = b"%07d level=info msg=%s pad=%s" % (
                    i, b"request handled", b"x" * rng.randint(0, 120))
            out.write(line + b"\n")
            expected += line + b"\n"
            if i % 1000 == 999:
                out.flush()
                time.sleep(0.003)
            if i % ROTATE_EVERY == ROTATE_EVERY - 1 and i + 1 < LINES:
                out.flush()
                shift_rotated(app, 10)
                if (i // ROTATE_EVERY) % 2 == 0:
                    out.close()
                    os.rename(app, app + ".1")
                    out = open(app, "ab")
                    rotations["rename"] += 1
                else:
                    shutil.copyfile(app, app + ".1")
                    os.truncate(app, 0)
                    rotations["copytruncate"] += 1
        out.close()
        log(f"wrote {LINES} lines ({len(expected)} bytes), rotations {rotations}")

        def arrived():
            data = agg.export("acme")
            return data if len(data) >= len(expected) else None
        try:
            wait_for(arrived, 180, "all lines at the aggregator", interval=1.0)
        except AssertionError:
            pass
        actual = agg.export("acme")
        compare_exports(bytes(expected), actual)
        log("export equals input byte for byte; checking nothing more arrives late")
        # Rotated files are watched for rotate_wait (5 s) after EOF: a copy mistaken for a new
        # file would be read then. Nothing may arrive after everything has.
        time.sleep(7)
        compare_exports(bytes(expected), agg.export("acme"))
        log("still byte for byte after 7 s")
        # Each source filter returns a subset in order; together they cover everything.
        agent.stop()
        agg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
