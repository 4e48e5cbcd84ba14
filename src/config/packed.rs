//! The packed configuration: [`EdgeConfig`] as `edge-config-check --pack` writes it at deploy,
//! into the variable `EDGE_CONFIG_PACKED`, and as a fresh isolate reads it instead of parsing
//! the JSON variables (issue 23: their parsers were the largest code the first request compiled).
//!
//! The value is `v1.` and the unpadded base64url of: the SHA-256 digest of the variables it was
//! packed from ([`PACKED_INPUTS`]), then the configuration ([`crate::packed`]'s format). A
//! Worker reads it only if the digest of its own variables is the same, so a variable changed
//! after the deploy (a dashboard edit) is never shadowed by a stale pack: the Worker parses the
//! JSON variables instead and logs why. Secrets are not packed (the tool that packs does not see
//! them): `ENVELOPE_SECRET`, every `WEBHOOK_<ID>` and every issuer's `jwks_secret` are read and
//! checked at run time on both paths, by the same code.

use sha2::{Digest, Sha256};

use super::{
    AccessLog, BrowserConfig, ConfigError, EdgeConfig, IssuerConfig, JwksSettings, KeySource,
    Loader,
};
use crate::b64;
use crate::breaker::BreakerConfig;
use crate::decision_cache::CacheConfig;
use crate::deployment::DeployEnv;
use crate::jwt::{IssuerPolicy, KeySet};
use crate::packed::{Packer, Unpacker};
use crate::policy::RoutePolicy;
use crate::ratelimit::RateRule;

/// The variable that carries the packed configuration.
pub const PACKED_VARIABLE: &str = "EDGE_CONFIG_PACKED";

/// The format's version: the prefix of the value (`v1.`) and the first byte digested. A Worker
/// refuses any other, so a pack from another release's tool is parsed around, not misread.
const VERSION: &str = "v1.";

/// Every variable [`EdgeConfig::from_lookup`] reads that is not a secret, in the order the
/// digest covers them. A test checks that `from_lookup` reads these and secrets, nothing else.
pub const PACKED_INPUTS: [&str; 30] = [
    "DEPLOY_ENV",
    "ORIGIN_URL",
    "ISSUERS",
    "ROUTES",
    "LEEWAY_SECONDS",
    "MAX_TOKEN_BYTES",
    "SESSION_COOKIE",
    "LOGIN_PATH",
    "ORIGIN_TIMEOUT_MS",
    "JWKS_MIN_TTL_SECONDS",
    "JWKS_MAX_TTL_SECONDS",
    "JWKS_MAX_STALENESS_SECONDS",
    "JWKS_REFETCH_INTERVAL_SECONDS",
    "RATE_LIMITS",
    "RATE_LIMIT_MAX_KEYS",
    "DECISION_CACHE_TTL_SECONDS",
    "DECISION_CACHE_MAX_ENTRIES",
    "NEGATIVE_CACHE_TTL_SECONDS",
    "SERVER_TIMING",
    "ACCESS_LOG",
    "CORS_ORIGINS",
    "CSRF_PROTECTION",
    "CORS_MAX_AGE_SECONDS",
    "RATE_LIMITED_LOG_PER_SECOND",
    "REVOCATION_POLL_SECONDS",
    "REVOCATION_MAX_STALENESS_SECONDS",
    "BREAKER_FAILURES",
    "BREAKER_FAILURE_RATIO_PERCENT",
    "BREAKER_COOL_DOWN_MS",
    "BREAKER_HALF_OPEN_PROBES",
];

/// Why a Worker did not use its packed configuration (it parsed the JSON variables instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedRefusal {
    /// The variables changed since the pack was made (or it was made from others).
    Stale,
    /// Not a pack this release writes: wrong version, not base64url, or cut short.
    Malformed,
}

impl PackedRefusal {
    /// What the Worker logs, naming what to do.
    pub fn detail(self) -> &'static str {
        match self {
            PackedRefusal::Stale => "packed from other variables than these (one changed since the deploy?); JSON variables parsed instead; repack: scripts/deploy-check.sh",
            PackedRefusal::Malformed => "not a packed configuration of this release; JSON variables parsed instead; repack: scripts/deploy-check.sh",
        }
    }
}

/// The digest of the non-secret variables as `get` has them, untrimmed: absent and present
/// values are told apart, and each value is length-prefixed.
fn inputs_digest(get: &dyn Fn(&str) -> Option<String>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(VERSION.as_bytes());
    for name in PACKED_INPUTS {
        match get(name) {
            None => h.update([0]),
            Some(v) => {
                h.update([1]);
                h.update((v.len() as u64).to_le_bytes());
                h.update(v.as_bytes());
            }
        }
    }
    h.finalize().into()
}

/// A pack for `get`'s variables (their digest) around a body: [`EdgeConfig::packed`]'s, or any
/// other (fuzzing: `crate::fuzzing::pack_around`).
pub(crate) fn pack_around(get: &dyn Fn(&str) -> Option<String>, body: &[u8]) -> String {
    let mut bytes = inputs_digest(get).to_vec();
    bytes.extend_from_slice(body);
    format!("{VERSION}{}", b64::encode_url(&bytes))
}

/// A configuration's packed body (also `crate::fuzzing::repacked`).
pub(crate) fn repacked(c: &EdgeConfig) -> Vec<u8> {
    let mut p = Packer::new();
    c.pack(&mut p);
    p.into_bytes()
}

impl EdgeConfig {
    /// The packed configuration for a set of variables, or every problem with them (as
    /// [`EdgeConfig::from_lookup`] reports them). `get` must give the secrets too (or
    /// well-formed placeholders: they are checked, not packed).
    pub fn packed(get: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
        let c = EdgeConfig::from_lookup(get)?;
        Ok(pack_around(get, &repacked(&c)))
    }

    /// The configuration from its packed form and the secrets, if the pack was made from the
    /// variables `get` has. `Ok(Err(_))`: the pack is good but a secret is not.
    pub fn from_packed(
        packed: &str,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Result<EdgeConfig, ConfigError>, PackedRefusal> {
        let bytes = packed
            .trim()
            .strip_prefix(VERSION)
            .and_then(b64::decode_url)
            .ok_or(PackedRefusal::Malformed)?;
        let (digest, body) = bytes
            .split_first_chunk::<32>()
            .ok_or(PackedRefusal::Malformed)?;
        if *digest != inputs_digest(get) {
            return Err(PackedRefusal::Stale);
        }
        let mut l = Loader {
            get,
            problems: Vec::new(),
        };
        let mut u = Unpacker::new(body);
        let config = EdgeConfig::unpack(&mut u, &mut l);
        u.finish().ok_or(PackedRefusal::Malformed)?;
        Ok(match config {
            Some(c) if l.problems.is_empty() => Ok(c),
            _ => Err(ConfigError(l.problems)),
        })
    }

    fn pack(&self, p: &mut Packer) {
        p.bool(self.deploy_env == DeployEnv::Production)
            .str(&self.origin_url)
            .usize(self.issuers.len());
        for i in &self.issuers {
            p.str(&i.policy.issuer).strs(&i.policy.audiences);
            match &i.keys {
                KeySource::Url(u) => {
                    p.u8(0).str(u);
                }
                KeySource::Static {
                    secret: Some(name), ..
                } => {
                    p.u8(1).str(name);
                }
                KeySource::Static { keys, secret: None } => {
                    p.u8(2);
                    keys.pack(p);
                }
            }
        }
        self.routes.pack(p);
        p.u64(self.leeway_secs)
            .usize(self.max_token_bytes)
            .str(&self.session_cookie)
            .str(&self.login_path)
            .u64(self.origin_timeout_ms)
            .bool(self.server_timing)
            .bool(self.access_log == AccessLog::Denials)
            .u64(u64::from(self.rate_limited_log_per_second))
            .bool(self.browser.csrf)
            .strs(&self.browser.cors_origins)
            .u64(self.browser.cors_max_age_secs);
        let j = &self.jwks;
        p.u64(j.min_ttl_secs)
            .u64(j.max_ttl_secs)
            .u64(j.max_staleness_secs)
            .u64(j.refetch_interval_secs)
            .usize(self.rate_rules.len());
        for r in &self.rate_rules {
            r.pack(p);
        }
        let d = &self.decision_cache;
        let b = &self.breaker;
        p.usize(self.rate_limit_max_keys)
            .usize(d.max_entries)
            .usize(d.max_bytes)
            .u64(d.ttl_ms)
            .u64(d.negative_ttl_ms)
            .usize(d.max_negative_entries)
            .u64(self.revocation_poll_secs)
            .u64(self.revocation_max_staleness_secs)
            .u64(u64::from(b.consecutive_failures))
            .u8(b.failure_ratio_percent)
            .u64(b.window_ms)
            .u64(u64::from(b.min_requests))
            .u64(b.cool_down_ms)
            .u64(u64::from(b.half_open_probes));
    }

    /// Reads what [`EdgeConfig::pack`] wrote (whether all of it was there, `u.finish()` says)
    /// and the secrets (a missing or invalid one is a problem in `l`, and `None`).
    fn unpack(u: &mut Unpacker<'_>, l: &mut Loader<'_>) -> Option<EdgeConfig> {
        let deploy_env = if u.bool() {
            DeployEnv::Production
        } else {
            DeployEnv::Development
        };
        let origin_url = u.str();
        let envelope_key = l.envelope_key();
        let mut i = 0;
        let issuers = u.list(|u| {
            let policy = IssuerPolicy {
                issuer: u.str(),
                audiences: u.strs(),
            };
            let keys = match u.u8() {
                0 => KeySource::Url(u.str()),
                1 => {
                    let name = u.str();
                    let var = crate::text::indexed("ISSUERS", i);
                    // A problem is reported in `l`; the rest is still read, so every one is.
                    let keys = l.secret_keys(&name, &var).unwrap_or_default();
                    KeySource::Static {
                        keys,
                        secret: Some(name),
                    }
                }
                2 => KeySource::Static {
                    keys: KeySet::unpack(u)?,
                    secret: None,
                },
                _ => return None,
            };
            i += 1;
            Some(IssuerConfig { policy, keys })
        });
        let routes = RoutePolicy::unpack(u);
        let (webhooks, warnings) = l.webhooks(&routes);
        let config = EdgeConfig {
            deploy_env,
            origin_url,
            issuers,
            routes,
            leeway_secs: u.u64(),
            max_token_bytes: u.usize(),
            session_cookie: u.str(),
            login_path: u.str(),
            origin_timeout_ms: u.u64(),
            server_timing: u.bool(),
            access_log: if u.bool() {
                AccessLog::Denials
            } else {
                AccessLog::All
            },
            rate_limited_log_per_second: u.u32(),
            browser: BrowserConfig {
                csrf: u.bool(),
                cors_origins: u.strs(),
                cors_max_age_secs: u.u64(),
            },
            jwks: JwksSettings {
                min_ttl_secs: u.u64(),
                max_ttl_secs: u.u64(),
                max_staleness_secs: u.u64(),
                refetch_interval_secs: u.u64(),
            },
            webhooks,
            warnings,
            rate_rules: u.list(RateRule::unpack),
            rate_limit_max_keys: u.usize(),
            decision_cache: CacheConfig {
                max_entries: u.usize(),
                max_bytes: u.usize(),
                ttl_ms: u.u64(),
                negative_ttl_ms: u.u64(),
                max_negative_entries: u.usize(),
            },
            revocation_poll_secs: u.u64(),
            revocation_max_staleness_secs: u.u64(),
            breaker: BreakerConfig {
                consecutive_failures: u.u32(),
                failure_ratio_percent: u.u8(),
                window_ms: u.u64(),
                min_requests: u.u32(),
                cool_down_ms: u.u64(),
                half_open_probes: u.u32(),
            },
            // Last: the fields above are read in this order, whether or not the secret is good.
            envelope_key: envelope_key?,
        };
        Some(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const WEBHOOK: &str = r#"{"provider": "standard", "secrets": ["whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="]}"#;

    fn jwk_of(vector: &str) -> String {
        let path = format!("{}/tests/vectors/jwt/{vector}", env!("CARGO_MANIFEST_DIR"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["jwk"].to_string()
    }

    /// Every variable set, every kind of key and rule: what a demanding deployment has.
    fn rich() -> HashMap<String, String> {
        let inline = format!(
            r#"{{"keys":[{},{},{},
                {{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"}},
                {{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow","alg":"HS512","kid":"h"}},
                {{"kty":"EC","crv":"secp256k1","x":"a","y":"b","kid":"skipped"}}]}}"#,
            jwk_of("gen_es384.json"),
            jwk_of("rfc7515_a2_rs256.json"),
            jwk_of("gen_ps384.json"),
        );
        let issuers = format!(
            r#"[{{"issuer":"https://id.example","audiences":["api","web"],"jwks_url":"https://id.example/jwks"}},
                {{"issuer":"https://inline.example","audiences":["api"],"jwks":{inline}}},
                {{"issuer":"https://secret.example","audiences":["api"],"jwks_secret":"PARTNER_JWKS"}}]"#
        );
        let routes = r#"[
            {"id":"health","methods":["GET"],"path":"/healthz","access":"public"},
            {"id":"login","methods":["POST"],"path":"/auth/login","access":"public","rate_limits":["login_ip","acct"],"failure":{"rate_limiter":"strict","rate_limit_binding":"strict"}},
            {"id":"pages","path":"/app/{page}/*","access":"authenticated","upstream":"assets","failure":"strict"},
            {"id":"admin","path":"/admin/**","access":{"permissions":{"all_of":["admin:read","admin:write"]}},"require_fresh_auth":300,"require_amr":["mfa","hwk"]},
            {"id":"metrics","methods":["GET","HEAD"],"path":"/metrics","access":{"permissions":["metrics:read","ops"]},"rate_limits":["api_user","bind"]},
            {"id":"hook","methods":["POST"],"path":"/hooks/stripe","access":{"webhook":"stripe"},"rate_limits":["login_ip"]},
            {"id":"hook2","methods":["POST"],"path":"/hooks/other","access":{"webhook":"other-one"}}
        ]"#;
        let limits = r#"[
            {"id":"login_ip","key":["ip","route"],"limit":5,"period_secs":60},
            {"id":"acct","key":["account"],"limit":3,"period_ms":90000},
            {"id":"api_user","key":["user"],"limit":100,"period_secs":60,"backend":"durable"},
            {"id":"bind","key":["ip"],"limit":10,"period_secs":10,"backend":"binding","binding":"RL_BIND"}
        ]"#;
        let partner = format!(r#"{{"keys":[{}]}}"#, jwk_of("gen_es512.json"));
        [
            ("DEPLOY_ENV", "production"),
            ("ORIGIN_URL", "https://origin.example/"),
            ("ENVELOPE_SECRET", SECRET),
            ("ISSUERS", &issuers),
            ("PARTNER_JWKS", &partner),
            ("ROUTES", routes),
            ("RATE_LIMITS", limits),
            ("WEBHOOK_STRIPE", WEBHOOK),
            ("LEEWAY_SECONDS", "12"),
            ("MAX_TOKEN_BYTES", "4096"),
            ("SESSION_COOKIE", "sid"),
            ("LOGIN_PATH", "/signin"),
            ("ORIGIN_TIMEOUT_MS", "2500"),
            ("JWKS_MIN_TTL_SECONDS", "61"),
            ("JWKS_MAX_TTL_SECONDS", "3601"),
            ("JWKS_MAX_STALENESS_SECONDS", "7201"),
            ("JWKS_REFETCH_INTERVAL_SECONDS", "31"),
            ("RATE_LIMIT_MAX_KEYS", "777"),
            ("DECISION_CACHE_TTL_SECONDS", "42"),
            ("DECISION_CACHE_MAX_ENTRIES", "4242"),
            ("NEGATIVE_CACHE_TTL_SECONDS", "7"),
            ("SERVER_TIMING", "on"),
            ("ACCESS_LOG", "denials"),
            (
                "CORS_ORIGINS",
                r#"["https://app.example","https://admin.example"]"#,
            ),
            ("CSRF_PROTECTION", "off"),
            ("CORS_MAX_AGE_SECONDS", "99"),
            ("RATE_LIMITED_LOG_PER_SECOND", "3"),
            ("REVOCATION_POLL_SECONDS", "9"),
            ("REVOCATION_MAX_STALENESS_SECONDS", "99"),
            ("BREAKER_FAILURES", "8"),
            ("BREAKER_FAILURE_RATIO_PERCENT", "60"),
            ("BREAKER_COOL_DOWN_MS", "7000"),
            ("BREAKER_HALF_OPEN_PROBES", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn minimal() -> HashMap<String, String> {
        [
            ("DEPLOY_ENV", "development"),
            ("ORIGIN_URL", "http://127.0.0.1:8788"),
            ("ENVELOPE_SECRET", SECRET),
            (
                "ISSUERS",
                r#"[{"issuer":"https://id.example","audiences":["api"],"jwks_url":"https://id.example/jwks"}]"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn getter(vars: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
        move |k| vars.get(k).cloned()
    }

    /// The packed form of a configuration, made anew: equal packs mean equal configurations,
    /// HMAC secrets included (`Debug` redacts them).
    fn repack(c: &EdgeConfig) -> Vec<u8> {
        let mut p = Packer::new();
        c.pack(&mut p);
        p.into_bytes()
    }

    #[test]
    fn the_digest_covers_every_variable_from_lookup_reads_but_the_secrets() {
        let vars = rich();
        let read = RefCell::new(BTreeSet::new());
        let get = |k: &str| {
            read.borrow_mut().insert(k.to_owned());
            vars.get(k).cloned()
        };
        let c = EdgeConfig::from_lookup(&get).unwrap();
        assert_eq!(c.webhooks.len(), 1, "one webhook secret set, one not");
        assert_eq!(c.warnings.len(), 1);
        let secrets: BTreeSet<String> = [
            "ENVELOPE_SECRET",
            "PARTNER_JWKS",
            "WEBHOOK_STRIPE",
            "WEBHOOK_OTHER_ONE",
        ]
        .map(str::to_owned)
        .into();
        let expected: BTreeSet<String> = PACKED_INPUTS
            .iter()
            .map(|s| s.to_string())
            .chain(secrets)
            .collect();
        assert_eq!(*read.borrow(), expected);
        let unique: BTreeSet<_> = PACKED_INPUTS.iter().collect();
        assert_eq!(unique.len(), PACKED_INPUTS.len());
    }

    #[test]
    fn a_packed_configuration_unpacks_to_the_one_parsed_from_json() {
        for vars in [rich(), minimal()] {
            let get = getter(&vars);
            let parsed = EdgeConfig::from_lookup(&get).unwrap();
            let packed = EdgeConfig::packed(&get).unwrap();
            assert!(packed.starts_with("v1."), "{packed}");
            let unpacked = EdgeConfig::from_packed(&packed, &get).unwrap().unwrap();
            assert_eq!(format!("{unpacked:?}"), format!("{parsed:?}"));
            assert_eq!(repack(&unpacked), repack(&parsed));
            assert_eq!(unpacked.webhooks.len(), parsed.webhooks.len());
            assert_eq!(unpacked.warnings, parsed.warnings);
        }
    }

    #[test]
    fn the_rich_pack_keeps_every_kind_of_key_and_rule() {
        let vars = rich();
        let get = getter(&vars);
        let c = EdgeConfig::from_packed(&EdgeConfig::packed(&get).unwrap(), &get)
            .unwrap()
            .unwrap();
        let KeySource::Static {
            keys: inline,
            secret: None,
        } = &c.issuers[1].keys
        else {
            panic!("inline keys")
        };
        assert_eq!((inline.len(), inline.skipped()), (5, 1));
        assert!(matches!(&c.issuers[2].keys,
            KeySource::Static { keys, secret: Some(name) } if keys.len() == 1 && name == "PARTNER_JWKS"));
        assert!(matches!(&c.issuers[0].keys, KeySource::Url(u) if u == "https://id.example/jwks"));
        assert_eq!(c.routes.rules().len(), 7);
        assert_eq!(c.rate_rules.len(), 4);
        assert_eq!(c.routes.route("GET", "/app/x/y").id, "pages");
        assert_eq!(
            c.routes.route("GET", "/admin/a/b").step_up.max_age_secs,
            Some(300)
        );
        assert_eq!(
            (
                c.leeway_secs,
                c.breaker.half_open_probes,
                c.decision_cache.ttl_ms
            ),
            (12, 2, 42_000)
        );
    }

    #[test]
    fn a_changed_variable_makes_the_pack_stale() {
        let vars = rich();
        let packed = EdgeConfig::packed(&getter(&vars)).unwrap();
        for (name, value) in [
            ("LEEWAY_SECONDS", Some("13")),
            ("ROUTES", None),
            ("SERVER_TIMING", Some(" on")),
        ] {
            let mut changed = vars.clone();
            match value {
                Some(v) => changed.insert(name.to_owned(), v.to_owned()),
                None => changed.remove(name),
            };
            assert_eq!(
                EdgeConfig::from_packed(&packed, &getter(&changed)).err(),
                Some(PackedRefusal::Stale),
                "{name}"
            );
        }
        // A variable that was not set and now is.
        let mut added = minimal();
        let packed = EdgeConfig::packed(&getter(&added)).unwrap();
        added.insert("ACCESS_LOG".into(), "all".into());
        assert_eq!(
            EdgeConfig::from_packed(&packed, &getter(&added)).err(),
            Some(PackedRefusal::Stale)
        );
    }

    #[test]
    fn secrets_are_read_at_run_time_not_packed() {
        let vars = rich();
        let packed = EdgeConfig::packed(&getter(&vars)).unwrap();
        // Another envelope secret: the pack still applies (the digest leaves secrets out) ...
        let mut rotated = vars.clone();
        rotated.insert("ENVELOPE_SECRET".into(), "ab".repeat(32));
        assert!(EdgeConfig::from_packed(&packed, &getter(&rotated))
            .unwrap()
            .is_ok());
        // ... and a missing or bad secret is a configuration error naming it, as from JSON.
        for (name, value) in [
            ("ENVELOPE_SECRET", None),
            ("ENVELOPE_SECRET", Some("short")),
            ("PARTNER_JWKS", None),
            ("PARTNER_JWKS", Some(r#"{"keys":[]}"#)),
        ] {
            let mut bad = vars.clone();
            match value {
                Some(v) => bad.insert(name.to_owned(), v.to_owned()),
                None => bad.remove(name),
            };
            let get = getter(&bad);
            let from_packed = EdgeConfig::from_packed(&packed, &get).unwrap().unwrap_err();
            let from_json = EdgeConfig::from_lookup(&get).unwrap_err();
            assert!(
                from_packed.0.iter().any(|p| p.variable == name),
                "{name}: {from_packed}"
            );
            assert_eq!(from_packed, from_json, "{name}");
        }
        // A webhook's secret is read at run time too, and parsed on its route's first delivery:
        // a bad one loads on both paths and is the same problem there.
        let mut bad = vars.clone();
        bad.insert("WEBHOOK_STRIPE".into(), "{}".into());
        let get = getter(&bad);
        let from_packed = EdgeConfig::from_packed(&packed, &get).unwrap().unwrap();
        let from_json = EdgeConfig::from_lookup(&get).unwrap();
        let problems = from_packed.webhooks.problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].variable, "WEBHOOK_STRIPE");
        assert_eq!(problems, from_json.webhooks.problems());
    }

    #[test]
    fn a_pack_that_does_not_decode_is_refused_whole() {
        let vars = rich();
        let get = getter(&vars);
        let packed = EdgeConfig::packed(&get).unwrap();
        let bytes = b64::decode_url(&packed[3..]).unwrap();
        let malformed = |b: &[u8]| format!("v1.{}", b64::encode_url(b));
        let mut trailing = bytes.clone();
        trailing.push(0);
        for bad in [
            format!("v2.{}", &packed[3..]),
            packed.replace("v1.", "v1.!"),
            String::new(),
            malformed(&bytes[..31]),
            malformed(&bytes[..bytes.len() - 1]),
            malformed(&trailing),
        ] {
            assert_eq!(
                EdgeConfig::from_packed(&bad, &get).err(),
                Some(PackedRefusal::Malformed),
                "{bad:.40}"
            );
        }
    }

    /// A forged body behind a good digest: refused or read, never a panic. Every cut of the
    /// real body (and every byte flipped) is tried; what decodes went through the checks.
    #[test]
    fn every_cut_and_flipped_byte_of_a_pack_is_handled() {
        let vars = rich();
        let get = getter(&vars);
        let bytes = b64::decode_url(&EdgeConfig::packed(&get).unwrap()[3..]).unwrap();
        for cut in 32..bytes.len() {
            let text = format!("v1.{}", b64::encode_url(&bytes[..cut]));
            assert_eq!(
                EdgeConfig::from_packed(&text, &get).err(),
                Some(PackedRefusal::Malformed),
                "cut at {cut}"
            );
        }
        for i in 32..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let _ = EdgeConfig::from_packed(&format!("v1.{}", b64::encode_url(&b)), &get);
            }
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn vars() -> HashMap<String, String> {
        [
            ("DEPLOY_ENV", "development"),
            ("ORIGIN_URL", "http://127.0.0.1:8788"),
            ("ENVELOPE_SECRET", &"ab".repeat(32)),
            (
                "ISSUERS",
                r#"[{"issuer":"i","audiences":["a"],"jwks":{"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr8"}]}}]"#,
            ),
            (
                "ROUTES",
                r#"[{"id":"r","path":"/a/*/**","access":{"permissions":["p"]},"rate_limits":["x"]}]"#,
            ),
            ("RATE_LIMITS", r#"[{"id":"x","key":["ip"],"limit":3,"period_secs":60}]"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    proptest! {
        /// Any body behind a good digest — a real pack with bytes overwritten, or noise — is
        /// refused or read, never a panic; what is read packs again to exactly those bytes.
        #[test]
        fn any_body_is_refused_or_read_back_exactly(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
            use_noise in any::<bool>(),
        ) {
            let vars = vars();
            let get = |k: &str| vars.get(k).cloned();
            let real = b64::decode_url(&EdgeConfig::packed(&get).unwrap()[3..]).unwrap();
            let (digest, body) = real.split_at(32);
            let mut body = if use_noise { noise } else { body.to_vec() };
            for (at, byte) in edits {
                if !body.is_empty() {
                    let i = at.index(body.len());
                    body[i] = byte;
                }
            }
            let packed = format!("v1.{}", b64::encode_url(&[digest, &body[..]].concat()));
            if let Ok(Ok(c)) = EdgeConfig::from_packed(&packed, &get) {
                let mut p = Packer::new();
                c.pack(&mut p);
                // One encoding per configuration (no RSA key here: a modulus loses leading zero
                // bytes when checked, the one value the reader rewrites).
                prop_assert_eq!(p.into_bytes(), body);
            }
        }
    }
}
