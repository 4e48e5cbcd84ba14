// Account security in the pages (issue 19): passkeys (WebAuthn), the log-in's second step, TOTP
// enrolment, recovery codes, and step-up — when the edge (`step_up_required`) or the origin
// (`insufficient_user_authentication`) asks for a more recent authentication, the person is asked
// to confirm who they are (password + code, or a passkey) and the action is retried once.
import { api, errorText, signedIn, text } from "/static/api.js";

// ---- WebAuthn JSON <-> the browser's binary fields --------------------------------------------

function b64uDecode(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
}

function b64uEncode(buf) {
  let bin = "";
  for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function withoutNulls(v) {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, withoutNulls(x)]));
  }
  return v;
}

/// The origin's `{"publicKey": …}` options (base64url binary) → what navigator.credentials takes.
export function creationOptions(o) {
  const pk = withoutNulls(o.publicKey);
  pk.challenge = b64uDecode(pk.challenge);
  pk.user.id = b64uDecode(pk.user.id);
  for (const c of pk.excludeCredentials ?? []) c.id = b64uDecode(c.id);
  return { publicKey: pk };
}

export function requestOptions(o) {
  const pk = withoutNulls(o.publicKey);
  pk.challenge = b64uDecode(pk.challenge);
  for (const c of pk.allowCredentials ?? []) c.id = b64uDecode(c.id);
  return { publicKey: pk };
}

/// A PublicKeyCredential (registration or assertion) as the origin reads it.
export function credentialJSON(c) {
  const r = c.response;
  const response = { clientDataJSON: b64uEncode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64uEncode(r.attestationObject);
  } else {
    response.authenticatorData = b64uEncode(r.authenticatorData);
    response.signature = b64uEncode(r.signature);
    if (r.userHandle) response.userHandle = b64uEncode(r.userHandle);
  }
  return { id: c.id, rawId: b64uEncode(c.rawId), type: c.type, response, extensions: {} };
}

const post = (path, body) => api(path, { method: "POST", body: JSON.stringify(body ?? {}) });

/// Runs one passkey ceremony: `optionsPath` → navigator.credentials.get → `finishPath`.
async function passkeyAssertion(optionsPath, finishPath, extra = {}) {
  const res = await post(optionsPath, extra);
  if (!res.ok) return res;
  const o = await res.json();
  const cred = await navigator.credentials.get(requestOptions(o));
  return post(finishPath, { ...extra, challenge_id: o.challenge_id, credential: credentialJSON(cred) });
}

// ---- step-up ---------------------------------------------------------------------------------

const STEP_UP_ERRORS = new Set(["step_up_required", "insufficient_user_authentication"]);

/// Is this response the edge's or the origin's "authenticate again" (RFC 9470)?
export async function needsStepUp(res) {
  if (res.status !== 401) return false;
  try {
    return STEP_UP_ERRORS.has((await res.clone().json()).error);
  } catch {
    return false;
  }
}

/// Asks the person to confirm who they are; resolves true once the session's authentication is
/// fresh again (a new access cookie), false if they cancel.
export function stepUp() {
  return new Promise(async (resolve) => {
    const [mfa, keys] = await Promise.all([api("/api/mfa"), api("/api/passkeys")]);
    const totp = mfa.ok && (await mfa.json()).totp_enabled;
    const hasPasskey = keys.ok && (await keys.json()).passkeys.length > 0;
    const dialog = document.createElement("dialog");
    dialog.id = "step-up";
    dialog.className = "card";
    const form = document.createElement("form");
    form.method = "dialog";
    form.append(text("h1", "Confirm it is you"), text("p", "This action needs a recent sign-in.", { class: "muted" }));
    form.append(text("label", "Password", { for: "step-up-password" }));
    const pw = Object.assign(document.createElement("input"), { id: "step-up-password", type: "password", autocomplete: "current-password" });
    form.append(pw);
    let code;
    if (totp) {
      form.append(text("label", "Authenticator code or recovery code", { for: "step-up-code" }));
      code = Object.assign(document.createElement("input"), { id: "step-up-code", autocomplete: "one-time-code" });
      form.append(code);
    }
    const ok = text("button", "Confirm", { type: "submit", id: "step-up-confirm" });
    const cancel = text("button", "Cancel", { type: "button", class: "secondary" });
    form.append(ok);
    let viaPasskey;
    if (hasPasskey) {
      viaPasskey = text("button", "Use a passkey", { type: "button", class: "secondary", id: "step-up-passkey" });
      form.append(viaPasskey);
    }
    form.append(cancel);
    const error = text("p", "", { class: "error", role: "alert" });
    form.append(error);
    dialog.append(form);
    document.body.append(dialog);
    const done = (v) => { dialog.close(); dialog.remove(); resolve(v); };
    const finish = async (res) => {
      if (res.ok) return done(true);
      error.textContent = res.status === 429 ? "Too many attempts; wait a moment." : await errorText(res);
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { password: pw.value };
      const c = code?.value.trim();
      if (c) body[/^\d{6}$/.test(c) ? "code" : "recovery_code"] = c;
      finish(await post("/auth/step-up", body));
    });
    viaPasskey?.addEventListener("click", async () => {
      try {
        finish(await passkeyAssertion("/auth/step-up/passkey/options", "/auth/step-up/passkey"));
      } catch (e) {
        error.textContent = `Passkey: ${e.message}`;
      }
    });
    cancel.addEventListener("click", () => done(false));
    dialog.showModal();
    pw.focus();
  });
}

/// `doFetch()`, and when it is refused for an old authentication, step-up then `doFetch()` again.
export async function withStepUp(doFetch) {
  const res = await doFetch();
  if (await needsStepUp(res)) {
    if (await stepUp()) return doFetch();
  }
  return res;
}

// ---- the log-in page -------------------------------------------------------------------------

function enter() {
  signedIn(new URLSearchParams(location.search).get("next"));
}

/// Signs in with a discoverable passkey (no address typed).
export async function passkeyLogin(errorEl) {
  try {
    const res = await passkeyAssertion("/auth/passkey/options", "/auth/passkey/login");
    if (res.ok) enter();
    else errorEl.textContent = await errorText(res);
  } catch (e) {
    errorEl.textContent = `Passkey: ${e.message}`;
  }
}

/// The second step after a correct password (`{"mfa_required": true, "mfa_token", "methods"}`).
export function secondStep(challenge) {
  const form = document.getElementById("mfa-form");
  document.getElementById("form").hidden = true;
  form.hidden = false;
  const error = document.getElementById("mfa-error");
  const code = document.getElementById("mfa-code");
  code.focus();
  const passkey = document.getElementById("mfa-passkey");
  passkey.hidden = !challenge.methods.includes("passkey");
  const done = async (res) => {
    if (res.ok) enter();
    else error.textContent = res.status === 429 ? "Too many attempts; wait a moment." : await errorText(res);
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const c = code.value.trim();
    done(await post("/auth/login/mfa", { mfa_token: challenge.mfa_token, [/^\d{6}$/.test(c) ? "code" : "recovery_code"]: c }));
  });
  passkey.addEventListener("click", async () => {
    try {
      done(await passkeyAssertion("/auth/login/mfa/passkey/options", "/auth/login/mfa/passkey", { mfa_token: challenge.mfa_token }));
    } catch (e) {
      error.textContent = `Passkey: ${e.message}`;
    }
  });
}

export function initLogin() {
  const button = document.getElementById("passkey-login");
  if (!button) return;
  if (!window.PublicKeyCredential) {
    button.hidden = true;
    return;
  }
  button.addEventListener("click", () => passkeyLogin(document.getElementById("error")));
  button.disabled = false; // disabled in the HTML until this handler is attached
}

// ---- the account page ------------------------------------------------------------------------

function showCodes(codes) {
  const box = document.getElementById("recovery-codes");
  box.replaceChildren(
    text("p", "Recovery codes — each works once. Save them now: they are not shown again."),
    ...codes.map((c) => text("code", c, { class: "recovery-code" })),
  );
  box.hidden = false;
}

async function renderTotp() {
  const status = document.getElementById("totp-status");
  const error = document.getElementById("totp-error");
  const res = await api("/api/mfa");
  if (!res.ok) return;
  const s = await res.json();
  document.getElementById("totp-enable").hidden = s.totp_enabled;
  document.getElementById("totp-on").hidden = !s.totp_enabled;
  status.textContent = s.totp_enabled
    ? `On — ${s.recovery_codes_remaining} recovery codes left.`
    : "Off.";
  error.textContent = "";
}

async function renderPasskeys() {
  const list = document.getElementById("passkey-list");
  const res = await api("/api/passkeys");
  if (!res.ok) {
    list.replaceChildren(text("li", res.status === 503 ? "Passkeys are not set up on this site." : await errorText(res), { class: "muted" }));
    document.getElementById("passkey-add").disabled = res.status === 503;
    return;
  }
  const { passkeys } = await res.json();
  list.replaceChildren();
  for (const p of passkeys) {
    const li = text("li", `${p.name} `, { "data-id": p.id });
    li.append(text("span", `added ${new Date(p.created_at * 1000).toLocaleDateString()}`, { class: "muted" }));
    const rm = text("button", "Remove", { class: "secondary passkey-remove", type: "button" });
    rm.addEventListener("click", async () => {
      const r = await withStepUp(() => api(`/api/passkeys/${encodeURIComponent(p.id)}`, { method: "DELETE" }));
      if (!r.ok) document.getElementById("passkey-error").textContent = await errorText(r);
      renderPasskeys();
    });
    li.append(rm);
    list.append(li);
  }
  if (!passkeys.length) list.append(text("li", "No passkeys yet.", { class: "muted" }));
}

export function initAccount() {
  const totpError = document.getElementById("totp-error");
  document.getElementById("totp-start").addEventListener("click", async () => {
    const res = await withStepUp(() => post("/api/mfa/totp/enroll"));
    if (!res.ok) return (totpError.textContent = await errorText(res));
    const e = await res.json();
    const qr = document.getElementById("totp-qr");
    qr.src = `data:image/svg+xml;base64,${btoa(e.qr_svg)}`;
    document.getElementById("totp-secret").textContent = e.secret;
    document.getElementById("totp-enrol").hidden = false;
    document.getElementById("totp-code").focus();
  });
  document.getElementById("totp-enrol").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = document.getElementById("totp-code").value.trim();
    const res = await withStepUp(() => post("/api/mfa/totp/confirm", { code }));
    if (!res.ok) return (totpError.textContent = await errorText(res));
    showCodes((await res.json()).recovery_codes);
    document.getElementById("totp-enrol").hidden = true;
    renderTotp();
  });
  document.getElementById("totp-regenerate").addEventListener("click", async () => {
    const res = await withStepUp(() => post("/api/mfa/recovery-codes"));
    if (!res.ok) return (totpError.textContent = await errorText(res));
    showCodes((await res.json()).recovery_codes);
    renderTotp();
  });
  document.getElementById("totp-disable").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const c = document.getElementById("totp-disable-code").value.trim();
    const res = await withStepUp(() => post("/api/mfa/totp/disable", { [/^\d{6}$/.test(c) ? "code" : "recovery_code"]: c }));
    if (!res.ok) return (totpError.textContent = await errorText(res));
    document.getElementById("recovery-codes").hidden = true;
    renderTotp();
  });
  document.getElementById("passkey-add").addEventListener("click", async () => {
    const error = document.getElementById("passkey-error");
    error.textContent = "";
    try {
      const res = await withStepUp(() => post("/api/passkeys/options"));
      if (!res.ok) return (error.textContent = await errorText(res));
      const o = await res.json();
      const cred = await navigator.credentials.create(creationOptions(o));
      const name = document.getElementById("passkey-name").value.trim() || undefined;
      const done = await withStepUp(() => post("/api/passkeys", { challenge_id: o.challenge_id, name, credential: credentialJSON(cred) }));
      if (!done.ok) error.textContent = await errorText(done);
    } catch (e) {
      error.textContent = `Passkey: ${e.message}`;
    }
    renderPasskeys();
  });
  renderTotp();
  renderPasskeys();
}

// Each page that has the elements gets its part.
if (document.getElementById("security")) initAccount();
if (document.getElementById("passkey-login")) initLogin();
