//! Route policy: ordered rules (method + path pattern) deciding what a request needs.
//! The first matching rule wins; an unmatched path requires authentication.

use core::fmt;

use crate::json::{self, Kind, Node};
use crate::packed::{Packer, Unpacker};

/// What a route requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Forwarded anonymously (still envelope-signed, identity headers stripped).
    Public,
    /// Any valid token.
    Authenticated,
    /// A valid token carrying the permissions.
    Permissions(PermissionRule),
    /// A signed webhook delivery; the id names the webhook config (see `config::WebhookRoute`).
    Webhook(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionRule {
    AnyOf(Vec<String>),
    AllOf(Vec<String>),
}

impl PermissionRule {
    /// Does a token holding `held` satisfy the rule?
    pub fn is_satisfied_by<S: AsRef<str>>(&self, held: &[S]) -> bool {
        let has = |p: &String| held.iter().any(|h| h.as_ref() == p);
        match self {
            PermissionRule::AnyOf(ps) => ps.iter().any(has),
            PermissionRule::AllOf(ps) => ps.iter().all(has),
        }
    }

    /// Space-separated, for `WWW-Authenticate: ... scope="..."`.
    pub fn scope(&self) -> String {
        match self {
            PermissionRule::AnyOf(ps) | PermissionRule::AllOf(ps) => ps.join(" "),
        }
    }
}

/// What to do when a dependency the route relies on fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Keep serving with what the edge has, and log it.
    Open,
    /// Answer 503 with the dependency's reason and `Retry-After`.
    Strict,
}

impl FailurePolicy {
    const CHOICES: &'static [(&'static str, FailurePolicy)] = &[
        ("open", FailurePolicy::Open),
        ("strict", FailurePolicy::Strict),
    ];

    pub fn id(self) -> &'static str {
        match self {
            FailurePolicy::Open => "open",
            FailurePolicy::Strict => "strict",
        }
    }
}

/// A dependency of the edge whose failure a route's `failure` policy decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// The origin's revocation feed (stale past `REVOCATION_MAX_STALENESS_SECONDS`).
    Revocations,
    /// The issuer's JWKS (fetch failed, no usable key set).
    Jwks,
    /// The `RateLimiter` Durable Object (`"backend": "durable"` rules).
    RateLimiter,
    /// The Workers Rate Limiting binding (`"backend": "binding"` rules).
    RateLimitBinding,
}

impl Dependency {
    pub const ALL: [Dependency; 4] = [
        Dependency::Revocations,
        Dependency::Jwks,
        Dependency::RateLimiter,
        Dependency::RateLimitBinding,
    ];

    /// Its key in a rule's `"failure": {…}` object (and in log lines).
    pub const fn key(self) -> &'static str {
        match self {
            Dependency::Revocations => "revocations",
            Dependency::Jwks => "jwks",
            Dependency::RateLimiter => "rate_limiter",
            Dependency::RateLimitBinding => "rate_limit_binding",
        }
    }
}

/// A route's policy per dependency. `"failure": "open"` / `"strict"` sets all four; an object
/// sets the ones it names (`{"jwks": "strict", "rate_limiter": "open"}`), the others keep the
/// defaults: revocations open, JWKS strict (no keys means no user can be verified), the
/// durable rate limiter and the binding open (counted per isolate instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicies {
    pub revocations: FailurePolicy,
    pub jwks: FailurePolicy,
    pub rate_limiter: FailurePolicy,
    pub rate_limit_binding: FailurePolicy,
}

impl Default for FailurePolicies {
    fn default() -> Self {
        FailurePolicies {
            revocations: FailurePolicy::Open,
            jwks: FailurePolicy::Strict,
            rate_limiter: FailurePolicy::Open,
            rate_limit_binding: FailurePolicy::Open,
        }
    }
}

impl FailurePolicies {
    /// The same policy for every dependency.
    pub const fn all(p: FailurePolicy) -> Self {
        FailurePolicies {
            revocations: p,
            jwks: p,
            rate_limiter: p,
            rate_limit_binding: p,
        }
    }

    pub fn of(&self, dep: Dependency) -> FailurePolicy {
        match dep {
            Dependency::Revocations => self.revocations,
            Dependency::Jwks => self.jwks,
            Dependency::RateLimiter => self.rate_limiter,
            Dependency::RateLimitBinding => self.rate_limit_binding,
        }
    }

    fn set(&mut self, dep: Dependency, p: FailurePolicy) {
        match dep {
            Dependency::Revocations => self.revocations = p,
            Dependency::Jwks => self.jwks = p,
            Dependency::RateLimiter => self.rate_limiter = p,
            Dependency::RateLimitBinding => self.rate_limit_binding = p,
        }
    }

    /// A rule's `failure` member: `"open"`, `"strict"`, or an object of dependency → policy.
    fn from_node(v: Node<'_>) -> Result<Self, String> {
        if v.kind() == Kind::String {
            return json::choice_member(Some(v), "failure", FailurePolicy::CHOICES)
                .map(|p| FailurePolicies::all(p.unwrap_or(FailurePolicy::Open)));
        }
        let keys: Vec<&str> = Dependency::ALL.iter().map(|d| d.key()).collect();
        let Some(members) = (v.kind() == Kind::Object).then(|| v.members()).flatten() else {
            return Err(format!(
                r#"failure must be "open", "strict" or an object of {} → "open"/"strict""#,
                keys.join(", ")
            ));
        };
        let mut out = FailurePolicies::default();
        for (name, value) in members {
            let Some(dep) = Dependency::ALL.iter().find(|d| d.key() == name) else {
                return Err(format!(
                    "failure: unknown key {name:?} (expected one of {})",
                    keys.join(", ")
                ));
            };
            let p = json::choice_member(
                Some(value),
                &format!("failure.{}", dep.key()),
                FailurePolicy::CHOICES,
            )?;
            if let Some(p) = p {
                out.set(*dep, p);
            }
        }
        Ok(out)
    }
}

/// Who answers an allowed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upstream {
    /// The origin service, with the signed identity envelope.
    #[default]
    Origin,
    /// The static pages in `www/` (the Worker's assets binding).
    Assets,
}

/// A path pattern: literal segments, `*` or `{name}` for one segment, a final `**` for any rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    raw: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

impl PathPattern {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let body = raw
            .strip_prefix('/')
            .ok_or_else(|| format!("pattern {raw:?} must start with '/'"))?;
        let mut segments = Vec::new();
        let parts: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        for (i, s) in parts.iter().enumerate() {
            let seg = match *s {
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => {
                    return Err(format!(
                        "pattern {raw:?}: '**' is only allowed as the last segment"
                    ))
                }
                "*" => Segment::One,
                s if s.starts_with('{') && s.ends_with('}') && s.len() > 2 => Segment::One,
                s if s.contains('*') || s.contains('{') || s.contains('}') => {
                    return Err(format!(
                        "pattern {raw:?}: segment {s:?} mixes wildcards and text"
                    ))
                }
                "" if i + 1 == parts.len() => Segment::Literal(String::new()),
                "" => return Err(format!("pattern {raw:?} has an empty segment")),
                s => Segment::Literal(s.to_owned()),
            };
            segments.push(seg);
        }
        Ok(PathPattern {
            raw: raw.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Matches a request path (without query). Literal comparison: the runtime's URL parser has
    /// already resolved dot segments, and edge and origin see the same string.
    pub fn matches(&self, path: &str) -> bool {
        let Some(body) = path.strip_prefix('/') else {
            return false;
        };
        // "/" has no segments; every other path has at least one (possibly empty) segment.
        let mut parts = (!body.is_empty())
            .then(|| body.split('/'))
            .into_iter()
            .flatten();
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::One => match parts.next() {
                    Some(p) if !p.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(l) => {
                    if parts.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

/// How recent and how strong the person's authentication must be on a route (RFC 9470):
/// `"require_fresh_auth": <seconds>` and `"require_amr": [<RFC 8176 values>]`. Only on routes
/// that need a user. A token falling short is refused with 401 `step_up_required` and
/// `WWW-Authenticate: Bearer error="insufficient_user_authentication"` naming what is needed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepUp {
    /// The token's `auth_time` must be at most this many seconds old (a missing one is too old).
    pub max_age_secs: Option<u64>,
    /// Every one of these must be among the token's `amr` values; `mfa` is also met by two or
    /// more distinct methods (RFC 8176 §2 lists `mfa` for a multiple-factor authentication).
    pub amr: Vec<String>,
}

impl StepUp {
    pub fn is_required(&self) -> bool {
        self.max_age_secs.is_some() || !self.amr.is_empty()
    }

    /// Does an authentication at `auth_time` (unix seconds) by the methods `amr` meet it at `now`?
    pub fn is_met_by(&self, auth_time: Option<u64>, amr: &[String], now_secs: u64) -> bool {
        let fresh = match self.max_age_secs {
            None => true,
            // A future auth_time (clock skew) counts as now.
            Some(max) => auth_time.is_some_and(|t| now_secs.saturating_sub(t) <= max),
        };
        let methods = self
            .amr
            .iter()
            .all(|need| amr.iter().any(|a| a == need) || (need == "mfa" && distinct(amr) >= 2));
        fresh && methods
    }

    /// The RFC 9470 challenge parameters: `max_age=<n>` and `acr_values="<required amr values>"`
    /// (this edge names its authentication contexts after the methods a route requires, so the
    /// pages know which method to step up with).
    pub fn challenge(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.max_age_secs {
            parts.push(format!("max_age={n}"));
        }
        if !self.amr.is_empty() {
            parts.push(format!(r#"acr_values="{}""#, self.amr.join(" ")));
        }
        parts.join(", ")
    }
}

fn distinct(amr: &[String]) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for a in amr {
        if a != "mfa" && !seen.contains(&a.as_str()) {
            seen.push(a);
        }
    }
    seen.len()
}

/// One route rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, used in logs and rate-limit keys.
    pub id: String,
    /// Upper-case methods; `None` = any.
    pub methods: Option<Vec<String>>,
    pub pattern: PathPattern,
    pub access: Access,
    /// Ids of the rate-limit rules that apply.
    pub rate_limits: Vec<String>,
    /// What to do when a dependency fails, per dependency.
    pub failure: FailurePolicies,
    pub upstream: Upstream,
    /// `require_fresh_auth` / `require_amr`.
    pub step_up: StepUp,
}

impl Rule {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m.eq_ignore_ascii_case(method)))
            && self.pattern.matches(path)
    }
}

/// The ordered rule list plus the rule used when none matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePolicy {
    rules: Vec<Rule>,
    fallback: Rule,
}

/// A rule's place in its [`RoutePolicy`]: the index of a configured rule, or the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleAt(Option<usize>);

impl RoutePolicy {
    pub fn new(rules: Vec<Rule>) -> Self {
        let fallback = Rule {
            id: "default".into(),
            methods: None,
            pattern: PathPattern::parse("/**").expect("static pattern"),
            access: Access::Authenticated,
            rate_limits: Vec::new(),
            failure: FailurePolicies::default(),
            upstream: Upstream::Origin,
            step_up: StepUp::default(),
        };
        RoutePolicy { rules, fallback }
    }

    /// The first rule matching, or the authenticated fallback.
    pub fn route(&self, method: &str, path: &str) -> &Rule {
        self.rule(self.route_at(method, path))
    }

    /// Where [`route`](Self::route) lands, kept by a caller that needs the same rule again
    /// later without matching again (the Worker, while WebCrypto checks a signature).
    pub fn route_at(&self, method: &str, path: &str) -> RuleAt {
        RuleAt(self.rules.iter().position(|r| r.matches(method, path)))
    }

    /// The rule at `at` (from [`route_at`](Self::route_at) on this policy).
    pub fn rule(&self, at: RuleAt) -> &Rule {
        at.0.and_then(|i| self.rules.get(i))
            .unwrap_or(&self.fallback)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Parses the `ROUTES` JSON array.
    pub fn from_json(s: &str) -> Result<Self, RouteError> {
        let top = |problem: String| RouteError {
            index: None,
            problem,
        };
        let doc = json::parse(s.as_bytes()).map_err(|e| top(format!("is not valid JSON: {e}")))?;
        let entries = doc
            .items()
            .ok_or_else(|| top("must be a JSON array of rule objects".to_owned()))?;
        let mut rules = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for (i, v) in entries.enumerate() {
            let err = |problem: String| RouteError {
                index: Some(i),
                problem,
            };
            let r = RawRule::from_node(v).map_err(err)?;
            if r.id.is_empty()
                || !r
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(err(format!(
                    "id {:?} must be non-empty [A-Za-z0-9_-]",
                    r.id
                )));
            }
            if !ids.insert(r.id.clone()) {
                return Err(err(format!("id {:?} is used twice", r.id)));
            }
            let pattern = PathPattern::parse(&r.path).map_err(err)?;
            let methods = match r.methods {
                None => None,
                Some(ms) if ms.is_empty() => {
                    return Err(err(
                        "methods must not be empty (omit it for any method)".into()
                    ))
                }
                Some(ms) => Some(ms.into_iter().map(|m| m.to_ascii_uppercase()).collect()),
            };
            let access = match r.access {
                RawAccess::Name(n) => match n.as_str() {
                    "public" => Access::Public,
                    "authenticated" => Access::Authenticated,
                    other => return Err(err(format!("access {other:?} is not {ACCESS_FORMS}"))),
                },
                RawAccess::Permissions(rule) => {
                    let (PermissionRule::AnyOf(ps) | PermissionRule::AllOf(ps)) = &rule;
                    if ps.is_empty() || ps.iter().any(|p| p.is_empty() || p.contains([',', ' '])) {
                        return Err(err("permissions must be a non-empty list of names without spaces or commas".into()));
                    }
                    Access::Permissions(rule)
                }
                RawAccess::Webhook(webhook) => {
                    if webhook.is_empty() {
                        return Err(err("webhook must name a webhook config id".into()));
                    }
                    Access::Webhook(webhook)
                }
            };
            let step_up = StepUp {
                max_age_secs: r.require_fresh_auth,
                amr: r.require_amr.unwrap_or_default(),
            };
            if step_up.is_required()
                && !matches!(access, Access::Authenticated | Access::Permissions(_))
            {
                return Err(err(
                    "require_fresh_auth and require_amr need a route with access authenticated or permissions".into(),
                ));
            }
            if step_up.max_age_secs == Some(0) {
                return Err(err(
                    "require_fresh_auth must be a number of seconds above 0".into(),
                ));
            }
            if step_up.amr.iter().any(|a| {
                a.is_empty()
                    || !a
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            }) {
                return Err(err(
                    "require_amr must be a list of method names ([A-Za-z0-9_.-])".into(),
                ));
            }
            rules.push(Rule {
                id: r.id,
                methods,
                pattern,
                access,
                rate_limits: r.rate_limits,
                failure: r.failure,
                upstream: r.upstream,
                step_up,
            });
        }
        Ok(RoutePolicy::new(rules))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    pub index: Option<usize>,
    pub problem: String,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "rule [{i}]: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

/// One `ROUTES` entry as written, before its checks.
struct RawRule {
    id: String,
    methods: Option<Vec<String>>,
    path: String,
    access: RawAccess,
    rate_limits: Vec<String>,
    failure: FailurePolicies,
    upstream: Upstream,
    require_fresh_auth: Option<u64>,
    require_amr: Option<Vec<String>>,
}

/// `access` as written: a name, `{"permissions": …}` or `{"webhook": "<id>"}`.
enum RawAccess {
    Name(String),
    Permissions(PermissionRule),
    Webhook(String),
}

const ACCESS_FORMS: &str = r#"public, authenticated, {"permissions":…} or {"webhook":…}"#;

impl RawRule {
    const FIELDS: &'static [&'static str] = &[
        "id",
        "methods",
        "path",
        "access",
        "rate_limits",
        "failure",
        "upstream",
        "require_fresh_auth",
        "require_amr",
    ];

    fn from_node(v: Node<'_>) -> Result<RawRule, String> {
        let v = v.config_object(Self::FIELDS)?;
        let string = |name: &str| json::required(json::string_member(v.get(name), name), name);
        Ok(RawRule {
            id: string("id")?,
            // `null` is the same as absent: any method.
            methods: json::strings_member(v.present("methods"), "methods")?,
            path: string("path")?,
            access: RawAccess::from_node(v.get("access").ok_or("access is required")?)?,
            rate_limits: json::strings_member(v.get("rate_limits"), "rate_limits")?
                .unwrap_or_default(),
            failure: match v.present("failure") {
                None => FailurePolicies::default(),
                Some(f) => FailurePolicies::from_node(f)?,
            },
            upstream: json::choice_member(
                v.get("upstream"),
                "upstream",
                &[("origin", Upstream::Origin), ("assets", Upstream::Assets)],
            )?
            .unwrap_or_default(),
            require_fresh_auth: match v.present("require_fresh_auth") {
                None => None,
                Some(n) => Some(
                    n.as_u64()
                        .ok_or("require_fresh_auth must be a whole number of seconds")?,
                ),
            },
            require_amr: json::strings_member(v.present("require_amr"), "require_amr")?,
        })
    }
}

impl RawAccess {
    fn from_node(v: Node<'_>) -> Result<RawAccess, String> {
        if let Some(name) = v.as_str() {
            return Ok(RawAccess::Name(name.into_owned()));
        }
        let bad = || format!("access must be {ACCESS_FORMS}");
        // An object with exactly one member.
        let mut members = v.members().ok_or_else(bad)?;
        let (Some((name, value)), None) = (members.next(), members.next()) else {
            return Err(bad());
        };
        let bad_permissions = || {
            r#"permissions must be a list of names, {"any_of":[…]} or {"all_of":[…]}"#.to_owned()
        };
        let list = |n: Node<'_>| n.as_strings().ok_or_else(bad_permissions);
        match &*name {
            "webhook" => value
                .as_str()
                .map(|w| RawAccess::Webhook(w.into_owned()))
                .ok_or_else(|| "webhook must name a webhook config id".to_owned()),
            "permissions" if value.kind() == Kind::Array => {
                Ok(RawAccess::Permissions(PermissionRule::AllOf(list(value)?)))
            }
            "permissions" => {
                let mut m = value.members().into_iter().flatten();
                match (m.next(), m.next()) {
                    (Some((k, ps)), None) if k == "any_of" => {
                        Ok(RawAccess::Permissions(PermissionRule::AnyOf(list(ps)?)))
                    }
                    (Some((k, ps)), None) if k == "all_of" => {
                        Ok(RawAccess::Permissions(PermissionRule::AllOf(list(ps)?)))
                    }
                    _ => Err(bad_permissions()),
                }
            }
            _ => Err(bad()),
        }
    }
}

// ---- The packed form (`crate::packed`): what `EDGE_CONFIG_PACKED` carries of `ROUTES`. ----------

impl FailurePolicy {
    fn unpack(u: &mut Unpacker<'_>) -> Self {
        if u.bool() {
            FailurePolicy::Strict
        } else {
            FailurePolicy::Open
        }
    }
}

impl Rule {
    fn pack(&self, p: &mut Packer) {
        p.str(&self.id);
        match &self.methods {
            None => p.u8(0),
            Some(ms) => p.u8(1).strs(ms),
        };
        p.str(&self.pattern.raw);
        match &self.access {
            Access::Public => p.u8(0),
            Access::Authenticated => p.u8(1),
            Access::Permissions(PermissionRule::AnyOf(ps)) => p.u8(2).strs(ps),
            Access::Permissions(PermissionRule::AllOf(ps)) => p.u8(3).strs(ps),
            Access::Webhook(id) => p.u8(4).str(id),
        };
        let f = &self.failure;
        for policy in [f.revocations, f.jwks, f.rate_limiter, f.rate_limit_binding] {
            p.bool(policy == FailurePolicy::Strict);
        }
        p.strs(&self.rate_limits)
            .bool(self.upstream == Upstream::Assets)
            .opt_u64(self.step_up.max_age_secs)
            .strs(&self.step_up.amr);
    }

    /// The pattern is parsed again from its text, so its segments are the parser's.
    fn unpack(u: &mut Unpacker<'_>) -> Option<Self> {
        let id = u.str();
        let methods = match u.u8() {
            0 => None,
            1 => Some(u.strs()),
            _ => return None,
        };
        let pattern = PathPattern::parse(&u.str()).ok()?;
        let access = match u.u8() {
            0 => Access::Public,
            1 => Access::Authenticated,
            2 => Access::Permissions(PermissionRule::AnyOf(u.strs())),
            3 => Access::Permissions(PermissionRule::AllOf(u.strs())),
            4 => Access::Webhook(u.str()),
            _ => return None,
        };
        let failure = FailurePolicies {
            revocations: FailurePolicy::unpack(u),
            jwks: FailurePolicy::unpack(u),
            rate_limiter: FailurePolicy::unpack(u),
            rate_limit_binding: FailurePolicy::unpack(u),
        };
        Some(Rule {
            id,
            methods,
            pattern,
            access,
            failure,
            rate_limits: u.strs(),
            upstream: if u.bool() {
                Upstream::Assets
            } else {
                Upstream::Origin
            },
            step_up: StepUp {
                max_age_secs: u.opt_u64(),
                amr: u.strs(),
            },
        })
    }
}

impl RoutePolicy {
    /// The configured rules (the fallback is [`RoutePolicy::new`]'s, not packed).
    pub fn pack(&self, p: &mut Packer) {
        p.usize(self.rules.len());
        for r in &self.rules {
            r.pack(p);
        }
    }

    pub fn unpack(u: &mut Unpacker<'_>) -> Self {
        RoutePolicy::new(u.list(Rule::unpack))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up_options_are_read_and_checked() {
        let p = RoutePolicy::from_json(
            r#"[{"id":"a","path":"/a","access":"authenticated","require_fresh_auth":300,"require_amr":["mfa","hwk"]}]"#,
        )
        .unwrap();
        let s = &p.route("GET", "/a").step_up;
        assert_eq!(s.max_age_secs, Some(300));
        assert_eq!(s.amr, ["mfa", "hwk"]);
        assert_eq!(s.challenge(), r#"max_age=300, acr_values="mfa hwk""#);
        assert!(!p.route("GET", "/other").step_up.is_required());
        for (rules, problem) in [
            (
                r#"[{"id":"a","path":"/a","access":"public","require_fresh_auth":60}]"#,
                "need a route with access authenticated",
            ),
            (
                r#"[{"id":"a","path":"/a","access":{"webhook":"w"},"require_amr":["mfa"]}]"#,
                "need a route with access authenticated",
            ),
            (
                r#"[{"id":"a","path":"/a","access":"authenticated","require_fresh_auth":0}]"#,
                "above 0",
            ),
            (
                r#"[{"id":"a","path":"/a","access":"authenticated","require_fresh_auth":"60"}]"#,
                "whole number",
            ),
            (
                r#"[{"id":"a","path":"/a","access":"authenticated","require_amr":["a b"]}]"#,
                "method names",
            ),
            (
                r#"[{"id":"a","path":"/a","access":"authenticated","require_amr":"mfa"}]"#,
                "require_amr",
            ),
        ] {
            let e = RoutePolicy::from_json(rules).unwrap_err().to_string();
            assert!(e.contains(problem), "{rules}: {e}");
        }
    }

    #[test]
    fn step_up_is_met_by_a_recent_enough_and_strong_enough_authentication() {
        let fresh = StepUp {
            max_age_secs: Some(60),
            amr: vec![],
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(fresh.is_met_by(Some(1_000), &[], 1_060));
        assert!(
            !fresh.is_met_by(Some(1_000), &[], 1_061),
            "older than max_age"
        );
        assert!(
            !fresh.is_met_by(None, &[], 1_000),
            "no auth_time is too old"
        );
        assert!(
            fresh.is_met_by(Some(2_000), &[], 1_000),
            "a future auth_time is now"
        );
        let mfa = StepUp {
            max_age_secs: None,
            amr: s(&["mfa"]),
        };
        assert!(mfa.is_met_by(None, &s(&["mfa"]), 0));
        assert!(
            mfa.is_met_by(None, &s(&["pwd", "otp"]), 0),
            "two methods are multi-factor"
        );
        assert!(!mfa.is_met_by(None, &s(&["pwd", "pwd"]), 0));
        assert!(!mfa.is_met_by(None, &s(&["pwd"]), 0));
        let hwk = StepUp {
            max_age_secs: Some(10),
            amr: s(&["hwk"]),
        };
        assert!(hwk.is_met_by(Some(5), &s(&["hwk", "pwd"]), 10));
        assert!(!hwk.is_met_by(Some(5), &s(&["swk", "pwd"]), 10));
    }

    fn pat(p: &str) -> PathPattern {
        PathPattern::parse(p).unwrap()
    }

    #[test]
    fn patterns_match_as_documented() {
        let table = [
            ("/healthz", "/healthz", true),
            ("/healthz", "/healthz/", false),
            ("/healthz", "/healthzz", false),
            ("/api/*", "/api/me", true),
            ("/api/*", "/api/me/x", false),
            ("/api/*", "/api/", false),
            ("/api/{id}/x", "/api/7/x", true),
            ("/admin/**", "/admin", true),
            ("/admin/**", "/admin/users/1", true),
            ("/admin/**", "/administrator", false),
            ("/", "/", true),
            ("/", "/a", false),
            ("/**", "/anything/at/all", true),
        ];
        for (p, path, want) in table {
            assert_eq!(pat(p).matches(path), want, "{p} vs {path}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in ["admin", "/a/**/b", "/a//b", "/a*b", "/{x"] {
            assert!(PathPattern::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn first_matching_rule_wins_and_unmatched_paths_need_authentication() {
        let p = RoutePolicy::from_json(
            r#"[
              {"id":"health","methods":["get"],"path":"/healthz","access":"public"},
              {"id":"admin","path":"/admin/**","access":{"permissions":{"any_of":["rbac:admin","root"]}}},
              {"id":"reports","path":"/reports/**","access":{"permissions":["reports:read","reports:list"]}},
              {"id":"stripe","methods":["POST"],"path":"/webhooks/stripe","access":{"webhook":"stripe"}}
            ]"#,
        )
        .unwrap();
        assert_eq!(p.route("GET", "/healthz").access, Access::Public);
        assert_eq!(p.route("POST", "/healthz").id, "default");
        assert_eq!(p.route("POST", "/healthz").access, Access::Authenticated);
        assert_eq!(
            p.route("POST", "/webhooks/stripe").access,
            Access::Webhook("stripe".into())
        );
        let Access::Permissions(admin) = &p.route("GET", "/admin/users").access else {
            panic!()
        };
        assert!(admin.is_satisfied_by(&["root"]));
        assert!(!admin.is_satisfied_by(&["user"]));
        let Access::Permissions(reports) = &p.route("GET", "/reports/x").access else {
            panic!()
        };
        assert!(
            !reports.is_satisfied_by(&["reports:read"]),
            "a plain list means all-of"
        );
        assert!(reports.is_satisfied_by(&["reports:list", "reports:read"]));
    }

    #[test]
    fn a_kept_route_position_finds_the_same_rule_again() {
        let p = RoutePolicy::from_json(
            r#"[
              {"id":"health","methods":["GET"],"path":"/healthz","access":"public"},
              {"id":"api","path":"/api/**","access":"authenticated"}
            ]"#,
        )
        .unwrap();
        for (method, path, id) in [
            ("GET", "/healthz", "health"),
            ("POST", "/api/x", "api"),
            ("POST", "/healthz", "default"),
            ("GET", "/elsewhere", "default"),
        ] {
            let at = p.route_at(method, path);
            assert_eq!(p.rule(at).id, id, "{method} {path}");
            assert!(std::ptr::eq(p.rule(at), p.route(method, path)));
        }
    }

    #[test]
    fn route_errors_name_the_rule_and_the_problem() {
        let e = RoutePolicy::from_json(r#"[{"id":"a","path":"/a","access":"public"},{"id":"a","path":"/b","access":"public"}]"#).unwrap_err();
        assert_eq!(e.to_string(), "rule [1]: id \"a\" is used twice");
        let e = RoutePolicy::from_json(r#"[{"id":"a","path":"/a","access":"open"}]"#).unwrap_err();
        assert!(
            e.to_string().starts_with("rule [0]: access \"open\""),
            "{e}"
        );
        assert!(
            RoutePolicy::from_json(r#"[{"id":"a","path":"/a","access":{"permissions":[]}}]"#)
                .is_err()
        );
        let problem = |json: &str| RoutePolicy::from_json(json).unwrap_err().to_string();
        let p = problem(
            r#"[{"id":"a","path":"/a","access":"public"},{"id":"b","path":"/b","access":"public","typo":1}]"#,
        );
        assert!(
            p.starts_with(r#"rule [1]: unknown field "typo" (expected one of id, methods"#),
            "{p}"
        );
        for (access, want) in [
            (
                r#"{"webhook":"x","permissions":["a"]}"#,
                "access must be public, authenticated",
            ),
            (
                r#"{"permisions":["a"]}"#,
                "access must be public, authenticated",
            ),
            (r#"{}"#, "access must be public, authenticated"),
            (r#"7"#, "access must be public, authenticated"),
            (r#"{"webhook":7}"#, "webhook must name a webhook config id"),
            (
                r#"{"permissions":{"one_of":["a"]}}"#,
                "permissions must be a list of names",
            ),
            (
                r#"{"permissions":{"any_of":["a"],"all_of":["b"]}}"#,
                "permissions must be a list of names",
            ),
            (
                r#"{"permissions":["a",1]}"#,
                "permissions must be a list of names",
            ),
        ] {
            let p = problem(&format!(r#"[{{"id":"a","path":"/a","access":{access}}}]"#));
            assert!(p.starts_with(&format!("rule [0]: {want}")), "{access}: {p}");
        }
        let p = problem(r#"[{"id":"a","path":"/a","access":"public","failure":"closed"}]"#);
        assert_eq!(p, "rule [0]: failure must be one of open, strict");
        let p = problem(r#"[{"id":"a","path":"/a","access":"public","methods":"GET"}]"#);
        assert_eq!(p, "rule [0]: methods must be a list of strings");
        assert_eq!(
            problem(r#"[{"path":"/a","access":"public"}]"#),
            "rule [0]: id is required"
        );
        assert_eq!(
            problem(r#"{"id":"a"}"#),
            "must be a JSON array of rule objects"
        );
        let p = problem(r#"[{"id":"a","id":"b","path":"/a","access":"public"}]"#);
        assert!(
            p.starts_with("is not valid JSON: repeated member name"),
            "{p}"
        );
        // Every form that is allowed reads as written.
        let p = RoutePolicy::from_json(
            r#"[{"id":"a","path":"/a","access":{"permissions":{"any_of":["x","y"]}},"failure":"strict","upstream":"assets","methods":null},
                {"id":"b","path":"/b","methods":["get"],"access":{"permissions":{"all_of":["z"]}},"rate_limits":["r"]},
                {"id":"c","path":"/c","access":{"webhook":"stripe"}}]"#,
        )
        .unwrap();
        let [a, b, c] = p.rules() else { panic!() };
        assert_eq!(
            a.access,
            Access::Permissions(PermissionRule::AnyOf(vec!["x".into(), "y".into()]))
        );
        assert_eq!(
            (a.failure, a.upstream, &a.methods),
            (
                FailurePolicies::all(FailurePolicy::Strict),
                Upstream::Assets,
                &None
            )
        );
        assert_eq!(
            b.access,
            Access::Permissions(PermissionRule::AllOf(vec!["z".into()]))
        );
        assert_eq!(
            (b.failure, b.upstream),
            (FailurePolicies::default(), Upstream::Origin)
        );
        assert_eq!(
            (b.methods.as_deref(), &b.rate_limits[..]),
            (Some(&["GET".to_owned()][..]), &["r".to_owned()][..])
        );
        assert_eq!(c.access, Access::Webhook("stripe".into()));
    }

    #[test]
    fn failure_is_one_word_for_every_dependency_or_an_object_per_dependency() {
        use FailurePolicy::{Open, Strict};
        let failure = |f: &str| {
            RoutePolicy::from_json(&format!(
                r#"[{{"id":"a","path":"/a","access":"authenticated","failure":{f}}}]"#
            ))
            .map(|p| p.route("GET", "/a").failure)
            .map_err(|e| e.to_string())
        };
        // Absent (and null): the documented defaults.
        let defaults = FailurePolicies {
            revocations: Open,
            jwks: Strict,
            rate_limiter: Open,
            rate_limit_binding: Open,
        };
        assert_eq!(failure("null"), Ok(defaults));
        assert_eq!(
            RoutePolicy::from_json(r#"[{"id":"a","path":"/a","access":"public"}]"#)
                .unwrap()
                .route("GET", "/a")
                .failure,
            defaults
        );
        assert_eq!(
            RoutePolicy::new(vec![]).route("GET", "/x").failure,
            defaults
        );
        // The old one-word form: all four.
        assert_eq!(failure(r#""strict""#), Ok(FailurePolicies::all(Strict)));
        assert_eq!(failure(r#""open""#), Ok(FailurePolicies::all(Open)));
        // An object overrides the dependencies it names.
        assert_eq!(
            failure(r#"{"jwks":"open","rate_limiter":"strict"}"#),
            Ok(FailurePolicies {
                jwks: Open,
                rate_limiter: Strict,
                ..defaults
            })
        );
        assert_eq!(
            failure(r#"{"revocations":"strict","rate_limit_binding":"strict"}"#)
                .map(|f| Dependency::ALL.map(|d| f.of(d))),
            Ok([Strict, Strict, Open, Strict])
        );
        assert_eq!(failure("{}"), Ok(defaults));
        // Refusals name the rule and the key.
        for (f, want) in [
            (
                r#"{"jwk":"open"}"#,
                r#"rule [0]: failure: unknown key "jwk" (expected one of revocations, jwks, rate_limiter, rate_limit_binding)"#,
            ),
            (
                r#"{"jwks":"closed"}"#,
                "rule [0]: failure.jwks must be one of open, strict",
            ),
            (
                r#"{"rate_limiter":true}"#,
                "rule [0]: failure.rate_limiter must be one of open, strict",
            ),
            (
                r#""lenient""#,
                "rule [0]: failure must be one of open, strict",
            ),
            (
                r#"["open"]"#,
                r#"rule [0]: failure must be "open", "strict" or an object of revocations, jwks, rate_limiter, rate_limit_binding → "open"/"strict""#,
            ),
        ] {
            assert_eq!(failure(f), Err(want.to_owned()), "{f}");
        }
        let e = RoutePolicy::from_json(
            r#"[{"id":"a","path":"/a","access":"public","failure":{"jwks":"open","jwks":"strict"}}]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("is not valid JSON: repeated member name"),
            "{e}"
        );
    }
}
