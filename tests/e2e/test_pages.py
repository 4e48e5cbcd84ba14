"""The pages in a real browser (Debian's Chromium driven by Playwright), through the real Worker:
the edge redirects to login, serves the pages, and the cookies the origin sets authenticate them."""
import secrets

import pytest
from playwright.sync_api import expect, sync_playwright

from conftest import launch_chromium, EDGE



@pytest.fixture(scope="module")
def page(system):
    with sync_playwright() as p:
        browser = launch_chromium(p)
        ctx = browser.new_context()
        pg = ctx.new_page()
        yield pg
        pg.screenshot(path=str(system.tmp / "last-page.png"))
        browser.close()


def test_a_person_signs_up_sees_the_account_and_sessions_then_logs_out(system, page):
    page.goto(f"{EDGE}/account")
    expect(page).to_have_url(f"{EDGE}/login?next=/account")

    email = f"browser-{secrets.token_hex(4)}@example.com"
    page.goto(f"{EDGE}/signup")
    page.fill("#email", email)
    page.fill("#password", "password1234")  # long enough, but a common password: the origin refuses it
    page.click("button[type=submit]")
    expect(page.locator("#error")).not_to_be_empty()
    expect(page).to_have_url(f"{EDGE}/signup")

    page.fill("#password", f"a long browser passphrase {secrets.token_hex(4)}")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{EDGE}/account")
    expect(page.locator("#user")).not_to_be_empty()
    expect(page.locator("#roles")).to_contain_text("user")
    page.screenshot(path=str(system.tmp / "account.png"))

    page.goto(f"{EDGE}/sessions")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator("#rows")).to_contain_text("(this one)")

    page.click("#logout")
    expect(page).to_have_url(f"{EDGE}/login")
    page.goto(f"{EDGE}/account")
    expect(page).to_have_url(f"{EDGE}/login?next=/account")


def test_the_login_page_honours_next_but_never_leaves_the_site(system, page):
    email = f"next-{secrets.token_hex(4)}@example.com"
    password = f"another long passphrase {secrets.token_hex(4)}"
    import requests
    assert requests.post(f"{EDGE}/auth/signup", json={"email": email, "password": password}, timeout=10).status_code == 201
    # `//host` and `/<tab>/host` (browsers drop the tab) both leave the site if trusted.
    evils = ["//evil.example/steal", "%2F%09%2Fevil.example", "/%5Cevil.example"]
    for evil in evils:
        # Signed out (cookies and the pages' session hint gone): the password form, then `next`.
        page.context.clear_cookies()
        page.goto(f"{EDGE}/login")
        page.evaluate("localStorage.clear(); sessionStorage.clear()")
        page.goto(f"{EDGE}/login?next={evil}")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: not url.endswith("/login") and "/login?" not in url)
        assert page.url.startswith(EDGE + "/"), page.url
    # Still signed in, the login page resumes the session by itself (one silent refresh) and goes
    # to `next`: the same same-origin rule holds on that path.
    for evil in evils:
        page.evaluate("sessionStorage.clear()")  # the once-in-30-s guard
        page.goto(f"{EDGE}/login?next={evil}")
        page.wait_for_url(lambda url: "/login" not in url)
        assert page.url.startswith(EDGE + "/"), page.url


def test_a_sign_in_alone_lets_the_login_page_resume_the_session(system, page):
    """The login page's silent resume needs the hint that this browser has a live session. The
    sign-in itself sets it: it must not depend on the next page's status request (GET
    /auth/session) finishing before the person moves on. Here that request never answers."""
    import requests

    email = f"hint-{secrets.token_hex(4)}@example.com"
    password = f"a long passphrase for the hint {secrets.token_hex(4)}"
    assert requests.post(f"{EDGE}/auth/signup", json={"email": email, "password": password}, timeout=10).status_code == 201
    page.context.clear_cookies()
    page.goto(f"{EDGE}/login")
    page.evaluate("localStorage.clear(); sessionStorage.clear()")
    page.route("**/auth/session", lambda route: route.abort())
    try:
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{EDGE}/account")
        assert page.evaluate("localStorage.getItem('edge-auth:session-hint')") == "1"
        page.goto(f"{EDGE}/login?next=/sessions")
        page.wait_for_url(f"{EDGE}/sessions")
    finally:
        page.unroute("**/auth/session")


def test_secret_forms_are_inert_until_their_script_runs_and_never_put_a_password_in_a_url(system, page):
    """A click before the page's module script has attached its handler would submit the form
    natively: as a GET, with the password in the URL. So the forms that carry a secret post, and
    their buttons start disabled; the page's script enables them (driven in a real browser above
    and in test_account_pages / test_passkeys_pages)."""
    import re

    import requests

    for path, buttons in (("/login", ['type="submit"', 'id="passkey-login"']), ("/signup", ['type="submit"'])):
        html = requests.get(f"{EDGE}{path}", timeout=10).text
        forms = re.findall(r"<form\b[^>]*>", html)
        assert forms, path
        for tag in forms:
            assert 'method="post"' in tag, (path, tag)
        for b in buttons:
            tag = next((t for t in re.findall(r"<button\b[^>]*>", html) if b in t), None)
            assert tag is not None, (path, b)
            assert re.search(r"\sdisabled(\s|>|=)", tag), (path, tag)
    ctx = page.context.browser.new_context()  # a clean browser profile, in the module's Chromium
    try:
        pg = ctx.new_page()
        for path in ("/login", "/signup"):
            pg.goto(f"{EDGE}{path}")
            expect(pg.locator("#form button[type=submit]")).to_be_enabled()
        pg.goto(f"{EDGE}/login")
        expect(pg.locator("#passkey-login")).to_be_enabled()
    finally:
        ctx.close()
