"""The audit gateway against a real OIDC issuer (npm oauth2-mock-server,
tests/clients/oidc/issuer.mjs), a real upstream HTTP server written here,
and a real `evident serve` receiving the audit events: tokens accepted and
refused, credentials injected and never returned, policy, rate limit,
redaction (searched for in the store), truncation, upstream failures, and
replay against an identical and a changed upstream."""

import json
import os
import pathlib
import secrets
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import API_KEY, APP_KEY

HERE = pathlib.Path(__file__).parent
# Injected by the gateway; neither looks like a key, so only the gateway's
# knowledge of the injected values can keep them out of the store.
UPSTREAM_API_KEY = "upstream-api-" + secrets.token_urlsafe(12)
UPSTREAM_APP_KEY = "upstream-app-" + secrets.token_urlsafe(12)
MAX_BODY = 4096
AUDIENCE = "evident-gateway"


class Upstream:
    """An HTTP API on loopback that records what reached it. `changed`
    makes it answer differently (for replay)."""

    def __init__(self):
        self.seen = []
        self.changed = False
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body, headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            return b"".join(chunks)
                        chunks.append(chunk)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def stream(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for index, pause in enumerate([1.5, 0]):
                    chunk = (f"part {index} " + "." * 1000).encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                    time.sleep(pause)
                self.wfile.write(b"0\r\n\r\n")

            def handle_any(self):
                body = self.read_body()
                upstream.seen.append({"method": self.command, "path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                path = self.path.split("?")[0]
                key = self.headers.get("DD-API-KEY", "")
                if path == "/leak":
                    # An upstream careless with the credential it was sent.
                    self.answer(302 if "redirect" in self.path else 500,
                                {"error": f"invalid key {key}", "echo": key},
                                [("X-Echo-Key", key), ("Location", f"/login?key={key}")])
                elif path == "/big":
                    self.answer(200, json.dumps({"blob": "x" * 200_000}).encode())
                elif path == "/stream":
                    self.stream()
                elif path == "/upload":
                    self.answer(200, {"received_bytes": len(body)})
                elif path.startswith("/slow"):
                    time.sleep(3)
                    self.answer(200, {"slow": True})
                else:
                    answer = {"method": self.command, "path": self.path, "version": 2 if upstream.changed else 1}
                    if body:
                        answer["received"] = json.loads(body)
                    self.answer(201 if self.command == "POST" else 200, answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def issuer():
    oidc = HERE / "oidc"
    if not (oidc / "node_modules" / "oauth2-mock-server").is_dir():
        pytest.fail("run `npm ci` in tests/clients/oidc (scripts/test.sh does)")
    process = subprocess.Popen(["node", str(oidc / "issuer.mjs")], stdout=subprocess.PIPE, text=True)
    info = json.loads(process.stdout.readline())
    yield info
    process.terminate()
    process.wait(timeout=10)


def token(issuer, email="agent@example.com", groups=("agents",), alg="RS256", **options):
    claims = {"sub": email.split("@")[0], "email": email, "groups": list(groups), "aud": AUDIENCE}
    claims.update(options.pop("claims", {}))
    response = requests.post(f"{issuer['control']}/token", json={"claims": claims, "alg": alg, **options})
    response.raise_for_status()
    return response.json()["token"]


@pytest.fixture(scope="module")
def gateway(server, issuer):
    upstream = Upstream()
    closed_port = Upstream()
    closed_port.close()  # nothing listens there any more: connection refused
    with tempfile.TemporaryDirectory() as directory:
        config = pathlib.Path(directory) / "gateway.toml"
        config.write_text(f"""
listen = "127.0.0.1:0"
evident_url = "{server['base']}"
session_header = true

[oidc]
issuer = "{issuer['issuer']}"
audience = "{AUDIENCE}"
jwks_min_refresh_seconds = 0

[[route]]
prefix = "/down"
upstream = "{closed_port.url}"

[[route]]
prefix = "/slow"
upstream = "{upstream.url}"
timeout_seconds = 1

[[route]]
prefix = "/"
upstream = "{upstream.url}"
inject = {{ "DD-API-KEY" = "env:UPSTREAM_DD_API_KEY", "DD-APPLICATION-KEY" = "env:UPSTREAM_DD_APP_KEY" }}

[policy]
default = "allow"
[[policy.rule]]
name = "agents-no-delete"
effect = "deny"
groups = ["agents"]
methods = ["DELETE"]
[[policy.rule]]
name = "no-admin"
effect = "deny"
paths = ["/admin*", "/api/v1/admin*"]

[rate_limit]
requests_per_second = 5
burst = 40

[capture]
max_body_bytes = {MAX_BODY}
redact_json_paths = ["data.attributes.key"]
""")
        env = dict(os.environ, EVIDENT_API_KEY=API_KEY, UPSTREAM_DD_API_KEY=UPSTREAM_API_KEY,
                   UPSTREAM_DD_APP_KEY=UPSTREAM_APP_KEY, EVIDENT_LOG="warn")
        process = subprocess.Popen([server["binary"], "gateway", "--config", str(config)],
                                   stdout=subprocess.PIPE, env=env, text=True)
        line = process.stdout.readline()
        assert line.startswith("evident gateway listening on "), line
        base = line.split()[4]
        yield {"base": base, "upstream": upstream, "server": server, "issuer": issuer, "process": process}
        process.terminate()
        process.wait(timeout=30)
        upstream.close()


def search(server, query, expected=None, timeout=15):
    """Events matching `query`; waits until there are `expected` of them
    (the gateway sends its events in the background)."""
    deadline = time.time() + timeout
    while True:
        response = requests.post(f"{server['base']}/api/v2/audit/events/search",
                                 headers={"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY},
                                 json={"filter": {"query": query, "from": "now-1h"}, "page": {"limit": 1000}})
        assert response.status_code == 200, response.text
        events = [hit["attributes"] for hit in response.json()["data"]]
        if expected is None or len(events) >= expected or time.time() > deadline:
            if expected is not None:
                assert len(events) == expected, f"{query}: {len(events)} events, expected {expected}"
            return events
        time.sleep(0.2)


def call(gateway, method, path, bearer=None, session=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if session:
        headers["X-Evident-Session"] = session
    return requests.request(method, f"{gateway['base']}{path}", headers=headers, allow_redirects=False, **kwargs)


def test_a_valid_token_is_forwarded_with_the_injected_credential(gateway):
    bearer = token(gateway["issuer"])
    response = call(gateway, "GET", "/api/v1/monitor?name=cpu", bearer, session="forwarded-1")
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "/api/v1/monitor?name=cpu"
    seen = gateway["upstream"].seen[-1]
    assert seen["headers"]["dd-api-key"] == UPSTREAM_API_KEY
    assert seen["headers"]["dd-application-key"] == UPSTREAM_APP_KEY
    assert "authorization" not in seen["headers"], "the caller's token is not passed on"
    assert "x-evident-session" not in seen["headers"]
    assert UPSTREAM_API_KEY not in response.text and UPSTREAM_API_KEY not in str(response.headers)

    [event] = search(gateway["server"], "@gateway.session_id:forwarded-1", expected=1)
    attributes = event["attributes"]
    assert event["service"] == "evident-gateway"
    assert attributes["evt"] == {"name": "gateway.request", "outcome": "success", "actor": {"type": "agent"}}
    assert attributes["usr"]["email"] == "agent@example.com" and attributes["usr"]["id"] == "agent"
    assert attributes["http"]["method"] == "GET" and attributes["http"]["status_code"] == 200
    assert attributes["http"]["url_details"]["path"] == "/api/v1/monitor"
    assert attributes["http"]["url_details"]["queryString"] == {"name": "cpu"}
    assert attributes["http"]["url_details"]["host"] == "127.0.0.1"
    assert attributes["http"]["request"]["headers"]["authorization"] == "[redacted]"
    assert json.loads(attributes["http"]["response"]["body"])["path"] == "/api/v1/monitor?name=cpu"
    assert attributes["duration"] > 0 and attributes["network"]["client"]["ip"] == "127.0.0.1"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_other_algorithms(gateway, alg):
    response = call(gateway, "GET", "/api/v1/alg", token(gateway["issuer"], alg=alg))
    assert response.status_code == 200, response.text


def test_a_key_added_by_the_issuer_is_fetched_on_its_unknown_kid(gateway):
    issuer = gateway["issuer"]
    kid = requests.post(f"{issuer['control']}/keys", json={"alg": "ES256"}).json()["kid"]
    response = call(gateway, "GET", "/api/v1/rotated", token(issuer, kid_of_key=kid))
    assert response.status_code == 200, response.text


def tampered(bearer):
    import base64
    header, payload, signature = bearer.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["groups"] = ["admins"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_bad_tokens_are_refused_and_recorded(gateway):
    issuer = gateway["issuer"]
    cases = {
        "missing": (None, "missing bearer token"),
        "expired": (token(issuer, expires_in=-300), "token expired"),
        "audience": (token(issuer, claims={"aud": "someone-else"}), "audience"),
        "tampered": (tampered(token(issuer)), "signature does not verify"),
        "unknown-kid": (token(issuer, header_kid="no-such-key"), "not among the issuer's keys"),
        "garbage": ("not.a.jwt", "malformed token"),
        "future": (token(issuer, claims={"nbf": int(time.time()) + 600}), "not yet valid"),
        "issuer": (token(issuer, claims={"iss": "http://127.0.0.1:1"}), "issuer is not"),
        "within-leeway": (token(issuer, expires_in=-10), None),
    }
    within_leeway = cases.pop("within-leeway")[0]
    assert call(gateway, "GET", "/api/v1/leeway", within_leeway).status_code == 200, "exp 10 s ago: within 30 s"
    upstream_calls = len(gateway["upstream"].seen)
    for name, (bearer, reason) in cases.items():
        response = call(gateway, "GET", f"/api/v1/refused/{name}", bearer)
        assert response.status_code == 401, (name, response.text)
        assert reason in response.json()["errors"][0], (name, response.text)
        assert response.headers["WWW-Authenticate"].startswith("Bearer error=\"invalid_token\"")
    assert len(gateway["upstream"].seen) == upstream_calls, "nothing refused reached the upstream"
    events = search(gateway["server"], "@evt.name:gateway.request @gateway.outcome:unauthenticated", expected=len(cases))
    reasons = {event["attributes"]["http"]["url_details"]["path"].rsplit("/", 1)[1]: event["attributes"]["gateway"]["reason"]
               for event in events}
    for name, (_, reason) in cases.items():
        assert reason in reasons[name]
    search(gateway["server"], "@gateway.outcome:unauthenticated status:warn", expected=len(cases))


def test_the_credential_never_comes_back(gateway):
    bearer = token(gateway["issuer"], email="careless@example.com", groups=())
    for path in ["/leak", "/leak?redirect=1"]:
        response = call(gateway, "GET", path, bearer, session="leak")
        assert response.status_code in (302, 500)
        assert UPSTREAM_API_KEY not in response.text, "not in the body"
        assert all(UPSTREAM_API_KEY not in value for value in response.headers.values()), "not in headers"
        assert response.json()["echo"] == "*" * len(UPSTREAM_API_KEY), "masked, same length"
        assert response.headers["Location"] == "/login?key=" + "*" * len(UPSTREAM_API_KEY)


def test_policy_allows_and_denies(gateway):
    agent = token(gateway["issuer"])
    human = token(gateway["issuer"], email="sre@example.com", groups=["sre"])
    before = len(gateway["upstream"].seen)
    denied = call(gateway, "DELETE", "/api/v1/dashboard/abc", agent, session="policy")
    assert denied.status_code == 403
    assert denied.json() == {"errors": ['denied by rule "agents-no-delete"']}
    assert len(gateway["upstream"].seen) == before
    allowed = call(gateway, "DELETE", "/api/v1/dashboard/abc", human, session="policy")
    assert allowed.status_code == 200
    assert gateway["upstream"].seen[-1]["method"] == "DELETE"

    # The acceptance query: an agent's DELETE calls, found by identity and method.
    [event] = search(gateway["server"], "@evt.name:gateway.request @usr.email:agent@example.com @http.method:DELETE", expected=1)
    assert event["attributes"]["gateway"]["outcome"] == "denied"
    assert event["attributes"]["gateway"]["rule"] == "agents-no-delete"
    assert event["attributes"]["http"]["status_code"] == 403


def raw_call(gateway, method, target, bearer):
    """A call with its path sent exactly as written (requests and urllib3
    would resolve dot segments first)."""
    import http.client
    host, port = gateway["base"].removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        connection.putheader("Authorization", f"Bearer {bearer}")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_no_spelling_of_a_denied_path_reaches_the_upstream(gateway):
    """Routing, policy, the record and the upstream all see one canonical
    path: other spellings of a denied one are denied or refused."""
    human = token(gateway["issuer"], email="sre@example.com", groups=["sre"])
    before = len(gateway["upstream"].seen)
    denied = ["/admin/x", "/Admin/x", "/ADMIN/x", "/%61dmin/x", "/%41DMIN/x", "/%61%64%6d%69%6e/x",
              "/api/v1/Admin/users", "/api/v1/%61dmin", "/admin;jsessionid=1/x", "/admin"]
    refused = ["//admin/x", "/x/../admin/x", "/x/%2e%2e/admin/x", "/x/%2E%2E/admin/x", "/x/.%2e/admin/x",
               "/x/..;/admin/x", "/x/..%3b/admin/x", "/./admin/x", "/admin%2fx", "/x%2F..%2Fadmin",
               "/x%5c..%5cadmin", "/x\\..\\admin", "/../../etc/passwd", "/x/%2e%2e/%2e%2e/etc",
               "/api/v1//admin", "/api/v1/x/../admin", "/a%00b", "/a%zz"]
    for path in denied:
        status, body = raw_call(gateway, "GET", path, human)
        assert status == 403, (path, status, body)
        assert b"no-admin" in body, (path, body)
    for path in refused:
        status, body = raw_call(gateway, "GET", path, human)
        assert status == 400, (path, status, body)
    assert len(gateway["upstream"].seen) == before, [seen["path"] for seen in gateway["upstream"].seen[before:]]
    # Allowed paths still pass, escapes other than unreserved ones kept.
    status, _ = raw_call(gateway, "GET", "/api/v1/%61ll%20ok/", human)
    assert status == 200
    assert gateway["upstream"].seen[-1]["path"] == "/api/v1/all%20ok/"
    events = search(gateway["server"], "@evt.name:gateway.request @gateway.outcome:(denied OR bad_path) @usr.email:sre@example.com",
                    expected=len(denied) + len(refused))
    recorded = {event["attributes"]["http"]["url_details"]["path"] for event in events}
    assert "/admin/x" in recorded and "/Admin/x" in recorded


def test_cookies_and_session_names_stay_with_the_gateway(gateway):
    bearer = token(gateway["issuer"], email="browser@example.com", groups=())
    response = call(gateway, "GET", "/api/v1/cookies", bearer, headers={"Cookie": "evident_session=abc; other=1"})
    assert response.status_code == 200
    assert "cookie" not in gateway["upstream"].seen[-1]["headers"]


def test_rate_limit_per_identity(gateway):
    bearer = token(gateway["issuer"], email="hasty@example.com", groups=())
    with requests.Session() as session:
        statuses = [session.get(f"{gateway['base']}/api/v1/burst", headers={"Authorization": f"Bearer {bearer}"}).status_code
                    for _ in range(70)]
    assert statuses[:40] == [200] * 40, "the burst passes"
    assert 429 in statuses
    limited = call(gateway, "GET", "/api/v1/burst", bearer)
    while limited.status_code != 429:
        limited = call(gateway, "GET", "/api/v1/burst", bearer)
    assert int(limited.headers["Retry-After"]) >= 1
    other = call(gateway, "GET", "/api/v1/burst", token(gateway["issuer"], email="calm@example.com", groups=()))
    assert other.status_code == 200, "other identities are not limited"
    search(gateway["server"], "@gateway.outcome:rate_limited @usr.email:hasty@example.com", expected=statuses.count(429) + 1)


def test_secrets_never_reach_the_store(gateway):
    password = "pw-" + secrets.token_urlsafe(10)
    configured = "cfg-" + secrets.token_urlsafe(10)
    api_key_header = "hdr-" + secrets.token_urlsafe(10)
    aws_key = "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    body = {"user": "x", "password": password, "data": {"attributes": {"key": configured, "name": "kept-name"}},
            "note": f"use {aws_key} for the upload"}
    response = call(gateway, "POST", "/api/v2/keys?api_key=" + api_key_header, token(gateway["issuer"]),
                    session="redaction", json=body, headers={"X-Api-Key": api_key_header})
    assert response.status_code == 201
    received = response.json()["received"]
    assert received["password"] == password, "the upstream gets the call unchanged"
    [event] = search(gateway["server"], "@gateway.session_id:redaction", expected=1)
    stored = json.dumps(event)
    assert "kept-name" in stored
    data_dir = pathlib.Path(gateway["server"]["data_dir"])
    on_disk = b"".join(path.read_bytes() for path in data_dir.rglob("*") if path.is_file())
    for secret in [password, configured, api_key_header, aws_key, UPSTREAM_API_KEY, UPSTREAM_APP_KEY]:
        assert secret not in stored
        assert search(gateway["server"], f'"{secret}"') == [], f"{secret} is not searchable"
        assert secret.encode() not in on_disk, f"{secret} is nowhere in the data directory"


def test_bodies_beyond_the_limit_are_truncated_and_flagged(gateway):
    response = call(gateway, "GET", "/big", token(gateway["issuer"]), session="big")
    assert response.status_code == 200 and len(response.json()["blob"]) == 200_000, "the caller gets it all"
    [event] = search(gateway["server"], "@gateway.session_id:big", expected=1)
    recorded = event["attributes"]["http"]["response"]
    assert recorded["body_truncated"] is True
    assert recorded["body_size"] == len(response.content)
    assert len(recorded["body"]) == MAX_BODY


def test_upstream_failures_are_answered_and_recorded(gateway):
    bearer = token(gateway["issuer"])
    refused = call(gateway, "GET", "/down/x", bearer, session="failures")
    assert refused.status_code == 502
    assert "failed" in refused.json()["errors"][0]
    slow = call(gateway, "GET", "/slow/x", bearer, session="failures")
    assert slow.status_code == 504
    assert "did not answer within 1 s" in slow.json()["errors"][0]
    events = search(gateway["server"], "@gateway.session_id:failures", expected=2)
    assert {event["attributes"]["gateway"]["outcome"] for event in events} == {"upstream_error", "upstream_timeout"}
    search(gateway["server"], "@gateway.session_id:failures status:error", expected=2)


def replay(gateway, session, target):
    env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY)
    return subprocess.run([gateway["server"]["binary"], "replay", session, "--target", target,
                           "--server", gateway["server"]["base"], "--from", "now-1h"],
                          capture_output=True, text=True, env=env, timeout=60)


def test_replay_against_an_identical_and_a_changed_upstream(gateway):
    bearer = token(gateway["issuer"])
    session = "replay-" + secrets.token_hex(4)
    calls = [("GET", "/api/v1/items?page=1", None), ("POST", "/api/v1/items", {"name": "first"}),
             ("PUT", "/api/v1/items/1", {"name": "renamed"}), ("GET", "/api/v1/items/1", None)]
    for method, path, body in calls:
        assert call(gateway, method, path, bearer, session=session, json=body).status_code < 300
    search(gateway["server"], f"@gateway.session_id:{session}", expected=len(calls))

    identical = Upstream()
    try:
        result = replay(gateway, session, identical.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"session {session}: 4 calls replayed, 0 differ, 0 skipped" in result.stdout
        assert [(seen["method"], seen["path"]) for seen in identical.seen] == [(m, p) for m, p, _ in calls], "in order"
        assert json.loads(identical.seen[1]["body"]) == {"name": "first"}
        assert "dd-api-key" not in identical.seen[0]["headers"], "recordings hold no credential"

        identical.changed = True
        result = replay(gateway, session, identical.url)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "4 calls replayed, 4 differ" in result.stdout
        assert '-  "version": 1' in result.stdout and '+  "version": 2' in result.stdout
    finally:
        identical.close()
    missing = replay(gateway, "no-such-session", "http://127.0.0.1:9")
    assert missing.returncode == 1 and "no recorded calls" in missing.stderr


def test_bodies_stream_through_unbuffered(gateway):
    bearer = token(gateway["issuer"])
    started = time.time()
    with requests.get(f"{gateway['base']}/stream", headers={"Authorization": f"Bearer {bearer}",
                                                            "X-Evident-Session": "streaming"}, stream=True) as response:
        chunks = response.iter_content(chunk_size=None)
        first = next(chunks)
        first_after = time.time() - started
        rest = b"".join(chunks)
    assert first.startswith(b"part 0")
    assert first_after < 1.2, f"the first part arrived after {first_after:.2f} s: it was held until the end"
    assert b"part 1" in first + rest

    size = 16 << 20
    def upload():
        for _ in range(size // 65536):
            yield b"u" * 65536
    response = requests.post(f"{gateway['base']}/upload", data=upload(),
                             headers={"Authorization": f"Bearer {bearer}", "X-Evident-Session": "streaming"})
    assert response.status_code == 200 and response.json() == {"received_bytes": size}
    events = search(gateway["server"], "@gateway.session_id:streaming", expected=2)
    [recorded] = [event["attributes"]["http"]["request"] for event in events
                  if event["attributes"]["http"]["url_details"]["path"] == "/upload"]
    assert recorded["body_size"] == size and recorded["body_truncated"] is True
    assert len(recorded["body"]) == MAX_BODY


def test_the_gateway_runs_inside_serve(server, issuer):
    """`evident serve --gateway-config`: one process, the gateway's events into its own store."""
    upstream = Upstream()
    port = socket_port()
    with tempfile.TemporaryDirectory() as directory:
        config = pathlib.Path(directory) / "gateway.toml"
        config.write_text(f"""
listen = "127.0.0.1:0"
evident_url = "http://127.0.0.1:{port}"
[oidc]
issuer = "{issuer['issuer']}"
[[route]]
prefix = "/"
upstream = "{upstream.url}"
""")
        env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY, EVIDENT_LOG="warn")
        process = subprocess.Popen([server["binary"], "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                                    str(pathlib.Path(directory) / "data"), "--gateway-config", str(config)],
                                   stdout=subprocess.PIPE, env=env, text=True)
        try:
            gateway_base = None
            for line in process.stdout:
                if line.startswith("evident gateway listening on "):
                    gateway_base = line.split()[4]
                    break
            assert gateway_base
            bearer = token(issuer, claims={"aud": "anything"})  # no audience configured: not checked
            # By default a caller cannot name its session, nor pass cookies on.
            response = requests.get(f"{gateway_base}/inside", headers={
                "Authorization": f"Bearer {bearer}", "X-Evident-Session": "someone-elses-run", "Cookie": "a=b"})
            assert response.status_code == 200
            assert "cookie" not in upstream.seen[-1]["headers"]
            [event] = search({"base": f"http://127.0.0.1:{port}"}, "@evt.name:gateway.request", expected=1)
            assert event["attributes"]["http"]["url_details"]["path"] == "/inside"
            assert event["attributes"]["gateway"]["session_id"].startswith("tok-")
            # The gateway's counters are on the server's /metrics.
            metrics = requests.get(f"http://127.0.0.1:{port}/metrics").text
            sent = [line for line in metrics.splitlines() if line.startswith("evident_gateway_events_sent_total ")]
            assert sent and int(sent[0].split()[1]) >= 1, metrics
            assert "evident_gateway_events_rejected_total 0" in metrics, metrics
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0
            upstream.close()


def socket_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_agent_acting_for_a_person_and_its_token_session(gateway):
    """An `act` claim (RFC 8693) names the person the agent acts for; without
    a session header or claim, the calls of one token are one session."""
    bearer = token(gateway["issuer"], email="helper-bot@example.com", groups=(),
                   claims={"act": {"sub": "alice", "email": "alice@example.com"}})
    for _ in range(2):
        assert call(gateway, "GET", "/api/v1/acting", bearer).status_code == 200
    events = search(gateway["server"], "@evt.actor.on_behalf_of.email:alice@example.com", expected=2)
    for event in events:
        actor = event["attributes"]["evt"]["actor"]
        assert actor == {"type": "agent", "on_behalf_of": {"id": "alice", "email": "alice@example.com"}}
        assert event["attributes"]["usr"]["email"] == "helper-bot@example.com"
    sessions = {event["attributes"]["gateway"]["session_id"] for event in events}
    assert len(sessions) == 1 and sessions.pop().startswith("tok-")
    other = token(gateway["issuer"], email="helper-bot@example.com", groups=(), claims={"sid": "run-42"})
    assert call(gateway, "GET", "/api/v1/acting", other).status_code == 200
    search(gateway["server"], "@gateway.session_id:run-42 @evt.actor.type:user", expected=1)


def test_configuration_mistakes_stop_the_start(server, issuer):
    cases = {
        "wrong intake key": ({"EVIDENT_API_KEY": "not-the-key"}, "refuses the API key"),
        "missing credential": ({"EVIDENT_API_KEY": API_KEY}, "secret env:GATEWAY_TEST_UNSET is not set"),
    }
    with tempfile.TemporaryDirectory() as directory:
        config = pathlib.Path(directory) / "gateway.toml"
        for name, (env, message) in cases.items():
            inject = '{ "X-Key" = "env:GATEWAY_TEST_UNSET" }' if name == "missing credential" else "{}"
            config.write_text(f"""
listen = "127.0.0.1:0"
evident_url = "{server['base']}"
[oidc]
issuer = "{issuer['issuer']}"
[[route]]
prefix = "/"
upstream = "http://127.0.0.1:9"
inject = {inject}
""")
            environment = {k: v for k, v in os.environ.items() if k != "GATEWAY_TEST_UNSET"}
            result = subprocess.run([server["binary"], "gateway", "--config", str(config)], capture_output=True,
                                    text=True, env={**environment, **env}, timeout=30)
            assert result.returncode == 1, (name, result.stdout, result.stderr)
            assert message in result.stderr, (name, result.stderr)
        config.write_text("listen = 3\n")
        result = subprocess.run([server["binary"], "gateway", "--config", str(config)], capture_output=True, text=True)
        assert result.returncode == 1 and "invalid configuration" in result.stderr


def test_a_gateway_that_cannot_start_stops_serve(issuer):
    binary = os.environ["EVIDENT_BIN"]
    port = socket_port()
    with tempfile.TemporaryDirectory() as directory:
        config = pathlib.Path(directory) / "gateway.toml"
        config.write_text(f"""
listen = "127.0.0.1:0"
evident_url = "http://127.0.0.1:{port}"
evident_api_key = "env:GATEWAY_INTAKE_KEY"
[oidc]
issuer = "{issuer['issuer']}"
[[route]]
prefix = "/"
upstream = "http://127.0.0.1:9"
""")
        env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY, GATEWAY_INTAKE_KEY="wrong")
        result = subprocess.run([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                                 str(pathlib.Path(directory) / "data"), "--gateway-config", str(config)],
                                capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 1, result.stderr
        assert "refuses the API key" in result.stderr


def start_evident(binary, port, data_dir):
    env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY, EVIDENT_LOG="warn")
    process = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)],
                               stdout=subprocess.PIPE, env=env, text=True)
    for line in process.stdout:
        if line.startswith("evident listening on "):
            break
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    return process


def start_gateway(binary, config_text, directory):
    config = pathlib.Path(directory) / "gateway.toml"
    config.write_text(config_text)
    env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_LOG="warn")
    process = subprocess.Popen([binary, "gateway", "--config", str(config)], stdout=subprocess.PIPE, env=env, text=True)
    line = process.stdout.readline()
    assert line.startswith("evident gateway listening on "), line
    return process, line.split()[4]


@pytest.mark.parametrize("spool", [False, True])
def test_with_evident_down_every_forwarded_call_is_recorded_or_refused(issuer, spool):
    """40 concurrent calls with evident stopped. In memory, with a queue of
    5 places: a call is forwarded only when its event has a place (held
    from the call's arrival), and every forwarded call's event reaches
    evident once it is back. With a spool (and room for 100): every call is
    forwarded and a gateway killed meanwhile loses none of their events."""
    binary = os.environ["EVIDENT_BIN"]
    upstream = Upstream()
    port = socket_port()
    with tempfile.TemporaryDirectory() as directory:
        data = pathlib.Path(directory) / "data"
        spool_lines = f'[spool]\ndir = "{pathlib.Path(directory) / "spool"}"\n' if spool else ""
        config = f"""
listen = "127.0.0.1:0"
evident_url = "http://127.0.0.1:{port}"
{spool_lines}
[oidc]
issuer = "{issuer['issuer']}"
[[route]]
prefix = "/"
upstream = "{upstream.url}"
[capture]
queue_events = {100 if spool else 5}
"""
        evident = start_evident(binary, port, data)
        gateway, base = start_gateway(binary, config, directory)
        try:
            evident.terminate()
            assert evident.wait(timeout=30) == 0
            bearer = token(issuer, claims={"sid": f"evident-down-{spool}"})
            statuses = []

            def one(index):
                response = requests.get(f"{base}/concurrent/{index}", headers={"Authorization": f"Bearer {bearer}"})
                statuses.append(response.status_code)

            threads = [threading.Thread(target=one, args=(index,)) for index in range(40)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            forwarded = statuses.count(200)
            assert forwarded + statuses.count(503) == 40, statuses
            assert forwarded == len(upstream.seen) and forwarded >= 5, statuses
            if spool:
                # Everything drained to disk: nothing refused, then a kill -9.
                assert forwarded == 40, statuses
                time.sleep(1)
                gateway.kill()
                gateway.wait()
            evident = start_evident(binary, port, data)
            if spool:
                gateway, base = start_gateway(binary, config, directory)
            events = search({"base": f"http://127.0.0.1:{port}"}, f"@gateway.session_id:evident-down-{spool}",
                            expected=forwarded, timeout=30)
            assert {event["attributes"]["http"]["status_code"] for event in events} == {200}
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)
            evident.terminate()
            evident.wait(timeout=30)
            upstream.close()
