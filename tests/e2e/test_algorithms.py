"""Issue 21 part 5 end to end: ES384, ES512 (WebCrypto P-384/P-521), RS384, RS512, PS384 and PS512
through the real Worker in workerd in front of the real origin. Keys are made per run with
cryptography and tokens signed with PyJWT (independently of our Rust); the generated vectors of
tests/vectors/jwt/gen_*.json (tests/gen/jwt/generate.py) are replayed too, with their negatives.

Its own edge, origin and JWKS server on offsets 28, 29 and 30 (not the shared `system`)."""
import base64, json, os, pathlib, secrets, subprocess, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import AUD, ROOT, port, port_free, start_edge, stop, wait_http

EDGE_PORT, ORIGIN_PORT, JWKS_PORT = port(28), port(29), port(30)
EDGE = f"http://127.0.0.1:{EDGE_PORT}"
ORIGIN = f"http://127.0.0.1:{ORIGIN_PORT}"
ISSUER = "https://algs.test"
VECTOR_ISSUER = "https://vectors.edge-auth.test"
ADDED = ["ES384", "ES512", "RS384", "RS512", "PS384", "PS512"]
CURVES = {"ES256": (ec.SECP256R1(), "P-256", 32), "ES384": (ec.SECP384R1(), "P-384", 48),
          "ES512": (ec.SECP521R1(), "P-521", 66)}
VECTORS = {alg: json.loads((ROOT / "tests/vectors/jwt" / f"gen_{alg.lower()}.json").read_text()) for alg in ADDED}


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def uint(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class AlgKey:
    """A fresh signing key pinned to one algorithm, with its public JWK."""

    def __init__(self, alg: str, kid: str, rsa_bits: int = 2048):
        self.alg, self.kid = alg, kid
        if alg.startswith("ES"):
            curve, crv, size = CURVES[alg]
            self.private = ec.generate_private_key(curve)
            nums = self.private.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": crv, "x": b64u(nums.x.to_bytes(size, "big")),
                        "y": b64u(nums.y.to_bytes(size, "big"))}
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
            nums = self.private.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": b64u(uint(nums.n)), "e": b64u(uint(nums.e))}
        self.jwk.update(kid=kid, alg=alg, use="sig")

    def sign(self, claims: dict, alg: str | None = None, **headers) -> str:
        return jwt.encode(claims, self.private, algorithm=alg or self.alg, headers={"kid": self.kid, **headers})


def claims(**over) -> dict:
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUD, "sub": "alice", "iat": now, "nbf": now, "exp": now + 300,
         "roles": ["user"], "permissions": ["profile:read"]}
    c.update(over)
    return c


class Jwks:
    """Serves this module's JWKS on its own port, and counts the fetches."""

    def __init__(self, keys: list[dict]):
        self.keys, self.hits = keys, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.hits += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("cache-control", "max-age=60")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", JWKS_PORT), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class AlgSystem:
    def __init__(self, tmp: pathlib.Path):
        for p in (EDGE_PORT, ORIGIN_PORT, JWKS_PORT):
            assert port_free(p), f"port {p} on 127.0.0.1 is busy: stop whatever runs there"
        self.tmp = tmp
        # One key per added algorithm; RS512 on a 4096-bit modulus (the largest accepted), PS384 on 3072.
        bits = {"RS512": 4096, "PS384": 3072}
        self.keys = {alg: AlgKey(alg, f"{alg.lower()}-1", bits.get(alg, 2048)) for alg in ADDED}
        # An ES256 key beside them, to cross curves.
        self.keys["ES256"] = AlgKey("ES256", "es256-1")
        self.jwks = Jwks([k.jwk for k in self.keys.values()])
        envelope = secrets.token_hex(32)
        self.origin_log = tmp / "origin.log"
        origin_env = dict(os.environ, ORIGIN_ADDR=f"127.0.0.1:{ORIGIN_PORT}", DATA_DIR=str(tmp / "origin-data"),
                          ENVELOPE_SECRET=envelope, KEY_ENCRYPTION_KEY=secrets.token_hex(32), ISSUER=ORIGIN,
                          AUDIENCE=AUD, LOG="info", COOKIE_SECURE="false", PUBLIC_URL=EDGE)
        self.origin = subprocess.Popen([str(ROOT / "target/release/edge-auth-origin"), "serve"], env=origin_env,
                                       stdout=self.origin_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.edge = None
        try:
            wait_http(f"{ORIGIN}/healthz", self.origin, self.origin_log)
            local = lambda rid, key: {"id": rid, "key": [key], "limit": 6000, "period_secs": 60, "backend": "local"}
            issuers = [
                {"issuer": ISSUER, "audiences": [AUD], "jwks_url": f"http://127.0.0.1:{JWKS_PORT}/jwks.json"},
                {"issuer": VECTOR_ISSUER, "audiences": ["edge-api"], "jwks_secret": "VECTOR_JWKS"},
            ]
            self.edge = start_edge(tmp, {
                "ORIGIN_URL": ORIGIN, "ENVELOPE_SECRET": envelope, "ISSUERS": issuers,
                "VECTOR_JWKS": {"keys": [v["jwk"] for v in VECTORS.values()]}, "JWKS_MIN_TTL_SECONDS": "1",
                "RATE_LIMITS": [local("login_ip", "ip"), local("login_account", "account"), local("signup_ip", "ip"),
                                local("refresh_ip", "ip"), local("api_user", "user"), local("anonymous_ip", "ip")],
            }, EDGE_PORT, "edge-algs")
        except Exception:
            self.close()
            raise
        self.edge_log = tmp / "edge-algs.log"

    def close(self):
        if self.edge is not None:
            stop(self.edge)
        stop(self.origin)
        self.jwks.close()


@pytest.fixture(scope="module")
def algs():
    s = AlgSystem(pathlib.Path(tempfile.mkdtemp(prefix="edge-auth-e2e-algs-")))
    yield s
    s.close()


def me(token: str):
    return requests.get(f"{EDGE}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=15)


def refused(r) -> tuple[int, str]:
    return r.status_code, r.json().get("error")


def with_signature(token: str, sig: bytes) -> str:
    head, payload, _ = token.split(".")
    return f"{head}.{payload}.{b64u(sig)}"


@pytest.mark.parametrize("alg", ADDED)
def test_a_token_of_each_added_algorithm_reaches_the_origin_with_its_identity(algs, alg):
    for i in range(2):  # the second request uses the imported key WebCrypto cached
        r = me(algs.keys[alg].sign(claims(sub=f"user-{alg}-{i}", roles=["user", "auditor"])))
        assert r.status_code == 200, (alg, r.text)
        body = r.json()
        assert body["user"] == f"user-{alg}-{i}"
        assert body["roles"] == ["user", "auditor"]
        assert body["anonymous"] is False


@pytest.mark.parametrize("alg", ADDED)
def test_a_bit_flipped_signature_is_401_token_signature_invalid(algs, alg):
    token = algs.keys[alg].sign(claims(sub=f"flip-{alg}"))
    sig = unb64u(token.split(".")[2])
    assert me(token).status_code == 200
    for byte in (0, len(sig) // 2, len(sig) - 1):
        for bit in (0, 7):
            bad = bytearray(sig)
            bad[byte] ^= 1 << bit
            assert refused(me(with_signature(token, bytes(bad)))) == (401, "token_signature_invalid"), (alg, byte, bit)


@pytest.mark.parametrize("alg", ADDED)
def test_truncated_or_padded_signatures_are_401_token_signature_invalid(algs, alg):
    token = algs.keys[alg].sign(claims())
    sig = unb64u(token.split(".")[2])
    for bad in (sig[:-1], sig + b"\0", sig[:64], sig[len(sig) // 2:] + sig[:len(sig) // 2]):
        assert refused(me(with_signature(token, bad))) == (401, "token_signature_invalid"), (alg, len(bad))


@pytest.mark.parametrize("alg, other", [("ES384", "ES512"), ("ES512", "ES384"), ("ES384", "ES256"), ("ES256", "ES384"),
                                        ("RS384", "RS512"), ("RS512", "PS512"), ("PS384", "RS384"), ("PS512", "PS384")])
def test_a_token_naming_another_algorithm_than_its_key_pins_is_refused(algs, alg, other):
    """Signed by `other`'s key with `other`, but the kid names the `alg` key: the key pins `alg`."""
    signer = algs.keys[other]
    token = jwt.encode(claims(), signer.private, algorithm=other, headers={"kid": algs.keys[alg].kid})
    assert refused(me(token)) == (401, "token_algorithm_not_allowed"), (alg, other)


def test_an_ec_signature_over_another_curve_under_the_right_header_is_refused(algs):
    """An ES384 header and kid, signed by the P-521 key (ES512-sized r||s): wrong size → invalid."""
    p521 = algs.keys["ES512"]
    token = jwt.encode(claims(), p521.private, algorithm="ES512", headers={"kid": algs.keys["ES384"].kid})
    head = b64u(json.dumps({"alg": "ES384", "kid": algs.keys["ES384"].kid, "typ": "JWT"}).encode())
    _, payload, sig = token.split(".")
    assert refused(me(f"{head}.{payload}.{sig}")) == (401, "token_signature_invalid")


@pytest.mark.parametrize("alg", ADDED)
def test_the_generated_vector_verifies_in_workerd_and_its_negatives_are_refused(algs, alg):
    v = VECTORS[alg]
    r = me(v["token"])
    assert r.status_code == 200, (alg, r.text)
    assert r.json()["user"] == f"vector-{alg.lower()}"
    for n in v["negatives"]:
        assert refused(me(n["token"])) == (401, n["expect"]), (alg, n["sentence"])


def test_the_identity_comes_from_the_edge_the_origin_alone_refuses_the_same_token(algs):
    """The 200s above were decided by the edge (its WebCrypto check), not by the origin: the origin
    refuses the same valid token sent straight to it, without the edge's signed envelope."""
    tok = algs.keys["ES512"].sign(claims(sub="direct"))
    assert me(tok).status_code == 200
    direct = requests.get(f"{ORIGIN}/api/me", headers={"Authorization": f"Bearer {tok}"}, timeout=10)
    assert direct.status_code == 403 and "edge_signature_invalid" in direct.text, direct.text
