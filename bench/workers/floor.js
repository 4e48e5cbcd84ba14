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
//
// With MACS=1 (the `floormac` worker: the tight bound) it also computes the MACs no Worker doing
// the job can skip, the cheapest way this runtime offers (WebCrypto, keys imported once): an
// HS256 token's signature, a Stripe delivery's signature over `t.body` (plus its tolerance
// check), and the identity envelope over every forward (the canonical text
// bench/workers/common.js signs: method, path and the identity headers, here constants). Still
// no claims, no JSON, no request id: what it skips beyond that, a real edge cannot.
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

async function verified(auth, env, macs) {
  const token = auth.slice(7), [h, p, s] = token.split(".");
  const { alg, kid } = JSON.parse(atob(h.replace(/-/g, "+").replace(/_/g, "/")));
  if (alg === "HS256" && macs) return hs256Verified(kid, `${h}.${p}`, s);
  const a = ALGS[alg];
  if (!a) return true; // HS256 without MACS: not checked (see above)
  keys ??= new Map(JSON.parse(env.JWKS).keys.filter((k) => ALGS[k.alg])
    .map((k) => [k.kid, crypto.subtle.importKey("jwk", k, ALGS[k.alg][0], false, ["verify"])]));
  return crypto.subtle.verify(a[1], await keys.get(kid), b64u(s), enc.encode(`${h}.${p}`));
}

// ---- MACS=1 only
const HMAC = { name: "HMAC", hash: "SHA-256" };
let macKeys; // { hs: kid → key, stripe, envelope }
const fromHex = (h) => Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const toHex = (buf) => { let s = ""; for (const b of new Uint8Array(buf)) s += HEX[b]; return s; };
// The signed identity lines, sorted by name (constants, like the headers themselves).
const SIGNED = ID.filter(([k]) => k.startsWith("x-auth-") && k !== "x-auth-signature").sort(([a], [b]) => (a < b ? -1 : 1))
  .map(([k, v]) => `${k}:${v}\n`).join("");

async function imported(env) {
  const hs = new Map(JSON.parse(env.JWKS).keys.filter((k) => k.kty === "oct")
    .map((k) => [k.kid, crypto.subtle.importKey("raw", b64u(k.k), HMAC, false, ["verify"])]));
  return { hs, stripe: await crypto.subtle.importKey("raw", enc.encode(env.STRIPE_SECRET), HMAC, false, ["verify"]),
    envelope: await crypto.subtle.importKey("raw", fromHex(env.ENVELOPE_SECRET), HMAC, false, ["sign"]) };
}

async function hs256Verified(kid, input, sig) {
  const key = await macKeys.hs.get(kid);
  return !!key && crypto.subtle.verify("HMAC", key, b64u(sig), enc.encode(input));
}

async function stripeVerified(header, body) {
  let t = "", v1 = "";
  for (const part of header.split(",")) {
    if (part.startsWith("t=")) t = part.slice(2);
    else if (part.startsWith("v1=") && !v1) v1 = part.slice(3);
  }
  if (!t || v1.length !== 64 || Math.abs(Date.now() / 1000 - Number(t)) > 3600) return false;
  const msg = new Uint8Array(t.length + 1 + body.byteLength);
  msg.set(enc.encode(t + "."));
  msg.set(new Uint8Array(body), t.length + 1);
  return crypto.subtle.verify("HMAC", macKeys.stripe, fromHex(v1), msg);
}

export default {
  async fetch(request, env) {
    const macs = env.MACS === "1";
    if (macs) macKeys ??= await imported(env);
    const auth = request.headers.get("authorization");
    if (auth && !(await verified(auth, env, macs))) return new Response("bad signature", { status: 401 });
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.delete("host");
    for (const [k, v] of ID) headers.set(k, v);
    const init = { method: request.method, headers, redirect: "manual" };
    if (request.method !== "GET" && request.method !== "HEAD") init.body = await request.arrayBuffer();
    const sig = macs && request.headers.get("stripe-signature");
    if (sig && !(await stripeVerified(sig, init.body))) return new Response("bad signature", { status: 401 });
    if (macs) {
      const t = Math.floor(Date.now() / 1000);
      const canon = `edge-auth-envelope-v1\n${t}\n${request.method}\n${url.pathname}${url.search}\n${SIGNED}`;
      headers.set("x-auth-signature", `t=${t},v1=${toHex(await crypto.subtle.sign("HMAC", macKeys.envelope, enc.encode(canon)))}`);
    }
    return fetch(env.ORIGIN_URL + url.pathname + url.search, init);
  },
};
