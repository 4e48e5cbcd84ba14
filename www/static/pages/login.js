// The login page's own script (www/login.html); a file, so the pages' CSP needs no inline script.
// Coming from a page whose session ended (`?session=ended`), it says so; after signing in it goes
// back to `next` (same-origin only), where static/session.js restores the form state it saved.
import { api, errorText, signedIn } from "/static/api.js";
import { secondStep } from "/static/security.js";
const form = document.getElementById("form");
const params = new URLSearchParams(location.search);
if (params.get("session") === "ended") {
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = "/static/session.css";
  document.head.append(css);
  const notice = document.createElement("p");
  notice.id = "session-notice";
  notice.className = "session-notice";
  notice.setAttribute("role", "status");
  notice.textContent = "Your session ended. Sign in to continue where you left off.";
  form.querySelector("h1").after(notice);
}
// The edge sends a page request here when its access cookie has expired, although the session
// itself may still be refreshable (a tab left closed past the token's few minutes). Try that once,
// under the lock the signed-in pages refresh under (static/session.js), and go back if it works.
// Only when a page of this browser last saw a live session (session.js's hint), not after it was
// seen to end, and at most once in 30 s (no redirect loop).
async function resumeSession() {
  const next = params.get("next");
  if (!next || params.get("session") === "ended" || localStorage.getItem("edge-auth:session-hint") !== "1") return;
  const KEY = "edge-auth:silent-refresh";
  if (Date.now() - Number(sessionStorage.getItem(KEY) || 0) < 30_000) return;
  sessionStorage.setItem(KEY, String(Date.now()));
  const refresh = () => fetch("/auth/refresh", { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } });
  const res = navigator.locks?.request
    ? await navigator.locks.request("edge-auth:refresh", { mode: "exclusive" }, refresh)
    : await refresh();
  if (res.ok) signedIn(next, { replace: true });
  else localStorage.removeItem("edge-auth:session-hint");
}
resumeSession().catch(() => {});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await api("/auth/login", { method: "POST", body: JSON.stringify({ email: form.email.value, password: form.password.value }) });
  const body = res.ok ? await res.json() : null;
  if (body?.mfa_required) secondStep(body);
  else if (res.ok) signedIn(params.get("next"));
  else document.getElementById("error").textContent = res.status === 429 ? "Too many attempts; wait a moment." : await errorText(res);
});
// The form is usable once this script handles it: a click before would submit it natively.
form.querySelector("button[type=submit]").disabled = false;
