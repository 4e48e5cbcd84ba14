//! Per-isolate edge state driven from the request path: rate-limit key tables, the decision
//! cache, the revocation list (polled from the origin in the background) and the circuit
//! breaker toward the origin. All decisions are the core's; this module holds the state and
//! does the I/O.

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::Context;

use crate::breaker::{Admission, Breaker};
use crate::config::EdgeConfig;
use crate::decision_cache::{DecisionCache, Lookup, TokenHash};
use crate::envelope;
use crate::jwt::VerifiedClaims;
use crate::pipeline::Denial;
use crate::policy::Rule;
use crate::ratelimit::{self, Backend, KeyInput, LocalLimiter, Outcome, RateKey, RuleOutcome};
use crate::reason::Reason;
use crate::revocation::{RevocationList, RevocationPage};
use crate::time::UnixMillis;

struct State {
    limiter: LocalLimiter,
    cache: DecisionCache<VerifiedClaims>,
    revocations: RevocationList,
    breaker: Breaker,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with<T>(cfg: &EdgeConfig, f: impl FnOnce(&mut State) -> T) -> T {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let st = s.get_or_insert_with(|| State {
            limiter: LocalLimiter::new(cfg.rate_limit_max_keys),
            cache: DecisionCache::new(cfg.decision_cache.clone()),
            revocations: RevocationList::new(),
            breaker: Breaker::new(cfg.breaker),
        });
        f(st)
    })
}

// ---------------------------------------------------------------- rate limits

/// Which of a route's rules to check now: those not keyed by user run before authentication
/// (so floods never reach signature checks), user-keyed ones once the user is verified.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    BeforeAuth,
    AfterAuth,
}

/// The verdicts of the rules checked so far, for the `RateLimit` headers on the response.
#[derive(Default)]
pub(crate) struct Limits {
    outcomes: Vec<(String, ratelimit::Quota, Outcome)>,
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
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        ratelimit::rate_limit_headers(&self.as_rule_outcomes())
            .into_iter()
            .filter(|(n, _)| *n != "Retry-After")
            .collect()
    }
}

/// The rules of `rule` to check in `phase`, with their keys.
fn keyed_rules<'c>(
    cfg: &'c EdgeConfig,
    rule: &Rule,
    phase: Phase,
    ip: &str,
    user: Option<&VerifiedClaims>,
    account: Option<&str>,
) -> Vec<(&'c ratelimit::RateRule, RateKey)> {
    let mut input = KeyInput::new().ip(ip).route(&rule.id);
    if let Some(c) = user {
        input = input.verified_user(c);
    }
    if let Some(a) = account {
        input = input.account(a);
    }
    let mut out = Vec::new();
    for id in &rule.rate_limits {
        let Some(r) = cfg.rate_rules.iter().find(|r| &r.id == id) else {
            continue;
        };
        if (phase == Phase::AfterAuth) != r.key.user {
            continue;
        }
        // A user-keyed rule on an anonymous request has nothing to count.
        if let Ok(key) = RateKey::build(&r.id, r.key, &input) {
            out.push((r, key));
        }
    }
    out
}

/// Counts `local` against this isolate's table (all-or-nothing) and gives the combined verdict.
fn count_local_and_judge(
    cfg: &EdgeConfig,
    local: Vec<(String, RateKey, ratelimit::Quota)>,
    now: UnixMillis,
    limits: &mut Limits,
) -> Result<(), Denial> {
    if !local.is_empty() {
        let checks: Vec<(RateKey, ratelimit::Quota)> =
            local.iter().map(|(_, k, q)| (*k, *q)).collect();
        let outcomes = with(cfg, |s| s.limiter.check_all(&checks, now, 1));
        for ((id, _, q), o) in local.into_iter().zip(outcomes) {
            limits.outcomes.push((id, q, o));
        }
    }
    let combined = ratelimit::combine(&limits.as_rule_outcomes());
    match combined.retry_after_ms {
        Some(ms) if !combined.allowed => Err(Denial {
            reason: Reason::RateLimited,
            retry_after_secs: Some(ratelimit::retry_after_secs(ms)),
        }),
        _ => Ok(()),
    }
}

/// Can every limit of `rule` be decided without I/O (local backend, no body to read)?
pub(crate) fn limits_are_local(cfg: &EdgeConfig, rule: &Rule) -> bool {
    rule.rate_limits.iter().all(|id| {
        cfg.rate_rules
            .iter()
            .find(|r| &r.id == id)
            .is_none_or(|r| r.backend == Backend::Local && !r.key.account)
    })
}

/// The synchronous path's rate limiting: only for routes where [`limits_are_local`] holds.
pub(crate) fn rate_limit_local(
    cfg: &EdgeConfig,
    rule: &Rule,
    phase: Phase,
    ip: &str,
    user: Option<&VerifiedClaims>,
    now: UnixMillis,
    limits: &mut Limits,
) -> Result<(), Denial> {
    let local = keyed_rules(cfg, rule, phase, ip, user, None)
        .into_iter()
        .map(|(r, key)| (r.id.clone(), key, r.quota))
        .collect();
    count_local_and_judge(cfg, local, now, limits)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn rate_limit(
    cfg: &EdgeConfig,
    env: &worker::Env,
    rule: &Rule,
    phase: Phase,
    ip: &str,
    user: Option<&VerifiedClaims>,
    account: Option<&str>,
    now: UnixMillis,
    limits: &mut Limits,
) -> Result<(), Denial> {
    let mut local: Vec<(String, RateKey, ratelimit::Quota)> = Vec::new();
    for (r, key) in keyed_rules(cfg, rule, phase, ip, user, account) {
        match &r.backend {
            Backend::Local => local.push((r.id.clone(), key, r.quota)),
            Backend::Durable => {
                let outcome = super::rate_limiter::check_durable(env, &key, r.quota, 1).await.unwrap_or_else(|e| {
                    // The global store is down: fall back to this isolate's count (logged).
                    worker::console_error!("{}", serde_json::json!({"event": "rate_limiter_unavailable", "rule": r.id, "detail": e.to_string()}));
                    with(cfg, |s| s.limiter.check(key, r.quota, now, 1))
                });
                limits.outcomes.push((r.id.clone(), r.quota, outcome));
            }
            Backend::Binding { name } => match binding_check(env, name, &key).await {
                // The binding only answers yes/no: an admitted request adds no RateLimit header
                // (its remaining count is unknown); a refusal waits out the binding's window.
                Ok(true) => {}
                Ok(false) => limits.outcomes.push((
                    r.id.clone(),
                    r.quota,
                    Outcome::Limited {
                        retry_after_ms: r.quota.period_ms,
                        reset_after_ms: r.quota.period_ms,
                    },
                )),
                Err(e) => {
                    worker::console_error!(
                        "{}",
                        serde_json::json!({"event": "rate_limit_binding_unavailable", "rule": r.id, "binding": name, "detail": e.to_string()})
                    );
                    local.push((r.id.clone(), key, r.quota));
                }
            },
        }
    }
    count_local_and_judge(cfg, local, now, limits)
}

/// The Workers Rate Limiting binding (`[[ratelimits]]` in wrangler.toml): `Ok(true)` = admitted.
async fn binding_check(
    env: &worker::Env,
    name: &str,
    key: &RateKey,
) -> Result<bool, worker::Error> {
    Ok(env.rate_limiter(name)?.limit(key.to_hex()).await?.success)
}

// ---------------------------------------------------------------- decision cache

pub(crate) enum Cached {
    Hit(VerifiedClaims),
    Negative(Reason),
    Miss,
}

/// The decision cache's key for `token`, or `None` when the cache is configured off (then the
/// token is not even hashed).
pub(crate) fn cache_key(cfg: &EdgeConfig, token: &str) -> Option<TokenHash> {
    let c = &cfg.decision_cache;
    (c.ttl_ms > 0 || c.negative_ttl_ms > 0).then(|| TokenHash::of(token))
}

pub(crate) fn cache_get(cfg: &EdgeConfig, key: &TokenHash, now: UnixMillis) -> Cached {
    with(cfg, |s| match s.cache.get(key, now) {
        Lookup::Hit(c) => Cached::Hit(c.clone()),
        Lookup::Negative(r) => Cached::Negative(r),
        Lookup::Miss => Cached::Miss,
    })
}

pub(crate) fn cache_put(
    cfg: &EdgeConfig,
    key: TokenHash,
    claims: &VerifiedClaims,
    now: UnixMillis,
) {
    let exp = UnixMillis::from_secs(claims.expires_at());
    with(cfg, |s| {
        let _ = s.cache.insert(key, claims.clone(), exp, now);
    });
}

/// Only signature failures are cached negatively: a flood of one forged token costs one verify.
pub(crate) fn cache_negative(cfg: &EdgeConfig, key: TokenHash, reason: Reason, now: UnixMillis) {
    if reason == Reason::TokenSignatureInvalid {
        with(cfg, |s| s.cache.insert_negative(key, reason, now));
    }
}

// ---------------------------------------------------------------- revocations

/// Checked on every authenticated request, cache hit or not.
pub(crate) fn check_revoked(
    cfg: &EdgeConfig,
    rule: &Rule,
    claims: &VerifiedClaims,
    now: UnixMillis,
) -> Result<(), Denial> {
    let (revoked, stale_ms) = with(cfg, |s| {
        (
            s.revocations
                .is_revoked(claims.subject(), claims.session_id(), claims.issued_at()),
            s.revocations.stale_for(now),
        )
    });
    if revoked {
        return Err(Reason::TokenRevoked.into());
    }
    let stale = stale_ms > cfg.revocation_max_staleness_secs * 1000;
    if stale && rule.failure == crate::policy::FailurePolicy::Strict {
        return Err(Denial {
            reason: Reason::RevocationsUnavailable,
            retry_after_secs: Some(cfg.revocation_poll_secs),
        });
    }
    Ok(())
}

/// Claims a fresh isolate's first sync (see [`ensure_synced`]) for the synchronous path, which
/// runs it through `edge_background` before deciding. After a failed attempt, the next inline
/// one waits for the poll interval ([`RevocationList::claim_first_sync`]).
///
/// [`RevocationList::claim_first_sync`]: crate::revocation::RevocationList::claim_first_sync
pub(crate) fn claim_first_sync(cfg: &EdgeConfig, now: UnixMillis) -> bool {
    with(cfg, |s| {
        s.revocations
            .claim_first_sync(now, cfg.revocation_poll_secs * 1000)
    })
}

/// Claims the next background poll if one is due (one in flight); the caller must then run
/// [`poll_in_background`] (the synchronous path hands it to `entry.js`'s `waitUntil`).
pub(crate) fn claim_poll(cfg: &EdgeConfig, now: UnixMillis) -> bool {
    with(cfg, |s| {
        s.revocations
            .should_poll(now, cfg.revocation_poll_secs * 1000)
    })
}

/// A claimed poll (see [`claim_poll`]).
pub(crate) async fn poll_in_background(cfg: &EdgeConfig) {
    poll_and_apply(cfg).await
}

/// Starts a background poll of the origin's revocation feed when one is due (one in flight).
pub(crate) fn maybe_poll(cfg: &std::rc::Rc<EdgeConfig>, ctx: &Context, now: UnixMillis) {
    if !claim_poll(cfg, now) {
        return;
    }
    let cfg = cfg.clone();
    ctx.wait_until(async move { poll_and_apply(&cfg).await });
}

/// A fresh isolate knows no revocations: before its first authenticated decision it syncs
/// inline (one request does; concurrent first requests proceed under the route's failure
/// policy, and so do later ones until the poll interval allows another attempt, should this one
/// fail), so a logged-out token cannot slip through a newly started isolate.
pub(crate) async fn ensure_synced(cfg: &EdgeConfig, now: UnixMillis) {
    if claim_first_sync(cfg, now) {
        poll_and_apply(cfg).await;
    }
}

/// Polls until the feed is drained (an empty page), at most `MAX_PAGES` pages per poll.
async fn poll_and_apply(cfg: &EdgeConfig) {
    const MAX_PAGES: usize = 20;
    for _ in 0..MAX_PAGES {
        let result = poll(cfg).await;
        let at = UnixMillis(js_sys::Date::now() as u64);
        let more = with(cfg, |s| match result {
            Ok(page) => {
                let entries = page.sessions.len() + page.users.len();
                let applied = s.revocations.apply(page, at);
                if applied.sessions_added + applied.users_added > 0 {
                    worker::console_log!(
                        "{}",
                        serde_json::json!({"event": "revocations_applied", "sessions": applied.sessions_added, "users": applied.users_added})
                    );
                }
                entries > 0
            }
            Err(detail) => {
                s.revocations.poll_failed(at);
                worker::console_error!(
                    "{}",
                    serde_json::json!({"event": "revocation_poll_failed", "detail": detail, "stale_ms": s.revocations.stale_for(at)})
                );
                false
            }
        });
        if !more {
            return;
        }
    }
}

/// One page of the feed after our cursor. The edge's own call: an anonymous identity, signed
/// like every forwarded request.
async fn poll(cfg: &EdgeConfig) -> Result<RevocationPage, String> {
    let cursor = with(cfg, |s| s.revocations.cursor().map(str::to_owned));
    let path = match cursor {
        Some(c) => format!("/internal/revocations?since={c}"),
        None => "/internal/revocations".to_owned(),
    };
    let now = UnixMillis(js_sys::Date::now() as u64);
    let sig = envelope::sign(&cfg.envelope_key, now, "GET", &path, std::iter::empty())
        .map_err(|e| e.to_string())?;
    let headers = web_sys::Headers::new().map_err(|e| format!("{e:?}"))?;
    headers
        .set(envelope::SIGNATURE_HEADER, &sig)
        .map_err(|e| format!("{e:?}"))?;
    let init = web_sys::RequestInit::new();
    init.set_headers_headers(&headers);
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(3_000)));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let url = format!("{}{}", cfg.origin_url, path);
    let resp: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(&url, &init))
        .await
        .map_err(|e| format!("{e:?}"))?
        .unchecked_into();
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?;
    RevocationPage::from_json(&js_sys::Uint8Array::new(&buf).to_vec())
}

// ---------------------------------------------------------------- circuit breaker

pub(crate) fn breaker_admit(cfg: &EdgeConfig, now: UnixMillis) -> Result<(), Denial> {
    match with(cfg, |s| s.breaker.before_call(now)) {
        Admission::Permit { transition, .. } => {
            if let Some(t) = transition {
                worker::console_log!(
                    "{}",
                    serde_json::json!({"event": "breaker", "transition": t.to_string()})
                );
            }
            Ok(())
        }
        Admission::Rejected { retry_after_ms } => Err(Denial {
            reason: Reason::OriginUnavailable,
            retry_after_secs: Some(ratelimit::retry_after_secs(retry_after_ms)),
        }),
    }
}

pub(crate) fn breaker_report(cfg: &EdgeConfig, now: UnixMillis, success: bool) {
    if let Some(t) = with(cfg, |s| s.breaker.on_result(now, success)) {
        worker::console_log!(
            "{}",
            serde_json::json!({"event": "breaker", "transition": t.to_string()})
        );
    }
}

pub(crate) fn breaker_state(cfg: &EdgeConfig) -> &'static str {
    with(cfg, |s| s.breaker.state().id())
}
