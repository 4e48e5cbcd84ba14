"""A fresh isolate's first JWKS fetch is single flight and joined: requests that arrive while it runs
wait for it (and are then verified) instead of answering 503 `jwks_unavailable`, and the identity
provider sees one fetch, not one per request. Its own Worker, in front of a slow JWKS endpoint."""
import concurrent.futures as cf
import json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import port, port_free, start_edge, stop

SLOW_JWKS_PORT, EDGE_PORT = port(20), port(21)
EDGE = f"http://127.0.0.1:{EDGE_PORT}"
DELAY_S = 1.5


class SlowJwks:
    def __init__(self, keys: list[dict]):
        self.keys, self.hits = keys, 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.hits += 1
                time.sleep(DELAY_S)
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("cache-control", "max-age=300")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", SLOW_JWKS_PORT), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def slow(system, tmp_path_factory):
    for p in (SLOW_JWKS_PORT, EDGE_PORT):
        assert port_free(p), f"port {p} on 127.0.0.1 is busy"
    jwks = SlowJwks(system.jwks.keys)
    issuers = [dict(i) for i in system.edge_vars["ISSUERS"]]
    for i in issuers:
        if i["issuer"] == "https://idp.test":
            i["jwks_url"] = f"http://127.0.0.1:{SLOW_JWKS_PORT}/jwks.json"
    tmp = tmp_path_factory.mktemp("jwks-single-flight")
    proc = start_edge(tmp, {**system.edge_vars, "ISSUERS": issuers}, EDGE_PORT, "edge-slow-jwks")
    yield jwks
    stop(proc)
    jwks.close()


def test_requests_during_the_first_jwks_fetch_wait_for_it_and_it_runs_once(system, slow):
    tokens = [system.token("ES256", sub=f"sf-{i}") for i in range(8)]

    def call(t):
        return requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {t}"}, timeout=30)

    started = time.monotonic()
    with cf.ThreadPoolExecutor(len(tokens)) as pool:
        responses = list(pool.map(call, tokens))
    elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * len(tokens), [r.text for r in responses]
    assert sorted(r.json()["user"] for r in responses) == sorted(f"sf-{i}" for i in range(8))
    assert slow.hits == 1, f"{slow.hits} JWKS fetches for one isolate's first burst"
    assert elapsed >= DELAY_S, "the requests really waited for the slow fetch"
