#!/usr/bin/env python3
"""Mints a demo access token for the `edge-auth-demo` issuer with PyJWT (an independent JOSE
library), from the generated DEMO_HS_JWKS in data/dev.env.

usage: .venv/bin/python scripts/mint_token.py [--sub alice] [--perm rbac:admin ...] [--ttl 900]
"""
import argparse, base64, json, pathlib, time, uuid
import jwt

def demo_key(env_file):
    for line in pathlib.Path(env_file).read_text().splitlines():
        if line.startswith("DEMO_HS_JWKS="):
            k = json.loads(line.split("=", 1)[1])["keys"][0]
            return k["kid"], base64.urlsafe_b64decode(k["k"] + "=" * (-len(k["k"]) % 4))
    raise SystemExit(f"DEMO_HS_JWKS not found in {env_file}: run scripts/run.sh once")

p = argparse.ArgumentParser()
p.add_argument("--sub", default="demo-user")
p.add_argument("--perm", action="append", default=[])
p.add_argument("--role", action="append", default=["user"])
p.add_argument("--ttl", type=int, default=900)
p.add_argument("--env-file", default="data/dev.env")
a = p.parse_args()
kid, key = demo_key(a.env_file)
now = int(time.time())
claims = {"iss": "edge-auth-demo", "aud": "edge-auth", "sub": a.sub, "sid": str(uuid.uuid4()),
          "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + a.ttl,
          "roles": a.role, "permissions": a.perm}
print(jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid}))
