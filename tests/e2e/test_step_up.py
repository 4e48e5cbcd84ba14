"""Step-up (RFC 9470) end to end through workerd: a route with `require_fresh_auth` or `require_amr`
refuses a token whose authentication is too old, undated or too weak with 401 `step_up_required` and
the `insufficient_user_authentication` challenge — also when the token's decision comes from the
edge's decision cache. Runs its own Worker with two extra route rules in front of the shipped ones."""
import re, time

import pytest
import requests

from conftest import port, port_free, start_edge, stop

STEP_UP_PORT = port(9)
EDGE = f"http://127.0.0.1:{STEP_UP_PORT}"
MAX_AGE = 30


@pytest.fixture(scope="module")
def edge(system, tmp_path_factory):
    assert port_free(STEP_UP_PORT), f"port {STEP_UP_PORT} on 127.0.0.1 is busy"
    routes = [
        # GET /api/me needs an authentication at most MAX_AGE seconds old; HEAD /api/me needs MFA
        # (the origin answers both for any verified user).
        {"id": "stepup-fresh", "methods": ["GET"], "path": "/api/me", "access": "authenticated",
         "require_fresh_auth": MAX_AGE},
        {"id": "stepup-mfa", "methods": ["HEAD"], "path": "/api/me", "access": "authenticated",
         "require_amr": ["mfa"]},
    ] + system.edge_vars["ROUTES"]
    tmp = tmp_path_factory.mktemp("step-up")
    proc = start_edge(tmp, {**system.edge_vars, "ROUTES": routes}, STEP_UP_PORT, "edge-step-up")
    yield tmp
    stop(proc)


def get(token, method="GET"):
    return requests.request(method, f"{EDGE}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def assert_challenge(r, params):
    assert r.status_code == 401, (r.status_code, r.text)
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="edge-auth", error="insufficient_user_authentication", error_description="'), challenge
    assert challenge.endswith(params), challenge


def test_a_fresh_authentication_passes(system, edge):
    for alg in ("EdDSA", "HS256"):
        r = get(system.token(alg, sub=f"fresh-{alg}", auth_time=int(time.time()) - 5))
        assert r.status_code == 200, r.text
        assert r.json()["user"] == f"fresh-{alg}"


def test_an_old_auth_time_gets_the_rfc_9470_challenge(system, edge):
    r = get(system.token("EdDSA", auth_time=int(time.time()) - MAX_AGE - 60))
    assert_challenge(r, f", max_age={MAX_AGE}")
    assert r.json()["error"] == "step_up_required"


def test_a_token_without_auth_time_gets_the_challenge_too(system, edge):
    r = get(system.token("HS256", auth_time=None))
    assert_challenge(r, f", max_age={MAX_AGE}")
    assert r.json()["error"] == "step_up_required"


def test_a_cached_decision_is_held_to_the_requirement(system, edge):
    """The token is verified once and cached; when its authentication ages past max_age, the cached
    decision is refused as well (Server-Timing says it was a cache hit)."""
    token = system.token("HS256", sub="cached-step-up", auth_time=int(time.time()) - MAX_AGE + 4)
    r = get(token)
    assert r.status_code == 200, r.text
    assert 'desc="cache miss"' in r.headers["server-timing"]
    r = get(token)
    assert r.status_code == 200, r.text
    assert 'desc="cache hit"' in r.headers["server-timing"]
    time.sleep(6)
    r = get(token)
    assert 'desc="cache hit"' in r.headers["server-timing"], r.headers.get("server-timing")
    assert_challenge(r, f", max_age={MAX_AGE}")
    assert r.json()["error"] == "step_up_required"
    # wrangler writes the Worker's log lines a moment later: wait for the line (5 s at most).
    pattern = r'"rule":"stepup-fresh","path":"sync","decision":"deny","reason":"step_up_required"[^}]*"cache":"hit"'
    deadline = time.time() + 5
    while not re.search(pattern, (edge / "edge-step-up.log").read_text()) and time.time() < deadline:
        time.sleep(0.2)
    assert re.search(pattern, (edge / "edge-step-up.log").read_text()), "no deny line for the cached decision"


def test_a_route_requiring_mfa_names_it_in_acr_values(system, edge):
    r = get(system.token("HS256", amr=["pwd"]), method="HEAD")
    assert_challenge(r, ', acr_values="mfa"')
    for amr in (["pwd", "otp"], ["mfa"]):
        r = get(system.token("HS256", amr=amr), method="HEAD")
        assert r.status_code == 200, (amr, r.status_code)
