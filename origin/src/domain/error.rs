//! The one domain error: what an operation refuses, in domain words, plus storage and internal
//! failures. It knows nothing of HTTP (the HTTP layer's `error.rs` maps it to problem+json,
//! once), and it is a leaf: it depends on no other domain module; they all depend on it.

use std::fmt;

/// Why a verified delivery cannot be stored. Downstream errors: the HTTP layer maps each to a
/// problem with a stable id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The path names a provider this origin has no format for.
    UnknownProvider,
    /// The edge forwarded no `x-auth-webhook-id` (e.g. a Stripe body without a string `id`).
    EventIdMissing,
    /// Longer than `webhooks::MAX_EVENT_ID_LEN` or not printable ASCII.
    EventIdInvalid,
    /// The format carries its type in a JSON body, and the body is not a JSON object.
    BodyNotJson,
    /// No type where the format puts it (`type` in the body, or `X-GitHub-Event`).
    EventTypeMissing,
    /// Empty, too long, or with control characters.
    EventTypeInvalid,
}

impl std::fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReceiveError::UnknownProvider => "unknown webhook provider",
            ReceiveError::EventIdMissing => "the delivery has no event id",
            ReceiveError::EventIdInvalid => "the event id is too long or not printable ascii",
            ReceiveError::BodyNotJson => "the body is not a json object",
            ReceiveError::EventTypeMissing => "the event type is missing",
            ReceiveError::EventTypeInvalid => "the event type is empty, too long or not printable",
        })
    }
}
impl std::error::Error for ReceiveError {}

/// The kinds of thing an operation can look up and not find (or find already there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    User,
    Role,
    Permission,
    Session,
    SodPair,
    WebhookEvent,
    Subscription,
    /// An e-mail address already held by an account.
    Email,
    /// A passkey (by id on the account, or a credential already registered).
    Passkey,
}

/// Why an admin's user search is refused (`directory::UserSearch::parse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchRefused {
    /// Too long (over 254 characters) or with control characters.
    Query,
    /// A cursor with control characters or longer than an e-mail address can be.
    Cursor,
    /// Not a whole number in 1..=100.
    Limit,
}

/// Why a refresh token does not buy new tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshRefused {
    /// Unknown, empty or oversized token.
    Invalid,
    /// Its session was revoked (logout, reuse, disable, single-session policy).
    SessionRevoked,
    /// The token was already rotated: reuse detected, the session is now revoked.
    Reused,
    /// The session reached its absolute end (`REFRESH_TOKEN_TTL_SECS` after it started).
    Expired,
    /// The session was not refreshed for `SESSION_IDLE_TIMEOUT_SECS`.
    Idle,
    /// The account was disabled after the session started.
    AccountDisabled,
}

/// Why a social sign-in, link or unlink is refused (each has its own reason id in `error.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocialRefused {
    /// No such provider, or it is not configured here.
    ProviderUnknown,
    /// `next` is not a same-origin relative path.
    NextInvalid,
    /// The callback came without the flow cookie (other browser, expired, or no PKCE verifier).
    FlowMissing,
    /// The flow cookie does not decrypt, is for another provider, expired, or its `state`
    /// differs from the callback's.
    StateInvalid,
    /// This `state` was already used at the callback.
    StateReplayed,
    /// RFC 9207: the authorization response's `iss` is not the issuer the flow started with
    /// (or is missing where the provider promises it).
    IssuerMismatch,
    /// The provider answered the authorization request with an error (e.g. access_denied).
    ProviderDenied,
    /// The callback has no `code`.
    CodeMissing,
    /// The token endpoint refused the code (wrong, used, or PKCE verifier mismatch).
    CodeRejected,
    IdTokenMissing,
    IdTokenSignatureInvalid,
    IdTokenNonceMismatch,
    IdTokenAudienceInvalid,
    IdTokenIssuerInvalid,
    IdTokenExpired,
    /// Any other id_token problem (malformed, unsupported algorithm, bad claims).
    IdTokenInvalid,
    /// The provider's profile lacks a subject or contradicts the id_token.
    ProfileInvalid,
    /// The provider vouches for no verified e-mail address: no account is created from it.
    EmailUnverified,
    /// An account already has this e-mail: sign in to it and link the provider from the account
    /// page (never an automatic merge).
    AccountExists,
    /// This provider identity belongs to another account.
    IdentityLinkedElsewhere,
    /// The account already has an identity at this provider.
    ProviderAlreadyLinked,
    /// The account has no identity at this provider.
    IdentityNotFound,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum DomainError {
    /// A social sign-in, link or unlink refused (downstream).
    Social(SocialRefused),
    /// Unlinking would leave the account without any way to sign in.
    LastLoginMethod,
    /// The provider timed out, failed, or its circuit is open (upstream).
    ProviderUnavailable {
        provider: &'static str,
    },
    // ---- the caller's request is refused (downstream) ----
    /// The caller's authority does not include `permission`.
    PermissionMissing {
        permission: &'static str,
    },
    NotFound(What),
    AlreadyExists(What),
    /// A role or permission name outside the allowed shape.
    InvalidName(What),
    /// `create_role` / `set_parent` named a parent that does not exist.
    ParentRoleNotFound,
    /// The parent change would make a role its own ancestor.
    RoleCycle,
    /// The seeded roles (`admin`, `user`) cannot be deleted.
    RoleProtected,
    /// A separation-of-duty pair needs two different roles.
    SodSameRole,
    /// The assignment would give the user both roles of an exclusive pair.
    SeparationOfDuty {
        a: String,
        b: String,
    },
    InvalidEmail,
    /// The password policy refused it; `reason` is the stable id (`password_too_short`, …).
    WeakPassword {
        reason: &'static str,
    },
    /// Unknown e-mail or wrong password: one answer for both.
    InvalidCredentials,
    /// Too many recent failures for this e-mail.
    LoginThrottled {
        retry_after_secs: u64,
    },
    AccountDisabled,
    /// A sensitive operation needs an authentication at most `max_age_secs` old (RFC 9470).
    StepUpRequired {
        max_age_secs: u64,
    },
    Refresh(RefreshRefused),
    /// TOTP is already on for this account (disable it first to enrol a new secret).
    TotpAlreadyEnabled,
    /// No TOTP enrolment waits for confirmation.
    TotpNotEnrolled,
    /// TOTP is not on for this account.
    TotpNotEnabled,
    /// A wrong, malformed or expired one-time code (TOTP or recovery code).
    InvalidOtp,
    /// TOTP is on: this authentication needs a code too.
    OtpRequired,
    /// A correct TOTP code of a time step already used: replay.
    OtpAlreadyUsed,
    /// The log-in's MFA challenge is unknown, used, expired or spent its attempts.
    MfaChallengeInvalid,
    /// `WEBAUTHN_RP_ID` is not set (configuration, reported as unavailable).
    PasskeysNotConfigured,
    /// A passkey ceremony's challenge that is unknown, used, expired, or another's.
    PasskeyChallengeInvalid,
    /// The authenticator's answer does not verify (signature, origin, RP id, user
    /// verification, unknown credential).
    PasskeyInvalid,
    /// The account has no passkey to authenticate with.
    NoPasskeys,
    /// The account already holds `passkeys::MAX_PASSKEYS`.
    PasskeyLimitReached,
    /// A passkey name longer than 64 characters or with control characters.
    InvalidPasskeyName,
    /// A password-reset link that is unknown, used or expired.
    ResetTokenInvalid,
    /// An e-mail verification link that is unknown, used, expired or for an old address.
    VerificationTokenInvalid,
    /// The account's address is already verified.
    EmailAlreadyVerified,
    /// The current password given to change it is wrong.
    CurrentPasswordWrong,
    /// Sending mail needs `SMTP_URL` (configuration, reported to the caller as unavailable).
    MailNotConfigured,
    /// The SMTP server refused or could not be reached (upstream).
    MailUnavailable,
    /// An admin's user search with a bad text, cursor or page size.
    UserSearch(SearchRefused),
    /// Only a dead or failed, un-leased event can be re-queued.
    WebhookNotRequeueable,
    /// A verified delivery that cannot be stored.
    Webhook(ReceiveError),
    /// Idempotency: the same key with another request.
    IdempotencyKeyReused,
    /// Idempotency: the first request with this key is still running.
    IdempotencyInFlight,
    // ---- a dependency failed (upstream) ----
    Storage(sqlx::Error),
    // ---- a bug or broken invariant (internal; the message is logged, never shown) ----
    Internal(String),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        DomainError::Storage(e)
    }
}

impl From<SearchRefused> for DomainError {
    fn from(r: SearchRefused) -> Self {
        DomainError::UserSearch(r)
    }
}

impl From<ReceiveError> for DomainError {
    fn from(e: ReceiveError) -> Self {
        DomainError::Webhook(e)
    }
}

impl DomainError {
    pub fn internal(msg: impl Into<String>) -> Self {
        DomainError::Internal(msg.into())
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::NotFound(w) => write!(f, "{w:?} not found"),
            DomainError::AlreadyExists(w) => write!(f, "{w:?} already exists"),
            DomainError::InvalidName(w) => write!(f, "invalid {w:?} name"),
            DomainError::SeparationOfDuty { a, b } => {
                write!(f, "roles {a} and {b} are mutually exclusive")
            }
            DomainError::WeakPassword { reason } => write!(f, "password refused: {reason}"),
            DomainError::Webhook(e) => write!(f, "{e}"),
            DomainError::Storage(e) => write!(f, "storage: {e}"),
            DomainError::Internal(m) => write!(f, "internal: {m}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for DomainError {}
