// The Worker's WebCrypto parameters (src/worker/glue.js: importKey, verifySignature) against the
// JWT vectors in tests/vectors/jwt/ (RFC 7515 and the PyJWT-made gen_*.json), under Node's WebCrypto:
// the same calls the Worker makes in workerd (tests/e2e/test_algorithms.py runs them there), with the
// key given as src/pipeline/authenticate.rs's key_to_import builds it (no kid, alg or use).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { importKey, verifySignature, cachedKey } from "../../src/worker/glue.js";

const dir = new URL("../vectors/jwt/", import.meta.url);
const vectors = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .map((f) => [f, JSON.parse(readFileSync(new URL(f, dir), "utf8"))])
  .filter(([, v]) => v.signature_verifies === true && !v.alg.startsWith("HS") && v.alg !== "EdDSA");

function bytes(b64url) {
  return new Uint8Array(Buffer.from(b64url, "base64url"));
}

// What key_to_import sends for an EC or RSA key: the public members only.
function importable(jwk) {
  return jwk.kty === "EC" ? { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: "RSA", n: jwk.n, e: jwk.e };
}

async function verifies(alg, key, token) {
  const at = token.lastIndexOf(".");
  return verifySignature(alg, key, bytes(token.slice(at + 1)), new TextEncoder().encode(token.slice(0, at)));
}

test("every asymmetric algorithm of src/jwt/alg.rs has WebCrypto parameters", async () => {
  const src = readFileSync(new URL("../../src/jwt/alg.rs", import.meta.url), "utf8");
  const names = [...src.matchAll(/Algorithm::\w+ => "([A-Za-z0-9]+)"/g)].map((m) => m[1]);
  const asymmetric = [...new Set(names)].filter((n) => !n.startsWith("HS"));
  assert.deepEqual(asymmetric.sort(), ["ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"]);
  for (const alg of asymmetric) {
    // An unknown algorithm rejects with this message before WebCrypto is asked; a known one does not.
    await assert.doesNotReject(
      importKey(alg, "raw", new Uint8Array(1)).catch((e) => {
        if (/no WebCrypto parameters/.test(e.message)) throw e;
      }),
      alg,
    );
  }
  await assert.rejects(importKey("HS256", "raw", new Uint8Array(32)), /no WebCrypto parameters for alg HS256/);
});

test("the ES*, RS* and PS* vectors cover the six added algorithms", () => {
  const algs = new Set(vectors.map(([, v]) => v.alg));
  for (const alg of ["ES384", "ES512", "RS384", "RS512", "PS384", "PS512"]) assert.ok(algs.has(alg), alg);
});

for (const [name, v] of vectors) {
  test(`${name}: ${v.alg} verifies with the Worker's parameters, tampered signatures do not`, async () => {
    const key = await importKey(v.alg, "jwk", importable(v.jwk), `test-${name}`);
    assert.equal(cachedKey(`test-${name}`), key);
    assert.equal(await verifies(v.alg, key, v.token), true);
    let refused = 0;
    for (const n of v.negatives ?? []) {
      if (n.expect !== "token_signature_invalid") continue;
      const sig = n.token.slice(n.token.lastIndexOf(".") + 1);
      // The edge hands WebCrypto only signatures of the key's exact size (Rust checks first).
      if (bytes(sig).length !== bytes(v.token.slice(v.token.lastIndexOf(".") + 1)).length) continue;
      assert.equal(await verifies(v.alg, key, n.token), false, n.sentence);
      refused++;
    }
    if (v.negatives) assert.ok(refused >= 4, `${name}: only ${refused} tampered signatures checked`);
    // The same signature under a sibling algorithm's parameters (same key bytes) never verifies.
    const sibling = { ES384: null, ES512: null, RS384: "PS384", RS512: "RS256", PS384: "RS384", PS512: "PS384", RS256: "PS256", ES256: null }[v.alg];
    if (sibling) {
      const other = await importKey(sibling, "jwk", importable(v.jwk));
      assert.equal(await verifies(sibling, other, v.token), false, `${v.alg} token under ${sibling}`);
    }
  });
}
