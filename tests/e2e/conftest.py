"""End-to-end fixtures: the real origin binary, the real Worker in workerd (`wrangler dev`), and a
local JWKS server standing in for an external identity provider. Tokens are minted with PyJWT +
cryptography, independently of our Rust code."""
import base64, json, os, pathlib, secrets, shutil, signal, socket, subprocess, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Every port the suite binds is PORT_BASE + a fixed offset (0..39), so two checkouts can run the suite
# side by side with different E2E_PORT_BASE values.
PORT_BASE = int(os.environ.get("E2E_PORT_BASE", "28787"))


def port(offset: int) -> int:
    assert 0 <= offset < 40, "e2e ports are PORT_BASE + 0..39"
    return PORT_BASE + offset


EDGE_PORT, ORIGIN_PORT, JWKS_PORT = port(0), port(1), port(3)
# The local identity providers (tests/providers/): Google-like, Kakao-like, GitHub stand-in.
GOOGLE_PORT, KAKAO_PORT, GITHUB_PORT = port(13), port(14), port(15)
EDGE = f"http://127.0.0.1:{EDGE_PORT}"
ORIGIN = f"http://127.0.0.1:{ORIGIN_PORT}"
JWKS = f"http://127.0.0.1:{JWKS_PORT}"
AUD = "edge-auth"


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class Key:
    """A signing key with its public JWK (the private half never leaves the test)."""

    def __init__(self, alg: str, kid: str):
        self.alg, self.kid = alg, kid
        if alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            raw = self.private.public_key().public_bytes_raw()
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        elif alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            nums = self.private.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "x": b64u(nums.x.to_bytes(32, "big")), "y": b64u(nums.y.to_bytes(32, "big"))}
        elif alg in ("RS256", "PS256"):
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            nums = self.private.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": b64u(uint(nums.n)), "e": b64u(uint(nums.e))}
        elif alg == "HS256":
            self.private = secrets.token_bytes(32)
            self.jwk = {"kty": "oct", "k": b64u(self.private)}
        else:
            raise ValueError(alg)
        self.jwk.update({"kid": kid, "alg": alg, "use": "sig"} if alg != "HS256" else {"kid": kid, "alg": alg})

    def sign(self, claims: dict, headers: dict | None = None) -> str:
        h = {"kid": self.kid}
        h.update(headers or {})
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=h)


class JwksServer:
    """Serves a mutable JWKS; can be taken down (503) to test outages."""

    def __init__(self):
        self.keys: list[dict] = []
        self.up = True
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.hits += 1
                if self.path == "/jwks.json" and outer.up:
                    body = json.dumps({"keys": outer.keys}).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("cache-control", "max-age=1")
                else:
                    body = b"unavailable"
                    self.send_response(503)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", JWKS_PORT), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def wait_http(url: str, proc: subprocess.Popen, log: pathlib.Path, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited early:\n{log.read_text()[-3000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {timeout}s:\n{log.read_text()[-3000:]}")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def stop(proc: subprocess.Popen):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def packed_config(tmp: pathlib.Path, env_vars: dict, config: pathlib.Path | None = None) -> str | None:
    """`EDGE_CONFIG_PACKED` for the variables a `wrangler dev` Worker started with `env_vars` sees
    (the config's [vars], then the env file's values as `start_edge` writes them), made as a
    deploy makes it (`edge-config-check --pack`); None when they do not load (the Worker then
    answers config_invalid from the JSON variables, which a test may want)."""
    import tomllib
    toml_vars = tomllib.loads((config or ROOT / "wrangler.toml").read_text()).get("vars", {})
    seen = {**toml_vars, **{k: v if isinstance(v, str) else json.dumps(v) for k, v in env_vars.items()}}
    vars_file = tmp / f"packed-{secrets.token_hex(4)}.json"
    vars_file.write_text(json.dumps(seen))
    out = subprocess.run(["cargo", "run", "--quiet", "--bin", "edge-config-check", "--", str(vars_file), "--pack"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode == 1:
        return None
    assert out.returncode == 0, f"edge-config-check --pack: {out.stderr}"
    return out.stdout.strip()


def start_edge(tmp: pathlib.Path, env_vars: dict, port: int, name: str,
               config: pathlib.Path | None = None, pack: bool = True) -> subprocess.Popen:
    """`wrangler dev` with every config value from an env file (they override wrangler.toml).
    Local runs talk to loopback, so DEPLOY_ENV is development unless the test says otherwise.
    `config`: another wrangler config instead of wrangler.toml (other bindings).
    `pack`: add the packed configuration a deploy adds (`packed_config`), so every Worker here
    starts the way a deployed one does; False leaves `env_vars` as they are."""
    env_vars = {"DEPLOY_ENV": "development", **env_vars}
    if pack and "EDGE_CONFIG_PACKED" not in env_vars:
        packed = packed_config(tmp, env_vars, config)
        if packed is not None:
            env_vars["EDGE_CONFIG_PACKED"] = packed
    env_file = tmp / f"{name}.env"
    env_file.write_text("".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}\n" for k, v in env_vars.items()))
    log = tmp / f"{name}.log"
    env = dict(os.environ, WRANGLER_SEND_METRICS="false", PATH=f"{ROOT}/node_modules/.bin:{os.environ.get('HOME')}/.cargo/bin:{os.environ['PATH']}")
    proc = subprocess.Popen(
        ["wrangler", "dev", "--ip", "127.0.0.1", "--port", str(port), "--env-file", str(env_file),
         "--persist-to", str(tmp / f"{name}-state"), "--show-interactive-dev-session=false", "--log-level", "log",
         *(["--config", str(config)] if config else [])],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, log, timeout=240)
    return proc


def start_providers(tmp: pathlib.Path, client_id: str, client_secret: str) -> tuple[subprocess.Popen, dict]:
    """The local identity providers, all in one Node process; returns it and their base URLs."""
    log = tmp / "providers.log"
    proc = subprocess.Popen(
        ["node", str(ROOT / "tests/providers/start.mjs"), "--google-port", str(GOOGLE_PORT), "--kakao-port", str(KAKAO_PORT),
         "--github-port", str(GITHUB_PORT), "--public-url", EDGE, "--client-id", client_id, "--client-secret", client_secret],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, start_new_session=True)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"local providers did not start:\n{log.read_text()[-3000:]}")
    return proc, json.loads(line)


def provider_env(urls: dict, client_id: str, client_secret: str) -> dict:
    """The origin's settings for the local providers (http:// only with SOCIAL_ALLOW_HTTP)."""
    env = {"PUBLIC_URL": EDGE, "SOCIAL_ALLOW_HTTP": "true", "SOCIAL_TIMEOUT_MS": "1500", "SOCIAL_BREAKER_FAILURES": "3",
           "SOCIAL_BREAKER_COOL_DOWN_SECS": "3",
           "GOOGLE_ISSUER": urls["google"], "KAKAO_ISSUER": urls["kakao"], "KAKAO_API_URL": urls["kakao"],
           "GITHUB_ISSUER": "https://github.com", "GITHUB_AUTHORIZE_URL": f"{urls['github']}/login/oauth/authorize",
           "GITHUB_TOKEN_URL": f"{urls['github']}/login/oauth/access_token", "GITHUB_API_URL": urls["github"]}
    for p in ("GOOGLE", "KAKAO", "GITHUB"):
        env[f"{p}_CLIENT_ID"], env[f"{p}_CLIENT_SECRET"] = client_id, client_secret
    return env


class System:
    def __init__(self, tmp: pathlib.Path):
        for p in (EDGE_PORT, ORIGIN_PORT, JWKS_PORT, GOOGLE_PORT, KAKAO_PORT, GITHUB_PORT):
            assert port_free(p), f"port {p} on 127.0.0.1 is busy: stop whatever runs there"
        self.tmp = tmp
        self.envelope_secret = secrets.token_hex(32)
        self.jwks = JwksServer()
        self.url_keys = {alg: Key(alg, f"{alg.lower()}-1") for alg in ("EdDSA", "ES256", "RS256", "PS256")}
        self.jwks.keys = [k.jwk for k in self.url_keys.values()]
        self.hs = Key("HS256", "hs-1")
        self.provider_secret = secrets.token_hex(16)
        self.providers, self.provider_urls = start_providers(tmp, "edge-auth-local", self.provider_secret)
        self.origin_log = tmp / "origin.log"
        origin_env = dict(os.environ, **provider_env(self.provider_urls, "edge-auth-local", self.provider_secret), ORIGIN_ADDR=f"127.0.0.1:{ORIGIN_PORT}", DATA_DIR=str(tmp / "origin-data"),
                          ENVELOPE_SECRET=self.envelope_secret, KEY_ENCRYPTION_KEY=secrets.token_hex(32),
                          ISSUER=ORIGIN, AUDIENCE=AUD, LOG="info", COOKIE_SECURE="false",
                          # Test handlers and short retry/lease timings for the webhook tests.
                          WEBHOOK_TEST_HANDLERS="1", WEBHOOK_BACKOFF_BASE_MS="200",
                          WEBHOOK_BACKOFF_MAX_MS="1000", WEBHOOK_LEASE_SECS="4", WEBHOOK_POLL_MS="100",
                          WEBHOOK_MAX_ATTEMPTS="4")
        self.origin_env = origin_env
        self.origin = subprocess.Popen([str(ROOT / "target/release/edge-auth-origin"), "serve"], env=origin_env,
                                       stdout=self.origin_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"{ORIGIN}/healthz", self.origin, self.origin_log)
        # The shipped routes, plus one route with a small limit for the rate-limit test.
        routes = [{"id": "limited", "path": "/api/limited", "access": "authenticated", "rate_limits": ["limited_route"]},
                  {"id": "bound", "path": "/api/bound", "access": "authenticated", "rate_limits": ["binding_route"]}]
        routes += json.loads(_toml_string("ROUTES"))
        rate_limits = [
            {"id": "limited_route", "key": ["route"], "limit": 10, "period_secs": 60, "backend": "durable"},
            # Matches the RL_API binding declared in wrangler.toml.
            {"id": "binding_route", "key": ["route"], "limit": 600, "period_secs": 60, "backend": "binding", "binding": "RL_API"},
            # Generous versions of the shipped defaults: every test client shares one IP locally.
            {"id": "login_ip", "key": ["ip"], "limit": 1000, "period_secs": 60, "backend": "durable"},
            {"id": "login_account", "key": ["account"], "limit": 5, "period_secs": 60, "backend": "durable"},
            {"id": "signup_ip", "key": ["ip"], "limit": 1000, "period_secs": 60, "backend": "durable"},
            {"id": "refresh_ip", "key": ["ip"], "limit": 1000, "period_secs": 60, "backend": "durable"},
            {"id": "api_user", "key": ["user"], "limit": 6000, "period_secs": 60, "backend": "local"},
            {"id": "anonymous_ip", "key": ["ip"], "limit": 6000, "period_secs": 60, "backend": "local"},
        ]
        issuers = [
            {"issuer": ORIGIN, "audiences": [AUD], "jwks_url": f"{ORIGIN}/.well-known/jwks.json"},
            {"issuer": "https://idp.test", "audiences": [AUD, "other"], "jwks_url": f"{JWKS}/jwks.json"},
            {"issuer": "https://down.test", "audiences": [AUD], "jwks_url": f"{JWKS}/never/jwks.json"},
            {"issuer": "https://hs.test", "audiences": [AUD], "jwks_secret": "TEST_HS_JWKS"},
            # The published RFC 7515 vectors (issuer "joe"), to run them through the Worker's verifiers.
            {"issuer": "joe", "audiences": [AUD], "jwks_secret": "RFC_JWKS"},
        ]
        self.rfc_vectors = [json.loads((ROOT / "tests/vectors/jwt" / f).read_text())
                            for f in ("rfc7515_a1_hs256.json", "rfc7515_a2_rs256.json", "rfc7515_a3_es256.json")]
        self.webhook_secrets = {
            "stripe": "whsec_" + secrets.token_hex(24), "stripe_old": "whsec_" + secrets.token_hex(24),
            "github": secrets.token_hex(24),
            "standard": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        w = self.webhook_secrets
        self.edge_vars = {"ORIGIN_URL": ORIGIN, "ENVELOPE_SECRET": self.envelope_secret, "ISSUERS": issuers,
                          "ROUTES": routes, "TEST_HS_JWKS": {"keys": [self.hs.jwk]},
                          "RFC_JWKS": {"keys": [v["jwk"] if isinstance(v["jwk"], dict) else json.loads(v["jwk"]) for v in self.rfc_vectors]},
                          "JWKS_MIN_TTL_SECONDS": "1", "RATE_LIMITS": rate_limits, "REVOCATION_POLL_SECONDS": "1", "SERVER_TIMING": "on",
                          "CORS_ORIGINS": ["https://app.example"],
                          "WEBHOOK_STRIPE": {"provider": "stripe", "secrets": [w["stripe"], w["stripe_old"]]},
                          "WEBHOOK_GITHUB": {"provider": "github", "secrets": [w["github"]]},
                          "WEBHOOK_STANDARD": {"provider": "standard", "secrets": [w["standard"]]}}
        self.edge = start_edge(tmp, self.edge_vars, EDGE_PORT, "edge")
        self.edge_log = tmp / "edge.log"

    def restart_origin(self, kill: bool = False):
        """Stops the origin (SIGKILL: no chance to finish anything) and starts it again on the same data."""
        if kill:
            os.killpg(self.origin.pid, signal.SIGKILL)
            self.origin.wait(10)
        else:
            stop(self.origin)
        self.origin = subprocess.Popen([str(ROOT / "target/release/edge-auth-origin"), "serve"], env=self.origin_env,
                                       stdout=self.origin_log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"{ORIGIN}/healthz", self.origin, self.origin_log)

    def origin_cli(self, *args: str, input: str | None = None) -> str:
        out = subprocess.run([str(ROOT / "target/release/edge-auth-origin"), *args], env=self.origin_env,
                             input=input, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def claims(self, iss="https://idp.test", **over) -> dict:
        now = int(time.time())
        c = {"iss": iss, "aud": AUD, "sub": "alice", "sid": "s-" + secrets.token_hex(4), "iat": now, "nbf": now,
             "exp": now + 300, "roles": ["user"], "permissions": ["profile:read"]}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, alg="EdDSA", **over) -> str:
        if alg == "HS256":
            return self.hs.sign(self.claims(iss="https://hs.test", **over))
        return self.url_keys[alg].sign(self.claims(**over))

    def close(self):
        stop(self.edge)
        stop(self.origin)
        stop(self.providers)
        self.jwks.close()


def _toml_string(name: str) -> str:
    """Reads a ''' multi-line string var from wrangler.toml (the shipped config is what we test)."""
    import tomllib
    return tomllib.loads((ROOT / "wrangler.toml").read_text())["vars"][name]


@pytest.fixture(scope="session")
def system():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="edge-auth-e2e-"))
    s = System(tmp)
    yield s
    s.close()


# Debian's Chromium (scripts/setup.sh installs it), for every test that drives the pages.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def launch_chromium(playwright):
    """A headless Debian Chromium under Playwright (never a browser build of Playwright's own)."""
    assert pathlib.Path(CHROMIUM).exists(), "Debian's chromium is required (scripts/setup.sh installs it)"
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

