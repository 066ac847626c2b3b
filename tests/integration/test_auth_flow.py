"""Identity end to end with the real binary: `admin user create` (password on stdin), login over
HTTP with the session cookie and CSRF token, an API key created through the API and used as a
Bearer credential, `admin api-key create` (prints only the key), and logout."""
import json
import sys

from harness import Aggregator, Workdir, log

PASSWORD = "integration password 1"


def call(agg, method, path, body=None, headers=None):
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    status, resp_headers, raw = agg.request(method, path, body=data, headers=headers)
    lower = {k.lower(): v for k, v in resp_headers.items()}
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return status, lower, doc


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    with Workdir("auth") as work:
        agg = Aggregator(work).start()
        agg.create_tenant("acme")

        # The CLI refuses a short password and writes nothing.
        short = agg.admin("user", "create", "--tenant", "acme", "--email", "o@example.com",
                          "--role", "owner", stdin=b"too short\n", check=False)
        expect(short.returncode == 2, f"short password: exit {short.returncode}")
        res = agg.admin("user", "create", "--tenant", "acme", "--email", "Owner@Example.com",
                        "--role", "owner", stdin=(PASSWORD + "\n").encode())
        user_id = res.stdout.decode().strip()
        expect(user_id.startswith("usr_"), f"user id {user_id!r}")
        log(f"created user {user_id}")

        status, headers, doc = call(agg, "POST", "/v1/auth/login",
                                    {"email": "owner@example.com", "password": "wrong password!"})
        expect(status == 401, f"wrong password: {status}")
        status, headers, doc = call(agg, "POST", "/v1/auth/login",
                                    {"email": "owner@example.com", "password": PASSWORD})
        expect(status == 200, f"login: {status} {doc}")
        cookie = headers["set-cookie"]
        for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
            expect(attribute in cookie, f"cookie lacks {attribute}: {cookie}")
        session = cookie.split(";")[0]  # faultline_session=fls_...
        csrf = doc["csrf_token"]
        expect(doc["role"] == "owner" and doc["tenant"]["name"] == "acme", f"login body {doc}")

        status, _, doc = call(agg, "GET", "/v1/auth/me", headers={"Cookie": session})
        expect(status == 200 and doc["email"] == "owner@example.com", f"me: {status} {doc}")
        # Without the CSRF token a cookie cannot create anything.
        status, _, _ = call(agg, "POST", "/v1/api-keys", {"role": "viewer"},
                            headers={"Cookie": session})
        expect(status == 403, f"no CSRF: {status}")
        status, _, doc = call(agg, "POST", "/v1/api-keys", {"role": "viewer", "name": "it"},
                              headers={"Cookie": session, "X-CSRF-Token": csrf})
        expect(status == 201, f"create key: {status} {doc}")
        key = doc["key"]
        status, _, doc = call(agg, "GET", "/v1/members",
                              headers={"Authorization": "Bearer " + key})
        expect(status == 200 and len(doc["members"]) == 1, f"members by key: {status} {doc}")
        status, _, _ = call(agg, "POST", "/v1/invitations", {"email": "x@example.com",
                                                              "role": "viewer"},
                            headers={"Authorization": "Bearer " + key})
        expect(status == 403, f"viewer key invites: {status}")

        # The CLI key: exactly one line on stdout, the key.
        res = agg.admin("api-key", "create", "--tenant", "acme", "--role", "responder",
                        "--ttl", "1h")
        out = res.stdout.decode()
        expect(out.count("\n") == 1 and out.startswith("flk_"), f"api-key stdout {out!r}")
        status, _, doc = call(agg, "GET", "/v1/auth/me",
                              headers={"Authorization": "Bearer " + out.strip()})
        expect(status == 200 and doc["role"] == "responder", f"cli key: {status} {doc}")

        status, headers, _ = call(agg, "POST", "/v1/auth/logout",
                                  headers={"Cookie": session, "X-CSRF-Token": csrf})
        expect(status == 200, f"logout: {status}")
        status, _, _ = call(agg, "GET", "/v1/auth/me", headers={"Cookie": session})
        expect(status == 401, f"after logout: {status}")
        # The API key outlives the session that made it.
        status, _, _ = call(agg, "GET", "/v1/members", headers={"Authorization": "Bearer " + key})
        expect(status == 200, f"key after logout: {status}")
        agg.stop()
        log("auth flow ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
