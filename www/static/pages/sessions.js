// Where the user is signed in: one row per live session (device, IP, started, last used) with
// "Sign out" for the others, and "Sign out everywhere". Used by the sessions page and by the
// account page's Sessions section (mountSessions, which returns its reload); each revocation is confirmed first.
import { api, errorText, logout, toLogin } from "/static/api.js";
import { ago, busy, confirmAction, device, el, fillRows, notify, when } from "/static/ui.js";

export function mountSessions({ rows, error, everywhere }) {
  async function revoke(s, button) {
    const ok = await confirmAction({
      title: "Sign out this device?",
      message: `${device(s.user_agent)} (${s.ip || "unknown IP"}) will be signed out and must sign in again.`,
      confirm: "Sign out device",
    });
    if (!ok) return;
    const r = await busy(button, () => api(`/api/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" }));
    if (!r.ok) return (error.textContent = await errorText(r));
    notify(`Signed out ${device(s.user_agent)}.`);
    load();
  }

  async function load() {
    error.textContent = "";
    const res = await api("/api/sessions");
    if (res.status === 401) return toLogin();
    if (!res.ok) return (error.textContent = await errorText(res));
    const { sessions } = await res.json();
    sessions.sort((a, b) => (b.current - a.current) || (b.last_used_at - a.last_used_at));
    fillRows(rows, sessions.map((s) => {
      const name = el("span", { title: s.user_agent || "" }, device(s.user_agent));
      const action = s.current
        ? el("span", { class: "badge ok" }, "This device")
        : el("button", { type: "button", class: "secondary small", "data-revoke": s.id, "aria-label": `Sign out ${device(s.user_agent)}, ${s.ip}` }, "Sign out");
      if (!s.current) action.addEventListener("click", () => revoke(s, action));
      return el("tr", { dataset: { session: s.id, current: s.current ? "yes" : "no" } },
        el("td", {}, name, s.current ? el("span", { class: "muted" }, " (this one)") : null),
        el("td", {}, el("code", {}, s.ip || "—")),
        el("td", {}, when(s.created_at)),
        el("td", { title: when(s.last_used_at) }, ago(s.last_used_at)),
        el("td", { class: "actions-cell" }, action));
    }), "No active sessions.");
  }

  everywhere?.addEventListener("click", async () => {
    const ok = await confirmAction({
      title: "Sign out everywhere?",
      message: "Every session ends, this one included. You will need to sign in again on each device.",
      confirm: "Sign out everywhere",
    });
    if (ok) logout(true);
  });
  load();
  return load;
}

if (document.body.dataset.page === "sessions") {
  document.getElementById("logout").onclick = () => logout(false);
  mountSessions({ rows: document.getElementById("rows"), error: document.getElementById("error"), everywhere: document.getElementById("logout-all") });
}
