//! Stable reason ids: every denial carries one, in the JSON body and in the log line.
//!
//! The ids are part of the public contract (README lists them): never rename one, only add.

use core::fmt;

/// Why a request was not forwarded as-is. The HTTP mapping lives in [`crate::respond`] only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    // --- configuration (internal) ---
    ConfigInvalid,
    Internal,
    // --- request shape (downstream) ---
    PathInvalid,
    BodyTooLarge,
    // --- bearer tokens (downstream) ---
    TokenMissing,
    TokenMalformed,
    TokenTooLarge,
    TokenAlgorithmNotAllowed,
    TokenHeaderForbidden,
    TokenKeyUnknown,
    TokenSignatureInvalid,
    TokenExpired,
    TokenNotYetValid,
    TokenIssuedInFuture,
    TokenIssuerInvalid,
    TokenAudienceInvalid,
    TokenClaimsInvalid,
    TokenRevoked,
    // --- authorization ---
    InsufficientPermissions,
    StepUpRequired,
    // --- browsers ---
    CsrfOriginMismatch,
    CorsOriginRefused,
    // --- webhooks ---
    WebhookSignatureMissing,
    WebhookSignatureInvalid,
    WebhookHeaderMalformed,
    WebhookTimestampOutOfTolerance,
    WebhookBodyTooLarge,
    WebhookNotConfigured,
    // --- protection ---
    RateLimited,
    // --- dependencies (upstream) ---
    JwksUnavailable,
    OriginUnavailable,
    RevocationsUnavailable,
    RateLimiterUnavailable,
    RateLimitBindingUnavailable,
    // --- origin side ---
    EdgeSignatureInvalid,
}

/// Who is at fault: decides the status class and whether details may be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client's request is wrong (4xx).
    Downstream,
    /// A dependency failed (502/503).
    Upstream,
    /// Our own configuration or code (500).
    Internal,
}

impl Reason {
    /// Every reason, in declaration order (for docs and exhaustive tests).
    pub const ALL: &'static [Reason] = &[
        Reason::ConfigInvalid,
        Reason::Internal,
        Reason::PathInvalid,
        Reason::BodyTooLarge,
        Reason::TokenMissing,
        Reason::TokenMalformed,
        Reason::TokenTooLarge,
        Reason::TokenAlgorithmNotAllowed,
        Reason::TokenHeaderForbidden,
        Reason::TokenKeyUnknown,
        Reason::TokenSignatureInvalid,
        Reason::TokenExpired,
        Reason::TokenNotYetValid,
        Reason::TokenIssuedInFuture,
        Reason::TokenIssuerInvalid,
        Reason::TokenAudienceInvalid,
        Reason::TokenClaimsInvalid,
        Reason::TokenRevoked,
        Reason::InsufficientPermissions,
        Reason::StepUpRequired,
        Reason::CsrfOriginMismatch,
        Reason::CorsOriginRefused,
        Reason::WebhookSignatureMissing,
        Reason::WebhookSignatureInvalid,
        Reason::WebhookHeaderMalformed,
        Reason::WebhookTimestampOutOfTolerance,
        Reason::WebhookBodyTooLarge,
        Reason::WebhookNotConfigured,
        Reason::RateLimited,
        Reason::JwksUnavailable,
        Reason::OriginUnavailable,
        Reason::RevocationsUnavailable,
        Reason::RateLimiterUnavailable,
        Reason::RateLimitBindingUnavailable,
        Reason::EdgeSignatureInvalid,
    ];

    /// The stable id (snake_case) used in JSON bodies, logs and docs.
    pub const fn id(self) -> &'static str {
        match self {
            Reason::ConfigInvalid => "config_invalid",
            Reason::Internal => "internal_error",
            Reason::PathInvalid => "path_invalid",
            Reason::BodyTooLarge => "body_too_large",
            Reason::TokenMissing => "token_missing",
            Reason::TokenMalformed => "token_malformed",
            Reason::TokenTooLarge => "token_too_large",
            Reason::TokenAlgorithmNotAllowed => "token_algorithm_not_allowed",
            Reason::TokenHeaderForbidden => "token_header_forbidden",
            Reason::TokenKeyUnknown => "token_key_unknown",
            Reason::TokenSignatureInvalid => "token_signature_invalid",
            Reason::TokenExpired => "token_expired",
            Reason::TokenNotYetValid => "token_not_yet_valid",
            Reason::TokenIssuedInFuture => "token_issued_in_future",
            Reason::TokenIssuerInvalid => "token_issuer_invalid",
            Reason::TokenAudienceInvalid => "token_audience_invalid",
            Reason::TokenClaimsInvalid => "token_claims_invalid",
            Reason::TokenRevoked => "token_revoked",
            Reason::InsufficientPermissions => "insufficient_permissions",
            Reason::StepUpRequired => "step_up_required",
            Reason::CsrfOriginMismatch => "csrf_origin_mismatch",
            Reason::CorsOriginRefused => "cors_origin_refused",
            Reason::WebhookSignatureMissing => "webhook_signature_missing",
            Reason::WebhookSignatureInvalid => "webhook_signature_invalid",
            Reason::WebhookHeaderMalformed => "webhook_header_malformed",
            Reason::WebhookTimestampOutOfTolerance => "webhook_timestamp_out_of_tolerance",
            Reason::WebhookBodyTooLarge => "webhook_body_too_large",
            Reason::WebhookNotConfigured => "webhook_not_configured",
            Reason::RateLimited => "rate_limited",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::OriginUnavailable => "origin_unavailable",
            Reason::RevocationsUnavailable => "revocations_unavailable",
            Reason::RateLimiterUnavailable => "rate_limiter_unavailable",
            Reason::RateLimitBindingUnavailable => "rate_limit_binding_unavailable",
            Reason::EdgeSignatureInvalid => "edge_signature_invalid",
        }
    }

    pub const fn side(self) -> Side {
        match self {
            Reason::ConfigInvalid | Reason::Internal | Reason::WebhookNotConfigured => {
                Side::Internal
            }
            Reason::JwksUnavailable
            | Reason::OriginUnavailable
            | Reason::RevocationsUnavailable
            | Reason::RateLimiterUnavailable
            | Reason::RateLimitBindingUnavailable => Side::Upstream,
            _ => Side::Downstream,
        }
    }

    /// One sentence for operators and API clients; never contains request data.
    pub const fn description(self) -> &'static str {
        match self {
            Reason::ConfigInvalid => {
                "the edge configuration is invalid; the log names the variable"
            }
            Reason::Internal => "an internal error occurred",
            Reason::PathInvalid => {
                "the path has empty segments, dot segments, backslashes or encoded slashes"
            }
            Reason::BodyTooLarge => "the request body is larger than the edge reads on this route",
            Reason::TokenMissing => "no bearer token or session cookie was presented",
            Reason::TokenMalformed => "the token is not a well-formed compact JWS",
            Reason::TokenTooLarge => "the token exceeds the size limit",
            Reason::TokenAlgorithmNotAllowed => {
                "the token's alg is not the one pinned by its key (or is none/unknown)"
            }
            Reason::TokenHeaderForbidden => {
                "the token header carries crit/jku/x5u/jwk/x5c, which are never honoured"
            }
            Reason::TokenKeyUnknown => "no key of the issuer matches the token's kid",
            Reason::TokenSignatureInvalid => "the token signature does not verify",
            Reason::TokenExpired => "the token has expired",
            Reason::TokenNotYetValid => "the token is not valid yet (nbf)",
            Reason::TokenIssuedInFuture => "the token's iat is in the future",
            Reason::TokenIssuerInvalid => "the token's iss is not a configured issuer",
            Reason::TokenAudienceInvalid => "the token's aud contains no configured audience",
            Reason::TokenClaimsInvalid => "a required claim is missing or has the wrong type",
            Reason::TokenRevoked => "the token's session or user was revoked",
            Reason::InsufficientPermissions => "the token lacks a permission this route requires",
            Reason::StepUpRequired => {
                "the route requires a more recent or a stronger authentication"
            }
            Reason::CsrfOriginMismatch => {
                "a cross-site request with an unsafe method and no bearer token was refused (Origin / Sec-Fetch-Site)"
            }
            Reason::CorsOriginRefused => "the CORS preflight came from an origin not in CORS_ORIGINS",
            Reason::WebhookSignatureMissing => "the webhook signature header is missing",
            Reason::WebhookSignatureInvalid => {
                "the webhook signature does not verify with any configured secret"
            }
            Reason::WebhookHeaderMalformed => {
                "a webhook signature or timestamp header is malformed"
            }
            Reason::WebhookTimestampOutOfTolerance => {
                "the webhook timestamp is outside the tolerance window"
            }
            Reason::WebhookBodyTooLarge => "the webhook body exceeds the size limit",
            Reason::WebhookNotConfigured => {
                "this webhook route has no secret configured; the log names the variable"
            }
            Reason::RateLimited => "too many requests; retry after the indicated delay",
            Reason::JwksUnavailable => "no usable signing keys could be loaded for the issuer",
            Reason::OriginUnavailable => {
                "the origin is unavailable (circuit open, timeout or error)"
            }
            Reason::RevocationsUnavailable => "the revocation feed is stale on a strict route",
            Reason::RateLimiterUnavailable => {
                "the rate-limit Durable Object could not answer on a route whose rate_limiter failure policy is strict"
            }
            Reason::RateLimitBindingUnavailable => {
                "the Workers rate-limiting binding could not answer on a route whose rate_limit_binding failure policy is strict"
            }
            Reason::EdgeSignatureInvalid => "the identity envelope is missing, stale or invalid",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.id()), "duplicate id {}", r.id());
            assert!(
                r.id().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                r.id()
            );
        }
    }
}
