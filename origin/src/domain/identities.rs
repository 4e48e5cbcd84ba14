//! Social identities and the rules that make them safe: an identity is keyed by
//! (provider, issuer, subject) — never by e-mail — and belongs to one user.
//!
//! * A first sign-in with a provider creates an account only when the provider vouches for the
//!   address (`email_verified`) **and** no account has it; when one does — even an unverified
//!   local account someone pre-registered with the victim's address — the person is told to
//!   sign in and link. Never an automatic merge (the account-takeover of ory/kratos#3574).
//! * Linking is an explicit act of a signed-in user with a recent authentication.
//! * Unlinking refuses to remove the last way to sign in (a password or another identity).
//! * Provider tokens are kept encrypted (AAD `social-token:<user>:<provider>`), never returned.
//! * Each `state` is spent once at the callback.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use super::accounts::normalize_email;
use super::ctx::Ctx;
use super::error::{DomainError, DomainResult, SocialRefused, What};
use super::ids::{new_id, sha256_hex};
use super::mfa::{self, Login};
use super::sessions::{self, Authentication};
use super::users::{self, User};
use super::work::Work;
use super::Core;
use crate::db::{is_unique_violation, Backend};
use crate::social::Profile;

fn refused(r: SocialRefused) -> DomainError {
    DomainError::Social(r)
}

/// `amr` of a session started by a provider (RFC 8176 `fed`).
pub fn federated() -> Authentication {
    Authentication {
        amr: vec!["fed".into()],
    }
}

fn token_aad(user_id: &str, provider: &str) -> Vec<u8> {
    format!("social-token:{user_id}:{provider}").into_bytes()
}

/// Spends the `state` of an authorization response: a second use is refused, whoever tries.
pub async fn spend_state(core: &Core, ctx: &Ctx, state: &str, expires_at: i64) -> DomainResult<()> {
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    // Dead entries go first (no replay of them can pass the flow's own expiry anyway).
    sqlx::query("DELETE FROM oauth_used_states WHERE expires_at < $1")
        .bind(now)
        .execute(w.conn())
        .await?;
    let r = sqlx::query(
        "INSERT INTO oauth_used_states (state_hash, used_at, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(sha256_hex(state.as_bytes()))
    .bind(now)
    .bind(expires_at.max(now))
    .execute(w.conn())
    .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(refused(SocialRefused::StateReplayed)),
        r => r?,
    };
    w.commit().await
}

async fn store_tokens(
    w: &mut Work<'_>,
    user_id: &str,
    p: &Profile,
) -> DomainResult<(Vec<u8>, Vec<u8>)> {
    let (enc, nonce) = w.core().keys.seal(
        &token_aad(user_id, p.provider.as_str()),
        p.tokens.as_bytes(),
    )?;
    Ok((enc, nonce.to_vec()))
}

/// The account that holds the identity in `p` (provider, issuer, subject), read inside `w`.
async fn owner_of(w: &mut Work<'_>, p: &Profile) -> DomainResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM identities WHERE provider = $1 AND issuer = $2 AND subject = $3",
    )
    .bind(p.provider.as_str())
    .bind(&p.issuer)
    .bind(&p.subject)
    .fetch_optional(w.conn())
    .await?)
}

/// Signs in with a provider's verified profile: the identity's user, or — first time, a
/// verified address no account holds — a new account. Everything in one transaction. An account
/// with TOTP on gets an MFA challenge, not a session: a provider never skips the second factor.
pub async fn sign_in(core: &Core, ctx: &Ctx, p: &Profile) -> DomainResult<Login> {
    let provider = p.provider.as_str();
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    let owner = owner_of(&mut w, p).await?;
    let user = match owner {
        Some(user_id) => {
            let row = sqlx::query("SELECT id, email, disabled FROM users WHERE id = $1")
                .bind(&user_id)
                .fetch_optional(w.conn())
                .await?
                .ok_or(DomainError::NotFound(What::User))?;
            let user = User {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
                disabled: row.try_get::<i64, _>("disabled")? != 0,
            };
            if user.disabled {
                w.audit_as(
                    &ctx.acting(&user.id),
                    "login.failure",
                    Some(&user.id),
                    json!({ "reason": "account_disabled", "provider": provider }),
                )
                .await?;
                w.commit().await?;
                return Err(DomainError::AccountDisabled);
            }
            let (enc, nonce) = store_tokens(&mut w, &user.id, p).await?;
            sqlx::query(
                "UPDATE identities SET last_login_at = $1, email = $2, tokens_enc = $3, tokens_nonce = $4 \
                 WHERE provider = $5 AND issuer = $6 AND subject = $7",
            )
            .bind(now)
            .bind(p.email.clone())
            .bind(enc)
            .bind(nonce)
            .bind(provider)
            .bind(&p.issuer)
            .bind(&p.subject)
            .execute(w.conn())
            .await?;
            user
        }
        None => {
            let email = p
                .email
                .as_deref()
                .filter(|_| p.email_verified)
                .ok_or(refused(SocialRefused::EmailUnverified))?;
            let email =
                normalize_email(email).map_err(|_| refused(SocialRefused::EmailUnverified))?;
            let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(w.conn())
                .await?;
            if let Some(existing) = taken {
                // No merge, whatever the state of that account: its owner links explicitly.
                w.audit(
                    "login.social_refused",
                    Some(&existing),
                    json!({ "reason": "account_exists_link_required", "provider": provider }),
                )
                .await?;
                w.commit().await?;
                return Err(refused(SocialRefused::AccountExists));
            }
            let id = new_id("usr");
            let r = sqlx::query(
                "INSERT INTO users (id, email, password_hash, disabled, created_at, updated_at, email_verified_at) \
                 VALUES ($1, $2, '!', 0, $3, $3, $3)",
            )
            .bind(&id)
            .bind(&email)
            .bind(now)
            .execute(w.conn())
            .await;
            match r {
                Err(e) if is_unique_violation(&e) => {
                    return Err(refused(SocialRefused::AccountExists))
                }
                r => r?,
            };
            sqlx::query(
                "INSERT INTO user_roles (user_id, role, created_at) VALUES ($1, 'user', $2)",
            )
            .bind(&id)
            .bind(now)
            .execute(w.conn())
            .await?;
            let actor = ctx.acting(&id);
            w.audit_as(
                &actor,
                "user.signup",
                Some(&id),
                json!({ "roles": ["user"], "provider": provider }),
            )
            .await?;
            insert_identity(&mut w, &id, p).await?;
            w.audit_as(
                &actor,
                "identity.link",
                Some(&id),
                json!({ "provider": provider, "at_signup": true }),
            )
            .await?;
            User {
                id,
                email,
                disabled: false,
            }
        }
    };
    let actor = ctx.acting(&user.id);
    w.audit_as(
        &actor,
        "login.social",
        Some(&user.id),
        json!({ "provider": provider }),
    )
    .await?;
    if mfa::totp_enabled_in(&mut w, &user.id).await? {
        let login = mfa::challenge_in(&mut w, &user.id, "fed").await?;
        w.audit_as(
            &actor,
            "login.mfa_required",
            Some(&user.id),
            json!({ "provider": provider }),
        )
        .await?;
        w.commit().await?;
        return Ok(login);
    }
    let issued = sessions::create_in(&mut w, &user, &federated()).await?;
    w.commit().await?;
    core.telemetry.login("success");
    Ok(Login::Session(Box::new(issued)))
}

async fn insert_identity(w: &mut Work<'_>, user_id: &str, p: &Profile) -> DomainResult<()> {
    let (enc, nonce) = store_tokens(w, user_id, p).await?;
    let now = w.now;
    let r = sqlx::query(
        "INSERT INTO identities (provider, issuer, subject, user_id, email, tokens_enc, tokens_nonce, created_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(p.provider.as_str())
    .bind(&p.issuer)
    .bind(&p.subject)
    .bind(user_id)
    .bind(p.email.clone())
    .bind(enc)
    .bind(nonce)
    .bind(now)
    .execute(w.conn())
    .await;
    match r {
        // (user, provider) is unique too: one identity per provider and account.
        Err(e) if is_unique_violation(&e) => Err(refused(SocialRefused::ProviderAlreadyLinked)),
        r => r.map(|_| ()).map_err(Into::into),
    }
}

/// Links the provider identity in `p` to the signed-in `user_id` (who asked for it, with a
/// recent authentication, when the flow started).
pub async fn link(core: &Core, ctx: &Ctx, user_id: &str, p: &Profile) -> DomainResult<()> {
    let provider = p.provider.as_str();
    let mut w = Work::begin(core, ctx).await?;
    let owner = owner_of(&mut w, p).await?;
    match owner {
        Some(o) if o == user_id => return Ok(()),
        Some(_) => return Err(refused(SocialRefused::IdentityLinkedElsewhere)),
        None => {}
    }
    let live: Option<i64> =
        sqlx::query_scalar("SELECT disabled FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(user_id)
            .fetch_optional(w.conn())
            .await?;
    match live {
        None => return Err(DomainError::NotFound(What::User)),
        Some(d) if d != 0 => return Err(DomainError::AccountDisabled),
        Some(_) => {}
    }
    insert_identity(&mut w, user_id, p).await?;
    w.audit(
        "identity.link",
        Some(user_id),
        json!({ "provider": provider }),
    )
    .await?;
    w.commit().await
}

/// Ways the user can sign in: a password (a PHC hash, not the `!` marker) and identities.
/// How many ways the user has to sign in: a password, each linked identity, each passkey.
pub(crate) async fn login_methods(w: &mut Work<'_>, user_id: &str) -> DomainResult<i64> {
    let hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(w.conn())
        .await?;
    let has_password = hash.is_some_and(|h| h.starts_with('$'));
    let identities: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(w.conn())
        .await?;
    let passkeys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(w.conn())
        .await?;
    Ok(identities + passkeys + i64::from(has_password))
}

/// Removes the user's identity at `provider`, unless it is their last way to sign in.
pub async fn unlink(core: &Core, ctx: &Ctx, user_id: &str, provider: &str) -> DomainResult<()> {
    let mut w = Work::begin(core, ctx).await?;
    if core.db.backend == Backend::Postgres {
        // Two unlinks at once must not both see "another method remains".
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_optional(w.conn())
            .await?;
    }
    let exists: Option<String> =
        sqlx::query_scalar("SELECT subject FROM identities WHERE user_id = $1 AND provider = $2")
            .bind(user_id)
            .bind(provider)
            .fetch_optional(w.conn())
            .await?;
    if exists.is_none() {
        return Err(refused(SocialRefused::IdentityNotFound));
    }
    if login_methods(&mut w, user_id).await? <= 1 {
        return Err(DomainError::LastLoginMethod);
    }
    sqlx::query("DELETE FROM identities WHERE user_id = $1 AND provider = $2")
        .bind(user_id)
        .bind(provider)
        .execute(w.conn())
        .await?;
    w.audit(
        "identity.unlink",
        Some(user_id),
        json!({ "provider": provider }),
    )
    .await?;
    w.commit().await
}

#[derive(Debug, Serialize)]
pub struct IdentityView {
    pub provider: String,
    pub email: Option<String>,
    pub linked_at: i64,
    pub last_login_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Methods {
    pub password: bool,
    pub identities: Vec<IdentityView>,
}

/// The user's ways to sign in (no tokens: they never leave the origin).
pub async fn list(core: &Core, user_id: &str) -> DomainResult<Methods> {
    let user = users::has_password(core, user_id).await?;
    let rows = sqlx::query(
        "SELECT provider, email, created_at, last_login_at FROM identities WHERE user_id = $1 ORDER BY provider",
    )
    .bind(user_id)
    .fetch_all(&core.db.pool)
    .await?;
    let identities = rows
        .iter()
        .map(|r| {
            Ok(IdentityView {
                provider: r.try_get("provider")?,
                email: r.try_get("email")?,
                linked_at: r.try_get::<i64, _>("created_at")? / 1000,
                last_login_at: r
                    .try_get::<Option<i64>, _>("last_login_at")?
                    .map(|t| t / 1000),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Methods {
        password: user,
        identities,
    })
}

/// Decrypts the provider tokens kept for `user_id` at `provider` (tests and future API calls
/// on the user's behalf); None when there are none or they do not open for this owner.
pub async fn kept_tokens(
    core: &Core,
    user_id: &str,
    provider: &str,
) -> DomainResult<Option<String>> {
    let row = sqlx::query(
        "SELECT tokens_enc, tokens_nonce FROM identities WHERE user_id = $1 AND provider = $2",
    )
    .bind(user_id)
    .bind(provider)
    .fetch_optional(&core.db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let enc: Option<Vec<u8>> = row.try_get("tokens_enc")?;
    let nonce: Option<Vec<u8>> = row.try_get("tokens_nonce")?;
    let (Some(enc), Some(nonce)) = (enc, nonce) else {
        return Ok(None);
    };
    Ok(core
        .keys
        .open(&token_aad(user_id, provider), &enc, &nonce)
        .and_then(|b| String::from_utf8(b.to_vec()).ok()))
}
