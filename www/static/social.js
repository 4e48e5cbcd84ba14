// Social sign-in on the login page: one button per provider the origin has configured
// (GET /auth/oauth/providers); the flow itself is server-side (start → provider → callback).
import { safeNext, signedIn, text } from "/static/api.js";

const box = document.getElementById("social");
const list = document.getElementById("social-providers");
const res = await fetch("/auth/oauth/providers", { credentials: "same-origin", headers: { Accept: "application/json" } });
if (res.ok) {
  const { providers } = await res.json();
  const next = safeNext(new URLSearchParams(location.search).get("next"));
  for (const p of providers) {
    const a = text("a", `Sign in with ${p.name}`, { class: "button social", "data-provider": p.id });
    a.href = `${p.start}?next=${encodeURIComponent(next)}`;
    list.append(a);
  }
  box.hidden = providers.length === 0;
}

// Back from a provider with TOTP on: the origin sent a challenge in the fragment; ask for the code.
const challenge = new URLSearchParams(location.hash.slice(1)).get("mfa_token");
if (challenge) {
  history.replaceState(null, "", location.pathname + location.search);
  const form = document.createElement("form");
  form.id = "social-mfa";
  form.append(
    text("label", "Code from your authenticator app", { for: "social-mfa-code" }),
    text("input", "", { id: "social-mfa-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: "" }),
    text("button", "Continue", { type: "submit" }),
    text("p", "", { class: "error", id: "social-mfa-error", role: "alert" }),
  );
  box.prepend(form);
  box.hidden = false;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const res = await fetch("/auth/login/mfa", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ mfa_token: challenge, code: form.code.value.trim() }),
    });
    if (res.ok) signedIn(new URLSearchParams(location.search).get("next"));
    else document.getElementById("social-mfa-error").textContent = (await res.json().catch(() => ({}))).error ?? `HTTP ${res.status}`;
  });
}
