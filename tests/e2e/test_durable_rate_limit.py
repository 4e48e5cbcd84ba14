"""Issue 5, the `durable` rate-limit backend end to end: the real Worker in workerd (`wrangler dev`)
with the `RateLimiter` Durable Object bound as in wrangler.toml, in front of a stub origin that
counts what it receives.

Under `wrangler dev` there is one isolate, so an exact count alone would not tell the Durable
Object from the per-isolate fallback: the tests also require that the edge never logged
`rate_limiter_unavailable`, and that a count survives a restart of the whole Worker (only
Durable Object storage does)."""
import concurrent.futures as cf
import json, secrets, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import port, port_free, start_edge, stop

EDGE_PORT, STUB_PORT = port(6), port(7)
EDGE = f"http://127.0.0.1:{EDGE_PORT}"
LIMIT, PERIOD_SECS = 10, 60
HOURLY_LIMIT = 3


class CountingOrigin:
    """Answers 200 to everything and counts the calls per path prefix."""

    def __init__(self):
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                with outer.lock:
                    prefix = "/" + self.path.split("/")[1]
                    outer.calls[prefix] = outer.calls.get(prefix, 0) + 1
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", STUB_PORT), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def edge_vars() -> dict:
    return {
        "ORIGIN_URL": f"http://127.0.0.1:{STUB_PORT}",
        "ENVELOPE_SECRET": secrets.token_hex(32),
        "ISSUERS": [{"issuer": "https://idp.test", "audiences": ["edge-auth"],
                     "jwks_url": "http://127.0.0.1:9/jwks.json"}],
        "ROUTES": [
            {"id": "health", "methods": ["GET"], "path": "/healthz", "access": "public"},
            {"id": "burst", "methods": ["GET"], "path": "/burst/**", "access": "public", "rate_limits": ["burst_route"]},
            {"id": "hourly", "methods": ["GET"], "path": "/hourly/**", "access": "public", "rate_limits": ["hourly_route"]},
        ],
        "RATE_LIMITS": [
            {"id": "burst_route", "key": ["route"], "limit": LIMIT, "period_secs": PERIOD_SECS, "backend": "durable"},
            {"id": "hourly_route", "key": ["route"], "limit": HOURLY_LIMIT, "period_secs": 3600, "backend": "durable"},
        ],
    }


@pytest.fixture(scope="module")
def durable_edge(tmp_path_factory):
    for p in (EDGE_PORT, STUB_PORT):
        assert port_free(p), f"port {p} on 127.0.0.1 is busy: stop whatever runs there"
    tmp = tmp_path_factory.mktemp("durable")
    origin = CountingOrigin()
    vars_ = edge_vars()
    edge = {"proc": start_edge(tmp, vars_, EDGE_PORT, "edge-durable")}

    def restart():
        stop(edge["proc"])
        # Same name → same `--persist-to` directory: Durable Object storage is kept.
        edge["proc"] = start_edge(tmp, vars_, EDGE_PORT, "edge-durable")

    yield origin, restart, tmp
    stop(edge["proc"])
    origin.httpd.shutdown()


def fallback_logged(tmp) -> list[str]:
    log = (tmp / "edge-durable.log").read_text()
    return [line for line in log.splitlines() if "rate_limiter_unavailable" in line]


def test_32_concurrent_clients_against_a_durable_limit_get_exactly_the_limit_through(durable_edge):
    origin, _, tmp = durable_edge

    def call(i):
        with requests.Session() as s:
            return s.get(f"{EDGE}/burst/{i}", timeout=30)

    with cf.ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(call, range(32)))
    admitted = [r for r in responses if r.status_code == 200]
    limited = [r for r in responses if r.status_code == 429]
    assert len(admitted) == LIMIT, [r.status_code for r in responses]
    assert len(limited) == 32 - LIMIT
    assert origin.calls.get("/burst") == LIMIT, "only admitted requests reach the origin"
    for r in limited:
        assert r.json()["error"] == "rate_limited"
        # 10 per 60 s: one unit comes back every 6 s.
        assert 1 <= int(r.headers["retry-after"]) <= PERIOD_SECS // LIMIT, r.headers["retry-after"]
        assert r.headers["ratelimit-policy"] == f'"burst_route";q={LIMIT};w={PERIOD_SECS}'
        assert r.headers["ratelimit"].startswith('"burst_route";r=0;t=')
    assert all("ratelimit" in r.headers for r in admitted)
    assert fallback_logged(tmp) == [], "every check went through the Durable Object"


def test_a_durable_count_survives_a_restart_of_the_worker(durable_edge):
    origin, restart, tmp = durable_edge
    codes = [requests.get(f"{EDGE}/hourly/{i}", timeout=30).status_code for i in range(HOURLY_LIMIT + 1)]
    assert codes == [200] * HOURLY_LIMIT + [429], codes

    restart()  # a new workerd: per-isolate state is gone, Durable Object storage is not

    r = requests.get(f"{EDGE}/hourly/after-restart", timeout=30)
    assert r.status_code == 429, r.text
    # 3 per hour: the next unit is back 20 minutes after the burst, minus the restart time.
    assert 600 < int(r.headers["retry-after"]) <= 1200, r.headers["retry-after"]
    assert origin.calls.get("/hourly") == HOURLY_LIMIT
    assert fallback_logged(tmp) == []
