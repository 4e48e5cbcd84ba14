"""Fixtures of the scale test: each module gets its own whole system (see stack.py) on a fresh
database, so modules never see each other's state and the ports are free again between them."""
import pathlib, secrets, sys

import pytest
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from stack import EDGE, Stack, create_database, env_required  # noqa: E402


def make_stack(name: str, binary: str, ready_path="/readyz") -> Stack:
    """A fresh database `scale_<name>`, migrated once by `binary migrate`, three `serve`
    processes of `binary`, nginx and the Worker; plus an admin logged in through the edge."""
    url = create_database(env_required("SCALE_DATABASE_URL"), f"scale_{name}")
    s = Stack(name, url, binary)
    s.cli(binary, "migrate")
    try:
        s.start(ready_path=ready_path)
        email, password = f"admin-{secrets.token_hex(4)}@example.com", f"admin passphrase {secrets.token_hex(6)}"
        s.cli(binary, "create-admin", email, input=password + "\n")
        r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=20)
        assert r.status_code == 200, r.text
        s.admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        # Warm the edge's JWKS cache before any concurrent load: a request that arrives while the
        # very first JWKS fetch is in flight is answered 503 jwks_unavailable (edge behaviour,
        # reported with this test; not what this test is about).
        r = requests.get(f"{EDGE}/api/me", headers=s.admin, timeout=20)
        assert r.status_code == 200, r.text
    except BaseException:
        s.close()
        raise
    return s


@pytest.fixture(scope="module")
def stack():
    s = make_stack("main", env_required("SCALE_ORIGIN_BIN"))
    yield s
    s.close()
