//! The edge configuration: a typed struct parsed once from Worker vars and secrets.
//!
//! Every error names the variable and what is wrong with it; all problems are reported
//! together so an operator fixes them in one pass. A Worker with an invalid config answers
//! 500 `config_invalid` to every request (and logs the detail) instead of running half-configured.
//! The exception is a webhook route's secret: it is parsed on the route's first delivery, and a
//! malformed one fails that route only (`webhooks.rs`).

use core::fmt;

mod packed;
mod webhooks;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use packed::{pack_around, repacked};
pub use packed::{PackedRefusal, PACKED_INPUTS, PACKED_VARIABLE};
pub use webhooks::{Reading, WebhookSlot, Webhooks};

use crate::breaker::BreakerConfig;
use crate::decision_cache::CacheConfig;
use crate::deployment::DeployEnv;
use crate::envelope::EnvelopeKey;
use crate::json::{self, Node};
use crate::jwt::{IssuerPolicy, KeySet};
use crate::policy::Access;
use crate::policy::RoutePolicy;
use crate::ratelimit::{default_rules, parse_rules, RateRule};

/// Where an issuer's keys come from.
#[derive(Debug)]
pub enum KeySource {
    /// A JWKS given inline or through a secret: never refetched. `secret` names the secret
    /// (`jwks_secret`) the keys were read from: the packed configuration carries the name, not
    /// the keys.
    Static {
        keys: KeySet,
        secret: Option<String>,
    },
    /// A JWKS URL, fetched and cached by the JWKS manager.
    Url(String),
}

#[derive(Debug)]
pub struct IssuerConfig {
    pub policy: IssuerPolicy,
    pub keys: KeySource,
}

/// JWKS manager bounds (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksSettings {
    pub min_ttl_secs: u64,
    pub max_ttl_secs: u64,
    pub max_staleness_secs: u64,
    pub refetch_interval_secs: u64,
}

#[derive(Debug)]
pub struct EdgeConfig {
    /// `DEPLOY_ENV` (default `production`): production refuses http and internal hosts in
    /// `ORIGIN_URL` and JWKS URLs.
    pub deploy_env: DeployEnv,
    /// `ORIGIN_URL`: scheme + host (+ port), no trailing slash.
    pub origin_url: String,
    /// `ENVELOPE_SECRET`: shared with the origin.
    pub envelope_key: EnvelopeKey,
    /// `ISSUERS`.
    pub issuers: Vec<IssuerConfig>,
    /// `ROUTES`.
    pub routes: RoutePolicy,
    /// `LEEWAY_SECONDS` (default 30).
    pub leeway_secs: u64,
    /// `MAX_TOKEN_BYTES` (default 8192).
    pub max_token_bytes: usize,
    /// `SESSION_COOKIE` (default `access_token`): where browsers carry the access token.
    pub session_cookie: String,
    /// `LOGIN_PATH` (default `/login`): where browsers are sent when not signed in.
    pub login_path: String,
    /// `ORIGIN_TIMEOUT_MS` (default 10000).
    pub origin_timeout_ms: u64,
    /// `SERVER_TIMING` (default off): add `Server-Timing` (auth time, decision-cache hit/miss,
    /// origin time) to responses. Off by default: it tells any client whether its token was a
    /// cache hit, and costs a response rewrap per request.
    pub server_timing: bool,
    /// `ACCESS_LOG` (default `all`): which requests get a JSON log line.
    pub access_log: AccessLog,
    /// `CSRF_PROTECTION` (on), `CORS_ORIGINS` (none), `CORS_MAX_AGE_SECONDS` (600): see
    /// [`crate::pipeline::browser`].
    pub browser: BrowserConfig,
    /// `RATE_LIMITED_LOG_PER_SECOND` (default 1; 0: no limit): `rate_limited` denial lines per
    /// route rule per second per isolate; the others are counted in a `denials_suppressed` line.
    pub rate_limited_log_per_second: u32,
    /// `JWKS_MIN_TTL_SECONDS` (60), `JWKS_MAX_TTL_SECONDS` (86400),
    /// `JWKS_MAX_STALENESS_SECONDS` (86400), `JWKS_REFETCH_INTERVAL_SECONDS` (30).
    pub jwks: JwksSettings,
    /// One per webhook id named by a route, each from the secret `WEBHOOK_<ID>` (a JSON
    /// object: provider, secrets, tolerance_secs, max_body_bytes), parsed on the route's first
    /// delivery. A route whose secret is not set has no entry and answers 503
    /// `webhook_not_configured`; one whose secret is malformed answers 500 `config_invalid`.
    pub webhooks: Webhooks,
    /// What loaded but deserves an operator's eye (a webhook route without its secret);
    /// logged once when the isolate starts.
    pub warnings: Vec<ConfigProblem>,
    /// `RATE_LIMITS` (JSON rules; default: strict on login/signup/refresh, generous on APIs).
    pub rate_rules: Vec<RateRule>,
    /// `RATE_LIMIT_MAX_KEYS` (default 50000): bound of the per-isolate key table.
    pub rate_limit_max_keys: usize,
    /// `DECISION_CACHE_TTL_SECONDS` (60; 0 disables), `DECISION_CACHE_MAX_ENTRIES` (10000),
    /// `NEGATIVE_CACHE_TTL_SECONDS` (10).
    pub decision_cache: CacheConfig,
    /// `REVOCATION_POLL_SECONDS` (5) and `REVOCATION_MAX_STALENESS_SECONDS` (60): past that,
    /// `strict` routes answer 503 and the others keep serving (logged).
    pub revocation_poll_secs: u64,
    pub revocation_max_staleness_secs: u64,
    /// `BREAKER_FAILURES` (5), `BREAKER_FAILURE_RATIO_PERCENT` (50), `BREAKER_COOL_DOWN_MS` (5000),
    /// `BREAKER_HALF_OPEN_PROBES` (3).
    pub breaker: BreakerConfig,
}

/// What the edge does for browsers before any token is looked at ([`crate::pipeline::browser`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrowserConfig {
    /// `CSRF_PROTECTION` (on): refuse cross-site unsafe requests that carry no bearer token.
    pub csrf: bool,
    /// `CORS_ORIGINS` (JSON array, default empty): exact origins allowed to call with credentials.
    pub cors_origins: Vec<String>,
    /// `CORS_MAX_AGE_SECONDS` (600): how long browsers may cache a preflight answer.
    pub cors_max_age_secs: u64,
}

/// Which requests the edge writes a JSON line for (`ACCESS_LOG`). Every request the edge answers
/// itself (a denial, a 429, an unreachable origin) and every origin 5xx is always logged; the
/// setting only decides about requests the origin answered below 500. workerd's `console.log`
/// costs ~8 % of throughput on a forwarded request (docs/PERFORMANCE.md), and the origin logs
/// those requests under the same `x-request-id` anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessLog {
    /// `all`: one line per request.
    All,
    /// `denials`: denials and failures only.
    Denials,
}

impl AccessLog {
    /// Whether a forwarded request the origin answered with `status` gets a line.
    pub fn logs_forward(self, status: u16) -> bool {
        self == AccessLog::All || status >= 500
    }
}

/// The secret holding a webhook id's configuration: `WEBHOOK_` + the id upper-cased, `-` → `_`.
pub fn webhook_variable(id: &str) -> String {
    // Not `format!`: a fresh isolate's configuration would compile `core::fmt` for it (issue 23).
    let mut name = String::with_capacity("WEBHOOK_".len() + id.len());
    name.push_str("WEBHOOK_");
    name.extend(id.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: String,
    pub problem: String,
}

/// Every problem found while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", p.variable, p.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Collects problems while parsing so they are all reported at once.
struct Loader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<ConfigProblem>,
}

impl Loader<'_> {
    fn fail(&mut self, variable: &str, problem: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable: variable.to_owned(),
            problem: problem.into(),
        });
    }

    fn raw(&self, var: &str) -> Option<String> {
        (self.get)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, var: &str) -> Option<String> {
        let v = self.raw(var);
        if v.is_none() {
            self.fail(var, "is required but not set");
        }
        v
    }

    fn flag(&mut self, var: &str, default: bool) -> bool {
        match self.raw(var).as_deref().map(str::trim) {
            None => default,
            Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                self.fail(var, format!("{other:?} is not on/off (true/false, 1/0)"));
                default
            }
        }
    }

    fn number(&mut self, var: &str, default: u64, min: u64, max: u64) -> u64 {
        match self.raw(var) {
            None => default,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                Ok(n) => {
                    self.fail(var, format!("{n} is out of range {min}..={max}"));
                    default
                }
                Err(_) => {
                    self.fail(var, format!("{s:?} is not a whole number"));
                    default
                }
            },
        }
    }

    /// `ENVELOPE_SECRET`, a secret: read at run time on both paths.
    fn envelope_key(&mut self) -> Option<EnvelopeKey> {
        self.required("ENVELOPE_SECRET").and_then(|s| {
            crate::envelope::parse_secret(&s)
                .map_err(|e| self.fail("ENVELOPE_SECRET", e))
                .ok()
        })
    }

    /// The secret `WEBHOOK_<ID>` of every webhook the routes name, read at run time on both
    /// paths; one that is not set is a warning (its route answers 503), not an error.
    fn webhooks(&mut self, routes: &RoutePolicy) -> (Webhooks, Vec<ConfigProblem>) {
        let mut webhooks = Webhooks::default();
        let mut warnings = Vec::new();
        for rule in routes.rules() {
            let Access::Webhook(id) = &rule.access else {
                continue;
            };
            if webhooks.contains(id) {
                continue;
            }
            let var = webhook_variable(id);
            match self.raw(&var) {
                // Not deployed yet (or on purpose): that route answers 503
                // webhook_not_configured; the rest of the Worker runs.
                None => warnings.push(ConfigProblem {
                    variable: var.clone(),
                    problem: format!(
                        "is not set: route {:?} (webhook {id:?}) answers 503 webhook_not_configured until it is",
                        rule.id
                    ),
                }),
                // Parsed on the route's first delivery (`webhooks.rs` says why).
                Some(text) => webhooks.insert(id.clone(), WebhookSlot::new(var, text)),
            }
        }
        (webhooks, warnings)
    }

    /// An issuer's keys from the secret its `jwks_secret` names (`var`: `ISSUERS[i]`).
    fn secret_keys(&mut self, name: &str, var: &str) -> Option<KeySet> {
        match self.raw(name) {
            None => {
                self.fail(name, format!("is named by {var}.jwks_secret but not set"));
                None
            }
            Some(json) => KeySet::from_jwks_json(&json)
                .map_err(|e| self.fail(name, format!("{e}")))
                .ok(),
        }
    }
}

/// Decodes a secret given as hex or base64 (the shared [`crate::secret::decode`]).
pub fn decode_secret(s: &str) -> Result<Vec<u8>, String> {
    crate::secret::decode(s).map_err(|e| e.to_string())
}

/// One `ISSUERS` entry as written, before its checks.
struct RawIssuer<'b> {
    issuer: String,
    audiences: Vec<String>,
    jwks_url: Option<String>,
    jwks: Option<Node<'b>>,
    jwks_secret: Option<String>,
}

impl<'b> RawIssuer<'b> {
    const FIELDS: &'static [&'static str] =
        &["issuer", "audiences", "jwks_url", "jwks", "jwks_secret"];

    fn from_node(v: Node<'b>) -> Result<Self, String> {
        let v = v.config_object(Self::FIELDS)?;
        // The optional members may also be given as null.
        Ok(RawIssuer {
            issuer: json::required(json::string_member(v.get("issuer"), "issuer"), "issuer")?,
            audiences: json::required(
                json::strings_member(v.get("audiences"), "audiences"),
                "audiences",
            )?,
            jwks_url: json::string_member(v.present("jwks_url"), "jwks_url")?,
            jwks: v.present("jwks"),
            jwks_secret: json::string_member(v.present("jwks_secret"), "jwks_secret")?,
        })
    }
}

fn valid_http_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

impl EdgeConfig {
    /// Parses the configuration from a variable lookup (Worker vars and secrets, or a map in tests).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<EdgeConfig, ConfigError> {
        let mut l = Loader {
            get,
            problems: Vec::new(),
        };

        let deploy_env = DeployEnv::parse(l.raw("DEPLOY_ENV").as_deref()).unwrap_or_else(|e| {
            l.fail("DEPLOY_ENV", e);
            DeployEnv::Production
        });

        let origin_url = match l.required("ORIGIN_URL") {
            Some(u) if valid_http_url(&u) => match deploy_env.refuses(&u) {
                None => Some(u.trim_end_matches('/').to_owned()),
                Some(why) => {
                    l.fail("ORIGIN_URL", format!("{u:?} {why}"));
                    None
                }
            },
            Some(u) => {
                l.fail(
                    "ORIGIN_URL",
                    format!("{u:?} is not an http(s) URL like http://127.0.0.1:8788"),
                );
                None
            }
            None => None,
        };

        let envelope_key = l.envelope_key();

        let issuers = l
            .required("ISSUERS")
            .map(|s| parse_issuers(&mut l, &s, deploy_env))
            .unwrap_or_default();

        let routes = match l.raw("ROUTES") {
            None => RoutePolicy::new(Vec::new()),
            Some(s) => RoutePolicy::from_json(&s).unwrap_or_else(|e| {
                l.fail("ROUTES", e.to_string());
                RoutePolicy::new(Vec::new())
            }),
        };

        let (webhooks, warnings) = l.webhooks(&routes);

        let leeway_secs = l.number("LEEWAY_SECONDS", 30, 0, 300);
        let max_token_bytes = l.number(
            "MAX_TOKEN_BYTES",
            crate::jwt::MAX_TOKEN_BYTES as u64,
            256,
            64 * 1024,
        ) as usize;
        let session_cookie = l
            .raw("SESSION_COOKIE")
            .unwrap_or_else(|| "access_token".into());
        if !session_cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            l.fail(
                "SESSION_COOKIE",
                format!("{session_cookie:?} is not a valid cookie name"),
            );
        }
        let login_path = l.raw("LOGIN_PATH").unwrap_or_else(|| "/login".into());
        if !login_path.starts_with('/') || login_path.starts_with("//") {
            l.fail(
                "LOGIN_PATH",
                format!("{login_path:?} must be a same-origin path starting with '/'"),
            );
        }
        let origin_timeout_ms = l.number("ORIGIN_TIMEOUT_MS", 10_000, 100, 120_000);
        let jwks = JwksSettings {
            min_ttl_secs: l.number("JWKS_MIN_TTL_SECONDS", 60, 1, 86_400),
            max_ttl_secs: l.number("JWKS_MAX_TTL_SECONDS", 86_400, 1, 7 * 86_400),
            max_staleness_secs: l.number("JWKS_MAX_STALENESS_SECONDS", 86_400, 0, 30 * 86_400),
            refetch_interval_secs: l.number("JWKS_REFETCH_INTERVAL_SECONDS", 30, 1, 3_600),
        };
        let rate_rules = match l.raw("RATE_LIMITS") {
            None => default_rules(),
            Some(json) => parse_rules(&json).unwrap_or_else(|e| {
                l.fail("RATE_LIMITS", e.to_string());
                Vec::new()
            }),
        };
        for rule in routes.rules() {
            for id in &rule.rate_limits {
                match rate_rules.iter().find(|r| &r.id == id) {
                    None => l.fail(
                        "ROUTES",
                        format!("rule {:?} names rate limit {id:?}, which RATE_LIMITS does not define", rule.id),
                    ),
                    // Counting by account reads the body; a webhook's must reach its verifier untouched.
                    Some(r) if r.key.account && matches!(rule.access, Access::Webhook(_)) => l.fail(
                        "ROUTES",
                        format!("rule {:?} is a webhook route: rate limit {id:?} cannot count by account there", rule.id),
                    ),
                    Some(_) => {}
                }
            }
        }
        let rate_limit_max_keys = l.number("RATE_LIMIT_MAX_KEYS", 50_000, 1, 10_000_000) as usize;
        let decision_cache = CacheConfig {
            ttl_ms: l.number("DECISION_CACHE_TTL_SECONDS", 60, 0, 3600) * 1000,
            max_entries: l.number("DECISION_CACHE_MAX_ENTRIES", 10_000, 0, 1_000_000) as usize,
            negative_ttl_ms: l.number("NEGATIVE_CACHE_TTL_SECONDS", 10, 0, 600) * 1000,
            ..CacheConfig::default()
        };
        let server_timing = l.flag("SERVER_TIMING", false);
        let access_log = match l.raw("ACCESS_LOG").as_deref() {
            None | Some("all") => AccessLog::All,
            Some("denials") => AccessLog::Denials,
            Some(other) => {
                l.fail(
                    "ACCESS_LOG",
                    format!("{other:?} is not one of all, denials"),
                );
                AccessLog::All
            }
        };
        let cors_origins = match l.raw("CORS_ORIGINS") {
            None => Vec::new(),
            Some(text) => crate::pipeline::browser::parse_origins(&text).unwrap_or_else(|e| {
                l.fail("CORS_ORIGINS", e);
                Vec::new()
            }),
        };
        let browser = BrowserConfig {
            csrf: l.flag("CSRF_PROTECTION", true),
            cors_origins,
            cors_max_age_secs: l.number("CORS_MAX_AGE_SECONDS", 600, 0, 86_400),
        };
        let rate_limited_log_per_second =
            l.number("RATE_LIMITED_LOG_PER_SECOND", 1, 0, 1_000_000) as u32;
        let revocation_poll_secs = l.number("REVOCATION_POLL_SECONDS", 5, 1, 3600);
        let revocation_max_staleness_secs =
            l.number("REVOCATION_MAX_STALENESS_SECONDS", 60, 1, 86_400);
        let breaker = BreakerConfig {
            consecutive_failures: l.number("BREAKER_FAILURES", 5, 0, 1000) as u32,
            failure_ratio_percent: l.number("BREAKER_FAILURE_RATIO_PERCENT", 50, 0, 100) as u8,
            cool_down_ms: l.number("BREAKER_COOL_DOWN_MS", 5_000, 10, 600_000),
            half_open_probes: l.number("BREAKER_HALF_OPEN_PROBES", 3, 1, 100) as u32,
            ..BreakerConfig::default()
        };
        if jwks.min_ttl_secs > jwks.max_ttl_secs {
            l.fail(
                "JWKS_MIN_TTL_SECONDS",
                "must not exceed JWKS_MAX_TTL_SECONDS",
            );
        }

        match (origin_url, envelope_key) {
            (Some(origin_url), Some(envelope_key)) if l.problems.is_empty() => Ok(EdgeConfig {
                deploy_env,
                origin_url,
                envelope_key,
                issuers,
                routes,
                leeway_secs,
                max_token_bytes,
                session_cookie,
                login_path,
                origin_timeout_ms,
                server_timing,
                access_log,
                rate_limited_log_per_second,
                browser,
                jwks,
                webhooks,
                warnings,
                rate_rules,
                rate_limit_max_keys,
                decision_cache,
                revocation_poll_secs,
                revocation_max_staleness_secs,
                breaker,
            }),
            _ => Err(ConfigError(l.problems)),
        }
    }

    pub fn issuer(&self, iss: &str) -> Option<&IssuerConfig> {
        self.issuer_at(iss).map(|(_, i)| i)
    }

    /// [`issuer`](Self::issuer) with its index in `issuers`, for a caller that needs the same
    /// issuer again later (the Worker, while WebCrypto checks a signature).
    pub fn issuer_at(&self, iss: &str) -> Option<(usize, &IssuerConfig)> {
        self.issuers
            .iter()
            .enumerate()
            .find(|(_, i)| i.policy.issuer == iss)
    }
}

fn parse_issuers(l: &mut Loader<'_>, s: &str, deploy_env: DeployEnv) -> Vec<IssuerConfig> {
    let entries = match json::parse(s.as_bytes()).map(|doc| doc.items()) {
        Ok(Some(entries)) => entries,
        Ok(None) => {
            l.fail("ISSUERS", "must be a JSON array of issuer objects");
            return Vec::new();
        }
        Err(e) => {
            l.fail("ISSUERS", format!("is not valid JSON: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut listed = 0;
    for (i, entry) in entries.enumerate() {
        listed += 1;
        let var = crate::text::indexed("ISSUERS", i);
        let r = match RawIssuer::from_node(entry) {
            Ok(r) => r,
            Err(problem) => {
                l.fail(&var, problem);
                continue;
            }
        };
        if r.issuer.is_empty() {
            l.fail(&var, "issuer must not be empty");
            continue;
        }
        if out
            .iter()
            .any(|o: &IssuerConfig| o.policy.issuer == r.issuer)
        {
            l.fail(&var, format!("issuer {:?} is listed twice", r.issuer));
            continue;
        }
        if r.audiences.is_empty() || r.audiences.iter().any(String::is_empty) {
            l.fail(
                &var,
                "audiences must be a non-empty list of non-empty strings",
            );
            continue;
        }
        let keys = match (r.jwks_url, r.jwks, r.jwks_secret) {
            (Some(u), None, None) if valid_http_url(&u) => match deploy_env.refuses(&u) {
                None => KeySource::Url(u),
                Some(why) => {
                    l.fail(&var, format!("jwks_url {u:?} {why}"));
                    continue;
                }
            },
            (Some(u), None, None) => {
                l.fail(&var, format!("jwks_url {u:?} is not an http(s) URL"));
                continue;
            }
            (None, Some(v), None) => match KeySet::from_jwks(v) {
                Ok(keys) => KeySource::Static { keys, secret: None },
                Err(e) => {
                    l.fail(&var, format!("jwks: {e}"));
                    continue;
                }
            },
            (None, None, Some(name)) => match l.secret_keys(&name, &var) {
                Some(keys) => KeySource::Static {
                    keys,
                    secret: Some(name),
                },
                None => continue,
            },
            _ => {
                l.fail(&var, "needs exactly one of jwks_url, jwks, jwks_secret");
                continue;
            }
        };
        out.push(IssuerConfig {
            policy: IssuerPolicy {
                issuer: r.issuer,
                audiences: r.audiences,
            },
            keys,
        });
    }
    if listed == 0 {
        l.fail("ISSUERS", "must name at least one issuer");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_webhook_secrets_variable_is_its_id_upper_cased_with_underscores() {
        for id in ["stripe", "git-hub", "a_b-C9", "straße-ü", "-", ""] {
            let expected = format!("WEBHOOK_{}", id.to_ascii_uppercase().replace('-', "_"));
            assert_eq!(webhook_variable(id), expected, "{id:?}");
        }
    }

    /// The settings every configuration needs (a local one: its origin is on loopback).
    fn minimal() -> [(&'static str, &'static str); 4] {
        [
            ("DEPLOY_ENV", "development"),
            ("ORIGIN_URL", "http://127.0.0.1:8788"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", ISSUERS),
        ]
    }

    /// The minimal configuration plus one setting.
    fn with(var: &str, value: &str) -> Result<EdgeConfig, ConfigError> {
        let mut vars = minimal().to_vec();
        vars.push((var, value));
        load(&vars)
    }

    fn load(vars: &[(&str, &str)]) -> Result<EdgeConfig, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EdgeConfig::from_lookup(&move |k| m.get(k).cloned())
    }

    const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const ISSUERS: &str = r#"[{"issuer":"https://id.example","audiences":["api"],"jwks_url":"https://id.example/jwks"}]"#;

    /// Inputs the `issuers_config` fuzz target found a panic on (kept in
    /// fuzz/regressions/issuers_config/): each is refused, naming `ISSUERS`, and nothing panics.
    #[test]
    fn fuzz_regressions_of_issuers_are_refused_without_a_panic() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/regressions/issuers_config"
        );
        let inputs: Vec<String> = std::fs::read_dir(dir)
            .expect("fuzz/regressions/issuers_config")
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .collect();
        assert!(!inputs.is_empty());
        for issuers in &inputs {
            let e = with("ISSUERS", issuers).unwrap_err();
            assert!(
                e.0.iter().all(|p| p.variable.starts_with("ISSUERS")),
                "{issuers}: {e}"
            );
        }
    }

    #[test]
    fn a_production_worker_refuses_a_loopback_origin_and_jwks_url_naming_each_variable() {
        let local_issuer = r#"[{"issuer":"https://id.example","audiences":["api"],"jwks_url":"http://127.0.0.1:8788/.well-known/jwks.json"}]"#;
        let e = load(&[
            ("ORIGIN_URL", "http://127.0.0.1:8788"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", local_issuer),
        ])
        .unwrap_err();
        let vars: Vec<&str> = e.0.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(vars, ["ORIGIN_URL", "ISSUERS[0]"], "{e}");
        assert!(
            e.to_string().contains(
                "jwks_url \"http://127.0.0.1:8788/.well-known/jwks.json\" must be an https URL"
            ),
            "{e}"
        );
        let e = load(&[
            ("DEPLOY_ENV", "production"),
            ("ORIGIN_URL", "https://10.1.2.3"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", ISSUERS),
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ORIGIN_URL: \"https://10.1.2.3\" names \"10.1.2.3\""),
            "{e}"
        );
        let c = load(&[
            ("ORIGIN_URL", "https://origin.example.com"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", ISSUERS),
        ])
        .unwrap();
        assert_eq!(
            c.deploy_env,
            DeployEnv::Production,
            "unset means production"
        );
        let e = load(&[
            ("DEPLOY_ENV", "staging"),
            ("ORIGIN_URL", "https://origin.example.com"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", ISSUERS),
        ])
        .unwrap_err();
        assert_eq!(e.0[0].variable, "DEPLOY_ENV", "{e}");
    }

    #[test]
    fn a_minimal_config_loads_with_documented_defaults() {
        let c = load(&[
            ("DEPLOY_ENV", "development"),
            ("ORIGIN_URL", "http://127.0.0.1:8788/"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", ISSUERS),
        ])
        .unwrap();
        assert_eq!(c.origin_url, "http://127.0.0.1:8788");
        assert_eq!(c.deploy_env, DeployEnv::Development);
        assert_eq!((c.leeway_secs, c.max_token_bytes), (30, 8192));
        assert_eq!(c.session_cookie, "access_token");
        assert!(matches!(
            c.issuer("https://id.example").unwrap().keys,
            KeySource::Url(_)
        ));
        assert!(c.issuer("https://other.example").is_none());
    }

    #[test]
    fn server_timing_is_opt_in_and_only_takes_on_off_words() {
        assert!(!load(&minimal()).unwrap().server_timing);
        for (v, want) in [
            ("on", true),
            ("true", true),
            ("1", true),
            ("off", false),
            ("0", false),
        ] {
            assert_eq!(with("SERVER_TIMING", v).unwrap().server_timing, want, "{v}");
        }
        let e = with("SERVER_TIMING", "yes please").unwrap_err().to_string();
        assert!(
            e.contains("SERVER_TIMING: \"yes please\" is not on/off"),
            "{e}"
        );
    }

    #[test]
    fn access_log_defaults_to_every_request_and_names_the_bad_value() {
        let all = load(&minimal()).unwrap().access_log;
        assert_eq!(all, AccessLog::All);
        assert!(all.logs_forward(200) && all.logs_forward(503));
        let denials = with("ACCESS_LOG", "denials").unwrap().access_log;
        assert_eq!(denials, AccessLog::Denials);
        assert!(!denials.logs_forward(200) && !denials.logs_forward(499));
        assert!(denials.logs_forward(500) && denials.logs_forward(504));
        let e = with("ACCESS_LOG", "none").unwrap_err().to_string();
        assert!(
            e.contains("ACCESS_LOG: \"none\" is not one of all, denials"),
            "{e}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_variable() {
        let e = load(&[
            ("ENVELOPE_SECRET", "your-256-bit-secret"),
            ("LEEWAY_SECONDS", "soon"),
            ("ISSUERS", "{}"),
        ])
        .unwrap_err();
        let vars: Vec<&str> = e.0.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            vars,
            ["ORIGIN_URL", "ENVELOPE_SECRET", "ISSUERS", "LEEWAY_SECONDS"],
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("ORIGIN_URL: is required but not set"),
            "{e}"
        );
    }

    #[test]
    fn short_envelope_secrets_are_refused() {
        let e = load(&[
            ("ORIGIN_URL", "https://origin.example"),
            ("ENVELOPE_SECRET", "00112233"),
            ("ISSUERS", ISSUERS),
        ])
        .unwrap_err();
        assert_eq!(e.0[0].variable, "ENVELOPE_SECRET");
        assert!(e.0[0].problem.contains("at least 32"), "{e}");
    }

    #[test]
    fn issuer_entries_are_checked_one_by_one() {
        let bad = r#"[{"issuer":"a","audiences":[],"jwks_url":"https://a/jwks"},
                      {"issuer":"b","audiences":["x"],"jwks_url":"ftp://b"},
                      {"issuer":"c","audiences":["x"]},
                      {"issuer":"d","audiences":["x"],"jwks_secret":"D_JWKS"}]"#;
        let e = load(&[
            ("ORIGIN_URL", "https://origin.example"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", bad),
        ])
        .unwrap_err();
        let vars: Vec<&str> = e.0.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            vars,
            ["ISSUERS[0]", "ISSUERS[1]", "ISSUERS[2]", "D_JWKS"],
            "{e}"
        );
    }

    #[test]
    fn issuers_take_an_inline_jwks_and_refuse_what_they_do_not_define() {
        let key = r#"{"kty":"oct","kid":"k1","alg":"HS256","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}"#;
        let inline = format!(
            r#"[{{"issuer":"https://a","audiences":["api"],"jwks":{{"keys":[{key}]}},"jwks_url":null}}]"#
        );
        let c = with("ISSUERS", &inline).unwrap();
        match &c.issuer("https://a").unwrap().keys {
            KeySource::Static { keys, .. } => assert_eq!(keys.len(), 1),
            other => panic!("{other:?}"),
        }
        let problem = |issuers: &str| {
            let e = load(&[
                ("ORIGIN_URL", "https://origin.example"),
                ("ENVELOPE_SECRET", SECRET),
                ("ISSUERS", issuers),
            ])
            .unwrap_err();
            assert_eq!(e.0.len(), 1, "{e}");
            format!("{}: {}", e.0[0].variable, e.0[0].problem)
        };
        // A typo is named, not ignored (a misspelt `jwks_url` would otherwise mean "no keys").
        let p = problem(r#"[{"issuer":"https://a","audiences":["api"],"jwks_uri":"https://a/k"}]"#);
        assert!(
            p.starts_with(r#"ISSUERS[0]: unknown field "jwks_uri""#),
            "{p}"
        );
        let p = problem(r#"[{"issuer":"https://a","audiences":"api","jwks_url":"https://a/k"}]"#);
        assert_eq!(p, "ISSUERS[0]: audiences must be a list of strings");
        let p = problem(r#"[{"audiences":["api"],"jwks_url":"https://a/k"}]"#);
        assert_eq!(p, "ISSUERS[0]: issuer is required");
        // Configuration is read as strictly as tokens: a member given twice, at any depth,
        // refuses the whole document (which of the two would count is exactly the ambiguity).
        let p = problem(
            r#"[{"issuer":"https://a","issuer":"https://b","audiences":["api"],"jwks_url":"https://a/k"}]"#,
        );
        assert!(
            p.starts_with("ISSUERS: is not valid JSON: repeated member name"),
            "{p}"
        );
        let twice = inline.replace(r#""kid":"k1","#, r#""kid":"k1","kid":"k2","#);
        assert!(problem(&twice).contains("repeated member name"));
        assert_eq!(problem("[]"), "ISSUERS: must name at least one issuer");
        assert_eq!(problem("[1]"), "ISSUERS[0]: must be an object");
    }

    #[test]
    fn routes_may_only_name_defined_rate_limits() {
        let routes = r#"[{"id":"login","path":"/auth/login","access":"public","rate_limits":["login_ip","nope"]}]"#;
        let e = load(&[
            ("ORIGIN_URL", "https://origin.example"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", ISSUERS),
            ("ROUTES", routes),
        ])
        .unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert!(e.to_string().contains("\"nope\""), "{e}");
    }

    #[test]
    fn webhook_routes_cannot_count_by_account() {
        let routes = r#"[{"id":"wh","path":"/webhooks/stripe","access":{"webhook":"stripe"},"rate_limits":["login_account"]}]"#;
        let e = load(&[
            ("ORIGIN_URL", "https://origin.example"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", ISSUERS),
            ("ROUTES", routes),
            (
                "WEBHOOK_STRIPE",
                r#"{"provider":"stripe","secrets":["whsec_0123456789abcdef0123"]}"#,
            ),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("cannot count by account"), "{e}");
    }

    #[test]
    fn a_webhook_route_without_its_secret_or_with_a_bad_one_is_switched_off_not_the_worker() {
        let routes =
            r#"[{"id":"stripe-in","path":"/webhooks/stripe","access":{"webhook":"stripe-live"}}]"#;
        let base = [
            ("ORIGIN_URL", "https://origin.example"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", ISSUERS),
            ("ROUTES", routes),
        ];
        let c = load(&base).expect("the rest of the Worker runs");
        assert!(c.webhooks.is_empty());
        assert_eq!(c.warnings.len(), 1);
        assert_eq!(c.warnings[0].variable, "WEBHOOK_STRIPE_LIVE");
        assert!(
            c.warnings[0].problem.contains("route \"stripe-in\"")
                && c.warnings[0].problem.contains("503 webhook_not_configured"),
            "{:?}",
            c.warnings[0]
        );
        let mut with = base.to_vec();
        with.push((
            "WEBHOOK_STRIPE_LIVE",
            r#"{"provider":"stripe","secrets":["whsec_0123456789abcdef0123"]}"#,
        ));
        let c = load(&with).unwrap();
        assert_eq!(
            c.webhooks.config("stripe-live").map(|w| w.provider),
            Some(crate::webhook::Provider::Stripe)
        );
        assert!(c.warnings.is_empty());
        let mut bad = base.to_vec();
        bad.push((
            "WEBHOOK_STRIPE_LIVE",
            r#"{"provider":"stripe","secrets":["short"]}"#,
        ));
        // Set but wrong: this route only is off (its first delivery answers config_invalid and
        // logs the variable), and the deploy check reports it.
        let c = load(&bad).expect("the rest of the Worker runs");
        assert!(c.warnings.is_empty());
        let problems = c.webhooks.problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].variable, "WEBHOOK_STRIPE_LIVE");
        assert!(problems[0].problem.contains("at least 16"), "{problems:?}");
    }

    #[test]
    fn secrets_decode_from_hex_or_base64() {
        assert_eq!(decode_secret("00ff").unwrap(), vec![0, 255]);
        assert_eq!(decode_secret("AP8").unwrap(), vec![0, 255]);
        assert_eq!(decode_secret("AP8=").unwrap(), vec![0, 255]);
        assert!(decode_secret("not base64!").is_err());
    }
}
