"""Issue 18 part 2: the account page in a real browser (Debian's Chromium under Playwright), through
the real Worker and origin. Profile, password change, and sessions: signing out another device
from the page makes the edge refuse that device's next request; "sign out everywhere" ends them
all. SCREENSHOTS=1 also writes docs/screenshots/ (account, sessions, login, signup)."""
import os, pathlib, secrets, time

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from conftest import EDGE, ROOT, launch_chromium

SHOTS = ROOT / "docs/screenshots"
VIEWPORT = {"width": 1280, "height": 860}


def shot(page, name: str):
    """Writes docs/screenshots/<name>.png when SCREENSHOTS=1 (the docs' pictures are made by the tests)."""
    if os.environ.get("SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.add_style_tag(content=".toast { display: none !important; }")  # no passing message in the picture
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def signup(email=None, password=None):
    email = email or f"acct-{secrets.token_hex(4)}@example.com"
    password = password or f"account page passphrase {secrets.token_hex(4)}"
    r = requests.post(f"{EDGE}/auth/signup", json={"email": email, "password": password}, timeout=10)
    assert r.status_code == 201, r.text
    return email, password


def api_login(email, password, agent):
    """Another device: a session made outside the browser, with its own user agent."""
    r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=10,
                      headers={"User-Agent": agent})
    assert r.status_code == 200, r.text
    return r.json()


def me(access):
    return requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {access}"}, timeout=10)


def refused_within(access, seconds):
    """The edge's answer once it refuses `access` (it learns of revocations from the origin's feed)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        r = me(access)
        if r.status_code == 401:
            return r
        time.sleep(0.1)
    raise AssertionError(f"the edge still accepts the token after {seconds} s")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, system):
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    problems = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # A refused request logs "Failed to load resource" (expected here); anything else is a problem.
    pg.on("console", lambda m: problems.append(f"console: {m.text}")
          if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    yield pg
    pg.screenshot(path=str(system.tmp / "last-account-page.png"))
    ctx.close()
    # No script error and no CSP violation (a refused inline script would be logged here).
    assert not problems, problems


def browser_login(page, email, password, next_path="/account"):
    page.goto(f"{EDGE}{next_path}")
    expect(page).to_have_url(f"{EDGE}/login?next={next_path}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#form button[type=submit]")
    expect(page).to_have_url(f"{EDGE}{next_path}")
    expect(page.locator("#rows tr").first).to_be_visible()  # the page's script has run


def test_the_page_shows_the_profile_and_every_session_with_device_and_ip(page):
    email, password = signup()
    api_login(email, password, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
    page.goto(f"{EDGE}/login")
    shot(page, "login")
    browser_login(page, email, password)
    expect(page.locator("#email")).to_have_text(email)
    expect(page.locator("#verified")).to_have_text("Email not verified")
    expect(page.locator("#roles")).to_contain_text("user")
    expect(page.locator("#nav-admin")).to_be_hidden()  # not an admin: no Admin link
    rows = page.locator("#rows tr")
    expect(rows).to_have_count(2)
    this = page.locator("#rows tr[data-current=yes]")
    expect(this).to_contain_text("Chrome on Linux")
    expect(this).to_contain_text("This device")
    other = page.locator("#rows tr[data-current=no]")
    expect(other).to_contain_text("Safari on iPhone")
    expect(other.locator("td").nth(1)).to_have_text("127.0.0.1")
    expect(other.locator("td").nth(3)).to_have_text("just now")
    shot(page, "account")


def test_the_signup_page_shows_the_origins_refusal_and_then_signs_the_new_user_in(page):
    email = f"signup-{secrets.token_hex(4)}@example.com"
    page.goto(f"{EDGE}/signup")
    shot(page, "signup")
    page.fill("#email", email)
    page.fill("#password", "Password1234")  # long enough for the browser, on the origin's common list
    page.click("#form button[type=submit]")
    expect(page.locator("#error")).not_to_be_empty()
    shown = page.locator("#error").inner_text()
    r = requests.post(f"{EDGE}/auth/signup", json={"email": f"x-{email}", "password": "Password1234"}, timeout=10)
    assert r.status_code == 422 and r.json()["error"] == "password_too_common", r.text
    assert shown == (r.json().get("detail") or r.json().get("title")), (shown, r.json())
    expect(page).to_have_url(f"{EDGE}/signup")
    page.fill("#password", f"a fresh signup passphrase {secrets.token_hex(4)}")
    page.click("#form button[type=submit]")
    expect(page).to_have_url(f"{EDGE}/account")
    expect(page.locator("#email")).to_have_text(email)


def test_signing_out_another_device_makes_the_edge_refuse_its_next_request(page):
    email, password = signup()
    other = api_login(email, password, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0")
    assert me(other["access_token"]).status_code == 200
    browser_login(page, email, password)
    row = page.locator(f"#rows tr[data-session='{other['session_id']}']")
    expect(row).to_contain_text("Firefox on Windows")

    # Escape on the confirmation cancels: nothing is revoked, focus is back on the button.
    button = row.locator("button[data-revoke]")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog#confirm")).to_be_visible()
    expect(page.locator("#confirm-no")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("dialog#confirm")).to_have_count(0)
    expect(button).to_be_focused()
    assert me(other["access_token"]).status_code == 200

    button.click()
    page.click("#confirm-yes")
    expect(page.locator("#status")).to_contain_text("Signed out Firefox on Windows")
    expect(page.locator("#rows tr")).to_have_count(1)
    r = refused_within(other["access_token"], 6)
    assert r.json()["error"] == "token_revoked", r.text
    r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": other["refresh_token"]}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "session_revoked", r.text
    # The browser's own session is untouched.
    page.reload()
    expect(page.locator("#rows tr[data-current=yes]")).to_have_count(1)


def test_sign_out_everywhere_ends_every_session_after_confirmation(page):
    email, password = signup()
    other = api_login(email, password, "curl/8.5.0")
    browser_login(page, email, password, "/sessions")
    expect(page.locator("#rows tr")).to_have_count(2)
    expect(page.locator("#rows")).to_contain_text("(this one)")
    shot(page, "sessions")
    page.click("#logout-all")
    page.click("#confirm-yes")
    expect(page).to_have_url(f"{EDGE}/login")
    assert refused_within(other["access_token"], 6).json()["error"] == "token_revoked"
    page.goto(f"{EDGE}/account")
    expect(page).to_have_url(f"{EDGE}/login?next=/account")


def test_password_change_checks_the_form_shows_the_apis_refusal_and_ends_other_sessions(page):
    email, password = signup()
    other = api_login(email, password, "curl/8.5.0")
    browser_login(page, email, password)
    new = f"a brand new passphrase {secrets.token_hex(4)}"

    page.fill("#current-password", password)
    page.fill("#new-password", new)
    page.fill("#repeat-password", new + "x")
    page.click("#password-submit")
    expect(page.locator("#password-error")).to_have_text("The two new passwords differ.")
    expect(page.locator("#repeat-password")).to_be_focused()

    # The origin's refusal, in its own words (wrong current password).
    page.fill("#current-password", "not the password at all")
    page.fill("#repeat-password", new)
    page.click("#password-submit")
    expect(page.locator("#password-error")).not_to_be_empty()
    wrong = page.locator("#password-error").inner_text()
    r = requests.post(f"{EDGE}/api/password/change", timeout=10, headers={"Authorization": f"Bearer {other['access_token']}"},
                      json={"current_password": "not the password at all", "new_password": new})
    body = r.json()
    assert wrong == (body.get("detail") or body.get("title")), (wrong, body)

    page.fill("#current-password", password)
    page.click("#password-submit")
    expect(page.locator("#status")).to_contain_text("Password changed; 1 other session signed out")
    expect(page.locator("#rows tr")).to_have_count(1)
    assert refused_within(other["access_token"], 6).json()["error"] == "token_revoked"
    r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": new}, timeout=10)
    assert r.status_code == 200, r.text
