"""Issue 18 part 3: the admin page in a real browser (Debian's Chromium under Playwright), through
the real Worker and origin, as an admin made with the origin's CLI. Roles and permissions made on
the page reach the user's next token; disable/enable; the audit log's filter and pages; a dead
webhook event re-queued from the page; the page refused to a non-admin. SCREENSHOTS=1 also writes
docs/screenshots/admin-*.png. One test runs its own Worker (port offset 25) whose role-assignment
route wants an authentication at most 2 s old, to drive the step-up dialog from the admin page."""
import json, secrets, time

import pytest
import requests
import stripe
from playwright.sync_api import expect, sync_playwright

from conftest import EDGE, launch_chromium, port, port_free, start_edge, stop
from test_account_pages import VIEWPORT, shot, signup


@pytest.fixture(scope="module")
def admin(system):
    email, password = f"admin-{secrets.token_hex(4)}@example.com", f"admin page passphrase {secrets.token_hex(6)}"
    system.origin_cli("create-admin", email, input=password + "\n")
    r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    return {"email": email, "password": password, "headers": {"Authorization": f"Bearer {r.json()['access_token']}"}}


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def admin_context(browser, admin):
    """One browser signed in as the admin for the whole module (the edge allows an account five
    log-ins a minute, so each test opens a page in it rather than logging in again)."""
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.goto(f"{EDGE}/admin")
    expect(pg).to_have_url(f"{EDGE}/login?next=/admin")
    pg.fill("#email", admin["email"])
    pg.fill("#password", admin["password"])
    pg.click("#form button[type=submit]")
    expect(pg).to_have_url(f"{EDGE}/admin#users")
    pg.close()
    yield ctx
    ctx.close()


@pytest.fixture
def page(admin_context, system):
    """A fresh tab on the admin page, watched for script errors and CSP violations."""
    pg = admin_context.new_page()
    problems = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(f"console: {m.text}")
          if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    pg.goto(f"{EDGE}/admin#users")
    expect(pg.locator("#tab-users")).to_have_attribute("aria-selected", "true")
    yield pg
    pg.screenshot(path=str(system.tmp / "last-admin-page.png"))
    pg.close()
    assert not problems, problems


def login(email, password):
    r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=10)
    return r


def find_user(page, email):
    page.click("#tab-users")
    page.fill("#user-q", email)
    page.click("#user-search button[type=submit]")
    expect(page.locator("#user-rows tr")).to_have_count(1)  # the search's answer, not the tab's first list
    row = page.locator(f"#user-rows tr[data-email='{email}']")
    expect(row).to_have_count(1)
    return row


def test_a_role_made_on_the_page_reaches_the_users_next_token(page, admin):
    email, password = signup()
    t = login(email, password).json()
    assert "reports:read" not in t["permissions"]
    role, perm = f"analyst-{secrets.token_hex(3)}", f"reports:read-{secrets.token_hex(3)}"

    page.click("#tab-roles")
    expect(page).to_have_url(f"{EDGE}/admin#roles-panel")
    page.fill("#permission-name", perm)
    page.fill("#permission-description", "Read the reports")
    page.click("#new-permission button[type=submit]")
    expect(page.locator("#status")).to_contain_text(f"Permission {perm} created.")
    page.fill("#role-name", role)
    page.select_option("#role-parent", "user")
    page.fill("#role-description", "Reads reports")
    page.click("#new-role button[type=submit]")
    row = page.locator(f"#roles tr[data-role='{role}']")
    expect(row).to_contain_text("Reads reports")
    expect(row.locator("select[data-parent]")).to_have_value("user")
    row.locator("select[data-grant-select]").select_option(perm)
    row.locator("button[data-grant]").click()
    expect(row.locator(".tags")).to_contain_text(perm)
    shot(page, "admin-roles")

    # A bad name: the API's own message is shown, nothing is made.
    page.fill("#role-name", "Not A Name")
    page.click("#new-role button[type=submit]")
    expect(page.locator("#roles-error")).not_to_be_empty()
    r = requests.post(f"{EDGE}/admin/roles", json={"name": "Not A Name"}, headers=admin["headers"], timeout=10)
    assert r.status_code == 422 and page.locator("#roles-error").inner_text() == (r.json().get("detail") or r.json()["title"])

    row = find_user(page, email)
    row.locator("select[data-assign-select]").select_option(role)
    row.locator("button[data-assign]").click()
    expect(page.locator("#status")).to_contain_text(f"{email} now has the role {role}.")
    expect(row.locator(".tags")).to_contain_text(role)

    # The user's next token (a refresh) carries the permission, and the edge passes it on.
    r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert perm in r.json()["permissions"] and role in r.json()["roles"], r.json()
    me = requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}, timeout=10).json()
    assert perm in me["permissions"], me

    # Taking the role away again, after a confirmation.
    row.locator(f"button[data-unassign='{role}']").click()
    page.click("#confirm-yes")
    expect(row.locator(".tags")).not_to_contain_text(role)


def test_disable_and_enable_a_user(page):
    email, password = signup()
    t = login(email, password).json()
    row = find_user(page, email)
    expect(row.locator("[data-status]")).to_have_text("Active")
    row.locator("button[data-toggle=disable]").click()
    expect(page.locator("dialog#confirm")).to_contain_text(f"Disable {email}?")
    shot(page, "admin-confirm")
    page.click("#confirm-yes")
    expect(row.locator("[data-status]")).to_have_text("Disabled")
    r = login(email, password)
    assert r.status_code in (401, 403) and r.json()["error"] == "account_disabled", r.text
    r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
    assert r.status_code == 401, r.text

    row.locator("button[data-toggle=enable]").click()  # enabling needs no confirmation
    expect(row.locator("[data-status]")).to_have_text("Active")
    assert login(email, password).status_code == 200


def test_the_user_search_pages_and_says_when_nothing_matches(page):
    tag = secrets.token_hex(3)
    emails = sorted(f"page-{tag}-{i:02}@example.com" for i in range(23))
    for e in emails:
        signup(e)
    page.fill("#user-q", f"page-{tag}")
    page.click("#user-search button[type=submit]")
    rows = page.locator("#user-rows tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_attribute("data-email", emails[0])
    shot(page, "admin-users")
    page.click("#user-pager button[data-page=next]")
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-email", emails[20])
    expect(page.locator("#user-pager button[data-page=next]")).to_be_disabled()
    page.click("#user-pager button[data-page=prev]")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_attribute("data-email", emails[0])
    page.fill("#user-q", f"nobody-{tag}")
    page.click("#user-search button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_text(f"No users match “nobody-{tag}”.")


def test_the_audit_log_filters_by_action_and_pages(page):
    email, _ = signup()
    row = find_user(page, email)
    row.locator("button[data-toggle=disable]").click()
    page.click("#confirm-yes")
    expect(row.locator("[data-status]")).to_have_text("Disabled")
    uid = row.get_attribute("data-user")

    page.click("#tab-audit")
    page.fill("#audit-action", "user.disable")
    page.select_option("#audit-limit", "10")
    page.click("#audit-filter button[type=submit]")
    # Wait for the filtered page itself: the unfiltered one the tab loaded also starts with this
    # user.disable (the newest entry), so its first row alone does not say the filter answered
    # (CI read the unfiltered rows once, session 17).
    expect(page.locator('#audit tr:not([data-action="user.disable"])')).to_have_count(0)
    first = page.locator("#audit tr").first
    expect(first).to_have_attribute("data-action", "user.disable")
    expect(first).to_contain_text(uid)
    for a in page.locator("#audit tr").evaluate_all("rows => rows.map(r => r.dataset.action)"):
        assert a == "user.disable", a

    # Pages of ten sign-ups, newest first, no entry twice; "Previous" comes back to the first page.
    for _ in range(11):
        signup()
    page.fill("#audit-action", "user.signup")
    page.click("#audit-filter button[type=submit]")
    rows = page.locator("#audit tr")
    expect(rows).to_have_count(10)
    ids = lambda: [int(i) for i in rows.evaluate_all("rows => rows.map(r => r.dataset.id)")]
    page1 = ids()
    assert page1 == sorted(page1, reverse=True)
    shot(page, "admin-audit")
    page.click("#audit-pager button[data-page=next]")
    expect(rows.first).not_to_have_attribute("data-id", str(page1[0]))
    page2 = ids()
    assert page2 and max(page2) < min(page1), (page1, page2)
    page.click("#audit-pager button[data-page=prev]")
    expect(rows.first).to_have_attribute("data-id", str(page1[0]))


def deliver(system, event: dict):
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, system.webhook_secrets["stripe"], timestamp=int(time.time()))
    r = requests.post(f"{EDGE}/webhooks/stripe", data=body.encode(), timeout=10,
                      headers={"Stripe-Signature": header, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text


def event_status(admin, event_id):
    r = requests.get(f"{EDGE}/admin/webhooks", params={"event_id": event_id}, headers=admin["headers"], timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["events"][0] if r.json()["events"] else None


def test_a_dead_webhook_event_is_requeued_from_the_page(page, system, admin):
    ev = {"id": "evt_" + secrets.token_hex(10), "object": "event", "type": "test.poison", "created": int(time.time()),
          "data": {"object": {}}}
    deliver(system, ev)
    deadline = time.time() + 30
    while (e := event_status(admin, ev["id"])) is None or e["status"] != "dead":
        assert time.time() < deadline, f"never dead: {e}"
        time.sleep(0.2)

    page.click("#tab-webhooks")
    expect(page.locator("#webhook-status")).to_have_value("dead")
    row = page.locator(f"#webhook-rows tr[data-event='{ev['id']}']")
    expect(row).to_contain_text("dead")
    expect(row).to_contain_text("4")
    row.locator("button[data-details]").click()
    expect(page.locator("#webhook-rows tr.attempts li")).to_have_count(4)
    shot(page, "admin-webhooks")
    row.locator("button[data-requeue]").click()
    expect(page.locator("#status")).to_contain_text(f"Event {ev['id']} queued again.")
    # It ran again (a poison event dies again after its attempts), with a longer attempt log.
    deadline = time.time() + 30
    while True:
        e = event_status(admin, ev["id"])
        d = requests.get(f"{EDGE}/admin/webhooks/{e['id']}", headers=admin["headers"], timeout=10).json()
        if e["status"] == "dead" and len(d["attempt_log"]) > 4:
            break
        assert time.time() < deadline, (e, d)
        time.sleep(0.2)
    # The requeue is in the audit log, by the admin.
    page.click("#tab-audit")
    page.fill("#audit-action", "webhook.requeue")
    page.click("#audit-filter button[type=submit]")
    expect(page.locator("#audit tr").first).to_contain_text(str(e["id"]))


def test_the_tabs_work_from_the_keyboard_and_sod_pairs_are_added_and_removed(page):
    tag = secrets.token_hex(3)
    a, b = f"checker-{tag}", f"maker-{tag}"  # the API keeps a pair in name order
    # The tabs work from the keyboard: arrows move and show, Home/End jump.
    page.focus("#tab-users")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-roles")).to_be_focused()
    expect(page.locator("#tab-roles")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#roles-panel")).to_be_visible()
    expect(page.locator("#users")).to_be_hidden()
    page.keyboard.press("End")
    expect(page.locator("#tab-keys")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-users")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tab-keys")).to_have_attribute("aria-selected", "true")
    page.click("#tab-roles")
    for name in (a, b):
        page.fill("#role-name", name)
        page.click("#new-role button[type=submit]")
        expect(page.locator(f"#roles tr[data-role='{name}']")).to_have_count(1)
    page.click("#tab-sod")
    # A role paired with itself: the API's refusal is shown.
    page.select_option("#sod-a", a)
    page.select_option("#sod-b", a)
    page.click("#new-sod button[type=submit]")
    expect(page.locator("#sod-error")).not_to_be_empty()
    page.select_option("#sod-a", b)
    page.select_option("#sod-b", a)
    page.click("#new-sod button[type=submit]")
    pair = page.locator(f"#sod-rows tr[data-pair='{a}/{b}']")
    expect(pair).to_have_count(1)
    expect(page.locator("#sod-error")).to_be_empty()
    pair.locator("button").click()
    page.click("#confirm-yes")
    expect(pair).to_have_count(0)


def test_the_admin_page_and_api_are_refused_to_a_non_admin(browser):
    email, password = signup()
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.goto(f"{EDGE}/login?next=/account")
    pg.fill("#email", email)
    pg.fill("#password", password)
    pg.click("#form button[type=submit]")
    expect(pg).to_have_url(f"{EDGE}/account")
    res = pg.goto(f"{EDGE}/admin")
    assert res.status == 403, res.status
    assert pg.locator("#user-rows").count() == 0  # the page itself never arrived
    r = pg.request.get(f"{EDGE}/admin/users?q=a")
    assert r.status == 403 and r.json()["error"] == "insufficient_permissions", r.text()
    ctx.close()


STEP_UP_PORT = port(25)


@pytest.fixture(scope="module")
def fresh_edge(system, tmp_path_factory):
    """The shipped routes behind one rule: assigning a role needs an authentication ≤ 2 s old."""
    assert port_free(STEP_UP_PORT), f"port {STEP_UP_PORT} on 127.0.0.1 is busy"
    routes = [{"id": "admin-role-change-fresh", "methods": ["PUT", "DELETE"], "path": "/admin/users/{id}/roles/{role}",
               "access": {"permissions": ["rbac:admin"]}, "require_fresh_auth": 2}] + system.edge_vars["ROUTES"]
    tmp = tmp_path_factory.mktemp("admin-step-up")
    proc = start_edge(tmp, {**system.edge_vars, "ROUTES": routes}, STEP_UP_PORT, "edge-admin-step-up")
    yield f"http://127.0.0.1:{STEP_UP_PORT}"
    stop(proc)


def test_an_old_sign_in_is_confirmed_in_the_step_up_dialog_and_the_change_retried(browser, admin, fresh_edge):
    email, _ = signup()
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.goto(f"{fresh_edge}/admin")
    pg.fill("#email", admin["email"])
    pg.fill("#password", admin["password"])
    pg.click("#form button[type=submit]")
    expect(pg).to_have_url(f"{fresh_edge}/admin#users")
    time.sleep(3)  # the sign-in is now older than the route allows
    row = find_user(pg, email)
    row.locator("select[data-assign-select]").select_option("admin")
    row.locator("button[data-assign]").click()
    dialog = pg.locator("dialog#step-up")
    expect(dialog).to_be_visible()
    expect(pg.locator("#step-up-password")).to_be_focused()
    pg.fill("#step-up-password", "not the password")
    pg.click("#step-up-confirm")
    expect(dialog.locator("[role=alert]")).not_to_be_empty()  # refused: still asking
    expect(row.locator(".tags")).not_to_contain_text("admin")
    pg.fill("#step-up-password", admin["password"])
    pg.click("#step-up-confirm")
    expect(dialog).to_have_count(0)
    expect(pg.locator("#status")).to_contain_text(f"{email} now has the role admin.")
    expect(row.locator(".tags")).to_contain_text("admin")
    r = requests.get(f"{EDGE}/admin/users", params={"q": email}, headers=admin["headers"], timeout=10)
    assert "admin" in r.json()["users"][0]["roles"], r.text
    ctx.close()
