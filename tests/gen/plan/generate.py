"""Writes tests/vectors/plan/*.json: golden encodings of the plan protocol (src/plan.rs), computed
here from the written spec, independently of both the Rust encoder and the JS decoder. Each case
has the encoder's input (`step`), the exact string (`encoded`) and what the JS decoder returns
(`decoded`); the invalid cases have the string and the error the decoder reports."""
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parents[2] / "vectors" / "plan"
SOURCE = "edge-auth plan protocol, version 1 (the spec in src/plan.rs's module docs)"


def enc(kind, background, *fields):
    return "\0".join(["1", kind, "1" if background else "0", *[str(f) for f in fields]])


def joined(pairs):
    # A newline in a header value is sent as a space (HeaderSet::push).
    return "\n".join(n for n, _ in pairs), "\n".join(v.replace("\r", " ").replace("\n", " ") for _, v in pairs)


cases = []

def case(name, step, encoded, decoded):
    cases.append({"name": name, "step": step, "encoded": encoded, "decoded": {"version": 1, **decoded}})

body = '{"error":"token_missing","message":"no bearer token or session cookie was presented","request_id":"r-1"}'
headers = [["content-type", "application/json"], ["cache-control", "no-store"], ["www-authenticate", 'Bearer realm="edge-auth"']]
n, v = joined(headers)
case("a 401 answered now", {"kind": "respond", "background": False, "status": 401, "headers": headers, "body": body},
     enc("respond", False, 401, n, v, body),
     {"kind": "respond", "background": False, "status": 401, "headerNames": n, "headerValues": v, "body": body})

headers = [["content-type", "application/json"], ["x-note", "two\nlines"]]
n, v = joined(headers)
case("a header value's newline is sent as a space; background work queued",
     {"kind": "respond", "background": True, "status": 429, "headers": headers, "body": "{}"},
     enc("respond", True, 429, n, v, "{}"),
     {"kind": "respond", "background": True, "status": 429, "headerNames": n, "headerValues": v, "body": "{}"})

case("a 204 without headers or body", {"kind": "respond", "background": False, "status": 204, "headers": [], "body": ""},
     enc("respond", False, 204, "", "", ""),
     {"kind": "respond", "background": False, "status": 204, "headerNames": "", "headerValues": "", "body": ""})

drop = ["x-auth-user", "host"]
sets = [["x-auth-expires", "1800000600"], ["x-auth-user", "u1"], ["x-forwarded-proto", "https"], ["x-request-id", "r-2"], ["x-auth-signature", "t=1800000000,v1=ab"]]
resp = [["RateLimit-Policy", '"api";q=100;w=60'], ["RateLimit", '"api";r=99;t=1']]
after = "r-2\tapi\tmiss\tsync\t0\torigin"
sn, sv = joined(sets)
rn, rv = joined(resp)
case("forward to the origin with identity headers and RateLimit headers",
     {"kind": "forward", "background": False, "target": "origin", "url": "http://127.0.0.1:8788/api/me?x=1", "timeout_ms": 10000,
      "after": after, "drop": drop, "set": sets, "response_headers": resp},
     enc("forward", False, "origin", "http://127.0.0.1:8788/api/me?x=1", 10000, after, "\n".join(drop), sn, sv, rn, rv),
     {"kind": "forward", "background": False, "target": "origin", "url": "http://127.0.0.1:8788/api/me?x=1", "timeoutMs": 10000,
      "after": after, "drop": "\n".join(drop), "setNames": sn, "setValues": sv, "responseNames": rn, "responseValues": rv})

after = "r-3\tpages\tnone\tsync\t0\tassets"
case("forward to the static assets",
     {"kind": "forward", "background": True, "target": "assets", "after": after, "response_headers": []},
     enc("forward", True, "assets", "", 0, after, "", "", "", "", ""),
     {"kind": "forward", "background": True, "target": "assets", "url": "", "timeoutMs": 0, "after": after, "drop": "",
      "setNames": "", "setValues": "", "responseNames": "", "responseValues": ""})

case("verify an EdDSA signature with WebCrypto",
     {"kind": "verify", "background": False, "ticket": 7, "key_id": "00112233445566778899aabbccddeeff", "alg": "EdDSA",
      "signing_input": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9", "signature": "c2lnbmF0dXJl"},
     enc("verify", False, 7, "00112233445566778899aabbccddeeff", "EdDSA", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9", "c2lnbmF0dXJl"),
     {"kind": "verify", "background": False, "ticket": 7, "keyId": "00112233445566778899aabbccddeeff", "alg": "EdDSA",
      "signingInput": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9", "signature": "c2lnbmF0dXJl"})

# Issue 21: the alg field names any of the asymmetric JWS algorithms glue.js has WebCrypto
# parameters for (EdDSA, ES256/384/512, RS256/384/512, PS256/384/512); the format is unchanged.
case("verify an ES512 (P-521) signature with WebCrypto",
     {"kind": "verify", "background": True, "ticket": 8, "key_id": "ffeeddccbbaa99887766554433221100", "alg": "ES512",
      "signing_input": "eyJhbGciOiJFUzUxMiJ9.eyJzdWIiOiJ1MiJ9", "signature": "c2ln"},
     enc("verify", True, 8, "ffeeddccbbaa99887766554433221100", "ES512", "eyJhbGciOiJFUzUxMiJ9.eyJzdWIiOiJ1MiJ9", "c2ln"),
     {"kind": "verify", "background": True, "ticket": 8, "keyId": "ffeeddccbbaa99887766554433221100", "alg": "ES512",
      "signingInput": "eyJhbGciOiJFUzUxMiJ9.eyJzdWIiOiJ1MiJ9", "signature": "c2ln"})

case("read a webhook's body, capped, with the headers its provider signs",
     {"kind": "read_body", "background": False, "ticket": 12, "max_bytes": 1048576, "headers": ["webhook-id", "webhook-timestamp", "webhook-signature"]},
     enc("read_body", False, 12, 1048576, "webhook-id\nwebhook-timestamp\nwebhook-signature"),
     {"kind": "read_body", "background": False, "ticket": 12, "maxBytes": 1048576, "headers": ["webhook-id", "webhook-timestamp", "webhook-signature"]})

case("read a body for an account-keyed limit, no headers",
     {"kind": "read_body", "background": False, "ticket": 13, "max_bytes": 65536, "headers": []},
     enc("read_body", False, 13, 65536, ""),
     {"kind": "read_body", "background": False, "ticket": 13, "maxBytes": 65536, "headers": []})

# Issue 23: a page of a fresh isolate's first revocation sync is fetched by the JS driver (one
# GET, its headers, a timeout), so the first request runs no async wasm.
url = "http://127.0.0.1:8788/internal/revocations?since=c1"
sig = "t=1800000000,v1=ab"
case("fetch a page of the revocation feed (a fresh isolate's first sync)",
     {"kind": "fetch", "background": False, "ticket": 6, "url": url, "timeout_ms": 3000, "headers": [["x-auth-signature", sig]]},
     enc("fetch", False, 6, url, 3000, "x-auth-signature", sig),
     {"kind": "fetch", "background": False, "ticket": 6, "url": url, "timeoutMs": 3000, "headerNames": "x-auth-signature",
      "headerValues": sig})

# A request that needs a user while a fresh isolate's first sync runs elsewhere (another request's,
# or a background poll a public request started) waits for it: woken when a feed page is reported.
case("wait for the revocation sync under way",
     {"kind": "sync_wait", "background": True, "ticket": 9, "timeout_ms": 3000},
     enc("sync_wait", True, 9, 3000),
     {"kind": "sync_wait", "background": True, "ticket": 9, "timeoutMs": 3000})

# Every other wait is performed by JS too (issue 23: no async wasm, no `worker` crate).
case("GET an issuer's key set (single flight per issuer)",
     {"kind": "jwks", "background": False, "ticket": 4, "issuer": "https://issuer.test", "url": "https://issuer.test/jwks"},
     enc("jwks", False, 4, "https://issuer.test", "https://issuer.test/jwks", 5000),
     {"kind": "jwks", "background": False, "ticket": 4, "issuer": "https://issuer.test", "url": "https://issuer.test/jwks",
      "timeoutMs": 5000})

# Two remote checks: the key's Durable Object shard (top 6 bits of the key's first byte: 0xab → 42)
# with the check's URL (limit, period ms, cost 1), and a rate-limiting binding with the key.
key_hex = "ab" + "01" * 15
do_url = f"https://rate-limiter/check/{key_hex}/100/60000/1"
case("ask a Durable Object and a rate-limiting binding",
     {"kind": "limits", "background": True, "ticket": 5, "checks": [
         {"rule_id": "do_route", "key": key_hex, "limit": 100, "period_ms": 60000, "backend": "durable"},
         {"rule_id": "binding_route", "key": key_hex, "limit": 600, "period_ms": 60000, "backend": "binding", "binding": "RL_API"}]},
     enc("limits", True, 5, "durable\nbinding", "rl1-42\nRL_API", f"{do_url}\n{key_hex}"),
     {"kind": "limits", "background": True, "ticket": 5, "backends": ["durable", "binding"], "names": ["rl1-42", "RL_API"],
      "args": [do_url, key_hex]})

import base64
def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
message = b"msg_1.1800000000.{\"type\":\"ping\"}"
keys = [bytes(range(32)), bytes([7]) * 32]
sigs = [bytes([1]) * 64, bytes(range(64))]
case("check Standard Webhooks v1a signatures with WebCrypto (two candidates)",
     {"kind": "ed25519", "background": False, "ticket": 8, "message": message.decode(),
      "candidates": [[list(k), list(sg)] for k, sg in zip(keys, sigs)]},
     enc("ed25519", False, 8, b64u(message), "\n".join(b64u(k) for k in keys), "\n".join(b64u(sg) for sg in sigs)),
     {"kind": "ed25519", "background": False, "ticket": 8, "message": b64u(message), "keys": [b64u(k) for k in keys],
      "signatures": [b64u(sg) for sg in sigs]})

case("no background work left", {"kind": "idle"}, enc("idle", False), {"kind": "idle", "background": False})

case("after the forward: pass the response on with Server-Timing",
     {"kind": "decorate", "background": False, "server_timing": 'auth;dur=0.0;desc="cache hit", origin;dur=3.0'},
     enc("decorate", False, 'auth;dur=0.0;desc="cache hit", origin;dur=3.0'),
     {"kind": "decorate", "background": False, "serverTiming": 'auth;dur=0.0;desc="cache hit", origin;dur=3.0'})
case("after the forward: pass the response on as it is", {"kind": "decorate", "background": True, "server_timing": None},
     enc("decorate", True, ""), {"kind": "decorate", "background": True, "serverTiming": ""})

case("a raw key to import", {"kind": "key", "format": "raw", "alg": "EdDSA", "data": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
     enc("key", False, "raw", "EdDSA", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
     {"kind": "key", "background": False, "format": "raw", "alg": "EdDSA", "data": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
jwk = '{"kty":"RSA","n":"sXch","e":"AQAB"}'
case("a JWK to import", {"kind": "key", "format": "jwk", "alg": "RS256", "data": jwk},
     enc("key", False, "jwk", "RS256", jwk), {"kind": "key", "background": False, "format": "jwk", "alg": "RS256", "data": jwk})
p521 = '{"kty":"EC","crv":"P-521","x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk","y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"}'
case("a P-521 JWK to import for ES512", {"kind": "key", "format": "jwk", "alg": "ES512", "data": p521},
     enc("key", False, "jwk", "ES512", p521), {"kind": "key", "background": False, "format": "jwk", "alg": "ES512", "data": p521})
case("an RSA JWK to import for PS384", {"kind": "key", "format": "jwk", "alg": "PS384", "data": jwk},
     enc("key", False, "jwk", "PS384", jwk), {"kind": "key", "background": False, "format": "jwk", "alg": "PS384", "data": jwk})
case("no key: the verification fails", {"kind": "no_key"}, enc("no_key", False), {"kind": "no_key", "background": False})

invalid = [
    {"name": "another version", "encoded": "2\0respond\x000\x00200\0\0\0ok", "error": "unknown plan version \"2\""},
    {"name": "the unversioned format before version 1", "encoded": "R0\x00401\0content-type\0application/json\0{}", "error": "unknown plan version \"R0\""},
    {"name": "a kind without a name in version 1 (the old silent fallback to the async path)", "encoded": "1\0full\x000", "error": "unknown plan kind \"full\""},
    {"name": "a kind that is only a property name in JS", "encoded": "1\0constructor\x000", "error": "unknown plan kind \"constructor\""},
    {"name": "a field missing", "encoded": "1\0respond\x000\x00200\0\0", "error": "plan kind respond has 3 fields, expected 4"},
    {"name": "a field too many", "encoded": "1\0jwks\x000\x001\0https://i\0http://j/\x005000\0x", "error": "plan kind jwks has 5 fields, expected 4"},
    {"name": "the async driver's kind, gone with it", "encoded": "1\0wasm_io\x000\x001", "error": "unknown plan kind \"wasm_io\""},
    {"name": "limits whose lists differ in length", "encoded": "1\0limits\x000\x005\0durable\nbinding\0rl1-00\0u", "error": "plan kind limits has 2 backends, 1 names, 1 arguments"},
    {"name": "a rate-limit backend without a name", "encoded": "1\0limits\x000\x005\0redis\0r\0u", "error": "unknown rate-limit backend \"redis\""},
    {"name": "ed25519 keys without their signatures", "encoded": "1\0ed25519\x000\x008\0bQ\0AA\nAA\0AA", "error": "plan kind ed25519 has 2 keys, 1 signatures"},
    {"name": "a background flag that is neither 0 nor 1", "encoded": "1\0no_key\0yes", "error": "plan background flag \"yes\" is not 0 or 1"},
    {"name": "a sync wait without its timeout", "encoded": "1\0sync_wait\x000\x009", "error": "plan kind sync_wait has 1 fields, expected 2"},
    {"name": "a fetch without its headers", "encoded": "1\0fetch\x000\x006\0http://o/\x003000", "error": "plan kind fetch has 3 fields, expected 5"},
    {"name": "a ticket that is not a number", "encoded": "1\0jwks\x000\0seven\0https://i\0http://j/\x005000", "error": "plan ticket \"seven\" is not a number"},
    {"name": "a forward target without a name", "encoded": "1\0forward\x000\0cache\0\x000\0\0\0\0\0\0", "error": "unknown forward target \"cache\""},
]

OUT.mkdir(parents=True, exist_ok=True)
(OUT / "steps.json").write_text(json.dumps({"source": SOURCE, "generated_by": "tests/gen/plan/generate.py",
    "description": "every plan kind: the encoder's input, the exact string, and what decodePlan returns", "cases": cases}, indent=2, ensure_ascii=False) + "\n")
(OUT / "invalid.json").write_text(json.dumps({"source": SOURCE, "generated_by": "tests/gen/plan/generate.py",
    "description": "strings a decoder must refuse with a PlanError (never guess, never fall back)", "cases": invalid}, indent=2, ensure_ascii=False) + "\n")
print(f"{len(cases)} step cases, {len(invalid)} invalid cases")
