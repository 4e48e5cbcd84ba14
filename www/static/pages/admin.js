// The admin page (www/admin.html): users, roles and permissions, separation of duty, the audit
// log, webhook events (dead letters, requeue) and key rotation — the /admin API without curl.
// Every call goes through the edge with the admin's cookie; a change the edge or origin wants a
// fresh authentication for opens the step-up dialog (security.js) and is retried once. Errors
// are shown with the API's own message, in the section they belong to.
import { api, errorText, logout, toLogin } from "/static/api.js";
import { withStepUp } from "/static/security.js";
import { busy, confirmAction, el, fillRows, lastOnly, notify, Pager, tabs, when } from "/static/ui.js";

const $ = (id) => document.getElementById(id);
$("logout").onclick = () => logout(false);

/// A read: the parsed body, or null with the API's message in `errorEl` (to the login page on 401).
async function read(path, errorEl) {
  const res = await api(path);
  if (res.status === 401) return toLogin(), null;
  if (!res.ok) {
    errorEl.textContent = await errorText(res);
    return null;
  }
  return res.json(); // an earlier change's refusal stays shown: a reload after it must not hide it
}

/// A change: step-up when asked for, the API's message in `errorEl` on refusal; true when done.
async function change(errorEl, method, path, body) {
  errorEl.textContent = "";
  const init = { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
  const res = await withStepUp(() => api(path, init));
  if (res.ok) return true;
  errorEl.textContent = await errorText(res);
  errorEl.dataset.status = String(res.status);
  return false;
}

const enc = encodeURIComponent;
const options = (names, first) => [first && el("option", { value: "" }, first), ...names.map((n) => el("option", { value: n }, n))];

// ---- roles and permissions (also feed the users tab's "Add role" lists) ----------------------

let roles = [];
let permissions = [];

const loadRolesTicket = lastOnly();

async function loadRoles() {
  const error = $("roles-error");
  const current = loadRolesTicket();
  const [r, p] = await Promise.all([read("/admin/roles", error), read("/admin/permissions", error)]);
  if (!r) return false;
  if (!current()) return true; // a later load renders
  roles = r.roles;
  permissions = (p?.permissions ?? []).map((x) => x.name);
  const names = roles.map((x) => x.name);
  // New option lists keep what the admin already chose (a reload may finish while they fill a form).
  for (const [id, first] of [["role-parent", "(none)"], ["sod-a", "Choose a role"], ["sod-b", "Choose a role"]]) {
    const chosen = $(id).value;
    $(id).replaceChildren(...options(names, first));
    if (names.includes(chosen)) $(id).value = chosen;
  }
  fillRows($("roles"), roles.map((role) => roleRow(role, names)), "No roles yet.");
  return true;
}

function roleRow(role, names) {
  const error = $("roles-error");
  const parent = el("select", { "aria-label": `Parent of ${role.name}`, "data-parent": role.name },
    ...options(names.filter((n) => n !== role.name), "(none)"));
  parent.value = role.parent ?? "";
  parent.addEventListener("change", async () => {
    if (await change(error, "PUT", `/admin/roles/${enc(role.name)}/parent`, { parent: parent.value || null })) {
      notify(`${role.name} now inherits from ${parent.value || "nothing"}.`);
    }
    loadRoles();
  });
  const perms = el("div", { class: "tags" }, role.permissions.map((perm) => el("span", { class: "tag" }, perm,
    el("button", {
      type: "button", class: "tag-remove", "aria-label": `Take ${perm} from ${role.name}`, "data-revoke-permission": perm,
      onclick: async () => {
        const ok = await confirmAction({ title: "Take away a permission?", message: `Every user with the role ${role.name} loses ${perm}.`, confirm: "Take away" });
        if (ok && await change(error, "DELETE", `/admin/roles/${enc(role.name)}/permissions/${enc(perm)}`)) notify(`${perm} taken from ${role.name}.`);
        loadRoles();
      },
    }, "×"))));
  if (!role.permissions.length) perms.append(el("span", { class: "muted" }, "none"));
  const grantable = permissions.filter((p) => !role.permissions.includes(p));
  const pick = el("select", { "aria-label": `Permission to grant ${role.name}`, "data-grant-select": role.name }, ...options(grantable, "Grant permission…"));
  const grant = el("button", { type: "button", class: "secondary small", "data-grant": role.name }, "Grant");
  grant.addEventListener("click", async () => {
    if (!pick.value) return pick.focus();
    if (await busy(grant, () => change(error, "PUT", `/admin/roles/${enc(role.name)}/permissions/${enc(pick.value)}`))) notify(`${pick.value} granted to ${role.name}.`);
    loadRoles();
  });
  const del = el("button", { type: "button", class: "danger small", "data-delete-role": role.name }, "Delete");
  del.addEventListener("click", async () => {
    const ok = await confirmAction({ title: `Delete the role ${role.name}?`, message: "It is taken from every user who has it, and roles inheriting from it lose its permissions.", confirm: "Delete role" });
    if (ok && await change(error, "DELETE", `/admin/roles/${enc(role.name)}`)) notify(`Role ${role.name} deleted.`);
    loadRoles();
  });
  return el("tr", { dataset: { role: role.name } },
    el("th", { scope: "row" }, role.name, role.description ? el("div", { class: "muted small-text" }, role.description) : null),
    el("td", {}, parent),
    el("td", {}, perms),
    el("td", { class: "actions-cell" }, el("div", { class: "inline" }, pick, grant, del)));
}

$("new-role").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("role-name").value.trim();
  const body = { name, parent: $("role-parent").value || null, description: $("role-description").value.trim() };
  if (await change($("roles-error"), "POST", "/admin/roles", body)) {
    e.target.reset();
    notify(`Role ${name} created.`);
  }
  loadRoles();
});

$("new-permission").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("permission-name").value.trim();
  if (await change($("roles-error"), "POST", "/admin/permissions", { name, description: $("permission-description").value.trim() })) {
    e.target.reset();
    notify(`Permission ${name} created.`);
  }
  loadRoles();
});

// ---- users -----------------------------------------------------------------------------------

const userPager = new Pager($("user-pager"), loadUsers, "Pages of users");

const loadUsersTicket = lastOnly();

async function loadUsers(after = "") {
  const q = $("user-q").value.trim();
  const current = loadUsersTicket();
  const data = await read(`/admin/users?${new URLSearchParams({ q, after, limit: "20" })}`, $("users-error"));
  if (!data || !current()) return;
  fillRows($("user-rows"), data.users.map(userRow), q ? `No users match “${q}”.` : "No users yet.");
  userPager.update(data.users.length, data.next_after);
}

const reloadUsers = () => userPager.go(userPager.current);

function userRow(u) {
  const error = $("users-error");
  const tags = el("div", { class: "tags" }, u.roles.map((r) => el("span", { class: "tag" }, r,
    el("button", {
      type: "button", class: "tag-remove", "aria-label": `Remove the role ${r} from ${u.email}`, "data-unassign": r,
      onclick: async () => {
        const ok = await confirmAction({ title: "Remove a role?", message: `${u.email} loses the role ${r} and its permissions; their current tokens are revoked.`, confirm: "Remove role" });
        if (ok && await change(error, "DELETE", `/admin/users/${enc(u.id)}/roles/${enc(r)}`)) notify(`${r} removed from ${u.email}.`);
        reloadUsers();
      },
    }, "×"))));
  if (!u.roles.length) tags.append(el("span", { class: "muted" }, "none"));
  const pick = el("select", { "aria-label": `Role to give ${u.email}`, "data-assign-select": "" },
    ...options(roles.map((r) => r.name).filter((n) => !u.roles.includes(n)), "Add role…"));
  const add = el("button", { type: "button", class: "secondary small", "data-assign": "" }, "Add");
  add.addEventListener("click", async () => {
    if (!pick.value) return pick.focus();
    const role = pick.value;
    if (await busy(add, () => change(error, "PUT", `/admin/users/${enc(u.id)}/roles/${enc(role)}`))) notify(`${u.email} now has the role ${role}.`);
    reloadUsers();
  });
  const toggle = el("button", { type: "button", class: u.disabled ? "small" : "danger small", "data-toggle": u.disabled ? "enable" : "disable" },
    u.disabled ? "Enable" : "Disable");
  toggle.addEventListener("click", async () => {
    if (!u.disabled) {
      const ok = await confirmAction({ title: `Disable ${u.email}?`, message: "They are signed out everywhere at once and cannot sign in until enabled again.", confirm: "Disable account" });
      if (!ok) return;
    }
    const action = u.disabled ? "enable" : "disable";
    if (await busy(toggle, () => change(error, "POST", `/admin/users/${enc(u.id)}/${action}`))) notify(`${u.email} ${action}d.`);
    reloadUsers();
  });
  return el("tr", { dataset: { user: u.id, email: u.email } },
    el("th", { scope: "row" }, el("div", {}, u.email), el("code", { class: "muted small-text" }, u.id)),
    el("td", {}, el("span", { class: `badge ${u.disabled ? "bad" : "ok"}`, "data-status": "" }, u.disabled ? "Disabled" : "Active")),
    el("td", {}, tags),
    el("td", {}, when(u.created_at)),
    el("td", { class: "actions-cell" }, el("div", { class: "inline" }, pick, add, toggle)));
}

$("user-search").addEventListener("submit", (e) => {
  e.preventDefault();
  userPager.reset();
});

// ---- separation of duty ----------------------------------------------------------------------

async function loadSod() {
  const data = await read("/admin/sod", $("sod-error"));
  if (!data) return;
  fillRows($("sod-rows"), data.exclusive_pairs.map(([a, b]) => {
    const remove = el("button", { type: "button", class: "danger small", "data-remove-sod": `${a}/${b}` }, "Remove");
    remove.addEventListener("click", async () => {
      const ok = await confirmAction({ title: "Remove this pair?", message: `Users could then hold both ${a} and ${b}.`, confirm: "Remove pair" });
      if (ok && await change($("sod-error"), "DELETE", `/admin/sod/${enc(a)}/${enc(b)}`)) notify(`${a} and ${b} may now be combined.`);
      loadSod();
    });
    return el("tr", { dataset: { pair: `${a}/${b}` } }, el("td", {}, el("span", { class: "tag" }, a)), el("td", {}, el("span", { class: "tag" }, b)),
      el("td", { class: "actions-cell" }, remove));
  }), "No exclusive pairs: any roles may be combined.");
}

$("new-sod").addEventListener("submit", async (e) => {
  e.preventDefault();
  const pair = [$("sod-a").value, $("sod-b").value];
  if (await change($("sod-error"), "POST", "/admin/sod", { roles: pair })) notify(`${pair[0]} and ${pair[1]} are now exclusive.`);
  loadSod();
});

// ---- audit log -------------------------------------------------------------------------------

const KNOWN_ACTIONS = ["login.success", "login.failure", "user.signup", "user.disable", "user.enable", "user.delete", "role.assign",
  "role.unassign", "role.create", "role.delete", "role.set_parent", "permission.grant", "permission.revoke", "permission.create", "sod.add", "sod.remove",
  "session.revoke", "password.change", "password.reset", "keys.rotate", "webhook.requeue", "mfa.totp.enable", "mfa.totp.disable",
  "passkey.register", "passkey.remove", "identity.link", "identity.unlink", "refresh.reuse_detected"];
$("audit-actions").replaceChildren(...KNOWN_ACTIONS.map((a) => el("option", { value: a })));

const auditPager = new Pager($("audit-pager"), loadAudit, "Pages of the audit log");

const loadAuditTicket = lastOnly();

async function loadAudit(before = "") {
  const params = new URLSearchParams({ action: $("audit-action").value.trim(), limit: $("audit-limit").value, before });
  const current = loadAuditTicket();
  const data = await read(`/admin/audit?${params}`, $("audit-error"));
  if (!data || !current()) return;
  fillRows($("audit"), data.entries.map((e) => {
    const detail = e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : "";
    return el("tr", { dataset: { id: e.id, action: e.action } },
      el("td", {}, when(e.at)),
      el("td", {}, el("span", { class: "tag" }, e.action)),
      el("td", {}, el("code", {}, e.actor ?? "—")),
      el("td", {}, el("code", {}, e.target ?? "—")),
      el("td", { class: "detail" }, detail ? el("code", { title: detail }, detail) : el("span", { class: "muted" }, "—")));
  }), $("audit-action").value ? "No entries for this action." : "The audit log is empty.");
  auditPager.update(data.entries.length, data.next_before);
}

$("audit-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  auditPager.reset();
});

// ---- webhook events (dead letters) ---------------------------------------------------------

const webhookPager = new Pager($("webhook-pager"), loadWebhooks, "Pages of webhook events");

const loadWebhooksTicket = lastOnly();

async function loadWebhooks(before = "") {
  const params = new URLSearchParams({ status: $("webhook-status").value, provider: $("webhook-provider").value, limit: "20", before });
  const current = loadWebhooksTicket();
  const data = await read(`/admin/webhooks?${params}`, $("webhooks-error"));
  if (!data || !current()) return;
  fillRows($("webhook-rows"), data.events.map(webhookRow),
    $("webhook-status").value === "dead" ? "No dead letters: every event was handled." : "No events match.");
  webhookPager.update(data.events.length, data.next_before);
}

function webhookRow(ev) {
  const actions = el("div", { class: "inline" });
  if (ev.status === "dead" || ev.status === "retry") {
    const requeue = el("button", { type: "button", class: "small", "data-requeue": ev.id }, "Requeue");
    requeue.addEventListener("click", async () => {
      if (await busy(requeue, () => change($("webhooks-error"), "POST", `/admin/webhooks/${ev.id}/requeue`))) notify(`Event ${ev.event_id} queued again.`);
      webhookPager.go(webhookPager.current);
    });
    actions.append(requeue);
  }
  const more = el("button", { type: "button", class: "secondary small", "aria-expanded": "false", "data-details": ev.id }, "Attempts");
  actions.append(more);
  const row = el("tr", { dataset: { event: ev.event_id, id: ev.id, status: ev.status } },
    el("td", {}, when(ev.received_at)),
    el("td", {}, ev.provider),
    el("td", {}, el("code", {}, ev.event_id), el("div", { class: "muted small-text" }, ev.event_type)),
    el("td", {}, el("span", { class: `badge ${{ dead: "bad", retry: "warn", done: "ok" }[ev.status] ?? ""}` }, ev.status)),
    el("td", {}, String(ev.attempts)),
    el("td", { class: "detail" }, ev.last_error ? el("code", { title: ev.last_error }, ev.last_error) : el("span", { class: "muted" }, "—")),
    el("td", { class: "actions-cell" }, actions));
  more.addEventListener("click", async () => {
    const open = row.nextElementSibling?.classList.contains("attempts");
    if (open) {
      row.nextElementSibling.remove();
      return more.setAttribute("aria-expanded", "false");
    }
    const d = await read(`/admin/webhooks/${ev.id}`, $("webhooks-error"));
    if (!d) return;
    const list = el("ol", { class: "attempt-log" }, d.attempt_log.map((a) =>
      el("li", {}, `${when(a.started_at)} — ${a.outcome ?? "running"}`, a.error ? el("code", {}, ` ${a.error}`) : null)));
    if (!d.attempt_log.length) list.append(el("li", { class: "muted" }, "Not attempted yet."));
    row.after(el("tr", { class: "attempts" }, el("td", { colspan: 7 }, list)));
    more.setAttribute("aria-expanded", "true");
  });
  return row;
}

$("webhook-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  webhookPager.reset();
});

// ---- signing keys ----------------------------------------------------------------------------

$("rotate-keys").addEventListener("click", async () => {
  const ok = await confirmAction({ title: "Rotate the signing keys?", message: "New tokens are signed with a new key at once. Tokens already issued stay valid until they expire.", confirm: "Rotate keys" });
  if (!ok) return;
  const error = $("keys-error");
  error.textContent = "";
  const res = await busy($("rotate-keys"), () => withStepUp(() => api("/admin/keys/rotate", { method: "POST" })));
  if (!res.ok) return (error.textContent = await errorText(res));
  const { kid, retired } = await res.json();
  $("rotate-result").replaceChildren("New signing key ", el("code", {}, kid), retired?.length ? ` · retired: ${retired.join(", ")}` : "");
  notify("Signing keys rotated.");
});

// ---- start -----------------------------------------------------------------------------------

const loaders = { users: () => userPager.reset(), "roles-panel": loadRoles, sod: loadSod, "audit-panel": () => auditPager.reset(), webhooks: () => webhookPager.reset() };
let first = true; // the roles were just loaded: showing their tab first need not load them again
if (await loadRoles()) {
  $("tabs").addEventListener("tab-shown", (e) => {
    const panel = e.target.getAttribute("aria-controls");
    if (!(first && panel === "roles-panel")) loaders[panel]?.();
    first = false;
  });
  tabs($("tabs"));
} else {
  $("error").textContent = $("roles-error").textContent;
}
