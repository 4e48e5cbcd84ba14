#!/usr/bin/env python3
"""Emit JWT vectors for ES384, ES512, RS384, RS512, PS384 and PS512, signed by an independent
implementation (PyJWT + cryptography, not our Rust), with fixed keys and fixed claims.

Run once; the JSON output is committed under tests/vectors/jwt/ (gen_*.json) and read by
tests/jwt_vectors.rs (natively) and tests/e2e/test_algorithms.py (through workerd). Nothing here
runs during `cargo test`. With the venv of scripts/setup.sh (PyJWT and cryptography):

    .venv/bin/python tests/gen/jwt/generate.py

Reproducible: the EC private scalars are derived from fixed labels, the RSA key is the
throwaway 2048-bit test key of tests/jwt_support.rs, the claims are fixed. RS384/RS512 are
deterministic (the same bytes on every run); ECDSA and PSS are randomized, so a rerun writes
other, equally valid signatures (the negatives are derived from whatever signature was made).

Vector file schema (a superset of the hand-written RFC vectors beside them):
  {"source", "generated_by", "note", "alg", "jwk" (public, with kid and alg), "key_load": "ok",
   "token", "signature_verifies": true, "parse": "ok",
   "checks": [{"sentence", "now", "issuer", "audiences", "expect"}],
   "negatives": [{"sentence", "token", "expect"}]        # checked at a time the token is valid
   "key_negatives": [{"sentence", "jwk", "expect"}]}     # key load errors
"""

import base64
import hashlib
import importlib.metadata as md
import json
import pathlib

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

OUT = pathlib.Path(__file__).resolve().parents[2] / "vectors" / "jwt"
ISSUER = "https://vectors.edge-auth.test"
AUDIENCE = "edge-api"
IAT = 1767225600  # 2026-01-01T00:00:00Z
EXP = 4102444800  # 2100-01-01T00:00:00Z: the tokens stay valid, so workerd can forward them
NOW = 1893456000  # 2030-01-01T00:00:00Z: the fixed clock the checks use

CURVES = {"ES384": (ec.SECP384R1(), "P-384", 48), "ES512": (ec.SECP521R1(), "P-521", 66)}
# The same key pins one algorithm each time; `sibling` is the algorithm a confused verifier might
# accept for it (same key type, other hash or padding or curve).
SIBLING = {"ES384": "ES512", "ES512": "ES384", "RS384": "PS384", "RS512": "RS256", "PS384": "RS384",
           "PS512": "PS256"}

# tests/jwt_support.rs TEST_ONLY_RSA_PRIVATE_JWK: made for tests only, never configured anywhere.
RSA_JWK = {
    "n": "1oOaxq7aOhohhD0zZ5XfKUd4l90FjVNDcRMasTHlCmppEs9cXhj7BgOq6tp99KrW8kM-NYB9WHXhDu2ekpKmA1KN8MLcD_HRCNy-fzpzvjYF3ojrHhnq_EZbG_v3P6_4JaUYgRG7HarnPPjJKIrkQQZ8kKlj1vMTHDmp67dzBGpvEPiUtiRfjiXqXVnTr8qrQT8db-9Vaj9wQ7Tm7NxVSo_b7fO2jOgcyFhOX8l1KpY2DrlpSOzRuMbXS4y8b9j5NoCmibjQ8eRkpXQOrais_SPeKFNYIAhzwR7xUfDLggt1JthJQToR0Y1r6YY0f1r91JMbkPPDTqiUCzJLgRgNXQ",
    "e": "AQAB",
    "d": "GaYKr47gkOnm8ATRTKVi1XCyPpYyv78g5Tg_jMhGdoRao-EfTjD2crWljgcp4EM9CCJ6IbOHSThu_HX069mU9_i69_qUjWOAdurN7DB0_l0_PmholGTM7_UJl8L8wSStKvMehvAzy0xP8b5dbveMayn3YuSeB2lw84MBiimZGwHW08EGBJLTV7fOtQYt81kfMZ7_3v26LV_jIm0lXAMRkq1PRgqwvgQCeGDAuwFIvQ4WyX-l7-xdUbv0_vO0SGfcQefnuIT1e_Y_GArCt-20XdaFCozU-0BxwWU0ekWXFzbkOUNUr2WyoZa1_kkHH_ZZx4Esj47RHnR5xs4CShCogQ",
    "p": "6srSc5TlkUMnwfFJvrVqpfrM_0ezb-ZDKI8Fn5eXaIKD4MjDSpKs7G46aF5M8Z6xMJjY7r_N0ShffADYt_lMmiLOe89GZ1hGTecuDT2kVmmnWosXd9BolQnCvS4KYZI6DKmh3g03-e_AglwrWMzTq9dLl8zQB3SaYIL2e9u5HMU",
    "q": "6ePiHlVb0bz4-3D_6UgHVlZRI1G81qXDjH99PFF3Lz1u11xFgDWqYXmBTxRed1EgnbcBjxDztPaNjmxDygvHaqZP-VFb3sn6P5IskE_8nlVzRcSjQi_Sq9Jx1c6hPXrLrTie5fPEWLjapbJ_7MiyIEVRUEE4OnAnSLnEmKCzZ7k",
}


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def uint(s: str) -> int:
    return int.from_bytes(unb64u(s), "big")


def ec_key(alg: str):
    curve, crv, size = CURVES[alg]
    # A fixed scalar from a label; reduced below the group order (both orders exceed 2^383).
    d = int.from_bytes(hashlib.sha512(f"edge-auth {alg} vector key".encode()).digest(), "big") % (2**383) + 1
    private = ec.derive_private_key(d, curve)
    nums = private.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": crv, "x": b64u(nums.x.to_bytes(size, "big")), "y": b64u(nums.y.to_bytes(size, "big"))}
    return private, jwk


def rsa_key():
    n, e, d, p, q = (uint(RSA_JWK[k]) for k in ("n", "e", "d", "p", "q"))
    private = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
                                    rsa.RSAPublicNumbers(e, n)).private_key()
    return private, {"kty": "RSA", "n": RSA_JWK["n"], "e": RSA_JWK["e"]}


def flip(token: str, byte: int) -> str:
    head, payload, sig = token.split(".")
    raw = bytearray(unb64u(sig))
    raw[byte] ^= 0x01
    return f"{head}.{payload}.{b64u(bytes(raw))}"


def with_sig(token: str, sig: bytes) -> str:
    head, payload, _ = token.split(".")
    return f"{head}.{payload}.{b64u(sig)}"


def relabel(token: str, alg: str) -> str:
    """The same payload and signature under a header naming another algorithm."""
    _, payload, sig = token.split(".")
    head = json.loads(unb64u(token.split(".")[0]))
    head["alg"] = alg
    return f"{b64u(json.dumps(head, separators=(',', ':')).encode())}.{payload}.{sig}"


def vector(alg: str) -> dict:
    private, public = ec_key(alg) if alg.startswith("ES") else rsa_key()
    kid = f"vec-{alg.lower()}"
    jwk = dict(public, kid=kid, alg=alg, use="sig")
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"vector-{alg.lower()}", "iat": IAT, "nbf": IAT, "exp": EXP,
              "roles": ["vector"], "permissions": ["profile:read"]}
    token = jwt.encode(claims, private, algorithm=alg, headers={"kid": kid, "typ": "JWT"})
    # Checked by PyJWT itself before it is written.
    assert jwt.decode(token, private.public_key(), algorithms=[alg], audience=AUDIENCE)["sub"] == claims["sub"]
    sig = unb64u(token.split(".")[2])
    half = len(sig) // 2
    bad = "token_signature_invalid"
    negatives = [
        {"sentence": "the first signature byte with one bit flipped", "token": flip(token, 0), "expect": bad},
        {"sentence": "a middle signature byte with one bit flipped", "token": flip(token, half), "expect": bad},
        {"sentence": "the last signature byte with one bit flipped", "token": flip(token, len(sig) - 1), "expect": bad},
        {"sentence": "the signature without its last byte", "token": with_sig(token, sig[:-1]), "expect": bad},
        {"sentence": "the signature with a zero byte appended", "token": with_sig(token, sig + b"\0"), "expect": bad},
        {"sentence": "the signature halves swapped", "token": with_sig(token, sig[half:] + sig[:half]), "expect": bad},
        {"sentence": f"the header relabelled {SIBLING[alg]} (the key pins {alg})", "token": relabel(token, SIBLING[alg]),
         "expect": "token_algorithm_not_allowed"},
        {"sentence": "the header relabelled HS256 (an HMAC over the public key is never tried)",
         "token": relabel(token, "HS256"), "expect": "token_algorithm_not_allowed"},
    ]
    # An EC key's curve fixes its one algorithm; an RSA key may pin any RS*/PS*, but no EC or HMAC one.
    wrong = SIBLING[alg] if alg.startswith("ES") else "ES384"
    key_negatives = [
        {"sentence": f"the key claiming {wrong}", "jwk": dict(jwk, alg=wrong), "expect": "algorithm_inconsistent"},
        {"sentence": "the key claiming HS512", "jwk": dict(jwk, alg="HS512"), "expect": "algorithm_inconsistent"},
    ]
    if alg.startswith("ES"):
        other = "P-521" if alg == "ES384" else "P-384"
        key_negatives += [
            {"sentence": f"the point relabelled {other} with its alg", "jwk": dict(jwk, crv=other, alg=SIBLING[alg]),
             "expect": "field"},
            {"sentence": "the point relabelled P-256 without alg", "jwk": {k: v for k, v in dict(jwk, crv="P-256").items() if k != "alg"},
             "expect": "field"},
            {"sentence": "the key with its private d", "jwk": dict(jwk, d=b64u(private.private_numbers().private_value.to_bytes(CURVES[alg][2], "big"))),
             "expect": "private_parts_present"},
        ]
    else:
        key_negatives += [
            {"sentence": "a 1024-bit modulus", "jwk": dict(jwk, n=b64u(b"\xc5" * 128)), "expect": "rsa_key_size"},
            {"sentence": "the key with its private d", "jwk": dict(jwk, d=RSA_JWK["d"]), "expect": "private_parts_present"},
        ]
    at = lambda sentence, now, expect, issuer=ISSUER, audiences=(AUDIENCE,): {
        "sentence": sentence, "now": now, "issuer": issuer, "audiences": list(audiences), "expect": expect}
    checks = [
        at("at 2030-01-01 with its issuer and audience, the token is valid", NOW, "ok"),
        at("one second before nbf minus the 30 s leeway, it is not yet valid", IAT - 31, "token_not_yet_valid"),
        at("at exp plus the 30 s leeway, it has expired", EXP + 30, "token_expired"),
        at("with another audience configured, the audience is refused", NOW, "token_audience_invalid", audiences=("other",)),
        at("with another issuer configured, the issuer is refused", NOW, "token_issuer_invalid", issuer="https://other.test"),
    ]
    deterministic = "deterministic: a rerun writes the same token" if alg.startswith("RS") else \
        "randomized signature: a rerun writes another valid token"
    return {
        "source": f"PyJWT {md.version('PyJWT')} + cryptography {md.version('cryptography')}: jwt.encode(claims, key, algorithm=\"{alg}\")",
        "generated_by": "tests/gen/jwt/generate.py",
        "note": f"fixed test-only key; {deterministic}",
        "alg": alg, "jwk": jwk, "key_load": "ok", "token": token, "signature_verifies": True, "parse": "ok",
        "checks": checks, "negatives": negatives, "key_negatives": key_negatives,
    }


def main():
    for alg in ("ES384", "ES512", "RS384", "RS512", "PS384", "PS512"):
        path = OUT / f"gen_{alg.lower()}.json"
        path.write_text(json.dumps(vector(alg), indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
