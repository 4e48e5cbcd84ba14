// The sessions page's own script (www/sessions.html); a file, so the pages' CSP needs no inline script.
import { api, errorText, logout, text, toLogin } from "/static/api.js";
document.getElementById("logout").onclick = () => logout(false);
const when = (ms) => (ms ? new Date(ms > 1e12 ? ms : ms * 1000).toLocaleString() : "—");
async function load() {
  const res = await api("/api/sessions");
  if (res.status === 401) return toLogin();
  const body = await res.json();
  const rows = document.getElementById("rows");
  rows.replaceChildren();
  for (const s of body.sessions ?? body) {
    const tr = document.createElement("tr");
    tr.dataset.session = s.id;
    tr.append(text("td", (s.user_agent || "unknown device") + (s.current ? " (this one)" : "")), text("td", s.ip ?? "—"),
              text("td", when(s.created_at)), text("td", when(s.last_used_at)));
    const td = document.createElement("td");
    if (!s.current) {
      const b = text("button", "Revoke", { class: "secondary" });
      b.onclick = async () => {
        const r = await api(`/api/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
        if (r.ok) load(); else document.getElementById("error").textContent = await errorText(r);
      };
      td.append(b);
    }
    tr.append(td);
    rows.append(tr);
  }
}
load();
