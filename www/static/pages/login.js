// The login page's own script (www/login.html); a file, so the pages' CSP needs no inline script.
import { api, errorText, safeNext } from "/static/api.js";
import { secondStep } from "/static/security.js";
const form = document.getElementById("form");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await api("/auth/login", { method: "POST", body: JSON.stringify({ email: form.email.value, password: form.password.value }) });
  const body = res.ok ? await res.json() : null;
  if (body?.mfa_required) secondStep(body);
  else if (res.ok) location.href = safeNext(new URLSearchParams(location.search).get("next"));
  else document.getElementById("error").textContent = res.status === 429 ? "Too many attempts; wait a moment." : await errorText(res);
});
