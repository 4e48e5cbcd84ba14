"""Issue 2 end to end: the real Worker in workerd in front of the real origin."""
import base64, json, secrets, time

import pytest
import requests

from conftest import port, EDGE, ORIGIN, JWKS, AUD, Key, packed_config, start_edge, stop


def me(token: str, **headers):
    return requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {token}", **headers}, timeout=10)


def error_of(resp) -> str:
    return resp.json()["error"]


@pytest.mark.parametrize("alg", ["HS256", "EdDSA", "ES256", "RS256", "PS256"])
def test_a_valid_token_reaches_the_origin_with_the_verified_identity(system, alg):
    token = system.token(alg, sub=f"user-{alg}", roles=["user", "auditor"], permissions=["a:read", "b:write"])
    r = me(token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == f"user-{alg}"
    assert body["roles"] == ["user", "auditor"]
    assert body["permissions"] == ["a:read", "b:write"]
    assert body["anonymous"] is False


def test_spoofed_identity_headers_never_reach_the_origin(system):
    spoof = {"X-Auth-User": "admin", "x_auth_user": "admin", "X-AUTH-ROLES": "admin", "X-Auth-Permissions": "rbac:admin"}
    r = me(system.token(sub="alice"), **spoof)
    # Were any of them forwarded, the origin would refuse the envelope (403) or show "admin".
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "alice"
    assert "admin" not in r.json()["roles"]
    # On a public route too: the origin answers the request itself, not edge_signature_invalid.
    r = requests.post(f"{EDGE}/auth/login", json={"email": "nobody@example.com", "password": "x" * 12}, headers=spoof, timeout=10)
    assert r.status_code != 403, r.text
    # And without a token the spoofed user is not an identity at all.
    r = requests.get(f"{EDGE}/api/me", headers=spoof, timeout=10)
    assert (r.status_code, error_of(r)) == (401, "token_missing")


def test_a_request_straight_to_the_origin_without_the_envelope_is_refused(system):
    r = requests.get(f"{ORIGIN}/api/me", headers={"X-Auth-User": "alice"}, timeout=10)
    assert r.status_code == 403
    assert "edge_signature_invalid" in r.text
    forged = {"X-Auth-User": "alice", "X-Auth-Signature": f"t={int(time.time())},v1={'00' * 32}"}
    assert requests.get(f"{ORIGIN}/api/me", headers=forged, timeout=10).status_code == 403


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(claims).encode())}."


@pytest.mark.parametrize(
    "case, make, reason",
    [
        ("expired", lambda s: s.token(exp=int(time.time()) - 120, iat=int(time.time()) - 600, nbf=None), "token_expired"),
        ("not yet valid", lambda s: s.token(nbf=int(time.time()) + 600), "token_not_yet_valid"),
        ("issued in the future", lambda s: s.token(iat=int(time.time()) + 600, nbf=None), "token_issued_in_future"),
        ("wrong audience", lambda s: s.token(aud="someone-else"), "token_audience_invalid"),
        ("unknown issuer", lambda s: s.token(iss="https://evil.test"), "token_issuer_invalid"),
        ("missing exp", lambda s: s.token(exp=None), "token_claims_invalid"),
        ("tampered signature", lambda s: s.token()[:-4] + ("AAAA" if not s.token().endswith("AAAA") else "BBBB"), "token_signature_invalid"),
        ("alg none", lambda s: unsigned({"alg": "none"}, s.claims()), "token_algorithm_not_allowed"),
        ("alg NONE", lambda s: unsigned({"alg": "NONE", "kid": "eddsa-1"}, s.claims()), "token_algorithm_not_allowed"),
        ("garbage", lambda s: "not-a-jwt", "token_malformed"),
        ("oversize", lambda s: s.token(pad="x" * 9000), "token_too_large"),
    ],
)
def test_bad_tokens_get_401_with_a_stable_reason(system, case, make, reason):
    r = me(make(system))
    assert r.status_code == 401, (case, r.text)
    assert error_of(r) == reason, case
    assert r.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_rs256_to_hs256_confusion_is_refused(system):
    rsa = system.url_keys["RS256"]
    import hmac, hashlib
    header = {"alg": "HS256", "kid": rsa.kid, "typ": "JWT"}
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(system.claims()).encode())}"
    secret = json.dumps(rsa.jwk).encode()
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    r = me(f"{signing_input}.{b64u(sig)}")
    assert (r.status_code, error_of(r)) == (401, "token_algorithm_not_allowed")


def test_no_token_means_401_for_apis_and_a_login_redirect_for_browsers(system):
    r = requests.get(f"{EDGE}/api/me", timeout=10)
    assert (r.status_code, error_of(r)) == (401, "token_missing")
    assert r.headers["www-authenticate"] == 'Bearer realm="edge-auth"'
    r = requests.get(f"{EDGE}/account?tab=sessions", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert r.headers["location"] == "/login?next=/account%3Ftab%3Dsessions"


def test_the_session_cookie_authenticates_browsers(system):
    r = requests.get(f"{EDGE}/api/me", cookies={"access_token": system.token(sub="cookie-user")}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "cookie-user"


def test_missing_permissions_are_403_insufficient_scope(system):
    r = requests.get(f"{EDGE}/admin/audit", headers={"Authorization": f"Bearer {system.token(permissions=['profile:read'])}"}, timeout=10)
    assert r.status_code == 403
    assert error_of(r) == "insufficient_permissions"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


def test_request_ids_are_kept_when_well_formed_and_generated_otherwise(system):
    token = system.token()
    assert me(token, **{"X-Request-Id": "req-abc.123"}).json()["request_id"] == "req-abc.123"
    generated = me(token, **{"X-Request-Id": "bad id with spaces"}).json()["request_id"]
    assert generated and generated != "bad id with spaces" and len(generated) == 32


def test_jwks_rotation_is_picked_up_by_refetching_on_an_unknown_kid(system):
    assert me(system.token("EdDSA")).status_code == 200
    new = Key("EdDSA", "eddsa-2")
    system.jwks.keys = system.jwks.keys + [new.jwk]
    r = me(new.sign(system.claims(sub="rotated")))
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "rotated"


def test_cached_keys_keep_working_while_the_jwks_endpoint_is_down(system):
    assert me(system.token("ES256")).status_code == 200
    system.jwks.up = False
    try:
        time.sleep(1.5)  # past the 1 s max-age: the edge tries a refresh, which fails
        hits = system.jwks.hits
        for i in range(3):
            r = me(system.token("ES256", sub=f"during-outage-{i}"))
            assert r.status_code == 200, r.text
            assert r.json()["user"] == f"during-outage-{i}"
            time.sleep(0.3)
        assert system.jwks.hits > hits, "the edge should have tried to refresh the stale keys"
    finally:
        system.jwks.up = True


def test_an_issuer_with_no_usable_keys_is_an_outage_503_not_a_401(system):
    key = Key("EdDSA", "down-1")
    r = me(key.sign(system.claims(iss="https://down.test")))
    assert r.status_code == 503, r.text
    assert error_of(r) == "jwks_unavailable"
    assert int(r.headers["retry-after"]) >= 1


def edge_log(system, name: str, event: str) -> str:
    """The log of the edge started as `name`, once it shows `event` (wrangler flushes the Worker's
    console asynchronously; 5 s at most)."""
    log = ""
    for _ in range(50):
        log = (system.tmp / f"{name}.log").read_text()
        if event in log:
            break
        time.sleep(0.1)
    return log


def start_invalid_edge(system, env_vars: dict, at: int, name: str):
    """A Worker whose configuration is invalid: its /healthz answers 500, which `start_edge`'s
    readiness wait may take for a failure; the caller checks the answer itself."""
    try:
        return start_edge(system.tmp, env_vars, at, name)
    except RuntimeError:
        return None  # /healthz answered nothing usable: the caller checks


def test_an_invalid_configuration_answers_500_config_invalid(system):
    bad = dict(system.edge_vars)
    bad["ENVELOPE_SECRET"] = "00112233"
    bad["ORIGIN_URL"] = "origin.internal"
    proc = start_invalid_edge(system, bad, port(10), "edge-badconfig")
    try:
        r = requests.get(f"http://127.0.0.1:{port(10)}/healthz", timeout=10)
        assert r.status_code == 500
        assert error_of(r) == "config_invalid"
        assert "ENVELOPE_SECRET" not in r.text, "operator details go to the log, not to clients"
        log = edge_log(system, "edge-badconfig", "config_invalid")
        assert "ENVELOPE_SECRET: secret is 4 bytes, at least 32 are required" in log, log
        assert "ORIGIN_URL" in log
    finally:
        if proc:
            stop(proc)


def test_a_production_worker_refuses_a_loopback_origin_naming_the_variable(system):
    # What a deploy that kept a laptop's configuration gets: not a Worker whose every forward
    # fails, but config_invalid with the setting to fix in the log.
    prod = {**system.edge_vars, "DEPLOY_ENV": "production"}
    proc = start_invalid_edge(system, prod, port(11), "edge-prod-loopback")
    try:
        r = requests.get(f"http://127.0.0.1:{port(11)}/healthz", timeout=10)
        assert (r.status_code, error_of(r)) == (500, "config_invalid"), r.text
        log = edge_log(system, "edge-prod-loopback", "config_invalid")
        assert f'ORIGIN_URL: \\"{ORIGIN}\\" must be an https URL in production' in log or \
            f'ORIGIN_URL: "{ORIGIN}" must be an https URL in production' in log, log[-2000:]
        assert "jwks_url" in log and "ISSUERS[0]" in log, log[-2000:]
    finally:
        if proc:
            stop(proc)


def test_a_webhook_route_without_its_secret_is_off_and_the_rest_of_the_worker_runs(system):
    # A deploy that has not put WEBHOOK_GITHUB yet: that route answers 503, nothing else breaks.
    partial = {k: v for k, v in system.edge_vars.items() if k != "WEBHOOK_GITHUB"}
    proc = start_edge(system.tmp, partial, port(12), "edge-no-github")
    try:
        r = requests.post(f"http://127.0.0.1:{port(12)}/webhooks/github", data=b"{}", timeout=10,
                          headers={"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Delivery": "d-1"})
        assert (r.status_code, error_of(r)) == (503, "webhook_not_configured"), r.text
        assert int(r.headers["retry-after"]) >= 1
        assert requests.get(f"http://127.0.0.1:{port(12)}/healthz", timeout=10).status_code == 200
        log = edge_log(system, "edge-no-github", "config_warning")
        assert "WEBHOOK_GITHUB" in log and "webhook_not_configured" in log, log[-2000:]
    finally:
        stop(proc)


def test_a_webhook_route_with_a_malformed_secret_is_off_and_the_rest_of_the_worker_runs(system):
    # WEBHOOK_<ID> is parsed on its route's first delivery (src/config/webhooks.rs): a malformed
    # one fails that route with config_invalid and is logged once, naming the variable.
    broken = {**system.edge_vars, "WEBHOOK_GITHUB": '{"provider":"github","secrets":["short"]}'}
    proc = start_edge(system.tmp, broken, port(16), "edge-bad-github")
    try:
        base = f"http://127.0.0.1:{port(16)}"
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
        r = requests.get(f"{base}/api/me", timeout=10,
                         headers={"Authorization": f"Bearer {system.token(sub='beside-a-bad-webhook')}"})
        assert (r.status_code, r.json()["user"]) == (200, "beside-a-bad-webhook"), r.text
        for _ in range(2):
            r = requests.post(f"{base}/webhooks/github", data=b"{}", timeout=10,
                              headers={"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Delivery": "d-1"})
            assert (r.status_code, error_of(r)) == (500, "config_invalid"), r.text
            assert "short" not in r.text and "WEBHOOK_GITHUB" not in r.text, "details go to the log"
        log = edge_log(system, "edge-bad-github", '"variable":"WEBHOOK_GITHUB"')
        lines = [l for l in log.splitlines() if '"event":"config_invalid"' in l and "WEBHOOK_GITHUB" in l]
        assert len(lines) == 1, log[-3000:]
        assert "is 5 bytes, at least 16 are required" in lines[0], lines[0]
    finally:
        stop(proc)


def test_each_fresh_isolate_draws_its_own_random_seed(system):
    # Request ids are SHA-256 of the isolate's seed and a counter; the seed comes from
    # crypto.getRandomValues through getrandom's custom backend (src/worker/state.rs). Two fresh
    # isolates' first ids match only if that backend left the seed unfilled.
    first_ids = []
    for n in range(2):
        proc = start_edge(system.tmp, system.edge_vars, port(19), f"edge-seed-{n}")
        try:
            r = requests.get(f"http://127.0.0.1:{port(19)}/api/me", timeout=10)
            assert (r.status_code, error_of(r)) == (401, "token_missing"), r.text
            first_ids.append(r.json()["request_id"])
        finally:
            stop(proc)
    assert all(len(i) == 32 for i in first_ids), first_ids
    assert first_ids[0] != first_ids[1], first_ids


# The Worker's log line when it does not use its packed configuration (src/worker/state.rs).
PACK_REFUSED = '"event":"config_warning","variable":"EDGE_CONFIG_PACKED"'


def test_the_edge_starts_from_its_packed_configuration(system):
    # start_edge adds EDGE_CONFIG_PACKED as a deploy does; a pack the Worker did not use is
    # logged (next test), so a clean log means every Worker of this suite read its pack.
    r = me(system.token(sub="packed-user"))
    assert (r.status_code, r.json()["user"]) == (200, "packed-user"), r.text
    log = (system.tmp / "edge.log").read_text()
    assert "env.EDGE_CONFIG_PACKED" in log, "wrangler lists the binding"
    assert PACK_REFUSED not in log, log[-2000:]


def test_a_stale_pack_is_logged_and_the_json_variables_are_used(system):
    # A variable changed after the deploy (a dashboard edit): the pack no longer matches, so the
    # Worker parses the JSON variables — the edited value wins — and says why.
    here = {"DEPLOY_ENV": "development", **system.edge_vars}
    stale = packed_config(system.tmp, {**here, "LEEWAY_SECONDS": "5"})
    assert stale and stale.startswith("v1."), stale
    proc = start_edge(system.tmp, {**here, "EDGE_CONFIG_PACKED": stale}, port(26), "edge-stale-pack")
    try:
        r = requests.get(f"http://127.0.0.1:{port(26)}/api/me", timeout=10,
                         headers={"Authorization": f"Bearer {system.token(sub='stale-pack-user')}"})
        assert (r.status_code, r.json()["user"]) == (200, "stale-pack-user"), r.text
        log = edge_log(system, "edge-stale-pack", PACK_REFUSED)
        assert PACK_REFUSED in log and "packed from other variables" in log, log[-2000:]
    finally:
        stop(proc)


def test_a_packed_configuration_still_checks_its_secrets(system):
    # Secrets are not packed: a bad ENVELOPE_SECRET behind a good pack is config_invalid, named.
    here = {"DEPLOY_ENV": "development", **system.edge_vars}
    good = packed_config(system.tmp, here)
    assert good and good.startswith("v1."), good
    bad = {**here, "ENVELOPE_SECRET": "00112233", "EDGE_CONFIG_PACKED": good}
    proc = start_invalid_edge(system, bad, port(27), "edge-pack-bad-secret")
    try:
        r = requests.get(f"http://127.0.0.1:{port(27)}/healthz", timeout=10)
        assert (r.status_code, error_of(r)) == (500, "config_invalid"), r.text
        log = edge_log(system, "edge-pack-bad-secret", "config_invalid")
        assert "ENVELOPE_SECRET: secret is 4 bytes, at least 32 are required" in log, log[-2000:]
        assert PACK_REFUSED not in log, "the pack itself was good"
    finally:
        if proc:
            stop(proc)


def test_ambiguous_paths_are_refused_before_routing(system):
    token = system.token(permissions=["profile:read"])
    # (A literal `%2e%2e` segment is resolved by the URL parser itself: /api/%2e%2e/admin → /admin.)
    for path in ["/admin%2Froles", "/auth//logout", "/api/me%5C..%5Cadmin"]:
        r = requests.get(f"{EDGE}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert (r.status_code, error_of(r)) == (400, "path_invalid"), path


def test_operator_endpoints_need_their_permission(system):
    r = requests.get(f"{EDGE}/metrics", headers={"Authorization": f"Bearer {system.token(permissions=['profile:read'])}"}, timeout=10)
    assert (r.status_code, error_of(r)) == (403, "insufficient_permissions")
    r = requests.get(f"{EDGE}/metrics", headers={"Authorization": f"Bearer {system.token(permissions=['metrics:read'])}"}, timeout=10)
    assert r.status_code == 200 and "origin_" in r.text


def test_the_published_rfc7515_vectors_verify_through_the_workers_verifiers(system):
    """A.1 (HS256, Rust) and A.2/A.3 (RS256/ES256, WebCrypto in workerd): the signature step passes,
    so the refusal comes from the claims (the tokens expired in 2011 and carry no aud); one flipped
    signature bit makes it a signature failure instead."""
    for v in system.rfc_vectors:
        r = me(v["token"])
        assert r.status_code == 401
        assert error_of(r) in ("token_expired", "token_audience_invalid"), (v["alg"], r.text)
        head, payload, sig = v["token"].split(".")
        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        r = me(f"{head}.{payload}.{flipped}")
        assert error_of(r) == "token_signature_invalid", (v["alg"], r.text)
