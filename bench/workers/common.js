// Shared by the JS comparison workers: the same forwarding job our edge does — drop the
// client's identity-namespace and hop-by-hop headers, add identity headers, sign them with an
// HMAC-SHA256 envelope (WebCrypto), forward to the origin. Kept deliberately idiomatic: this
// is what a user would write instead of edge-auth.
const DROP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
  "trailer", "upgrade", "host", "x-request-id", "x-forwarded-for", "x-forwarded-proto",
  "x-forwarded-host", "forwarded"]);
const enc = new TextEncoder();
let envelopeKey;

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
function toHex(buf) {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function forwardSigned(request, env, identity) {
  envelopeKey ??= await crypto.subtle.importKey("raw", hexToBytes(env.ENVELOPE_SECRET),
    { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const url = new URL(request.url);
  const pq = url.pathname + url.search;
  const headers = new Headers();
  for (const [k, v] of request.headers) {
    const l = k.toLowerCase().replace(/_/g, "-");
    if (!l.startsWith("x-auth-") && !DROP.has(l)) headers.append(k, v);
  }
  const ids = Object.entries(identity).sort(([a], [b]) => (a < b ? -1 : 1));
  const t = Math.floor(Date.now() / 1000);
  let canon = `edge-auth-envelope-v1\n${t}\n${request.method}\n${pq}\n`;
  for (const [k, v] of ids) { headers.set(k, v); canon += `${k}:${v}\n`; }
  const mac = await crypto.subtle.sign("HMAC", envelopeKey, enc.encode(canon));
  headers.set("x-auth-signature", `t=${t},v1=${toHex(mac)}`);
  headers.set("x-request-id", crypto.randomUUID());
  headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
  const init = { method: request.method, headers, redirect: "manual" };
  if (request.method !== "GET" && request.method !== "HEAD") init.body = request.body;
  return fetch(env.ORIGIN_URL + pq, init);
}

export function deny(status, reason, extra = {}) {
  return new Response(JSON.stringify({ error: reason }), {
    status, headers: { "content-type": "application/json", ...extra },
  });
}
