"""Issue 19 in the browser: passkeys through Chromium's virtual authenticator (DevTools protocol
`WebAuthn.*`), the account page's TOTP enrolment with its QR code and recovery codes, the log-in's
second step, and step-up — a route whose `require_fresh_auth` the session no longer meets answers
`step_up_required`, the page asks the person to confirm (password or passkey) and the action
succeeds. Pages are served at http://localhost:<port> (the relying-party id is `localhost`, never an
IP address) by a Worker of its own whose sensitive routes need an authentication at most
FRESH seconds old; the origin is restarted with WEBAUTHN_RP_ID/WEBAUTHN_ORIGINS."""
import base64, json, re, secrets, time

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from conftest import launch_chromium, port, port_free, start_edge, stop
from test_account_security import totp

PK_PORT = port(17)
SITE = f"http://localhost:{PK_PORT}"
API = f"http://127.0.0.1:{PK_PORT}"
FRESH = 10
SHORT = {"passkey-remove", "mfa-change", "recovery-codes"}


@pytest.fixture(scope="module")
def site(system, tmp_path_factory):
    assert port_free(PK_PORT), f"port {PK_PORT} on 127.0.0.1 is busy"
    system.origin_env.update(WEBAUTHN_RP_ID="localhost", WEBAUTHN_ORIGINS=SITE)
    system.restart_origin()
    # The shipped routes, with a short freshness on the routes this test steps up for.
    routes = []
    for r in system.edge_vars["ROUTES"]:
        r = dict(r)
        if r["id"] in SHORT:
            assert "require_fresh_auth" in r, r
            r["require_fresh_auth"] = FRESH
        routes.append(r)
    tmp = tmp_path_factory.mktemp("passkeys")
    proc = start_edge(tmp, {**system.edge_vars, "ROUTES": routes}, PK_PORT, "edge-passkeys")
    yield tmp
    stop(proc)
    for k in ("WEBAUTHN_RP_ID", "WEBAUTHN_ORIGINS"):
        system.origin_env.pop(k, None)
    system.restart_origin()


@pytest.fixture()
def browser_page(site):
    with sync_playwright() as p:
        browser = launch_chromium(p)
        ctx = browser.new_context()
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: print("console:", m.type, m.text))
        cdp = ctx.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        auth = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]
        try:
            yield page, ctx, cdp, auth
            assert not errors, errors
        finally:
            page.screenshot(path=str(site / f"last-{secrets.token_hex(2)}.png"))
            browser.close()


def new_account():
    email = f"pk-{secrets.token_hex(4)}@example.com"
    password = f"a passkey test passphrase {secrets.token_hex(4)}"
    r = requests.post(f"{API}/auth/signup", json={"email": email, "password": password}, timeout=10)
    assert r.status_code == 201, r.text
    return email, password


def login_with_password(page, email, password):
    page.goto(f"{SITE}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#form button[type=submit]")


def token_claims(ctx) -> dict:
    token = next(c["value"] for c in ctx.cookies() if c["name"] == "access_token")
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_a_passkey_is_added_used_to_sign_in_and_removed_after_a_passkey_step_up(browser_page):
    page, ctx, cdp, auth = browser_page
    email, password = new_account()
    login_with_password(page, email, password)
    expect(page).to_have_url(f"{SITE}/account")
    expect(page.locator("#passkey-list")).to_contain_text("No passkeys yet.")

    page.fill("#passkey-name", "virtual key")
    page.click("#passkey-add")
    expect(page.locator("#passkey-list li")).to_contain_text("virtual key")
    creds = cdp.send("WebAuthn.getCredentials", {"authenticatorId": auth})["credentials"]
    assert len(creds) == 1 and creds[0]["isResidentCredential"], creds
    assert creds[0]["rpId"] == "localhost"

    # Sign out; sign in with the passkey alone (no address typed).
    page.click("#logout")
    expect(page).to_have_url(f"{SITE}/login")
    page.click("#passkey-login")
    expect(page).to_have_url(f"{SITE}/account")
    c = token_claims(ctx)
    assert c["amr"] == ["hwk", "mfa"] and c["acr"] == "urn:edge-auth:acr:mfa", c
    assert abs(c["auth_time"] - time.time()) < 30

    # Later, removing it needs a fresher authentication: the edge asks, the page steps up with the
    # passkey and the removal goes through.
    time.sleep(FRESH + 1)
    with page.expect_response(lambda r: r.request.method == "DELETE" and r.status == 401) as refused:
        page.click(".passkey-remove")
    # (Reading the refused response's body through Playwright hangs; its challenge header says it.)
    challenge = refused.value.headers["www-authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge and f"max_age={FRESH}" in challenge, challenge
    expect(page.locator("dialog#step-up")).to_be_visible()
    page.click("#step-up-passkey")
    expect(page.locator("dialog#step-up")).to_have_count(0)
    expect(page.locator("#passkey-list")).to_contain_text("No passkeys yet.")
    assert token_claims(ctx)["auth_time"] > c["auth_time"]

    # The authenticator still holds the credential, but the site no longer knows it.
    page.click("#logout")
    expect(page).to_have_url(f"{SITE}/login")
    page.click("#passkey-login")
    expect(page.locator("#error")).not_to_be_empty()
    expect(page).to_have_url(f"{SITE}/login")


def test_totp_is_enrolled_on_the_account_page_after_a_password_step_up_and_the_login_asks_for_it(browser_page):
    page, ctx, _, _ = browser_page
    email, password = new_account()
    login_with_password(page, email, password)
    expect(page).to_have_url(f"{SITE}/account")
    expect(page.locator("#totp-status")).to_have_text("Off.")

    time.sleep(FRESH + 1)
    page.click("#totp-start")
    # The edge refused the enrolment (older than FRESH seconds): confirm with the password.
    expect(page.locator("dialog#step-up")).to_be_visible()
    page.fill("#step-up-password", "wrong password")
    page.click("#step-up-confirm")
    expect(page.locator("dialog#step-up .error")).not_to_be_empty()
    page.fill("#step-up-password", password)
    page.click("#step-up-confirm")
    expect(page.locator("#totp-enrol")).to_be_visible()
    src = page.get_attribute("#totp-qr", "src")
    svg = base64.b64decode(src.split(",", 1)[1]).decode()
    assert src.startswith("data:image/svg+xml;base64,") and svg.startswith("<svg") and "h1v1h-1z" in svg
    secret = page.inner_text("#totp-secret").strip()
    assert re.fullmatch(r"[A-Z2-7]+", secret), secret
    page.fill("#totp-code", totp(secret, time.time()))
    page.click("#totp-enrol button[type=submit]")
    expect(page.locator(".recovery-code")).to_have_count(10)
    codes = page.locator(".recovery-code").all_inner_texts()
    expect(page.locator("#totp-status")).to_contain_text("On — 10 recovery codes left.")

    # A new log-in is two steps: the password, then a recovery code (the page's second form).
    page.click("#logout")
    expect(page).to_have_url(f"{SITE}/login")
    login_with_password(page, email, password)
    expect(page.locator("#mfa-form")).to_be_visible()
    expect(page.locator("#mfa-passkey")).to_be_hidden()
    page.fill("#mfa-code", "000000")
    page.click("#mfa-form button[type=submit]")
    expect(page.locator("#mfa-error")).not_to_be_empty()
    page.fill("#mfa-code", codes[0])
    page.click("#mfa-form button[type=submit]")
    expect(page).to_have_url(f"{SITE}/account")
    assert token_claims(ctx)["amr"] == ["pwd", "otp", "mfa"]
    expect(page.locator("#totp-status")).to_contain_text("9 recovery codes left")

    # New recovery codes (within FRESH of the log-in: no prompt); the old ones stop working.
    page.click("#totp-regenerate")
    expect(page.locator("#totp-status")).to_contain_text("10 recovery codes left")
    new_codes = page.locator(".recovery-code").all_inner_texts()
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    r = requests.post(f"{API}/auth/login", json={"email": email, "password": password}, timeout=10)
    r = requests.post(f"{API}/auth/login/mfa", json={"mfa_token": r.json()["mfa_token"], "recovery_code": codes[1]},
                      timeout=10)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_otp")
