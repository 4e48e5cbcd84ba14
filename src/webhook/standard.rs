//! Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64> [v1a,<b64> …]`
//! over `<id>.<timestamp>.<body>`; `v1` is HMAC-SHA256 with the decoded `whsec_` key, `v1a`
//! is Ed25519 with a configured `whpk_` public key (checked by the caller, see [`PendingEd25519`]).

use super::config::SecretKind;
use super::parse::{self, b64_strict, Macs, MAX_SIGNATURES, MAX_SIGNATURE_HEADER_LEN};
use super::{
    first_hmac_match, Checked, DeliveryId, Ed25519Verify, Matched, VerifiedWebhook, WebhookConfig,
    WebhookError, WebhookHeaders,
};
use crate::time::UnixMillis;

pub(crate) const ID: &str = "webhook-id";
pub(crate) const TIMESTAMP: &str = "webhook-timestamp";
pub(crate) const SIGNATURE: &str = "webhook-signature";
pub(crate) const HEADERS: &[&str] = &[ID, TIMESTAMP, SIGNATURE];

fn malformed(problem: &'static str) -> WebhookError {
    WebhookError::HeaderMalformed {
        header: SIGNATURE,
        problem,
    }
}

struct Signatures {
    v1: Macs,
    v1a: Vec<[u8; 64]>,
    any_accepted_scheme: bool,
}

fn parse_signatures(value: &str) -> Result<Signatures, WebhookError> {
    if value.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(malformed("longer than 4096 bytes"));
    }
    let mut s = Signatures {
        v1: Macs::new(),
        v1a: Vec::new(),
        any_accepted_scheme: false,
    };
    for (i, item) in value.split(' ').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(malformed("more than 16 signatures"));
        }
        let (version, b64) = item
            .split_once(',')
            .ok_or(malformed("an entry is not version,signature"))?;
        match version {
            "v1" => {
                s.any_accepted_scheme = true;
                let sig = b64_strict(b64).ok_or(malformed("a v1 signature is not base64"))?;
                if let Ok(sig) = <[u8; 32]>::try_from(sig) {
                    s.v1.push(sig);
                }
            }
            "v1a" => {
                s.any_accepted_scheme = true;
                let sig = b64_strict(b64).ok_or(malformed("a v1a signature is not base64"))?;
                if let Ok(sig) = <[u8; 64]>::try_from(sig) {
                    s.v1a.push(sig);
                }
            }
            "" => return Err(malformed("an entry has an empty version")),
            // Unknown versions are skipped, as the spec's libraries do.
            _ => {}
        }
    }
    Ok(s)
}

pub(crate) fn verify<'h>(
    cfg: &WebhookConfig,
    headers: &'h WebhookHeaders,
    body: &[u8],
    now: UnixMillis,
) -> Result<Checked<'h>, WebhookError> {
    let sig_value = headers
        .get(SIGNATURE)?
        .ok_or(WebhookError::SignatureMissing { header: SIGNATURE })?;
    let id = headers
        .get(ID)?
        .ok_or(WebhookError::HeaderMissing { header: ID })?;
    let ts_str = headers
        .get(TIMESTAMP)?
        .ok_or(WebhookError::HeaderMissing { header: TIMESTAMP })?;
    parse::delivery_id(ID, id, false)?;
    let ts = parse::timestamp(TIMESTAMP, ts_str)?;
    let sigs = parse_signatures(sig_value)?;
    if !sigs.any_accepted_scheme {
        return Err(WebhookError::NoAcceptedScheme { header: SIGNATURE });
    }
    parse::within_tolerance(ts, now, cfg.tolerance_secs)?;

    let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts_str.as_bytes(), b".", body];
    if let Some(i) = first_hmac_match(cfg, &parts, sigs.v1.as_slice()) {
        return Ok(Checked::Matched(Matched {
            provider: "standard",
            timestamp: Some(ts),
            secret_index: i,
            id: DeliveryId::Header(id),
        }));
    }
    let mut candidates = Vec::new();
    for (i, secret) in cfg.secrets.iter().enumerate() {
        if let SecretKind::Ed25519PublicKey(pk) = &secret.0 {
            for sig in &sigs.v1a {
                candidates.push(Ed25519Candidate {
                    secret_index: i,
                    public_key: *pk,
                    signature: *sig,
                });
            }
        }
    }
    if candidates.is_empty() {
        return Err(WebhookError::SignatureInvalid);
    }
    Ok(Checked::NeedsEd25519(PendingEd25519 {
        signed_content: parts.concat(),
        candidates,
        verified: VerifiedWebhook {
            provider: "standard",
            delivery_id: Some(id.to_owned()),
            timestamp: Some(ts),
            secret_index: usize::MAX,
        },
    }))
}

/// One (public key, signature) pair to check for a `v1a` delivery.
#[derive(Debug, Clone)]
pub struct Ed25519Candidate {
    /// Index of the key in [`WebhookConfig::secrets`].
    pub secret_index: usize,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

/// A Standard Webhooks delivery whose headers, timestamp and size passed and whose `v1a`
/// signatures remain to be checked, by WebCrypto in the Worker (async) or by an
/// [`Ed25519Verify`] implementation. It is not a [`VerifiedWebhook`] until one verifies.
#[derive(Debug)]
#[must_use = "a pending delivery is not verified"]
pub struct PendingEd25519 {
    signed_content: Vec<u8>,
    candidates: Vec<Ed25519Candidate>,
    verified: VerifiedWebhook,
}

impl PendingEd25519 {
    /// The exact bytes signed: `<webhook-id>.<webhook-timestamp>.<body>`.
    pub fn signed_content(&self) -> &[u8] {
        &self.signed_content
    }

    /// Every configured key × every well-formed `v1a` signature; any one verifying is enough.
    pub fn candidates(&self) -> &[Ed25519Candidate] {
        &self.candidates
    }

    /// Completes with the result of the caller's own checks: `Some(i)` if candidate `i`
    /// (an index into [`Self::candidates`]) verified over [`Self::signed_content`].
    pub fn finish(
        self,
        verified_candidate: Option<usize>,
    ) -> Result<VerifiedWebhook, WebhookError> {
        let c = verified_candidate
            .and_then(|i| self.candidates.get(i))
            .ok_or(WebhookError::SignatureInvalid)?;
        Ok(VerifiedWebhook {
            secret_index: c.secret_index,
            ..self.verified
        })
    }

    /// Checks the candidates synchronously with `verifier`.
    pub fn verify_with(
        self,
        verifier: &dyn Ed25519Verify,
    ) -> Result<VerifiedWebhook, WebhookError> {
        let hit = self
            .candidates
            .iter()
            .position(|c| verifier.verify(&c.public_key, &self.signed_content, &c.signature));
        self.finish(hit)
    }
}
