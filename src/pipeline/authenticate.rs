//! The authenticate stage: who is calling. A bearer token (the decision cache first, then a
//! strict parse, the issuer's keys — inline or from its JWKS cache —, HMAC checked here, other
//! algorithms handed to WebCrypto), or a webhook delivery (its body and signed headers, HMAC
//! here, Ed25519 handed to WebCrypto, then the replay window). It never returns an identity
//! built from unverified input: only `VerifiedClaims` / `VerifiedWebhook` come out.

use std::sync::Arc;

use crate::config::{EdgeConfig, KeySource};
use crate::decision_cache::{Lookup, TokenKey};
use crate::jwt::{
    self, AwaitingSignature, HmacVerifier, JwtError, KeyMaterial, SignatureVerdict, TimeOptions,
    UntrustedToken, Validation,
};
use crate::policy::{Dependency, FailurePolicy};
use crate::reason::Reason;
use crate::request_fields::Header;
use crate::time::UnixMillis;
use crate::webhook::{
    self, PendingEd25519, Prepared, VerifiedWebhook, WebhookConfig, WebhookError, WebhookHeaders,
};

use super::isolate::Isolate;
use super::request::{extract_token, Denial, Incoming};
use super::trace::CacheUse;

/// An asymmetric signature for WebCrypto to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureJob {
    /// The id the JS side caches the imported key under: the key's fingerprint in hex.
    pub key_id: String,
    /// The JWS algorithm, by the names `glue.js`'s parameter table uses.
    pub alg: &'static str,
    pub signing_input: String,
    pub signature_b64url: String,
}

/// A public key for WebCrypto's `importKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyImport {
    /// `raw` format: the key bytes, base64url.
    Raw { alg: &'static str, b64url: String },
    /// `jwk` format: a JWK object as JSON.
    Jwk { alg: &'static str, json: String },
}

/// Why a JWKS fetch is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwksWait {
    /// The issuer has no usable keys at all.
    NoKeys,
    /// The token names a `kid` the cached keys lack (perhaps a rotated key).
    UnknownKid,
}

/// What a look at a token found. Lives for one call (moved into the pipeline's stage right
/// away), so the large `Signature` variant is not boxed: boxing would cost an allocation per
/// asymmetric token on the hot path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum TokenLook {
    Claims(jwt::VerifiedClaims),
    Denied(Denial),
    /// WebCrypto must check the signature; [`finish_signature`] completes the validation.
    Signature {
        job: SignatureJob,
        awaiting: AwaitingSignature,
        issuer_at: usize,
    },
    /// The issuer's JWKS must be fetched first; then the token is looked at again.
    Jwks {
        issuer: String,
        url: String,
        wait: JwksWait,
    },
    /// The issuer's JWKS failed (no usable key set): the route's `jwks` failure policy decides;
    /// `denial` is the strict answer (503 `jwks_unavailable` with the cache's retry time).
    KeysUnavailable {
        issuer: String,
        denial: Denial,
    },
}

/// The token the request presents (header first, then the session cookie), size-checked.
pub(crate) fn token_of<'r>(cfg: &EdgeConfig, req: &'r Incoming) -> Result<&'r str, Denial> {
    let (token, _source) = extract_token(
        req.header(Header::Authorization),
        req.header(Header::Cookie),
        &cfg.session_cookie,
    )?;
    if token.len() > cfg.max_token_bytes {
        return Err(Reason::TokenTooLarge.into());
    }
    Ok(token)
}

/// First look at a request's token: the decision cache, then validation. Immediate outcomes
/// are recorded in the cache here; a deferred one is recorded by [`finish_signature`].
pub(crate) fn authenticate_token(
    iso: &mut Isolate,
    cfg: &EdgeConfig,
    req: &Incoming,
    now: UnixMillis,
    cache: &mut CacheUse,
    cache_missed: &mut bool,
    jwks_open: Option<&str>,
) -> TokenLook {
    let token = match token_of(cfg, req) {
        Ok(t) => t,
        Err(d) => return TokenLook::Denied(d),
    };
    let key = iso.cache_key(token);
    if let Some(k) = &key {
        match iso.cache_get(k, now) {
            Lookup::Hit(c) => {
                *cache = CacheUse::Hit;
                return TokenLook::Claims(c.clone());
            }
            Lookup::Negative(reason) => {
                *cache = CacheUse::Negative;
                return TokenLook::Denied(reason.into());
            }
            Lookup::Miss => {}
        }
    }
    *cache = CacheUse::Miss;
    *cache_missed = key.is_some();
    let look = validate(iso, cfg, token, now, None, jwks_open);
    record(iso, &look, key.as_ref(), now);
    look
}

/// A look after a JWKS fetch (`wait` says which).
pub(crate) fn after_jwks(
    iso: &mut Isolate,
    cfg: &EdgeConfig,
    req: &Incoming,
    now: UnixMillis,
    wait: JwksWait,
    cache_missed: bool,
    jwks_open: Option<&str>,
) -> TokenLook {
    let token = match token_of(cfg, req) {
        Ok(t) => t,
        Err(d) => return TokenLook::Denied(d),
    };
    let look = validate(iso, cfg, token, now, Some(wait), jwks_open);
    let key = if cache_missed {
        iso.cache_key(token)
    } else {
        None
    };
    record(iso, &look, key.as_ref(), now);
    look
}

/// Remembers an outcome under the token's key (recomputed from the token where a wait came
/// between: one SHA-256 block, and no key can be paired with another token).
fn record(iso: &mut Isolate, look: &TokenLook, key: Option<&TokenKey<'_>>, now: UnixMillis) {
    let Some(key) = key else { return };
    match look {
        TokenLook::Claims(c) => iso.cache_put(key, c, now),
        TokenLook::Denied(d) => iso.cache_negative(key, d.reason, now),
        TokenLook::Signature { .. }
        | TokenLook::Jwks { .. }
        | TokenLook::KeysUnavailable { .. } => {}
    }
}

/// WebCrypto answered (`ok`: the signature verified; false also when the check could not
/// run): the claims are checked now, and the outcome cached under `missed`, the token the
/// decision cache missed (none when it was off).
pub(crate) fn finish_signature(
    iso: &mut Isolate,
    cfg: &EdgeConfig,
    awaiting: AwaitingSignature,
    issuer_at: usize,
    ok: bool,
    missed: Option<&str>,
    now: UnixMillis,
) -> Result<jwt::VerifiedClaims, Denial> {
    let Some(issuer) = cfg.issuers.get(issuer_at) else {
        return Err(Reason::Internal.into());
    };
    let time = TimeOptions {
        now,
        leeway_secs: cfg.leeway_secs,
    };
    let look = match awaiting.finish(ok, &issuer.policy, &time) {
        Ok(c) => TokenLook::Claims(c),
        Err(e) => TokenLook::Denied(e.reason().into()),
    };
    let key = missed.and_then(|t| iso.cache_key(t));
    record(iso, &look, key.as_ref(), now);
    match look {
        TokenLook::Claims(c) => Ok(c),
        TokenLook::Denied(d) => Err(d),
        _ => Err(Reason::Internal.into()),
    }
}

/// The asymmetric algorithms WebCrypto checks, by the names `glue.js`'s parameter table uses
/// (the key pins the algorithm).
fn webcrypto_alg(alg: jwt::Algorithm) -> Option<&'static str> {
    use jwt::Algorithm::*;
    Some(match alg {
        EdDsa => "EdDSA",
        Es256 => "ES256",
        Es384 => "ES384",
        Es512 => "ES512",
        Rs256 => "RS256",
        Rs384 => "RS384",
        Rs512 => "RS512",
        Ps256 => "PS256",
        Ps384 => "PS384",
        Ps512 => "PS512",
        Hs256 | Hs384 | Hs512 => return None,
    })
}

/// An issuer's key set: configured inline, or its JWKS cache's current one.
enum IssuerKeys<'c> {
    Static(&'c jwt::KeySet),
    Fetched(Arc<jwt::KeySet>),
}

impl IssuerKeys<'_> {
    fn set(&self) -> &jwt::KeySet {
        match self {
            IssuerKeys::Static(k) => k,
            IssuerKeys::Fetched(k) => k,
        }
    }
}

/// Validates `token`: HMAC here; the other algorithms deferred to WebCrypto; a JWKS fetch
/// asked for when the issuer has no usable keys or the token names an unknown `kid` (once per
/// look: `after` says which fetch already happened). `jwks_open`: the route rule's id when its
/// `jwks` failure policy is open — then keys past `JWKS_MAX_STALENESS_SECONDS` still verify
/// (logged, rate-gated) while the issuer's JWKS fails; never a request without verification.
fn validate(
    iso: &mut Isolate,
    cfg: &EdgeConfig,
    token: &str,
    now: UnixMillis,
    after: Option<JwksWait>,
    jwks_open: Option<&str>,
) -> TokenLook {
    let parsed = match UntrustedToken::parse(token, cfg.max_token_bytes) {
        Ok(p) => p,
        Err(e) => return TokenLook::Denied(e.reason().into()),
    };
    let Some((issuer_at, issuer)) = parsed
        .unverified_issuer()
        .and_then(|iss| cfg.issuer_at(iss))
    else {
        return TokenLook::Denied(Reason::TokenIssuerInvalid.into());
    };
    let keys = match &issuer.keys {
        KeySource::Static { keys, .. } => IssuerKeys::Static(keys),
        KeySource::Url(url) => {
            let iss = &issuer.policy.issuer;
            // The first look claims a due background refresh; a look after a fetch only reads.
            let keys = match after {
                None => iso.jwks_keys(iss, url, now),
                Some(_) => iso.jwks_ready(iss, now),
            };
            match keys {
                Some(k) => IssuerKeys::Fetched(k),
                None if after.is_none() && iso.jwks_claim_or_join(iss, now) => {
                    return TokenLook::Jwks {
                        issuer: iss.clone(),
                        url: url.clone(),
                        wait: JwksWait::NoKeys,
                    }
                }
                None => match jwks_open.and_then(|rule| Some((rule, iso.jwks_last_good(iss)?))) {
                    Some((rule, stale)) => {
                        let detail = format!(
                            "issuer {iss}: verifying with keys past their maximum staleness"
                        );
                        let open = super::failure::decide(
                            iso,
                            rule,
                            Dependency::Jwks,
                            FailurePolicy::Open,
                            1,
                            &detail,
                            now,
                        );
                        debug_assert!(open.is_ok());
                        IssuerKeys::Fetched(stale)
                    }
                    None => {
                        return TokenLook::KeysUnavailable {
                            issuer: iss.clone(),
                            denial: iso.jwks_unavailable(iss, now),
                        }
                    }
                },
            }
        }
    };
    let time = TimeOptions {
        now,
        leeway_secs: cfg.leeway_secs,
    };
    let mut webcrypto = None;
    let result = jwt::validate_with(parsed, keys.set(), &issuer.policy, &time, |check| {
        if matches!(check.key.material(), KeyMaterial::Oct(_)) {
            return SignatureVerdict::Checked(HmacVerifier.verify_sync(check));
        }
        match webcrypto_alg(check.alg) {
            Some(alg) => {
                webcrypto = Some(alg);
                SignatureVerdict::Deferred
            }
            None => {
                SignatureVerdict::Checked(Err(JwtError::VerifierUnsupported { alg: check.alg }))
            }
        }
    });
    match result {
        Ok(Validation::Verified(c)) => TokenLook::Claims(c),
        Ok(Validation::Awaiting(awaiting)) => {
            // Deferred only after naming the WebCrypto algorithm.
            let Some(alg) = webcrypto else {
                return TokenLook::Denied(Reason::Internal.into());
            };
            // A compact JWS already parsed strictly: the signature follows the last dot.
            let (input, sig) = token.rsplit_once('.').unwrap_or((token, ""));
            TokenLook::Signature {
                job: SignatureJob {
                    key_id: crate::envelope::hex(&awaiting.key_fingerprint()),
                    alg,
                    signing_input: input.to_owned(),
                    signature_b64url: sig.to_owned(),
                },
                awaiting,
                issuer_at,
            }
        }
        Err(JwtError::KeyUnknown { kid: Some(_) })
            if after != Some(JwksWait::UnknownKid)
                && matches!(issuer.keys, KeySource::Url(_))
                && iso.jwks_claim_unknown_kid(&issuer.policy.issuer, now) =>
        {
            let KeySource::Url(url) = &issuer.keys else {
                return TokenLook::Denied(Reason::Internal.into());
            };
            TokenLook::Jwks {
                issuer: issuer.policy.issuer.clone(),
                url: url.clone(),
                wait: JwksWait::UnknownKid,
            }
        }
        Err(e) => TokenLook::Denied(e.reason().into()),
    }
}

/// The public key a request waiting for WebCrypto needs imported, found again from its token
/// (asked only when the JS side has not cached the key yet): `None` if the token no longer
/// leads to the key with this fingerprint.
pub(crate) fn key_to_import(
    iso: &Isolate,
    cfg: &EdgeConfig,
    req: &Incoming,
    fingerprint: [u8; 16],
    now: UnixMillis,
) -> Option<KeyImport> {
    let b64 = crate::b64::encode_url;
    let token = token_of(cfg, req).ok()?;
    let parsed = UntrustedToken::parse(token, cfg.max_token_bytes).ok()?;
    let (_, issuer) = parsed
        .unverified_issuer()
        .and_then(|iss| cfg.issuer_at(iss))?;
    let keys = match &issuer.keys {
        KeySource::Static { keys, .. } => IssuerKeys::Static(keys),
        KeySource::Url(_) => IssuerKeys::Fetched(iso.jwks_ready(&issuer.policy.issuer, now)?),
    };
    let check = jwt::signature_check(&parsed, keys.set()).ok()?;
    if check.key.fingerprint() != fingerprint {
        return None;
    }
    let alg = webcrypto_alg(check.alg)?;
    Some(match check.key.material() {
        KeyMaterial::Okp { x } => KeyImport::Raw {
            alg,
            b64url: b64(x),
        },
        KeyMaterial::Ec { x, y } => KeyImport::Jwk {
            alg,
            json: format!(
                r#"{{"kty":"EC","crv":"{}","x":"{}","y":"{}"}}"#,
                check.alg.ec_curve()?.0,
                b64(x),
                b64(y)
            ),
        },
        KeyMaterial::Rsa { n, e } => KeyImport::Jwk {
            alg,
            json: format!(r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#, b64(n), b64(e)),
        },
        KeyMaterial::Oct(_) => return None,
    })
}

// ---------------------------------------------------------------- webhooks

/// A body the driver read: the headers asked for that were present (lower-case names), the
/// declared `Content-Length` as sent, and the bytes — `None` when they exceeded the cap
/// (reading stopped there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyRead {
    pub headers: Vec<(String, String)>,
    pub content_length: Option<String>,
    pub bytes: Option<Vec<u8>>,
}

impl BodyRead {
    /// The declared length, when it is plain digits (the same rule as `glue.js`'s reader).
    pub(crate) fn declared(&self) -> Option<u64> {
        self.content_length
            .as_deref()
            .and_then(|v| v.trim().parse::<u64>().ok())
    }
}

/// An Ed25519 (`v1a`) check for WebCrypto: the signed content and the (key, signature) pairs;
/// the answer is the index of the first pair that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519Job {
    pub message: Vec<u8>,
    pub candidates: Vec<([u8; 32], [u8; 64])>,
}

pub(crate) enum WebhookLook {
    Verified(VerifiedWebhook),
    Denied(Denial),
    Ed25519(Ed25519Job, PendingEd25519),
}

/// Verifies a delivery from the body the driver read.
pub(crate) fn verify_webhook(wh: &WebhookConfig, body: &BodyRead, now: UnixMillis) -> WebhookLook {
    let declared = body.declared();
    let prepared = webhook::check_content_length(wh, declared)
        .and_then(|()| match body.bytes.as_deref() {
            Some(bytes) => Ok(bytes),
            None => Err(WebhookError::BodyTooLarge {
                limit: wh.max_body_bytes,
                actual: declared.unwrap_or(wh.max_body_bytes + 1),
            }),
        })
        .and_then(|bytes| {
            let mut headers = WebhookHeaders::new();
            for (n, v) in &body.headers {
                if !n.is_empty() {
                    headers.insert(n, v);
                }
            }
            webhook::prepare(wh, &headers, bytes, now)
        });
    match prepared {
        Ok(Prepared::Verified(v)) => WebhookLook::Verified(v),
        Ok(Prepared::NeedsEd25519(pending)) => WebhookLook::Ed25519(
            Ed25519Job {
                message: pending.signed_content().to_vec(),
                candidates: pending
                    .candidates()
                    .iter()
                    .map(|c| (c.public_key, c.signature))
                    .collect(),
            },
            pending,
        ),
        Err(e) => WebhookLook::Denied(e.reason().into()),
    }
}

/// WebCrypto answered an [`Ed25519Job`]: the index of the pair that verified, if any.
pub(crate) fn finish_ed25519(
    pending: PendingEd25519,
    hit: Option<usize>,
) -> Result<VerifiedWebhook, Denial> {
    pending.finish(hit).map_err(|e| e.reason().into())
}
