// Shared helpers for the pages: every call goes through the edge with the HttpOnly cookies the
// origin set; an expired access token is refreshed once (rotating the refresh cookie), then retried.

export async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json", ...(options.body ? { "Content-Type": "application/json" } : {}) }, ...options };
  let res = await fetch(path, init);
  if (res.status === 401 && !path.startsWith("/auth/")) {
    const refreshed = await fetch("/auth/refresh", { method: "POST", credentials: "same-origin" });
    if (refreshed.ok) res = await fetch(path, init);
  }
  return res;
}

export async function errorText(res) {
  try {
    const body = await res.json();
    return body.detail || body.title || body.message || body.error || `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

/// Only same-origin paths may be a post-login destination (no open redirect): resolve it the way
/// the browser will (which drops tabs/newlines and treats `\` as `/`) and require our origin.
export function safeNext(value) {
  if (typeof value !== "string" || !value.startsWith("/")) return "/account";
  try {
    const url = new URL(value, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : "/account";
  } catch {
    return "/account";
  }
}

export function text(tag, content, attrs = {}) {
  const el = document.createElement(tag);
  el.textContent = content ?? "";
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

export function toLogin() {
  location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export async function logout(all = false) {
  await api(all ? "/auth/logout-all" : "/auth/logout", { method: "POST" });
  location.href = "/login";
}
