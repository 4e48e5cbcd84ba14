// The account page (www/account.html): profile, password change, sessions. The sign-in methods
// (identities.js) and the authenticator/passkeys section (security.js) run beside it.
import { api, errorText, logout, toLogin } from "/static/api.js";
import { withStepUp } from "/static/security.js";
import { busy, el, notify, when } from "/static/ui.js";
import { mountSessions } from "/static/pages/sessions.js";

const $ = (id) => document.getElementById(id);
$("logout").onclick = () => logout(false);

async function profile() {
  const [meRes, accountRes] = await Promise.all([api("/api/me"), api("/api/account")]);
  if (meRes.status === 401 || accountRes.status === 401) return toLogin();
  if (!meRes.ok) return ($("profile-error").textContent = await errorText(meRes));
  const me = await meRes.json();
  $("user").textContent = me.user;
  $("session").textContent = me.session ?? "—";
  for (const [id, list] of [["roles", me.roles], ["permissions", me.permissions]]) {
    $(id).replaceChildren(...list.map((item) => el("span", { class: "tag" }, item)));
    if (!list.length) $(id).append(el("span", { class: "muted" }, "none"));
  }
  $("nav-admin").hidden = !me.permissions.includes("rbac:admin");
  if (!accountRes.ok) return ($("profile-error").textContent = await errorText(accountRes));
  const a = await accountRes.json();
  $("email").textContent = a.email;
  $("created").textContent = when(a.created_at);
  const badge = $("verified");
  badge.textContent = a.email_verified_at ? "Email verified" : "Email not verified";
  badge.className = `badge ${a.email_verified_at ? "ok" : "warn"}`;
  $("password-card").hidden = !a.has_password;
}

const form = $("password-form");
$("password-submit").disabled = false; // off in the HTML until this script handles the form
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = $("password-error");
  error.textContent = "";
  const current_password = $("current-password").value;
  const new_password = $("new-password").value;
  if (new_password !== $("repeat-password").value) {
    error.textContent = "The two new passwords differ.";
    return $("repeat-password").focus();
  }
  const res = await busy($("password-submit"), () => withStepUp(() =>
    api("/api/password/change", { method: "POST", body: JSON.stringify({ current_password, new_password }) })));
  if (!res.ok) return (error.textContent = await errorText(res));
  const { sessions_ended } = await res.json();
  form.reset();
  notify(`Password changed${sessions_ended ? `; ${sessions_ended} other session${sessions_ended === 1 ? "" : "s"} signed out` : ""}.`);
  reloadSessions();
});

const reloadSessions = mountSessions({ rows: $("rows"), error: $("sessions-error"), everywhere: $("logout-all") });
await profile();
