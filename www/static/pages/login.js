// The login page's own script (www/login.html); a file, so the pages' CSP needs no inline script.
// Coming from a page whose session ended (`?session=ended`), it says so; after signing in it goes
// back to `next` (same-origin only), where static/session.js restores the form state it saved.
import { api, errorText, safeNext } from "/static/api.js";
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
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await api("/auth/login", { method: "POST", body: JSON.stringify({ email: form.email.value, password: form.password.value }) });
  const body = res.ok ? await res.json() : null;
  if (body?.mfa_required) secondStep(body);
  else if (res.ok) location.href = safeNext(params.get("next"));
  else document.getElementById("error").textContent = res.status === 429 ? "Too many attempts; wait a moment." : await errorText(res);
});
