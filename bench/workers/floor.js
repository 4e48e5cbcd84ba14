// The floor: the least a Worker doing the job can do in this runtime, to bound what any edge —
// ours or another — can reach against the comparison measured in the same run.
//
// It forwards like the no-auth proxy, plus what no auth Worker can skip: copy the request's
// headers, drop `host`, set 9 identity headers (constants here: nothing computed, nothing
// signed), stream or send the body. Then, only where the job cannot avoid it:
// - an asymmetric JWT (EdDSA, ES256, RS256) has its signature checked with WebCrypto against a
//   key imported once (no claim checks, no payload parse) — the cost any Worker verifying in
//   WebCrypto pays; a bad signature gets a 401, so the check is real;
// - an HS256 JWT is not checked at all (an HMAC in wasm costs ~2 µs): a strict upper bound;
// - a POST body is read whole before forwarding (a webhook is verified before it is passed on),
//   but not MACed: again an upper bound.
// The cached-decision row uses it without a token: the proxy + identity headers.
const ID = [["x-auth-user", "user-1234"], ["x-auth-roles", "member,editor"], ["x-auth-permissions", "items:read,items:write"],
  ["x-auth-issuer", "https://issuer.example"], ["x-auth-expires", "1893459600"], ["x-auth-session", "sess-5678"],
  ["x-request-id", "0123456789abcdef0123456789abcdef"], ["x-forwarded-proto", "http"],
  ["x-auth-signature", "t=1763900000,v1=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]];
const ALGS = {
  EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
};
const enc = new TextEncoder();
let keys; // kid → Promise<CryptoKey>

const b64u = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

async function verified(auth, env) {
  const token = auth.slice(7), [h, p, s] = token.split(".");
  const { alg, kid } = JSON.parse(atob(h.replace(/-/g, "+").replace(/_/g, "/")));
  const a = ALGS[alg];
  if (!a) return true; // HS256: not checked (see above)
  keys ??= new Map(JSON.parse(env.JWKS).keys.filter((k) => ALGS[k.alg])
    .map((k) => [k.kid, crypto.subtle.importKey("jwk", k, ALGS[k.alg][0], false, ["verify"])]));
  return crypto.subtle.verify(a[1], await keys.get(kid), b64u(s), enc.encode(`${h}.${p}`));
}

export default {
  async fetch(request, env) {
    const auth = request.headers.get("authorization");
    if (auth && !(await verified(auth, env))) return new Response("bad signature", { status: 401 });
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.delete("host");
    for (const [k, v] of ID) headers.set(k, v);
    const init = { method: request.method, headers, redirect: "manual" };
    if (request.method !== "GET" && request.method !== "HEAD") init.body = await request.arrayBuffer();
    return fetch(env.ORIGIN_URL + url.pathname + url.search, init);
  },
};
