// The few steps of the request path that touch many JS objects, done on the JS side in one call
// each (every JS↔wasm crossing costs; a header-by-header copy from Rust took ~5 crossings per
// header). They decide nothing: Rust passes the names to drop and the headers to set.

/** Lower-case names of all request headers, newline-separated (one crossing instead of one per header). */
export function headerNames(headers) {
  let out = "";
  for (const k of headers.keys()) out += out ? "\n" + k : k;
  return out;
}

function lines(s) {
  return s ? s.split("\n") : [];
}

/**
 * Forwards `req` to `url`: copies its headers minus `drop`, sets `setNames[i] = setValues[i]`,
 * streams its body (or sends `body` when given), never follows redirects, aborts after `timeoutMs`.
 */
export function forward(req, url, drop, setNames, setValues, body, timeoutMs) {
  const headers = new Headers(req.headers);
  for (const k of lines(drop)) headers.delete(k);
  const names = lines(setNames), values = setValues.split("\n");
  for (let i = 0; i < names.length; i++) headers.set(names[i], values[i]);
  const method = req.method;
  const init = { method, headers, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) };
  if (method !== "GET" && method !== "HEAD") init.body = body !== undefined ? body : req.body;
  return fetch(url, init);
}

/** The response with extra headers (fetched responses are immutable: rewrap around the same body). */
export function decorate(resp, setNames, setValues) {
  const names = lines(setNames);
  if (!names.length) return resp;
  const out = new Response(resp.body, resp);
  const values = setValues.split("\n");
  for (let i = 0; i < names.length; i++) out.headers.set(names[i], values[i]);
  return out;
}
