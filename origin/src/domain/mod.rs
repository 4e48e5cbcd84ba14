//! Domain services: the rules of accounts, sessions, keys, RBAC, webhooks and friends, over `db`.
//!
//! Every change is an operation (`rbac::grant_role`, `accounts::set_disabled`, …) taking the
//! [`Core`] and the caller's [`Ctx`]: it checks the caller's permission, opens a [`work::Work`],
//! enforces the invariants, writes
//! the audit entry and the revocation marks the change implies, and commits. Failures are one
//! [`DomainError`]; nothing here knows HTTP. Module dependencies point one way:
//! `accounts → sessions → users`, `accounts → rbac`, everything → `work` → `audit`/`revocations`.

pub mod accounts;
pub mod audit;
pub mod clock;
pub mod credentials;
pub mod ctx;
pub mod directory;
pub mod error;
pub mod freshness;
pub mod idempotency;
pub mod identities;
pub mod ids;
pub mod keys;
pub mod mail;
pub mod mfa;
pub mod page;
pub mod passkeys;
pub mod passwords;
pub mod rbac;
pub mod relations;
pub mod retention;
pub mod revocations;
pub mod sessions;
pub mod telemetry;
pub mod users;
pub mod webhooks;
pub mod work;

use std::sync::Arc;

pub use ctx::Ctx;
pub use error::{DomainError, DomainResult, What};
pub use page::Page;

use crate::config::Config;
use crate::db::Db;

/// The services every operation needs (configuration, storage, clock, keys, hashing).
pub struct Core {
    pub config: Config,
    pub db: Db,
    pub clock: clock::Clock,
    pub keys: keys::KeyStore,
    pub passwords: passwords::Passwords,
    /// Outgoing mail (SMTP), or none configured.
    pub mailer: mail::Mailer,
    /// The WebAuthn relying party (passkeys), or none configured.
    pub webauthn: Option<webauthn_rs::Webauthn>,
    /// Where outcomes are reported (the HTTP layer's metrics, or nothing).
    pub telemetry: Arc<dyn telemetry::Telemetry>,
    /// Handlers by (provider, event type).
    pub webhook_handlers: webhooks::handlers::Registry,
    /// Wakes an idle webhook worker when this instance stores a new event.
    pub webhook_wakeup: tokio::sync::Notify,
    /// Social sign-in: the configured providers, their HTTP client and breakers.
    pub social: crate::social::Social,
}

impl Core {
    /// A core that reports nothing (CLI commands, domain tests).
    pub async fn new(config: Config, db: Db, clock: clock::Clock) -> Result<Core, String> {
        Core::with_telemetry(config, db, clock, Arc::new(telemetry::Silent)).await
    }

    pub async fn with_telemetry(
        config: Config,
        db: Db,
        clock: clock::Clock,
        telemetry: Arc<dyn telemetry::Telemetry>,
    ) -> Result<Core, String> {
        let kek = keys::load_or_create_kek(config.key_encryption_key.clone(), &config.data_dir)?;
        let keys = keys::KeyStore::new(kek);
        let passwords = passwords::Passwords::new(
            config.argon2,
            config.pepper.clone(),
            config.password_min_len,
        )?;
        {
            // Several processes may start at once on an empty database: one key, not three.
            let mut tx = db.begin().await.map_err(|e| format!("database: {e}"))?;
            db.lock(&mut tx, crate::db::LockKey::SigningKeys)
                .await
                .map_err(|e| format!("database: {e}"))?;
            keys.ensure(&mut tx, config.signing_alg, clock.now_ms())
                .await
                .map_err(|e| format!("signing keys: {e}"))?;
            tx.commit().await.map_err(|e| format!("database: {e}"))?;
        }
        let mailer = mail::Mailer::from_config(&config.mail)?;
        let webauthn = config
            .passkeys
            .as_ref()
            .map(passkeys::relying_party)
            .transpose()?;
        let webhook_handlers = webhooks::handlers::Registry::new(config.webhooks.test_handlers);
        let social = crate::social::Social::new(config.social.clone())?;
        Ok(Core {
            config,
            db,
            clock,
            keys,
            passwords,
            mailer,
            webauthn,
            telemetry,
            webhook_handlers,
            webhook_wakeup: tokio::sync::Notify::new(),
            social,
        })
    }

    pub fn access_ttl_ms(&self) -> i64 {
        self.config.access_ttl_secs as i64 * 1000
    }
}
