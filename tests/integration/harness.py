"""Test harness for Faultline integration tests: real binaries, loopback, temp dirs.

Starts `faultline-aggregator serve` on a free port, creates tenants and tokens with the admin CLI,
enrolls and runs `faultline-agent`, and reads the export back. Standard library only.
"""
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

# Every process a test starts, so that a failing test never leaves one running.
_PROCESSES = []


def _track(proc):
    _PROCESSES.append(proc)
    return proc


def kill_all():
    for proc in _PROCESSES:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    _PROCESSES.clear()


def binary(name):
    BIN_DIR = os.environ.get("FAULTLINE_BIN_DIR", "")
    for candidate in (os.path.join(BIN_DIR, "bin", name), os.path.join(BIN_DIR, name)):
        if BIN_DIR and os.path.isfile(candidate):
            return candidate
    found = shutil.which(name)
    if not found:
        sys.exit(f"cannot find {name}: set FAULTLINE_BIN_DIR to the build directory")
    return found


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Aggregator:
    """One `faultline-aggregator serve` process over a data dir that outlives restarts."""

    def __init__(self, workdir, extra_config="", store_url=None):
        self.workdir = workdir
        # --store URL for serve and admin (None: SQLite under the data dir).
        self.store_args = ["--store", store_url] if store_url else []
        self.data_dir = os.path.join(workdir, "aggregator-data")
        self.config = os.path.join(workdir, "aggregator.toml")
        with open(self.config, "w") as f:
            f.write(extra_config)
        self.proc = None
        self.port = 0
        self.scheme = "http"
        self.ca_file = None  # with TLS: the CA that request() trusts
        self.log_path = os.path.join(workdir, "aggregator.log")

    def start(self, port=0):
        out = open(self.log_path, "ab")
        self.proc = _track(subprocess.Popen(
            [binary("faultline-aggregator"), "serve", "--config", self.config,
             "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{port}", *self.store_args],
            stdout=subprocess.PIPE, stderr=out))
        line = self.proc.stdout.readline().decode()
        scheme = re.search(r"listening on (https?)://", line)
        if not scheme:
            self.proc.kill()
            raise AssertionError(f"aggregator did not start: {line!r}; see {self.log_path}")
        self.scheme = scheme.group(1)
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self):
        self.kill(signal.SIGTERM)

    def admin(self, *args, check=True, stdin=None):
        res = subprocess.run([binary("faultline-aggregator"), "admin", "--config", self.config,
                              "--data-dir", self.data_dir, *self.store_args, *args],
                             capture_output=True, input=stdin, timeout=120)
        if check and res.returncode != 0:
            raise AssertionError(f"admin {args} failed ({res.returncode}): {res.stderr.decode()}")
        return res

    def create_tenant(self, name):
        return self.admin("tenant", "create", name).stdout.decode().strip()

    def create_token(self, tenant, ttl=None):
        args = ["enrollment-token", "create", "--tenant", tenant]
        if ttl:
            args += ["--ttl", ttl]
        return self.admin(*args).stdout.decode().strip()

    def export(self, tenant, *filters):
        return self.admin("logs", "export", "--tenant", tenant, *filters).stdout

    def call(self, method, path, token, body=None, expect=200, raw=None):
        """A JSON API call with a bearer token (an API key): asserts the status and returns the
        parsed answer (None when empty). `raw` sends bytes as they are."""
        headers = {"Authorization": f"Bearer {token}"}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            headers["Content-Type"] = "application/json"
        status, _, out = self.request(method, path, body=data, headers=headers)
        assert status == expect, (method, path, status, out[:400])
        return json.loads(out) if out else None

    def request(self, method, path, body=None, headers=None, timeout=30):
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout,
                context=ssl.create_default_context(cafile=self.ca_file))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), data


class Agent:
    """`faultline-agent` with its own state dir."""

    def __init__(self, workdir, name="agent", config=""):
        self.state_dir = os.path.join(workdir, name + "-state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.config = os.path.join(workdir, name + ".toml")
        with open(self.config, "w") as f:
            f.write(config)
        self.proc = None
        self.log_path = os.path.join(workdir, name + ".log")

    def enroll(self, url, token, check=True, with_config=False):
        """with_config: pass the agent's config file too (server.ca_file, server.timeout)."""
        args = [binary("faultline-agent"), "enroll", "--server", url, "--token", token,
                "--state-dir", self.state_dir]
        if with_config:
            args += ["--config", self.config]
        res = subprocess.run(args, capture_output=True, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"enroll failed: {res.stderr.decode()}")
        return res

    def start(self, *paths):
        args = [binary("faultline-agent"), "run", "--config", self.config,
                "--state-dir", self.state_dir]
        for p in paths:
            args += ["--path", p]
        self.proc = _track(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=open(self.log_path, "ab")))
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)
        self.proc = None

    def stop(self):
        self.kill(signal.SIGTERM)

    def status_json(self):
        res = subprocess.run([binary("faultline-agent"), "status", "--state-dir", self.state_dir,
                              "--json"], capture_output=True, timeout=30)
        if res.returncode != 0:
            return None
        try:
            return json.loads(res.stdout)
        except json.JSONDecodeError:
            return None


class Workdir:
    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=f"faultline-{prefix}-")
        self.keep = os.environ.get("FAULTLINE_KEEP_TMP") == "1"

    def __enter__(self):
        return self.path

    def __exit__(self, exc_type, exc, tb):
        kill_all()
        if exc_type is not None:
            for name in sorted(os.listdir(self.path)):
                if name.endswith(".log") and not name.startswith("app"):
                    full = os.path.join(self.path, name)
                    with open(full, "rb") as f:
                        tail = f.read()[-3000:].decode(errors="replace")
                    print(f"--- last lines of {name} ---\n{tail}", file=sys.stderr)
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            print(f"kept {self.path}", file=sys.stderr)
        return False


def compare_exports(expected: bytes, actual: bytes):
    if expected == actual:
        return
    exp_lines = expected.split(b"\n")
    act_lines = actual.split(b"\n")
    for i, (a, b) in enumerate(zip(exp_lines, act_lines)):
        if a != b:
            raise AssertionError(
                f"export differs at line {i + 1}: expected {a[:120]!r}, got {b[:120]!r} "
                f"(expected {len(exp_lines)} lines / {len(expected)} bytes, got "
                f"{len(act_lines)} lines / {len(actual)} bytes)")
    raise AssertionError(f"export length differs: expected {len(exp_lines)} lines / "
                         f"{len(expected)} bytes, got {len(act_lines)} lines / {len(actual)} bytes")
