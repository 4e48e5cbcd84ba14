// Shared UI pieces for the signed-in pages (account, sessions, admin): element building, a
// confirmation dialog for destructive actions, a polite status line, tables with empty states,
// a cursor pager, and readable dates and devices. No dependencies; nothing here calls the API.

/// `el("button", { class: "danger", onclick: f }, "Revoke")`: attributes (functions become
/// listeners, `false`/null are skipped) and children (strings become text, never HTML).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/// Asks before a destructive action. Resolves true on confirm, false on cancel or Escape; focus
/// goes back to whatever had it.
export function confirmAction({ title, message, confirm = "Confirm", danger = true }) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const yes = el("button", { type: "submit", class: danger ? "danger" : "", id: "confirm-yes" }, confirm);
    const no = el("button", { type: "button", class: "secondary", id: "confirm-no" }, "Cancel");
    const dialog = el("dialog", { class: "card confirm", id: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-message" },
      el("form", { method: "dialog" },
        el("h2", { id: "confirm-title" }, title),
        el("p", { id: "confirm-message" }, message),
        el("div", { class: "actions" }, no, yes)));
    const done = (v) => {
      dialog.close();
      dialog.remove();
      if (back instanceof HTMLElement && back.isConnected) back.focus();
      resolve(v);
    };
    dialog.querySelector("form").addEventListener("submit", (e) => { e.preventDefault(); done(true); });
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    no.focus(); // the safe choice has focus: Enter on a stray key press does not destroy anything
  });
}

/// One polite live region per page for "done" messages (errors go to each section's alert).
export function notify(message) {
  let box = document.getElementById("status");
  if (!box) {
    box = el("div", { id: "status", role: "status", "aria-live": "polite", class: "toast" });
    document.body.append(box);
  }
  box.textContent = message;
  box.classList.add("shown");
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => box.classList.remove("shown"), 4000);
}

/// Disables the button while `work()` runs (no double submits), then restores it.
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/// Replaces a table body's rows; with none, one full-width row saying so (an empty state).
export function fillRows(tbody, rows, emptyText) {
  tbody.replaceChildren(...rows);
  if (!rows.length) {
    const cols = tbody.closest("table")?.querySelectorAll("thead th").length || 1;
    tbody.append(el("tr", { class: "empty" }, el("td", { colspan: cols }, emptyText)));
  }
}

/// Unix seconds or milliseconds → a local date and time ("—" when absent).
export function when(t) {
  if (!t) return "—";
  return new Date(t > 1e12 ? t : t * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/// "3 minutes ago" style, for last-used columns (falls back to the date after a week).
export function ago(t) {
  if (!t) return "—";
  const ms = t > 1e12 ? t : t * 1000;
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 45) return "just now";
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (s < 3600) return rtf.format(-Math.round(s / 60), "minute");
  if (s < 86400) return rtf.format(-Math.round(s / 3600), "hour");
  if (s < 7 * 86400) return rtf.format(-Math.round(s / 86400), "day");
  return when(t);
}

/// A short device description from a User-Agent ("Chrome on Linux"); the raw string as a title.
export function device(ua) {
  if (!ua) return "Unknown device";
  const browser = [["Edg/", "Edge"], ["OPR/", "Opera"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Chromium/", "Chromium"],
    ["Safari/", "Safari"], ["curl/", "curl"], ["python-requests", "Python script"]].find(([k]) => ua.includes(k))?.[1];
  const os = [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"], ["Windows", "Windows"], ["Mac OS X", "macOS"],
    ["CrOS", "ChromeOS"], ["Linux", "Linux"]].find(([k]) => ua.includes(k))?.[1];
  if (browser && os) return `${browser} on ${os}`;
  return browser || os || ua.slice(0, 40);
}

/// For lists that can be asked again before an answer arrives (a search typed while the tab
/// loads): `const ticket = lastOnly(); … const current = ticket(); … await …; if (!current()) return;` renders the last
/// request only, whatever order the answers come in.
export function lastOnly() {
  let seq = 0;
  return () => {
    const mine = ++seq;
    return () => mine === seq;
  };
}

/// Cursor paging for newest-first (or any cursor) listings: remembers the cursors of the pages
/// behind, so "Previous" works although the API only knows "next".
export class Pager {
  constructor(container, onPage, label) {
    this.stack = [];
    this.current = "";
    this.next = null;
    this.onPage = onPage;
    this.prev = el("button", { type: "button", class: "secondary", "data-page": "prev", onclick: () => this.go(this.stack.pop() ?? "") }, "← Previous");
    this.nextBtn = el("button", { type: "button", class: "secondary", "data-page": "next", onclick: () => { this.stack.push(this.current); this.go(this.next); } }, "Next →");
    this.info = el("span", { class: "muted pager-info" });
    container.replaceChildren(el("nav", { class: "pager", "aria-label": label }, this.prev, this.info, this.nextBtn));
    this.update(0);
  }
  reset() {
    this.stack = [];
    return this.go("");
  }
  go(cursor) {
    this.current = cursor ?? "";
    return this.onPage(this.current);
  }
  /// Called by the page after it loaded: how many rows it shows and the API's next cursor.
  update(count, next = null) {
    this.next = next;
    this.prev.disabled = this.stack.length === 0;
    this.nextBtn.disabled = !next;
    this.info.textContent = count ? `Page ${this.stack.length + 1} · ${count} shown` : "";
  }
}

/// Keyboard-usable tabs (WAI-ARIA tabs pattern): arrows/Home/End move between tabs, the panel
/// follows, and the chosen tab is kept in the address (#users, #audit, …).
export function tabs(list) {
  const all = [...list.querySelectorAll("[role=tab]")];
  const show = (tab, focus) => {
    for (const t of all) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    history.replaceState(null, "", `#${tab.getAttribute("aria-controls")}`);
    tab.dispatchEvent(new CustomEvent("tab-shown", { bubbles: true }));
  };
  for (const t of all) {
    t.addEventListener("click", () => show(t, false));
    t.addEventListener("keydown", (e) => {
      const i = all.indexOf(t);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      show(all[(to + all.length) % all.length], true);
    });
  }
  const fromHash = all.find((t) => `#${t.getAttribute("aria-controls")}` === location.hash);
  show(fromHash ?? all[0], false);
}
