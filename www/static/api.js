// Shared helpers for the pages: every call goes through the edge with the HttpOnly cookies the
// origin set; an expired access token is refreshed once (rotating the refresh cookie, one tab at a
// time: static/session.js), then retried. On signed-in pages this also starts the session monitor
// (expiry warning, "Stay signed in", return to the page after signing in again).
import { noteLiveSession, refreshSession, saveFormState, signedOut, startSessionMonitor, track } from "/static/session.js";

// Pages anyone may see: no session to watch there.
const PUBLIC_PAGES = new Set(["/login", "/signup"]);

export async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json", ...(options.body ? { "Content-Type": "application/json" } : {}) }, ...options };
  return track((async () => {
    let res = await fetch(path, init);
    // A step-up challenge (RFC 9470: the edge's `step_up_required`, the origin's
    // `insufficient_user_authentication`) is not an expired token: refreshing would only rotate
    // the refresh token for nothing; security.js asks for a fresh sign-in instead.
    const stepUp = (res.headers.get("www-authenticate") || "").includes("insufficient_user_authentication");
    if (res.status === 401 && !stepUp && !path.startsWith("/auth/")) {
      if (await refreshSession({ after401: true })) res = await fetch(path, init);
    }
    return res;
  })());
}

export async function errorText(res) {
  try {
    const body = await res.json();
    return body.detail || body.title || body.message || body.error || `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

/// A sign-in succeeded (password, second step, passkey, or a silent resume): note the live session
/// for the login page's resume, then go to `next`, same-origin only. `replace` leaves no history
/// entry (the silent resume: Back must not land on the login page again).
export function signedIn(next, { replace = false } = {}) {
  noteLiveSession();
  const to = safeNext(next);
  if (replace) location.replace(to);
  else location.href = to;
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

/// To the login page, coming back here afterwards with what was typed on this page.
export function toLogin() {
  saveFormState();
  location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export async function logout(all = false) {
  await api(all ? "/auth/logout-all" : "/auth/logout", { method: "POST" });
  signedOut(); // the other tabs show "signed out" instead of failing on their next request
  location.href = "/login";
}

if (!PUBLIC_PAGES.has(location.pathname) && document.documentElement.dataset.session !== "off") startSessionMonitor();
