// Social sign-in on the login page: one button per provider the origin has configured
// (GET /auth/oauth/providers); the flow itself is server-side (start → provider → callback).
import { safeNext, text } from "/static/api.js";

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
