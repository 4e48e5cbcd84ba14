//! The origin's typed configuration, parsed once from environment variables.
//!
//! Every error names the variable and what is wrong with it.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use edge_auth::envelope::EnvelopeKey;
use edge_auth::secret::SecretBytes;

/// Which algorithm new signing keys use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlg {
    EdDsa,
    Es256,
}

impl SigningAlg {
    pub fn jose(self) -> &'static str {
        match self {
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Es256 => "ES256",
        }
    }
    pub fn from_jose(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(SigningAlg::EdDsa),
            "ES256" => Some(SigningAlg::Es256),
            _ => None,
        }
    }
}

/// `single`: a new login revokes the user's other sessions; `multi`: sessions coexist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionPolicy {
    Single,
    Multi,
}

/// argon2id cost parameters (OWASP minimums by default: 19 MiB, t=2, p=1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// Outgoing mail (password reset, e-mail verification links).
#[derive(Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// `SMTP_URL`: `smtp://host:port` (plain, e.g. a local relay or test sink),
    /// `smtp://host?tls=required` (STARTTLS, port 587 by default), `smtps://host` (TLS, 465);
    /// credentials as `smtp://user:password@host`. Unset: operations that send mail answer
    /// 503 `mail_not_configured`.
    pub smtp_url: Option<String>,
    /// `MAIL_FROM` (required with `SMTP_URL`): `Name <address>` or an address.
    pub from: Option<String>,
    /// `PUBLIC_URL` (required with `SMTP_URL`): the site's public base URL, for links in mails
    /// (`{PUBLIC_URL}/reset-password#token=…`, `{PUBLIC_URL}/verify-email#token=…`).
    pub public_url: Option<String>,
    /// `PASSWORD_RESET_TTL_SECS` (default 3600, 300–86400): how long a reset link works.
    pub reset_ttl_secs: u64,
    /// `EMAIL_VERIFY_TTL_SECS` (default 86400, 300–604800): how long a verification link works.
    pub verify_ttl_secs: u64,
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry the SMTP password: only its scheme and host are shown.
        let url = self.smtp_url.as_deref().map(|u| {
            let (scheme, rest) = u.split_once("://").unwrap_or(("?", u));
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        });
        f.debug_struct("MailConfig")
            .field("smtp_url", &url)
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .field("reset_ttl_secs", &self.reset_ttl_secs)
            .field("verify_ttl_secs", &self.verify_ttl_secs)
            .finish()
    }
}

/// Passkeys (WebAuthn): who the relying party is. Unset (`WEBAUTHN_RP_ID` empty): the passkey
/// routes answer 503 `passkeys_not_configured`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyConfig {
    /// `WEBAUTHN_RP_ID`: the relying party id, a host name (`example.com`, `localhost`) — never an
    /// IP address, which browsers refuse as an RP id. Passkeys are bound to it for good.
    pub rp_id: String,
    /// `WEBAUTHN_RP_NAME` (default `edge-auth`): the name authenticators show.
    pub rp_name: String,
    /// `WEBAUTHN_ORIGINS` (default `https://<rp id>`): comma-separated origins the pages are served
    /// from (`https://auth.example.com`, `http://localhost:8787`); each host is the RP id or one of
    /// its subdomains; plain http only for `localhost`.
    pub origins: Vec<String>,
}

/// Reads `WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ORIGINS`.
fn passkey_config(
    rp_id: Option<&str>,
    rp_name: Option<&str>,
    origins: Option<&str>,
) -> Result<Option<PasskeyConfig>, ConfigError> {
    let Some(rp_id) = rp_id else {
        if origins.is_some() {
            return Err(err(
                "WEBAUTHN_RP_ID",
                "is required when WEBAUTHN_ORIGINS is set",
            ));
        }
        return Ok(None);
    };
    let rp_id = rp_id.to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if rp_id.parse::<std::net::IpAddr>().is_ok()
        || rp_id
            .trim_matches(['[', ']'])
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    {
        return Err(err(
            "WEBAUTHN_RP_ID",
            format!("{rp_id:?} is an IP address; the relying party id must be a host name (use localhost for local runs, not 127.0.0.1)"),
        ));
    }
    if rp_id.len() > 253 || !rp_id.split('.').all(label_ok) {
        return Err(err(
            "WEBAUTHN_RP_ID",
            format!("{rp_id:?} is not a host name (no scheme, port or path: e.g. example.com or localhost)"),
        ));
    }
    let rp_name = rp_name.unwrap_or("edge-auth").to_owned();
    if rp_name.chars().count() > 64 || rp_name.chars().any(char::is_control) {
        return Err(err(
            "WEBAUTHN_RP_NAME",
            "must be at most 64 characters without control characters",
        ));
    }
    let default_origin = format!("https://{rp_id}");
    let mut list = Vec::new();
    for o in origins.unwrap_or(&default_origin).split(',') {
        let o = o.trim().trim_end_matches('/');
        if o.is_empty() {
            continue;
        }
        let url = webauthn_rs::prelude::Url::parse(o)
            .map_err(|e| err("WEBAUTHN_ORIGINS", format!("{o:?}: {e}")))?;
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && host == "localhost");
        if !scheme_ok || url.path() != "/" || url.query().is_some() {
            return Err(err(
                "WEBAUTHN_ORIGINS",
                format!("{o:?} must be an https origin (scheme, host, optional port; http only for localhost)"),
            ));
        }
        if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
            return Err(err(
                "WEBAUTHN_ORIGINS",
                format!("{o:?}: its host is not {rp_id} (WEBAUTHN_RP_ID) or a subdomain of it"),
            ));
        }
        list.push(o.to_owned());
    }
    if list.is_empty() {
        return Err(err("WEBAUTHN_ORIGINS", "names no origin"));
    }
    Ok(Some(PasskeyConfig {
        rp_id,
        rp_name,
        origins: list,
    }))
}

#[derive(Clone, Debug)]
pub struct Config {
    /// `ORIGIN_ADDR`: listen address (default 127.0.0.1:8788).
    pub addr: SocketAddr,
    /// `DATA_DIR`: where the SQLite file (and a generated key-encryption key) live (default ./data).
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `postgres://…` switches to PostgreSQL; `sqlite://…` picks a file; unset → `DATA_DIR/origin.sqlite3`.
    pub database_url: Option<String>,
    /// `ENVELOPE_SECRET` (required): the edge↔origin HMAC secret, hex or base64 (standard or URL-safe), ≥ 32 bytes; parsed by the edge core's `envelope::parse_secret`.
    pub envelope_key: EnvelopeKey,
    /// `ENVELOPE_MAX_AGE_SECS`: how old a signed envelope may be (default 60).
    pub envelope_max_age_secs: u64,
    /// `ISSUER` (default http://127.0.0.1:8788): `iss` of access tokens, base of jwks_uri.
    pub issuer: String,
    /// `AUDIENCE` (default edge-auth): `aud` of access tokens.
    pub audience: String,
    /// `KEY_ENCRYPTION_KEY`: 32 bytes (hex/base64url) encrypting private signing keys at rest.
    /// Unset → generated once into `DATA_DIR/key-encryption-key` (local runs only).
    pub key_encryption_key: Option<SecretBytes>,
    /// `SIGNING_ALG`: EdDSA (default) or ES256 for new keys.
    pub signing_alg: SigningAlg,
    /// `ACCESS_TOKEN_TTL_SECS` (default 900).
    pub access_ttl_secs: u64,
    /// `REFRESH_TOKEN_TTL_SECS` (default 30 days): absolute session lifetime.
    pub refresh_ttl_secs: u64,
    /// `SESSION_POLICY`: single | multi (default multi).
    pub session_policy: SessionPolicy,
    /// `SESSION_IDLE_TIMEOUT_SECS` (default 43200 = 12 h, or `ACCESS_TOKEN_TTL_SECS` if
    /// longer; never less than it): a
    /// session whose refresh token was not used for this long can no longer be refreshed, even
    /// before its absolute end (`REFRESH_TOKEN_TTL_SECS`).
    pub session_idle_timeout_secs: u64,
    /// `SESSION_WARNING_SECS` (default 120, 10–3600): how long before a session can no longer be
    /// refreshed the pages warn (and offer "Stay signed in"); `GET /auth/session` reports it.
    pub session_warning_secs: u64,
    /// `ARGON2_M_COST_KIB`, `ARGON2_T_COST`, `ARGON2_P_COST`.
    pub argon2: Argon2Params,
    /// `PASSWORD_PEPPER`: optional server-side secret mixed into every password hash (≥ 16 bytes).
    pub pepper: Option<SecretBytes>,
    /// `PASSWORD_MIN_LENGTH` (default 12).
    pub password_min_len: usize,
    /// `LOGIN_THROTTLE_AFTER`: failures before delays start (default 5).
    pub throttle_after: i64,
    /// `STEP_UP_MAX_AGE_SECS` (default 300, 30–86400): how recent an authentication sensitive
    /// operations (disabling TOTP, …) require, checked by the origin itself.
    pub step_up_max_age_secs: u64,
    /// `TOTP_ISSUER` (default `edge-auth`): the issuer an authenticator app shows next to the
    /// account (no `:`, at most 64 characters).
    pub totp_issuer: String,
    /// `SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`, `PASSWORD_RESET_TTL_SECS`, `EMAIL_VERIFY_TTL_SECS`.
    pub mail: MailConfig,
    /// `WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ORIGINS`: passkeys, or none configured.
    pub passkeys: Option<PasskeyConfig>,
    /// `PASSWORD_RESET_PER_EMAIL_PER_HOUR` (default 3, 1–100): reset mails sent to one address
    /// per hour; more requests get the same 202 and send nothing.
    pub reset_mails_per_hour: i64,
    /// `JWKS_MAX_AGE_SECS`: Cache-Control max-age of the JWKS (default 300).
    pub jwks_max_age_secs: u64,
    /// `COOKIE_SECURE`: set `Secure` on cookies (default true).
    pub cookie_secure: bool,
    /// `WEBHOOK_*`: the webhook store and its background processor.
    pub webhooks: WebhookSettings,
    /// `DATABASE_POOL_SIZE`, `MIGRATE_ON_START`, `SHUTDOWN_*`: how `serve` runs as one of
    /// several processes.
    pub serve: ServeSettings,
    /// `KEY_ROTATION_DAYS`, `KEY_PREPUBLISH_SECS`: routine signing-key rotation.
    pub key_rotation: KeyRotation,
    pub retention: Retention,
    /// `GOOGLE_*`, `GITHUB_*`, `KAKAO_*`, `SOCIAL_*` (and `PUBLIC_URL`): social sign-in
    /// (`social::config`).
    pub social: crate::social::config::SocialConfig,
    /// `GRAPHQL_*`: the limits of `POST /graphql` (see `graphql::limits::GraphqlSettings`).
    pub graphql: crate::graphql::limits::GraphqlSettings,
}

/// Routine signing-key rotation, run by every `serve` process (they agree through a lock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRotation {
    /// `KEY_ROTATION_DAYS` (default 30; 0 = only by hand): how long a key signs.
    pub every_secs: Option<u64>,
    /// `KEY_PREPUBLISH_SECS` (default twice `JWKS_MAX_AGE_SECS`): how long the successor is in
    /// the JWKS before it signs — at least `JWKS_MAX_AGE_SECS`, so every edge's cached key set
    /// has it before its first token arrives.
    pub prepublish_secs: u64,
}

/// What the retention sweeper (every `serve` process) deletes, and how often it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// `RETENTION_SWEEP_SECS` (default 3600; 0 = never): how often a sweep runs.
    pub sweep_every_secs: u64,
    /// `RETENTION_SESSIONS_DAYS` (default 30): sessions that ended (expired or revoked) longer ago
    /// than this are deleted, with their refresh tokens.
    pub sessions_days: u64,
    /// `RETENTION_TOKENS_DAYS` (default 7): used or expired reset / verification links and MFA
    /// challenges, stale log-in throttle entries and idempotency keys past their 24 h window,
    /// this long after they stopped mattering.
    pub tokens_days: u64,
    /// `RETENTION_WEBHOOKS_DAYS` (default 90): webhook events processed (`done`/`ignored`)
    /// longer ago than this, with their attempts.
    pub webhooks_days: u64,
    /// `RETENTION_AUDIT_DAYS` (default 365; at least every other retention: the audit log is
    /// kept longest): audit entries older than this.
    pub audit_days: u64,
}

/// How the `serve` process uses the database and stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeSettings {
    /// `DATABASE_POOL_SIZE`: connections this process may open (default 4 on SQLite, 16 on
    /// PostgreSQL). On PostgreSQL, processes × pool size + the webhook workers' share must stay
    /// under the server's `max_connections` minus its reserved slots.
    pub pool_size: Option<u32>,
    /// `MIGRATE_ON_START` (default true): `serve` applies pending migrations before listening.
    /// With several processes, set it false and run `edge-auth-origin migrate` once per
    /// release; a process whose migrations are not applied answers `/readyz` with 503.
    pub migrate_on_start: bool,
    /// `SHUTDOWN_DRAIN_SECS` (default 0): after SIGTERM/SIGINT, how long `/readyz` answers 503
    /// while requests are still served, so the load balancer stops sending new ones first.
    pub drain_secs: u64,
    /// `SHUTDOWN_GRACE_SECS` (default 25): then, how long in-flight requests and webhook
    /// handlers get to finish before the process exits anyway (a handler cut off loses
    /// nothing: its lease expires and another worker runs the event again).
    pub grace_secs: u64,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            pool_size: None,
            migrate_on_start: true,
            drain_secs: 0,
            grace_secs: 25,
        }
    }
}

/// How webhook events are received and processed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `WEBHOOK_WORKERS`: processor tasks started by `serve` (default 2; 0 = this instance only
    /// stores events, another one processes them).
    pub workers: usize,
    /// `WEBHOOK_MAX_ATTEMPTS`: attempts before an event is `dead` (default 5).
    pub max_attempts: i64,
    /// `WEBHOOK_LEASE_SECS`: how long a claimed event stays invisible to other workers; a worker
    /// that dies mid-handler loses its lease after this long (default 60).
    pub lease_secs: i64,
    /// `WEBHOOK_BACKOFF_BASE_MS`: delay before the 2nd attempt, doubled each time (default 1000).
    pub backoff_base_ms: i64,
    /// `WEBHOOK_BACKOFF_MAX_MS`: cap on the retry delay (default 3600000, one hour).
    pub backoff_max_ms: i64,
    /// `WEBHOOK_POLL_MS`: how often an idle worker looks for due events (default 500; a new
    /// delivery to this instance wakes a worker at once).
    pub poll_ms: u64,
    /// `WEBHOOK_MAX_BODY_BYTES`: largest payload stored (default 1048576, as at the edge).
    pub max_body_bytes: usize,
    /// `WEBHOOK_TEST_HANDLERS`: register the `test.*` event types (test aids; default false).
    pub test_handlers: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            workers: 2,
            max_attempts: 5,
            lease_secs: 60,
            backoff_base_ms: 1000,
            backoff_max_ms: 3_600_000,
            poll_ms: 500,
            max_body_bytes: 1 << 20,
            test_handlers: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.var, self.problem)
    }
}
impl std::error::Error for ConfigError {}

fn err(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// Decodes a secret given as hex or base64 (standard or URL-safe, padded or not): the edge
/// core's decoder, so both sides accept the same spellings.
pub fn decode_secret(s: &str) -> Option<Vec<u8>> {
    edge_auth::secret::decode(s).ok()
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Config::from_map(&vars)
    }

    pub fn from_map(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let get = |k: &str| env.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        fn num<T: std::str::FromStr>(
            var: &'static str,
            v: Option<&str>,
            default: T,
        ) -> Result<T, ConfigError> {
            match v {
                None => Ok(default),
                Some(s) => s
                    .parse()
                    .map_err(|_| err(var, format!("{s:?} is not a valid number"))),
            }
        }
        let step_up_max_age_secs =
            num("STEP_UP_MAX_AGE_SECS", get("STEP_UP_MAX_AGE_SECS"), 300u64)?;
        if !(30..=86_400).contains(&step_up_max_age_secs) {
            return Err(err(
                "STEP_UP_MAX_AGE_SECS",
                format!("{step_up_max_age_secs} is outside 30..=86400"),
            ));
        }
        let totp_issuer = get("TOTP_ISSUER").unwrap_or("edge-auth").to_owned();
        if totp_issuer.contains(':')
            || totp_issuer.chars().count() > 64
            || totp_issuer.chars().any(char::is_control)
        {
            return Err(err(
                "TOTP_ISSUER",
                "must be at most 64 characters without ':' or control characters",
            ));
        }
        let mail = {
            let smtp_url = get("SMTP_URL").map(str::to_owned);
            if let Some(u) = &smtp_url {
                if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
                    return Err(err("SMTP_URL", "must start with smtp:// or smtps://"));
                }
            }
            let from = get("MAIL_FROM").map(str::to_owned);
            let public_url = get("PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned());
            if let Some(u) = &public_url {
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    return Err(err("PUBLIC_URL", "must be an http(s) URL"));
                }
            }
            if smtp_url.is_some() && from.is_none() {
                return Err(err("MAIL_FROM", "is required when SMTP_URL is set"));
            }
            if smtp_url.is_some() && public_url.is_none() {
                return Err(err("PUBLIC_URL", "is required when SMTP_URL is set"));
            }
            let reset_ttl_secs = num(
                "PASSWORD_RESET_TTL_SECS",
                get("PASSWORD_RESET_TTL_SECS"),
                3600u64,
            )?;
            if !(300..=86_400).contains(&reset_ttl_secs) {
                return Err(err(
                    "PASSWORD_RESET_TTL_SECS",
                    format!("{reset_ttl_secs} is outside 300..=86400"),
                ));
            }
            let verify_ttl_secs = num(
                "EMAIL_VERIFY_TTL_SECS",
                get("EMAIL_VERIFY_TTL_SECS"),
                86_400u64,
            )?;
            if !(300..=604_800).contains(&verify_ttl_secs) {
                return Err(err(
                    "EMAIL_VERIFY_TTL_SECS",
                    format!("{verify_ttl_secs} is outside 300..=604800"),
                ));
            }
            MailConfig {
                smtp_url,
                from,
                public_url,
                reset_ttl_secs,
                verify_ttl_secs,
            }
        };
        let addr = match get("ORIGIN_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8788)),
            Some(s) => s
                .parse()
                .map_err(|_| err("ORIGIN_ADDR", format!("{s:?} is not host:port")))?,
        };
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or("./data"));
        let database_url = get("DATABASE_URL").map(str::to_owned);
        if let Some(u) = &database_url {
            if !(u.starts_with("postgres://")
                || u.starts_with("postgresql://")
                || u.starts_with("sqlite:"))
            {
                return Err(err(
                    "DATABASE_URL",
                    "must start with postgres://, postgresql:// or sqlite:",
                ));
            }
        }
        let envelope_key = {
            let raw = get("ENVELOPE_SECRET").ok_or_else(|| {
                err(
                    "ENVELOPE_SECRET",
                    "is required (hex or base64, at least 32 bytes, shared with the edge)",
                )
            })?;
            // The edge's parser: same encodings, same refusals, same words.
            edge_auth::envelope::parse_secret(raw).map_err(|e| err("ENVELOPE_SECRET", e))?
        };
        let key_encryption_key = match get("KEY_ENCRYPTION_KEY") {
            None => None,
            Some(raw) => {
                let bytes = decode_secret(raw)
                    .ok_or_else(|| err("KEY_ENCRYPTION_KEY", "is neither hex nor base64"))?;
                if bytes.len() != 32 {
                    return Err(err(
                        "KEY_ENCRYPTION_KEY",
                        format!("must be exactly 32 bytes, got {}", bytes.len()),
                    ));
                }
                Some(
                    SecretBytes::new(bytes, 32)
                        .map_err(|e| err("KEY_ENCRYPTION_KEY", e.to_string()))?,
                )
            }
        };
        let pepper = match get("PASSWORD_PEPPER") {
            None => None,
            Some(raw) => {
                let bytes = decode_secret(raw)
                    .ok_or_else(|| err("PASSWORD_PEPPER", "is neither hex nor base64"))?;
                Some(
                    SecretBytes::new(bytes, 16)
                        .map_err(|e| err("PASSWORD_PEPPER", e.to_string()))?,
                )
            }
        };
        let signing_alg = match get("SIGNING_ALG") {
            None => SigningAlg::EdDsa,
            Some(s) => SigningAlg::from_jose(s)
                .ok_or_else(|| err("SIGNING_ALG", format!("{s:?} is not one of EdDSA, ES256")))?,
        };
        let session_policy = match get("SESSION_POLICY") {
            None | Some("multi") => SessionPolicy::Multi,
            Some("single") => SessionPolicy::Single,
            Some(s) => {
                return Err(err(
                    "SESSION_POLICY",
                    format!("{s:?} is not one of single, multi"),
                ))
            }
        };
        let d = Argon2Params::default();
        let argon2 = Argon2Params {
            m_cost_kib: num("ARGON2_M_COST_KIB", get("ARGON2_M_COST_KIB"), d.m_cost_kib)?,
            t_cost: num("ARGON2_T_COST", get("ARGON2_T_COST"), d.t_cost)?,
            p_cost: num("ARGON2_P_COST", get("ARGON2_P_COST"), d.p_cost)?,
        };
        if argon2.p_cost == 0 || argon2.t_cost == 0 || argon2.m_cost_kib < 8 * argon2.p_cost {
            return Err(err(
                "ARGON2_M_COST_KIB",
                "argon2 parameters out of range (t ≥ 1, p ≥ 1, m ≥ 8·p KiB)",
            ));
        }
        let access_ttl_secs = num(
            "ACCESS_TOKEN_TTL_SECS",
            get("ACCESS_TOKEN_TTL_SECS"),
            900u64,
        )?;
        if !(30..=86_400).contains(&access_ttl_secs) {
            return Err(err("ACCESS_TOKEN_TTL_SECS", "must be between 30 and 86400"));
        }
        let refresh_ttl_secs = num(
            "REFRESH_TOKEN_TTL_SECS",
            get("REFRESH_TOKEN_TTL_SECS"),
            30 * 86_400u64,
        )?;
        if refresh_ttl_secs < access_ttl_secs {
            return Err(err(
                "REFRESH_TOKEN_TTL_SECS",
                "must be at least ACCESS_TOKEN_TTL_SECS",
            ));
        }
        let session_idle_timeout_secs = num(
            "SESSION_IDLE_TIMEOUT_SECS",
            get("SESSION_IDLE_TIMEOUT_SECS"),
            43_200u64.max(access_ttl_secs),
        )?;
        if session_idle_timeout_secs < access_ttl_secs {
            return Err(err(
                "SESSION_IDLE_TIMEOUT_SECS",
                "must be at least ACCESS_TOKEN_TTL_SECS",
            ));
        }
        let session_warning_secs =
            num("SESSION_WARNING_SECS", get("SESSION_WARNING_SECS"), 120u64)?;
        if !(10..=3600).contains(&session_warning_secs) {
            return Err(err("SESSION_WARNING_SECS", "must be between 10 and 3600"));
        }
        let password_min_len = num("PASSWORD_MIN_LENGTH", get("PASSWORD_MIN_LENGTH"), 12usize)?;
        if !(8..=128).contains(&password_min_len) {
            return Err(err("PASSWORD_MIN_LENGTH", "must be between 8 and 128"));
        }
        let cookie_secure = match get("COOKIE_SECURE") {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(s) => return Err(err("COOKIE_SECURE", format!("{s:?} is not true/false"))),
        };
        let wd = WebhookSettings::default();
        let webhooks = WebhookSettings {
            workers: num("WEBHOOK_WORKERS", get("WEBHOOK_WORKERS"), wd.workers)?,
            max_attempts: num(
                "WEBHOOK_MAX_ATTEMPTS",
                get("WEBHOOK_MAX_ATTEMPTS"),
                wd.max_attempts,
            )?,
            lease_secs: num(
                "WEBHOOK_LEASE_SECS",
                get("WEBHOOK_LEASE_SECS"),
                wd.lease_secs,
            )?,
            backoff_base_ms: num(
                "WEBHOOK_BACKOFF_BASE_MS",
                get("WEBHOOK_BACKOFF_BASE_MS"),
                wd.backoff_base_ms,
            )?,
            backoff_max_ms: num(
                "WEBHOOK_BACKOFF_MAX_MS",
                get("WEBHOOK_BACKOFF_MAX_MS"),
                wd.backoff_max_ms,
            )?,
            poll_ms: num("WEBHOOK_POLL_MS", get("WEBHOOK_POLL_MS"), wd.poll_ms)?,
            max_body_bytes: num(
                "WEBHOOK_MAX_BODY_BYTES",
                get("WEBHOOK_MAX_BODY_BYTES"),
                wd.max_body_bytes,
            )?,
            test_handlers: match get("WEBHOOK_TEST_HANDLERS") {
                None | Some("0") | Some("false") => false,
                Some("1") | Some("true") => true,
                Some(s) => {
                    return Err(err(
                        "WEBHOOK_TEST_HANDLERS",
                        format!("{s:?} is not true/false"),
                    ))
                }
            },
        };
        if webhooks.workers > 64 {
            return Err(err("WEBHOOK_WORKERS", "must be between 0 and 64"));
        }
        if !(1..=100).contains(&webhooks.max_attempts) {
            return Err(err("WEBHOOK_MAX_ATTEMPTS", "must be between 1 and 100"));
        }
        if !(1..=86_400).contains(&webhooks.lease_secs) {
            return Err(err("WEBHOOK_LEASE_SECS", "must be between 1 and 86400"));
        }
        if webhooks.backoff_base_ms < 0 {
            return Err(err("WEBHOOK_BACKOFF_BASE_MS", "must not be negative"));
        }
        if webhooks.backoff_max_ms < webhooks.backoff_base_ms {
            return Err(err(
                "WEBHOOK_BACKOFF_MAX_MS",
                "must be at least WEBHOOK_BACKOFF_BASE_MS",
            ));
        }
        if !(10..=60_000).contains(&webhooks.poll_ms) {
            return Err(err("WEBHOOK_POLL_MS", "must be between 10 and 60000"));
        }
        if !(1024..=64 << 20).contains(&webhooks.max_body_bytes) {
            return Err(err(
                "WEBHOOK_MAX_BODY_BYTES",
                "must be between 1024 and 67108864",
            ));
        }
        let jwks_max_age_secs = num("JWKS_MAX_AGE_SECS", get("JWKS_MAX_AGE_SECS"), 300u64)?;
        let retention = {
            let days = |var: &'static str, default: u64| -> Result<u64, ConfigError> {
                let d = num(var, get(var), default)?;
                if !(1..=36_500).contains(&d) {
                    return Err(err(var, format!("{d} is outside 1..=36500 days")));
                }
                Ok(d)
            };
            let r = Retention {
                sweep_every_secs: num(
                    "RETENTION_SWEEP_SECS",
                    get("RETENTION_SWEEP_SECS"),
                    3600u64,
                )?,
                sessions_days: days("RETENTION_SESSIONS_DAYS", 30)?,
                tokens_days: days("RETENTION_TOKENS_DAYS", 7)?,
                webhooks_days: days("RETENTION_WEBHOOKS_DAYS", 90)?,
                audit_days: days("RETENTION_AUDIT_DAYS", 365)?,
            };
            if r.sweep_every_secs != 0 && r.sweep_every_secs < 60 {
                return Err(err(
                    "RETENTION_SWEEP_SECS",
                    "must be 0 (never) or at least 60",
                ));
            }
            let longest = r.sessions_days.max(r.tokens_days).max(r.webhooks_days);
            if r.audit_days < longest {
                return Err(err(
                    "RETENTION_AUDIT_DAYS",
                    format!("{} is shorter than another retention ({longest} days): the audit log is kept longest", r.audit_days),
                ));
            }
            r
        };
        let key_rotation = {
            let days = num("KEY_ROTATION_DAYS", get("KEY_ROTATION_DAYS"), 30u64)?;
            if days > 3650 {
                return Err(err("KEY_ROTATION_DAYS", "must be between 0 (off) and 3650"));
            }
            let prepublish_secs = num(
                "KEY_PREPUBLISH_SECS",
                get("KEY_PREPUBLISH_SECS"),
                2 * jwks_max_age_secs,
            )?;
            if prepublish_secs < jwks_max_age_secs {
                return Err(err(
                    "KEY_PREPUBLISH_SECS",
                    format!(
                        "must be at least JWKS_MAX_AGE_SECS ({jwks_max_age_secs}): edges cache the key set that long"
                    ),
                ));
            }
            let every_secs = (days > 0).then_some(days * 86_400);
            if every_secs.is_some_and(|e| prepublish_secs >= e) {
                return Err(err(
                    "KEY_PREPUBLISH_SECS",
                    "must be shorter than KEY_ROTATION_DAYS",
                ));
            }
            KeyRotation {
                every_secs,
                prepublish_secs,
            }
        };
        let sd = ServeSettings::default();
        let serve = ServeSettings {
            pool_size: match get("DATABASE_POOL_SIZE") {
                None => None,
                Some(v) => {
                    let n: u32 = num("DATABASE_POOL_SIZE", Some(v), 0)?;
                    if !(1..=1000).contains(&n) {
                        return Err(err("DATABASE_POOL_SIZE", "must be between 1 and 1000"));
                    }
                    Some(n)
                }
            },
            migrate_on_start: match get("MIGRATE_ON_START") {
                None | Some("true") | Some("1") => true,
                Some("false") | Some("0") => false,
                Some(s) => return Err(err("MIGRATE_ON_START", format!("{s:?} is not true/false"))),
            },
            drain_secs: num(
                "SHUTDOWN_DRAIN_SECS",
                get("SHUTDOWN_DRAIN_SECS"),
                sd.drain_secs,
            )?,
            grace_secs: num(
                "SHUTDOWN_GRACE_SECS",
                get("SHUTDOWN_GRACE_SECS"),
                sd.grace_secs,
            )?,
        };
        if serve.drain_secs > 300 {
            return Err(err("SHUTDOWN_DRAIN_SECS", "must be between 0 and 300"));
        }
        if !(1..=600).contains(&serve.grace_secs) {
            return Err(err("SHUTDOWN_GRACE_SECS", "must be between 1 and 600"));
        }
        let social = crate::social::config::parse(&|k| get(k).map(str::to_owned))?;
        Ok(Config {
            addr,
            data_dir,
            database_url,
            envelope_key,
            envelope_max_age_secs: num(
                "ENVELOPE_MAX_AGE_SECS",
                get("ENVELOPE_MAX_AGE_SECS"),
                edge_auth::envelope::DEFAULT_MAX_AGE_SECS,
            )?,
            issuer: get("ISSUER")
                .unwrap_or("http://127.0.0.1:8788")
                .trim_end_matches('/')
                .to_owned(),
            audience: get("AUDIENCE").unwrap_or("edge-auth").to_owned(),
            key_encryption_key,
            signing_alg,
            access_ttl_secs,
            refresh_ttl_secs,
            session_policy,
            session_idle_timeout_secs,
            session_warning_secs,
            argon2,
            pepper,
            password_min_len,
            throttle_after: num("LOGIN_THROTTLE_AFTER", get("LOGIN_THROTTLE_AFTER"), 5i64)?,
            step_up_max_age_secs,
            totp_issuer,
            mail,
            passkeys: passkey_config(
                get("WEBAUTHN_RP_ID"),
                get("WEBAUTHN_RP_NAME"),
                get("WEBAUTHN_ORIGINS"),
            )?,
            reset_mails_per_hour: {
                let n = num(
                    "PASSWORD_RESET_PER_EMAIL_PER_HOUR",
                    get("PASSWORD_RESET_PER_EMAIL_PER_HOUR"),
                    3i64,
                )?;
                if !(1..=100).contains(&n) {
                    return Err(err(
                        "PASSWORD_RESET_PER_EMAIL_PER_HOUR",
                        format!("{n} is outside 1..=100"),
                    ));
                }
                n
            },
            jwks_max_age_secs,
            cookie_secure,
            webhooks,
            serve,
            key_rotation,
            retention,
            social,
            graphql: crate::graphql::limits::GraphqlSettings::from_lookup(get)?,
        })
    }

    /// The database URL actually used: `DATABASE_URL`, else a SQLite file in `DATA_DIR`.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("origin.sqlite3").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    const SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn defaults_apply_when_only_the_secret_is_set() {
        let c = Config::from_map(&env(&[("ENVELOPE_SECRET", SECRET)])).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8788");
        assert_eq!(c.issuer, "http://127.0.0.1:8788");
        assert_eq!(c.audience, "edge-auth");
        assert_eq!(c.argon2, Argon2Params::default());
        assert_eq!(c.session_policy, SessionPolicy::Multi);
        assert!(c.effective_database_url().starts_with("sqlite://"));
        assert_eq!(c.webhooks, WebhookSettings::default());
        assert_eq!(c.serve, ServeSettings::default());
    }

    #[test]
    fn serve_settings_are_read_and_bounded() {
        let c = Config::from_map(&env(&[
            ("ENVELOPE_SECRET", SECRET),
            ("DATABASE_POOL_SIZE", "40"),
            ("MIGRATE_ON_START", "false"),
            ("SHUTDOWN_DRAIN_SECS", "5"),
            ("SHUTDOWN_GRACE_SECS", "30"),
        ]))
        .unwrap();
        assert_eq!(
            c.serve,
            ServeSettings {
                pool_size: Some(40),
                migrate_on_start: false,
                drain_secs: 5,
                grace_secs: 30
            }
        );
        for (var, bad) in [
            ("DATABASE_POOL_SIZE", "0"),
            ("DATABASE_POOL_SIZE", "many"),
            ("MIGRATE_ON_START", "sometimes"),
            ("SHUTDOWN_DRAIN_SECS", "301"),
            ("SHUTDOWN_GRACE_SECS", "0"),
        ] {
            let e = Config::from_map(&env(&[("ENVELOPE_SECRET", SECRET), (var, bad)])).unwrap_err();
            assert_eq!(e.var, var, "{var}={bad}: {e}");
        }
    }

    #[test]
    fn every_error_names_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "ENVELOPE_SECRET"),
            (&[("ENVELOPE_SECRET", "abcd")], "ENVELOPE_SECRET"),
            (&[("ENVELOPE_SECRET", "not base64 !!")], "ENVELOPE_SECRET"),
            (
                &[("ENVELOPE_SECRET", SECRET), ("ORIGIN_ADDR", "nope")],
                "ORIGIN_ADDR",
            ),
            (
                &[("ENVELOPE_SECRET", SECRET), ("DATABASE_URL", "mysql://x")],
                "DATABASE_URL",
            ),
            (
                &[("ENVELOPE_SECRET", SECRET), ("KEY_ENCRYPTION_KEY", "00ff")],
                "KEY_ENCRYPTION_KEY",
            ),
            (
                &[("ENVELOPE_SECRET", SECRET), ("SIGNING_ALG", "none")],
                "SIGNING_ALG",
            ),
            (
                &[("ENVELOPE_SECRET", SECRET), ("SESSION_POLICY", "both")],
                "SESSION_POLICY",
            ),
            (
                &[("ENVELOPE_SECRET", SECRET), ("ARGON2_T_COST", "x")],
                "ARGON2_T_COST",
            ),
            (
                &[("ENVELOPE_SECRET", SECRET), ("WEBHOOK_MAX_ATTEMPTS", "0")],
                "WEBHOOK_MAX_ATTEMPTS",
            ),
            (
                &[("ENVELOPE_SECRET", SECRET), ("WEBHOOK_WORKERS", "-1")],
                "WEBHOOK_WORKERS",
            ),
            (
                &[
                    ("ENVELOPE_SECRET", SECRET),
                    ("WEBHOOK_TEST_HANDLERS", "yes"),
                ],
                "WEBHOOK_TEST_HANDLERS",
            ),
            (
                &[
                    ("ENVELOPE_SECRET", SECRET),
                    ("WEBHOOK_BACKOFF_BASE_MS", "5000"),
                    ("WEBHOOK_BACKOFF_MAX_MS", "10"),
                ],
                "WEBHOOK_BACKOFF_MAX_MS",
            ),
        ];
        for (vars, var) in cases {
            let e = Config::from_map(&env(vars)).unwrap_err();
            assert_eq!(e.var, *var, "{vars:?} → {e}");
            assert!(e.to_string().starts_with(var));
        }
    }

    #[test]
    fn the_passkey_relying_party_is_a_host_name_and_origins_belong_to_it() {
        let with = |pairs: &[(&str, &str)]| {
            let mut v = vec![("ENVELOPE_SECRET", SECRET)];
            v.extend_from_slice(pairs);
            Config::from_map(&env(&v))
        };
        assert_eq!(with(&[]).unwrap().passkeys, None);
        let c = with(&[("WEBAUTHN_RP_ID", "Example.COM")]).unwrap();
        let p = c.passkeys.unwrap();
        assert_eq!(p.rp_id, "example.com");
        assert_eq!(p.origins, vec!["https://example.com".to_owned()]);
        let p = with(&[
            ("WEBAUTHN_RP_ID", "localhost"),
            (
                "WEBAUTHN_ORIGINS",
                "http://localhost:8787, https://localhost:9000/",
            ),
        ])
        .unwrap()
        .passkeys
        .unwrap();
        assert_eq!(
            p.origins,
            vec!["http://localhost:8787", "https://localhost:9000"]
        );
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[("WEBAUTHN_RP_ID", "127.0.0.1")],
                "WEBAUTHN_RP_ID",
                "use localhost",
            ),
            (&[("WEBAUTHN_RP_ID", "::1")], "WEBAUTHN_RP_ID", "IP address"),
            (
                &[("WEBAUTHN_RP_ID", "https://example.com")],
                "WEBAUTHN_RP_ID",
                "not a host name",
            ),
            (
                &[("WEBAUTHN_RP_ID", "example.com:443")],
                "WEBAUTHN_RP_ID",
                "not a host name",
            ),
            (
                &[("WEBAUTHN_ORIGINS", "https://example.com")],
                "WEBAUTHN_RP_ID",
                "required",
            ),
            (
                &[
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGINS", "https://evil.com"),
                ],
                "WEBAUTHN_ORIGINS",
                "subdomain",
            ),
            (
                &[
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGINS", "https://notexample.com"),
                ],
                "WEBAUTHN_ORIGINS",
                "subdomain",
            ),
            (
                &[
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGINS", "http://example.com"),
                ],
                "WEBAUTHN_ORIGINS",
                "http only for localhost",
            ),
            (
                &[
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGINS", "https://example.com/login"),
                ],
                "WEBAUTHN_ORIGINS",
                "https origin",
            ),
            (
                &[("PASSWORD_RESET_PER_EMAIL_PER_HOUR", "0")],
                "PASSWORD_RESET_PER_EMAIL_PER_HOUR",
                "outside",
            ),
        ];
        for (vars, var, words) in cases {
            let e = with(vars).unwrap_err();
            assert_eq!(e.var, *var, "{vars:?} → {e}");
            assert!(e.to_string().contains(words), "{vars:?} → {e}");
        }
    }

    /// The edge's verdict on an `ENVELOPE_SECRET` value: `Ok` or its problem text.
    fn edge_verdict(secret: &str) -> Result<(), String> {
        let vars = [
            ("DEPLOY_ENV", "development"),
            ("ORIGIN_URL", "http://127.0.0.1:8788"),
            ("ENVELOPE_SECRET", secret),
            (
                "ISSUERS",
                r#"[{"issuer":"https://issuer.test","audiences":["edge-auth"],"jwks_url":"https://issuer.test/jwks"}]"#,
            ),
        ];
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        match edge_auth::config::EdgeConfig::from_lookup(&get) {
            Ok(_) => Ok(()),
            Err(e) => Err(e
                .0
                .iter()
                .map(|p| format!("{}: {}", p.variable, p.problem))
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }

    #[test]
    fn edge_and_origin_accept_and_refuse_the_same_envelope_secrets_with_the_same_words() {
        let accepted = [
            SECRET,
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", // base64url, unpadded
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", // base64url, padded
            "+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=", // standard base64 (`+`, `/`)
            "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s", // the same bytes, URL-safe
        ];
        for s in accepted {
            assert_eq!(edge_verdict(s), Ok(()), "edge refused {s}");
            assert!(
                Config::from_map(&env(&[("ENVELOPE_SECRET", s)])).is_ok(),
                "origin refused {s}"
            );
        }
        let refused = [
            "00112233",           // hex, 4 bytes
            "AAECAwQFBgcICQoLDA", // base64, 13 bytes
            "not base64 !!",
        ];
        for s in refused {
            let edge = edge_verdict(s).expect_err(s);
            let origin = Config::from_map(&env(&[("ENVELOPE_SECRET", s)]))
                .expect_err(s)
                .to_string();
            assert_eq!(edge, origin, "{s}");
            assert!(origin.starts_with("ENVELOPE_SECRET: "), "{origin}");
        }
        assert!(edge_verdict("not base64 !!")
            .unwrap_err()
            .contains("neither hex nor base64"));
        assert!(edge_verdict("00112233")
            .unwrap_err()
            .contains("at least 32"));
    }

    #[test]
    fn base64url_secrets_are_accepted() {
        let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        assert_eq!(decode_secret(b64), decode_secret(SECRET));
        assert!(Config::from_map(&env(&[("ENVELOPE_SECRET", b64)])).is_ok());
    }
}
