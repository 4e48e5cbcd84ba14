//! The rate-limit stage: which of a route's rules apply now, with their keys; local rules counted
//! against the isolate's table, remote ones (Durable Object, Workers binding) handed to the
//! driver as one wait; the combined verdict and the `RateLimit` headers.

use crate::config::EdgeConfig;
use crate::jwt::VerifiedClaims;
use crate::policy::{Dependency, Rule};
use crate::ratelimit::{self, durable, Backend, KeyInput, Outcome, Quota, RateKey, RuleOutcome};
use crate::reason::Reason;
use crate::time::UnixMillis;

use super::failure;
use super::isolate::Isolate;
use super::request::Denial;

/// Which of a route's rules to check now: those not keyed by user run before authentication
/// (so floods never reach signature checks), user-keyed ones once the user is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    BeforeAuth,
    AfterAuth,
}

/// The verdicts of the rules checked so far, for the `RateLimit` headers on the response.
#[derive(Debug, Default)]
pub struct Limits {
    outcomes: Vec<(String, Quota, Outcome)>,
}

impl Limits {
    fn as_rule_outcomes(&self) -> Vec<RuleOutcome<'_>> {
        self.outcomes
            .iter()
            .map(|(id, q, o)| RuleOutcome {
                rule_id: id,
                quota: *q,
                outcome: *o,
            })
            .collect()
    }

    /// `RateLimit-Policy` / `RateLimit` headers (Retry-After is added by the denial mapping).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        if self.outcomes.is_empty() {
            return Vec::new();
        }
        ratelimit::rate_limit_headers(&self.as_rule_outcomes())
            .into_iter()
            .filter(|(n, _)| *n != "Retry-After")
            .collect()
    }

    /// The combined verdict of everything recorded.
    fn judge(&self) -> Result<(), Denial> {
        if self.outcomes.is_empty() {
            return Ok(());
        }
        let combined = ratelimit::combine(&self.as_rule_outcomes());
        match combined.retry_after_ms {
            Some(ms) if !combined.allowed => Err(Denial {
                reason: Reason::RateLimited,
                retry_after_secs: Some(ratelimit::retry_after_secs(ms)),
            }),
            _ => Ok(()),
        }
    }
}

/// Where a remote rule is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteBackend {
    /// The `RateLimiter` Durable Object for the key's shard.
    Durable,
    /// The Workers Rate Limiting binding of this name.
    Binding(String),
}

/// One rule the driver must check remotely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCheck {
    pub rule_id: String,
    pub key: RateKey,
    pub quota: Quota,
    pub backend: RemoteBackend,
}

/// The driver's answer for one [`RemoteCheck`], in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteOutcome {
    /// The Durable Object's verdict.
    Durable(Outcome),
    /// The binding's verdict: admitted or not.
    Binding(bool),
    /// The backend could not answer: the route's failure policy for that backend decides
    /// (open: the isolate counts the rule instead; strict: 503). Logged.
    Unavailable(String),
}

impl RemoteOutcome {
    /// What the driver reported for `check`: `<status> <text>` as the plan protocol's `limits`
    /// answer has it (status 0: the call threw; the text says what). The backend's own words
    /// are judged here: the object answers 200 with an outcome, the binding 200 with
    /// `true`/`false`; anything else is a backend that could not answer.
    pub fn read(check: &RemoteCheck, answer: &str) -> RemoteOutcome {
        let (status, text) = answer.split_once(' ').unwrap_or((answer, ""));
        let unavailable = |what: &str| RemoteOutcome::Unavailable(what.to_owned());
        match (status, &check.backend) {
            ("0", _) => unavailable(if text.is_empty() {
                "the call failed"
            } else {
                text
            }),
            ("200", RemoteBackend::Durable) => match durable::parse_outcome(text) {
                Some(o) => RemoteOutcome::Durable(o),
                None => unavailable(&format!("rate limiter answer malformed: {text}")),
            },
            ("200", RemoteBackend::Binding(_)) => match text {
                "true" => RemoteOutcome::Binding(true),
                "false" => RemoteOutcome::Binding(false),
                _ => unavailable(&format!("limit() answered {text:?}")),
            },
            (s, RemoteBackend::Durable) => {
                unavailable(&format!("rate limiter answered {s}: {text}"))
            }
            (s, RemoteBackend::Binding(_)) => unavailable(&format!("limit() answered {s}: {text}")),
        }
    }

    /// One outcome per check from the driver's newline-joined answers; a check the driver
    /// left without an answer is one that could not answer.
    pub fn read_all(checks: &[RemoteCheck], answers: &str) -> Vec<RemoteOutcome> {
        let mut lines = answers.split('\n');
        checks
            .iter()
            .map(|c| match lines.next() {
                Some(a) => RemoteOutcome::read(c, a),
                None => RemoteOutcome::Unavailable("no answer".to_owned()),
            })
            .collect()
    }
}

/// Rules of a phase, split by where they are counted.
#[derive(Debug, Default)]
pub struct Keyed {
    local: Vec<(String, RateKey, Quota)>,
    pub remote: Vec<RemoteCheck>,
}

/// Does any rule of `rule` count by the targeted account (so the body must be read first)?
pub fn counts_accounts(cfg: &EdgeConfig, rule: &Rule) -> bool {
    rule.rate_limits
        .iter()
        .any(|id| cfg.rate_rules.iter().any(|r| &r.id == id && r.key.account))
}

/// The rules of `rule` to check in `phase`, with their keys.
pub fn keyed(
    cfg: &EdgeConfig,
    rule: &Rule,
    phase: Phase,
    ip: &str,
    user: Option<&VerifiedClaims>,
    account: Option<&str>,
) -> Keyed {
    let mut out = Keyed::default();
    if rule.rate_limits.is_empty() {
        return out;
    }
    let mut input = KeyInput::new().ip(ip).route(&rule.id);
    if let Some(c) = user {
        input = input.verified_user(c);
    }
    if let Some(a) = account {
        input = input.account(a);
    }
    for id in &rule.rate_limits {
        let Some(r) = cfg.rate_rules.iter().find(|r| &r.id == id) else {
            continue;
        };
        if (phase == Phase::AfterAuth) != r.key.user {
            continue;
        }
        // A user-keyed rule on an anonymous request has nothing to count.
        let Ok(key) = RateKey::build(&r.id, r.key, &input) else {
            continue;
        };
        match &r.backend {
            Backend::Local => out.local.push((r.id.clone(), key, r.quota)),
            Backend::Durable => out.remote.push(RemoteCheck {
                rule_id: r.id.clone(),
                key,
                quota: r.quota,
                backend: RemoteBackend::Durable,
            }),
            Backend::Binding { name } => out.remote.push(RemoteCheck {
                rule_id: r.id.clone(),
                key,
                quota: r.quota,
                backend: RemoteBackend::Binding(name.clone()),
            }),
        }
    }
    out
}

/// Records the remote verdicts (`answers` in the order of `keyed.remote`; a missing or
/// unavailable answer is a failure of its backend, decided by `rule`'s failure policy: open
/// falls back to the isolate's count, strict refuses with 503), counts the local rules
/// (all-or-nothing) and gives the combined verdict.
pub fn count(
    iso: &mut Isolate,
    rule: &Rule,
    mut keyed: Keyed,
    answers: Vec<RemoteOutcome>,
    now: UnixMillis,
    limits: &mut Limits,
) -> Result<(), Denial> {
    let mut answers = answers.into_iter();
    for check in std::mem::take(&mut keyed.remote) {
        match answers.next() {
            Some(RemoteOutcome::Durable(o)) => {
                limits.outcomes.push((check.rule_id, check.quota, o))
            }
            // The binding only answers yes/no: an admitted request adds no RateLimit header
            // (its remaining count is unknown); a refusal waits out the binding's window.
            Some(RemoteOutcome::Binding(true)) => {}
            Some(RemoteOutcome::Binding(false)) => limits.outcomes.push((
                check.rule_id,
                check.quota,
                Outcome::Limited {
                    retry_after_ms: check.quota.period_ms,
                    reset_after_ms: check.quota.period_ms,
                },
            )),
            other => {
                // The global store did not answer: the route's policy for it decides.
                let detail = match other {
                    Some(RemoteOutcome::Unavailable(d)) => d,
                    _ => "no answer".to_owned(),
                };
                let (dep, detail) = match &check.backend {
                    RemoteBackend::Durable => (
                        Dependency::RateLimiter,
                        format!("rate limit {}: {detail}", check.rule_id),
                    ),
                    RemoteBackend::Binding(name) => (
                        Dependency::RateLimitBinding,
                        format!("rate limit {} (binding {name}): {detail}", check.rule_id),
                    ),
                };
                failure::decide(
                    iso,
                    &rule.id,
                    dep,
                    rule.failure.of(dep),
                    failure::RATE_LIMIT_RETRY_AFTER_SECS,
                    &detail,
                    now,
                )?;
                // Open: this isolate counts the rule instead.
                keyed.local.push((check.rule_id, check.key, check.quota));
            }
        }
    }
    if !keyed.local.is_empty() {
        let checks: Vec<(RateKey, Quota)> = keyed.local.iter().map(|(_, k, q)| (*k, *q)).collect();
        let outcomes = iso.limiter.check_all(&checks, now, 1);
        for ((id, _, q), o) in keyed.local.into_iter().zip(outcomes) {
            limits.outcomes.push((id, q, o));
        }
    }
    limits.judge()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(backend: RemoteBackend) -> RemoteCheck {
        RemoteCheck {
            rule_id: "r".into(),
            key: RateKey::from_bytes([3; 16]),
            quota: Quota::new(10, 60_000).unwrap(),
            backend,
        }
    }

    #[test]
    fn a_backends_answer_is_read_in_the_core() {
        let durable = check(RemoteBackend::Durable);
        let binding = check(RemoteBackend::Binding("RL_API".into()));
        assert_eq!(
            RemoteOutcome::read(&durable, "200 l 1200 60000"),
            RemoteOutcome::Durable(Outcome::Limited {
                retry_after_ms: 1200,
                reset_after_ms: 60_000
            })
        );
        assert_eq!(
            RemoteOutcome::read(&binding, "200 true"),
            RemoteOutcome::Binding(true)
        );
        assert_eq!(
            RemoteOutcome::read(&binding, "200 false"),
            RemoteOutcome::Binding(false)
        );
        for (c, answer, detail) in [
            (
                &durable,
                "200 a 1 2",
                "rate limiter answer malformed: a 1 2",
            ),
            (
                &durable,
                "500 bad rate-limit check",
                "rate limiter answered 500: bad rate-limit check",
            ),
            (
                &durable,
                "0 Error: Durable Object reset",
                "Error: Durable Object reset",
            ),
            (&binding, "200 yes", "limit() answered \"yes\""),
            (
                &binding,
                "0 TypeError: env.RL_API is undefined",
                "TypeError: env.RL_API is undefined",
            ),
            (&binding, "0", "the call failed"),
            (&binding, "", "limit() answered : "),
        ] {
            assert_eq!(
                RemoteOutcome::read(c, answer),
                RemoteOutcome::Unavailable(detail.into()),
                "{answer}"
            );
        }
        assert_eq!(
            RemoteOutcome::read_all(&[binding.clone(), durable.clone()], "200 true"),
            vec![
                RemoteOutcome::Binding(true),
                RemoteOutcome::Unavailable("no answer".into())
            ]
        );
    }

    fn cfg(rate_limits: &str, routes: &str) -> EdgeConfig {
        let vars = [
            ("DEPLOY_ENV", "development".to_owned()),
            ("ORIGIN_URL", "http://127.0.0.1:8788".to_owned()),
            ("ENVELOPE_SECRET", "00".repeat(32)),
            (
                "ISSUERS",
                r#"[{"issuer":"https://i.test","audiences":["a"],"jwks_url":"https://i.test/jwks"}]"#.to_owned(),
            ),
            ("RATE_LIMITS", rate_limits.to_owned()),
            ("ROUTES", routes.to_owned()),
        ];
        EdgeConfig::from_lookup(&|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
            .unwrap()
    }

    const RULES: &str = r#"[
        {"id":"ip","key":["ip"],"limit":2,"period_secs":60},
        {"id":"user","key":["user"],"limit":5,"period_secs":60},
        {"id":"acct","key":["account"],"limit":5,"period_secs":60},
        {"id":"global","key":["route"],"limit":5,"period_secs":60,"backend":"durable"}
    ]"#;
    const ROUTES: &str = r#"[
        {"id":"local","path":"/l","access":"public","rate_limits":["ip","user"]},
        {"id":"login","path":"/login","access":"public","rate_limits":["acct"]},
        {"id":"remote","path":"/r","access":"public","rate_limits":["global","ip"]}
    ]"#;

    #[test]
    fn only_account_keyed_rules_need_the_body() {
        let c = cfg(RULES, ROUTES);
        assert!(counts_accounts(&c, c.routes.route("GET", "/login")));
        assert!(!counts_accounts(&c, c.routes.route("GET", "/l")));
    }

    #[test]
    fn remote_rules_are_handed_to_the_driver_and_fall_back_to_local_counts() {
        let c = std::rc::Rc::new(cfg(RULES, ROUTES));
        let mut iso = Isolate::new(c.clone(), [1; 32]);
        let rule = c.routes.route("GET", "/r");
        let k = keyed(&c, rule, Phase::BeforeAuth, "1.2.3.4", None, None);
        assert_eq!(k.remote.len(), 1);
        assert_eq!(k.remote[0].backend, RemoteBackend::Durable);
        let mut limits = Limits::default();
        let now = UnixMillis(1_000_000);
        // The object is down: the isolate counts the rule, and says so in the log.
        let r = count(
            &mut iso,
            rule,
            k,
            vec![RemoteOutcome::Unavailable("down".into())],
            now,
            &mut limits,
        );
        assert!(r.is_ok());
        let logs = iso.take_logs();
        assert!(
            logs.iter()
                .any(|l| l.error && l.line.contains("rate_limiter_unavailable")),
            "{logs:?}"
        );
        assert_eq!(limits.outcomes.len(), 2);
        // The ip rule (2 per minute) refuses the third request.
        for expect_ok in [true, false] {
            let k = keyed(&c, rule, Phase::BeforeAuth, "1.2.3.4", None, None);
            let mut limits = Limits::default();
            let outcome = Outcome::Allowed {
                new_tat: 0,
                remaining: 4,
                reset_after_ms: 1000,
            };
            let r = count(
                &mut iso,
                rule,
                k,
                vec![RemoteOutcome::Durable(outcome)],
                now,
                &mut limits,
            );
            assert_eq!(r.is_ok(), expect_ok);
            if !expect_ok {
                assert_eq!(r.unwrap_err().reason, Reason::RateLimited);
                assert!(
                    limits.headers().iter().any(|(n, _)| *n == "RateLimit"),
                    "{:?}",
                    limits.headers()
                );
            }
        }
    }

    #[test]
    fn a_refusing_binding_limits_for_its_window() {
        let c = std::rc::Rc::new(cfg(
            r#"[{"id":"b","key":["ip"],"limit":10,"period_secs":60,"backend":"binding","binding":"RL"}]"#,
            r#"[{"id":"x","path":"/x","access":"public","rate_limits":["b"]}]"#,
        ));
        let mut iso = Isolate::new(c.clone(), [1; 32]);
        let rule = c.routes.route("GET", "/x");
        let k = keyed(&c, rule, Phase::BeforeAuth, "ip", None, None);
        assert_eq!(k.remote[0].backend, RemoteBackend::Binding("RL".into()));
        let mut limits = Limits::default();
        let d = count(
            &mut iso,
            rule,
            k,
            vec![RemoteOutcome::Binding(false)],
            UnixMillis(0),
            &mut limits,
        )
        .unwrap_err();
        assert_eq!(d.reason, Reason::RateLimited);
        assert_eq!(d.retry_after_secs, Some(60));
    }

    #[test]
    fn user_keyed_rules_wait_for_a_verified_user() {
        let c = cfg(RULES, ROUTES);
        let rule = c.routes.route("GET", "/l");
        let before = keyed(&c, rule, Phase::BeforeAuth, "ip", None, None);
        assert_eq!(before.local.len(), 1);
        assert_eq!(before.local[0].0, "ip");
        // No user yet: the user rule has nothing to count.
        assert!(keyed(&c, rule, Phase::AfterAuth, "ip", None, None)
            .local
            .is_empty());
    }
}
