//! Why a delivery was refused; each variant maps to one stable [`Reason`].

use core::fmt;

use crate::reason::Reason;

/// A delivery failed verification. Structured for the log; never shown verbatim to the sender
/// (the response carries only [`WebhookError::reason`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// The body, or its declared `Content-Length`, is above the configured limit.
    BodyTooLarge { limit: u64, actual: u64 },
    /// The signature header is absent (for GitHub: even if the legacy SHA-1 header is present).
    SignatureMissing { header: &'static str },
    /// The signature header is present but holds no signature of a scheme we accept
    /// (Stripe `v0` only, Standard Webhooks `v2` only, ...): those are ignored, never enough.
    NoAcceptedScheme { header: &'static str },
    /// A required header other than the signature (id, timestamp, delivery id) is absent.
    HeaderMissing { header: &'static str },
    /// A header is present but not in the exact expected form.
    HeaderMalformed {
        header: &'static str,
        problem: &'static str,
    },
    /// The signed timestamp is further than the tolerance from `now`, in either direction.
    TimestampOutOfTolerance {
        timestamp: u64,
        now: u64,
        tolerance_secs: u64,
    },
    /// No signature verifies with any configured secret (includes truncated and empty ones).
    SignatureInvalid,
    /// [`super::verify`] met a delivery that only an Ed25519 check can decide: the caller must
    /// use [`super::prepare`] and an Ed25519 implementation. A wiring bug, not the sender's fault.
    Ed25519Required,
}

impl WebhookError {
    /// The stable reason id for the response body and the log line.
    pub const fn reason(&self) -> Reason {
        match self {
            WebhookError::BodyTooLarge { .. } => Reason::WebhookBodyTooLarge,
            WebhookError::SignatureMissing { .. } | WebhookError::NoAcceptedScheme { .. } => {
                Reason::WebhookSignatureMissing
            }
            WebhookError::HeaderMissing { .. } | WebhookError::HeaderMalformed { .. } => {
                Reason::WebhookHeaderMalformed
            }
            WebhookError::TimestampOutOfTolerance { .. } => Reason::WebhookTimestampOutOfTolerance,
            WebhookError::SignatureInvalid => Reason::WebhookSignatureInvalid,
            WebhookError::Ed25519Required => Reason::Internal,
        }
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::BodyTooLarge { limit, actual } => {
                write!(f, "body is {actual} bytes, the limit is {limit}")
            }
            WebhookError::SignatureMissing { header } => write!(f, "header {header} is missing"),
            WebhookError::NoAcceptedScheme { header } => {
                write!(
                    f,
                    "header {header} holds no signature of an accepted scheme"
                )
            }
            WebhookError::HeaderMissing { header } => write!(f, "header {header} is missing"),
            WebhookError::HeaderMalformed { header, problem } => {
                write!(f, "header {header} is malformed: {problem}")
            }
            WebhookError::TimestampOutOfTolerance {
                timestamp,
                now,
                tolerance_secs,
            } => write!(
                f,
                "timestamp {timestamp} is more than {tolerance_secs} s away from now ({now})"
            ),
            WebhookError::SignatureInvalid => {
                f.write_str("no signature verifies with a configured secret")
            }
            WebhookError::Ed25519Required => {
                f.write_str("the delivery needs an ed25519 check; call prepare, not verify")
            }
        }
    }
}

impl std::error::Error for WebhookError {}
