// Comparison: a JS Worker using `jose` (WebCrypto underneath) — verify a bearer JWT against a
// static JWKS, then forward with a signed identity envelope, like our edge.
import { createLocalJWKSet, jwtVerify } from "jose";
import { deny, forwardSigned } from "./common.js";

// jose's local JWKS takes asymmetric keys only; HS256 users hand jose the secret bytes.
let jwks, secrets;
function keyFor(header, token) {
  if (header.alg.startsWith("HS")) {
    const k = secrets.get(header.kid);
    if (!k) throw new Error("unknown kid");
    return k;
  }
  return jwks(header, token);
}
export default {
  async fetch(request, env) {
    if (!jwks) {
      const set = JSON.parse(env.JWKS);
      jwks = createLocalJWKSet({ keys: set.keys.filter((k) => k.kty !== "oct") });
      secrets = new Map(set.keys.filter((k) => k.kty === "oct")
        .map((k) => [k.kid, Uint8Array.from(atob(k.k.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))]));
    }
    const auth = request.headers.get("authorization") || "";
    if (!auth.startsWith("Bearer ")) return deny(401, "token_missing", { "www-authenticate": "Bearer" });
    let payload;
    try {
      ({ payload } = await jwtVerify(auth.slice(7), keyFor, {
        issuer: env.ISSUER, audience: env.AUDIENCE, clockTolerance: 30, requiredClaims: ["exp", "sub"],
        algorithms: ["HS256", "EdDSA", "ES256", "RS256"],
      }));
    } catch (e) {
      return deny(401, "token_invalid", { "www-authenticate": 'Bearer error="invalid_token"' });
    }
    const id = {
      "x-auth-user": payload.sub, "x-auth-roles": (payload.roles || []).join(","),
      "x-auth-permissions": (payload.permissions || []).join(","), "x-auth-issuer": payload.iss,
      "x-auth-expires": String(payload.exp),
    };
    if (payload.sid) id["x-auth-session"] = payload.sid;
    if (payload.iat) id["x-auth-issued-at"] = String(payload.iat);
    return forwardSigned(request, env, id);
  },
};
