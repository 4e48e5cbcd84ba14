//! Password hashing (argon2id + optional pepper), the password policy, and equal-time
//! verification for unknown accounts.

use std::collections::HashSet;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use edge_auth::secret::SecretBytes;

use crate::config::Argon2Params;

const COMMON: &str = include_str!("../../data/common-passwords.txt");
/// Longer inputs are refused before hashing (bounded CPU per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Clone)]
pub struct Passwords {
    params: Argon2Params,
    pepper: Option<Arc<SecretBytes>>,
    min_len: usize,
    common: Arc<HashSet<String>>,
    /// A hash of a random password under the current parameters: unknown accounts are
    /// verified against it so they cost the same as known ones.
    dummy_hash: Arc<String>,
}

/// Outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash uses other parameters than the configured ones.
    pub needs_rehash: bool,
}

impl Passwords {
    pub fn new(
        params: Argon2Params,
        pepper: Option<SecretBytes>,
        min_len: usize,
    ) -> Result<Self, String> {
        let common = COMMON
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_lowercase)
            .collect();
        let mut p = Passwords {
            params,
            pepper: pepper.map(Arc::new),
            min_len,
            common: Arc::new(common),
            dummy_hash: Arc::new(String::new()),
        };
        let random = crate::domain::ids::new_secret_token();
        p.dummy_hash = Arc::new(p.hash_blocking(&random)?);
        Ok(p)
    }

    fn argon2(&self) -> Result<Argon2<'_>, String> {
        let params = Params::new(
            self.params.m_cost_kib,
            self.params.t_cost,
            self.params.p_cost,
            None,
        )
        .map_err(|e| format!("argon2 params: {e}"))?;
        match &self.pepper {
            Some(s) => {
                Argon2::new_with_secret(s.expose(), Algorithm::Argon2id, Version::V0x13, params)
                    .map_err(|e| format!("argon2 pepper: {e}"))
            }
            None => Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)),
        }
    }

    /// Policy check; the error is a stable reason id.
    pub fn check_policy(&self, password: &str, email: &str) -> Result<(), &'static str> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err("password_too_long");
        }
        if password.chars().count() < self.min_len {
            return Err("password_too_short");
        }
        let lower = password.to_lowercase();
        if self.common.contains(&lower) || self.common.contains(lower.trim()) {
            return Err("password_too_common");
        }
        if let Some((local, _)) = email.split_once('@') {
            if lower == email || (local.len() >= 4 && lower.contains(local)) {
                return Err("password_contains_email");
            }
        }
        Ok(())
    }

    pub fn hash_blocking(&self, password: &str) -> Result<String, String> {
        let salt = SaltString::encode_b64(&crate::domain::ids::random_bytes::<16>())
            .map_err(|e| format!("salt: {e}"))?;
        self.argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| format!("argon2 hash: {e}"))
    }

    /// Verifies against `stored`, or against the dummy hash when there is no account,
    /// so both paths do the same work.
    pub fn verify_blocking(&self, password: &str, stored: Option<&str>) -> Verified {
        let (hash, real) = match stored {
            // `!` (an account made by a social provider, or deleted) has no password: the same
            // work as an unknown account, so timing does not tell the two apart.
            Some(h) if h.starts_with('$') => (h, true),
            _ => (self.dummy_hash.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return Verified {
                ok: false,
                needs_rehash: false,
            };
        };
        let ok = match self.argon2() {
            Ok(a) => a.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        };
        let needs_rehash = match Params::try_from(&parsed) {
            Ok(p) => {
                parsed.algorithm.as_str() != "argon2id"
                    || p.m_cost() != self.params.m_cost_kib
                    || p.t_cost() != self.params.t_cost
                    || p.p_cost() != self.params.p_cost
            }
            Err(_) => true,
        };
        Verified {
            ok: ok && real,
            needs_rehash: real && ok && needs_rehash,
        }
    }

    /// A password someone chose (sign-up, reset, change, a new admin): the policy against their
    /// e-mail, then the hash to store.
    pub async fn new_hash(
        &self,
        password: String,
        email: &str,
    ) -> crate::domain::DomainResult<String> {
        self.check_policy(&password, email)
            .map_err(|reason| crate::domain::DomainError::WeakPassword { reason })?;
        self.hash(password)
            .await
            .map_err(crate::domain::DomainError::internal)
    }

    pub async fn hash(&self, password: String) -> Result<String, String> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash_blocking(&password))
            .await
            .map_err(|e| format!("hash task: {e}"))?
    }

    pub async fn verify(&self, password: String, stored: Option<String>) -> Verified {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.verify_blocking(&password, stored.as_deref()))
            .await
            .unwrap_or(Verified {
                ok: false,
                needs_rehash: false,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Argon2Params {
        Argon2Params {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let p = Passwords::new(small(), None, 12).unwrap();
        let h = p.hash_blocking("a long enough passphrase").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert_eq!(
            p.verify_blocking("a long enough passphrase", Some(&h)),
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(!p.verify_blocking("another passphrase!!", Some(&h)).ok);
        assert!(
            !p.verify_blocking("a long enough passphrase", None).ok,
            "no account never verifies"
        );
        assert!(!p.verify_blocking("x", Some("not a phc string")).ok);
    }

    #[test]
    fn changed_parameters_ask_for_a_rehash() {
        let old = Passwords::new(small(), None, 12).unwrap();
        let h = old.hash_blocking("a long enough passphrase").unwrap();
        let new = Passwords::new(
            Argon2Params {
                m_cost_kib: 128,
                ..small()
            },
            None,
            12,
        )
        .unwrap();
        assert_eq!(
            new.verify_blocking("a long enough passphrase", Some(&h)),
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }

    #[test]
    fn the_pepper_is_required_to_verify() {
        let pep = SecretBytes::new(vec![5u8; 32], 16).unwrap();
        let with = Passwords::new(small(), Some(pep), 12).unwrap();
        let without = Passwords::new(small(), None, 12).unwrap();
        let h = with.hash_blocking("a long enough passphrase").unwrap();
        assert!(
            with.verify_blocking("a long enough passphrase", Some(&h))
                .ok
        );
        assert!(
            !without
                .verify_blocking("a long enough passphrase", Some(&h))
                .ok
        );
    }

    #[test]
    fn policy_reasons() {
        let p = Passwords::new(small(), None, 12).unwrap();
        let cases = [
            ("short", Err("password_too_short")),
            ("Password1234", Err("password_too_common")),
            ("QWERTYUIOPASDF", Err("password_too_common")),
            ("alice-rocks-2024!", Err("password_contains_email")),
            ("tangerine velvet orbit", Ok(())),
        ];
        for (pw, want) in cases {
            assert_eq!(p.check_policy(pw, "alice@example.com"), want, "{pw}");
        }
        assert_eq!(
            p.check_policy(&"x".repeat(2000), "a@b.c"),
            Err("password_too_long")
        );
    }
}
