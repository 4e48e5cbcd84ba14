#!/usr/bin/env python3
"""Emit webhook test vectors signed by independent libraries, at a fixed timestamp.

Run once; the JSON output is committed under tests/vectors/webhooks/ and read by
tests/webhook_vectors.rs. Nothing here runs during `cargo test`.

    python3 -m venv /tmp/whvenv
    /tmp/whvenv/bin/pip install stripe standardwebhooks cryptography
    (mkdir -p /tmp/octo && cd /tmp/octo && npm init -y && npm install @octokit/webhooks-methods)
    OCTOKIT_DIR=/tmp/octo /tmp/whvenv/bin/python tests/gen/webhooks/generate.py

Vector file schema (shared with the hand-written published.json):
  {"source": str, "cases": [{
     "name": str, "provider": "stripe"|"github"|"standard",
     "secrets": [str],             # as written in config
     "secret_load": "config"|"raw",  # raw: bytes used as an HMAC key as-is (below the config minimum)
     "headers": {name: value}, "body": str (exact UTF-8 bytes), "now": unix seconds,
     "expect": "ok" | <reason id> | "config_invalid",
     "delivery_id"?: str, "secret_index"?: int, "source"?: str, "note"?: str}]}
"""

import base64
import datetime as dt
import hashlib
import hmac
import importlib.metadata as md
import json
import os
import pathlib
import subprocess
import sys

import stripe
import standardwebhooks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OUT = pathlib.Path(__file__).resolve().parents[2] / "vectors" / "webhooks"
T = 1700000000  # fixed: 2023-11-14T22:13:20Z
UNICODE_BODY = '{"id":"evt_1Unicode","note":"héllo, 🦀 wörld! ♥\\u001B"}'


def write(name, source, cases):
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"source": source, "generated_by": "tests/gen/webhooks/generate.py", "cases": cases}
    (OUT / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT / name}: {len(cases)} cases")


def stripe_vectors():
    v = md.version("stripe")
    sign = stripe.WebhookSignature.generate_signature_header
    s1 = "whsec_edgeauthtest0000000000000000000001"
    s2 = "whsec_edgeauthtest0000000000000000000002"
    body = '{\n  "id": "evt_1EdgeAuth",\n  "object": "event",\n  "type": "customer.subscription.updated"\n}'
    h1 = sign(body, s1, timestamp=T)
    h2 = sign(body, s2, timestamp=T)
    v1_of = lambda h: h.split(",", 1)[1]  # "v1=<hex>"
    # Stripe sends several v1 entries while an endpoint secret is being rolled; the library
    # produces one per call, so the multi-signature header is the two library headers joined.
    both = f"t={T},{v1_of(h2)},{v1_of(h1)}"
    # v0 with the correct HMAC: must be ignored (never enough).
    v0_only = f"t={T},v0={v1_of(h1)[3:]}"
    base = {"provider": "stripe", "secret_load": "config", "body": body, "now": T}
    cases = [
        dict(base, name="stripe library header verifies", secrets=[s1],
             headers={"stripe-signature": h1}, expect="ok", delivery_id="evt_1EdgeAuth", secret_index=0),
        dict(base, name="unicode body verifies over its exact utf-8 bytes", secrets=[s1], body=UNICODE_BODY,
             headers={"stripe-signature": sign(UNICODE_BODY, s1, timestamp=T)}, expect="ok",
             delivery_id="evt_1Unicode"),
        dict(base, name="rolled secret: header with two v1, only the new secret configured", secrets=[s2],
             headers={"stripe-signature": both}, expect="ok", secret_index=0),
        dict(base, name="rolled secret: old secret still configured second", secrets=[s2, s1],
             headers={"stripe-signature": h1}, expect="ok", secret_index=1),
        dict(base, name="secret removed after rotation is refused", secrets=[s2],
             headers={"stripe-signature": h1}, expect="webhook_signature_invalid"),
        dict(base, name="v0-only header is never enough", secrets=[s1],
             headers={"stripe-signature": v0_only}, expect="webhook_signature_missing"),
        dict(base, name="unknown scheme next to a valid v1 is ignored", secrets=[s1],
             headers={"stripe-signature": h1 + ",v9=zz"}, expect="ok"),
        dict(base, name="at +300 s from now still accepted", secrets=[s1], now=T - 300,
             headers={"stripe-signature": h1}, expect="ok"),
        dict(base, name="at -300 s from now still accepted", secrets=[s1], now=T + 300,
             headers={"stripe-signature": h1}, expect="ok"),
        dict(base, name="301 s in the future is refused", secrets=[s1], now=T - 301,
             headers={"stripe-signature": h1}, expect="webhook_timestamp_out_of_tolerance"),
        dict(base, name="301 s in the past is refused", secrets=[s1], now=T + 301,
             headers={"stripe-signature": h1}, expect="webhook_timestamp_out_of_tolerance"),
    ]
    write("stripe-python.json", f"stripe (PyPI) {v}: stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp={T})", cases)


def standard_vectors():
    v = md.version("standardwebhooks")
    when = dt.datetime.fromtimestamp(T, tz=dt.timezone.utc)
    msg_id = "msg_2EdgeAuthVector0000000001"
    body = '{"type":"invoice.paid","data":{"amount":1200}}'
    cases = []

    def case(name, secret, expect="ok", body=body, secret_index=0, extra_sigs=(), **kw):
        sig = standardwebhooks.Webhook(secret).sign(msg_id=msg_id, timestamp=when, data=body)
        c = {"name": name, "provider": "standard", "secrets": [secret], "secret_load": "config",
             "headers": {"webhook-id": msg_id, "webhook-timestamp": str(T),
                         "webhook-signature": " ".join([*extra_sigs, sig])},
             "body": body, "now": T, "expect": expect}
        if expect == "ok":
            c.update(delivery_id=msg_id, secret_index=secret_index)
        c.update(kw)
        cases.append(c)
        return sig

    k24 = "whsec_" + base64.b64encode(bytes(range(24))).decode()
    k32 = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
    k64 = "whsec_" + base64.b64encode(bytes(range(64))).decode()
    case("24-byte secret", k24)
    s32 = case("32-byte secret", k32)
    case("64-byte secret", k64)
    case("unicode body", k32, body=UNICODE_BODY)
    # The upstream Python tests' unpadded secret forms (test_signature_verification_with_unpadded_secret):
    case("unpadded secret needing '==' (25 bytes)", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr")
    case("unpadded secret needing '=' decodes to 23 bytes: below the spec minimum, refused at load",
         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", expect="config_invalid")
    case("65-byte secret refused at load", "whsec_" + base64.b64encode(bytes(65)).decode(),
         expect="config_invalid")
    case("unknown version entries are skipped", k32, extra_sigs=["v2," + s32.split(",")[1]])
    # rotation: two secrets configured, the delivery signed by either.
    old = "whsec_" + base64.b64encode(b"O" * 32).decode()
    sig_old = standardwebhooks.Webhook(old).sign(msg_id=msg_id, timestamp=when, data=body)
    rot = {"provider": "standard", "secret_load": "config", "body": body, "now": T,
           "headers": {"webhook-id": msg_id, "webhook-timestamp": str(T), "webhook-signature": sig_old}}
    cases.append(dict(rot, name="rotation: old secret accepted while configured", secrets=[k32, old],
                      expect="ok", delivery_id=msg_id, secret_index=1))
    cases.append(dict(rot, name="rotation: old secret refused once removed", secrets=[k32],
                      expect="webhook_signature_invalid"))
    write("standardwebhooks-python.json",
          f"standardwebhooks (PyPI) {v}: Webhook(secret).sign(msg_id, timestamp, data) at timestamp {T}", cases)


def ed25519_vectors():
    # standardwebhooks (PyPI) has no v1a signer; sign with pyca/cryptography (OpenSSL) instead.
    v = md.version("cryptography")
    sk = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"edge-auth v1a test key 1").digest())
    sk2 = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"edge-auth v1a test key 2").digest())
    raw = lambda k: k.public_key().public_bytes_raw()
    pk = "whpk_" + base64.b64encode(raw(sk)).decode()
    pk2 = "whpk_" + base64.b64encode(raw(sk2)).decode()
    msg_id = "msg_2EdgeAuthV1a000000000001"
    body = '{"type":"user.created","data":{"name":"Zoë"}}'
    content = f"{msg_id}.{T}.{body}".encode()
    sig = "v1a," + base64.b64encode(sk.sign(content)).decode()
    hm = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
    hsig = "v1," + base64.b64encode(hmac.new(bytes(range(100, 132)), content, hashlib.sha256).digest()).decode()
    base = {"provider": "standard", "secret_load": "config", "body": body, "now": T}
    hdr = lambda s: {"webhook-id": msg_id, "webhook-timestamp": str(T), "webhook-signature": s}
    cases = [
        dict(base, name="v1a verifies with the configured public key", secrets=[pk], headers=hdr(sig),
             expect="ok", delivery_id=msg_id, secret_index=0),
        dict(base, name="v1a with the second of two keys (rotation)", secrets=[pk2, pk], headers=hdr(sig),
             expect="ok", secret_index=1),
        dict(base, name="v1a with another key refused", secrets=[pk2], headers=hdr(sig),
             expect="webhook_signature_invalid"),
        dict(base, name="v1a over a tampered body refused", secrets=[pk], headers=hdr(sig),
             body=body.replace("Zoë", "Zoe"), expect="webhook_signature_invalid"),
        dict(base, name="v1a next to v1, hmac secret and public key configured", secrets=[hm, pk],
             headers=hdr(hsig + " " + sig), expect="ok", secret_index=0),
        dict(base, name="v1a only, but only an hmac secret configured", secrets=[hm], headers=hdr(sig),
             expect="webhook_signature_invalid"),
    ]
    write("standard-v1a-cryptography.json",
          f"pyca/cryptography (PyPI) {v} Ed25519PrivateKey.sign over '<id>.<timestamp>.<body>' "
          f"(Standard Webhooks v1a; the standardwebhooks library has no v1a signer), timestamp {T}", cases)


def octokit_vectors():
    d = os.environ.get("OCTOKIT_DIR")
    if not d:
        print("OCTOKIT_DIR unset: skipping @octokit/webhooks-methods vectors", file=sys.stderr)
        return
    pkg = pathlib.Path(d) / "node_modules/@octokit/webhooks-methods"
    version = json.loads((pkg / "package.json").read_text())["version"]
    secret = "edge-auth octokit test secret"
    secret2 = "edge-auth octokit rotated secret"
    bodies = ['{\n  "zen": "Design for failure."\n}\n', UNICODE_BODY]
    js = (f"const m = await import({json.dumps(str(pkg / 'dist-node/index.js'))});"
          f"const out = [];"
          f"for (const [s, b] of {json.dumps([[secret, b] for b in bodies] + [[secret2, bodies[0]]], ensure_ascii=False)}) out.push(await m.sign(s, b));"
          f"console.log(JSON.stringify(out));")
    sigs = json.loads(subprocess.run(["node", "--input-type=module", "-e", js], check=True,
                                     capture_output=True, text=True).stdout)
    guid = "d5b4c3a2-1f0e-11ee-8c90-0242ac120002"
    base = {"provider": "github", "secret_load": "config", "now": T}
    hdr = lambda s: {"x-hub-signature-256": s, "x-github-delivery": guid}
    cases = [
        dict(base, name="octokit signature verifies", secrets=[secret], body=bodies[0], headers=hdr(sigs[0]),
             expect="ok", delivery_id=guid, secret_index=0),
        dict(base, name="unicode body verifies", secrets=[secret], body=bodies[1], headers=hdr(sigs[1]), expect="ok"),
        dict(base, name="rotation: both secrets configured, signed by the new one", secrets=[secret, secret2],
             body=bodies[0], headers=hdr(sigs[2]), expect="ok", secret_index=1),
        dict(base, name="rotation: signed by a removed secret", secrets=[secret2], body=bodies[0],
             headers=hdr(sigs[0]), expect="webhook_signature_invalid"),
    ]
    write("octokit-webhooks-methods.json",
          f"@octokit/webhooks-methods (npm) {version}: sign(secret, payload); X-GitHub-Delivery added (GitHub signs the body only)",
          cases)


if __name__ == "__main__":
    stripe_vectors()
    standard_vectors()
    ed25519_vectors()
    octokit_vectors()
