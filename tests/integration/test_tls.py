"""The aggregator over HTTPS with a throwaway CA made by the openssl CLI at test time.

An agent that trusts the CA (server.ca_file) enrolls and ships, and the export equals its input.
An agent without the CA cannot enroll, and once enrolled but run without the CA it fails every
send with a certificate error while keeping everything in its spool; restarted with the CA it
delivers all of it, once. Plain HTTP to the HTTPS port gets a clear 400. A renewed certificate
is picked up on SIGHUP without dropping the agent; a broken one is refused and the old stays.
"""
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

from harness import Agent, Aggregator, Workdir, binary, compare_exports, log, wait_for

AGENT_TUNING = ('[inputs]\nstart_at = "beginning"\nscan_interval = "50ms"\n'
                '[batch]\nmax_age = "100ms"\nmax_bytes = "64KiB"\n'
                '[retry]\ninitial_backoff = "100ms"\nmax_backoff = "500ms"\n')


def openssl(workdir, *args):
    res = subprocess.run(["openssl", *args], cwd=workdir, capture_output=True, timeout=60)
    if res.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {res.stderr.decode()}")


def make_ca(workdir, name):
    openssl(workdir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "30",
            "-subj", f"/CN=Faultline integration {name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return os.path.join(workdir, f"{name}.pem")


def make_server_cert(workdir, ca, name):
    """A certificate for 127.0.0.1 and localhost signed by `ca`: <name>.pem and <name>.key."""
    with open(os.path.join(workdir, "server-ext.cnf"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(workdir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=localhost")
    openssl(workdir, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
            f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "30",
            "-extfile", "server-ext.cnf")
    return os.path.join(workdir, f"{name}.pem"), os.path.join(workdir, f"{name}.key")


def write_lines(path, start, count, expected):
    with open(path, "ab") as out:
        for i in range(start, start + count):
            line = b"%06d tls test line %s\n" % (i, b"q" * (i % 50))
            out.write(line)
            expected.extend(line)


def served_certificate(port, ca_file):
    ctx = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


def pem_to_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def check_transport(agg, ca_file):
    # TLS 1.3 with ALPN http/1.1 and a verified chain.
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", agg.port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            version = tls.version()
            assert version == "TLSv1.3", version
            assert tls.selected_alpn_protocol() == "http/1.1", tls.selected_alpn_protocol()
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    log(f"ok  GET /healthz over {version} with ALPN http/1.1")
    # TLS 1.2 still works, with an ECDHE AEAD suite.
    ctx12 = ssl.create_default_context(cafile=ca_file)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", agg.port), timeout=10) as sock:
        with ctx12.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            name, version, _ = tls.cipher()
            assert version == "TLSv1.2" and name.startswith("ECDHE-") and (
                "GCM" in name or "CHACHA20" in name), tls.cipher()
    log(f"ok  TLS 1.2 negotiates {name}")
    # Plain HTTP to the HTTPS port: a plain 400 that says what to do.
    conn = http.client.HTTPConnection("127.0.0.1", agg.port, timeout=10)
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 400 and b"tls_required" in body and b"https://" in body, (resp.status,
                                                                                  body)
    log("ok  plain HTTP to the HTTPS port gets 400 tls_required")
    # A client that does not trust the CA fails the handshake.
    try:
        served_certificate(agg.port, None)
        raise AssertionError("a client without the test CA completed the handshake")
    except ssl.SSLCertVerificationError:
        pass


def main():
    if shutil.which("openssl") is None:
        sys.exit("the openssl command is missing (installers/deps.sh installs it)")
    with Workdir("tls") as work:
        make_ca(work, "ca")
        ca_file = os.path.join(work, "ca.pem")
        cert_file, key_file = make_server_cert(work, "ca", "server")
        agg = Aggregator(work, f'[server]\ntls_cert_file = "{cert_file}"\n'
                               f'tls_key_file = "{key_file}"\n')
        agg.ca_file = ca_file
        agg.start()
        assert agg.url.startswith("https://"), agg.url
        check_transport(agg, ca_file)
        status, _, _ = agg.request("GET", "/healthz")
        assert status == 200

        # --- an agent that trusts the CA ---------------------------------------------------
        agg.create_tenant("trusting")
        trusting = Agent(work, "trusting",
                         config=f'[server]\nca_file = "{ca_file}"\n' + AGENT_TUNING)
        trusting.enroll(agg.url, agg.create_token("trusting"), with_config=True)
        app_a = os.path.join(work, "app-a.log")
        expected_a = bytearray()
        write_lines(app_a, 0, 3000, expected_a)
        trusting.start(app_a)
        wait_for(lambda: len(agg.export("trusting")) >= len(expected_a), 60, "agent A's lines")
        compare_exports(bytes(expected_a), agg.export("trusting"))
        log("ok  agent with server.ca_file shipped 3000 lines over HTTPS, export identical")

        # --- an agent without the CA ---------------------------------------------------------
        agg.create_tenant("doubting")
        doubting = Agent(work, "doubting", config=AGENT_TUNING)
        token = agg.create_token("doubting")
        res = doubting.enroll(agg.url, token, check=False, with_config=True)
        err = res.stderr.decode()
        assert res.returncode != 0, "enroll without the CA succeeded"
        assert "certificate" in err.lower(), err
        log(f"ok  enroll without the CA fails: {err.strip()}")
        # The token was not spent by the failed attempt: enroll with the CA, then run without it.
        with open(doubting.config, "w") as f:
            f.write(f'[server]\nca_file = "{ca_file}"\n' + AGENT_TUNING)
        doubting.enroll(agg.url, token, with_config=True)
        with open(doubting.config, "w") as f:
            f.write(AGENT_TUNING)
        app_b = os.path.join(work, "app-b.log")
        expected_b = bytearray()
        write_lines(app_b, 0, 2000, expected_b)
        doubting.start(app_b)

        def failing_on_certificate():
            st = doubting.status_json()
            if not st:
                return None
            sender = st.get("sender", {})
            if sender.get("send_errors", 0) > 0 and "certificate" in sender.get("last_error", ""):
                return st
            return None
        st = wait_for(failing_on_certificate, 30, "sends to fail with a certificate error")
        log(f"ok  send without the CA fails: {st['sender']['last_error']}")
        write_lines(app_b, 2000, 1000, expected_b)
        wait_for(lambda: (s := doubting.status_json()) and
                 s["counters"]["lines_spooled"] >= 3000 and s, 30, "all lines spooled")
        assert agg.export("doubting") == b"", "lines arrived without a trusted certificate"
        doubting.stop()
        with open(doubting.config, "w") as f:
            f.write(f'[server]\nca_file = "{ca_file}"\n' + AGENT_TUNING)
        doubting.start(app_b)
        wait_for(lambda: len(agg.export("doubting")) >= len(expected_b), 60,
                 "agent B's spooled lines after the CA was configured")
        time.sleep(0.5)
        compare_exports(bytes(expected_b), agg.export("doubting"))
        log("ok  with the CA configured the spooled lines arrived, once each")

        # --- certificate reload on SIGHUP ------------------------------------------------------
        old_der = served_certificate(agg.port, ca_file)
        renewed_cert, renewed_key = make_server_cert(work, "ca", "renewed")
        shutil.copyfile(renewed_cert, cert_file)
        shutil.copyfile(renewed_key, key_file)
        agg.proc.send_signal(signal.SIGHUP)
        new_der = pem_to_der(renewed_cert)
        wait_for(lambda: served_certificate(agg.port, ca_file) == new_der, 10,
                 "the renewed certificate after SIGHUP")
        assert new_der != old_der
        log("ok  SIGHUP: new connections get the renewed certificate")
        write_lines(app_a, 3000, 1000, expected_a)
        wait_for(lambda: len(agg.export("trusting")) >= len(expected_a), 60,
                 "agent A's lines after the reload")
        compare_exports(bytes(expected_a), agg.export("trusting"))
        log("ok  agent A kept shipping across the reload")

        # A broken reload (a key that does not match) is refused; the current certificate stays.
        _, other_key = make_server_cert(work, "ca", "other")
        shutil.copyfile(other_key, key_file)
        agg.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: b"TLS reload failed" in open(agg.log_path, "rb").read(), 10,
                 "the failed reload in the log")
        assert served_certificate(agg.port, ca_file) == new_der
        assert agg.proc.poll() is None
        log("ok  a bad reload is logged and the renewed certificate stays in use")

        trusting.stop()
        doubting.stop()
        agg.stop()

        # A key that does not match fails the start (exit 2), naming the file.
        bad = Aggregator(work, f'[server]\ntls_cert_file = "{cert_file}"\n'
                               f'tls_key_file = "{key_file}"\n')
        res = subprocess.run([binary("faultline-aggregator"), "serve", "--config", bad.config,
                              "--data-dir", bad.data_dir, "--listen", "127.0.0.1:0"],
                             capture_output=True, timeout=60)
        err = res.stderr.decode()
        assert res.returncode == 2, (res.returncode, err)
        assert key_file in err and "does not match" in err, err
        log(f"ok  start with a mismatched key fails: {err.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
