//! Webhook signature verification (Stripe, GitHub, Standard Webhooks) over the raw body bytes.
//!
//! Pure: no I/O, the clock passed in. The adapter copies only [`headers_needed`] across the
//! JS↔wasm boundary, refuses an oversize `Content-Length` with [`check_content_length`] before
//! reading the body, then calls [`verify`] (HMAC formats, synchronous) or, for configs holding
//! Ed25519 keys, [`prepare`] and checks the returned [`PendingEd25519`] with WebCrypto.
//! A [`VerifiedWebhook`] exists only once a signature verified inside the tolerance; its
//! delivery id then goes through the per-isolate [`ReplayWindow`].
//!
//! Order of checks (cheapest first, each with its own reason id): body size → signature header
//! present → headers well-formed → timestamp within tolerance → signatures (decoded, length
//! checked, compared in constant time by `Mac::verify_slice`).

mod config;
mod ed25519;
mod error;
mod github;
mod headers;
mod parse;
mod replay;
mod standard;
mod stripe;

use hmac::Mac;
use sha2::Sha256;

pub use config::{
    WebhookConfig, WebhookConfigError, WebhookSecret, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TOLERANCE_SECS, MIN_HMAC_SECRET_LEN, STANDARD_SECRET_MAX, STANDARD_SECRET_MIN,
};
#[cfg(not(target_arch = "wasm32"))]
pub use ed25519::DalekEd25519;
pub use ed25519::Ed25519Verify;
pub use error::WebhookError;
pub use headers::WebhookHeaders;
pub use replay::{ReplayStatus, ReplayWindow, DEFAULT_REPLAY_CAPACITY};
pub use standard::{Ed25519Candidate, PendingEd25519};

use crate::time::UnixMillis;
use config::SecretKind;

/// A signature format, with its stable id (config, logs, `X-Auth-Webhook-Provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// `stripe`
    Stripe,
    /// `github`
    GitHub,
    /// `standard` (standardwebhooks.com; Svix, and others)
    StandardWebhooks,
}

impl Provider {
    pub const ALL: [Provider; 3] = [
        Provider::Stripe,
        Provider::GitHub,
        Provider::StandardWebhooks,
    ];

    pub const fn id(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::GitHub => "github",
            Provider::StandardWebhooks => "standard",
        }
    }

    pub fn from_id(s: &str) -> Option<Self> {
        Provider::ALL.into_iter().find(|p| p.id() == s)
    }
}

/// A delivery whose signature verified with a configured secret inside the tolerance window.
/// Only this module can construct it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWebhook {
    pub(crate) provider: &'static str,
    pub(crate) delivery_id: Option<String>,
    pub(crate) timestamp: Option<u64>,
    pub(crate) secret_index: usize,
}

impl VerifiedWebhook {
    /// Stable provider id: `stripe`, `github`, `standard`.
    pub fn provider(&self) -> &'static str {
        self.provider
    }
    /// `webhook-id` (Standard), `X-GitHub-Delivery` (GitHub), the body's event id `evt_...`
    /// (Stripe, `None` if the verified body has no string `id`).
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }
    /// The signed timestamp (unix seconds), where the format has one.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }
    /// Which entry of [`WebhookConfig::secrets`] verified it (for rotation: is the old one still used?).
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }
}

/// `sha256:<hex>` of a verified body: the delivery id where the format signs none.
pub(crate) fn body_digest_id(body: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", crate::envelope::hex(&Sha256::digest(body)))
}

/// The outcome of [`prepare`].
#[derive(Debug)]
#[must_use]
pub enum Prepared {
    Verified(VerifiedWebhook),
    /// Only `v1a` (Ed25519) signatures can still verify it.
    NeedsEd25519(PendingEd25519),
}

/// The request headers (lowercase) a provider's verification reads; copy only these.
pub fn headers_needed(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Stripe => stripe::HEADERS,
        Provider::GitHub => github::HEADERS,
        Provider::StandardWebhooks => standard::HEADERS,
    }
}

/// Refuses a declared body length above the limit before any byte is read. `None` (chunked,
/// no `Content-Length`) passes: the adapter must then stop reading at `cfg.max_body_bytes + 1`,
/// and [`verify`] checks the bytes again.
pub fn check_content_length(
    cfg: &WebhookConfig,
    content_length: Option<u64>,
) -> Result<(), WebhookError> {
    match content_length {
        Some(n) if n > cfg.max_body_bytes => Err(WebhookError::BodyTooLarge {
            limit: cfg.max_body_bytes,
            actual: n,
        }),
        _ => Ok(()),
    }
}

/// Verifies a delivery with the configured HMAC secrets, synchronously. A Standard Webhooks
/// delivery that only an Ed25519 key could verify yields [`WebhookError::Ed25519Required`]:
/// use [`prepare`] for configs with `whpk_` keys.
pub fn verify(
    cfg: &WebhookConfig,
    headers: &WebhookHeaders,
    body: &[u8],
    now: UnixMillis,
) -> Result<VerifiedWebhook, WebhookError> {
    match prepare(cfg, headers, body, now)? {
        Prepared::Verified(v) => Ok(v),
        Prepared::NeedsEd25519(_) => Err(WebhookError::Ed25519Required),
    }
}

/// Like [`verify`], but a delivery left to Ed25519 comes back as [`Prepared::NeedsEd25519`]
/// for the caller to check (WebCrypto in the Worker, [`DalekEd25519`] natively).
pub fn prepare(
    cfg: &WebhookConfig,
    headers: &WebhookHeaders,
    body: &[u8],
    now: UnixMillis,
) -> Result<Prepared, WebhookError> {
    Ok(match check(cfg, headers, body, now)? {
        Checked::Matched(m) => Prepared::Verified(m.into_verified(body)),
        Checked::NeedsEd25519(p) => Prepared::NeedsEd25519(p),
    })
}

/// The signature half of [`verify`]: every header and timestamp check and the HMAC
/// comparison, but no delivery id is read (no body scan for Stripe's event id, no body
/// digest), so the result cannot stand for a delivery: it is not a [`VerifiedWebhook`].
pub fn verify_signature(
    cfg: &WebhookConfig,
    headers: &WebhookHeaders,
    body: &[u8],
    now: UnixMillis,
) -> Result<SignatureMatch, WebhookError> {
    match check(cfg, headers, body, now)? {
        Checked::Matched(m) => Ok(SignatureMatch {
            timestamp: m.timestamp,
            secret_index: m.secret_index,
        }),
        Checked::NeedsEd25519(_) => Err(WebhookError::Ed25519Required),
    }
}

/// An HMAC signature that verified inside the tolerance (see [`verify_signature`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureMatch {
    timestamp: Option<u64>,
    secret_index: usize,
}

impl SignatureMatch {
    /// The signed timestamp (unix seconds), where the format has one.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }
    /// Which entry of [`WebhookConfig::secrets`] verified it.
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }
}

fn check<'h>(
    cfg: &WebhookConfig,
    headers: &'h WebhookHeaders,
    body: &[u8],
    now: UnixMillis,
) -> Result<Checked<'h>, WebhookError> {
    check_content_length(cfg, Some(body.len() as u64))?;
    match cfg.provider {
        Provider::Stripe => stripe::verify(cfg, headers, body, now),
        Provider::GitHub => github::verify(cfg, headers, body, now),
        Provider::StandardWebhooks => standard::verify(cfg, headers, body, now),
    }
}

/// What a format's check found: a signature that verified, or one left to Ed25519.
enum Checked<'h> {
    Matched(Matched<'h>),
    NeedsEd25519(PendingEd25519),
}

/// A verified signature, before its delivery id is read.
struct Matched<'h> {
    provider: &'static str,
    timestamp: Option<u64>,
    secret_index: usize,
    id: DeliveryId<'h>,
}

/// Where a verified delivery's id comes from.
enum DeliveryId<'h> {
    /// A signed header (Standard Webhooks `webhook-id`).
    Header(&'h str),
    /// The body's top-level `id` (Stripe's `evt_...`), else the body digest.
    StripeEvent,
    /// `sha256:<hex>` of the body, where the format signs no id.
    BodyDigest,
}

impl Matched<'_> {
    fn into_verified(self, body: &[u8]) -> VerifiedWebhook {
        let delivery_id = match self.id {
            DeliveryId::Header(id) => id.to_owned(),
            DeliveryId::StripeEvent => {
                stripe::event_id(body).unwrap_or_else(|| body_digest_id(body))
            }
            DeliveryId::BodyDigest => body_digest_id(body),
        };
        VerifiedWebhook {
            provider: self.provider,
            delivery_id: Some(delivery_id),
            timestamp: self.timestamp,
            secret_index: self.secret_index,
        }
    }
}

/// [`prepare`] then, if needed, `ed25519` — a complete synchronous verification.
pub fn verify_with(
    cfg: &WebhookConfig,
    headers: &WebhookHeaders,
    body: &[u8],
    now: UnixMillis,
    ed25519: &dyn Ed25519Verify,
) -> Result<VerifiedWebhook, WebhookError> {
    match prepare(cfg, headers, body, now)? {
        Prepared::Verified(v) => Ok(v),
        Prepared::NeedsEd25519(p) => p.verify_with(ed25519),
    }
}

/// Index of the first HMAC secret whose HMAC-SHA256 over `parts` (concatenated) equals one of
/// `candidates`. The message is hashed once per secret, from the secret's pre-keyed state,
/// without copying it; each comparison is `verify_slice` (constant time).
fn first_hmac_match(
    cfg: &WebhookConfig,
    parts: &[&[u8]],
    candidates: &[[u8; 32]],
) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    cfg.secrets.iter().enumerate().find_map(|(i, s)| {
        let SecretKind::Hmac(key) = &s.0 else {
            return None;
        };
        let mut mac = key.mac();
        for p in parts {
            mac.update(p);
        }
        let matched = match candidates {
            // The usual case: one signature, compared without copying the MAC state.
            [only] => mac.verify_slice(only).is_ok(),
            many => many.iter().any(|c| mac.clone().verify_slice(c).is_ok()),
        };
        matched.then_some(i)
    })
}
