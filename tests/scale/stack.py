"""The scale-test system: N real origin processes on one real PostgreSQL, real nginx load-balancing
them, and the real Worker in workerd (`wrangler dev`) in front. Everything on 127.0.0.1, on ports
28820–28839 only (other suites on this machine use 2878x–2879x).

Started by scripts/scale-test.sh, which provides (environment):
  SCALE_DATABASE_URL   a throwaway PostgreSQL (its own PG_TEST_DIR) — databases are created in it
  SCALE_ORIGIN_BIN     the release origin of this commit
  SCALE_OLD_ORIGIN_BIN the origin built from the commit before migration 0003 (rolling upgrade)
  SCALE_TMP            where logs, configs and the pid list go (the script's trap kills what is listed)
"""
import base64, hashlib, hmac, json, os, pathlib, re, secrets, signal, socket, subprocess, threading, time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
NGINX_PORT, EDGE_PORT, INSPECTOR_PORT = 28820, 28821, 28822
ORIGIN_PORTS = [28823, 28824, 28825]
ALL_PORTS = [NGINX_PORT, EDGE_PORT, INSPECTOR_PORT, *ORIGIN_PORTS]
NGINX = f"http://127.0.0.1:{NGINX_PORT}"
EDGE = f"http://127.0.0.1:{EDGE_PORT}"
AUD = "edge-auth"
TMP = pathlib.Path(os.environ.get("SCALE_TMP") or "/tmp/edge-auth-scale")
SHORT = os.environ.get("SCALE_SHORT") == "1"

# Lease and drain settings the assertions reason about.
LEASE_SECS = 5
DRAIN_SECS = 2


def env_required(name: str) -> str:
    v = os.environ.get(name)
    assert v, f"{name} is not set: run the scale test with scripts/scale-test.sh"
    return v


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def psql_bin() -> str:
    for c in sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True):
        return str(c)
    return "psql"


class Db:
    """SQL through psql (no extra Python driver): rows as lists of strings."""

    def __init__(self, url: str):
        self.url = url

    def rows(self, sql: str) -> list[list[str]]:
        out = subprocess.run([psql_bin(), self.url, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"psql failed: {out.stderr}\n{sql}"
        return [line.split("\t") for line in out.stdout.splitlines() if line != ""]

    def one(self, sql: str) -> str:
        r = self.rows(sql)
        assert len(r) == 1 and len(r[0]) == 1, (sql, r)
        return r[0][0]


def create_database(base_url: str, name: str) -> str:
    """A fresh database `name` in the scale test's PostgreSQL; returns its URL."""
    admin = Db(base_url)
    admin.rows(f"DROP DATABASE IF EXISTS {name}")
    admin.rows(f"CREATE DATABASE {name}")
    return base_url.rsplit("/", 1)[0] + "/" + name


def record_pid(pid: int):
    TMP.mkdir(parents=True, exist_ok=True)
    with (TMP / "pids").open("a") as f:
        f.write(f"{pid}\n")


def spawn(cmd: list[str], log: pathlib.Path, env: dict | None = None, cwd=None) -> subprocess.Popen:
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log.open("a"), stderr=subprocess.STDOUT,
                         start_new_session=True)
    record_pid(p.pid)
    return p


def stop(proc: subprocess.Popen | None, sig=signal.SIGTERM, wait=20):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


def wait_status(url: str, proc: subprocess.Popen, log: pathlib.Path, want=200, timeout=90):
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            r = requests.get(url, timeout=2)
            last = r.status_code
            if r.status_code == want:
                return
            if "config_invalid" in r.text:
                raise RuntimeError(f"{url}: config_invalid:\n{log.read_text()[-2000:]}")
        except requests.RequestException as e:
            last = e
        time.sleep(0.2)
    raise RuntimeError(f"{url} not {want} after {timeout}s (last: {last}):\n{log.read_text()[-3000:]}")


class Origin:
    """One origin process (a binary on a port); logs appended to origin-<i>.log across restarts."""

    def __init__(self, stack: "Stack", index: int, binary: str):
        self.stack, self.index, self.binary = stack, index, binary
        self.port = ORIGIN_PORTS[index]
        self.log = stack.tmp / f"origin-{index}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, binary: str | None = None, ready_path="/readyz"):
        self.binary = binary or self.binary
        assert port_free(self.port), f"port {self.port} busy"
        with self.log.open("a") as f:
            f.write(json.dumps({"scale_test": "start", "binary": self.binary, "at": time.time()}) + "\n")
        self.proc = spawn([self.binary, "serve"], self.log, env=self.stack.origin_env(self.port, self.index))
        wait_status(f"http://{self.addr}{ready_path}", self.proc, self.log)

    def kill9(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, sig=signal.SIGTERM, wait=30):
        stop(self.proc, sig, wait)


class Stack:
    def __init__(self, name: str, db_url: str, origin_bin: str, processes: int = 3):
        for p in ALL_PORTS:
            assert port_free(p), f"port {p} on 127.0.0.1 is busy: stop whatever runs there"
        self.tmp = TMP / name
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.db_url = db_url
        self.db = Db(db_url)
        self.envelope_secret = secrets.token_hex(32)
        self.kek = secrets.token_hex(32)
        self.stripe_secret = "whsec_" + secrets.token_hex(24)
        self.nginx = self.edge = None
        self.origins = [Origin(self, i, origin_bin) for i in range(processes)]

    # --- origin ---------------------------------------------------------------------------
    def origin_env(self, port: int, index: int) -> dict:
        return dict(os.environ, ORIGIN_ADDR=f"127.0.0.1:{port}", DATABASE_URL=self.db_url,
                    DATA_DIR=str(self.tmp / f"origin-{index}-data"), ENVELOPE_SECRET=self.envelope_secret,
                    KEY_ENCRYPTION_KEY=self.kek, ISSUER=NGINX, AUDIENCE=AUD, LOG="info", COOKIE_SECURE="false",
                    MIGRATE_ON_START="false", DATABASE_POOL_SIZE="8",
                    WEBHOOK_WORKERS="2", WEBHOOK_TEST_HANDLERS="1", WEBHOOK_LEASE_SECS=str(LEASE_SECS),
                    WEBHOOK_POLL_MS="100", WEBHOOK_BACKOFF_BASE_MS="200", WEBHOOK_BACKOFF_MAX_MS="1000",
                    WEBHOOK_MAX_ATTEMPTS="6", SHUTDOWN_DRAIN_SECS=str(DRAIN_SECS), SHUTDOWN_GRACE_SECS="15")

    def cli(self, binary: str, *args: str, input: str | None = None) -> str:
        out = subprocess.run([binary, *args], env=self.origin_env(0, 99), input=input,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{binary} {args}: {out.stderr}"
        return out.stdout

    # --- nginx ----------------------------------------------------------------------------
    def write_nginx_conf(self, upstreams: list[int]):
        d = self.tmp / "nginx"
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstreams)
        (d / "nginx.conf").write_text(f"""# Generated by tests/scale/stack.py
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 2048; }}
http {{
  log_format scale '$msec $request_method $uri $status up=$upstream_addr ups=$upstream_status rt=$upstream_response_time rid=$http_x_request_id';
  access_log {d}/access.log scale;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  # Round robin over identical processes. Passive health only (open-source nginx): a refused or
  # reset connection marks the server down for fail_timeout and the request goes to the next one.
  # A request nginx has already written to a server is re-sent only if it is idempotent (never a
  # POST: re-sending a refresh would look like token reuse), so a POST in flight on a process
  # that dies is the only way a client sees a 502.
  upstream origins {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{NGINX_PORT};
    location / {{
      proxy_pass http://origins;
      proxy_set_header Host $http_host;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;
      proxy_buffering off;
    }}
  }}
}}
""")
        return d / "nginx.conf"

    def start_nginx(self, upstreams: list[int] | None = None):
        conf = self.write_nginx_conf(upstreams or [o.port for o in self.origins])
        log = self.tmp / "nginx.out"
        # -e: the error log from the very start (before the config is read) goes here too, not to
        # the packaged /var/log/nginx.
        self.nginx = spawn(["nginx", "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "error.log"),
                            "-g", "daemon off;"], log)
        wait_status(f"{NGINX}/healthz", self.nginx, log, timeout=30)

    def reload_nginx(self, upstreams: list[int]):
        """Rewrites the upstream list and has the running master reload it (SIGHUP)."""
        self.write_nginx_conf(upstreams)
        os.kill(self.nginx.pid, signal.SIGHUP)
        time.sleep(1.5)  # new workers up, old ones finish their requests

    def nginx_log(self) -> list[dict]:
        out = []
        path = self.tmp / "nginx" / "access.log"
        if not path.exists():
            return out
        for line in path.read_text().splitlines():
            # A request nginx re-sent lists every upstream tried: "up=A:1, B:2 ups=502, 200".
            m = re.match(r"(\S+) (\S+) (\S+) (\d+) up=(.*?) ups=(.*?) rt=(.*?) rid=(\S*)$", line)
            if m:
                out.append({"t": float(m[1]), "method": m[2], "uri": m[3], "status": int(m[4]),
                            "upstream": m[5], "upstream_status": m[6], "rid": m[8]})
        return out

    # --- edge -----------------------------------------------------------------------------
    def start_edge(self):
        import tomllib
        routes = json.loads(tomllib.loads((ROOT / "wrangler.toml").read_text())["vars"]["ROUTES"])
        # The shipped limits' ids, generous: every client of the test shares one IP and one user.
        rate_limits = [{"id": i, "key": k, "limit": 1_000_000, "period_secs": 60, "backend": "local"}
                       for i, k in (("login_ip", ["ip"]), ("login_account", ["account"]), ("signup_ip", ["ip"]),
                                    ("refresh_ip", ["ip"]), ("api_user", ["user"]), ("anonymous_ip", ["ip"]))]
        edge_vars = {
            "DEPLOY_ENV": "development", "ORIGIN_URL": NGINX, "ENVELOPE_SECRET": self.envelope_secret,
            "ISSUERS": [{"issuer": NGINX, "audiences": [AUD], "jwks_url": f"{NGINX}/.well-known/jwks.json"}],
            "ROUTES": routes, "RATE_LIMITS": rate_limits, "REVOCATION_POLL_SECONDS": "1",
            "JWKS_MIN_TTL_SECONDS": "1",
            "WEBHOOK_STRIPE": {"provider": "stripe", "secrets": [self.stripe_secret]},
            # The shipped routes name these too; unused here.
            "WEBHOOK_GITHUB": {"provider": "github", "secrets": [secrets.token_hex(24)]},
            "WEBHOOK_STANDARD": {"provider": "standard", "secrets": ["whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()]},
        }
        env_file = self.tmp / "edge.env"
        env_file.write_text("".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}\n" for k, v in edge_vars.items()))
        log = self.tmp / "edge.log"
        env = dict(os.environ, WRANGLER_SEND_METRICS="false",
                   PATH=f"{ROOT}/node_modules/.bin:{os.environ.get('HOME')}/.cargo/bin:{os.environ['PATH']}")
        self.edge = spawn(["wrangler", "dev", "--ip", "127.0.0.1", "--port", str(EDGE_PORT),
                           "--inspector-port", str(INSPECTOR_PORT), "--env-file", str(env_file),
                           "--persist-to", str(self.tmp / "edge-state"), "--show-interactive-dev-session=false",
                           "--log-level", "log"], log, env=env, cwd=ROOT)
        wait_status(f"{EDGE}/healthz", self.edge, log, timeout=240)

    # --- whole ----------------------------------------------------------------------------
    def start(self, ready_path="/readyz"):
        for o in self.origins:
            o.start(ready_path=ready_path)
        self.start_nginx()
        self.start_edge()

    def close(self):
        stop(self.edge)
        stop(self.nginx, signal.SIGQUIT)
        for o in self.origins:
            o.stop(signal.SIGKILL)

    # --- the edge's side of the envelope, for load aimed at the origin tier directly ----------
    def identity_of(self, access_token: str) -> dict:
        """The x-auth-* headers the edge sets for a verified access token of the origin."""
        import jwt
        c = jwt.decode(access_token, options={"verify_signature": False})
        return {"x-auth-user": c["sub"], "x-auth-session": c.get("sid", ""), "x-auth-roles": ",".join(c.get("roles", [])),
                "x-auth-permissions": ",".join(c.get("permissions", [])), "x-auth-issuer": c["iss"],
                "x-auth-issued-at": str(c["iat"]), "x-auth-expires": str(c["exp"])}

    def sign(self, method: str, path_and_query: str, identity: dict, request_id: str) -> dict:
        """Headers of a request as the edge forwards it: the identity envelope (src/envelope.rs:
        HMAC-SHA256 over `edge-auth-envelope-v1\n<t>\n<METHOD>\n<path?query>\n` + sorted
        `name:value\n` lines), valid for the origin's ENVELOPE_MAX_AGE_SECS (60 s)."""
        headers = {**{k.lower(): v for k, v in identity.items() if v != ""}, "x-request-id": request_id}
        t = int(time.time())
        canon = f"edge-auth-envelope-v1\n{t}\n{method}\n{path_and_query}\n" + \
            "".join(f"{n}:{v}\n" for n, v in sorted(headers.items()))
        mac = hmac.new(bytes.fromhex(self.envelope_secret), canon.encode(), hashlib.sha256).hexdigest()
        return {**headers, "x-auth-signature": f"t={t},v1={mac}"}

    # --- attribution ----------------------------------------------------------------------
    def origin_lines(self, index: int) -> list[dict]:
        out = []
        for line in self.origins[index].log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def process_of_request(self, request_id: str) -> set[int]:
        """Which origin processes logged a request with this id (via nginx, the edge's id)."""
        found = set()
        for i in range(len(self.origins)):
            if request_id in self.origins[i].log.read_text(errors="replace"):
                found.add(i)
        return found


def new_rid() -> str:
    """A request id the edge keeps (it forwards a client's acceptable x-request-id to the origin,
    which logs it): how a test finds which process served a request."""
    return "scale-" + secrets.token_hex(12)


def login(email: str, password: str) -> dict:
    rid = new_rid()
    r = requests.post(f"{EDGE}/auth/login", json={"email": email, "password": password}, timeout=20,
                      headers={"x-request-id": rid})
    assert r.status_code == 200, r.text
    return r.json() | {"_request_id": rid}


def signup_and_login() -> tuple[str, str, dict]:
    email = f"scale-{secrets.token_hex(5)}@example.com"
    password = f"long passphrase {secrets.token_hex(6)}"
    r = requests.post(f"{EDGE}/auth/signup", json={"email": email, "password": password}, timeout=20)
    assert r.status_code == 201, r.text
    return email, password, login(email, password)


class Load:
    """Bounded background clients; every answer recorded (time, kind, status or error)."""

    def __init__(self):
        self.results: list[tuple[float, str, str]] = []
        self.stop_flag = threading.Event()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def record(self, kind: str, outcome: str):
        with self.lock:
            self.results.append((time.time(), kind, outcome))

    def loop(self, kind: str, fn, max_requests: int):
        def run():
            s = requests.Session()
            for _ in range(max_requests):
                if self.stop_flag.is_set():
                    return
                try:
                    r = fn(s)
                    self.record(kind, str(r.status_code))
                except requests.RequestException as e:
                    self.record(kind, f"error:{type(e).__name__}")
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def finish(self, timeout=60):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self.threads), "a load thread did not stop"
