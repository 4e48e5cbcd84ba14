//! Rate-limit rules as configured (`RATE_LIMIT_RULES`, a JSON array), validated once at load;
//! every error names the offending field.

use core::fmt;

use crate::json::{self, Kind, Node};

use super::gcra::Quota;
use super::key::KeyParts;

/// Where a rule's counters live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Per isolate: approximate (each isolate counts alone), no network.
    Local,
    /// A Durable Object per key: exact and global, one round trip.
    Durable,
    /// The Workers Rate Limiting binding of that name (periods of 10 or 60 s only; the limit and
    /// period are declared in `wrangler.toml` and must match this rule's quota).
    Binding { name: String },
}

impl Backend {
    pub fn id(&self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Durable => "durable",
            Backend::Binding { .. } => "binding",
        }
    }
}

/// One rate-limit class; route rules refer to it by `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateRule {
    /// Stable id (`[a-z0-9_.-]`, ≤ 64 chars), used in route rules, logs and the `RateLimit` headers.
    pub id: String,
    pub key: KeyParts,
    pub quota: Quota,
    pub backend: Backend,
}

/// A rule set that cannot be loaded; `field` is a path such as `rules[1].limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleConfigError {
    Json { message: String },
    Field { field: String, problem: String },
}

impl fmt::Display for RuleConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleConfigError::Json { message } => {
                write!(f, "rate-limit rules are not valid json: {message}")
            }
            RuleConfigError::Field { field, problem } => write!(f, "{field}: {problem}"),
        }
    }
}

impl std::error::Error for RuleConfigError {}

fn err(field: impl Into<String>, problem: impl Into<String>) -> RuleConfigError {
    RuleConfigError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

const FIELDS: &[&str] = &[
    "id",
    "key",
    "limit",
    "period_secs",
    "period_ms",
    "backend",
    "binding",
];

/// Parses a JSON array of rules, e.g.
/// `[{"id":"login_ip","key":["ip"],"limit":10,"period_secs":60,"backend":"durable"}]`.
/// `period_ms` may replace `period_secs`; a `binding` backend names its binding in `binding`.
pub fn parse_rules(json: &str) -> Result<Vec<RateRule>, RuleConfigError> {
    let value = json::parse(json.as_bytes()).map_err(|e| RuleConfigError::Json {
        message: e.to_string(),
    })?;
    let items = value
        .items()
        .ok_or_else(|| err("rules", "must be a json array of rule objects"))?;
    let mut rules: Vec<RateRule> = Vec::new();
    for (i, item) in items.enumerate() {
        let path = crate::text::indexed("rules", i);
        let rule = RateRule::from_node(item, &path)?;
        if rules.iter().any(|r| r.id == rule.id) {
            return Err(err(
                format!("{path}.id"),
                format!("duplicate rule id {:?}", rule.id),
            ));
        }
        rules.push(rule);
    }
    Ok(rules)
}

impl RateRule {
    /// Parses one rule object; `path` prefixes field names in errors.
    fn from_node(obj: Node<'_>, path: &str) -> Result<RateRule, RuleConfigError> {
        if obj.kind() != Kind::Object {
            return Err(err(path, "must be a json object"));
        }
        let f = |name: &str| [path, ".", name].concat();
        if let Some(unknown) = obj.unknown_member(FIELDS) {
            return Err(err(
                f(&unknown),
                format!("unknown field (expected one of {})", FIELDS.join(", ")),
            ));
        }

        let id = req_str(obj, "id", &f("id"))?;
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
            })
        {
            return Err(err(f("id"), "must be 1-64 characters of a-z 0-9 _ - ."));
        }

        let parts = obj
            .get("key")
            .ok_or_else(|| err(f("key"), "is required"))?
            .items()
            .ok_or_else(|| {
                err(
                    f("key"),
                    "must be an array of \"ip\", \"user\", \"route\", \"account\"",
                )
            })?;
        let mut key = KeyParts::default();
        for (j, p) in parts.enumerate() {
            match p.as_str().as_deref() {
                Some("ip") => key.ip = true,
                Some("user") => key.user = true,
                Some("route") => key.route = true,
                Some("account") => key.account = true,
                _ => {
                    return Err(err(
                        format!("{path}.key[{j}]"),
                        "must be \"ip\", \"user\", \"route\" or \"account\"",
                    ))
                }
            }
        }
        if key.is_empty() {
            return Err(err(f("key"), "must name at least one part"));
        }

        let limit = req_u64(obj, "limit", &f("limit"))?;
        let limit =
            u32::try_from(limit).map_err(|_| err(f("limit"), "must be at most 4294967295"))?;
        let period_ms = match (obj.get("period_secs"), obj.get("period_ms")) {
            (Some(_), Some(_)) => {
                return Err(err(
                    f("period_ms"),
                    "give period_secs or period_ms, not both",
                ))
            }
            (Some(_), None) => req_u64(obj, "period_secs", &f("period_secs"))?
                .checked_mul(1000)
                .ok_or_else(|| err(f("period_secs"), "is too large"))?,
            (None, Some(_)) => req_u64(obj, "period_ms", &f("period_ms"))?,
            (None, None) => return Err(err(f("period_secs"), "is required")),
        };
        let period_field = if obj.get("period_ms").is_some() {
            f("period_ms")
        } else {
            f("period_secs")
        };
        let quota = Quota { limit, period_ms };
        quota.validate().map_err(|e| {
            let field = if matches!(e, super::QuotaError::LimitZero) {
                f("limit")
            } else {
                period_field.clone()
            };
            err(field, e.to_string())
        })?;

        let backend = match obj.get("backend") {
            None => Backend::Local,
            Some(b) => match b.as_str().as_deref() {
                Some("local") => Backend::Local,
                Some("durable") => Backend::Durable,
                Some("binding") => {
                    let name = req_str(obj, "binding", &f("binding"))?;
                    let identifier = name.bytes().enumerate().all(|(i, b)| {
                        b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit())
                    });
                    if name.is_empty() || !identifier {
                        return Err(err(
                            f("binding"),
                            "must name a rate limiting binding (a JS identifier: letters, digits, _)",
                        ));
                    }
                    if period_ms != 10_000 && period_ms != 60_000 {
                        return Err(err(
                            period_field,
                            "must be 10 or 60 seconds with the binding backend",
                        ));
                    }
                    Backend::Binding { name }
                }
                _ => {
                    return Err(err(
                        f("backend"),
                        "must be \"local\", \"durable\" or \"binding\"",
                    ))
                }
            },
        };
        if obj.get("binding").is_some() && !matches!(backend, Backend::Binding { .. }) {
            return Err(err(
                f("binding"),
                "is only valid with \"backend\": \"binding\"",
            ));
        }
        Ok(RateRule {
            id,
            key,
            quota,
            backend,
        })
    }
}

fn req_str(obj: Node<'_>, name: &str, field: &str) -> Result<String, RuleConfigError> {
    match obj.get(name) {
        None => Err(err(field, "is required")),
        Some(v) => v
            .as_str()
            .map(|s| s.into_owned())
            .ok_or_else(|| err(field, "must be a string")),
    }
}

fn req_u64(obj: Node<'_>, name: &str, field: &str) -> Result<u64, RuleConfigError> {
    match obj.get(name) {
        None => Err(err(field, "is required")),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| err(field, "must be a non-negative integer")),
    }
}

/// The shipped defaults: strict and exact (`durable`) where credentials are guessed, generous and
/// cheap (`local`) for authenticated API calls. Route rules refer to these ids.
pub fn default_rules() -> Vec<RateRule> {
    let rule = |id: &str, key, limit, period_secs: u64, backend| RateRule {
        id: id.to_owned(),
        key,
        quota: Quota {
            limit,
            period_ms: period_secs * 1000,
        },
        backend,
    };
    vec![
        rule("login_ip", KeyParts::IP, 10, 60, Backend::Durable),
        rule("login_account", KeyParts::ACCOUNT, 5, 60, Backend::Durable),
        rule("signup_ip", KeyParts::IP, 5, 600, Backend::Durable),
        rule("refresh_ip", KeyParts::IP, 30, 60, Backend::Durable),
        rule("api_user", KeyParts::USER, 600, 60, Backend::Local),
        rule("anonymous_ip", KeyParts::IP, 120, 60, Backend::Local),
    ]
}

// ---- The packed form (`crate::packed`): what `EDGE_CONFIG_PACKED` carries of `RATE_LIMITS`. -----

impl RateRule {
    pub fn pack(&self, p: &mut crate::packed::Packer) {
        let k = self.key;
        let parts = u8::from(k.ip)
            | u8::from(k.user) << 1
            | u8::from(k.route) << 2
            | u8::from(k.account) << 3;
        p.str(&self.id)
            .u8(parts)
            .u64(u64::from(self.quota.limit))
            .u64(self.quota.period_ms);
        match &self.backend {
            Backend::Local => p.u8(0),
            Backend::Durable => p.u8(1),
            Backend::Binding { name } => p.u8(2).str(name),
        };
    }

    /// The quota goes through [`Quota::new`]'s checks again.
    pub fn unpack(u: &mut crate::packed::Unpacker<'_>) -> Option<Self> {
        let id = u.str();
        let parts = u.u8();
        if parts == 0 || parts > 0b1111 {
            return None;
        }
        let key = KeyParts {
            ip: parts & 1 != 0,
            user: parts & 2 != 0,
            route: parts & 4 != 0,
            account: parts & 8 != 0,
        };
        let quota = Quota::new(u.u32(), u.u64()).ok()?;
        let backend = match u.u8() {
            0 => Backend::Local,
            1 => Backend::Durable,
            2 => Backend::Binding { name: u.str() },
            _ => return None,
        };
        Some(RateRule {
            id,
            key,
            quota,
            backend,
        })
    }
}
