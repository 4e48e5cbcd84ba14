//! What a sign-in carries from its start to its callback: `state`, nonce, PKCE verifier, the
//! expected issuer, where to go next, and (linking) the signed-in user. It travels in a
//! short-lived HttpOnly cookie scoped to the provider's callback path, encrypted and
//! authenticated under KEY_ENCRYPTION_KEY (XChaCha20-Poly1305, AAD `oauth-flow:<provider>`), so
//! the browser can neither read nor change it and another provider's cookie does not open.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::domain::keys::KeyStore;

pub const COOKIE: &str = "oauth_flow";
/// How long the person may spend at the provider.
pub const TTL_MS: i64 = 10 * 60 * 1000;
const MAX_NEXT: usize = 512;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flow {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// The issuer the authorization response must come from (RFC 9207 mix-up defence).
    pub issuer: String,
    pub next: String,
    /// Set when a signed-in user links this provider; the callback links instead of signing in.
    pub link_user: Option<String>,
    /// Unix ms after which the flow is dead.
    pub expires_at: i64,
}

fn aad(provider: &str) -> Vec<u8> {
    format!("oauth-flow:{provider}").into_bytes()
}

impl Flow {
    pub fn seal(&self, keys: &KeyStore) -> Option<String> {
        let json = serde_json::to_vec(self).ok()?;
        let (ct, nonce) = keys.seal(&aad(&self.provider), &json).ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The flow in `cookie` if it decrypts for `provider`, else None.
    pub fn open(keys: &KeyStore, provider: &str, cookie: &str) -> Option<Flow> {
        if cookie.len() > 4096 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        if raw.len() < 24 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(24);
        let plain = keys.open(&aad(provider), ct, nonce)?;
        let flow: Flow = serde_json::from_slice(&plain).ok()?;
        (flow.provider == provider).then_some(flow)
    }
}

/// `next` must be a same-origin relative path: `/` then not `/` or `\` (no `//evil`, no
/// `/\evil`), no backslash, no control character, bounded. None for anything else.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= MAX_NEXT;
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_a_same_origin_path() {
        for good in ["/", "/account", "/account?tab=1#x"] {
            assert_eq!(safe_next(good), Some(good), "{good}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "",
            "/\tx",
            "/a\\b",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_flow_opens_only_for_its_provider_and_untampered() {
        let keys =
            KeyStore::new(edge_auth::secret::SecretBytes::new(vec![7u8; 32], 32).expect("key"));
        let f = Flow {
            provider: "google".into(),
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            issuer: "https://accounts.google.com".into(),
            next: "/account".into(),
            link_user: None,
            expires_at: 1,
        };
        let c = f.seal(&keys).expect("seal");
        assert_eq!(Flow::open(&keys, "google", &c), Some(f));
        assert_eq!(Flow::open(&keys, "github", &c), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&c).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            Flow::open(&keys, "google", &URL_SAFE_NO_PAD.encode(bytes)),
            None
        );
    }
}
