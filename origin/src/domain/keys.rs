//! Signing keys: generated here, private parts encrypted at rest (XChaCha20-Poly1305 under
//! KEY_ENCRYPTION_KEY, AAD = kid), rotated on a schedule (the next key published before it
//! signs) or on demand, published in the JWKS until every token they signed has expired. Also
//! mints access tokens with the current key. Every change of the key set holds the
//! `SigningKeys` lock, so several origin processes never create or retire keys twice.

use std::sync::{Arc, RwLock};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use edge_auth::secret::SecretBytes;
use jwt_compact::alg::{Ed25519, Es256};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions};
use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use zeroize::Zeroizing;

use super::ctx::{Ctx, RBAC_ADMIN};
use super::error::{DomainError, DomainResult};
use super::work::Work;
use super::Core;
use crate::config::SigningAlg;
use crate::db::LockKey;
use crate::domain::ids::{b64url, random_bytes};

enum Signer {
    Ed(ed25519_dalek::SigningKey),
    Es(p256::ecdsa::SigningKey),
}

struct ActiveKey {
    kid: String,
    signer: Signer,
}

#[derive(Clone)]
pub struct KeyStore {
    kek: Arc<SecretBytes>,
    cache: Arc<RwLock<Option<Arc<ActiveKey>>>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyStore([redacted])")
    }
}

#[derive(Debug)]
#[non_exhaustive]
pub enum KeyError {
    Db(sqlx::Error),
    /// The stored key does not decrypt under this KEY_ENCRYPTION_KEY (wrong key or tampering).
    Decrypt {
        kid: String,
    },
    UnknownAlg {
        kid: String,
        alg: String,
    },
    Sign(String),
    NoActiveKey,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Db(e) => write!(f, "database: {e}"),
            KeyError::Decrypt { kid } => write!(
                f,
                "signing key {kid} does not decrypt with KEY_ENCRYPTION_KEY"
            ),
            KeyError::UnknownAlg { kid, alg } => {
                write!(f, "signing key {kid} has unknown alg {alg}")
            }
            KeyError::Sign(e) => write!(f, "signing failed: {e}"),
            KeyError::NoActiveKey => f.write_str("no active signing key"),
        }
    }
}
impl std::error::Error for KeyError {}
impl From<sqlx::Error> for KeyError {
    fn from(e: sqlx::Error) -> Self {
        KeyError::Db(e)
    }
}

/// A storage failure stays one; anything else about keys is internal (never the caller's fault).
impl From<KeyError> for DomainError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Db(e) => DomainError::Storage(e),
            e => DomainError::Internal(e.to_string()),
        }
    }
}

/// The claims of an access token beyond exp/nbf/iat.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub jti: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    /// When the person last really authenticated (unix seconds), kept across refreshes.
    pub auth_time: i64,
    /// How (RFC 8176 values: `pwd`, `otp`, `mfa`, …).
    pub amr: Vec<String>,
    /// The authentication context class it meets (`urn:edge-auth:acr:pwd` / `…:mfa`).
    pub acr: String,
}

fn public_jwk(kid: &str, signer: &Signer) -> serde_json::Value {
    match signer {
        Signer::Ed(k) => json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64url(k.verifying_key().as_bytes()),
            "kid": kid, "alg": "EdDSA", "use": "sig",
        }),
        Signer::Es(k) => {
            let p = k.verifying_key().to_encoded_point(false);
            json!({
                "kty": "EC", "crv": "P-256",
                "x": b64url(p.x().expect("uncompressed point has x")),
                "y": b64url(p.y().expect("uncompressed point has y")),
                "kid": kid, "alg": "ES256", "use": "sig",
            })
        }
    }
}

fn generate(alg: SigningAlg) -> (Signer, Zeroizing<Vec<u8>>) {
    match alg {
        SigningAlg::EdDsa => {
            let k = ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>());
            let raw = Zeroizing::new(k.to_bytes().to_vec());
            (Signer::Ed(k), raw)
        }
        SigningAlg::Es256 => loop {
            // A uniformly random scalar is valid except for 0 and values ≥ n (negligible).
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&random_bytes::<32>()) {
                let raw = Zeroizing::new(k.to_bytes().to_vec());
                break (Signer::Es(k), raw);
            }
        },
    }
}

fn load(alg: &str, kid: &str, raw: &[u8]) -> Result<Signer, KeyError> {
    match SigningAlg::from_jose(alg) {
        Some(SigningAlg::EdDsa) => {
            let bytes: [u8; 32] = raw
                .try_into()
                .map_err(|_| KeyError::Decrypt { kid: kid.into() })?;
            Ok(Signer::Ed(ed25519_dalek::SigningKey::from_bytes(&bytes)))
        }
        Some(SigningAlg::Es256) => p256::ecdsa::SigningKey::from_slice(raw)
            .map(Signer::Es)
            .map_err(|_| KeyError::Decrypt { kid: kid.into() }),
        None => Err(KeyError::UnknownAlg {
            kid: kid.into(),
            alg: alg.into(),
        }),
    }
}

impl KeyStore {
    pub fn new(kek: SecretBytes) -> KeyStore {
        KeyStore {
            kek: Arc::new(kek),
            cache: Arc::new(RwLock::new(None)),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(self.kek.expose())
            .expect("KEY_ENCRYPTION_KEY is 32 bytes")
    }

    /// Encrypts another secret at rest under the same KEY_ENCRYPTION_KEY (XChaCha20-Poly1305,
    /// random 24-byte nonce); `aad` binds it to its owner (e.g. `totp:<user id>`).
    pub fn seal(&self, aad: &[u8], msg: &[u8]) -> Result<(Vec<u8>, [u8; 24]), KeyError> {
        let nonce = random_bytes::<24>();
        let enc = self
            .cipher()
            .encrypt(&XNonce::from(nonce), Payload { msg, aad })
            .map_err(|_| KeyError::Sign("encryption failed".into()))?;
        Ok((enc, nonce))
    }

    /// Decrypts what [`KeyStore::seal`] sealed with the same `aad`; None when it does not
    /// decrypt (another KEY_ENCRYPTION_KEY, another owner, tampering).
    pub fn open(&self, aad: &[u8], enc: &[u8], nonce: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let nonce = <[u8; 24]>::try_from(nonce).ok()?;
        self.cipher()
            .decrypt(&XNonce::from(nonce), Payload { msg: enc, aad })
            .ok()
            .map(Zeroizing::new)
    }

    /// Creates a key and stores it (encrypted), signing from `activates_at` (None: at once).
    /// Returns its kid.
    pub async fn create(
        &self,
        conn: &mut AnyConnection,
        alg: SigningAlg,
        now: i64,
        activates_at: Option<i64>,
    ) -> Result<String, KeyError> {
        let (signer, raw) = generate(alg);
        let kid = format!(
            "k{}-{}",
            now / 1000,
            &crate::domain::ids::hex(&random_bytes::<4>())
        );
        let nonce = random_bytes::<24>();
        let enc = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &raw,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Sign("encryption failed".into()))?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_enc, nonce, created_at, retired_at, activates_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        )
        .bind(&kid)
        .bind(alg.jose())
        .bind(public_jwk(&kid, &signer).to_string())
        .bind(enc)
        .bind(nonce.to_vec())
        .bind(now)
        .bind(activates_at)
        .execute(conn)
        .await?;
        Ok(kid)
    }

    /// Makes sure one active key exists (first start), in the caller's transaction, which
    /// holds the `SigningKeys` lock (several processes may start at once on an empty database).
    pub async fn ensure(
        &self,
        conn: &mut AnyConnection,
        alg: SigningAlg,
        now: i64,
    ) -> Result<(), KeyError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL")
                .fetch_one(&mut *conn)
                .await?;
        if n == 0 {
            self.create(conn, alg, now, None).await?;
        }
        Ok(())
    }

    /// Retires the active key(s) and creates a new one, in the caller's transaction.
    /// Returns (new kid, retired kids).
    pub async fn rotate(
        &self,
        conn: &mut AnyConnection,
        alg: SigningAlg,
        now: i64,
    ) -> Result<(String, Vec<String>), KeyError> {
        let retired: Vec<String> =
            sqlx::query_scalar("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
                .fetch_all(&mut *conn)
                .await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *conn)
            .await?;
        let kid = self.create(conn, alg, now, None).await?;
        Ok((kid, retired))
    }

    /// One step of scheduled rotation at `now`, in the caller's transaction (which holds the
    /// `SigningKeys` lock). A key signs for `every_ms`; `prepublish_ms` before that ends, its
    /// successor is created with `activates_at` = now + `prepublish_ms` and published at once,
    /// so every edge has it in its cached JWKS before the first token it signs arrives. Once
    /// the successor signs, the older keys are retired (and stay published while their tokens
    /// live).
    pub async fn schedule(
        &self,
        conn: &mut AnyConnection,
        alg: SigningAlg,
        now: i64,
        every_ms: i64,
        prepublish_ms: i64,
    ) -> Result<Option<Scheduled>, KeyError> {
        // (kid, from when it signs), newest first.
        let rows = sqlx::query(
            "SELECT kid, COALESCE(activates_at, created_at) AS since FROM signing_keys \
             WHERE retired_at IS NULL ORDER BY COALESCE(activates_at, created_at) DESC, kid DESC",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for r in rows {
            keys.push((
                r.try_get::<String, _>("kid")?,
                r.try_get::<i64, _>("since")?,
            ));
        }
        let signing: Vec<&(String, i64)> = keys.iter().filter(|(_, since)| *since <= now).collect();
        let pending = keys.iter().any(|(_, since)| *since > now);
        match signing.as_slice() {
            [] => {
                let kid = self.create(conn, alg, now, None).await?;
                Ok(Some(Scheduled::Created { kid }))
            }
            [(newest, since), older @ ..] if !older.is_empty() => {
                let retired: Vec<String> = older.iter().map(|(k, _)| k.clone()).collect();
                for kid in &retired {
                    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid = $2")
                        .bind(*since)
                        .bind(kid)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(Some(Scheduled::Activated {
                    kid: newest.clone(),
                    retired,
                }))
            }
            [(_, since)] if !pending && now - since >= every_ms - prepublish_ms => {
                let activates_at = now + prepublish_ms;
                let kid = self.create(conn, alg, now, Some(activates_at)).await?;
                Ok(Some(Scheduled::Prepublished { kid, activates_at }))
            }
            _ => Ok(None),
        }
    }

    async fn active(&self, conn: &mut AnyConnection, now: i64) -> Result<Arc<ActiveKey>, KeyError> {
        // The newest key that signs by now; a published successor waits for its activates_at.
        let kid: Option<String> = sqlx::query_scalar(
            "SELECT kid FROM signing_keys WHERE retired_at IS NULL \
             AND (activates_at IS NULL OR activates_at <= $1) \
             ORDER BY COALESCE(activates_at, created_at) DESC, kid DESC LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        let kid = kid.ok_or(KeyError::NoActiveKey)?;
        if let Some(k) = self.cache.read().expect("key cache lock").as_ref() {
            if k.kid == kid {
                return Ok(k.clone());
            }
        }
        let row = sqlx::query("SELECT alg, private_enc, nonce FROM signing_keys WHERE kid = $1")
            .bind(&kid)
            .fetch_one(&mut *conn)
            .await?;
        let alg: String = row.try_get("alg")?;
        let enc: Vec<u8> = row.try_get("private_enc")?;
        let nonce: Vec<u8> = row.try_get("nonce")?;
        let Ok(nonce) = <[u8; 24]>::try_from(nonce.as_slice()) else {
            return Err(KeyError::Decrypt { kid });
        };
        let raw = Zeroizing::new(
            self.cipher()
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &enc,
                        aad: kid.as_bytes(),
                    },
                )
                .map_err(|_| KeyError::Decrypt { kid: kid.clone() })?,
        );
        let key = Arc::new(ActiveKey {
            signer: load(&alg, &kid, &raw)?,
            kid,
        });
        *self.cache.write().expect("key cache lock") = Some(key.clone());
        Ok(key)
    }

    /// Signs an access token with the active key: `exp = now + ttl`, `nbf = iat = now`.
    pub async fn mint(
        &self,
        conn: &mut AnyConnection,
        claims: AccessClaims,
        now_ms: i64,
        ttl_secs: u64,
    ) -> Result<String, KeyError> {
        let key = self.active(conn, now_ms).await?;
        let now = chrono::DateTime::from_timestamp_millis(now_ms)
            .ok_or_else(|| KeyError::Sign("clock out of range".into()))?;
        let opts = TimeOptions::new(chrono::Duration::zero(), move || now);
        let claims = Claims::new(claims)
            .set_duration_and_issuance(&opts, chrono::Duration::seconds(ttl_secs as i64))
            .set_not_before(now);
        let header = Header::empty()
            .with_key_id(key.kid.clone())
            .with_token_type("JWT");
        match &key.signer {
            Signer::Ed(k) => Ed25519.token(&header, &claims, k),
            Signer::Es(k) => Es256.token(&header, &claims, k),
        }
        .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The public keys still relevant: the active one(s) and the retired ones whose tokens may
    /// still be alive (retired less than `access ttl + leeway` ago).
    pub async fn jwks(
        conn: &mut AnyConnection,
        now: i64,
        access_ttl_ms: i64,
    ) -> Result<serde_json::Value, sqlx::Error> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT public_jwk FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid DESC",
        )
        .bind(now - access_ttl_ms - crate::domain::revocations::LEEWAY_MS)
        .fetch_all(conn)
        .await?;
        let keys: Vec<serde_json::Value> = rows
            .iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect();
        Ok(json!({ "keys": keys }))
    }
}

/// What one step of scheduled rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheduled {
    /// No key signed (an empty table): one was created, signing at once.
    Created { kid: String },
    /// The successor is published and signs from `activates_at` (unix ms).
    Prepublished { kid: String, activates_at: i64 },
    /// The successor signs now; these older keys are retired.
    Activated { kid: String, retired: Vec<String> },
}

/// The operation behind the admin route and the `rotate-keys` CLI: retires the active key
/// (and a published successor), creates a new one that signs at once and audits it, in one
/// transaction. For a compromised key; routine rotation is [`rotate_on_schedule`]. Returns
/// (new kid, retired kids).
pub async fn rotate(core: &Core, ctx: &Ctx) -> DomainResult<(String, Vec<String>)> {
    ctx.require(RBAC_ADMIN)?;
    let mut w = Work::begin(core, ctx).await?;
    core.db.lock(w.conn(), LockKey::SigningKeys).await?;
    let now = w.now;
    let (kid, retired) = core
        .keys
        .rotate(w.conn(), core.config.signing_alg, now)
        .await?;
    w.audit("keys.rotate", Some(&kid), json!({ "retired": retired }))
        .await?;
    w.commit().await?;
    Ok((kid, retired))
}

/// One step of routine rotation (`KEY_ROTATION_DAYS`), run by every `serve` process on a
/// timer: under the `SigningKeys` lock, so concurrent processes agree on one successor.
/// `None` when rotation is off or nothing is due; each step is audited.
pub async fn rotate_on_schedule(core: &Core, ctx: &Ctx) -> DomainResult<Option<Scheduled>> {
    ctx.require(RBAC_ADMIN)?;
    let Some(every) = core.config.key_rotation.every_secs else {
        return Ok(None);
    };
    let prepublish_ms = core.config.key_rotation.prepublish_secs as i64 * 1000;
    let mut w = Work::begin(core, ctx).await?;
    core.db.lock(w.conn(), LockKey::SigningKeys).await?;
    let now = w.now;
    let step = core
        .keys
        .schedule(
            w.conn(),
            core.config.signing_alg,
            now,
            every as i64 * 1000,
            prepublish_ms,
        )
        .await?;
    match &step {
        None => return Ok(None),
        Some(Scheduled::Created { kid }) => w.audit("keys.create", Some(kid), json!({})).await?,
        Some(Scheduled::Prepublished { kid, activates_at }) => {
            w.audit(
                "keys.prepublish",
                Some(kid),
                json!({ "activates_at": activates_at }),
            )
            .await?
        }
        Some(Scheduled::Activated { kid, retired }) => {
            w.audit("keys.activate", Some(kid), json!({ "retired": retired }))
                .await?
        }
    }
    w.commit().await?;
    Ok(step)
}

/// How often each `serve` process checks the rotation schedule.
pub const ROTATION_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// The rotation timer of one `serve` process: a step at start and every [`ROTATION_CHECK`],
/// until `shutdown`. Off when `KEY_ROTATION_DAYS` is 0.
pub fn spawn_rotation(
    core: Arc<Core>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    core.config.key_rotation.every_secs?;
    Some(tokio::spawn(async move {
        let ctx = Ctx::scheduler();
        loop {
            match rotate_on_schedule(&core, &ctx).await {
                Ok(None) => {}
                Ok(Some(step)) => tracing::info!(?step, "signing keys: scheduled rotation"),
                Err(e) => {
                    tracing::warn!(error = %e, "signing keys: scheduled rotation failed; next try in a minute")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(ROTATION_CHECK) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }))
}

/// The published key set (`/.well-known/jwks.json`).
pub async fn published(core: &Core) -> DomainResult<serde_json::Value> {
    let mut conn = core.db.pool.acquire().await?;
    Ok(KeyStore::jwks(&mut conn, core.clock.now_ms(), core.access_ttl_ms()).await?)
}

/// Loads KEY_ENCRYPTION_KEY, or (local runs) a key generated once into `DATA_DIR/key-encryption-key`.
pub fn load_or_create_kek(
    configured: Option<SecretBytes>,
    data_dir: &std::path::Path,
) -> Result<SecretBytes, String> {
    if let Some(k) = configured {
        return Ok(k);
    }
    let path = data_dir.join("key-encryption-key");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let bytes = crate::config::decode_secret(&s)
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                format!(
                    "KEY_ENCRYPTION_KEY: {} is not 32 bytes of hex",
                    path.display()
                )
            })?;
        return SecretBytes::new(bytes, 32).map_err(|e| e.to_string());
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("DATA_DIR: {e}"))?;
    let bytes = random_bytes::<32>();
    write_private(&path, &crate::domain::ids::hex(&bytes))
        .map_err(|e| format!("KEY_ENCRYPTION_KEY: cannot write {}: {e}", path.display()))?;
    tracing::warn!(path = %path.display(), "KEY_ENCRYPTION_KEY not set: generated one for this data dir (set it explicitly in production)");
    SecretBytes::new(bytes.to_vec(), 32).map_err(|e| e.to_string())
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(contents.as_bytes())
}
