"""The `RateLimiter` Durable Object alone, in workerd with real Durable Object storage
(SQLite-backed, as deployed): the JS class of `entry.js` driving the wasm core
(`ratelimit::shard`). The rest of the e2e suite reaches the object only through the edge and
never runs its alarm (every 10 minutes); here a probe subclass calls `alarm()` directly and reads
storage, so the sweep's storage calls (list pages with `start`, deletes in chunks, the alarm
re-armed or not) run against the runtime.

The probe Worker imports the built bundle (build/index.js + build/index_bg.wasm), as bench/
does: run scripts/build-worker.sh first."""
import subprocess, time

import pytest
import requests

from conftest import ROOT, port, port_free

PORT = port(36)
URL = f"http://127.0.0.1:{PORT}"
WORKERD = ROOT / "node_modules/@cloudflare/workerd-linux-64/bin/workerd"

PROBE = r"""
import { RateLimiter } from "./index.js";

// The object under test, plus a few probe paths under /_/ that read and seed its storage.
export class Probe extends RateLimiter {
  async fetch(request) {
    const url = new URL(request.url);
    const s = this.state.storage;
    const q = url.searchParams;
    switch (url.pathname) {
      case "/_/alarm":
        await this.alarm();
        return Response.json({ alarm: await s.getAlarm() });
      case "/_/seed": {
        // n keys from `from` (hex-ordered), each storing `tat` (a BigInt) or the text "garbage".
        const from = Number(q.get("from")), n = Number(q.get("n"));
        const value = q.get("tat") === "garbage" ? "garbage" : BigInt(q.get("tat"));
        for (let i = 0; i < n; i += 128) {
          const batch = {};
          for (let j = i; j < Math.min(n, i + 128); j++) batch[(from + j).toString(16).padStart(32, "0")] = value;
          await s.put(batch);
        }
        return Response.json({ ok: true });
      }
      case "/_/dump": {
        const all = await s.list();
        const out = {};
        for (const [k, v] of all) out[k] = typeof v === "bigint" ? `${v}n` : v;
        return Response.json({ keys: out, alarm: await s.getAlarm() });
      }
      case "/_/unalarm":
        await s.deleteAlarm();
        return Response.json({ ok: true });
      default:
        return super.fetch(request);
    }
  }
}

export default {
  fetch(request, env) {
    const name = new URL(request.url).searchParams.get("object") ?? "rl1-00";
    return env.RL.get(env.RL.idFromName(name)).fetch(request);
  },
};
"""

CONFIG = """using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .probe),
    (name = "do-disk", disk = (path = "%s", writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:%d", http = (), service = "main")],
);
const probe :Workerd.Worker = (
  modules = [
    (name = "probe.js", esModule = embed "probe.js"),
    (name = "index.js", esModule = embed "index.js"),
    (name = "index_bg.wasm", wasm = embed "index_bg.wasm"),
  ],
  compatibilityDate = "2026-04-01",
  bindings = [(name = "RL", durableObjectNamespace = "Probe")],
  # SQLite-backed, as the deployed class (wrangler.toml's [[migrations]]).
  durableObjectNamespaces = [(className = "Probe", uniqueKey = "rate-limiter-probe", enableSql = true)],
  durableObjectStorage = (localDisk = "do-disk"),
);
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    build = ROOT / "build"
    if not (build / "index_bg.wasm").exists():
        pytest.fail("build/ is missing: run scripts/build-worker.sh")
    assert port_free(PORT), f"port {PORT} on 127.0.0.1 is busy: stop whatever runs there"
    tmp = tmp_path_factory.mktemp("rl-object")
    (tmp / "probe.js").write_text(PROBE)
    for f in ("index.js", "index_bg.wasm"):
        (tmp / f).write_bytes((build / f).read_bytes())
    (tmp / "do").mkdir()
    (tmp / "config.capnp").write_text(CONFIG % (tmp / "do", PORT))
    log = tmp / "workerd.log"
    # Our port lies in Linux's ephemeral range: a client socket elsewhere may hold it for a moment.
    for _attempt in range(5):
        proc = subprocess.Popen([str(WORKERD), "serve", str(tmp / "config.capnp")], cwd=tmp,
                                stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(200):
            if proc.poll() is not None or not port_free(PORT):
                break
            time.sleep(0.05)
        if proc.poll() is None:
            break
        if "Address already in use" not in log.read_text():
            pytest.fail(f"workerd exited: {log.read_text()}")
        time.sleep(1)
    else:
        pytest.fail(f"workerd could not bind {PORT}: {log.read_text()}")
    try:
        yield log
    finally:
        proc.terminate()
        proc.wait(10)


def key(n: int) -> str:
    return f"{n:032x}"


def check(obj: str, k: str, limit: int, period_ms: int, cost: int = 1) -> requests.Response:
    return requests.post(f"{URL}/check/{k}/{limit}/{period_ms}/{cost}?object={obj}", timeout=10)


def get(path: str, obj: str, **params) -> dict:
    r = requests.get(f"{URL}{path}", params={"object": obj, **params}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_check_answers_in_the_wire_format_stores_a_bigint_and_arms_the_alarm(probe):
    obj = "checks"
    before_ms = time.time() * 1000
    r = check(obj, key(1), 2, 60_000)
    assert r.status_code == 200, r.text
    kind, new_tat, remaining, reset_ms = r.text.split(" ")
    assert (kind, remaining) == ("a", "1")
    assert 0 < int(reset_ms) <= 30_000
    dump = get("/_/dump", obj)
    assert dump["keys"] == {key(1): f"{new_tat}n"}, "the TAT is stored as a BigInt under the key's hex"
    # The sweep alarm: about 10 minutes from now.
    assert before_ms + 9 * 60_000 < dump["alarm"] < before_ms + 11 * 60_000
    assert check(obj, key(1), 2, 60_000).text.startswith("a ")
    refused = check(obj, key(1), 2, 60_000)
    assert refused.text.startswith("l "), refused.text
    # A refused check and a cost-0 check write nothing.
    assert get("/_/dump", obj)["keys"][key(1)] == f"{int(new_tat) + 30_000 * 1_000_000}n"
    assert check(obj, key(2), 2, 60_000, cost=0).text.startswith("a ")
    assert key(2) not in get("/_/dump", obj)["keys"]


def test_a_malformed_check_is_a_400(probe):
    r = requests.post(f"{URL}/check/{key(1)}/0/60000/1?object=bad", timeout=10)
    assert (r.status_code, r.text) == (400, "bad rate-limit check")
    r = requests.post(f"{URL}/check/zz/1/60000/1?object=bad", timeout=10)
    assert r.status_code == 400


def test_a_stored_count_is_loaded_when_memory_does_not_have_it(probe):
    obj = "loaded"
    # 1 per hour, spent a minute ago (its TAT is 59 minutes ahead): refused from storage alone.
    tat = (int(time.time()) + 59 * 60) * 1_000_000_000
    get("/_/seed", obj, **{"from": 5, "n": 1, "tat": tat})
    r = check(obj, key(5), 1, 3_600_000)
    assert r.text.startswith("l "), r.text
    assert 58 * 60_000 <= int(r.text.split(" ")[1]) <= 59 * 60_000


def test_the_sweep_pages_through_storage_deletes_passed_keys_and_keeps_counting_ones(probe):
    obj = "sweep"
    now_ns = int(time.time()) * 1_000_000_000
    # 1100 passed keys (3 pages of 512), 20 garbage values, and 3 keys still counting.
    get("/_/seed", obj, **{"from": 0x1000, "n": 1100, "tat": now_ns - 1})
    get("/_/seed", obj, **{"from": 0x2000, "n": 20, "tat": "garbage"})
    get("/_/seed", obj, **{"from": 0x3000, "n": 3, "tat": now_ns + 3_600 * 1_000_000_000})
    assert len(get("/_/dump", obj)["keys"]) == 1123
    after = get("/_/alarm", obj)
    dump = get("/_/dump", obj)
    assert sorted(dump["keys"]) == [key(0x3000), key(0x3001), key(0x3002)]
    now_ms = time.time() * 1000
    assert now_ms + 9 * 60_000 < after["alarm"] < now_ms + 11 * 60_000, "keys remain: re-armed"


def test_an_empty_sweep_leaves_no_alarm_and_the_next_check_arms_it_again(probe):
    obj = "empty"
    # 1 per second: the key's TAT passes a second later.
    assert check(obj, key(7), 1, 1_000).text.startswith("a ")
    assert get("/_/dump", obj)["alarm"] is not None
    get("/_/unalarm", obj)
    time.sleep(1.2)
    assert get("/_/alarm", obj)["alarm"] is None, "nothing left to sweep: no alarm"
    assert get("/_/dump", obj) == {"keys": {}, "alarm": None}
    assert check(obj, key(7), 1, 1_000).text.startswith("a ")
    assert get("/_/dump", obj)["alarm"] is not None, "the next check armed the alarm again"


def test_the_log_shows_no_error(probe):
    text = probe.read_text()
    assert "Error" not in text and "Uncaught" not in text, text
