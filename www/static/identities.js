// The account page's sign-in methods: linked provider identities with unlink buttons, and a
// link button for each configured provider not linked yet. Linking needs a recent sign-in (the
// origin answers insufficient_user_authentication otherwise); unlinking the last way to sign in
// is refused (409 last_login_method).
import { api, errorText, text } from "/static/api.js";

const list = document.getElementById("identities-list");
const actions = document.getElementById("identities-link");
const error = document.getElementById("identities-error");

async function show() {
  const [mine, offered] = await Promise.all([api("/api/identities"), fetch("/auth/oauth/providers", { credentials: "same-origin" })]);
  if (!mine.ok) return;
  const { password, identities } = await mine.json();
  const { providers } = offered.ok ? await offered.json() : { providers: [] };
  const names = Object.fromEntries(providers.map((p) => [p.id, p.name]));
  list.replaceChildren();
  actions.replaceChildren();
  if (password) list.append(text("li", "Password", { "data-method": "password" }));
  for (const id of identities) {
    const li = text("li", `${names[id.provider] ?? id.provider}${id.email ? ` (${id.email})` : ""} `, { "data-provider": id.provider });
    const b = text("button", "Unlink", { class: "secondary", "data-unlink": id.provider });
    b.onclick = () => unlink(id.provider);
    li.append(b);
    list.append(li);
  }
  for (const p of providers) {
    if (identities.some((i) => i.provider === p.id)) continue;
    const b = text("button", `Link ${p.name}`, { "data-link": p.id });
    b.onclick = () => link(p.id);
    actions.append(b);
  }
}

async function link(provider) {
  error.textContent = "";
  const res = await api(`/api/identities/${provider}/link`, { method: "POST", body: JSON.stringify({ next: "/account" }) });
  if (res.ok) {
    location.href = (await res.json()).location;
    return;
  }
  const body = await res.clone().json().catch(() => ({}));
  error.textContent = body.error === "insufficient_user_authentication"
    ? "Linking needs a recent sign-in: log out and sign in again, then link."
    : await errorText(res);
}

async function unlink(provider) {
  error.textContent = "";
  const res = await api(`/api/identities/${provider}`, { method: "DELETE" });
  if (res.ok) return show();
  const body = await res.clone().json().catch(() => ({}));
  error.textContent = body.error === "last_login_method"
    ? "This is your last way to sign in: link another provider or set a password first."
    : await errorText(res);
  error.dataset.reason = body.error ?? "";
}

await show();
