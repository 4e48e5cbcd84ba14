"""Social sign-in end to end: the release Worker in workerd, the release origin, and the local
providers of tests/providers/ (two oidc-provider instances playing Google and Kakao, a GitHub
stand-in with GitHub's quirks). Browser tests click through each provider's login form;
protocol tests drive the redirects with `requests` and check each refusal's reason id."""
import re, secrets, time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from conftest import launch_chromium, EDGE
from test_account_security import totp



@pytest.fixture(scope="module")
def browser(system):
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, system, request):
    # A fresh context per test: no provider session or cookie carries over.
    ctx = browser.new_context()
    pg = ctx.new_page()
    yield pg
    pg.screenshot(path=str(system.tmp / f"social-{request.node.name}.png"))
    ctx.close()


def provider_login(page, login: str):
    """Fills the provider's own login form (the oidc-provider instances' login page or the GitHub stand-in's)."""
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")


def sign_in(page, provider: str, login: str):
    page.goto(f"{EDGE}/login")
    page.click(f"a[data-provider={provider}]")
    provider_login(page, login)


def me(page) -> dict:
    return page.evaluate("""async () => (await fetch('/api/me', {credentials: 'same-origin'})).json()""")


def identities(page) -> dict:
    return page.evaluate("""async () => (await fetch('/api/identities', {credentials: 'same-origin'})).json()""")


def test_the_login_page_offers_exactly_the_configured_providers(system, page):
    page.goto(f"{EDGE}/login")
    expect(page.locator("#social")).to_be_visible()
    expect(page.locator("a.social")).to_have_count(3)
    for name in ("Google", "GitHub", "Kakao"):
        expect(page.locator("#social-providers")).to_contain_text(f"Sign in with {name}")


@pytest.mark.parametrize("provider", ["google", "github", "kakao"])
def test_sign_in_with_each_provider_end_to_end(system, page, provider):
    login = f"{provider}-{secrets.token_hex(4)}"
    sign_in(page, provider, login)
    expect(page).to_have_url(f"{EDGE}/account")
    expect(page.locator("#user")).not_to_be_empty()
    who = me(page)
    assert who["user"].startswith("usr_"), who
    mine = identities(page)
    assert [i["provider"] for i in mine["identities"]] == [provider], mine
    assert mine["identities"][0]["email"] == f"{login}@{provider}.test"
    assert mine["password"] is False
    expect(page.locator(f"#identities-list li[data-provider={provider}]")).to_be_visible()


def test_link_github_to_a_google_account_then_sign_in_with_github_unlink_and_refuse_the_last(system, page):
    tag = secrets.token_hex(4)
    sign_in(page, "google", f"linker-{tag}")
    expect(page).to_have_url(f"{EDGE}/account")
    user = me(page)["user"]

    page.click("button[data-link=github]")
    provider_login(page, f"linker-gh-{tag}")
    expect(page).to_have_url(f"{EDGE}/account")
    expect(page.locator("#identities-list li[data-provider=github]")).to_be_visible()
    expect(page.locator("#identities-list li[data-provider=google]")).to_be_visible()

    page.click("#logout")
    expect(page).to_have_url(f"{EDGE}/login")
    sign_in(page, "github", f"linker-gh-{tag}")
    expect(page).to_have_url(f"{EDGE}/account")
    assert me(page)["user"] == user, "GitHub signs in to the same account"

    page.click("button[data-unlink=google]")
    expect(page.locator("#identities-list li[data-provider=google]")).to_have_count(0)
    page.click("button[data-unlink=github]")
    expect(page.locator("#identities-error")).to_have_attribute("data-reason", "last_login_method")
    expect(page.locator("#identities-list li[data-provider=github]")).to_be_visible()
    assert [i["provider"] for i in identities(page)["identities"]] == ["github"]


def test_a_google_account_with_totp_on_is_asked_for_the_code_after_google(system, page):
    sign_in(page, "google", f"totp-{secrets.token_hex(4)}")
    expect(page).to_have_url(f"{EDGE}/account")
    user = me(page)["user"]
    secret = page.evaluate("""async () => (await (await fetch('/api/mfa/totp/enroll', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: '{}'})).json()).secret""")
    status = page.evaluate("""async (code) => (await fetch('/api/mfa/totp/confirm', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({code})})).status""", totp(secret, time.time()))
    assert status == 200
    page.click("#logout")
    expect(page).to_have_url(f"{EDGE}/login")
    # The provider still knows the browser: straight back, and the page asks for the code.
    page.click("a[data-provider=google]")
    expect(page.locator("#social-mfa-code")).to_be_visible()
    assert "mfa_token" not in page.url, "the challenge is taken out of the address bar"
    assert page.evaluate("async () => (await fetch('/api/me')).status") == 401, "no session before the code"
    page.fill("#social-mfa-code", totp(secret, time.time() + 30))
    page.click("#social-mfa button[type=submit]")
    expect(page).to_have_url(f"{EDGE}/account")
    assert me(page)["user"] == user


def test_an_unverified_address_at_the_provider_creates_no_account(system, page):
    sign_in(page, "google", f"unverified-{secrets.token_hex(4)}")
    expect(page.locator("#social-error")).to_have_attribute("data-reason", "email_unverified")
    assert page.evaluate("async () => (await fetch('/api/me')).status") == 401


def test_a_preregistered_unverified_local_account_is_not_taken_over(system, page):
    victim = f"victim-{secrets.token_hex(4)}@example.com"
    # The attacker signs up first with the victim's address (never verified).
    r = requests.post(f"{EDGE}/auth/signup", json={"email": victim, "password": f"attacker passphrase {secrets.token_hex(4)}"}, timeout=10)
    assert r.status_code == 201
    sign_in(page, "google", victim)
    expect(page.locator("#social-error")).to_have_attribute("data-reason", "account_exists_link_required")
    expect(page.locator("#social-error")).to_contain_text("Sign in to it first")
    assert page.evaluate("async () => (await fetch('/api/me')).status") == 401


# ---- protocol level, through the edge, against the GitHub stand-in ----

def github_control(system, mode: str):
    r = requests.post(f"{system.provider_urls['github']}/__control", json={"mode": mode}, timeout=5)
    assert r.json()["mode"] == mode


def start_github(s: requests.Session, next_path="/account") -> dict:
    r = s.get(f"{EDGE}/auth/oauth/github/start", params={"next": next_path}, allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    assert "Path=/auth/oauth/github/callback" in r.headers["set-cookie"]
    assert "HttpOnly" in r.headers["set-cookie"]
    q = {k: v[0] for k, v in parse_qs(urlparse(r.headers["location"]).query).items()}
    assert q["code_challenge_method"] == "S256" and q["redirect_uri"] == f"{EDGE}/auth/oauth/github/callback"
    return q


def authorize_at_github(system, q: dict, login: str) -> str:
    """The person signs in at the stand-in; returns the callback URL it redirects to."""
    r = requests.post(f"{system.provider_urls['github']}/login/oauth/authorize", allow_redirects=False, timeout=10, data={
        "login": login, "password": "x", "state": q["state"], "code_challenge": q["code_challenge"],
        "code_challenge_method": "S256", "redirect_uri": q["redirect_uri"]})
    assert r.status_code == 302
    return r.headers["location"]


def test_next_off_site_is_refused(system):
    for evil in ["//evil.example", "/\\evil.example", "https://evil.example/"]:
        r = requests.get(f"{EDGE}/auth/oauth/google/start", params={"next": evil}, allow_redirects=False, timeout=10)
        assert (r.status_code, r.headers.get("x-reason")) == (400, "oauth_next_invalid"), evil
        assert "set-cookie" not in r.headers


def test_a_protocol_sign_in_then_a_replay_and_a_wrong_state(system):
    s = requests.Session()
    q = start_github(s)
    back = authorize_at_github(system, q, f"proto-{secrets.token_hex(4)}")
    r = s.get(back, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["location"] == "/account", r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    assert s.get(f"{EDGE}/api/me", timeout=10).status_code == 200
    # The same callback again (the flow cookie was cleared; put it back as an attacker would).
    s2 = requests.Session()
    q2 = start_github(s2)
    flow = s2.cookies.get("oauth_flow")
    back2 = authorize_at_github(system, q2, f"proto-{secrets.token_hex(4)}")
    assert s2.get(back2, allow_redirects=False, timeout=10).status_code == 303
    replay = requests.get(back2, cookies={"oauth_flow": flow}, allow_redirects=False, timeout=10)
    assert (replay.status_code, replay.headers.get("x-reason")) == (400, "oauth_state_replayed")
    # A callback whose state is not the flow's.
    s3 = requests.Session()
    q3 = start_github(s3)
    back3 = authorize_at_github(system, q3, "someone")
    forged = re.sub(r"state=[^&]+", "state=forged", back3)
    r = s3.get(forged, allow_redirects=False, timeout=10)
    assert (r.status_code, r.headers.get("x-reason")) == (400, "oauth_state_invalid")
    # No flow cookie at all: no PKCE verifier, no exchange.
    r = requests.get(back3, allow_redirects=False, timeout=10)
    assert (r.status_code, r.headers.get("x-reason")) == (400, "oauth_flow_missing")


def test_github_down_gives_the_outage_page_and_opens_the_breaker(system):
    flows = []
    for _ in range(4):
        s = requests.Session()
        q = start_github(s)
        flows.append((s, authorize_at_github(system, q, f"down-{secrets.token_hex(4)}")))
    github_control(system, "down")
    try:
        for s, back in flows[:3]:
            r = s.get(back, allow_redirects=False, timeout=10, headers={"Accept": "text/html"})
            assert (r.status_code, r.headers.get("x-reason")) == (503, "provider_unavailable")
            assert "GitHub sign-in is unavailable" in r.text and "text/html" in r.headers["content-type"]
        listed = requests.get(f"{EDGE}/auth/oauth/providers", timeout=10).json()["providers"]
        assert {p["id"]: p["breaker"] for p in listed}["github"] == "open"
        t = time.monotonic()
        s, back = flows[3]
        r = s.get(back, allow_redirects=False, timeout=10)
        assert r.headers.get("x-reason") == "provider_unavailable"
        assert time.monotonic() - t < 1.0, "answered by the open breaker"
    finally:
        github_control(system, "ok")
    time.sleep(3.2)  # SOCIAL_BREAKER_COOL_DOWN_SECS: half-open, the next sign-in probes and closes it
    s = requests.Session()
    q = start_github(s)
    assert s.get(authorize_at_github(system, q, f"back-{secrets.token_hex(4)}"), allow_redirects=False, timeout=10).status_code == 303


def test_github_timing_out_costs_a_bounded_wait(system):
    s = requests.Session()
    q = start_github(s)
    back = authorize_at_github(system, q, f"slow-{secrets.token_hex(4)}")
    github_control(system, "slow")
    try:
        t = time.monotonic()
        r = s.get(back, allow_redirects=False, timeout=30)
        waited = time.monotonic() - t
    finally:
        github_control(system, "ok")
    assert (r.status_code, r.headers.get("x-reason")) == (503, "provider_unavailable")
    # SOCIAL_TIMEOUT_MS=1500; the code exchange is not retried (a code works once).
    assert 1.4 < waited < 4.5, waited
