//! Webhook route configuration: provider, secrets (several at once for rotation), limits.
//!
//! JSON form (one object per webhook route):
//!
//! ```json
//! { "provider": "stripe" | "github" | "standard",
//!   "secrets": ["<secret>", "<next secret while rotating>"],
//!   "tolerance_secs": 300,
//!   "max_body_bytes": 1048576 }
//! ```
//!
//! * `stripe`, `github`: a secret is used as the HMAC key byte for byte (Stripe's `whsec_...`
//!   included), at least [`MIN_HMAC_SECRET_LEN`] bytes.
//! * `standard`: `whsec_<base64>` (padding optional), 24–64 bytes once decoded, or
//!   `whpk_<base64>`, a 32-byte Ed25519 public key for `v1a` signatures.

use core::fmt;
use core::str::FromStr;

use crate::json::{self, Kind, Node};

use super::parse::b64_secret;
use super::Provider;
use crate::secret::{HmacSha256Key, SecretBytes};

pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Stripe and GitHub impose no minimum; we refuse anything under 128 bits at load.
pub const MIN_HMAC_SECRET_LEN: usize = 16;
/// Standard Webhooks spec: the decoded `whsec_` key is 24 to 64 bytes.
pub const STANDARD_SECRET_MIN: usize = 24;
pub const STANDARD_SECRET_MAX: usize = 64;
/// Upper bounds that catch unit mistakes (milliseconds for seconds, MB for bytes).
pub const MAX_TOLERANCE_SECS: u64 = 3600;
pub const MAX_MAX_BODY_BYTES: u64 = 100 * 1024 * 1024;

/// One configured key. HMAC key material is wiped on drop and redacted in `Debug`.
#[derive(Clone)]
pub struct WebhookSecret(pub(crate) SecretKind);

#[derive(Clone)]
pub(crate) enum SecretKind {
    /// Keyed once here; the key bytes are wiped when the [`SecretBytes`] given is dropped.
    Hmac(HmacSha256Key),
    Ed25519PublicKey([u8; 32]),
}

impl WebhookSecret {
    /// An HMAC key given as bytes (no length policy here: [`Self::parse`] is the load-time path).
    pub fn hmac(key: SecretBytes) -> Self {
        WebhookSecret(SecretKind::Hmac(HmacSha256Key::new(&key)))
    }

    /// A Standard Webhooks `v1a` (Ed25519) public key.
    pub fn ed25519_public_key(key: [u8; 32]) -> Self {
        WebhookSecret(SecretKind::Ed25519PublicKey(key))
    }

    /// Parses one secret as written in config for `provider` (see the module docs).
    pub fn parse(provider: Provider, s: &str) -> Result<Self, WebhookConfigError> {
        let err = |problem: String| WebhookConfigError::new("secret", problem);
        if s.is_empty() {
            return Err(err("is empty".into()));
        }
        match provider {
            Provider::Stripe | Provider::GitHub => {
                if s.len() < MIN_HMAC_SECRET_LEN {
                    return Err(err(format!(
                        "is {} bytes, at least {MIN_HMAC_SECRET_LEN} are required",
                        s.len()
                    )));
                }
                Ok(Self::hmac(
                    SecretBytes::new(s.as_bytes().to_vec(), MIN_HMAC_SECRET_LEN)
                        .map_err(|e| err(e.to_string()))?,
                ))
            }
            Provider::StandardWebhooks => {
                if let Some(b64) = s.strip_prefix("whsec_") {
                    let key = b64_secret(b64)
                        .ok_or_else(|| err("is not valid base64 after whsec_".into()))?;
                    let n = key.len();
                    if !(STANDARD_SECRET_MIN..=STANDARD_SECRET_MAX).contains(&n) {
                        // SecretBytes wipes the refused bytes.
                        drop(SecretBytes::new(key, 0));
                        return Err(err(format!(
                            "decodes to {n} bytes, {STANDARD_SECRET_MIN} to {STANDARD_SECRET_MAX} are required"
                        )));
                    }
                    Ok(Self::hmac(
                        SecretBytes::new(key, STANDARD_SECRET_MIN)
                            .map_err(|e| err(e.to_string()))?,
                    ))
                } else if let Some(b64) = s.strip_prefix("whpk_") {
                    let key = b64_secret(b64)
                        .ok_or_else(|| err("is not valid base64 after whpk_".into()))?;
                    let key: [u8; 32] = key.try_into().map_err(|k: Vec<u8>| {
                        err(format!(
                            "decodes to {} bytes, an ed25519 public key is 32",
                            k.len()
                        ))
                    })?;
                    Ok(Self::ed25519_public_key(key))
                } else {
                    Err(err(
                        "must start with whsec_ (hmac secret) or whpk_ (ed25519 public key)".into(),
                    ))
                }
            }
        }
    }

    pub fn is_ed25519(&self) -> bool {
        matches!(self.0, SecretKind::Ed25519PublicKey(_))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            SecretKind::Hmac(k) => write!(f, "WebhookSecret::Hmac({k:?})"),
            SecretKind::Ed25519PublicKey(_) => f.write_str("WebhookSecret::Ed25519PublicKey(..)"),
        }
    }
}

/// A webhook route's verification settings, parsed once at load.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Which signature format the sender uses.
    pub provider: Provider,
    /// Every secret that may sign right now; any one verifying is enough (rotation: add the
    /// new one, let the sender switch, remove the old one).
    pub secrets: Vec<WebhookSecret>,
    /// Maximum distance between the signed timestamp and now, either way (default 300 s).
    /// GitHub has no timestamp: there it only sets how long delivery ids are remembered.
    pub tolerance_secs: u64,
    /// Largest body accepted (default 1 MiB); checked on `Content-Length` before reading.
    pub max_body_bytes: u64,
    /// Answer repeats inside the window at the edge (default on). Off, every verified delivery is
    /// forwarded and the origin's unique (provider, event id) store alone dedupes them.
    pub replay_window: bool,
}

impl WebhookConfig {
    /// A config with the default tolerance and body limit.
    pub fn new(provider: Provider, secrets: Vec<WebhookSecret>) -> Self {
        WebhookConfig {
            provider,
            secrets,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            replay_window: true,
        }
    }

    pub fn has_ed25519_keys(&self) -> bool {
        self.secrets.iter().any(WebhookSecret::is_ed25519)
    }

    /// Parses the JSON form (see the module docs).
    pub fn from_json(s: &str) -> Result<Self, WebhookConfigError> {
        let obj = json::parse(s.as_bytes())
            .map_err(|e| WebhookConfigError::new("webhook", format!("is not valid json: {e}")))?;
        if obj.kind() != Kind::Object {
            return Err(WebhookConfigError::new("webhook", "must be a json object"));
        }
        const FIELDS: &[&str] = &[
            "provider",
            "secrets",
            "tolerance_secs",
            "max_body_bytes",
            "replay_window",
        ];
        if let Some(k) = obj.unknown_member(FIELDS) {
            return Err(WebhookConfigError::new(
                k,
                format!("is not a known field ({})", FIELDS.join(", ")),
            ));
        }
        let provider = match obj.get("provider") {
            None => return Err(WebhookConfigError::new("provider", "is required")),
            Some(v) => match v.as_str() {
                Some(s) => Provider::from_id(&s).ok_or_else(|| {
                    WebhookConfigError::new(
                        "provider",
                        format!("{s:?} is not one of stripe, github, standard"),
                    )
                })?,
                None => return Err(WebhookConfigError::new("provider", "must be a string")),
            },
        };
        let list = match obj.get("secrets").map(|v| (v, v.items())) {
            None => return Err(WebhookConfigError::new("secrets", "is required")),
            Some((_, Some(a))) => a,
            Some((_, None)) => {
                return Err(WebhookConfigError::new(
                    "secrets",
                    "must be an array of strings",
                ))
            }
        };
        let mut secrets = Vec::new();
        for (i, s) in list.enumerate() {
            let field = crate::text::indexed("secrets", i);
            let s = s
                .as_str()
                .ok_or_else(|| WebhookConfigError::new(field.clone(), "must be a string"))?;
            let secret = WebhookSecret::parse(provider, &s).map_err(|e| e.in_field(field))?;
            secrets.push(secret);
        }
        if secrets.is_empty() {
            return Err(WebhookConfigError::new(
                "secrets",
                "is empty; at least one secret is required",
            ));
        }
        let tolerance_secs = uint_field(obj.get("tolerance_secs"), "tolerance_secs")?
            .unwrap_or(DEFAULT_TOLERANCE_SECS);
        if tolerance_secs == 0 || tolerance_secs > MAX_TOLERANCE_SECS {
            return Err(WebhookConfigError::new(
                "tolerance_secs",
                format!("is {tolerance_secs}, must be 1 to {MAX_TOLERANCE_SECS} (seconds)"),
            ));
        }
        let max_body_bytes = uint_field(obj.get("max_body_bytes"), "max_body_bytes")?
            .unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes == 0 || max_body_bytes > MAX_MAX_BODY_BYTES {
            return Err(WebhookConfigError::new(
                "max_body_bytes",
                format!("is {max_body_bytes}, must be 1 to {MAX_MAX_BODY_BYTES}"),
            ));
        }
        let replay_window = match obj.get("replay_window").map(Node::as_bool) {
            None => true,
            Some(Some(b)) => b,
            Some(None) => {
                return Err(WebhookConfigError::new(
                    "replay_window",
                    "must be true or false",
                ))
            }
        };
        Ok(WebhookConfig {
            provider,
            secrets,
            tolerance_secs,
            max_body_bytes,
            replay_window,
        })
    }
}

impl FromStr for WebhookConfig {
    type Err = WebhookConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_json(s)
    }
}

fn uint_field(v: Option<Node<'_>>, field: &'static str) -> Result<Option<u64>, WebhookConfigError> {
    match v {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| WebhookConfigError::new(field, "must be a non-negative integer")),
    }
}

/// A webhook config was refused: which field, and what is wrong with it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookConfigError {
    /// The JSON field, e.g. `secrets[1]`.
    pub field: String,
    pub problem: String,
}

impl WebhookConfigError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        WebhookConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn in_field(mut self, field: String) -> Self {
        self.field = field;
        self
    }

    /// Prefixes the field path, for configs embedded in a larger one (`routes[2].webhook`).
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

impl fmt::Display for WebhookConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "webhook config: {} {}", self.field, self.problem)
    }
}

impl std::error::Error for WebhookConfigError {}
