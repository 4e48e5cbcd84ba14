//! The request pipeline: one resumable state machine that does no I/O, driven by both Worker
//! drivers. The order of the stages is written here, once:
//!
//! route → (a CORS preflight is answered here) → (a fresh isolate's first revocation sync, for
//! routes that need a user) → path check → cross-site refusal → the body when a limit counts
//! by account → rate limits not keyed by user (before any signature work) → authenticate
//! (decision cache, JWT / JWKS, or webhook + replay window) → revocations → user-keyed rate
//! limits → authorize → mutate (identity → envelope → outgoing headers) → circuit breaker
//! (origin-bound requests only) → forward.
//!
//! [`Pipeline::start`] and [`Pipeline::resume`] return a [`Step`]: answer ([`Step::Respond`]),
//! forward ([`Step::Forward`]), or wait ([`Step::Need`]) for one [`Io`] — a WebCrypto check, a
//! capped body read, a JWKS fetch, remote rate limits, a page of the first revocation sync —
//! whose result the driver feeds back with [`Pipeline::resume`]. After a forward, the driver
//! reports the outcome with [`forwarded`]. Time is always passed in; state lives in the
//! [`Isolate`].

mod authenticate;
mod authorize;
pub mod browser;
mod denial_log;
mod failure;
mod isolate;
mod limits;
mod log_gate;
mod mutate;
mod per_entry;
mod request;
mod trace;
mod waiting;

#[cfg(test)]
mod tests;

pub use authenticate::{BodyRead, Ed25519Job, KeyImport, SignatureJob};
pub use authorize::{authorize, needs_user};
pub use isolate::{
    unusable_status, FeedRequest, Fetched, Isolate, LogLine, Task, FEED_MAX_PAGES, FEED_TIMEOUT_MS,
};
pub use limits::{counts_accounts, Limits, Phase, RemoteBackend, RemoteCheck, RemoteOutcome};
pub use mutate::{outgoing, HeaderSet, Outgoing};
pub use request::{
    accept_request_id, check_path, extract_token, forwardable_header, path_and_query, Denial,
    Incoming, TokenSource,
};
pub use trace::{CacheUse, DriverPath, Trace};
pub use waiting::Waiting;

use std::rc::Rc;

use crate::config::EdgeConfig;
use crate::identity::Identity;
use crate::json::write::Object;
use crate::jwt::{AwaitingSignature, VerifiedClaims};
use crate::policy::{Access, Dependency, FailurePolicy, Rule, RuleAt, Upstream};
use crate::reason::Reason;
use crate::request_fields::Header;
use crate::respond::{self, DenyContext, ResponseSpec};
use crate::time::UnixMillis;
use crate::webhook::{PendingEd25519, VerifiedWebhook};

use authenticate::{JwksWait, TokenLook, WebhookLook};
use isolate::FirstSync;
use limits::Keyed;

/// Largest body read on routes whose rate limits count by the targeted account.
pub const ACCOUNT_BODY_LIMIT: u64 = 64 * 1024;

/// What the pipeline says next.
#[derive(Debug)]
pub enum Step {
    /// Answer with this response (a denial, or a duplicate webhook delivery).
    Respond(ResponseSpec),
    /// Send the request on; then report the outcome with [`forwarded`].
    Forward(ForwardPlan),
    /// Carry out this I/O, then [`Pipeline::resume`] with its result.
    Need(Io),
}

/// Every kind of I/O a decision can wait on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Io {
    /// A page of a fresh isolate's first revocation sync: GET it with the runtime's `fetch`
    /// (the synchronous driver's JS does, so a fresh isolate's first request runs no async
    /// wasm), resume with [`IoResult::Fetched`]. The pipeline asks for the next page until the
    /// feed is drained (an empty page), a page fails, or [`FEED_MAX_PAGES`].
    FeedPage(FeedRequest),
    /// Wait for the revocation sync that is under way (another request's first sync, or a
    /// background poll): the driver resumes with [`IoResult::Done`] once any page of the feed
    /// has been reported, or after `timeout_ms`, whichever is first; the pipeline then waits
    /// again, syncs itself, or goes on ([`Isolate::first_sync`]).
    SyncWait { timeout_ms: u32 },
    /// Check an asymmetric JWS signature with WebCrypto; resume with [`IoResult::Signature`].
    Signature(SignatureJob),
    /// Read the request body, stopping past `max_bytes`, and copy these request headers;
    /// resume with [`IoResult::Body`]. The bytes read are what is forwarded.
    Body {
        max_bytes: u64,
        headers: &'static [&'static str],
    },
    /// GET the issuer's JWKS, report what came back with [`Isolate::jwks_reported`], resume
    /// with [`IoResult::Done`]. Single flight: while a GET for that issuer runs (another
    /// request's, or a background refresh), the driver waits for it instead of starting one.
    Jwks { issuer: String, url: String },
    /// Check these rules with their remote backends; resume with [`IoResult::RateLimits`].
    RateLimits(Vec<RemoteCheck>),
    /// Check Ed25519 webhook signatures with WebCrypto; resume with [`IoResult::Ed25519`].
    Ed25519(Ed25519Job),
}

/// What the driver found, for the [`Io`] the pipeline waited on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoResult {
    /// The JWKS GET this request waited for ran (its outcome already reported to the
    /// [`Isolate`]), or the wait of an [`Io::SyncWait`] ended.
    Done,
    /// What the GET of a [`Io::FeedPage`] brought back.
    Fetched(Fetched),
    /// Whether the signature verified (false also when the check could not run).
    Signature(bool),
    Body(BodyRead),
    /// One answer per [`RemoteCheck`], in order.
    RateLimits(Vec<RemoteOutcome>),
    /// The index of the candidate that verified, if any.
    Ed25519(Option<usize>),
}

/// Who answers a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The origin, with the signed identity envelope.
    Origin(Outgoing),
    /// The Worker's static assets (`ASSETS`), the request as it came.
    Assets,
}

/// A forward: where, the token to report back with, and headers to add to the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPlan {
    pub target: Target,
    /// Opaque to the driver: handed back to [`forwarded`].
    pub after: String,
    pub response_headers: HeaderSet,
}

/// After a forward: what to do with the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// Pass it on with the plan's `response_headers`, plus `Server-Timing` when given.
    Decorate { server_timing: Option<String> },
    /// The origin could not be reached: answer this instead.
    Respond(ResponseSpec),
}

/// Where a request is in the pipeline while it waits.
enum Stage {
    /// The first revocation sync, waiting for its `pages`-th page.
    FirstSync {
        pages: usize,
    },
    /// Waiting for a first sync another request or a background poll runs.
    SyncWait,
    AccountBody,
    RemoteLimits {
        phase: Phase,
        keyed: Keyed,
        claims: Option<VerifiedClaims>,
    },
    Jwks(JwksWait),
    Signature {
        awaiting: AwaitingSignature,
        issuer_at: usize,
    },
    WebhookBody,
    Ed25519(PendingEd25519),
    Finished,
}

impl Stage {
    fn id(&self) -> &'static str {
        match self {
            Stage::FirstSync { .. } => "first_sync",
            Stage::SyncWait => "sync_wait",
            Stage::AccountBody => "account_body",
            Stage::RemoteLimits { .. } => "remote_limits",
            Stage::Jwks(_) => "jwks",
            Stage::Signature { .. } => "signature",
            Stage::WebhookBody => "webhook_body",
            Stage::Ed25519(_) => "ed25519",
            Stage::Finished => "finished",
        }
    }
}

impl core::fmt::Debug for Stage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.id())
    }
}

/// One request on its way through the stages.
#[derive(Debug)]
pub struct Pipeline {
    cfg: Rc<EdgeConfig>,
    req: Incoming,
    rule_at: RuleAt,
    limits: Limits,
    trace: Trace,
    stage: Stage,
    /// When authentication began (for the trace's `auth_us`).
    auth_started: Option<UnixMillis>,
    /// The decision cache missed this request's token (its outcome is to be recorded when a
    /// wait ends).
    cache_missed: bool,
    /// The targeted account, when a limit counts by it.
    account: Option<String>,
    /// A body already read (a webhook route whose limits count by account).
    body: Option<BodyRead>,
    /// The time of the current step (start or resume).
    now: UnixMillis,
}

impl Pipeline {
    /// The first step for a request.
    pub fn start(req: Incoming, iso: &mut Isolate, now: UnixMillis) -> (Pipeline, Step) {
        let cfg = iso.config().clone();
        let (path, _) = req.path_and_query();
        let rule_at = cfg.routes.route_at(req.method(), path);
        let trace = Trace::new(req.request_id(), &cfg.routes.rule(rule_at).id);
        let mut p = Pipeline {
            cfg,
            req,
            rule_at,
            limits: Limits::default(),
            trace,
            stage: Stage::Finished,
            auth_started: None,
            cache_missed: false,
            account: None,
            body: None,
            now,
        };
        iso.roll_denial_log(now);
        // A CORS preflight is answered before anything else (it carries no credentials).
        match browser::preflight(&p.cfg.browser, &p.req) {
            None => {}
            Some(Ok(spec)) => return (p, Step::Respond(spec)),
            Some(Err(reason)) => {
                let step = p.deny(iso, reason.into());
                return (p, step);
            }
        }
        // A fresh isolate knows no revocations: no request that needs a user is decided before
        // one sync has read the feed to its end. The first such request syncs; the others wait
        // for that sync (or for a background poll a public request started). After a failed
        // sync they go on under their route's failure policy (strict routes answer 503).
        if needs_user(p.rule()) {
            let step = match iso.first_sync(now) {
                FirstSync::Run => Some(p.first_sync_page(iso, 0, now)),
                FirstSync::Wait => Some(p.sync_wait()),
                FirstSync::Done => None,
            };
            if let Some(step) = step {
                return (p, step);
            }
        }
        iso.maybe_poll(now);
        let step = p.checks(iso, now);
        (p, step)
    }

    /// The next step, given the result of the [`Io`] the last step asked for.
    pub fn resume(&mut self, iso: &mut Isolate, result: IoResult, now: UnixMillis) -> Step {
        self.now = now;
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        match (stage, result) {
            (Stage::FirstSync { pages }, IoResult::Fetched(fetched)) => {
                if iso.feed_polled(fetched.page(), pages, now) {
                    self.first_sync_page(iso, pages, now)
                } else {
                    self.checks(iso, now)
                }
            }
            (Stage::SyncWait, IoResult::Done) => match iso.first_sync(now) {
                FirstSync::Wait => self.sync_wait(),
                // The sync it waited for failed or was lost, and another attempt is due.
                FirstSync::Run => self.first_sync_page(iso, 0, now),
                FirstSync::Done => self.checks(iso, now),
            },
            (Stage::AccountBody, IoResult::Body(body)) => {
                let bytes = match (&body.bytes, body.declared()) {
                    (Some(_), Some(n)) if n > ACCOUNT_BODY_LIMIT => None,
                    (Some(b), _) => Some(b),
                    (None, _) => None,
                };
                let Some(bytes) = bytes else {
                    return self.deny(iso, Reason::BodyTooLarge.into());
                };
                self.account = Some(crate::ratelimit::account_of_body(bytes));
                if matches!(self.rule().access, Access::Webhook(_)) {
                    self.body = Some(body);
                }
                self.limits_before_auth(iso, now)
            }
            (
                Stage::RemoteLimits {
                    phase,
                    keyed,
                    claims,
                },
                IoResult::RateLimits(answers),
            ) => {
                let cfg = self.cfg.clone();
                let rule = cfg.routes.rule(self.rule_at);
                if let Err(d) = limits::count(iso, rule, keyed, answers, now, &mut self.limits) {
                    return self.deny(iso, d);
                }
                match (phase, claims) {
                    (Phase::BeforeAuth, _) => self.authenticate(iso, now),
                    (Phase::AfterAuth, Some(claims)) => {
                        self.admit(iso, Identity::User(claims), now)
                    }
                    (Phase::AfterAuth, None) => self.deny(iso, Reason::Internal.into()),
                }
            }
            (Stage::Jwks(wait), IoResult::Done) => {
                let look = authenticate::after_jwks(
                    iso,
                    &self.cfg,
                    &self.req,
                    now,
                    wait,
                    self.cache_missed,
                    jwks_open(self.rule()),
                );
                self.token_looked(iso, look, now)
            }
            (
                Stage::Signature {
                    awaiting,
                    issuer_at,
                },
                IoResult::Signature(ok),
            ) => {
                let cfg = self.cfg.clone();
                // The token to record the outcome under: only when the cache missed it.
                let missed = if self.cache_missed {
                    authenticate::token_of(&cfg, &self.req).ok()
                } else {
                    None
                };
                match authenticate::finish_signature(
                    iso, &cfg, awaiting, issuer_at, ok, missed, now,
                ) {
                    Ok(claims) => self.authenticated(iso, claims, now),
                    Err(d) => {
                        self.stop_auth_clock(now);
                        self.deny(iso, d)
                    }
                }
            }
            (Stage::WebhookBody, IoResult::Body(body)) => self.webhook_body(iso, &body, now),
            (Stage::Ed25519(pending), IoResult::Ed25519(hit)) => {
                self.stop_auth_clock(now);
                match authenticate::finish_ed25519(pending, hit) {
                    Ok(v) => self.webhook_verified(iso, v, now),
                    Err(d) => self.deny(iso, d),
                }
            }
            (stage, result) => {
                iso.log_error(
                    Object::new()
                        .str("event", "pipeline_resumed_wrongly")
                        .str("request_id", &self.trace.request_id)
                        .str(
                            "result",
                            format!("{result:?}")
                                .split([' ', '(', '{'])
                                .next()
                                .unwrap_or(""),
                        )
                        .str("stage", stage.id())
                        .finish(),
                );
                self.deny(iso, Reason::Internal.into())
            }
        }
    }

    /// The request's trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The request as the driver handed it over.
    pub fn request(&self) -> &Incoming {
        &self.req
    }

    /// The key WebCrypto must import for the signature this request waits on (the JS side
    /// asks only when it has not cached it).
    pub fn key_to_import(&self, iso: &Isolate, now: UnixMillis) -> Option<KeyImport> {
        let Stage::Signature { awaiting, .. } = &self.stage else {
            return None;
        };
        authenticate::key_to_import(iso, &self.cfg, &self.req, awaiting.key_fingerprint(), now)
    }

    fn rule(&self) -> &Rule {
        self.cfg.routes.rule(self.rule_at)
    }

    fn stop_auth_clock(&mut self, now: UnixMillis) {
        if let Some(t) = self.auth_started {
            self.trace.auth_us = now.0.saturating_sub(t.0).saturating_mul(1000);
        }
    }

    fn wait(&mut self, stage: Stage, io: Io) -> Step {
        // Remote dependencies and Ed25519 checks mark the request `async` in the log (trace.rs).
        if matches!(io, Io::Jwks { .. } | Io::RateLimits(_) | Io::Ed25519(_)) {
            self.trace.path = DriverPath::Async;
        }
        self.stage = stage;
        Step::Need(io)
    }

    // ------------------------------------------------------------ the stages, in order

    /// The first revocation sync's next page (after `pages` read); when no request can be
    /// made (the envelope could not be signed) the sync has failed: on to the checks, which
    /// apply the route's failure policy to the never-synced list.
    fn first_sync_page(&mut self, iso: &mut Isolate, pages: usize, now: UnixMillis) -> Step {
        match iso.feed_request(now) {
            Ok(req) => self.wait(Stage::FirstSync { pages: pages + 1 }, Io::FeedPage(req)),
            Err(detail) => {
                iso.feed_polled(Err(detail), pages, now);
                self.checks(iso, now)
            }
        }
    }

    /// Waits for the first sync that is under way; [`Stage::SyncWait`] decides again after.
    fn sync_wait(&mut self) -> Step {
        let timeout_ms = FEED_TIMEOUT_MS;
        self.wait(Stage::SyncWait, Io::SyncWait { timeout_ms })
    }

    /// Path shape, then the body if a limit counts by account, then the limits before auth.
    fn checks(&mut self, iso: &mut Isolate, now: UnixMillis) -> Step {
        let (path, _) = self.req.path_and_query();
        if let Err(reason) = check_path(path) {
            return self.deny(iso, reason.into());
        }
        if let Err(reason) = browser::cross_site_check(&self.cfg.browser, &self.req) {
            return self.deny(iso, reason.into());
        }
        let cfg = self.cfg.clone();
        if counts_accounts(&cfg, cfg.routes.rule(self.rule_at)) {
            // Read once, capped, and forwarded as read.
            let headers = match &cfg.routes.rule(self.rule_at).access {
                Access::Webhook(id) => cfg
                    .webhooks
                    .get(id)
                    .and_then(|slot| slot.config().ok())
                    .map_or(&[][..], |wh| crate::webhook::headers_needed(wh.provider)),
                _ => &[],
            };
            let io = Io::Body {
                max_bytes: ACCOUNT_BODY_LIMIT,
                headers,
            };
            return self.wait(Stage::AccountBody, io);
        }
        self.limits_before_auth(iso, now)
    }

    fn limits_before_auth(&mut self, iso: &mut Isolate, now: UnixMillis) -> Step {
        let cfg = self.cfg.clone();
        let keyed = limits::keyed(
            &cfg,
            self.rule(),
            Phase::BeforeAuth,
            self.req.ip(),
            None,
            self.account.as_deref(),
        );
        if !keyed.remote.is_empty() {
            let io = Io::RateLimits(keyed.remote.clone());
            let stage = Stage::RemoteLimits {
                phase: Phase::BeforeAuth,
                keyed,
                claims: None,
            };
            return self.wait(stage, io);
        }
        let rule = cfg.routes.rule(self.rule_at);
        if let Err(d) = limits::count(iso, rule, keyed, Vec::new(), now, &mut self.limits) {
            return self.deny(iso, d);
        }
        self.authenticate(iso, now)
    }

    fn authenticate(&mut self, iso: &mut Isolate, now: UnixMillis) -> Step {
        let cfg = self.cfg.clone();
        let rule = cfg.routes.rule(self.rule_at);
        if needs_user(rule) {
            self.auth_started = Some(now);
            let look = authenticate::authenticate_token(
                iso,
                &cfg,
                &self.req,
                now,
                &mut self.trace.cache,
                &mut self.cache_missed,
                jwks_open(rule),
            );
            return self.token_looked(iso, look, now);
        }
        match &rule.access {
            Access::Webhook(id) => {
                self.auth_started = Some(now);
                let Some(slot) = cfg.webhooks.get(id) else {
                    // Its secret is not set (logged at start): this route only is off.
                    return self.deny(iso, Reason::WebhookNotConfigured.into());
                };
                let wh = match slot.read() {
                    (Ok(wh), _) => wh,
                    // Malformed: this route only is off, the variable logged once per isolate.
                    (Err(problem), first) => {
                        if first {
                            iso.log_error(
                                Object::new()
                                    .str("detail", problem)
                                    .str("event", "config_invalid")
                                    .str("variable", slot.variable())
                                    .finish(),
                            );
                        }
                        return self.deny(iso, Reason::ConfigInvalid.into());
                    }
                };
                if let Some(body) = self.body.take() {
                    return self.webhook_body(iso, &body, now);
                }
                let io = Io::Body {
                    max_bytes: wh.max_body_bytes,
                    headers: crate::webhook::headers_needed(wh.provider),
                };
                self.wait(Stage::WebhookBody, io)
            }
            // Public (authorize refuses an anonymous identity anywhere else).
            _ => self.admit(iso, Identity::Anonymous, now),
        }
    }

    fn token_looked(&mut self, iso: &mut Isolate, look: TokenLook, now: UnixMillis) -> Step {
        match look {
            TokenLook::Claims(c) => self.authenticated(iso, c, now),
            TokenLook::Denied(d) => {
                self.stop_auth_clock(now);
                self.deny(iso, d)
            }
            TokenLook::Signature {
                job,
                awaiting,
                issuer_at,
            } => self.wait(
                Stage::Signature {
                    awaiting,
                    issuer_at,
                },
                Io::Signature(job),
            ),
            TokenLook::Jwks { issuer, url, wait } => {
                self.wait(Stage::Jwks(wait), Io::Jwks { issuer, url })
            }
            TokenLook::KeysUnavailable { issuer, denial } => {
                // No key set can verify the token: never fetched, or past its maximum staleness
                // on a strict route (an open one verifies with the stale set; authenticate.rs).
                // Nothing was verified, so whatever the policy the answer is the 503 — open
                // never forwards a request the edge could not authenticate. Logged (gated).
                self.stop_auth_clock(now);
                let cfg = self.cfg.clone();
                let rule = cfg.routes.rule(self.rule_at);
                let detail = format!("no usable keys for issuer {issuer}");
                let retry = denial.retry_after_secs.unwrap_or(1);
                let strict = failure::decide(
                    iso,
                    &rule.id,
                    Dependency::Jwks,
                    rule.failure.jwks,
                    retry,
                    &detail,
                    now,
                );
                self.deny(iso, strict.err().unwrap_or(denial))
            }
        }
    }

    /// A verified user: revocations (cache hit or not), then the user-keyed limits.
    fn authenticated(
        &mut self,
        iso: &mut Isolate,
        claims: VerifiedClaims,
        now: UnixMillis,
    ) -> Step {
        self.stop_auth_clock(now);
        if let Err(d) = iso.check_revoked(self.rule(), &claims, now) {
            return self.deny(iso, d);
        }
        let cfg = self.cfg.clone();
        let keyed = limits::keyed(
            &cfg,
            self.rule(),
            Phase::AfterAuth,
            self.req.ip(),
            Some(&claims),
            self.account.as_deref(),
        );
        if !keyed.remote.is_empty() {
            let io = Io::RateLimits(keyed.remote.clone());
            let stage = Stage::RemoteLimits {
                phase: Phase::AfterAuth,
                keyed,
                claims: Some(claims),
            };
            return self.wait(stage, io);
        }
        let rule = cfg.routes.rule(self.rule_at);
        if let Err(d) = limits::count(iso, rule, keyed, Vec::new(), now, &mut self.limits) {
            return self.deny(iso, d);
        }
        self.admit(iso, Identity::User(claims), now)
    }

    fn webhook_body(&mut self, iso: &mut Isolate, body: &BodyRead, now: UnixMillis) -> Step {
        let cfg = self.cfg.clone();
        let Access::Webhook(id) = &cfg.routes.rule(self.rule_at).access else {
            return self.deny(iso, Reason::Internal.into());
        };
        // Parsed when the route was reached (`authenticate`), before the body was read.
        let Some(wh) = cfg.webhooks.config(id) else {
            return self.deny(iso, Reason::ConfigInvalid.into());
        };
        match authenticate::verify_webhook(wh, body, now) {
            WebhookLook::Verified(v) => {
                self.stop_auth_clock(now);
                self.webhook_verified(iso, v, now)
            }
            WebhookLook::Denied(d) => {
                self.stop_auth_clock(now);
                self.deny(iso, d)
            }
            WebhookLook::Ed25519(job, pending) => {
                self.wait(Stage::Ed25519(pending), Io::Ed25519(job))
            }
        }
    }

    /// A verified delivery: the replay window, then on to the origin.
    fn webhook_verified(&mut self, iso: &mut Isolate, v: VerifiedWebhook, now: UnixMillis) -> Step {
        let cfg = self.cfg.clone();
        let Access::Webhook(id) = &cfg.routes.rule(self.rule_at).access else {
            return self.deny(iso, Reason::Internal.into());
        };
        let Some(wh) = cfg.webhooks.config(id) else {
            return self.deny(iso, Reason::ConfigInvalid.into());
        };
        if !iso.delivery_is_fresh(id, wh, &v, now) {
            let spec = respond::duplicate_delivery(&self.trace.request_id);
            let line = self
                .trace
                .line("duplicate", None, spec.status, Some(iso.breaker_state()));
            iso.log(line);
            return Step::Respond(spec);
        }
        let delivery = v.delivery_id().map(str::to_owned);
        let step = self.admit(iso, Identity::Webhook(v), now);
        if let (Step::Respond(_), Some(delivery)) = (&step, delivery) {
            // Refused after all (the breaker is open): the sender's retry must not be a duplicate.
            iso.forget_delivery(id, &delivery);
        }
        step
    }

    /// Authorize, mutate, then the circuit breaker: the forward. The breaker guards the origin
    /// only (pages come from the assets), and is asked last, so a call it lets through — maybe a
    /// half-open probe — always reaches the origin and is reported.
    fn admit(&mut self, iso: &mut Isolate, identity: Identity, now: UnixMillis) -> Step {
        if let Err(reason) = authorize(self.rule(), &identity, now) {
            return self.deny(iso, reason.into());
        }
        self.forward(iso, identity, now)
    }

    /// Mutate, then the circuit breaker: the forward of an authorized request (or, on a route
    /// whose `jwks` policy is open, of an anonymous one whose issuer's keys failed).
    fn forward(&mut self, iso: &mut Isolate, identity: Identity, now: UnixMillis) -> Step {
        let target = match self.rule().upstream {
            Upstream::Assets => Target::Assets,
            Upstream::Origin => match mutate::outgoing(&self.cfg, &self.req, &identity, now) {
                Ok(out) => Target::Origin(out),
                Err(detail) => {
                    iso.log_error(
                        Object::new()
                            .str("detail", &detail)
                            .str("event", "forward_build_failed")
                            .str("request_id", &self.trace.request_id)
                            .finish(),
                    );
                    return self.deny(iso, Reason::OriginUnavailable.into());
                }
            },
        };
        let call = match &target {
            Target::Assets => crate::breaker::Call::ORDINARY,
            Target::Origin(_) => match iso.breaker_admit(now) {
                Ok(call) => call,
                Err(d) => return self.deny(iso, d),
            },
        };
        let mut response_headers = HeaderSet::default();
        if target != Target::Assets {
            for (k, v) in self.limits.headers() {
                response_headers.push(k, &v);
            }
            for (k, v) in browser::cors_headers(&self.cfg.browser, &self.req) {
                response_headers.push(k, &v);
            }
        }
        let after = After {
            request_id: &self.trace.request_id,
            rule: &self.trace.rule,
            cache: self.trace.cache,
            path: self.trace.path,
            auth_us: self.trace.auth_us,
            assets: target == Target::Assets,
            call,
            webhook: match (&self.rule().access, &identity) {
                (Access::Webhook(id), Identity::Webhook(v)) => {
                    v.delivery_id().map(|d| (id.as_str(), d))
                }
                _ => None,
            },
        }
        .encode();
        Step::Forward(ForwardPlan {
            target,
            after,
            response_headers,
        })
    }

    /// The denial's response (the one mapping in `respond`), with the limits' headers (and
    /// `Server-Timing` when on), logged.
    fn deny(&self, iso: &mut Isolate, denial: Denial) -> Step {
        let (cfg, req, trace) = (&self.cfg, &self.req, &self.trace);
        let mut extra = self.limits.headers();
        extra.extend(browser::cors_headers(&cfg.browser, req));
        if cfg.server_timing {
            extra.push(("server-timing", trace.server_timing()));
        }
        let (_, path_and_query) = req.path_and_query();
        let (scope, step_up) = authorize::challenge(self.rule());
        let d = DenyContext {
            browser_navigation: respond::is_browser_navigation(
                req.method(),
                req.header(Header::Accept),
            ),
            path_and_query,
            login_path: &cfg.login_path,
            request_id: &trace.request_id,
            retry_after_secs: denial.retry_after_secs,
            scope,
            step_up,
            extra_headers: extra,
        };
        let spec = respond::deny(denial.reason, &d);
        if iso.denial_line_wanted(denial.reason, &trace.rule, self.now) {
            iso.log(trace.line(
                "deny",
                Some(denial.reason),
                spec.status,
                Some(iso.breaker_state()),
            ));
        }
        Step::Respond(spec)
    }
}

/// The answer when the configuration did not load: 500 `config_invalid` (logged).
pub fn config_invalid(req: &Incoming) -> (ResponseSpec, String) {
    let (_, path_and_query) = req.path_and_query();
    let spec = respond::deny(
        Reason::ConfigInvalid,
        &DenyContext {
            request_id: req.request_id(),
            path_and_query,
            ..Default::default()
        },
    );
    let line = Trace::new(req.request_id(), "-").line(
        "deny",
        Some(Reason::ConfigInvalid),
        spec.status,
        None,
    );
    (spec, line)
}

/// What [`forwarded`] needs back after a forward, carried by the driver as one opaque string
/// (`\t`-separated): the trace fields (the auth time in whole µs), the target, the circuit
/// breaker's [`Call`](crate::breaker::Call), and for a webhook delivery its config id and
/// its delivery id in hex (forgotten by the replay window if the origin does not take it; hex:
/// a delivery id is the sender's text and could hold a tab).
struct After<'a> {
    request_id: &'a str,
    rule: &'a str,
    cache: CacheUse,
    path: DriverPath,
    auth_us: u64,
    assets: bool,
    call: crate::breaker::Call,
    webhook: Option<(&'a str, &'a str)>,
}

impl After<'_> {
    /// Tab-separated, written field by field (no `core::fmt` on every forward; issue 23).
    fn encode(&self) -> String {
        let mut s = String::with_capacity(96);
        for field in [
            self.request_id,
            "\t",
            self.rule,
            "\t",
            self.cache.id(),
            "\t",
            self.path.id(),
            "\t",
        ] {
            s.push_str(field);
        }
        crate::text::push_decimal(&mut s, self.auth_us);
        s.push_str(if self.assets {
            "\tassets\t"
        } else {
            "\torigin\t"
        });
        s.push_str(&self.call.encode());
        if let Some((id, delivery)) = self.webhook {
            s.push('\t');
            s.push_str(id);
            s.push('\t');
            s.push_str(&crate::envelope::hex(delivery.as_bytes()));
        }
        s
    }
}

/// After a forward: the origin's status (0: it could not be reached) and how long it took.
/// Reports to the circuit breaker, lets a webhook retry through when the origin did not take
/// the delivery, logs the request, and says what to answer.
pub fn forwarded(
    iso: &mut Isolate,
    after: &str,
    status: u16,
    origin_ms: u64,
    now: UnixMillis,
) -> Finished {
    let mut parts = after.split('\t');
    let mut next = || parts.next().unwrap_or("");
    let (request_id, rule, cache, path, auth_us, target, call) =
        (next(), next(), next(), next(), next(), next(), next());
    let webhook = (next(), next());
    // Built only when a line or a header needs it: most forwards log nothing (`ACCESS_LOG=denials`).
    let trace = || {
        let mut t = Trace::new(request_id, rule);
        t.cache = CacheUse::from_id(cache);
        t.path = DriverPath::from_id(path);
        t.auth_us = auth_us.parse::<u64>().unwrap_or(0);
        t.origin_ms = Some(origin_ms);
        t
    };
    let cfg = iso.config().clone();
    if target == "assets" {
        iso.log(trace().line("assets", None, status, Some(iso.breaker_state())));
        return Finished::Decorate {
            server_timing: None,
        };
    }
    let reached = status != 0;
    // Only the origin's failures count against it: 5xx, timeouts, refused connections.
    let delivered = reached && status < 500;
    iso.breaker_report(now, crate::breaker::Call::decode(call), delivered);
    if let ((id, delivery), false) = (webhook, delivered) {
        let delivery = crate::envelope::unhex(delivery).and_then(|b| String::from_utf8(b).ok());
        if let (false, Some(delivery)) = (id.is_empty(), delivery) {
            // The origin did not take the webhook delivery: let the sender's retry through.
            iso.forget_delivery(id, &delivery);
        }
    }
    if reached {
        if cfg.access_log.logs_forward(status) {
            iso.log(trace().line("forward", None, status, Some(iso.breaker_state())));
        }
        return Finished::Decorate {
            server_timing: cfg.server_timing.then(|| trace().server_timing()),
        };
    }
    let spec = respond::deny(
        Reason::OriginUnavailable,
        &DenyContext {
            request_id,
            retry_after_secs: Some(1),
            ..Default::default()
        },
    );
    iso.log(trace().line(
        "deny",
        Some(Reason::OriginUnavailable),
        spec.status,
        Some(iso.breaker_state()),
    ));
    Finished::Respond(spec)
}

/// The route rule's id when its `jwks` failure policy is open: keys past their maximum
/// staleness may still verify its tokens while the issuer's JWKS fails.
fn jwks_open(rule: &Rule) -> Option<&str> {
    (rule.failure.jwks == FailurePolicy::Open).then_some(rule.id.as_str())
}
