//! The one application error type and its single HTTP mapping: RFC 9457 problem+json. The
//! domain's errors get their status and stable reason id here, and only here.
//!
//! Downstream errors (the client's fault) carry a stable reason id; upstream/internal details
//! go to the log, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::error::{DomainError, RefreshRefused, SearchRefused, SocialRefused, What};
use crate::domain::webhooks::ReceiveError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A client-facing failure: status + stable reason id (+ optional safe detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub id: &'static str,
    pub detail: Option<String>,
    pub retry_after: Option<u64>,
    /// A `WWW-Authenticate` challenge (RFC 9470 step-up).
    pub www_authenticate: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, id: &'static str) -> Self {
        Problem {
            status,
            id,
            detail: None,
            retry_after: None,
            www_authenticate: None,
        }
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    pub fn www_authenticate(mut self, v: impl Into<String>) -> Self {
        self.www_authenticate = Some(v.into());
        self
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// Everything a handler can fail with; `?` works on database errors.
#[derive(Debug)]
pub enum AppError {
    /// Downstream: the request is wrong or not allowed.
    Problem(Problem),
    /// Upstream: the database failed.
    Db(sqlx::Error),
    /// Internal: a bug or broken invariant (message is logged only).
    Internal(String),
}

impl From<Problem> for AppError {
    fn from(p: Problem) -> Self {
        AppError::Problem(p)
    }
}
impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Db(e)
    }
}

pub type AppResult<T> = Result<T, AppError>;

fn not_found_id(w: What) -> &'static str {
    match w {
        What::User | What::Email => "user_not_found",
        What::Role => "role_not_found",
        What::Permission => "permission_not_found",
        What::Session => "session_not_found",
        What::SodPair => "sod_pair_not_found",
        What::WebhookEvent => "webhook_event_not_found",
        What::Subscription => "subscription_not_found",
        What::Passkey => "passkey_not_found",
    }
}

fn exists_id(w: What) -> &'static str {
    match w {
        What::Email => "email_taken",
        What::Role => "role_exists",
        What::Permission => "permission_exists",
        What::User => "user_exists",
        What::Session => "session_exists",
        What::SodPair => "sod_pair_exists",
        What::WebhookEvent => "webhook_event_exists",
        What::Subscription => "subscription_exists",
        What::Passkey => "passkey_already_registered",
    }
}

/// The reason id of each social refusal, with its status.
pub fn social_problem(r: SocialRefused) -> Problem {
    use SocialRefused as R;
    use StatusCode as S;
    let (status, id) = match r {
        R::ProviderUnknown => (S::NOT_FOUND, "oauth_provider_unknown"),
        R::NextInvalid => (S::BAD_REQUEST, "oauth_next_invalid"),
        R::FlowMissing => (S::BAD_REQUEST, "oauth_flow_missing"),
        R::StateInvalid => (S::BAD_REQUEST, "oauth_state_invalid"),
        R::StateReplayed => (S::BAD_REQUEST, "oauth_state_replayed"),
        R::IssuerMismatch => (S::BAD_REQUEST, "oauth_issuer_mismatch"),
        R::ProviderDenied => (S::FORBIDDEN, "oauth_provider_denied"),
        R::CodeMissing => (S::BAD_REQUEST, "oauth_code_missing"),
        R::CodeRejected => (S::BAD_REQUEST, "oauth_code_rejected"),
        R::IdTokenMissing => (S::BAD_GATEWAY, "id_token_missing"),
        R::IdTokenSignatureInvalid => (S::BAD_REQUEST, "id_token_signature_invalid"),
        R::IdTokenNonceMismatch => (S::BAD_REQUEST, "id_token_nonce_mismatch"),
        R::IdTokenAudienceInvalid => (S::BAD_REQUEST, "id_token_audience_invalid"),
        R::IdTokenIssuerInvalid => (S::BAD_REQUEST, "id_token_issuer_invalid"),
        R::IdTokenExpired => (S::BAD_REQUEST, "id_token_expired"),
        R::IdTokenInvalid => (S::BAD_REQUEST, "id_token_invalid"),
        R::ProfileInvalid => (S::BAD_GATEWAY, "oauth_profile_invalid"),
        R::EmailUnverified => (S::FORBIDDEN, "email_unverified"),
        R::AccountExists => (S::CONFLICT, "account_exists_link_required"),
        R::IdentityLinkedElsewhere => (S::CONFLICT, "identity_linked_elsewhere"),
        R::ProviderAlreadyLinked => (S::CONFLICT, "provider_already_linked"),
        R::IdentityNotFound => (S::NOT_FOUND, "identity_not_found"),
    };
    Problem::new(status, id)
}

fn receive_problem(e: &ReceiveError) -> Problem {
    let (status, id) = match e {
        ReceiveError::UnknownProvider => (StatusCode::NOT_FOUND, "webhook_provider_unknown"),
        ReceiveError::EventIdMissing => {
            (StatusCode::UNPROCESSABLE_ENTITY, "webhook_event_id_missing")
        }
        ReceiveError::EventIdInvalid => {
            (StatusCode::UNPROCESSABLE_ENTITY, "webhook_event_id_invalid")
        }
        ReceiveError::BodyNotJson => (StatusCode::BAD_REQUEST, "webhook_body_not_json"),
        ReceiveError::EventTypeMissing => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_event_type_missing",
        ),
        ReceiveError::EventTypeInvalid => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_event_type_invalid",
        ),
    };
    Problem::new(status, id).detail(e.to_string())
}

/// The one place a domain refusal becomes a status and a stable reason id.
impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        use StatusCode as S;
        let p = |status, id| Problem::new(status, id);
        AppError::Problem(match e {
            DomainError::Social(r) => social_problem(r),
            DomainError::LastLoginMethod => p(S::CONFLICT, "last_login_method")
                .detail("this is the last way to sign in to the account: add another first"),
            DomainError::ProviderUnavailable { provider } => {
                p(S::SERVICE_UNAVAILABLE, "provider_unavailable")
                    .detail(format!("{provider} sign-in is unavailable"))
                    .retry_after(30)
            }
            DomainError::PermissionMissing { .. } => p(S::FORBIDDEN, "insufficient_permissions"),
            DomainError::NotFound(w) => p(S::NOT_FOUND, not_found_id(w)),
            DomainError::AlreadyExists(w) => p(S::CONFLICT, exists_id(w)),
            DomainError::InvalidName(What::Permission) => {
                p(S::UNPROCESSABLE_ENTITY, "invalid_permission_name")
            }
            DomainError::InvalidName(_) => p(S::UNPROCESSABLE_ENTITY, "invalid_role_name"),
            DomainError::ParentRoleNotFound => p(S::UNPROCESSABLE_ENTITY, "parent_role_not_found"),
            DomainError::RoleCycle => p(S::CONFLICT, "role_cycle"),
            DomainError::RoleProtected => p(S::CONFLICT, "role_protected"),
            DomainError::SodSameRole => p(S::UNPROCESSABLE_ENTITY, "sod_same_role"),
            DomainError::SeparationOfDuty { a, b } => p(S::CONFLICT, "separation_of_duty")
                .detail(format!("roles {a} and {b} are mutually exclusive")),
            DomainError::InvalidEmail => p(S::UNPROCESSABLE_ENTITY, "invalid_email"),
            DomainError::WeakPassword { reason } => p(S::UNPROCESSABLE_ENTITY, reason),
            DomainError::InvalidCredentials => p(S::UNAUTHORIZED, "invalid_credentials"),
            DomainError::LoginThrottled { retry_after_secs } => {
                p(S::TOO_MANY_REQUESTS, "login_throttled").retry_after(retry_after_secs)
            }
            DomainError::AccountDisabled => p(S::FORBIDDEN, "account_disabled"),
            DomainError::TotpAlreadyEnabled => p(S::CONFLICT, "totp_already_enabled"),
            DomainError::TotpNotEnrolled => p(S::CONFLICT, "totp_not_enrolled"),
            DomainError::TotpNotEnabled => p(S::CONFLICT, "totp_not_enabled"),
            DomainError::InvalidOtp => p(S::UNAUTHORIZED, "invalid_otp"),
            DomainError::OtpRequired => p(S::UNAUTHORIZED, "otp_required"),
            DomainError::OtpAlreadyUsed => p(S::UNAUTHORIZED, "otp_already_used"),
            DomainError::MfaChallengeInvalid => p(S::UNAUTHORIZED, "mfa_challenge_invalid"),
            DomainError::PasskeysNotConfigured => {
                p(S::SERVICE_UNAVAILABLE, "passkeys_not_configured")
            }
            DomainError::PasskeyChallengeInvalid => p(S::BAD_REQUEST, "passkey_challenge_invalid"),
            DomainError::PasskeyInvalid => p(S::UNAUTHORIZED, "passkey_invalid"),
            DomainError::NoPasskeys => p(S::CONFLICT, "no_passkeys"),
            DomainError::PasskeyLimitReached => p(S::CONFLICT, "passkey_limit_reached"),
            DomainError::InvalidPasskeyName => p(S::UNPROCESSABLE_ENTITY, "invalid_passkey_name"),
            DomainError::ResetTokenInvalid => p(S::BAD_REQUEST, "reset_token_invalid"),
            DomainError::VerificationTokenInvalid => {
                p(S::BAD_REQUEST, "verification_token_invalid")
            }
            DomainError::EmailAlreadyVerified => p(S::CONFLICT, "email_already_verified"),
            DomainError::CurrentPasswordWrong => p(S::UNAUTHORIZED, "current_password_wrong"),
            DomainError::MailNotConfigured => p(S::SERVICE_UNAVAILABLE, "mail_not_configured"),
            DomainError::MailUnavailable => {
                p(S::SERVICE_UNAVAILABLE, "mail_unavailable").retry_after(30)
            }
            // RFC 9470: the same challenge the edge answers for `require_fresh_auth` routes.
            DomainError::StepUpRequired { max_age_secs } => {
                p(S::UNAUTHORIZED, "insufficient_user_authentication").www_authenticate(format!(
                    "Bearer error=\"insufficient_user_authentication\", \
                     error_description=\"A more recent authentication is required\", \
                     max_age={max_age_secs}"
                ))
            }
            // A refresh is refused with 401 whatever the reason: the client must sign in again.
            DomainError::Refresh(r) => p(
                S::UNAUTHORIZED,
                match r {
                    RefreshRefused::Invalid => "invalid_refresh_token",
                    RefreshRefused::SessionRevoked => "session_revoked",
                    RefreshRefused::Reused => "refresh_token_reused",
                    RefreshRefused::Expired => "refresh_token_expired",
                    RefreshRefused::Idle => "session_idle_timeout",
                    RefreshRefused::AccountDisabled => "account_disabled",
                },
            ),
            DomainError::UserSearch(r) => match r {
                SearchRefused::Query => p(S::BAD_REQUEST, "invalid_query")
                    .detail("q: at most 254 characters, no control characters"),
                SearchRefused::Cursor => p(S::BAD_REQUEST, "invalid_cursor")
                    .detail("after: the next_after of the previous page"),
                SearchRefused::Limit => p(S::BAD_REQUEST, "invalid_limit").detail("limit: 1..100"),
            },
            DomainError::WebhookNotRequeueable => p(S::CONFLICT, "webhook_event_not_requeueable")
                .detail("only a dead or failed (retry) event that is not running can be re-queued"),
            DomainError::Webhook(e) => receive_problem(&e),
            DomainError::IdempotencyKeyReused => {
                p(S::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            DomainError::IdempotencyInFlight => p(S::CONFLICT, "idempotency_request_in_progress"),
            DomainError::Storage(e) => return AppError::Db(e),
            DomainError::Internal(m) => return AppError::Internal(m),
        })
    }
}

impl From<ReceiveError> for AppError {
    fn from(e: ReceiveError) -> Self {
        AppError::Problem(receive_problem(&e))
    }
}

pub fn bad_request(id: &'static str) -> AppError {
    Problem::new(StatusCode::BAD_REQUEST, id).into()
}
pub fn unprocessable(id: &'static str) -> AppError {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, id).into()
}
pub fn conflict(id: &'static str) -> AppError {
    Problem::new(StatusCode::CONFLICT, id).into()
}
pub fn not_found(id: &'static str) -> AppError {
    Problem::new(StatusCode::NOT_FOUND, id).into()
}
pub fn unauthorized(id: &'static str) -> AppError {
    Problem::new(StatusCode::UNAUTHORIZED, id).into()
}
pub fn forbidden(id: &'static str) -> AppError {
    Problem::new(StatusCode::FORBIDDEN, id).into()
}
pub fn internal(msg: impl Into<String>) -> AppError {
    AppError::Internal(msg.into())
}

fn title(id: &str) -> String {
    let mut t = id.replace('_', " ");
    if let Some(f) = t.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    t
}

pub fn problem_response(p: &Problem) -> Response {
    let mut body = serde_json::json!({
        "type": format!("urn:edge-auth:problem:{}", p.id),
        "title": title(p.id),
        "status": p.status.as_u16(),
        "error": p.id,
    });
    if let Some(d) = &p.detail {
        body["detail"] = serde_json::Value::String(d.clone());
    }
    let mut res = (p.status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = p
        .www_authenticate
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    if let Some(s) = p.retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Problem(p) => problem_response(&p),
            AppError::Db(e) => {
                let busy = matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_));
                tracing::error!(side = "upstream", error = %e, "database error");
                if busy {
                    problem_response(
                        &Problem::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
                            .retry_after(1),
                    )
                } else {
                    problem_response(&Problem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                    ))
                }
            }
            AppError::Internal(m) => {
                tracing::error!(side = "internal", error = %m, "internal error");
                problem_response(&Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stable reason ids clients and the edge rely on, one row per domain refusal.
    #[test]
    fn each_domain_refusal_keeps_its_status_and_reason_id() {
        let cases: Vec<(DomainError, u16, &str)> = vec![
            (
                DomainError::PermissionMissing {
                    permission: "rbac:admin",
                },
                403,
                "insufficient_permissions",
            ),
            (DomainError::NotFound(What::User), 404, "user_not_found"),
            (DomainError::NotFound(What::Role), 404, "role_not_found"),
            (
                DomainError::NotFound(What::Permission),
                404,
                "permission_not_found",
            ),
            (
                DomainError::NotFound(What::Session),
                404,
                "session_not_found",
            ),
            (
                DomainError::NotFound(What::SodPair),
                404,
                "sod_pair_not_found",
            ),
            (
                DomainError::NotFound(What::WebhookEvent),
                404,
                "webhook_event_not_found",
            ),
            (
                DomainError::NotFound(What::Subscription),
                404,
                "subscription_not_found",
            ),
            (DomainError::AlreadyExists(What::Email), 409, "email_taken"),
            (DomainError::AlreadyExists(What::Role), 409, "role_exists"),
            (
                DomainError::AlreadyExists(What::Permission),
                409,
                "permission_exists",
            ),
            (
                DomainError::InvalidName(What::Role),
                422,
                "invalid_role_name",
            ),
            (
                DomainError::InvalidName(What::Permission),
                422,
                "invalid_permission_name",
            ),
            (
                DomainError::ParentRoleNotFound,
                422,
                "parent_role_not_found",
            ),
            (DomainError::RoleCycle, 409, "role_cycle"),
            (DomainError::RoleProtected, 409, "role_protected"),
            (DomainError::SodSameRole, 422, "sod_same_role"),
            (
                DomainError::SeparationOfDuty {
                    a: "a".into(),
                    b: "b".into(),
                },
                409,
                "separation_of_duty",
            ),
            (DomainError::InvalidEmail, 422, "invalid_email"),
            (
                DomainError::WeakPassword {
                    reason: "password_too_short",
                },
                422,
                "password_too_short",
            ),
            (DomainError::InvalidCredentials, 401, "invalid_credentials"),
            (
                DomainError::LoginThrottled {
                    retry_after_secs: 2,
                },
                429,
                "login_throttled",
            ),
            (DomainError::AccountDisabled, 403, "account_disabled"),
            (
                DomainError::StepUpRequired { max_age_secs: 300 },
                401,
                "insufficient_user_authentication",
            ),
            (DomainError::TotpAlreadyEnabled, 409, "totp_already_enabled"),
            (DomainError::TotpNotEnrolled, 409, "totp_not_enrolled"),
            (DomainError::TotpNotEnabled, 409, "totp_not_enabled"),
            (DomainError::InvalidOtp, 401, "invalid_otp"),
            (DomainError::OtpRequired, 401, "otp_required"),
            (DomainError::ResetTokenInvalid, 400, "reset_token_invalid"),
            (
                DomainError::PasskeysNotConfigured,
                503,
                "passkeys_not_configured",
            ),
            (
                DomainError::PasskeyChallengeInvalid,
                400,
                "passkey_challenge_invalid",
            ),
            (DomainError::PasskeyInvalid, 401, "passkey_invalid"),
            (DomainError::NoPasskeys, 409, "no_passkeys"),
            (
                DomainError::PasskeyLimitReached,
                409,
                "passkey_limit_reached",
            ),
            (DomainError::InvalidPasskeyName, 422, "invalid_passkey_name"),
            (
                DomainError::NotFound(What::Passkey),
                404,
                "passkey_not_found",
            ),
            (
                DomainError::AlreadyExists(What::Passkey),
                409,
                "passkey_already_registered",
            ),
            (
                DomainError::VerificationTokenInvalid,
                400,
                "verification_token_invalid",
            ),
            (
                DomainError::EmailAlreadyVerified,
                409,
                "email_already_verified",
            ),
            (
                DomainError::CurrentPasswordWrong,
                401,
                "current_password_wrong",
            ),
            (DomainError::MailNotConfigured, 503, "mail_not_configured"),
            (DomainError::LastLoginMethod, 409, "last_login_method"),
            (
                DomainError::ProviderUnavailable { provider: "Google" },
                503,
                "provider_unavailable",
            ),
            (
                DomainError::Social(SocialRefused::StateReplayed),
                400,
                "oauth_state_replayed",
            ),
            (
                DomainError::Social(SocialRefused::AccountExists),
                409,
                "account_exists_link_required",
            ),
            (DomainError::MailUnavailable, 503, "mail_unavailable"),
            (DomainError::OtpAlreadyUsed, 401, "otp_already_used"),
            (
                DomainError::MfaChallengeInvalid,
                401,
                "mfa_challenge_invalid",
            ),
            (
                DomainError::Refresh(RefreshRefused::Invalid),
                401,
                "invalid_refresh_token",
            ),
            (
                DomainError::Refresh(RefreshRefused::SessionRevoked),
                401,
                "session_revoked",
            ),
            (
                DomainError::Refresh(RefreshRefused::Reused),
                401,
                "refresh_token_reused",
            ),
            (
                DomainError::Refresh(RefreshRefused::Expired),
                401,
                "refresh_token_expired",
            ),
            (
                DomainError::Refresh(RefreshRefused::Idle),
                401,
                "session_idle_timeout",
            ),
            (
                DomainError::Refresh(RefreshRefused::AccountDisabled),
                401,
                "account_disabled",
            ),
            (
                DomainError::UserSearch(SearchRefused::Limit),
                400,
                "invalid_limit",
            ),
            (
                DomainError::WebhookNotRequeueable,
                409,
                "webhook_event_not_requeueable",
            ),
            (
                DomainError::Webhook(ReceiveError::UnknownProvider),
                404,
                "webhook_provider_unknown",
            ),
            (
                DomainError::Webhook(ReceiveError::BodyNotJson),
                400,
                "webhook_body_not_json",
            ),
            (
                DomainError::IdempotencyKeyReused,
                422,
                "idempotency_key_reused",
            ),
            (
                DomainError::IdempotencyInFlight,
                409,
                "idempotency_request_in_progress",
            ),
        ];
        for (e, status, id) in cases {
            let shown = format!("{e:?}");
            match AppError::from(e) {
                AppError::Problem(p) => {
                    assert_eq!((p.status.as_u16(), p.id), (status, id), "{shown}")
                }
                other => panic!("{shown} became {other:?}"),
            }
        }
        assert!(matches!(
            AppError::from(DomainError::Storage(sqlx::Error::PoolTimedOut)),
            AppError::Db(_)
        ));
        assert!(matches!(
            AppError::from(DomainError::internal("bug")),
            AppError::Internal(_)
        ));
        // The throttle's wait reaches the client as Retry-After.
        let AppError::Problem(p) = AppError::from(DomainError::LoginThrottled {
            retry_after_secs: 7,
        }) else {
            unreachable!()
        };
        assert_eq!(p.retry_after, Some(7));
    }
}
