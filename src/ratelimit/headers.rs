//! The answer to the client: `RateLimit-Policy` and `RateLimit` in the structured-field form of
//! draft-ietf-httpapi-ratelimit-headers (-08 and later), plus `Retry-After` on refusals.

use super::gcra::{Outcome, Quota};

/// One rule's verdict for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleOutcome<'a> {
    pub rule_id: &'a str,
    pub quota: Quota,
    pub outcome: Outcome,
}

/// Several rules on one request, reduced: the most restrictive decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Combined {
    pub allowed: bool,
    /// Index (into the slice given to [`combine`]) of the deciding rule: among refusals the one
    /// with the longest wait (every refusing rule must have cleared), otherwise the one with the
    /// fewest remaining units (ties: the longer reset).
    pub decisive: Option<usize>,
    /// For a refusal: how long until every refusing rule would admit the request.
    pub retry_after_ms: Option<u64>,
}

pub fn combine(outcomes: &[RuleOutcome<'_>]) -> Combined {
    let refused = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.outcome.retry_after_ms().map(|r| (i, r)))
        .max_by_key(|&(_, r)| r);
    if let Some((i, r)) = refused {
        return Combined {
            allowed: false,
            decisive: Some(i),
            retry_after_ms: Some(r),
        };
    }
    let tightest = outcomes
        .iter()
        .enumerate()
        .min_by_key(|(_, o)| {
            (
                o.outcome.remaining(),
                core::cmp::Reverse(o.outcome.reset_after_ms()),
            )
        })
        .map(|(i, _)| i);
    Combined {
        allowed: true,
        decisive: tightest,
        retry_after_ms: None,
    }
}

/// `Retry-After` in whole seconds: rounded up, at least 1 (0 would invite an immediate retry).
pub fn retry_after_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// Header `(name, value)` pairs for these outcomes: every policy in `RateLimit-Policy`
/// (`"<id>";q=<limit>;w=<window secs>`), every current state in `RateLimit`
/// (`"<id>";r=<remaining>;t=<secs until the quota is whole again>`), in the given order, and
/// `Retry-After` when the combination refuses. Empty input gives no headers.
pub fn rate_limit_headers(outcomes: &[RuleOutcome<'_>]) -> Vec<(&'static str, String)> {
    if outcomes.is_empty() {
        return Vec::new();
    }
    let policy: Vec<String> = outcomes
        .iter()
        .map(|o| {
            format!(
                "{};q={};w={}",
                sf_string(o.rule_id),
                o.quota.limit,
                o.quota.period_ms.div_ceil(1000).max(1)
            )
        })
        .collect();
    let state: Vec<String> = outcomes
        .iter()
        .map(|o| {
            format!(
                "{};r={};t={}",
                sf_string(o.rule_id),
                o.outcome.remaining(),
                o.outcome.reset_after_ms().div_ceil(1000)
            )
        })
        .collect();
    let (policy, state) = (
        crate::text::join(&policy, ", "),
        crate::text::join(&state, ", "),
    );
    let mut h = vec![("RateLimit-Policy", policy), ("RateLimit", state)];
    if let Some(ms) = combine(outcomes).retry_after_ms {
        h.push(("Retry-After", retry_after_secs(ms).to_string()));
    }
    h
}

/// An RFC 8941 sf-string; characters outside printable ASCII (never in a valid rule id) become `?`.
fn sf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}
