//! The failure policy: what a request does when a dependency of the edge fails — the revocation
//! feed (stale), the issuer's JWKS (no usable keys), the rate-limit Durable Object or the
//! Workers Rate Limiting binding (no answer). The route's `failure` policy for that dependency
//! decides, here and nowhere else: `strict` answers 503 with the dependency's reason id and
//! `Retry-After`; `open` lets the request go on (what "on" means is the caller's: counted per
//! isolate, forwarded anonymously, served with the list the edge has) and logs it.
//!
//! A failing dependency fails for every request, so the log line is rate-gated like the 429
//! lines ([`super::log_gate`]): per dependency and route rule, one line per wall-clock second;
//! the others are counted and reported by one `dependency_failures_suppressed` line when the
//! next request after that second arrives. Nothing is dropped without being counted.

use crate::json::write::Object;
use crate::policy::{Dependency, FailurePolicy};
use crate::reason::Reason;
use crate::time::UnixMillis;

use super::isolate::Isolate;
use super::log_gate::LogGate;
use super::request::Denial;

/// Seconds a client is told to wait after a rate-limit backend did not answer: nothing about
/// the failure is remembered, the next request asks the backend again.
pub(crate) const RATE_LIMIT_RETRY_AFTER_SECS: u64 = 1;

/// The reason a `strict` route answers with when `dep` fails.
pub(crate) const fn reason(dep: Dependency) -> Reason {
    match dep {
        Dependency::Revocations => Reason::RevocationsUnavailable,
        Dependency::Jwks => Reason::JwksUnavailable,
        Dependency::RateLimiter => Reason::RateLimiterUnavailable,
        Dependency::RateLimitBinding => Reason::RateLimitBindingUnavailable,
    }
}

/// `dep` failed for a request on route rule `rule` whose policy for it is `policy`: `Err` with
/// the 503 to answer (`retry_after_secs`) when strict, `Ok` when open. Either way one line
/// (gated): `{"event": "<reason id>", "failure": "open"|"strict", "rule", "detail"}`.
pub(crate) fn decide(
    iso: &mut Isolate,
    rule: &str,
    dep: Dependency,
    policy: FailurePolicy,
    retry_after_secs: u64,
    detail: &str,
    now: UnixMillis,
) -> Result<(), Denial> {
    if iso.failure_line_wanted(dep, rule, now) {
        iso.log_error(
            Object::new()
                .str("dependency", dep.key())
                .str("detail", detail)
                .str("event", reason(dep).id())
                .str("failure", policy.id())
                .str("rule", rule)
                .finish(),
        );
    }
    match policy {
        FailurePolicy::Open => Ok(()),
        FailurePolicy::Strict => Err(Denial {
            reason: reason(dep),
            retry_after_secs: Some(retry_after_secs.max(1)),
        }),
    }
}

/// The per-second gate of the failure lines: one line per (dependency, route rule) a second.
#[derive(Debug)]
pub(crate) struct FailureLog(LogGate<(Dependency, String)>);

impl Default for FailureLog {
    fn default() -> FailureLog {
        FailureLog(LogGate::new(1))
    }
}

impl FailureLog {
    /// Whether this failure gets its own line (the first of its second for the dependency and
    /// rule); if not, it is counted. Also hands back the summaries of a second that is over.
    pub(crate) fn admit(
        &mut self,
        dep: Dependency,
        rule: &str,
        now: UnixMillis,
        out: &mut Vec<String>,
    ) -> bool {
        self.0.admit(
            now,
            |(d, r)| *d == dep && r == rule,
            || (dep, rule.to_owned()),
            out,
            summary,
        )
    }

    /// When `now` is past the second being counted: one summary per (dependency, rule) with
    /// suppressed lines, and a fresh second. One comparison when nothing failed.
    pub(crate) fn roll(&mut self, now: UnixMillis, out: &mut Vec<String>) {
        self.0.roll(now, out, summary);
    }
}

fn summary((dep, rule): &(Dependency, String), count: u64, second_start_ms: u64) -> String {
    Object::new()
        .num("count", count)
        .str("dependency", dep.key())
        .str("event", "dependency_failures_suppressed")
        .str("reason", reason(*dep).id())
        .str("rule", rule)
        .num("second_start_ms", second_start_ms)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_per_dependency_and_rule_and_the_rest_counted() {
        let mut log = FailureLog::default();
        let mut out = Vec::new();
        let t = UnixMillis(5_000);
        assert!(log.admit(Dependency::Jwks, "api", t, &mut out));
        assert!(!log.admit(Dependency::Jwks, "api", t, &mut out));
        assert!(!log.admit(Dependency::Jwks, "api", UnixMillis(5_999), &mut out));
        assert!(log.admit(Dependency::RateLimiter, "api", t, &mut out));
        assert!(log.admit(Dependency::Jwks, "other", t, &mut out));
        assert!(out.is_empty());
        // The next second: the count of the last one, once.
        assert!(log.admit(Dependency::Jwks, "api", UnixMillis(6_000), &mut out));
        assert_eq!(out.len(), 1, "{out:?}");
        let line: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(line["event"], "dependency_failures_suppressed");
        assert_eq!(line["dependency"], "jwks");
        assert_eq!(line["reason"], "jwks_unavailable");
        assert_eq!(line["rule"], "api");
        assert_eq!(line["count"], 2);
        assert_eq!(line["second_start_ms"], 5_000);
        log.roll(UnixMillis(7_000), &mut out);
        assert_eq!(out.len(), 1, "nothing suppressed in second 6");
    }

    #[test]
    fn every_dependency_has_its_own_upstream_reason() {
        let reasons: Vec<Reason> = Dependency::ALL.iter().map(|d| reason(*d)).collect();
        for (i, r) in reasons.iter().enumerate() {
            assert_eq!(r.side(), crate::reason::Side::Upstream, "{r}");
            assert_eq!(crate::respond::status_of(*r), 503, "{r}");
            assert!(!reasons[..i].contains(r), "{r} twice");
        }
    }
}
