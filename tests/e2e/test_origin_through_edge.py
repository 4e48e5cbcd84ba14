"""Issue 3 (and the revocation part of issue 5) end to end: accounts, sessions and rotating
refresh tokens at the origin, used through the real Worker, which validates the origin's tokens
with keys fetched from the origin's JWKS."""
import re, secrets, threading, time
import http.server
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import port, EDGE, ORIGIN, port_free, start_edge, stop

FRESH_PORT = port(8)


def signup_and_login(email=None, password=None):
    email = email or f"e2e-{secrets.token_hex(4)}@example.com"
    password = password or f"long passphrase {secrets.token_hex(6)}"
    r = requests.post(f"{EDGE}/auth/signup", json={"email": email, "password": password}, timeout=10)
    assert r.status_code == 201, r.text
    r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    return email, password, r.json()


def me(access):
    return requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {access}"}, timeout=10)


def wait_for_401(access, reason, limit_s):
    """Seconds until the edge refuses `access` with `reason` (polling every 50 ms)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s + 5:
        r = me(access)
        if r.status_code == 401:
            assert r.json()["error"] == reason, r.text
            return time.perf_counter() - start
        time.sleep(0.05)
    raise AssertionError(f"still accepted after {limit_s + 5} s")


def test_signup_login_me_refresh_and_reuse_detection_kill_the_session(system):
    _, _, t = signup_and_login()
    r = me(t["access_token"])
    assert r.status_code == 200, r.text
    assert r.json()["user"] == t["user_id"]
    assert r.json()["session"] == t["session_id"]

    r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert t2["refresh_token"] != t["refresh_token"]
    assert me(t2["access_token"]).status_code == 200

    # The old refresh token again: reuse detection revokes the whole session.
    r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
    assert r.status_code == 401, r.text
    assert "refresh_token_reused" in r.text
    r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": t2["refresh_token"]}, timeout=10)
    assert r.status_code == 401, "the rotated-to token died with its session"
    delay = wait_for_401(t2["access_token"], "token_revoked", limit_s=2)
    assert delay <= 2.0, delay


def test_logout_at_the_origin_is_enforced_at_the_edge_within_the_poll_interval_plus_1s(system):
    _, _, t = signup_and_login()
    assert me(t["access_token"]).status_code == 200
    assert me(t["access_token"]).status_code == 200  # now a cached decision
    r = requests.post(f"{EDGE}/auth/logout", headers={"Authorization": f"Bearer {t['access_token']}"}, timeout=10)
    assert r.status_code == 204, r.text
    delay = wait_for_401(t["access_token"], "token_revoked", limit_s=2)
    print(f"\nrevocation delay after logout: {delay * 1000:.0f} ms (poll interval 1 s)")
    assert delay <= 1.0 + 1.0, delay


def test_the_edge_keeps_validating_across_an_origin_key_rotation(system):
    email, password, before = signup_and_login()
    assert me(before["access_token"]).status_code == 200
    out = system.origin_cli("rotate-keys")
    assert "new signing key" in out
    r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=10)
    after = r.json()
    import jwt as pyjwt
    assert pyjwt.get_unverified_header(after["access_token"])["kid"] != pyjwt.get_unverified_header(before["access_token"])["kid"]
    assert me(after["access_token"]).status_code == 200, "new kid: the edge refetched the JWKS"
    assert me(before["access_token"]).status_code == 200, "tokens of the retired key stay valid until they expire"


def test_wrong_passwords_and_unknown_users_get_the_same_answer(system):
    email, _, _ = signup_and_login()
    a = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": "wrong password 123"}, timeout=10)
    b = requests.post(f"{EDGE}/auth/login", json={"email": "nobody-" + email, "password": "wrong password 123"}, timeout=10)
    assert a.status_code == b.status_code == 401
    assert a.json()["error"] == b.json()["error"] == "invalid_credentials"


def logged_out_and_live_tokens(system):
    """A user who logged out at the origin before a fresh edge starts: the login, an HS256 token of the
    logged-out session and one without a session (inline keys: no JWKS fetch on the way)."""
    _, _, t = signup_and_login()
    r = requests.post(f"{EDGE}/auth/logout", headers={"Authorization": f"Bearer {t['access_token']}"}, timeout=10)
    assert r.status_code == 204, r.text
    revoked = system.hs.sign(system.claims(iss="https://hs.test", sub=t["user_id"], sid=t["session_id"]))
    return t, revoked, system.token("HS256", sub=t["user_id"])


def test_a_fresh_isolate_syncs_revocations_before_its_first_decision(system, tmp_path):
    """A newly started Worker knows no revocations. Its first authenticated request must wait for the
    revocation sync, or a logged-out token would pass on every fresh isolate. That request still
    takes the synchronous path (fast.rs `Plan::Prepare`: sync, then decide) and its log line says so.
    This Worker runs with ACCESS_LOG=denials: the denial gets its line, the request the origin served doesn't."""
    assert port_free(FRESH_PORT), f"port {FRESH_PORT} on 127.0.0.1 is busy"
    t, revoked, live = logged_out_and_live_tokens(system)
    fresh = start_edge(tmp_path, {**system.edge_vars, "ACCESS_LOG": "denials"}, FRESH_PORT, "edge-fresh")  # its readiness probe is a public route
    try:
        rid = f"fresh-{secrets.token_hex(6)}"
        r = requests.get(f"http://127.0.0.1:{FRESH_PORT}/api/me",
                         headers={"Authorization": f"Bearer {revoked}", "X-Request-Id": rid}, timeout=30)
        assert r.status_code == 401 and r.json()["error"] == "token_revoked", r.text
        served = f"served-{secrets.token_hex(6)}"
        r = requests.get(f"http://127.0.0.1:{FRESH_PORT}/api/me",
                         headers={"Authorization": f"Bearer {live}", "X-Request-Id": served}, timeout=30)
        assert r.status_code == 200 and r.json()["user"] == t["user_id"], r.text
        time.sleep(0.5)
        log = (tmp_path / "edge-fresh.log").read_text()
        m = re.search(r'"request_id":"%s","rule":"[^"]*","path":"(sync|async)","decision":"deny","reason":"token_revoked"' % rid, log)
        assert m, f"no deny line for {rid} in the fresh edge's log"
        assert m.group(1) == "sync", "the first authenticated request went to the full path"
        assert f'"request_id":"{served}"' not in log, "ACCESS_LOG=denials still logged a served request"
    finally:
        stop(fresh)


SLOW_FEED_PORT = port(37)
FEED_DELAY_S = 1.0


class SlowFeed(http.server.ThreadingHTTPServer):
    """A pass-through to the origin on 127.0.0.1 that holds every revocation-feed answer for
    FEED_DELAY_S: a slow link between one edge and the origin, nothing else changed."""

    daemon_threads = True

    def __init__(self):
        self.feed_gets = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/internal/revocations"):
                    server.feed_gets += 1
                    time.sleep(FEED_DELAY_S)
                drop = {"host", "connection", "content-length"}
                r = requests.get(ORIGIN + self.path, headers={k: v for k, v in self.headers.items() if k.lower() not in drop},
                                 allow_redirects=False, timeout=10)
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in drop | {"transfer-encoding", "content-encoding"}:
                        self.send_header(k, v)
                self.send_header("content-length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", SLOW_FEED_PORT), Handler)


def test_requests_that_arrive_while_a_fresh_isolates_first_sync_runs_wait_for_it(system, tmp_path):
    """CI found this race (session 13): the readiness probe, a public route, starts a background
    revocation poll on the fresh isolate; an authenticated request arriving while that poll ran
    was decided on the empty list, and a logged-out token passed. Every request that needs a user
    now waits for the sync under way (plan kind `sync_wait`). Here the feed answers after 1 s (a
    slow link), so the whole burst, sent the moment the edge is up, arrives during that poll."""
    assert port_free(FRESH_PORT), f"port {FRESH_PORT} on 127.0.0.1 is busy"
    t, revoked, live = logged_out_and_live_tokens(system)
    slow = SlowFeed()
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    fresh = start_edge(tmp_path, {**system.edge_vars, "ORIGIN_URL": f"http://127.0.0.1:{SLOW_FEED_PORT}"},
                       FRESH_PORT, "edge-burst")
    try:
        def call(token):
            started = time.monotonic()
            r = requests.get(f"http://127.0.0.1:{FRESH_PORT}/api/me",
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
            return r.status_code, r.json().get("error"), time.monotonic() - started
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(call, [revoked] * 6 + [live] * 2))

        def explain():
            # Every answer with its reason id (a 503 may be the edge's or the origin's), and the edge's
            # decision lines: CI saw a live token answered 503 once (session 17) with nothing to say why.
            log = (tmp_path / "edge-burst.log").read_text(errors="replace").splitlines()
            lines = [l for l in log if '"decision"' in l or "warn" in l.lower() or "error" in l.lower()]
            return (f"answers (status, error, seconds): {[(s, e, round(d, 2)) for s, e, d in answers]}; "
                    f"{slow.feed_gets} feed GETs\nedge log:\n" + "\n".join(lines[-30:]))
        assert [a[:2] for a in answers[:6]] == [(401, "token_revoked")] * 6, explain()
        assert [a[0] for a in answers[6:]] == [200, 200], explain()
        pages = slow.feed_gets
        waits = sorted(round(a[2] * 1000) for a in answers)
        print(f"\nburst of 8 during a fresh isolate's first sync ({pages} feed pages, each delayed {FEED_DELAY_S} s): "
              f"answered after {waits} ms")
        # They waited for the one sync under way (a page or two), not each for a sync of its own, and
        # were woken by its pages (not by the 3 s wait timer, nor the 30 s lost-poll bound); one
        # delay of slack for a busy machine.
        assert pages < 8, f"{pages} feed GETs for 8 requests: the burst did not share one sync"
        assert max(a[2] for a in answers) < (pages + 2) * FEED_DELAY_S, answers
    finally:
        stop(fresh)
        slow.shutdown()
        slow.server_close()
