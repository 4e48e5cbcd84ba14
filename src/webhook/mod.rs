//! Webhook signature verification (Stripe, GitHub, Standard Webhooks) over the raw body bytes.
//!
//! (Skeleton: the webhook work fills in the formats, secrets and replay window.)

/// A delivery whose signature verified with a configured secret inside the tolerance window.
/// Only this module can construct it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWebhook {
    pub(crate) provider: &'static str,
    pub(crate) delivery_id: Option<String>,
    pub(crate) timestamp: Option<u64>,
}

impl VerifiedWebhook {
    /// Stable provider id: `stripe`, `github`, `standard`.
    pub fn provider(&self) -> &'static str {
        self.provider
    }
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }
    /// The signed timestamp (unix seconds), where the format has one.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }
}
