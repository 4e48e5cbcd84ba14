"""Issue 4, origin side, end to end through the Worker: exactly-once storage, background
processing with retries, crash recovery after SIGKILL, dead events re-queued, and a real handler."""
import concurrent.futures as cf
import json, secrets, time

import pytest
import requests
import stripe

from conftest import EDGE


@pytest.fixture(scope="module")
def admin(system):
    """An admin of the origin (created with its CLI), logged in through the edge."""
    email, password = f"admin-{secrets.token_hex(4)}@example.com", f"admin passphrase {secrets.token_hex(6)}"
    system.origin_cli("create-admin", email, input=password + "\n")
    r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    assert "webhooks:admin" in r.json()["permissions"]
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def deliver(system, event: dict) -> requests.Response:
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, system.webhook_secrets["stripe"], timestamp=int(time.time()))
    return requests.post(f"{EDGE}/webhooks/stripe", data=body.encode(), timeout=10,
                         headers={"Stripe-Signature": header, "Content-Type": "application/json"})


def event(kind: str, **data) -> dict:
    return {"id": "evt_" + secrets.token_hex(10), "object": "event", "type": kind, "created": int(time.time()),
            "data": {"object": data}}


def find(admin, event_id: str) -> dict | None:
    for _ in range(5):  # right after the origin restarts, the edge may still answer 503 once or twice
        r = requests.get(f"{EDGE}/admin/webhooks", params={"event_id": event_id}, headers=admin, timeout=10)
        if r.status_code != 503:
            break
        time.sleep(0.5)
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    assert len(events) <= 1, events
    return events[0] if events else None


def wait_for(admin, event_id: str, status: str, timeout=20) -> dict:
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        last = find(admin, event_id)
        if last and last["status"] == status:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{event_id} did not reach {status}: {last}")


def detail(admin, row_id: int) -> dict:
    for _ in range(5):
        r = requests.get(f"{EDGE}/admin/webhooks/{row_id}", headers=admin, timeout=10)
        if r.status_code != 503:
            break
        time.sleep(0.5)
    assert r.status_code == 200, r.text
    return r.json()


def test_five_concurrent_copies_are_stored_once_and_processed_once(system, admin):
    ev = event("customer.subscription.updated", id="sub_e2e", customer="cus_" + secrets.token_hex(4), status="active")
    body = json.dumps(ev)
    header = stripe.WebhookSignature.generate_signature_header(body, system.webhook_secrets["stripe"], timestamp=int(time.time()))

    def send(_):
        return requests.post(f"{EDGE}/webhooks/stripe", data=body.encode(), timeout=10,
                             headers={"Stripe-Signature": header, "Content-Type": "application/json"})

    with cf.ThreadPoolExecutor(5) as pool:
        answers = [r.json()["status"] for r in pool.map(send, range(5))]
    assert sorted(answers) == ["accepted"] + ["duplicate"] * 4, answers
    done = wait_for(admin, ev["id"], "done")
    assert done["attempts"] == 1
    customer = ev["data"]["object"]["customer"]
    r = requests.get(f"{EDGE}/admin/webhooks/subscriptions/{customer}", headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"


def test_a_handler_that_fails_twice_then_succeeds_ends_done_after_three_attempts(system, admin):
    ev = event("test.fail_n_times", fail_times=2)
    assert deliver(system, ev).status_code == 202
    done = wait_for(admin, ev["id"], "done")
    assert done["attempts"] == 3
    outcomes = [a["outcome"] for a in detail(admin, done["id"])["attempt_log"]]
    assert outcomes == ["error", "error", "done"], outcomes


def test_a_poison_event_ends_dead_and_can_be_requeued(system, admin):
    ev = event("test.poison")
    assert deliver(system, ev).status_code == 202
    dead = wait_for(admin, ev["id"], "dead")
    assert dead["attempts"] == 4 and dead["last_error"]
    r = requests.post(f"{EDGE}/admin/webhooks/{dead['id']}/requeue", headers=admin, timeout=10)
    assert r.status_code == 202, r.text
    # Re-queued: it runs again (and, being poison, dies again after its attempts).
    again = wait_for(admin, ev["id"], "dead")
    assert len(detail(admin, again["id"])["attempt_log"]) > 4


def test_an_event_interrupted_by_sigkill_completes_after_restart(system, admin):
    ev = event("test.sleep", sleep_ms=2500)
    assert deliver(system, ev).status_code == 202
    deadline = time.time() + 10
    while time.time() < deadline:  # wait until a worker has claimed it
        e = find(admin, ev["id"])
        if e and e["locked_until"]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the event was never claimed")
    system.restart_origin(kill=True)
    done = wait_for(admin, ev["id"], "done", timeout=30)
    outcomes = [a["outcome"] for a in detail(admin, done["id"])["attempt_log"]]
    assert outcomes[0] == "abandoned" and outcomes[-1] == "done", outcomes


def test_the_admin_api_needs_webhooks_admin(system):
    token = system.token(permissions=["rbac:admin"])
    r = requests.get(f"{EDGE}/admin/webhooks", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code in (401, 403), r.text
