"""Issue 22 part 4, check 5: a rolling restart with a new migration, under load through the edge.

Full run: the three processes start on the origin of 7c5ac22 (before migration 0003, which adds the
revocation feed's commit order); `<new binary> migrate` applies 0003 and every later migration of this
commit (0004: signing-key activation) while they serve; then each is
replaced by the new binary (stop → start → /readyz), one at a time. Then (and in --short, where the
old binary is not built, only this) a rolling restart of the new binary: SIGTERM → /readyz 503 for
SHUTDOWN_DRAIN_SECS → graceful stop → start → /readyz 200. A client keeps sending authenticated
GETs, refresh-token rotations and webhook deliveries through the edge the whole time."""
import os, secrets, signal, time

import pytest
import requests

from conftest import make_stack
from stack import DRAIN_SECS, EDGE, SHORT, Load, env_required, new_rid, signup_and_login
from test_a_cross_process import deliver, stripe_event, wait_all_done, wait_for_edge_401


@pytest.fixture(scope="module")
def roll():
    new = env_required("SCALE_ORIGIN_BIN")
    old = None if SHORT else env_required("SCALE_OLD_ORIGIN_BIN")
    # The old binary has no /readyz (it came with the same release as the drain); /healthz then.
    s = make_stack("roll", old or new, ready_path="/healthz" if old else "/readyz")
    s.old_bin, s.new_bin = old, new
    yield s
    s.close()


def migrations(stack) -> list[str]:
    return [r[0] for r in stack.db.rows("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")]


def served_after(stack, index: int, since: float) -> int:
    """Requests with status 200 that origin `index` logged after `since` (unix seconds)."""
    import datetime
    n = 0
    for line in stack.origin_lines(index):
        if line.get("message") == "request" and line.get("status") == 200:
            t = datetime.datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
            n += t > since
    return n


def logout_is_enforced(limit_s: float) -> float:
    _, _, t = signup_and_login()
    assert requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {t['access_token']}"}, timeout=10).status_code == 200
    r = requests.post(f"{EDGE}/auth/logout", headers={"Authorization": f"Bearer {t['access_token']}"}, timeout=10)
    assert r.status_code == 204, r.text
    return wait_for_edge_401(t["access_token"], "token_revoked", limit_s)


def test_5_rolling_restart_with_a_new_migration_fails_no_request(roll):
    prefix = "s5" + secrets.token_hex(3)
    _, _, user = signup_and_login()
    auth = {"Authorization": f"Bearer {user['access_token']}"}
    load = Load()
    for _ in range(2):
        load.loop("get", lambda s: s.get(f"{EDGE}/api/sessions", headers=auth, timeout=20), max_requests=5000)

    # A refresh-token chain: a rotation whose answer got lost would break it (the next refresh
    # would present a consumed token: reuse, family revoked).
    chain = {"token": signup_and_login()[2]["refresh_token"]}

    def rotate(s):
        r = s.post(f"{EDGE}/auth/refresh", json={"refresh_token": chain["token"]}, timeout=20,
                   headers={"x-request-id": new_rid()})
        if r.status_code == 200:
            chain["token"] = r.json()["refresh_token"]
        time.sleep(0.05)
        return r
    load.loop("refresh", rotate, max_requests=2000)

    sent: list[str] = []

    def hook(s):
        ev = stripe_event(prefix, "test.fail_n_times", fail_times=0)
        r = deliver(roll, ev, s)
        if r.status_code == 202:
            sent.append(ev["id"])
        time.sleep(0.05)
        return r
    load.loop("hook", hook, max_requests=2000)

    timeline = []
    time.sleep(2.0)
    mixed_revocation_s = None
    if roll.old_bin:
        before = migrations(roll)
        assert "3" not in before, before
        out = roll.cli(roll.new_bin, "migrate")
        t_migrated = time.time()
        after = migrations(roll)
        added = after[len(before):]
        assert after[:len(before)] == before and "3" in added, (before, after)
        timeline.append(f"new binary migrate: {', '.join(a.zfill(4) for a in added)} applied while the old processes serve")
        time.sleep(3.0)
        # The old processes kept serving on the migrated schema.
        for o in roll.origins:
            assert served_after(roll, o.index, t_migrated) > 0, f"old process {o.index} served nothing after the migration"
        for i, o in enumerate(roll.origins):
            o.stop(signal.SIGINT)  # the old binary's graceful stop (it has no SIGTERM handler)
            o.start(roll.new_bin)
            timeline.append(f"process {i}: old → new")
            if i == 0:
                # One new process, two old ones: the edge's feed cursor passes between two formats.
                mixed_revocation_s = logout_is_enforced(limit_s=6.0)
                timeline.append(f"mixed versions: a logout reached the edge in {mixed_revocation_s:.2f} s")
            time.sleep(1.0)
        for o in roll.origins:
            r = requests.get(f"http://{o.addr}/readyz", timeout=5)
            assert r.status_code == 200 and r.json().get("newer_migrations") in ([], None), r.text
    else:
        print("\n--short: no old binary; the rolling upgrade across migration 0003 runs in the full scale test only")

    # Rolling restart of the new binary: SIGTERM drains readiness, then stops gracefully.
    for i, o in enumerate(roll.origins):
        os.killpg(o.proc.pid, signal.SIGTERM)
        t0, saw_draining = time.time(), False
        while time.time() - t0 < DRAIN_SECS + 1:
            try:
                r = requests.get(f"http://{o.addr}/readyz", timeout=1)
            except requests.RequestException:
                break
            if r.status_code == 503 and r.json().get("reason") == "shutting_down":
                saw_draining = True
                break
            time.sleep(0.05)
        assert saw_draining, f"process {i}: /readyz never answered 503 shutting_down after SIGTERM"
        o.proc.wait(DRAIN_SECS + 20)
        assert o.proc.returncode == 0, f"process {i} exited {o.proc.returncode} after SIGTERM"
        o.start()
        timeline.append(f"process {i}: SIGTERM → drained → restarted ({time.time() - t0:.1f} s)")
        time.sleep(1.0)

    time.sleep(1.0)
    load.finish()
    counts = {}
    for _, kind, outcome in load.results:
        counts.setdefault(kind, {}).setdefault(outcome, 0)
        counts[kind][outcome] += 1
    print("\n" + "\n".join(timeline))
    print(f"requests through the edge during the restarts: {counts}")
    feed = {}
    for e in roll.nginx_log():
        if e["uri"] == "/internal/revocations":
            feed[e["status"]] = feed.get(e["status"], 0) + 1
    print(f"revocation-feed polls through nginx by status: {feed}")
    failed = [r for r in load.results if r[2] not in ("200", "202")]
    assert not failed, failed[:10]
    assert counts["get"].get("200", 0) >= 100 and counts["refresh"].get("200", 0) >= 20 and len(sent) >= 20, counts
    # The refresh chain is intact: the current token still works.
    r = requests.post(f"{EDGE}/auth/refresh", json={"refresh_token": chain["token"]}, timeout=20)
    assert r.status_code == 200, r.text
    table = wait_all_done(roll, prefix, set(sent), timeout=60)
    assert all(t["rows"] == 1 and t["done"] == 1 for t in table.values())
    # After the upgrade the revocation feed still reaches the edge.
    delay = logout_is_enforced(limit_s=3.0)
    print(f"after the upgrade: a logout reached the edge in {delay:.2f} s (poll interval 1 s)")


def test_5b_a_process_of_this_release_restarts_after_a_later_release_migrated(roll):
    """The other half of a rolling upgrade (and of rolling back): the next release migrates while
    processes of this one still run, and one of them restarts (crash, host reboot). With
    MIGRATE_ON_START=false it must start and be ready, reporting the newer migration — the
    7c5ac22 origin cannot (it migrates on start and sqlx refuses "migration 3 was previously
    applied but is missing"). The later release is simulated by a row in _sqlx_migrations."""
    roll.db.rows("INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) "
                 "VALUES (9999, 'scale test: a later release', now(), true, '\\x00'::bytea, 0)")
    try:
        o = roll.origins[2]
        o.stop(signal.SIGTERM)
        o.start()  # waits for /readyz 200
        r = requests.get(f"http://{o.addr}/readyz", timeout=5)
        assert r.status_code == 200, r.text
        assert [str(v) for v in r.json().get("newer_migrations", [])] == ["9999"], r.text
        _, _, t = signup_and_login()
        assert requests.get(f"{EDGE}/api/sessions", headers={"Authorization": f"Bearer {t['access_token']}"},
                            timeout=10).status_code == 200
    finally:
        roll.db.rows("DELETE FROM _sqlx_migrations WHERE version = 9999")
