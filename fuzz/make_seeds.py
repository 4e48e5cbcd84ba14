#!/usr/bin/env python3
"""Writes the checked-in seed corpus (fuzz/seeds/TARGET/) from the project's vectors:
tests/vectors/ (published JWT, webhook and plan vectors) and the shipped configuration in
wrangler.toml. Each seed is in its target's input format (see the target's doc comment).
Run from the repository root: python3 fuzz/make_seeds.py (deterministic; rewrites the seeds)."""
import base64, glob, hashlib, json, os, shutil, tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")
seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, set()).add(data)


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


wrangler = tomllib.load(open(os.path.join(ROOT, "wrangler.toml"), "rb"))
routes = [wrangler["vars"]["ROUTES"], wrangler["env"]["production"]["vars"]["ROUTES"]]

# JSON: every vector file, the configuration documents, decoded token segments, webhook bodies.
for f in sorted(glob.glob(os.path.join(ROOT, "tests/vectors/**/*.json"), recursive=True)):
    add("json", open(f, "rb").read())
for r in routes:
    add("json", r)
# Nesting at serde_json's recursion limit (the depth regression, fuzz/regressions/json/).
for n in (126, 127, 128):
    add("json", "[" * n + "]" * n)
    add("json", '{"a":' * n + "1" + "}" * n)

# JWT: each vector token as text (mode 0), and signed-then-mutated inputs (mode 1).
for f in sorted(glob.glob(os.path.join(ROOT, "tests/vectors/jwt/*.json"))):
    v = json.load(open(f))
    tok = v["token"]
    add("jwt_token", b"\x00" + tok.encode())
    parts = tok.split(".")
    for seg in parts[:2]:
        try:
            add("json", b64u_decode(seg))
        except Exception:
            pass
    if len(parts) == 3:
        try:
            add("jwt_token", b"\x01" + b64u_decode(parts[0]) + b"\x00" + b64u_decode(parts[1]) + b"\x00")
        except Exception:
            pass
claims = b'{"iss":"https://issuer.example","aud":"api","sub":"user-1","exp":1700000600,"iat":1700000000,"roles":["admin"],"scope":"read write"}'
add("jwt_token", b"\x01" + b'{"alg":"HS256","typ":"JWT"}' + b"\x00" + claims + b"\x00")
add("jwt_token", b"\x01" + b'{"alg":"HS256","typ":"JWT"}' + b"\x00" + claims + b"\x00\x00\x05\x01")

# Webhooks: each published case in the target's framing (mode 0), and signed inputs (mode 1).
for f in sorted(glob.glob(os.path.join(ROOT, "tests/vectors/webhooks/*.json"))):
    for c in json.load(open(f))["cases"]:
        h, body = c["headers"], c["body"].encode()
        add("json", body)
        if c["provider"] == "stripe" and "stripe-signature" in h:
            add("webhook_stripe", b"\x00" + h["stripe-signature"].encode() + b"\n" + body)
        elif c["provider"] == "github" and "x-hub-signature-256" in h:
            add("webhook_github", b"\x00" + "\n".join([h["x-hub-signature-256"], h.get("x-github-delivery", "")]).encode() + b"\n" + body)
        elif c["provider"] == "standard" and "webhook-signature" in h:
            head = "\n".join([h.get("webhook-id", ""), h.get("webhook-timestamp", ""), h["webhook-signature"]])
            add("webhook_standard", b"\x00" + head.encode() + b"\n" + body)
event = b'{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}'
add("webhook_stripe", b"\x01" + event + b"\x00\x00")
add("webhook_stripe", b"\x01" + event + b"\x00,v0=00\x00")
add("webhook_github", b"\x01" + b'{"action":"opened"}' + b"\x00" + b"72d3162e-cc78-11e3-81ab-4c9367dc0958\x00")
add("webhook_standard", b"\x01" + b"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W\x00" + b'{"type":"user.created"}' + b"\x00")

# Configuration readers: the shipped ROUTES, the e2e suite's RATE_LIMITS and ISSUERS shapes.
for r in routes:
    add("routes_config", r)
    for rule in json.loads(r):
        add("path_pattern", rule["path"] + "\n" + rule["path"].replace("**", "a/b").replace("*", "x") + "\nseg")
add("routes_config", '[{"id":"me","methods":["GET"],"path":"/api/users/{id}/**","access":{"roles":["admin"],"permissions":["users:read"]},"require_fresh_auth":300,"require_amr":["mfa"],"failure":"strict","rate_limits":["api_user"]}]')
rate_limits = [
    {"id": "limited_route", "key": ["route"], "limit": 10, "period_secs": 60, "backend": "durable"},
    {"id": "binding_route", "key": ["route"], "limit": 600, "period_secs": 60, "backend": "binding", "binding": "RL_API"},
    {"id": "login_account", "key": ["account"], "limit": 5, "period_ms": 60000, "backend": "durable"},
    {"id": "api_user", "key": ["user", "ip"], "limit": 6000, "period_secs": 60, "backend": "local"},
]
add("rate_limits_config", json.dumps(rate_limits))
add("rate_limits_config", json.dumps(rate_limits[:1], indent=1))
vec = {os.path.basename(f): json.load(open(f)) for f in glob.glob(os.path.join(ROOT, "tests/vectors/jwt/*.json"))}
rfc_keys = [vec[n]["jwk"] for n in ("rfc7515_a1_hs256.json", "rfc7515_a2_rs256.json", "rfc7515_a3_es256.json", "rfc8037_a4_eddsa.json")]
rfc_keys = [k if isinstance(k, dict) else json.loads(k) for k in rfc_keys]
add("issuers_config", json.dumps([{"issuer": "https://idp.test", "audiences": ["edge-auth", "other"], "jwks_url": "http://127.0.0.1:9/jwks.json"}]))
add("issuers_config", json.dumps([{"issuer": "joe", "audiences": ["api"], "jwks": {"keys": rfc_keys}},
                                  {"issuer": "https://hs.test", "audiences": ["api"], "jwks_secret": "JWKS_FUZZ"}]))
for k in rfc_keys:
    add("issuers_config", json.dumps([{"issuer": "i", "audiences": ["a"], "jwks": {"keys": [k]}}]))
add("path_pattern", "/\n/\nx")
add("path_pattern", "/api/{id}/items/*\n/api/7/items/9\n42")

# Envelope: a request the edge forwards (mode 1: signed then changed; mode 0: as is).
req = ("GET\n/api/me?x=1\nx-auth-user:user-1\nx-auth-session:s1\nx-auth-roles:admin,ops\n"
       "x-auth-issuer:https://issuer.example\nx-request-id:r1\nx-forwarded-for:203.0.113.7\n"
       "X_Auth_Permissions:users:read\ncontent-type:application/json\n")
add("envelope", b"\x01" + req.encode() + b"\x00\x00\x10\x20")
add("envelope", b"\x01" + req.encode())
add("envelope", b"\x00" + req.encode() + b"x-auth-signature:t=1700000000,v1=" + b"00" * 32 + b"\n")

# Request fields: the published wire strings with their absent masks.
for c in json.load(open(os.path.join(ROOT, "tests/vectors/plan/request_fields.json")))["cases"]:
    add("request_fields", c["absent"].to_bytes(4, "little") + c["encoded"].encode())

# Call frames: the golden encodings, read as text, bytes, required, then to the end.
for c in json.load(open(os.path.join(ROOT, "tests/vectors/frame/frames.json")))["cases"]:
    add("call_frame", bytes([0b11_10_01_00]) + bytes.fromhex(c["encoded"]))

for target, items in seeds.items():
    d = os.path.join(OUT, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in sorted(items):
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as fh:
            fh.write(data)
    print(f"{target}: {len(items)} seeds")
