"""Browser hardening at the edge, through the real Worker in workerd: security headers on pages and on
the edge's own answers, cross-site (CSRF) refusal of cookie-authenticated unsafe requests — in a real
Chromium, from a page on another origin — and the CORS allowlist (`CORS_ORIGINS` in conftest)."""
import secrets, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import sync_playwright

from conftest import launch_chromium, EDGE, port, port_free

OTHER_PORT = port(18)  # another origin on the same host: same-site, cross-origin
ALLOWED = "https://app.example"


def test_pages_cannot_be_framed_and_carry_the_security_headers(system):
    r = requests.get(f"{EDGE}/login", timeout=10)
    assert r.status_code == 200
    h = r.headers
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "object-src 'none'" in h["content-security-policy"]
    # No inline script anywhere: the pages' scripts are files under /static.
    script_src = next(d for d in h["content-security-policy"].split(";") if d.strip().startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'"], script_src
    assert "<script type=\"module\">" not in r.text
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "strict-origin-when-cross-origin"
    assert h["strict-transport-security"].startswith("max-age=")


def test_the_edges_own_answers_are_never_sniffed_or_framed(system):
    r = requests.get(f"{EDGE}/api/me", timeout=10)
    assert r.status_code == 401
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_cross_site_unsafe_requests_without_a_bearer_token_are_refused(system):
    token = system.token(sub="csrf-user")
    cookie = {"Cookie": f"access_token={token}"}
    url = f"{EDGE}/api/me"
    # A form another site posts with the victim's cookie.
    for h in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
              {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}):
        r = requests.post(url, headers={**cookie, **h}, timeout=10)
        assert r.status_code == 403 and r.json()["error"] == "csrf_origin_mismatch", (h, r.text)
    # The same request from the page's own origin, from a listed origin, with a bearer token, or
    # from a server (no Origin, no Sec-Fetch-Site) is not refused by this check.
    for h in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": EDGE}, {"Origin": ALLOWED, "Sec-Fetch-Site": "cross-site"}, {}):
        r = requests.post(url, headers={**cookie, **h}, timeout=10)
        assert r.status_code != 403 or r.json().get("error") != "csrf_origin_mismatch", (h, r.text)
    r = requests.post(url, headers={"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}, timeout=10)
    assert r.json().get("error") != "csrf_origin_mismatch", r.text


@pytest.fixture(scope="module")
def other_site():
    assert port_free(OTHER_PORT), f"port {OTHER_PORT} on 127.0.0.1 is busy"
    pages = {
        # A form that signs the visitor out of the edge's site.
        "/": f"""<!doctype html><title>other site</title>
<form id="f" method="post" action="{EDGE}/auth/logout"><input name="x" value="1"></form>
<script>document.getElementById("f").submit()</script>""",
        # Clickjacking: the edge's log-in page in a frame, next to a frame of this site's own page
        # (no framing headers), which must load — so a blocked frame is the headers' doing.
        "/frame": f"""<!doctype html><title>framing site</title>
<iframe name="edge" src="{EDGE}/login"></iframe>
<iframe name="control" src="/plain"></iframe>""",
        "/plain": """<!doctype html><title>plain</title><p id="plain">framed fine</p>""",
    }

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            page = pages.get(self.path, "").encode()
            self.send_response(200 if page else 404)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    httpd = ThreadingHTTPServer(("127.0.0.1", OTHER_PORT), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{OTHER_PORT}/"
    httpd.shutdown()


def test_in_chromium_a_form_on_another_origin_cannot_sign_the_user_out(system, other_site):
    email, password = f"csrf-{secrets.token_hex(4)}@example.com", f"a long passphrase {secrets.token_hex(4)}"
    with sync_playwright() as p:
        browser = launch_chromium(p)
        ctx = browser.new_context()
        try:
            # Signed in through the pages: the origin's cookies are in this browser, for 127.0.0.1
            # (cookies do not care about ports).
            pg = ctx.new_page()
            pg.goto(f"{EDGE}/signup")
            pg.fill("#email", email)
            pg.fill("#password", password)
            pg.click("button[type=submit]")
            pg.wait_for_url(f"{EDGE}/account")
            assert ctx.request.get(f"{EDGE}/api/me").status == 200
            with pg.expect_response(f"{EDGE}/auth/logout") as posted:
                pg.goto(other_site)
            resp = posted.value
            assert resp.status == 403, resp.text()
            assert resp.json()["error"] == "csrf_origin_mismatch"
            assert "access_token=" in resp.request.all_headers().get("cookie", ""), "the browser did send the session cookie"
            # Still signed in: the forged logout never reached the origin.
            assert ctx.request.get(f"{EDGE}/api/me").status == 200
        finally:
            browser.close()


def test_in_chromium_another_origin_cannot_frame_the_log_in_page(system, other_site):
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            pg = browser.new_page()
            with pg.expect_response(f"{EDGE}/login") as served:
                pg.goto(other_site + "frame", wait_until="load")
            # The edge served the page to the frame; the browser refused to show it.
            assert served.value.status == 200
            assert served.value.headers["x-frame-options"] == "DENY"
            control = pg.frame(name="control")
            control.wait_for_selector("#plain", timeout=10_000)
            edge = pg.frame(name="edge")
            assert edge is not None
            assert not edge.url.startswith(EDGE), edge.url
            assert edge.query_selector("#email") is None and edge.query_selector("form") is None
            # The same page on its own shows the form.
            pg.goto(f"{EDGE}/login")
            assert pg.query_selector("#email") is not None
        finally:
            browser.close()


def test_cors_preflights_are_answered_for_listed_origins_only(system):
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
    r = requests.options(f"{EDGE}/api/me", headers={"Origin": ALLOWED, **ask}, timeout=10)
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"]
    assert r.headers["vary"] == "Origin"
    r = requests.options(f"{EDGE}/api/me", headers={"Origin": "https://evil.example", **ask}, timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "cors_origin_refused", r.text
    assert "access-control-allow-origin" not in r.headers
    # The actual request from the listed origin can be read by its page; another origin's cannot.
    token = system.token(sub="cors-user")
    r = requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {token}", "Origin": ALLOWED}, timeout=10)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in r.headers["access-control-expose-headers"]
    r = requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}, timeout=10)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
