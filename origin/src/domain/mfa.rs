//! Second factors: TOTP (RFC 6238) with single-use recovery codes, and the second step of a
//! log-in for accounts that have it on.
//!
//! * Enrolment stores a fresh 160-bit secret, encrypted at rest under KEY_ENCRYPTION_KEY
//!   (AAD `totp:<user id>`); it is active only once confirmed with a code, which also hands
//!   out ten recovery codes (stored as SHA-256; 80 random bits each, single use).
//! * A code is accepted for the current 30-second step or one either side, and only for a step
//!   later than the last accepted one (stored): a used code cannot be replayed.
//! * Wrong codes count towards the same growing lock-out as passwords, keyed `mfa:<user id>`.
//! * With TOTP on, a correct password yields an MFA challenge (single use, five minutes, five
//!   attempts), not a session; the challenge plus a code starts the session with
//!   `amr = ["pwd", "otp", "mfa"]`.
//! * Disabling needs a recent authentication (`STEP_UP_MAX_AGE_SECS`) and a valid code.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use totp_rs::{Algorithm, TOTP};

use super::accounts::{check_throttle, clear_throttle, record_failure};
use super::ctx::Ctx;
use super::error::{DomainError, DomainResult};
use super::ids::{new_secret_token, random_bytes, sha256_hex};
use super::sessions::{self, Authentication, Issued};
use super::users::{self, User};
use super::work::Work;
use super::Core;

pub const STEP_SECS: u64 = 30;
pub const DIGITS: usize = 6;
/// Steps accepted either side of the current one.
pub const SKEW_STEPS: i64 = 1;
pub const RECOVERY_CODE_COUNT: usize = 10;
/// How long the second step of a log-in may wait.
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// Wrong codes one challenge survives.
pub const CHALLENGE_MAX_FAILURES: i64 = 5;
const MAX_CODE_LEN: usize = 64;

/// A second factor as the person typed it.
#[derive(Clone, Debug)]
pub enum Code {
    Totp(String),
    Recovery(String),
}

/// What an authenticator app needs to add the account.
#[derive(Debug, Serialize)]
pub struct Enrolment {
    /// The secret, base32 (for typing in by hand).
    pub secret: String,
    /// `otpauth://totp/…` (what the QR code encodes).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// The outcome of a correct password.
#[derive(Debug)]
pub enum Login {
    /// No second factor: the session.
    Session(Box<Issued>),
    /// TOTP is on: the second step needs this challenge and a code.
    MfaRequired {
        mfa_token: String,
        expires_in: i64,
        methods: Vec<&'static str>,
    },
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Status {
    pub totp_enabled: bool,
    /// An enrolment waits for its confirming code.
    pub totp_pending: bool,
    pub recovery_codes_remaining: i64,
}

fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> DomainResult<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        SKEW_STEPS as u8,
        STEP_SECS,
        secret,
        Some(issuer.to_owned()),
        account.to_owned(),
    )
    .map_err(|e| DomainError::internal(format!("totp: {e}")))
}

fn aad(user_id: &str) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

fn throttle_key(user_id: &str) -> String {
    format!("mfa:{user_id}")
}

/// The QR code of `text` as a standalone SVG document (4-module quiet zone).
pub fn qr_svg(text: &str) -> DomainResult<String> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| DomainError::internal(format!("qr code: {e:?}")))?;
    let border = 4;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    let dim = qr.size() + 2 * border;
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" \
         shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\
         <path d=\"{path}\" fill=\"#000000\"/></svg>"
    ))
}

/// The time step of `code` among the accepted window around `now_secs`, if it matches one
/// (compared in constant time). Steps at or before `last_step` are reported as replay.
fn match_step(t: &TOTP, code: &str, now_secs: i64, last_step: Option<i64>) -> DomainResult<i64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::InvalidOtp);
    }
    let current = now_secs.div_euclid(STEP_SECS as i64);
    let mut found = None;
    for step in current - SKEW_STEPS..=current + SKEW_STEPS {
        if step < 0 {
            continue;
        }
        let want = t.generate(step as u64 * STEP_SECS);
        if ct_eq(want.as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    match found {
        None => Err(DomainError::InvalidOtp),
        Some(step) if last_step.is_some_and(|last| step <= last) => {
            Err(DomainError::OtpAlreadyUsed)
        }
        Some(step) => Ok(step),
    }
}

/// Equal-length comparison whose time does not depend on where the bytes differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lowercase, without separators or spaces: the form recovery codes are hashed in.
fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `xxxx-xxxx-xxxx-xxxx` over the base32 alphabet: 80 random bits.
fn new_recovery_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bytes = random_bytes::<10>();
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | b as u128;
    }
    let mut s = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        let v = (bits >> (75 - 5 * i)) & 31;
        s.push(ALPHABET[v as usize] as char);
    }
    s
}

struct Factor {
    secret: Vec<u8>,
    confirmed: bool,
    last_step: Option<i64>,
}

async fn load_factor(w: &mut Work<'_>, user_id: &str) -> DomainResult<Option<Factor>> {
    let row = sqlx::query(
        "SELECT secret_enc, nonce, confirmed_at, last_step FROM totp_factors WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(w.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let enc: Vec<u8> = row.try_get("secret_enc")?;
    let nonce: Vec<u8> = row.try_get("nonce")?;
    let secret = w
        .core()
        .keys
        .open(&aad(user_id), &enc, &nonce)
        .ok_or_else(|| {
            DomainError::internal(format!(
                "the TOTP secret of {user_id} does not decrypt with KEY_ENCRYPTION_KEY"
            ))
        })?;
    Ok(Some(Factor {
        secret: secret.to_vec(),
        confirmed: row.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
        last_step: row.try_get("last_step")?,
    }))
}

/// Is TOTP on for this user?
pub async fn totp_enabled(core: &Core, user_id: &str) -> DomainResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_one(&core.db.pool)
    .await?;
    Ok(n > 0)
}

pub async fn status(core: &Core, user_id: &str) -> DomainResult<Status> {
    let confirmed: Option<Option<i64>> =
        sqlx::query_scalar("SELECT confirmed_at FROM totp_factors WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&core.db.pool)
            .await?;
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&core.db.pool)
    .await?;
    Ok(Status {
        totp_enabled: matches!(confirmed, Some(Some(_))),
        totp_pending: matches!(confirmed, Some(None)),
        recovery_codes_remaining: left,
    })
}

/// Starts (or restarts) a TOTP enrolment for the signed-in user: a new secret, not active
/// until [`confirm`]ed.
pub async fn enroll(core: &Core, ctx: &Ctx, user_id: &str) -> DomainResult<Enrolment> {
    let user = users::by_id(core, user_id)
        .await?
        .ok_or(DomainError::NotFound(super::What::User))?;
    let secret = random_bytes::<20>();
    let (enc, nonce) = core.keys.seal(&aad(user_id), &secret)?;
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    let confirmed: Option<Option<i64>> =
        sqlx::query_scalar("SELECT confirmed_at FROM totp_factors WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(w.conn())
            .await?;
    if matches!(confirmed, Some(Some(_))) {
        return Err(DomainError::TotpAlreadyEnabled);
    }
    sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
        .bind(user_id)
        .execute(w.conn())
        .await?;
    sqlx::query(
        "INSERT INTO totp_factors (user_id, secret_enc, nonce, created_at, confirmed_at, last_step) \
         VALUES ($1, $2, $3, $4, NULL, NULL)",
    )
    .bind(user_id)
    .bind(enc)
    .bind(nonce.to_vec())
    .bind(now)
    .execute(w.conn())
    .await?;
    w.audit("mfa.totp.enroll", Some(user_id), json!({})).await?;
    let t = totp(secret.to_vec(), &core.config.totp_issuer, &user.email)?;
    let otpauth_uri = t.get_url();
    let enrolment = Enrolment {
        secret: t.get_secret_base32(),
        qr_svg: qr_svg(&otpauth_uri)?,
        otpauth_uri,
    };
    w.commit().await?;
    Ok(enrolment)
}

/// Checks `code` against the user's factor (TOTP or an unused recovery code) inside `w`, and
/// consumes it there: the TOTP step becomes the last used one, the recovery code is spent.
/// `pending` accepts an unconfirmed TOTP enrolment (and only that).
async fn consume(w: &mut Work<'_>, user_id: &str, code: &Code, pending: bool) -> DomainResult<()> {
    let now = w.now;
    match code {
        Code::Totp(c) => {
            let factor = load_factor(w, user_id).await?;
            let factor = match factor {
                Some(f) if f.confirmed != pending => f,
                _ if pending => return Err(DomainError::TotpNotEnrolled),
                _ => return Err(DomainError::TotpNotEnabled),
            };
            let core = w.core();
            let t = totp(factor.secret, &core.config.totp_issuer, "-")?;
            let step = match_step(&t, c.trim(), now.div_euclid(1000), factor.last_step)?;
            // Conditional on the step still being new: two concurrent uses of one code cannot
            // both pass.
            let n = sqlx::query(
                "UPDATE totp_factors SET last_step = $1 WHERE user_id = $2 \
                 AND (last_step IS NULL OR last_step < $1)",
            )
            .bind(step)
            .bind(user_id)
            .execute(w.conn())
            .await?
            .rows_affected();
            if n != 1 {
                return Err(DomainError::OtpAlreadyUsed);
            }
            Ok(())
        }
        Code::Recovery(c) => {
            if pending {
                return Err(DomainError::InvalidOtp);
            }
            let norm = normalize_recovery(c);
            if norm.is_empty() || norm.len() > MAX_CODE_LEN {
                return Err(DomainError::InvalidOtp);
            }
            let n = sqlx::query(
                "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 \
                 AND used_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .bind(sha256_hex(norm.as_bytes()))
            .execute(w.conn())
            .await?
            .rows_affected();
            if n != 1 {
                return Err(DomainError::InvalidOtp);
            }
            w.audit("mfa.recovery_code.used", Some(user_id), json!({}))
                .await?;
            Ok(())
        }
    }
}

/// Is this refusal a wrong code (counted towards the lock-out)?
fn counts_as_failure(e: &DomainError) -> bool {
    matches!(e, DomainError::InvalidOtp | DomainError::OtpAlreadyUsed)
}

/// Runs `consume` for `user_id` under the `mfa:` throttle: a locked-out user is refused before
/// any check; a wrong code is counted (after the failed transaction rolled back).
async fn checked<'a, F, Fut, T>(
    core: &'a Core,
    ctx: &'a Ctx,
    user_id: &str,
    action: &str,
    op: F,
) -> DomainResult<T>
where
    F: FnOnce(Work<'a>) -> Fut,
    Fut: std::future::Future<Output = DomainResult<T>>,
{
    let key = throttle_key(user_id);
    check_throttle(core, &key, core.clock.now_ms()).await?;
    let w = Work::begin(core, ctx).await?;
    match op(w).await {
        Err(e) if counts_as_failure(&e) => {
            let reason = if matches!(e, DomainError::OtpAlreadyUsed) {
                "otp_already_used"
            } else {
                "invalid_otp"
            };
            record_failure(core, ctx, &key, action, user_id, reason).await?;
            Err(e)
        }
        other => other,
    }
}

/// Activates the pending enrolment with a code from the app; returns the ten recovery codes
/// (shown once; only their hashes are kept). Needs an authentication within
/// `STEP_UP_MAX_AGE_SECS`: a stolen, older token cannot put a factor of its own on the account.
pub async fn confirm(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
    code: &str,
) -> DomainResult<Vec<String>> {
    sessions::require_fresh(core, ctx, core.config.step_up_max_age_secs).await?;
    let code = Code::Totp(code.to_owned());
    checked(core, ctx, user_id, "mfa.failure", |mut w| async move {
        consume(&mut w, user_id, &code, true).await?;
        let now = w.now;
        sqlx::query("UPDATE totp_factors SET confirmed_at = $1 WHERE user_id = $2")
            .bind(now)
            .bind(user_id)
            .execute(w.conn())
            .await?;
        let codes = replace_recovery_codes(&mut w, user_id).await?;
        clear_throttle(w.conn(), &throttle_key(user_id)).await?;
        w.audit("mfa.totp.enable", Some(user_id), json!({})).await?;
        w.commit().await?;
        Ok(codes)
    })
    .await
}

/// Replaces the ten recovery codes (the old ones stop working) and returns the new ones, shown
/// once. Needs TOTP on and an authentication within `STEP_UP_MAX_AGE_SECS`, like disabling.
pub async fn regenerate_recovery_codes(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
) -> DomainResult<Vec<String>> {
    sessions::require_fresh(core, ctx, core.config.step_up_max_age_secs).await?;
    if !totp_enabled(core, user_id).await? {
        return Err(DomainError::TotpNotEnabled);
    }
    let mut w = Work::begin(core, ctx).await?;
    let codes = replace_recovery_codes(&mut w, user_id).await?;
    w.audit("mfa.recovery_codes.regenerate", Some(user_id), json!({}))
        .await?;
    w.commit().await?;
    Ok(codes)
}

async fn replace_recovery_codes(w: &mut Work<'_>, user_id: &str) -> DomainResult<Vec<String>> {
    let now = w.now;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(w.conn())
        .await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while codes.len() < RECOVERY_CODE_COUNT {
        let c = new_recovery_code();
        if codes.contains(&c) {
            continue;
        }
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)",
        )
        .bind(user_id)
        .bind(sha256_hex(normalize_recovery(&c).as_bytes()))
        .bind(now)
        .execute(w.conn())
        .await?;
        codes.push(c);
    }
    Ok(codes)
}

/// Turns TOTP off: needs an authentication within `STEP_UP_MAX_AGE_SECS` and a valid code
/// (TOTP or recovery). The recovery codes go with it.
pub async fn disable(core: &Core, ctx: &Ctx, user_id: &str, code: &Code) -> DomainResult<()> {
    sessions::require_fresh(core, ctx, core.config.step_up_max_age_secs).await?;
    checked(core, ctx, user_id, "mfa.failure", |mut w| async move {
        consume(&mut w, user_id, code, false).await?;
        for sql in [
            "DELETE FROM totp_factors WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
            "DELETE FROM mfa_challenges WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(user_id).execute(w.conn()).await?;
        }
        clear_throttle(w.conn(), &throttle_key(user_id)).await?;
        w.audit("mfa.totp.disable", Some(user_id), json!({}))
            .await?;
        w.commit().await
    })
    .await
}

/// After a correct password: the session, or — TOTP on — an MFA challenge for the second step.
pub async fn after_password(core: &Core, ctx: &Ctx, user: &User) -> DomainResult<Login> {
    if !totp_enabled(core, &user.id).await? {
        let issued = sessions::create_with(core, ctx, user, &Authentication::password()).await?;
        return Ok(Login::Session(Box::new(issued)));
    }
    let mut w = Work::begin(core, ctx).await?;
    let login = challenge_in(&mut w, &user.id, "pwd").await?;
    w.audit_as(
        &ctx.acting(&user.id),
        "login.mfa_required",
        Some(&user.id),
        json!({}),
    )
    .await?;
    w.commit().await?;
    Ok(login)
}

/// The MFA challenge of a first factor that checked out (`first_amr`: `pwd`, or `fed` for a
/// social sign-in), stored inside the caller's unit of work; the second step adds `otp` (or the
/// passkey's `hwk`/`swk`).
pub async fn challenge_in(w: &mut Work<'_>, user_id: &str, first_amr: &str) -> DomainResult<Login> {
    let token = new_secret_token();
    let now = w.now;
    sqlx::query(
        "INSERT INTO mfa_challenges (token_hash, user_id, amr, created_at, expires_at, used_at, failures) \
         VALUES ($1, $2, $3, $4, $5, NULL, 0)",
    )
    .bind(sha256_hex(token.as_bytes()))
    .bind(user_id)
    .bind(first_amr)
    .bind(now)
    .bind(now + CHALLENGE_TTL_SECS * 1000)
    .execute(w.conn())
    .await?;
    let mut methods = vec!["totp", "recovery_code"];
    // (Read here rather than through `passkeys`, which builds on this module's challenges.)
    let passkeys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(w.conn())
        .await?;
    if w.core().webauthn.is_some() && passkeys > 0 {
        methods.push("passkey");
    }
    Ok(Login::MfaRequired {
        mfa_token: token,
        expires_in: CHALLENGE_TTL_SECS,
        methods,
    })
}

/// Is a confirmed TOTP factor on, read inside `w`?
pub async fn totp_enabled_in(w: &mut Work<'_>, user_id: &str) -> DomainResult<bool> {
    let c: Option<Option<i64>> =
        sqlx::query_scalar("SELECT confirmed_at FROM totp_factors WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(w.conn())
            .await?;
    Ok(matches!(c, Some(Some(_))))
}

/// A log-in's MFA challenge that is still usable: whose it is, its stored hash, and the first
/// factor it was made for.
pub struct LiveChallenge {
    pub user_id: String,
    pub hash: String,
    /// `pwd`, or `fed` after a social sign-in.
    pub first_amr: String,
}

impl LiveChallenge {
    /// The session's authentication once `second` (`otp`, `hwk`, `swk`) completes it.
    pub fn authentication(&self, second: &str) -> Authentication {
        Authentication {
            amr: self
                .first_amr
                .split_whitespace()
                .map(str::to_owned)
                .chain([second.to_owned(), "mfa".to_owned()])
                .collect(),
        }
    }
}

/// The challenge behind `mfa_token` if still usable (unknown, used, expired or out of attempts
/// → [`DomainError::MfaChallengeInvalid`]).
pub async fn live_challenge(core: &Core, mfa_token: &str) -> DomainResult<LiveChallenge> {
    if mfa_token.is_empty() || mfa_token.len() > 128 {
        return Err(DomainError::MfaChallengeInvalid);
    }
    let hash = sha256_hex(mfa_token.as_bytes());
    let row = sqlx::query(
        "SELECT user_id, amr, expires_at, used_at, failures FROM mfa_challenges WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&core.db.pool)
    .await?
    .ok_or(DomainError::MfaChallengeInvalid)?;
    let live = row.try_get::<Option<i64>, _>("used_at")?.is_none()
        && row.try_get::<i64, _>("expires_at")? > core.clock.now_ms()
        && row.try_get::<i64, _>("failures")? < CHALLENGE_MAX_FAILURES;
    if !live {
        return Err(DomainError::MfaChallengeInvalid);
    }
    Ok(LiveChallenge {
        user_id: row.try_get("user_id")?,
        hash,
        first_amr: row.try_get("amr")?,
    })
}

/// Marks the MFA challenge used inside `w` (it was live when read; a concurrent second step
/// that got there first makes this one fail).
pub async fn spend_challenge(w: &mut Work<'_>, hash: &str) -> DomainResult<()> {
    let n = sqlx::query(
        "UPDATE mfa_challenges SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(w.now)
    .bind(hash)
    .execute(w.conn())
    .await?
    .rows_affected();
    if n != 1 {
        return Err(DomainError::MfaChallengeInvalid);
    }
    Ok(())
}

/// The second step of a log-in: the challenge from [`after_password`] (or a social sign-in)
/// and a TOTP or recovery code start the session (`amr = [first, "otp", "mfa"]`). The challenge
/// is single use and dies after [`CHALLENGE_MAX_FAILURES`] wrong codes.
pub async fn complete_login(
    core: &Core,
    ctx: &Ctx,
    mfa_token: &str,
    code: &Code,
) -> DomainResult<Issued> {
    let challenge = live_challenge(core, mfa_token).await?;
    let (user_id, hash) = (challenge.user_id.clone(), challenge.hash.clone());
    let authn = challenge.authentication("otp");
    let user = users::by_id(core, &user_id)
        .await?
        .ok_or(DomainError::MfaChallengeInvalid)?;
    if user.disabled {
        return Err(DomainError::AccountDisabled);
    }
    let actor = ctx.acting(&user_id);
    let result = checked(core, &actor, &user_id, "login.failure", |mut w| async {
        consume(&mut w, &user_id, code, false).await?;
        spend_challenge(&mut w, &hash).await?;
        clear_throttle(w.conn(), &throttle_key(&user_id)).await?;
        let issued = sessions::create_in(&mut w, &user, &authn).await?;
        w.commit().await?;
        Ok(issued)
    })
    .await;
    if let Err(e) = &result {
        if counts_as_failure(e) {
            sqlx::query("UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1")
                .bind(&hash)
                .execute(&core.db.pool)
                .await?;
        }
    }
    result
}

/// Step-up (RFC 9470): the signed-in user proves themselves again on their current session —
/// their password, and a code when TOTP is on — and gets an access token with a new
/// `auth_time` (and the `amr` of what they just did). Wrong passwords count towards the log-in
/// lock-out of the address, wrong codes towards the `mfa:` one.
pub async fn step_up(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
    password: String,
    code: Option<&Code>,
) -> DomainResult<Issued> {
    let session = ctx
        .session
        .clone()
        .ok_or(DomainError::NotFound(super::What::Session))?;
    let (user, hash) = match users::by_id(core, user_id).await? {
        Some(u) => {
            let found = users::by_email(core, &u.email).await?;
            (u, found.map(|(_, h)| h))
        }
        None => return Err(DomainError::NotFound(super::What::User)),
    };
    if user.disabled {
        return Err(DomainError::AccountDisabled);
    }
    check_throttle(core, &user.email, core.clock.now_ms()).await?;
    if password.len() > super::passwords::MAX_PASSWORD_BYTES
        || !core.passwords.verify(password, hash).await.ok
    {
        record_failure(
            core,
            ctx,
            &user.email,
            "step_up.failure",
            user_id,
            "invalid_credentials",
        )
        .await?;
        return Err(DomainError::InvalidCredentials);
    }
    let second = totp_enabled(core, user_id).await?;
    let authn = match (second, code) {
        (false, _) => Authentication::password(),
        (true, None) => return Err(DomainError::OtpRequired),
        (true, Some(_)) => Authentication::password_and_otp(),
    };
    checked(core, ctx, user_id, "mfa.failure", |mut w| async {
        if let (true, Some(code)) = (second, code) {
            consume(&mut w, user_id, code, false).await?;
            clear_throttle(w.conn(), &throttle_key(user_id)).await?;
        }
        clear_throttle(w.conn(), &user.email).await?;
        let issued = sessions::step_up_in(&mut w, user_id, &session, &authn).await?;
        w.commit().await?;
        Ok(issued)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_80_bits_in_groups() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 19, "{c}");
        assert_eq!(c.matches('-').count(), 3);
        assert_eq!(normalize_recovery(&c.to_uppercase()).len(), 16);
        assert_ne!(new_recovery_code(), c);
    }

    #[test]
    fn codes_match_the_window_once() {
        let t = totp(vec![7u8; 20], "edge-auth", "a@b.c").unwrap();
        let now = 1_700_000_000i64;
        let step = now / 30;
        let code = t.generate(now as u64);
        assert_eq!(match_step(&t, &code, now, None).unwrap(), step);
        let prev = t.generate((now - 30) as u64);
        assert_eq!(match_step(&t, &prev, now, None).unwrap(), step - 1);
        let old = t.generate((now - 90) as u64);
        assert!(matches!(
            match_step(&t, &old, now, None),
            Err(DomainError::InvalidOtp)
        ));
        assert!(matches!(
            match_step(&t, &code, now, Some(step)),
            Err(DomainError::OtpAlreadyUsed)
        ));
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert!(matches!(
                match_step(&t, bad, now, None),
                Err(DomainError::InvalidOtp)
            ));
        }
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("otpauth://totp/edge-auth:a%40b.c?secret=AAAA").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("h1v1h-1z"));
    }
}
