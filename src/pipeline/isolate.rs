//! Everything one isolate keeps between requests, in one value: the configuration, the
//! rate-limit table, the decision cache, the revocation list, the circuit breaker, the JWKS
//! caches, the webhook replay windows, the background work claimed for the driver, the log
//! lines waiting to be written, and the request-id generator. The adapter holds one `Isolate`
//! (one `thread_local!`); natively, tests make as many as they like.

use crate::json::write::Object;
use std::rc::Rc;
use std::sync::Arc;

use super::per_entry::PerEntry;
use crate::breaker::{Admission, Breaker, Call};
use crate::config::{EdgeConfig, KeySource};
use crate::decision_cache::{DecisionCache, Lookup, TokenKey};
use crate::envelope;
use crate::jwt::jwks::{JwksCache, JwksError, JwksPolicy};
use crate::jwt::{KeySet, VerifiedClaims};
use crate::policy::{Dependency, Rule};
use crate::ratelimit::{self, LocalLimiter};
use crate::reason::Reason;
use crate::revocation::{RevocationList, RevocationPage};
use crate::time::UnixMillis;
use crate::webhook::{ReplayStatus, ReplayWindow, VerifiedWebhook, WebhookConfig};

use super::denial_log::DenialLog;
use super::failure::{self, FailureLog};
use super::request::Denial;
use super::waiting::Waiting;
use super::{Io, IoResult, Pipeline};

/// I/O the pipeline claimed for after the answer (the driver runs it in `waitUntil`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// A revocation poll (claimed: one in flight).
    Revocations,
    /// A JWKS refresh for an issuer whose cached keys are still usable.
    Jwks { issuer: String, url: String },
}

/// [`Isolate::first_sync`]: what a request that needs a user does before its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstSync {
    /// Sync now, inline: this request claimed the first sync.
    Run,
    /// A first sync is under way: wait for it ([`Io::SyncWait`]).
    Wait,
    /// Go on: the list is synced, or the last attempt failed (the route's failure policy).
    Done,
}

/// A background task under way: what it waits for next is the driver's GET.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Job {
    /// A revocation poll, `pages` read so far.
    Revocations {
        pages: usize,
    },
    Jwks {
        issuer: String,
        url: String,
    },
}

/// A line for the Worker's log: the driver writes it with `console.log` / `console.error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub error: bool,
    pub line: String,
}

/// Request ids: SHA-256 of a per-isolate random seed and a counter, so a request costs no call
/// into the runtime's RNG (ids are for correlation, yet still unguessable). One digest makes two
/// 128-bit ids: the second half is kept for the next request.
struct RequestIds {
    seed: [u8; 32],
    counter: u64,
    spare: Option<[u8; 16]>,
}

impl RequestIds {
    fn next(&mut self) -> String {
        use sha2::{Digest, Sha256};
        let id = match self.spare.take() {
            Some(id) => id,
            None => {
                self.counter += 1;
                let digest = Sha256::new()
                    .chain_update(self.seed)
                    .chain_update(self.counter.to_be_bytes())
                    .finalize();
                let mut first = [0u8; 16];
                let mut second = [0u8; 16];
                first.copy_from_slice(&digest[..16]);
                second.copy_from_slice(&digest[16..]);
                self.spare = Some(second);
                first
            }
        };
        envelope::hex(&id)
    }
}

/// How many pages one sync of the revocation feed reads at most (the feed is paged until an
/// empty page): the first sync and each background poll alike.
pub const FEED_MAX_PAGES: usize = 20;

/// How long a page of the feed may take before the driver gives up on it.
pub const FEED_TIMEOUT_MS: u32 = 3_000;

/// A revocation-feed request to make: where, the envelope signature to send with it, and the
/// timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRequest {
    pub url: String,
    /// The value of [`envelope::SIGNATURE_HEADER`].
    pub signature: String,
    pub timeout_ms: u32,
}

/// What a driver's GET brought back, as it came: the status (0: no response — the network
/// failed, the timeout fired, or the body could not be read) with the runtime's `error`, and
/// the body. Whether that is a page is the core's call ([`Fetched::page`]), not the driver's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
    pub error: String,
    /// The answer's `Cache-Control` (a JWKS's freshness).
    pub cache_control: Option<String>,
}

impl Fetched {
    /// The body of a 2xx answer; anything else is a failed poll, with why.
    pub fn page(self) -> Result<Vec<u8>, String> {
        match self.status {
            0 => Err(format!("fetch failed: {}", self.error)),
            200..=299 => Ok(self.body),
            s => Err(unusable_status(s)),
        }
    }

    /// A key set's text and `Cache-Control`, or why there is none (as [`Fetched::page`]).
    pub fn jwks(self) -> Result<(String, Option<String>), String> {
        let cache_control = self.cache_control.clone();
        let body = self.page()?;
        let text = String::from_utf8(body).map_err(|_| "the JWKS is not UTF-8".to_owned())?;
        Ok((text, cache_control))
    }
}

/// Why a GET's answer with this (non-2xx) status is no use. The drivers do not follow redirects
/// (the feed's request is signed, and a key set is trusted for its configured URL only), so a
/// 3xx is a failure like any other, named as a redirect so that an operator sees why.
pub fn unusable_status(status: u16) -> String {
    if (300..400).contains(&status) {
        format!("HTTP {status}: a redirect, not followed")
    } else {
        format!("HTTP {status}")
    }
}

pub struct Isolate {
    cfg: Rc<EdgeConfig>,
    pub(crate) limiter: LocalLimiter,
    pub(crate) cache: DecisionCache<VerifiedClaims>,
    pub(crate) revocations: RevocationList,
    pub(crate) breaker: Breaker,
    jwks: PerEntry<JwksCache>,
    replay: PerEntry<ReplayWindow>,
    background: Vec<Task>,
    logs: Vec<LogLine>,
    denials: DenialLog,
    failures: FailureLog,
    ids: RequestIds,
    parked: Waiting<(Pipeline, Io)>,
    jobs: Waiting<Job>,
}

impl Isolate {
    /// `seed`: random bytes from the runtime, for request ids and where tickets start.
    pub fn new(cfg: Rc<EdgeConfig>, seed: [u8; 32]) -> Isolate {
        Isolate {
            limiter: LocalLimiter::new(cfg.rate_limit_max_keys),
            cache: DecisionCache::new(cfg.decision_cache.clone()),
            revocations: RevocationList::new(),
            breaker: Breaker::new(cfg.breaker),
            jwks: PerEntry::default(),
            replay: PerEntry::default(),
            background: Vec::new(),
            logs: Vec::new(),
            denials: DenialLog::new(cfg.rate_limited_log_per_second),
            failures: FailureLog::default(),
            ids: RequestIds {
                seed,
                counter: 0,
                spare: None,
            },
            parked: Waiting::starting_at(u32::from_le_bytes([seed[0], seed[1], seed[2], seed[3]])),
            jobs: Waiting::starting_at(u32::from_le_bytes([seed[4], seed[5], seed[6], seed[7]])),
            cfg,
        }
    }

    pub fn config(&self) -> &Rc<EdgeConfig> {
        &self.cfg
    }

    pub fn new_request_id(&mut self) -> String {
        self.ids.next()
    }

    // ------------------------------------------------------------ driver hand-offs

    /// Keeps a request waiting for `io` while the driver performs it; the ticket finds it again.
    pub fn park(&mut self, pipeline: Pipeline, io: Io) -> u32 {
        self.parked.park((pipeline, io))
    }

    /// A waiting request (`None`: unknown, or evicted by newer ones).
    pub fn parked(&self, ticket: u32) -> Option<&(Pipeline, Io)> {
        self.parked.get(ticket)
    }

    pub fn unpark(&mut self, ticket: u32) -> Option<(Pipeline, Io)> {
        self.parked.take(ticket)
    }

    pub(crate) fn queue(&mut self, task: Task) {
        self.background.push(task);
    }

    /// Is background work waiting for the driver?
    pub fn has_background(&self) -> bool {
        !self.background.is_empty()
    }

    /// The background work claimed so far; the driver runs it after answering.
    pub fn take_background(&mut self) -> Vec<Task> {
        std::mem::take(&mut self.background)
    }

    /// Starts the next queued background task: its first GET ([`Io::FeedPage`] or
    /// [`Io::Jwks`]) under a ticket for [`Isolate::job_resumed`]. `None`: nothing left to do.
    /// The driver runs them one after the other after answering, as `waitUntil` work.
    pub fn next_job(&mut self, now: UnixMillis) -> Option<(u32, Io)> {
        while !self.background.is_empty() {
            match self.background.remove(0) {
                Task::Revocations => {
                    if let Some(next) = self.next_feed_page(0, now) {
                        return Some(next);
                    }
                }
                Task::Jwks { issuer, url } => {
                    let io = Io::Jwks {
                        issuer: issuer.clone(),
                        url: url.clone(),
                    };
                    return Some((self.jobs.park(Job::Jwks { issuer, url }), io));
                }
            }
        }
        None
    }

    /// A background task's GET came back ([`IoResult::Fetched`], a feed page), or its JWKS
    /// GET ran ([`IoResult::Done`]: reported with [`Isolate::jwks_reported`]): the task's next
    /// GET, or the next task's first ([`Isolate::next_job`]).
    pub fn job_resumed(
        &mut self,
        ticket: u32,
        result: IoResult,
        now: UnixMillis,
    ) -> Option<(u32, Io)> {
        let next = match (self.jobs.take(ticket), result) {
            (Some(Job::Revocations { pages }), IoResult::Fetched(f)) => {
                if self.feed_polled(f.page(), pages + 1, now) {
                    self.next_feed_page(pages + 1, now)
                } else {
                    None
                }
            }
            // A JWKS refresh's GET ran (reported with `jwks_reported`, by this job or by a
            // request it waited for); or a ticket no longer known.
            _ => None,
        };
        next.or_else(|| self.next_job(now))
    }

    /// A poll's next page to GET (`pages` read so far); when no request can be made (the
    /// envelope could not be signed) the poll has failed, logged as such.
    fn next_feed_page(&mut self, pages: usize, now: UnixMillis) -> Option<(u32, Io)> {
        match self.feed_request(now) {
            Ok(req) => Some((
                self.jobs.park(Job::Revocations { pages }),
                Io::FeedPage(req),
            )),
            Err(e) => {
                self.feed_polled(Err(e), pages, now);
                None
            }
        }
    }

    pub(crate) fn log(&mut self, line: String) {
        self.logs.push(LogLine { error: false, line });
    }

    /// Whether a denial for `reason` on `rule` gets its own line: always, except `rate_limited`
    /// past `RATE_LIMITED_LOG_PER_SECOND` (counted instead; see [`DenialLog`]).
    pub(crate) fn denial_line_wanted(
        &mut self,
        reason: Reason,
        rule: &str,
        now: UnixMillis,
    ) -> bool {
        if reason != Reason::RateLimited {
            return true;
        }
        let mut summaries = Vec::new();
        let wanted = self.denials.admit(rule, now, &mut summaries);
        self.logs.extend(
            summaries
                .into_iter()
                .map(|line| LogLine { error: false, line }),
        );
        wanted
    }

    /// Whether a dependency failure on `rule` gets its own line (see [`FailureLog`]).
    pub(crate) fn failure_line_wanted(
        &mut self,
        dep: Dependency,
        rule: &str,
        now: UnixMillis,
    ) -> bool {
        let mut summaries = Vec::new();
        let wanted = self.failures.admit(dep, rule, now, &mut summaries);
        self.logs.extend(
            summaries
                .into_iter()
                .map(|line| LogLine { error: false, line }),
        );
        wanted
    }

    /// Writes the suppressed-denial and suppressed-failure counts of a second that is over
    /// (any request's start).
    pub(crate) fn roll_denial_log(&mut self, now: UnixMillis) {
        let mut summaries = Vec::new();
        self.denials.roll(now, &mut summaries);
        self.failures.roll(now, &mut summaries);
        self.logs.extend(
            summaries
                .into_iter()
                .map(|line| LogLine { error: false, line }),
        );
    }

    pub(crate) fn log_error(&mut self, line: String) {
        self.logs.push(LogLine { error: true, line });
    }

    /// The log lines written since the last call; the driver prints them.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.logs)
    }

    // ------------------------------------------------------------ decision cache

    /// The decision cache's key for `token`, or `None` when the cache is configured off (then
    /// the token is not even hashed). The one place the key is computed.
    pub(crate) fn cache_key<'t>(&self, token: &'t str) -> Option<TokenKey<'t>> {
        let c = &self.cfg.decision_cache;
        (c.ttl_ms > 0 || c.negative_ttl_ms > 0).then(|| TokenKey::of(token))
    }

    pub(crate) fn cache_get(
        &mut self,
        key: &TokenKey<'_>,
        now: UnixMillis,
    ) -> Lookup<'_, VerifiedClaims> {
        self.cache.get(key, now)
    }

    pub(crate) fn cache_put(
        &mut self,
        key: &TokenKey<'_>,
        claims: &VerifiedClaims,
        now: UnixMillis,
    ) {
        let exp = UnixMillis::from_secs(claims.expires_at());
        let _ = self.cache.insert(key, claims.clone(), exp, now);
    }

    /// Only signature failures are cached negatively: a flood of one forged token costs one
    /// verification, while an expired or mis-addressed token is cheap to refuse again.
    pub(crate) fn cache_negative(&mut self, key: &TokenKey<'_>, reason: Reason, now: UnixMillis) {
        if reason == Reason::TokenSignatureInvalid {
            self.cache.insert_negative(key, reason, now);
        }
    }

    // ------------------------------------------------------------ revocations

    /// Checked on every authenticated request, cache hit or not: a revoked session or user is
    /// refused; a list staler than `REVOCATION_MAX_STALENESS_SECONDS` is a failure of the feed,
    /// decided by the route's `revocations` policy (strict: 503 `revocations_unavailable`).
    pub(crate) fn check_revoked(
        &mut self,
        rule: &Rule,
        claims: &VerifiedClaims,
        now: UnixMillis,
    ) -> Result<(), Denial> {
        if self
            .revocations
            .is_revoked(claims.subject(), claims.session_id(), claims.issued_at())
        {
            return Err(Reason::TokenRevoked.into());
        }
        let stale_ms = self.revocations.stale_for(now);
        if stale_ms > self.cfg.revocation_max_staleness_secs * 1000 {
            let detail = match stale_ms {
                u64::MAX => "the feed has not been read since the isolate started".to_owned(),
                ms => format!("the feed was last read {ms} ms ago"),
            };
            let retry = self.cfg.revocation_poll_secs;
            failure::decide(
                self,
                &rule.id,
                Dependency::Revocations,
                rule.failure.revocations,
                retry,
                &detail,
                now,
            )?;
        }
        Ok(())
    }

    /// What a request that needs a user does about a revocation list that has never been
    /// read to the feed's end: run the sync itself (the first such request, or the first after
    /// a failed attempt once the poll interval has passed: [`RevocationList::claim_first_sync`]),
    /// wait for the one that runs (another request's, or a background poll a public request
    /// started), or go on — the list is synced, or the last attempt failed and the route's
    /// failure policy decides.
    pub(crate) fn first_sync(&mut self, now: UnixMillis) -> FirstSync {
        if self.revocations.synced() {
            FirstSync::Done
        } else if self.revocations.first_sync_running(now) {
            FirstSync::Wait
        } else if self
            .revocations
            .claim_first_sync(now, self.cfg.revocation_poll_secs * 1000)
        {
            FirstSync::Run
        } else {
            FirstSync::Done
        }
    }

    /// Claims the next background poll if one is due (one in flight) and queues it.
    pub(crate) fn maybe_poll(&mut self, now: UnixMillis) {
        if self
            .revocations
            .should_poll(now, self.cfg.revocation_poll_secs * 1000)
        {
            self.queue(Task::Revocations);
        }
    }

    /// The next page of the feed to ask for (the edge's own call: an anonymous identity,
    /// signed like every forwarded request).
    pub fn feed_request(&self, now: UnixMillis) -> Result<FeedRequest, String> {
        let path = match self.revocations.cursor() {
            Some(c) => ["/internal/revocations?since=", c].concat(),
            None => "/internal/revocations".to_owned(),
        };
        let signature = envelope::sign(
            &self.cfg.envelope_key,
            now,
            "GET",
            &path,
            std::iter::empty(),
        )
        .map_err(|e| e.to_string())?;
        Ok(FeedRequest {
            url: [self.cfg.origin_url.as_str(), &path].concat(),
            signature,
            timeout_ms: FEED_TIMEOUT_MS,
        })
    }

    /// A feed page arrived (the body) or the poll failed; `pages`: the pages this sync has
    /// read, this one included. `true`: the page had entries and the page limit is not reached,
    /// ask for the next one (the poll stays in flight). Otherwise the sync is over: it reached
    /// the feed's end (or the limit), or it failed.
    pub fn feed_polled(
        &mut self,
        result: Result<Vec<u8>, String>,
        pages: usize,
        now: UnixMillis,
    ) -> bool {
        match result.and_then(|body| RevocationPage::from_json(&body)) {
            Ok(page) => {
                let entries = page.sessions.len() + page.users.len();
                let applied = self.revocations.apply(page, now);
                if applied.sessions_added + applied.users_added > 0 {
                    self.log(
                        Object::new()
                            .str("event", "revocations_applied")
                            .num("sessions", applied.sessions_added as u64)
                            .num("users", applied.users_added as u64)
                            .finish(),
                    );
                }
                if entries > 0 && pages < FEED_MAX_PAGES {
                    self.revocations.next_page(now);
                    true
                } else {
                    self.revocations.sync_ended();
                    false
                }
            }
            Err(detail) => {
                self.revocations.poll_failed(now);
                let stale_ms = self.revocations.stale_for(now);
                self.log_error(
                    Object::new()
                        .str("detail", &detail)
                        .str("event", "revocation_poll_failed")
                        .num("stale_ms", stale_ms)
                        .finish(),
                );
                false
            }
        }
    }

    // ------------------------------------------------------------ JWKS

    fn jwks_cache(&mut self, issuer: &str) -> &mut JwksCache {
        let cfg = &self.cfg;
        self.jwks.get_or_insert_with(issuer, || {
            JwksCache::new(JwksPolicy {
                min_ttl_secs: cfg.jwks.min_ttl_secs,
                max_ttl_secs: cfg.jwks.max_ttl_secs,
                max_staleness_secs: cfg.jwks.max_staleness_secs,
                unknown_kid_interval_secs: cfg.jwks.refetch_interval_secs,
                ..JwksPolicy::default()
            })
        })
    }

    /// The issuer's usable keys now; when a refresh is due it is claimed and queued as
    /// background work.
    pub(crate) fn jwks_keys(
        &mut self,
        issuer: &str,
        url: &str,
        now: UnixMillis,
    ) -> Option<Arc<KeySet>> {
        let cache = self.jwks_cache(issuer);
        let keys = cache.usable_keys(now).ok().cloned()?;
        if cache.begin_fetch(now).is_some() {
            self.queue(Task::Jwks {
                issuer: issuer.to_owned(),
                url: url.to_owned(),
            });
        }
        Some(keys)
    }

    /// The issuer's keys if usable now, without claiming anything.
    pub(crate) fn jwks_ready(&self, issuer: &str, now: UnixMillis) -> Option<Arc<KeySet>> {
        self.jwks.get(issuer)?.usable_keys(now).ok().cloned()
    }

    /// The issuer's last good keys, past their maximum staleness or not (`failure.jwks` open).
    pub(crate) fn jwks_last_good(&self, issuer: &str) -> Option<Arc<KeySet>> {
        self.jwks.get(issuer)?.last_good_keys().cloned()
    }

    /// Whether a request for an issuer with no usable keys waits for a fetch: it claims one
    /// (single flight), or one is already running (the driver joins it; [`Io::Jwks`]). False
    /// while backing off after a failure: then the answer is 503 at once.
    pub(crate) fn jwks_claim_or_join(&mut self, issuer: &str, now: UnixMillis) -> bool {
        let cache = self.jwks_cache(issuer);
        cache.fetch_in_flight(now) || cache.begin_fetch(now).is_some()
    }

    /// Whether a token naming an unknown `kid` waits for a fetch: one is running (joined), or
    /// it claims a refetch (at most once per interval).
    pub(crate) fn jwks_claim_unknown_kid(&mut self, issuer: &str, now: UnixMillis) -> bool {
        let cache = self.jwks_cache(issuer);
        cache.fetch_in_flight(now) || cache.begin_unknown_kid_fetch(now).is_some()
    }

    /// 503 `jwks_unavailable`, with the cache's idea of when to retry.
    pub(crate) fn jwks_unavailable(&mut self, issuer: &str, now: UnixMillis) -> Denial {
        let retry = match self.jwks_cache(issuer).usable_keys(now) {
            Err(JwksError::Unavailable { retry_after_secs }) => retry_after_secs,
            _ => 1,
        };
        Denial {
            reason: Reason::JwksUnavailable,
            retry_after_secs: Some(retry.max(1)),
        }
    }

    /// What a driver's GET of `url` for `issuer`'s JWKS brought back (`Io::Jwks`). Applied
    /// only if `url` is the issuer's configured `jwks_url`: a report for anything else (a
    /// driver bug, or a GET started by an instance since reset) is logged and dropped.
    pub fn jwks_reported(&mut self, issuer: &str, url: &str, fetched: Fetched, now: UnixMillis) {
        let configured = matches!(
            self.cfg.issuer(issuer).map(|i| &i.keys),
            Some(KeySource::Url(u)) if u == url
        );
        if !configured {
            self.log_error(
                Object::new()
                    .str("event", "jwks_report_ignored")
                    .str("issuer", issuer)
                    .str("url", url)
                    .finish(),
            );
            return;
        }
        self.jwks_fetched(issuer, url, fetched.jwks(), now);
    }

    /// A JWKS fetch finished: the body and its `Cache-Control`, or why it failed.
    pub fn jwks_fetched(
        &mut self,
        issuer: &str,
        url: &str,
        result: Result<(String, Option<String>), String>,
        now: UnixMillis,
    ) {
        let cache = self.jwks_cache(issuer);
        let line = match result {
            Ok((body, cache_control)) => {
                match cache.on_fetch_ok(now, &body, cache_control.as_deref()) {
                    Ok(n) => Ok(Object::new()
                        .str("event", "jwks_fetched")
                        .str("issuer", issuer)
                        .num("keys", n as u64)
                        .finish()),
                    Err(e) => Err(Object::new()
                        .str("detail", &e.to_string())
                        .str("event", "jwks_invalid")
                        .str("issuer", issuer)
                        .finish()),
                }
            }
            Err(detail) => {
                cache.on_fetch_err(now);
                Err(Object::new()
                    .str("detail", &detail)
                    .str("event", "jwks_fetch_failed")
                    .str("issuer", issuer)
                    .str("url", url)
                    .finish())
            }
        };
        match line {
            Ok(l) => self.log(l),
            Err(l) => self.log_error(l),
        }
    }

    // ------------------------------------------------------------ webhooks

    /// The replay window's verdict on a verified delivery: `false` for an id already accepted
    /// inside the window; a fresh id is recorded.
    pub(crate) fn delivery_is_fresh(
        &mut self,
        id: &str,
        cfg: &WebhookConfig,
        verified: &VerifiedWebhook,
        now: UnixMillis,
    ) -> bool {
        if !cfg.replay_window {
            return true;
        }
        let window = self
            .replay
            .get_or_insert_with(id, || ReplayWindow::for_config(cfg));
        !matches!(
            window.check_verified(verified, now),
            Some(ReplayStatus::Duplicate)
        )
    }

    /// The origin did not take the delivery: forget its id so the sender's retry is not a
    /// duplicate.
    pub(crate) fn forget_delivery(&mut self, id: &str, delivery: &str) {
        let Some(wh) = self.cfg.webhooks.config(id) else {
            return;
        };
        if let Some(w) = self.replay.get_mut(id) {
            w.forget(wh.provider, delivery);
        }
    }

    // ------------------------------------------------------------ circuit breaker

    /// May this request go to the origin? `Ok` carries the call to report with.
    pub(crate) fn breaker_admit(&mut self, now: UnixMillis) -> Result<Call, Denial> {
        match self.breaker.before_call(now) {
            Admission::Permit {
                transition, call, ..
            } => {
                if let Some(t) = transition {
                    self.log(
                        Object::new()
                            .str("event", "breaker")
                            .str("transition", &t.to_string())
                            .finish(),
                    );
                }
                Ok(call)
            }
            Admission::Rejected { retry_after_ms } => Err(Denial {
                reason: Reason::OriginUnavailable,
                retry_after_secs: Some(ratelimit::retry_after_secs(retry_after_ms)),
            }),
        }
    }

    pub(crate) fn breaker_report(&mut self, now: UnixMillis, call: Call, success: bool) {
        if let Some(t) = self.breaker.on_result(now, call, success) {
            self.log(
                Object::new()
                    .str("event", "breaker")
                    .str("transition", &t.to_string())
                    .finish(),
            );
        }
    }

    pub(crate) fn breaker_state(&self) -> &'static str {
        self.breaker.state().id()
    }
}
