//! Passkeys (WebAuthn, via webauthn-rs): registration on a signed-in account, usernameless
//! sign-in with a discoverable credential, a passkey as the second step of a password log-in,
//! step-up, and listing / removing them.
//!
//! * Every ceremony is two requests. The first stores the server side (webauthn-rs's state) in
//!   `webauthn_challenges` under the SHA-256 of a random id handed to the client; the second
//!   spends it before checking anything (single use, [`CHALLENGE_TTL_SECS`]), bound to its kind,
//!   its user and — for a second factor or a step-up — to the MFA challenge or the session.
//! * User verification (PIN or biometric on the authenticator) is required in every ceremony, so
//!   a passkey is two factors on its own: `amr = ["hwk" | "swk", "mfa"]` — `swk` when the
//!   credential is backup-eligible (a synced passkey, its key leaves the device), else `hwk`.
//! * The authenticator holds a random user handle (`webauthn_users`), not the user id or address.
//! * Adding or removing a passkey needs an authentication within `STEP_UP_MAX_AGE_SECS`.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use super::ctx::Ctx;
use super::error::{DomainError, DomainResult, What};
use super::ids::{b64url, new_id, new_secret_token, random_bytes, sha256_hex};
use super::sessions::{self, Authentication, Issued};
use super::users::{self, User};
use super::work::Work;
use super::Core;
use crate::config::PasskeyConfig;

/// How long the second request of a ceremony may wait for the first.
pub const CHALLENGE_TTL_SECS: i64 = 180;
/// Passkeys one account may hold.
pub const MAX_PASSKEYS: i64 = 20;
const MAX_NAME_CHARS: usize = 64;
const MAX_ID_LEN: usize = 128;

/// The relying party from its configuration (built once at start).
pub fn relying_party(c: &PasskeyConfig) -> Result<Webauthn, String> {
    let origins: Vec<Url> = c
        .origins
        .iter()
        .map(|o| Url::parse(o).map_err(|e| format!("WEBAUTHN_ORIGINS: {o:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let first = origins.first().ok_or("WEBAUTHN_ORIGINS: names no origin")?;
    let mut b = WebauthnBuilder::new(&c.rp_id, first)
        .map_err(|e| format!("WEBAUTHN_RP_ID / WEBAUTHN_ORIGINS: {e}"))?
        .rp_name(&c.rp_name)
        .timeout(std::time::Duration::from_secs(CHALLENGE_TTL_SECS as u64));
    for o in &origins[1..] {
        b = b.append_allowed_origin(o);
    }
    b.build()
        .map_err(|e| format!("WEBAUTHN_RP_ID / WEBAUTHN_ORIGINS: {e}"))
}

fn rp(core: &Core) -> DomainResult<&Webauthn> {
    core.webauthn
        .as_ref()
        .ok_or(DomainError::PasskeysNotConfigured)
}

/// The first half of a ceremony: what the browser passes to `navigator.credentials`
/// (`{"publicKey": …}`, binary fields base64url) and the id of the server side.
#[derive(Debug, Serialize)]
pub struct Ceremony {
    pub challenge_id: String,
    #[serde(flatten)]
    pub options: Value,
}

/// A passkey as the account page lists it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Register,
    Login,
    SecondFactor,
    StepUp,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Register => "register",
            Kind::Login => "login",
            Kind::SecondFactor => "second_factor",
            Kind::StepUp => "step_up",
        }
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> DomainError {
    DomainError::internal(format!("passkeys: {what}: {e}"))
}

async fn store_challenge(
    core: &Core,
    kind: Kind,
    user_id: Option<&str>,
    bound_to: Option<&str>,
    state: &impl Serialize,
) -> DomainResult<String> {
    let id = new_secret_token();
    let now = core.clock.now_ms();
    let state = serde_json::to_string(state).map_err(|e| internal("state", e))?;
    sqlx::query(
        "INSERT INTO webauthn_challenges (id_hash, kind, user_id, bound_to, state, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(sha256_hex(id.as_bytes()))
    .bind(kind.as_str())
    .bind(user_id)
    .bind(bound_to)
    .bind(state)
    .bind(now)
    .bind(now + CHALLENGE_TTL_SECS * 1000)
    .execute(&core.db.pool)
    .await?;
    Ok(id)
}

/// Spends the challenge (committed before the answer is checked: one try per challenge) and
/// returns its user, binding and state. Unknown, used, expired, or of another kind → refused.
async fn take_challenge(
    core: &Core,
    id: &str,
    kind: Kind,
) -> DomainResult<(Option<String>, Option<String>, String)> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(DomainError::PasskeyChallengeInvalid);
    }
    let now = core.clock.now_ms();
    let row = sqlx::query(
        "UPDATE webauthn_challenges SET used_at = $1 \
         WHERE id_hash = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id, bound_to, state",
    )
    .bind(now)
    .bind(sha256_hex(id.as_bytes()))
    .bind(kind.as_str())
    .fetch_optional(&core.db.pool)
    .await?
    .ok_or(DomainError::PasskeyChallengeInvalid)?;
    Ok((
        row.try_get("user_id")?,
        row.try_get("bound_to")?,
        row.try_get("state")?,
    ))
}

fn parse_state<T: serde::de::DeserializeOwned>(s: &str) -> DomainResult<T> {
    serde_json::from_str(s).map_err(|e| internal("stored ceremony state", e))
}

struct Stored {
    id: String,
    passkey: Passkey,
}

async fn user_passkeys(core: &Core, user_id: &str) -> DomainResult<Vec<Stored>> {
    let rows = sqlx::query(
        "SELECT id, credential FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(&core.db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Stored {
                id: r.try_get("id")?,
                passkey: parse_state(&r.try_get::<String, _>("credential")?)?,
            })
        })
        .collect()
}

pub async fn list(core: &Core, user_id: &str) -> DomainResult<Vec<PasskeyInfo>> {
    let rows = sqlx::query(
        "SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(&core.db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PasskeyInfo {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get::<i64, _>("created_at")? / 1000,
                last_used_at: r
                    .try_get::<Option<i64>, _>("last_used_at")?
                    .map(|t| t / 1000),
            })
        })
        .collect()
}

/// The account's WebAuthn user handle, created on first use (128 random bits as a UUID).
async fn handle_of(core: &Core, user_id: &str) -> DomainResult<Uuid> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT handle FROM webauthn_users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&core.db.pool)
            .await?;
    if let Some(h) = found {
        return Uuid::parse_str(&h).map_err(|e| internal("stored user handle", e));
    }
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let handle = Uuid::from_bytes(b);
    // Two registrations starting at once: the first handle wins, both use it.
    sqlx::query(
        "INSERT INTO webauthn_users (user_id, handle, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(handle.to_string())
    .bind(core.clock.now_ms())
    .execute(&core.db.pool)
    .await?;
    let h: String = sqlx::query_scalar("SELECT handle FROM webauthn_users WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&core.db.pool)
        .await?;
    Uuid::parse_str(&h).map_err(|e| internal("stored user handle", e))
}

fn ceremony(challenge_id: String, options: &impl Serialize) -> DomainResult<Ceremony> {
    let mut options = serde_json::to_value(options).map_err(|e| internal("options", e))?;
    // Modal, not conditional mediation: the pages call it from a button.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    Ok(Ceremony {
        challenge_id,
        options,
    })
}

fn check_name(name: Option<&str>) -> DomainResult<String> {
    let name = name.map(str::trim).unwrap_or("");
    let name = if name.is_empty() { "Passkey" } else { name };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::InvalidPasskeyName);
    }
    Ok(name.to_owned())
}

/// Starts adding a passkey to the signed-in user's account (an authentication within
/// `STEP_UP_MAX_AGE_SECS`). The credential must be discoverable (resident), so it can sign in
/// without an address; the account's other passkeys are excluded.
pub async fn register_start(core: &Core, ctx: &Ctx, user_id: &str) -> DomainResult<Ceremony> {
    let rp = rp(core)?;
    sessions::require_fresh(core, ctx, core.config.step_up_max_age_secs).await?;
    let user = live_user(core, user_id).await?;
    let existing = user_passkeys(core, user_id).await?;
    if existing.len() as i64 >= MAX_PASSKEYS {
        return Err(DomainError::PasskeyLimitReached);
    }
    let handle = handle_of(core, user_id).await?;
    let exclude = existing
        .iter()
        .map(|s| s.passkey.cred_id().clone())
        .collect::<Vec<_>>();
    let (ccr, state) = rp
        .start_passkey_registration(handle, &user.email, &user.email, Some(exclude))
        .map_err(|e| internal("start registration", e))?;
    let id = store_challenge(core, Kind::Register, Some(user_id), None, &state).await?;
    let mut c = ceremony(id, &ccr)?;
    // webauthn-rs asks for a non-resident key; usernameless sign-in needs a discoverable one.
    if let Some(sel) = c
        .options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        sel.insert("residentKey".into(), json!("required"));
        sel.insert("requireResidentKey".into(), json!(true));
    }
    Ok(c)
}

/// Finishes adding a passkey: the authenticator's answer to [`register_start`]'s challenge.
pub async fn register_finish(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
    challenge_id: &str,
    name: Option<&str>,
    credential: &RegisterPublicKeyCredential,
) -> DomainResult<PasskeyInfo> {
    let rp = rp(core)?;
    sessions::require_fresh(core, ctx, core.config.step_up_max_age_secs).await?;
    let name = check_name(name)?;
    let (owner, _, state) = take_challenge(core, challenge_id, Kind::Register).await?;
    if owner.as_deref() != Some(user_id) {
        return Err(DomainError::PasskeyChallengeInvalid);
    }
    let state: PasskeyRegistration = parse_state(&state)?;
    let passkey = rp
        .finish_passkey_registration(credential, &state)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            DomainError::PasskeyInvalid
        })?;
    let cred_id = b64url(&passkey.cred_id()[..]);
    let stored = serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?;
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(w.conn())
        .await?;
    if n >= MAX_PASSKEYS {
        return Err(DomainError::PasskeyLimitReached);
    }
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM passkeys WHERE credential_id = $1")
            .bind(&cred_id)
            .fetch_optional(w.conn())
            .await?;
    if taken.is_some() {
        return Err(DomainError::AlreadyExists(What::Passkey));
    }
    let id = new_id("pk");
    sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(&cred_id)
    .bind(&name)
    .bind(stored)
    .bind(now)
    .execute(w.conn())
    .await?;
    w.audit(
        "passkey.register",
        Some(user_id),
        json!({ "passkey": id, "name": name }),
    )
    .await?;
    w.commit().await?;
    Ok(PasskeyInfo {
        id,
        name,
        created_at: now / 1000,
        last_used_at: None,
    })
}

/// Removes one of the signed-in user's passkeys (an authentication within
/// `STEP_UP_MAX_AGE_SECS`). Sessions it started keep running until they end or are revoked.
pub async fn remove(core: &Core, ctx: &Ctx, user_id: &str, passkey_id: &str) -> DomainResult<()> {
    sessions::require_fresh(core, ctx, core.config.step_up_max_age_secs).await?;
    let mut w = Work::begin(core, ctx).await?;
    // Never the last way in (a social-only account whose one passkey this is). Counted before
    // the delete, in the same transaction.
    let owned: Option<String> =
        sqlx::query_scalar("SELECT id FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(passkey_id)
            .bind(user_id)
            .fetch_optional(w.conn())
            .await?;
    if owned.is_some() && super::identities::login_methods(&mut w, user_id).await? <= 1 {
        return Err(DomainError::LastLoginMethod);
    }
    let n = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(passkey_id)
        .bind(user_id)
        .execute(w.conn())
        .await?
        .rows_affected();
    if n != 1 {
        return Err(DomainError::NotFound(What::Passkey));
    }
    w.audit(
        "passkey.remove",
        Some(user_id),
        json!({ "passkey": passkey_id }),
    )
    .await?;
    w.commit().await
}

async fn live_user(core: &Core, user_id: &str) -> DomainResult<User> {
    let user = users::by_id(core, user_id)
        .await?
        .ok_or(DomainError::NotFound(What::User))?;
    if user.disabled {
        return Err(DomainError::AccountDisabled);
    }
    Ok(user)
}

/// `hwk` for a device-bound credential, `swk` for a synced (backup-eligible) one.
fn method(backup_eligible: bool) -> &'static str {
    if backup_eligible {
        "swk"
    } else {
        "hwk"
    }
}

/// Records a verified use: the signature counter and flags webauthn-rs tracks, the time.
async fn record_use(
    w: &mut Work<'_>,
    stored: &mut Stored,
    res: &webauthn_rs::prelude::AuthenticationResult,
) -> DomainResult<()> {
    let now = w.now;
    stored.passkey.update_credential(res);
    let json = serde_json::to_string(&stored.passkey).map_err(|e| internal("passkey", e))?;
    sqlx::query("UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3")
        .bind(json)
        .bind(now)
        .bind(&stored.id)
        .execute(w.conn())
        .await?;
    Ok(())
}

/// Finds the stored passkey the authenticator used.
fn used<'a>(
    keys: &'a mut [Stored],
    res: &webauthn_rs::prelude::AuthenticationResult,
) -> DomainResult<&'a mut Stored> {
    keys.iter_mut()
        .find(|k| k.passkey.cred_id() == res.cred_id())
        .ok_or(DomainError::PasskeyInvalid)
}

/// Starts a usernameless sign-in: any discoverable passkey of this site may answer.
pub async fn login_start(core: &Core) -> DomainResult<Ceremony> {
    let rp = rp(core)?;
    let (rcr, state) = rp
        .start_discoverable_authentication()
        .map_err(|e| internal("start authentication", e))?;
    let id = store_challenge(core, Kind::Login, None, None, &state).await?;
    ceremony(id, &rcr)
}

/// Finishes a usernameless sign-in: the user handle names the account, its passkey must have
/// signed the challenge with user verification. Starts a session with `amr = [hwk|swk, mfa]`.
pub async fn login_finish(
    core: &Core,
    ctx: &Ctx,
    challenge_id: &str,
    credential: &PublicKeyCredential,
) -> DomainResult<Issued> {
    let rp = rp(core)?;
    let (_, _, state) = take_challenge(core, challenge_id, Kind::Login).await?;
    let state: DiscoverableAuthentication = parse_state(&state)?;
    let (handle, _) = rp
        .identify_discoverable_authentication(credential)
        .map_err(|_| DomainError::PasskeyInvalid)?;
    let user_id: String =
        sqlx::query_scalar("SELECT user_id FROM webauthn_users WHERE handle = $1")
            .bind(handle.to_string())
            .fetch_optional(&core.db.pool)
            .await?
            .ok_or(DomainError::PasskeyInvalid)?;
    let user = live_user(core, &user_id).await?;
    let mut keys = user_passkeys(core, &user_id).await?;
    let creds: Vec<DiscoverableKey> = keys.iter().map(|k| (&k.passkey).into()).collect();
    let res = rp
        .finish_discoverable_authentication(credential, state, &creds)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey sign-in refused");
            DomainError::PasskeyInvalid
        })?;
    if !res.user_verified() {
        return Err(DomainError::PasskeyInvalid);
    }
    let authn = Authentication {
        amr: vec![method(res.backup_eligible()).into(), "mfa".into()],
    };
    let actor = ctx.acting(&user_id);
    let mut w = Work::begin(core, &actor).await?;
    let stored = used(&mut keys, &res)?;
    record_use(&mut w, stored, &res).await?;
    w.audit(
        "login.passkey",
        Some(&user_id),
        json!({ "passkey": stored.id }),
    )
    .await?;
    let issued = sessions::create_in(&mut w, &user, &authn).await?;
    w.commit().await?;
    Ok(issued)
}

/// A passkey ceremony limited to `user_id`'s own passkeys.
async fn start_for_user(
    core: &Core,
    user_id: &str,
    kind: Kind,
    bound_to: &str,
) -> DomainResult<Ceremony> {
    let rp = rp(core)?;
    let keys = user_passkeys(core, user_id).await?;
    if keys.is_empty() {
        return Err(DomainError::NoPasskeys);
    }
    let pks: Vec<Passkey> = keys.into_iter().map(|k| k.passkey).collect();
    let (rcr, state) = rp
        .start_passkey_authentication(&pks)
        .map_err(|e| internal("start authentication", e))?;
    let id = store_challenge(core, kind, Some(user_id), Some(bound_to), &state).await?;
    ceremony(id, &rcr)
}

/// Verifies `credential` against the stored `state` for `user_id`'s passkeys; returns the
/// method (`hwk`/`swk`) and records the use inside `w`.
async fn verify_for_user(
    w: &mut Work<'_>,
    user_id: &str,
    state: &str,
    credential: &PublicKeyCredential,
) -> DomainResult<&'static str> {
    let core = w.core();
    let rp = rp(core)?;
    let state: PasskeyAuthentication = parse_state(state)?;
    let res = rp
        .finish_passkey_authentication(credential, &state)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey assertion refused");
            DomainError::PasskeyInvalid
        })?;
    if !res.user_verified() {
        return Err(DomainError::PasskeyInvalid);
    }
    let mut keys = user_passkeys(core, user_id).await?;
    let stored = used(&mut keys, &res)?;
    record_use(w, stored, &res).await?;
    Ok(method(res.backup_eligible()))
}

/// Starts the second step of a password log-in with a passkey (the MFA challenge
/// `mfa::after_password` gave; it stays usable for a code instead).
pub async fn second_factor_start(core: &Core, mfa_token: &str) -> DomainResult<Ceremony> {
    let c = super::mfa::live_challenge(core, mfa_token).await?;
    start_for_user(core, &c.user_id, Kind::SecondFactor, &c.hash).await
}

/// Finishes the second step with a passkey: the MFA challenge is spent and the session starts
/// with `amr = [first factor, hwk|swk, "mfa"]`.
pub async fn second_factor_finish(
    core: &Core,
    ctx: &Ctx,
    mfa_token: &str,
    challenge_id: &str,
    credential: &PublicKeyCredential,
) -> DomainResult<Issued> {
    let challenge = super::mfa::live_challenge(core, mfa_token).await?;
    let (user_id, hash) = (challenge.user_id.clone(), challenge.hash.clone());
    let (owner, bound, state) = take_challenge(core, challenge_id, Kind::SecondFactor).await?;
    if owner.as_deref() != Some(&user_id) || bound.as_deref() != Some(&hash) {
        return Err(DomainError::PasskeyChallengeInvalid);
    }
    let user = live_user(core, &user_id).await?;
    let actor = ctx.acting(&user_id);
    let mut w = Work::begin(core, &actor).await?;
    let m = verify_for_user(&mut w, &user_id, &state, credential).await?;
    super::mfa::spend_challenge(&mut w, &hash).await?;
    // The first factor (`pwd`, or `fed` after a social sign-in), then the passkey.
    let authn = challenge.authentication(m);
    let issued = sessions::create_in(&mut w, &user, &authn).await?;
    w.commit().await?;
    Ok(issued)
}

/// Starts a step-up with a passkey on the caller's current session.
pub async fn step_up_start(core: &Core, ctx: &Ctx, user_id: &str) -> DomainResult<Ceremony> {
    let session = ctx
        .session
        .as_deref()
        .ok_or(DomainError::NotFound(What::Session))?;
    live_user(core, user_id).await?;
    start_for_user(core, user_id, Kind::StepUp, session).await
}

/// Finishes a step-up with a passkey: the session's `auth_time` becomes now and its `amr`
/// `[hwk|swk, "mfa"]`; a new access token is minted (the refresh token is unchanged).
pub async fn step_up_finish(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
    challenge_id: &str,
    credential: &PublicKeyCredential,
) -> DomainResult<Issued> {
    let session = ctx
        .session
        .clone()
        .ok_or(DomainError::NotFound(What::Session))?;
    let (owner, bound, state) = take_challenge(core, challenge_id, Kind::StepUp).await?;
    if owner.as_deref() != Some(user_id) || bound.as_deref() != Some(&session) {
        return Err(DomainError::PasskeyChallengeInvalid);
    }
    live_user(core, user_id).await?;
    let mut w = Work::begin(core, ctx).await?;
    let m = verify_for_user(&mut w, user_id, &state, credential).await?;
    let authn = Authentication {
        amr: vec![m.into(), "mfa".into()],
    };
    let issued = sessions::step_up_in(&mut w, user_id, &session, &authn).await?;
    w.commit().await?;
    Ok(issued)
}
