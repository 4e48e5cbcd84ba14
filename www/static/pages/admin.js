// The admin page's own script (www/admin.html); a file, so the pages' CSP needs no inline script.
import { api, errorText, logout, text, toLogin } from "/static/api.js";
document.getElementById("logout").onclick = () => logout(false);
const roles = await api("/admin/roles");
if (roles.status === 401) toLogin();
if (!roles.ok) document.getElementById("error").textContent = await errorText(roles);
else for (const r of (await roles.json()).roles ?? []) {
  const tr = document.createElement("tr");
  tr.append(text("td", r.name), text("td", r.parent ?? "—"), text("td", (r.permissions ?? []).join(", ")));
  document.getElementById("roles").append(tr);
}
const audit = await api("/admin/audit?limit=50");
if (audit.ok) for (const e of (await audit.json()).entries ?? []) {
  const tr = document.createElement("tr");
  tr.append(text("td", new Date(e.at > 1e12 ? e.at : e.at * 1000).toLocaleString()), text("td", e.action), text("td", e.actor ?? "—"), text("td", e.target ?? "—"));
  document.getElementById("audit").append(tr);
}
