// Comparison: a JS Worker verifying a Stripe-format webhook with WebCrypto HMAC-SHA256
// (`Stripe-Signature: t=..,v1=..` over `t.body`, tolerance TOLERANCE_SECS), then forwarding.
import { deny, forwardSigned } from "./common.js";

const enc = new TextEncoder();
let key;
function hexToBytes(hex) {
  if (hex.length !== 64 || !/^[0-9a-f]+$/i.test(hex)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
export default {
  async fetch(request, env) {
    key ??= await crypto.subtle.importKey("raw", enc.encode(env.STRIPE_SECRET),
      { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const header = request.headers.get("stripe-signature");
    if (!header) return deny(401, "webhook_signature_missing");
    let t = null; const sigs = [];
    for (const item of header.split(",")) {
      const [k, v] = item.split("=", 2);
      if (k === "t") t = v; else if (k === "v1") { const b = hexToBytes(v); if (b) sigs.push(b); }
    }
    if (!t || !sigs.length) return deny(401, "webhook_signature_malformed");
    if (Math.abs(Date.now() / 1000 - Number(t)) > Number(env.TOLERANCE_SECS || 300)) return deny(401, "webhook_timestamp_out_of_range");
    const body = new Uint8Array(await request.arrayBuffer());
    const msg = new Uint8Array(t.length + 1 + body.length);
    msg.set(enc.encode(t + ".")); msg.set(body, t.length + 1);
    let ok = false;
    for (const s of sigs) if (await crypto.subtle.verify("HMAC", key, s, msg)) { ok = true; break; }
    if (!ok) return deny(401, "webhook_signature_invalid");
    const id = { "x-auth-webhook-provider": "stripe", "x-auth-webhook-timestamp": t };
    return forwardSigned(new Request(request, { body }), env, id);
  },
};
