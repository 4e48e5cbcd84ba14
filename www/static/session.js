// The session monitor of every signed-in page (started by api.js). It asks the origin when the
// session ends (GET /auth/session: no token is ever read in JS), refreshes the access token quietly
// while the person is active, warns before the session can no longer be refreshed (countdown and
// "Stay signed in"), and on the end says so and offers a sign-in that returns to this page with the
// form state restored. Tabs coordinate: refreshes run one at a time under a Web Lock, and a tab
// that waited for the lock first checks whether another tab already refreshed, so a rotated refresh
// token is never replayed (that would trip reuse detection and kill the session).

const LOCK = "edge-auth:refresh";
const CHANNEL = "edge-auth:session";
const GENERATION = "edge-auth:refresh-generation"; // localStorage: bumped by every refresh
// localStorage: "1" while this browser has a live session (no secret: a hint for the login page,
// which then tries one silent refresh before asking for a password; static/pages/login.js).
const HINT = "edge-auth:session-hint";
const FORM_PREFIX = "edge-auth:form:"; // sessionStorage: a page's form state, restored once
const TICK_MS = 1000;

let state = null; // the last status, in this tab's clock (ms)
let lastActivity = 0;
let lastRefresh = Date.now();
let inflight = null;
let ended = false;
let checking = null;
let confirmedUntil = 0;
let dialog = null;
let previousFocus = null;
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
let pending = 0;

// ---- status ------------------------------------------------------------------------------------

/// Converts the origin's answer (unix seconds) into this tab's clock, so a wrong or (in tests)
/// fast-forwarded local clock does not move the deadlines.
function apply(body) {
  noteLiveSession();
  const offset = Date.now() - body.now * 1000;
  const local = (s) => (s == null ? null : s * 1000 + offset);
  state = {
    raw: body,
    accessEnd: local(body.access_expires_at),
    until: local(body.refreshable_until),
    absoluteEnd: local(body.session_expires_at),
    extendable: !!body.extendable,
    warnMs: body.warn_before_secs * 1000,
  };
  confirmedUntil = 0;
  document.documentElement.dataset.sessionState = "live";
  render();
}

async function fetchStatus() {
  const res = await fetch("/auth/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

/// Asks the origin again (page load, a tab becoming visible, a deadline reached). A 401 means the
/// access token is gone: a coordinated refresh decides whether the session is still alive.
export function check() {
  if (ended) return Promise.resolve(false);
  checking ??= (async () => {
    try {
      const r = await fetchStatus();
      if (r.status === 200 && r.body) {
        apply(r.body);
        return true;
      }
      if (r.status === 401) return await refreshSession({ after401: true });
      return true; // 429/5xx: keep the last known state, try again at the next trigger
    } catch {
      return true; // offline: nothing to conclude
    } finally {
      checking = null;
    }
  })();
  return checking;
}

// ---- refresh, one tab at a time -----------------------------------------------------------------

function generation() {
  try {
    return Number(localStorage.getItem(GENERATION) || 0);
  } catch {
    return 0;
  }
}

function bumpGeneration() {
  try {
    localStorage.setItem(GENERATION, String(generation() + 1));
  } catch {
    /* storage disabled: the status check below still avoids most needless rotations */
  }
}

function withLock(fn) {
  if (navigator.locks?.request) return navigator.locks.request(LOCK, { mode: "exclusive" }, fn);
  return fn(); // no Web Locks: this tab's own requests are still deduplicated by `inflight`
}

/// Refreshes the session unless another tab did while this one waited; true when the session is
/// alive afterwards. `after401`: the caller's access token was refused, so any live status means
/// someone else already refreshed.
export function refreshSession({ after401 = false } = {}) {
  if (ended) return Promise.resolve(false);
  if (inflight) return inflight;
  const known = state?.raw ?? null;
  const gen = generation();
  inflight = withLock(async () => {
    {
      // Cheap, and the only reliable cross-tab signal: the cookies are shared, so a live status
      // with a newer access token means another tab refreshed while this one waited.
      const r = await fetchStatus().catch(() => null);
      const newer = r?.status === 200 && r.body &&
        (after401 || generation() !== gen || !known ||
         (r.body.access_expires_at ?? 0) > (known.access_expires_at ?? 0) ||
         r.body.idle_expires_at > known.idle_expires_at);
      if (newer) {
        lastRefresh = Date.now();
        apply(r.body);
        return true;
      }
    }
    const res = await fetch("/auth/refresh", { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!res.ok) {
      let reason = "session_ended";
      try {
        reason = (await res.json()).error || reason;
      } catch {
        /* keep the generic reason */
      }
      if (res.status === 401 || res.status === 400) {
        end(reason);
        post({ type: "ended", reason });
        return false;
      }
      return true; // rate limited or the origin is down: the session itself may be fine
    }
    bumpGeneration();
    lastRefresh = Date.now();
    const r = await fetchStatus();
    if (r.status === 200 && r.body) {
      apply(r.body);
      post({ type: "refreshed", status: r.body });
    }
    return true;
  }).finally(() => {
    inflight = null;
  });
  return inflight;
}

function post(msg) {
  try {
    channel?.postMessage(msg);
  } catch {
    /* channel closed */
  }
}

// ---- the clock ---------------------------------------------------------------------------------

function tick() {
  if (ended) return;
  setTimeout(tick, TICK_MS);
  if (!state) return;
  const now = Date.now();
  if (now >= state.until) {
    // Our clock says it is over: confirm once with the origin (another tab may have extended it).
    if (confirmedUntil !== state.until) {
      confirmedUntil = state.until;
      check();
    }
    return;
  }
  const active = lastActivity > lastRefresh && !document.hidden;
  const warnAt = state.until - state.warnMs;
  if (active && !inflight) {
    const lifetime = state.raw.access_expires_at && state.raw.now ? (state.raw.access_expires_at - state.raw.now) * 1000 : 0;
    const margin = Math.min(60_000, Math.max(5_000, lifetime / 5));
    if ((state.accessEnd && now >= state.accessEnd - margin) || (now >= warnAt && state.extendable)) {
      refreshSession();
      return;
    }
  }
  render();
}

function markActive() {
  lastActivity = Date.now();
}

// ---- the dialog ----------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function loginHref() {
  const next = location.pathname + location.search + location.hash;
  return `/login?next=${encodeURIComponent(next)}&session=ended`;
}

function ensureDialog() {
  if (dialog) return dialog;
  const title = el("h2", { id: "session-title" });
  const message = el("p", { id: "session-message" });
  const countdown = el("p", { id: "session-countdown", class: "session-countdown", "aria-hidden": "true" });
  const live = el("p", { id: "session-live", class: "session-visually-hidden", "aria-live": "polite" });
  const extend = el("button", { type: "button", id: "session-extend" }, "Stay signed in");
  const signIn = el("a", { id: "session-signin", class: "session-button", href: loginHref() }, "Sign in again");
  const later = el("button", { type: "button", id: "session-dismiss", class: "secondary" }, "Not now");
  const box = el("div", { role: "alertdialog", "aria-modal": "true", "aria-labelledby": "session-title", "aria-describedby": "session-message", id: "session-dialog", class: "session-dialog" },
    title, message, countdown, live, el("div", { class: "session-actions" }, extend, signIn, later));
  const backdrop = el("div", { class: "session-backdrop", id: "session-backdrop", hidden: "" }, box);
  extend.addEventListener("click", async () => {
    extend.disabled = true;
    markActive();
    await refreshSession();
    extend.disabled = false;
    if (!ended) render();
  });
  signIn.addEventListener("click", () => saveFormState());
  later.addEventListener("click", () => {
    dialog.dismissedUntil = state?.until ?? 0;
    hide();
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !ended) {
      e.preventDefault();
      later.click();
    } else if (e.key === "Tab") {
      // Keep focus inside the dialog while it is open.
      const items = [...box.querySelectorAll("button, a")].filter((x) => !x.hidden && !x.disabled);
      const i = items.indexOf(document.activeElement);
      const next = e.shiftKey ? (i <= 0 ? items.length - 1 : i - 1) : (i + 1) % items.length;
      e.preventDefault();
      items[next]?.focus();
    }
  });
  document.body.append(backdrop);
  dialog = { backdrop, box, title, message, countdown, live, extend, signIn, later, mode: null, dismissedUntil: 0, announced: null };
  return dialog;
}

function show(mode) {
  const d = ensureDialog();
  const wasHidden = d.backdrop.hidden;
  d.mode = mode;
  d.backdrop.dataset.mode = mode;
  d.signIn.href = loginHref();
  if (wasHidden) {
    d.backdrop.hidden = false;
    previousFocus = document.activeElement;
    [d.extend, d.signIn, d.later].find((x) => !x.hidden)?.focus();
  }
}

function hide() {
  if (!dialog || dialog.backdrop.hidden) return;
  dialog.backdrop.hidden = true;
  dialog.mode = null;
  dialog.announced = null;
  if (previousFocus && document.contains(previousFocus)) previousFocus.focus();
  previousFocus = null;
}

function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

/// Spoken every minute and in the last 30 and 10 seconds, not every second.
function announce(d, left) {
  const s = Math.ceil(left / 1000);
  const mark = s > 60 ? `m${Math.ceil(s / 60)}` : s > 30 ? "m1" : s > 10 ? "s30" : "s10";
  if (d.announced === mark) return;
  d.announced = mark;
  d.live.textContent = `Your session ends in ${s > 60 ? `${Math.ceil(s / 60)} minutes` : `${s} seconds`}.`;
}

/// Writes only changes, so assistive technology is not told about the same words every second.
function setText(node, value) {
  if (node.textContent !== value) node.textContent = value;
}

function render() {
  if (ended || !state) return;
  const now = Date.now();
  const left = state.until - now;
  if (left > state.warnMs || left <= 0 || (dialog && dialog.dismissedUntil === state.until)) {
    if (dialog?.mode === "warn") hide();
    return;
  }
  const d = ensureDialog();
  if (state.extendable) {
    setText(d.title, "Are you still there?");
    setText(d.message, "For your security, you will be signed out soon because of inactivity. Choose \u201cStay signed in\u201d to keep working.");
    d.extend.hidden = false;
    d.signIn.hidden = true;
  } else {
    setText(d.title, "Your session ends soon");
    setText(d.message, "This session has reached its maximum length. Sign in again to keep working; what you typed on this page will be kept.");
    d.extend.hidden = true;
    d.signIn.hidden = false;
  }
  d.later.hidden = false;
  setText(d.countdown, `Signing out in ${clock(left)}`);
  announce(d, left);
  show("warn");
}

const REASONS = {
  session_idle_timeout: "You were signed out after a period of inactivity.",
  refresh_token_expired: "Your session reached its maximum length.",
  session_revoked: "This session was signed out, from another tab or device.",
  refresh_token_reused: "This session was signed out to protect your account.",
  account_disabled: "Your account has been disabled.",
  logged_out: "You signed out in another tab.",
};

/// This browser has a live session: a status answered, or a sign-in just succeeded (api.js's
/// `signedIn`, before it leaves the login page, so the hint never depends on the next page's
/// status request finishing first).
export function noteLiveSession() {
  try {
    localStorage.setItem(HINT, "1");
  } catch {
    /* storage off: the login page just asks for the password */
  }
}

function dropHint() {
  try {
    localStorage.removeItem(HINT);
  } catch {
    /* nothing to drop */
  }
}

/// The session is over: keep what the page can restore, say why, offer a sign-in that comes back.
export function end(reason) {
  if (ended) return;
  ended = true;
  dropHint();
  document.documentElement.dataset.sessionState = "ended";
  saveFormState();
  const d = ensureDialog();
  d.title.textContent = "Your session has ended";
  d.message.textContent = `${REASONS[reason] ?? "You have been signed out."} Sign in again to continue where you left off.`;
  d.countdown.textContent = "";
  d.live.textContent = "";
  d.extend.hidden = true;
  d.later.hidden = true;
  d.signIn.hidden = false;
  d.backdrop.hidden = true; // re-opened below so focus moves to the sign-in link
  show("ended");
  d.backdrop.dataset.reason = reason;
}

/// This tab signed out on purpose: tell the others, stop watching.
export function signedOut() {
  ended = true;
  dropHint();
  post({ type: "ended", reason: "logged_out" });
}

// ---- form state ----------------------------------------------------------------------------------

const SKIP_TYPES = new Set(["password", "hidden", "file", "submit", "button", "reset", "image"]);

function fields() {
  return [...document.querySelectorAll("input, textarea, select")].filter((f) =>
    (f.id || f.name) && !SKIP_TYPES.has(f.type) && f.autocomplete !== "one-time-code" &&
    !f.closest("#session-backdrop") && !f.closest("[data-no-restore]"));
}

/// Saves the page's form fields (never passwords or one-time codes) for this path, this tab only.
export function saveFormState() {
  const values = {};
  for (const f of fields()) {
    const key = f.id ? `#${f.id}` : `@${f.form?.id ?? ""}:${f.name}`;
    values[key] = f.type === "checkbox" || f.type === "radio" ? { checked: f.checked } : { value: f.value };
  }
  try {
    if (Object.keys(values).length) sessionStorage.setItem(FORM_PREFIX + location.pathname + location.search, JSON.stringify(values));
  } catch {
    /* storage full or disabled: nothing to restore later */
  }
}

/// Restores the saved state once, after the page's first requests settled (they may fill forms).
async function restoreFormState() {
  const key = FORM_PREFIX + location.pathname + location.search;
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(key) || "null");
    sessionStorage.removeItem(key);
  } catch {
    return;
  }
  if (!saved) return;
  const deadline = Date.now() + 3000;
  await new Promise((r) => setTimeout(r, 50));
  while (pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const f of fields()) {
    const v = saved[f.id ? `#${f.id}` : `@${f.form?.id ?? ""}:${f.name}`];
    if (!v) continue;
    if ("checked" in v) f.checked = v.checked;
    else f.value = v.value;
    f.dispatchEvent(new Event("input", { bubbles: true }));
    f.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.documentElement.dataset.formRestored = "true";
}

/// api.js counts the page's requests so the restore waits for them.
export async function track(promise) {
  pending += 1;
  try {
    return await promise;
  } finally {
    pending -= 1;
  }
}

// ---- start -----------------------------------------------------------------------------------------

let started = false;

export function startSessionMonitor() {
  if (started) return;
  started = true;
  const css = el("link", { rel: "stylesheet", href: "/static/session.css" });
  document.head.append(css);
  for (const type of ["pointerdown", "keydown", "wheel", "touchstart", "input"]) {
    addEventListener(type, (e) => {
      if (!e.target?.closest?.("#session-backdrop")) markActive();
    }, { capture: true, passive: true });
  }
  let lastMove = 0;
  addEventListener("pointermove", () => {
    const now = Date.now();
    if (now - lastMove > 5000) {
      lastMove = now;
      markActive();
    }
  }, { passive: true });
  channel?.addEventListener("message", (e) => {
    const msg = e.data || {};
    if (msg.type === "refreshed" && msg.status) {
      lastRefresh = Date.now();
      apply(msg.status);
    } else if (msg.type === "ended") {
      end(msg.reason);
    }
  });
  // A background tab may have slept through refreshes, expiry or a sign-out: ask again.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") check();
  });
  addEventListener("pageshow", (e) => {
    if (e.persisted) check();
  });
  restoreFormState();
  check();
  setTimeout(tick, TICK_MS);
}
