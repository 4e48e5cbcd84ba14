// The account page's own script (www/account.html); a file, so the pages' CSP needs no inline script.
import { api, logout, text, toLogin } from "/static/api.js";
document.getElementById("logout").onclick = () => logout(false);
document.getElementById("logout-all").onclick = () => logout(true);
const res = await api("/api/me");
if (res.status === 401) toLogin();
const me = await res.json();
document.getElementById("user").textContent = me.user;
document.getElementById("session").textContent = me.session ?? "—";
for (const [id, list] of [["roles", me.roles], ["permissions", me.permissions]]) {
  const cell = document.getElementById(id);
  for (const item of list) cell.append(text("span", item, { class: "tag" }));
  if (!list.length) cell.append(text("span", "none", { class: "muted" }));
}
