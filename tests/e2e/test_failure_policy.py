"""Issue 21 part 4: the failure policy for every dependency of the edge, end to end through the real
Worker in workerd (`wrangler dev`), each dependency really stopped, each for a route whose policy for it
is `open` and one whose policy is `strict`:

- JWKS: one issuer's JWKS server is started and shut down before the edge's first fetch (the port
  refuses connections), so no key set is ever loaded: 503 under both policies, since nothing could
  verify a token; another's serves its keys once (fresh for 1 s, `JWKS_MAX_STALENESS_SECONDS=0`) and
  is then shut down: `strict` refuses, `open` keeps verifying with the last keys it fetched;
- revocation feed: the origin answers 503 on `/internal/revocations` (and everything else normally),
  so the isolate's list never syncs and is stale;
- rate-limit Durable Object: the Worker's `RATE_LIMITER` namespace is bound to the `RateLimiter` class
  of another Worker (`script_name`) that is not running, so every call to the object fails; the last
  test starts that Worker (the same bundle) and stops it again;
- rate-limiting binding: the rule's binding (`RL_API`) is not bound in this Worker (its config has no
  `[[ratelimits]]`), so `limit()` cannot be called.

`strict` must answer 503 with the dependency's reason id and `Retry-After` and not reach the origin;
`open` must reach the origin (for JWKS: as the verified user, checked with the stale keys) and log one
structured line naming the dependency.
The origin is a stub that records the identity it receives."""
import json, re, secrets, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests

from conftest import ROOT, b64u, port, port_free, start_edge, stop

ORIGIN_PORT, JWKS_PORT, EDGE_PORT, HOST_PORT, STALE_JWKS_PORT = port(31), port(32), port(33), port(34), port(35)
EDGE = f"http://127.0.0.1:{EDGE_PORT}"
AUD = "edge-auth"
HS_SECRET = secrets.token_bytes(32)


def _moved_key():
    """The Ed25519 key of `https://moved.test`, whose configured JWKS URL answers 302 to a JWKS
    that would verify its tokens: the edge must not follow it."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    key = ed25519.Ed25519PrivateKey.generate()
    x = b64u(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    return key, {"kty": "OKP", "crv": "Ed25519", "kid": "mv-1", "alg": "EdDSA", "x": x}


MOVED_KEY, MOVED_JWK = _moved_key()
# The Worker hosting the Durable Object: not running, except in the last test.
DO_HOST = "edge-auth-failure-policy-rl-host"


class StubOrigin:
    """200 with the identity headers it received; 503 on the revocation feed while `feed_up` is off."""

    def __init__(self):
        self.feed_up = False
        self.feed_redirects = False  # 302 to /feed-elsewhere instead of 503
        self.seen: list[tuple[str, str | None]] = []
        self.elsewhere: list[tuple[str, str | None]] = []  # (path, envelope signature header)
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                location = None
                if self.path.startswith("/internal/revocations"):
                    if outer.feed_redirects:
                        code, body, location = 302, b"", "/feed-elsewhere" + self.path[len("/internal/revocations"):]
                    else:
                        code, body = (200, b'{"revocations":[],"next":"c0"}') if outer.feed_up else (503, b"feed down")
                elif self.path == "/jwks-moved":
                    code, body, location = 302, b"", "/jwks-here"
                elif self.path.startswith(("/feed-elsewhere", "/jwks-here")):
                    outer.elsewhere.append((self.path, self.headers.get("x-auth-signature")))
                    code, body = 200, (b'{"revocations":[],"next":"c0"}' if self.path.startswith("/feed")
                                       else json.dumps({"keys": [MOVED_JWK]}).encode())
                else:
                    user = self.headers.get("x-auth-user")
                    outer.seen.append((self.path, user))
                    code, body = 200, json.dumps({"path": self.path, "user": user}).encode()
                self.send_response(code)
                if location:
                    self.send_header("location", location)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", ORIGIN_PORT), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reached(self, path: str) -> bool:
        return any(p == path for p, _ in self.seen)


def stopped_jwks_server() -> None:
    """A JWKS endpoint that was up and is shut down before anyone fetched from it."""
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            raise AssertionError("the JWKS server is stopped")

    httpd = ThreadingHTTPServer(("127.0.0.1", JWKS_PORT), H)
    httpd.server_close()
    assert port_free(JWKS_PORT)


class OnceJwks:
    """A JWKS server for `https://stale.test` (an Ed25519 key, `Cache-Control: max-age=1`) that the
    test shuts down once the edge has fetched from it."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ed25519
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self.key = ed25519.Ed25519PrivateKey.generate()
        x = b64u(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        body = json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "st-1", "alg": "EdDSA", "x": x}]}).encode()
        outer = self
        self.fetches = 0

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.fetches += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("cache-control", "max-age=1")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", STALE_JWKS_PORT), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        assert port_free(STALE_JWKS_PORT)


STALE_JWKS: "OnceJwks | None" = None


def worker_config(tmp) -> "pathlib.Path":
    """The Worker as wrangler.toml builds it (same bundle and assets), with the Durable Object
    namespace bound to a Worker that is not running and no rate-limiting binding."""
    path = tmp / "failure-policy.wrangler.toml"
    path.write_text(f'''name = "edge-auth-failure-policy"
main = "{ROOT}/build/index.js"
compatibility_date = "2026-04-01"

[assets]
directory = "{ROOT}/www"
binding = "ASSETS"
run_worker_first = true

[durable_objects]
bindings = [{{ name = "RATE_LIMITER", class_name = "RateLimiter", script_name = "{DO_HOST}" }}]
''')
    return path


def route(id_: str, access, failure: dict, **extra) -> dict:
    return {"id": id_, "methods": ["GET"], "path": f"/{id_}", "access": access, "failure": failure, **extra}


def edge_vars() -> dict:
    hs_jwk = {"kty": "oct", "kid": "hs-1", "alg": "HS256", "k": b64u(HS_SECRET)}
    return {
        "ORIGIN_URL": f"http://127.0.0.1:{ORIGIN_PORT}",
        "ENVELOPE_SECRET": secrets.token_hex(32),
        "ISSUERS": [
            {"issuer": "https://idp.test", "audiences": [AUD], "jwks_url": f"http://127.0.0.1:{JWKS_PORT}/jwks.json"},
            {"issuer": "https://hs.test", "audiences": [AUD], "jwks_secret": "TEST_HS_JWKS"},
            {"issuer": "https://stale.test", "audiences": [AUD],
             "jwks_url": f"http://127.0.0.1:{STALE_JWKS_PORT}/jwks.json"},
            {"issuer": "https://moved.test", "audiences": [AUD], "jwks_url": f"http://127.0.0.1:{ORIGIN_PORT}/jwks-moved"},
        ],
        # Keys are usable for 1 s (the server's max-age) and not one second past it, unless the
        # route's `jwks` policy is open.
        "JWKS_MIN_TTL_SECONDS": "1",
        "JWKS_MAX_STALENESS_SECONDS": "0",
        "TEST_HS_JWKS": {"keys": [hs_jwk]},
        "REVOCATION_POLL_SECONDS": "1",
        "ROUTES": [
            {"id": "health", "methods": ["GET"], "path": "/healthz", "access": "public"},
            route("jwks-open", "authenticated", {"jwks": "open"}),
            route("jwks-strict", "authenticated", {"jwks": "strict"}),
            route("rev-open", "authenticated", {"revocations": "open"}),
            route("rev-strict", "authenticated", {"revocations": "strict"}),
            route("do-open", "public", {"rate_limiter": "open"}, rate_limits=["do_route"]),
            route("do-strict", "public", {"rate_limiter": "strict"}, rate_limits=["do_route"]),
            route("do-flood", "public", {"rate_limiter": "open"}, rate_limits=["do_route"]),
            route("rl-open", "public", {"rate_limit_binding": "open"}, rate_limits=["binding_route"]),
            route("rl-strict", "public", {"rate_limit_binding": "strict"}, rate_limits=["binding_route"]),
        ],
        "RATE_LIMITS": [
            {"id": "do_route", "key": ["route"], "limit": 100, "period_secs": 60, "backend": "durable"},
            {"id": "binding_route", "key": ["route"], "limit": 600, "period_secs": 60, "backend": "binding",
             "binding": "RL_API"},
        ],
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    global STALE_JWKS
    for p in (ORIGIN_PORT, JWKS_PORT, EDGE_PORT, STALE_JWKS_PORT):
        assert port_free(p), f"port {p} on 127.0.0.1 is busy: stop whatever runs there"
    tmp = tmp_path_factory.mktemp("failure-policy")
    origin = StubOrigin()
    stopped_jwks_server()
    STALE_JWKS = OnceJwks()
    edge = start_edge(tmp, edge_vars(), EDGE_PORT, "edge-failure", config=worker_config(tmp))
    yield origin, tmp / "edge-failure.log"
    stop(edge)
    if not port_free(STALE_JWKS_PORT):
        STALE_JWKS.stop()
    origin.httpd.shutdown()
    origin.httpd.server_close()


def token(iss: str) -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": AUD, "sub": "alice", "sid": "s-" + secrets.token_hex(4), "iat": now, "nbf": now,
              "exp": now + 300, "permissions": ["read"]}
    if iss == "https://hs.test":
        return jwt.encode(claims, HS_SECRET, algorithm="HS256", headers={"kid": "hs-1"})
    if iss == "https://stale.test":
        return jwt.encode(claims, STALE_JWKS.key, algorithm="EdDSA", headers={"kid": "st-1"})
    if iss == "https://moved.test":
        return jwt.encode(claims, MOVED_KEY, algorithm="EdDSA", headers={"kid": "mv-1"})
    # An Ed25519 key the edge could never have: its JWKS is unreachable anyway.
    from cryptography.hazmat.primitives.asymmetric import ed25519
    return jwt.encode(claims, ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "ed-1"})


def failure_line(log, dependency: str, rule: str, policy: str, detail_has: str = "") -> dict:
    """The edge's structured line for this failure (wrangler writes the Worker's console a moment
    later: 10 s at most)."""
    deadline = time.time() + 10
    while True:
        for m in re.finditer(r'\{[^\n]*"dependency"[^\n]*\}', log.read_text()):
            try:
                line = json.loads(m.group(0))
            except json.JSONDecodeError:
                continue
            if (line.get("dependency"), line.get("rule"), line.get("failure")) == (dependency, rule, policy) \
                    and detail_has in line.get("detail", ""):
                return line
        if time.time() > deadline:
            raise AssertionError(f"no {dependency}/{rule}/{policy} line in the edge log:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def get(path: str, tok: str | None = None) -> requests.Response:
    headers = {"authorization": f"Bearer {tok}"} if tok else {}
    return requests.get(f"{EDGE}{path}", headers=headers, timeout=30)


def assert_503(r: requests.Response, reason: str, retry_after: int | None = None):
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.json()["error"] == reason, r.text
    assert int(r.headers["retry-after"]) >= 1, r.headers
    if retry_after is not None:
        assert int(r.headers["retry-after"]) == retry_after, r.headers


def test_jwks_never_fetched_answers_503_jwks_unavailable_under_both_policies(world):
    origin, log = world
    for path, policy in (("/jwks-strict", "strict"), ("/jwks-open", "open")):
        for _ in range(2):  # the first request waits for the fetch, the next one meets the back-off
            assert_503(get(path, token("https://idp.test")), "jwks_unavailable")
        assert not origin.reached(path), "nothing could verify the token: it must not reach the origin"
        line = failure_line(log, "jwks", path.lstrip("/"), policy)
        assert line["event"] == "jwks_unavailable" and "https://idp.test" in line["detail"]


def test_jwks_stopped_after_a_fetch_strict_refuses_open_verifies_with_the_stale_keys(world):
    origin, log = world
    # Up: both routes verify with fresh keys.
    for path in ("/jwks-strict", "/jwks-open"):
        r = get(path, token("https://stale.test"))
        assert r.status_code == 200, r.text
        assert r.json() == {"path": path, "user": "alice"}
    assert STALE_JWKS.fetches >= 1
    STALE_JWKS.stop()
    time.sleep(2.5)  # past the keys' 1 s freshness (and the 0 s maximum staleness)
    assert_503(get("/jwks-strict", token("https://stale.test")), "jwks_unavailable")
    r = get("/jwks-open", token("https://stale.test"))
    assert r.status_code == 200, r.text
    assert r.json() == {"path": "/jwks-open", "user": "alice"}, "verified with the last keys fetched"
    line = failure_line(log, "jwks", "jwks-open", "open", detail_has="maximum staleness")
    assert "https://stale.test" in line["detail"], line
    # A token the stale keys do not verify is still refused; no token still needs one.
    from cryptography.hazmat.primitives.asymmetric import ed25519
    now = int(time.time())
    forged = jwt.encode({"iss": "https://stale.test", "aud": AUD, "sub": "mallory", "iat": now, "exp": now + 300},
                        ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "st-1"})
    assert get("/jwks-open", forged).status_code == 401
    assert get("/jwks-open").status_code == 401


def test_revocation_feed_failing_strict_route_answers_503_revocations_unavailable(world):
    origin, log = world
    r = get("/rev-strict", token("https://hs.test"))
    # REVOCATION_POLL_SECONDS=1: when the next poll runs.
    assert_503(r, "revocations_unavailable", retry_after=1)
    assert not origin.reached("/rev-strict")
    line = failure_line(log, "revocations", "rev-strict", "strict")
    assert line["event"] == "revocations_unavailable"


def test_revocation_feed_failing_open_route_serves_the_user_and_logs(world):
    origin, log = world
    r = get("/rev-open", token("https://hs.test"))
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "alice"
    line = failure_line(log, "revocations", "rev-open", "open")
    assert line["event"] == "revocations_unavailable"


def test_a_redirected_jwks_url_is_not_followed(world):
    """The issuer's JWKS URL answers 302 to a key set that would verify the token. Keys are trusted
    for the URL configured only: no key set, 503, and the redirect's target is never asked."""
    origin, log = world
    for path in ("/jwks-strict", "/jwks-open"):
        before = len(origin.seen)
        assert_503(get(path, token("https://moved.test")), "jwks_unavailable")
        assert len(origin.seen) == before, "refused at the edge: nothing reached the origin"
    deadline = time.time() + 10  # wrangler writes the Worker's console a moment later
    fetch_failed = '"detail":"HTTP 302: a redirect, not followed","event":"jwks_fetch_failed","issuer":"https://moved.test"'
    while fetch_failed not in log.read_text():
        assert time.time() < deadline, f"no jwks_fetch_failed line for the redirect:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    assert not any(p.startswith("/jwks-here") for p, _ in origin.elsewhere), origin.elsewhere


def test_a_redirected_revocation_feed_is_a_failed_poll_and_its_signature_goes_nowhere_else(world):
    """The feed's request is signed with the envelope secret. A 302 from it is a failed poll (strict
    routes still refuse), and the signed request is never re-sent to where the redirect points."""
    origin, log = world
    origin.feed_redirects = True
    try:
        deadline = time.time() + 10
        while "HTTP 302: a redirect, not followed" not in log.read_text():
            assert_503(get("/rev-strict", token("https://hs.test")), "revocations_unavailable")
            assert time.time() < deadline, f"no redirected poll in the edge log:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)  # REVOCATION_POLL_SECONDS=1: the next poll follows a request
        assert not origin.reached("/rev-strict")
        assert origin.elsewhere == [], "the signed feed request followed the redirect"
    finally:
        origin.feed_redirects = False


def test_durable_object_unreachable_strict_route_answers_503_rate_limiter_unavailable(world):
    origin, log = world
    assert_503(get("/do-strict"), "rate_limiter_unavailable", retry_after=1)
    assert not origin.reached("/do-strict")
    line = failure_line(log, "rate_limiter", "do-strict", "strict")
    assert line["event"] == "rate_limiter_unavailable" and "do_route" in line["detail"]


def test_durable_object_unreachable_open_route_counts_per_isolate_and_logs(world):
    origin, log = world
    r = get("/do-open")
    assert r.status_code == 200, r.text
    # Counted by the isolate instead: the response still carries the count (100 per 60 s, one spent).
    assert r.headers["ratelimit"].startswith('"do_route";r=99;'), r.headers
    line = failure_line(log, "rate_limiter", "do-open", "open")
    assert line["event"] == "rate_limiter_unavailable"


def test_rate_limit_binding_failing_strict_route_answers_503_rate_limit_binding_unavailable(world):
    origin, log = world
    assert_503(get("/rl-strict"), "rate_limit_binding_unavailable", retry_after=1)
    assert not origin.reached("/rl-strict")
    line = failure_line(log, "rate_limit_binding", "rl-strict", "strict")
    assert "RL_API" in line["detail"]


def test_rate_limit_binding_failing_open_route_counts_per_isolate_and_logs(world):
    origin, log = world
    r = get("/rl-open")
    assert r.status_code == 200, r.text
    assert r.headers["ratelimit"].startswith('"binding_route";r=599;'), r.headers
    failure_line(log, "rate_limit_binding", "rl-open", "open")


def test_a_flood_on_an_open_route_logs_one_line_a_second_and_counts_the_rest(world):
    origin, log = world
    answers = [get("/do-flood") for _ in range(20)]
    # The open policy serves every request. The one other answer allowed is the origin's connection
    # dropping mid-forward (503 origin_unavailable, "Network connection lost"): wrangler dev reloads
    # this Worker when the local dev registry changes under its cross-Worker Durable Object binding,
    # which CI saw once (session 14). It is not the policy under test, and the limiter's failure was
    # still counted for that request, so the count below stays 20.
    other = [(r.status_code, r.text) for r in answers
             if r.status_code != 200 and not (r.status_code == 503 and r.json().get("error") == "origin_unavailable")]
    assert not other, other
    assert sum(r.status_code == 200 for r in answers) >= 18, [r.status_code for r in answers]
    time.sleep(1.1)
    get("/healthz")  # the first request of a later second writes the count of the last one
    deadline = time.time() + 10
    while True:
        lines = [json.loads(m.group(0)) for m in re.finditer(r'\{"[^\n]*"rule":"do-flood"[^\n]*\}', log.read_text())]
        written = [l for l in lines if l.get("event") == "rate_limiter_unavailable"]
        counted = sum(l["count"] for l in lines if l.get("event") == "dependency_failures_suppressed")
        # Every failure is either written or counted, never dropped.
        if len(written) + counted >= 20 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert len(written) + counted == 20, (written, counted)
    assert 1 <= len(written) <= 5, f"one line per second, not one per request: {len(written)}"


def host_config(tmp) -> "pathlib.Path":
    """The Worker that hosts the `RateLimiter` objects the edge's namespace points at."""
    path = tmp / "rl-host.wrangler.toml"
    path.write_text(f'''name = "{DO_HOST}"
main = "{ROOT}/build/index.js"
compatibility_date = "2026-04-01"

[durable_objects]
bindings = [{{ name = "RATE_LIMITER", class_name = "RateLimiter" }}]

[[migrations]]
tag = "v1"
new_sqlite_classes = ["RateLimiter"]
''')
    return path


def until(check, seconds: float = 30):
    deadline = time.time() + seconds
    while True:
        r = check()
        if r is not None or time.time() > deadline:
            return r
        time.sleep(0.3)


def test_the_durable_object_counts_while_its_worker_runs_and_stopping_it_is_the_failure(world, tmp_path):
    origin, log = world
    assert port_free(HOST_PORT)
    host = start_edge(tmp_path, {}, HOST_PORT, "rl-host", config=host_config(tmp_path))
    try:
        # Running: the strict route is served, so the object answered (strict never counts locally).
        r = until(lambda: (lambda r: r if r.status_code == 200 else None)(get("/do-strict")))
        assert r is not None, "the edge never reached the Durable Object of the running host"
        assert r.headers["ratelimit"].startswith('"do_route";r='), r.headers
        assert origin.reached("/do-strict")
    finally:
        stop(host)
    # Stopped: the same route answers 503 again.
    r = until(lambda: (lambda r: r if r.status_code == 503 else None)(get("/do-strict")))
    assert r is not None, "still served after the Durable Object's Worker stopped"
    assert_503(r, "rate_limiter_unavailable", retry_after=1)
