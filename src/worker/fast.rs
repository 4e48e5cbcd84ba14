//! The synchronous request path, driven by `entry.js`.
//!
//! Most requests need no I/O before the forward: the route's limits are local, the token is
//! in the decision cache or is an HMAC one, the JWKS is cached and the revocation list fresh.
//! For those, `entry.js` makes one call into wasm with the few request fields that matter and
//! gets back a [`Plan`]: answer now, forward with these headers, verify this asymmetric
//! signature with WebCrypto and call back, read this webhook's body and call back, or (a fresh
//! isolate's first authenticated request) run the first revocation sync and ask again. The
//! configuration is read from `env` by `edge_configure` on the isolate's first request.
//! Everything else — Ed25519 webhooks, bodies read for account limits, durable/binding limits,
//! JWKS fetches, asset routes — goes to the full async path (`Plan::Full`, `mod.rs`). Both paths call the same core functions and
//! per-isolate state; only the orchestration differs. Plans are decided here, never in JS.
//!
//! A plan crosses to JS as one string: fields separated by NUL, which no header name or value,
//! URL or JSON body produced here can contain; header lists inside a field are newline-joined
//! (header values never hold a newline).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::wasm_bindgen;

use super::edge_state::{self, Cached, Limits, Phase};
use super::forward::{self, HeaderSet};
use super::{denial_spec, jwks, state, Trace};
use crate::config::{EdgeConfig, IssuerConfig, KeySource};
use crate::decision_cache::TokenHash;
use crate::identity::Identity;
use crate::jwt::{
    self, HmacVerifier, JwtError, KeyMaterial, SignatureVerdict, TimeOptions, UntrustedToken,
    Validation,
};
use crate::pipeline::{self, Denial};
use crate::policy::{Access, Rule, RuleAt, Upstream};
use crate::reason::Reason;
use crate::request_fields::{Header, RequestFields};
use crate::respond::{self, ResponseSpec};
use crate::time::UnixMillis;
use crate::webhook::WebhookConfig;

/// A request as the decision sees it: the fields `entry.js` sent ([`RequestFields`]) and its
/// request id. Owned: a request waiting for WebCrypto or for its body keeps it.
struct Incoming {
    fields: RequestFields,
    /// The client's `x-request-id` if acceptable, else a fresh one.
    request_id: String,
}

impl Incoming {
    fn new(fields: RequestFields) -> Incoming {
        let request_id = match pipeline::accept_request_id(fields.header(Header::RequestId)) {
            Some(id) => id.to_owned(),
            None => super::new_request_id(),
        };
        Incoming { fields, request_id }
    }

    fn method(&self) -> &str {
        self.fields.method()
    }
    fn url(&self) -> &str {
        self.fields.url()
    }
    fn header_names(&self) -> &str {
        self.fields.header_names()
    }
    fn authorization(&self) -> Option<&str> {
        self.fields.header(Header::Authorization)
    }
    fn cookie(&self) -> Option<&str> {
        self.fields.header(Header::Cookie)
    }
    fn client_ip(&self) -> Option<&str> {
        self.fields.header(Header::ClientIp)
    }
    fn accept(&self) -> Option<&str> {
        self.fields.header(Header::Accept)
    }

    fn path_and_query(&self) -> (&str, &str) {
        super::http::path_and_query(self.url())
    }
}

/// What `entry.js` does next.
enum Plan {
    /// Hand the request to the full async path.
    Full,
    /// Run the queued background work (`edge_background`) now, then plan again: a fresh
    /// isolate's first revocation sync, which must finish before its first authenticated
    /// decision.
    Prepare,
    /// Answer with this response.
    Respond(ResponseSpec),
    /// Verify a signature with WebCrypto, then call `edge_verified(ticket, ok)`.
    Verify {
        ticket: u32,
        key_id: String,
        alg: &'static str,
        signing_input: String,
        signature_b64url: String,
    },
    /// Read the request body (at most `max_bytes`) and these request headers, then call
    /// `edge_body(ticket, …)`: a webhook delivery, verified once its bytes are in.
    ReadBody {
        ticket: u32,
        max_bytes: u64,
        headers: &'static [&'static str],
    },
    /// Forward to the origin, then call `edge_forwarded(trace, …)`.
    Forward {
        out: forward::Outgoing,
        trace: String,
        response_headers: HeaderSet,
    },
}

const SEP: char = '\0';

impl Plan {
    /// The kind letter, then `1` if background work was queued for `edge_background`.
    fn encode(self) -> String {
        let mut s = String::with_capacity(1024);
        let background = BACKGROUND.with(|b| !b.borrow().is_empty());
        let field = |s: &mut String, v: &str| {
            s.push(SEP);
            s.push_str(v);
        };
        let head = |s: &mut String, kind: char| {
            s.push(kind);
            s.push(if background { '1' } else { '0' });
        };
        match self {
            Plan::Full => s.push('S'),
            Plan::Prepare => s.push_str("P1"),
            Plan::Respond(spec) => {
                head(&mut s, 'R');
                let mut h = HeaderSet::default();
                for (k, v) in &spec.headers {
                    h.push(k, v);
                }
                field(&mut s, &spec.status.to_string());
                field(&mut s, &h.names);
                field(&mut s, &h.values);
                field(&mut s, &spec.body);
            }
            Plan::Verify {
                ticket,
                key_id,
                alg,
                signing_input,
                signature_b64url,
            } => {
                head(&mut s, 'V');
                field(&mut s, &ticket.to_string());
                field(&mut s, &key_id);
                field(&mut s, alg);
                field(&mut s, &signing_input);
                field(&mut s, &signature_b64url);
            }
            Plan::ReadBody {
                ticket,
                max_bytes,
                headers,
            } => {
                head(&mut s, 'B');
                field(&mut s, &ticket.to_string());
                field(&mut s, &max_bytes.to_string());
                field(&mut s, &headers.join("\n"));
            }
            Plan::Forward {
                out,
                trace,
                response_headers,
            } => {
                head(&mut s, 'F');
                field(&mut s, &out.url);
                field(&mut s, &out.timeout_ms.to_string());
                field(&mut s, &trace);
                field(&mut s, &out.drop);
                field(&mut s, &out.set.names);
                field(&mut s, &out.set.values);
                field(&mut s, &response_headers.names);
                field(&mut s, &response_headers.values);
            }
        }
        s
    }
}

/// Can this route be decided without I/O at all (given fresh state)?
/// Webhooks too, unless their config holds Ed25519 keys (`v1a` is checked with WebCrypto on the
/// full path, and the body, once read here, could not be read there again).
fn synchronous_route(cfg: &EdgeConfig, rule: &Rule) -> bool {
    let access = match &rule.access {
        Access::Webhook(id) => cfg.webhooks.get(id).is_some_and(|w| !w.has_ed25519_keys()),
        _ => true,
    };
    rule.upstream == Upstream::Origin && access && edge_state::limits_are_local(cfg, rule)
}

/// I/O the synchronous path claimed and `entry.js` runs after answering (`waitUntil`).
enum Task {
    /// A revocation poll (claimed: one in flight).
    Revocations,
    /// A JWKS refresh for an issuer whose cached keys are still usable.
    Jwks { issuer: String, url: String },
}

thread_local! {
    static BACKGROUND: RefCell<Vec<Task>> = const { RefCell::new(Vec::new()) };
}

fn queue(task: Task) {
    BACKGROUND.with(|b| b.borrow_mut().push(task));
}

/// Runs the background work queued by earlier plans (called through `ctx.waitUntil`).
#[wasm_bindgen]
pub async fn edge_background() {
    let Some(cfg) = state::loaded() else {
        return;
    };
    let tasks = BACKGROUND.with(|b| std::mem::take(&mut *b.borrow_mut()));
    for task in tasks {
        match task {
            Task::Revocations => edge_state::poll_in_background(&cfg).await,
            Task::Jwks { issuer, url } => jwks::refresh_in_background(&cfg, &issuer, &url).await,
        }
    }
}

/// The first call for every request: the [`Plan`] for it, encoded for `entry.js`. `fields` and
/// `absent`: the request as [`RequestFields`] describes it.
#[wasm_bindgen]
pub fn edge_plan(fields: String, absent: u32, now_ms: f64, may_prepare: bool) -> String {
    let Some(cfg) = state::loaded() else {
        return Plan::Full.encode();
    };
    // Malformed only if entry.js and this module disagree: the full path reads the request itself.
    let Some(fields) = RequestFields::parse(fields, absent) else {
        return Plan::Full.encode();
    };
    let req = Incoming::new(fields);
    plan(&cfg, req, UnixMillis(now_ms as u64), may_prepare).encode()
}

/// Loads the isolate's configuration from the Worker's `env` (once; later calls return at
/// once), so that even an isolate's first request can take the synchronous path. An invalid
/// configuration is logged here and answered by the full path (`config_invalid`).
#[wasm_bindgen]
pub fn edge_configure(env: wasm_bindgen::JsValue) {
    use wasm_bindgen::JsCast;
    let _ = state::config(&env.unchecked_into::<worker::Env>());
}

fn plan(cfg: &Rc<EdgeConfig>, req: Incoming, now: UnixMillis, may_prepare: bool) -> Plan {
    let (path, _) = req.path_and_query();
    let rule_at = cfg.routes.route_at(req.method(), path);
    let rule = cfg.routes.rule(rule_at);
    if !synchronous_route(cfg, rule) {
        return Plan::Full;
    }
    let authenticated = matches!(rule.access, Access::Authenticated | Access::Permissions(_));
    // A fresh isolate knows no revocations: its first authenticated request syncs first (the
    // same rule as the full path's `ensure_synced`). Once only: when the sync failed or another
    // request's sync is in flight, the decision goes on and the route's failure policy applies
    // to the never-synced list (strict routes answer 503).
    if authenticated && may_prepare && edge_state::claim_first_sync(cfg, now) {
        queue(Task::Revocations);
        return Plan::Prepare;
    }
    if edge_state::claim_poll(cfg, now) {
        queue(Task::Revocations);
    }
    let mut limits = Limits::default();
    let mut trace = Trace {
        request_id: &req.request_id,
        rule: &rule.id,
        cache: "none",
        auth_ms: 0.0,
        origin_ms: None,
        path: "sync",
    };
    let ip = req.client_ip().unwrap_or("local");
    let before = pipeline::check_path(path)
        .map_err(Denial::from)
        .and_then(|()| {
            edge_state::rate_limit_local(cfg, rule, Phase::BeforeAuth, ip, None, now, &mut limits)
        });
    if let Err(d) = before {
        return deny(cfg, rule, &req, &limits, &trace, d);
    }
    if let Access::Webhook(id) = &rule.access {
        // Checked by `synchronous_route`.
        let Some(wh) = cfg.webhooks.get(id) else {
            return Plan::Full;
        };
        return park_body(req, limits, rule_at, wh);
    }
    if !authenticated {
        return admit(cfg, rule, &req, Identity::Anonymous, limits, &trace, now);
    }
    match authenticate(cfg, &req, now, &mut trace) {
        Auth::Claims(claims) => after_auth(cfg, rule, &req, claims, limits, &trace, now),
        Auth::Denied(d) => deny(cfg, rule, &req, &limits, &trace, d),
        Auth::Full => Plan::Full,
        Auth::Verify(v, cache_key) => {
            let cache = trace.cache;
            park(v, cache_key, req, limits, cache, rule_at)
        }
    }
}

enum Auth {
    Claims(jwt::VerifiedClaims),
    Denied(Denial),
    /// A token naming an unknown `kid` while a refetch is allowed: the full path refetches.
    /// (Its limits were counted here already; the full path counts them again — once per
    /// refetch interval at most.)
    Full,
    /// WebCrypto checks the signature; then the token's decision-cache key records the outcome.
    Verify(Box<PendingVerify>, Option<TokenHash>),
}

/// An asymmetric signature for `entry.js` to check with WebCrypto, and what finishes the
/// validation when it answers.
struct PendingVerify {
    key_id: String,
    alg: &'static str,
    signing_input: String,
    signature_b64url: String,
    token: jwt::AwaitingSignature,
    /// The token's issuer, as an index in `cfg.issuers`.
    issuer: usize,
}

/// The asymmetric algorithms WebCrypto checks, by the names `glue.js`'s parameter table uses
/// (the key pins the algorithm).
fn webcrypto_alg(alg: jwt::Algorithm) -> Option<&'static str> {
    use jwt::Algorithm::*;
    Some(match alg {
        EdDsa => "EdDSA",
        Es256 => "ES256",
        Rs256 => "RS256",
        Ps256 => "PS256",
        _ => return None,
    })
}

/// The id `entry.js` caches the imported key under: the key's fingerprint in hex.
fn key_id(fingerprint: &[u8; 16]) -> String {
    crate::envelope::hex(fingerprint)
}

fn authenticate(cfg: &EdgeConfig, req: &Incoming, now: UnixMillis, trace: &mut Trace<'_>) -> Auth {
    let token =
        match pipeline::extract_token(req.authorization(), req.cookie(), &cfg.session_cookie) {
            Ok((t, _)) => t,
            Err(reason) => return Auth::Denied(reason.into()),
        };
    if token.len() > cfg.max_token_bytes {
        return Auth::Denied(Reason::TokenTooLarge.into());
    }
    let hash = edge_state::cache_key(cfg, token);
    match hash
        .as_ref()
        .map_or(Cached::Miss, |h| edge_state::cache_get(cfg, h, now))
    {
        Cached::Hit(claims) => {
            trace.cache = "hit";
            return Auth::Claims(claims);
        }
        Cached::Negative(reason) => {
            trace.cache = "negative";
            return Auth::Denied(reason.into());
        }
        Cached::Miss => trace.cache = "miss",
    }
    match validate(cfg, token, now) {
        Validated::Claims(c) => {
            if let Some(h) = hash {
                edge_state::cache_put(cfg, h, &c, now);
            }
            Auth::Claims(c)
        }
        Validated::Err(reason) => {
            if let Some(h) = hash {
                edge_state::cache_negative(cfg, h, reason, now);
            }
            Auth::Denied(reason.into())
        }
        Validated::Full => Auth::Full,
        Validated::Verify(v) => Auth::Verify(v, hash),
    }
}

enum Validated {
    Claims(jwt::VerifiedClaims),
    Err(Reason),
    Full,
    Verify(Box<PendingVerify>),
}

/// A token opened for a look: parsed strictly, its issuer found, that issuer's keys at hand.
struct Opened<'c, 't> {
    parsed: UntrustedToken<'t>,
    issuer: &'c IssuerConfig,
    /// `issuer`'s index in `cfg.issuers`.
    issuer_at: usize,
    keys: IssuerKeys<'c>,
}

/// An issuer's key set: configured inline, or the JWKS cache's current one.
enum IssuerKeys<'c> {
    Static(&'c jwt::KeySet),
    Fetched(Arc<jwt::KeySet>),
}

impl IssuerKeys<'_> {
    fn set(&self) -> &jwt::KeySet {
        match self {
            IssuerKeys::Static(k) => k,
            IssuerKeys::Fetched(k) => k,
        }
    }
}

/// Why a token could not be opened: refused with a reason, or its issuer has no usable keys
/// now (only the full path, which fetches inline or answers `jwks_unavailable`, can decide).
enum Unopened {
    Refused(Reason),
    NoKeys,
}

impl From<Unopened> for Validated {
    fn from(u: Unopened) -> Self {
        match u {
            Unopened::Refused(reason) => Validated::Err(reason),
            Unopened::NoKeys => Validated::Full,
        }
    }
}

/// The opening steps of every look at a token: parse it, find its issuer, get that issuer's
/// usable keys. `claim_refresh`: when the JWKS is due for a refresh, claim it and queue it
/// (the first look at a request; a later look only reads the cache).
fn open<'c, 't>(
    cfg: &'c EdgeConfig,
    token: &'t str,
    now: UnixMillis,
    claim_refresh: bool,
) -> Result<Opened<'c, 't>, Unopened> {
    let parsed = UntrustedToken::parse(token, cfg.max_token_bytes)
        .map_err(|e| Unopened::Refused(e.reason()))?;
    let Some((issuer_at, issuer)) = parsed
        .unverified_issuer()
        .and_then(|iss| cfg.issuer_at(iss))
    else {
        return Err(Unopened::Refused(Reason::TokenIssuerInvalid));
    };
    let keys = match &issuer.keys {
        KeySource::Static(keys) => IssuerKeys::Static(keys),
        KeySource::Url(url) => {
            let iss = &issuer.policy.issuer;
            let keys = if claim_refresh {
                let mut refresh = false;
                let keys = jwks::keys_now(cfg, iss, now, &mut refresh);
                if refresh {
                    queue(Task::Jwks {
                        issuer: iss.clone(),
                        url: url.clone(),
                    });
                }
                keys
            } else {
                jwks::ready_keys(cfg, iss, now)
            };
            IssuerKeys::Fetched(keys.ok_or(Unopened::NoKeys)?)
        }
    };
    Ok(Opened {
        parsed,
        issuer,
        issuer_at,
        keys,
    })
}

/// Validates `token` with the issuer's usable keys: HMAC here; the other algorithms are
/// deferred to WebCrypto, with what finishes the validation once it answers.
fn validate(cfg: &EdgeConfig, token: &str, now: UnixMillis) -> Validated {
    let Opened {
        parsed,
        issuer,
        issuer_at,
        keys,
    } = match open(cfg, token, now, true) {
        Ok(o) => o,
        Err(u) => return u.into(),
    };
    let time = TimeOptions {
        now,
        leeway_secs: cfg.leeway_secs,
    };
    let mut webcrypto = None;
    let result = jwt::validate_with(parsed, keys.set(), &issuer.policy, &time, |check| {
        if matches!(check.key.material(), KeyMaterial::Oct(_)) {
            return SignatureVerdict::Checked(HmacVerifier.verify_sync(check));
        }
        match webcrypto_alg(check.alg) {
            Some(alg) => {
                webcrypto = Some(alg);
                SignatureVerdict::Deferred
            }
            None => {
                SignatureVerdict::Checked(Err(JwtError::VerifierUnsupported { alg: check.alg }))
            }
        }
    });
    match result {
        Ok(Validation::Verified(c)) => Validated::Claims(c),
        Ok(Validation::Awaiting(awaiting)) => {
            // Deferred only after naming the WebCrypto algorithm; else the full path decides.
            let Some(alg) = webcrypto else {
                return Validated::Full;
            };
            let (input, sig) = parsed_parts(token);
            Validated::Verify(Box::new(PendingVerify {
                key_id: key_id(&awaiting.key_fingerprint()),
                alg,
                signing_input: input.to_owned(),
                signature_b64url: sig.to_owned(),
                token: awaiting,
                issuer: issuer_at,
            }))
        }
        Err(JwtError::KeyUnknown { kid: Some(_) })
            if matches!(issuer.keys, KeySource::Url(_))
                && jwks::unknown_kid_fetch_allowed(cfg, &issuer.policy.issuer, now) =>
        {
            Validated::Full
        }
        Err(e) => Validated::Err(e.reason()),
    }
}

/// `(signing input, base64url signature)` of a compact JWS already parsed strictly.
fn parsed_parts(token: &str) -> (&str, &str) {
    token.rsplit_once('.').unwrap_or((token, ""))
}

fn after_auth(
    cfg: &EdgeConfig,
    rule: &Rule,
    req: &Incoming,
    claims: jwt::VerifiedClaims,
    mut limits: Limits,
    trace: &Trace<'_>,
    now: UnixMillis,
) -> Plan {
    let ip = req.client_ip().unwrap_or("local");
    let checked = edge_state::check_revoked(cfg, rule, &claims, now).and_then(|()| {
        edge_state::rate_limit_local(
            cfg,
            rule,
            Phase::AfterAuth,
            ip,
            Some(&claims),
            now,
            &mut limits,
        )
    });
    match checked {
        Ok(()) => admit(cfg, rule, req, Identity::User(claims), limits, trace, now),
        Err(d) => deny(cfg, rule, req, &limits, trace, d),
    }
}

fn admit(
    cfg: &EdgeConfig,
    rule: &Rule,
    req: &Incoming,
    identity: Identity,
    limits: Limits,
    trace: &Trace<'_>,
    now: UnixMillis,
) -> Plan {
    if let Err(d) = pipeline::authorize(rule, &identity)
        .map_err(Denial::from)
        .and_then(|()| edge_state::breaker_admit(cfg, now))
    {
        return deny(cfg, rule, req, &limits, trace, d);
    }
    let (_, path_and_query) = req.path_and_query();
    let out = match forward::outgoing(
        cfg,
        req.header_names(),
        req.method(),
        path_and_query,
        &identity,
        &req.request_id,
        req.client_ip(),
        forward::proto_of(req.url()),
        now,
    ) {
        Ok(o) => o,
        Err(detail) => {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "forward_build_failed", "request_id": req.request_id, "detail": detail})
            );
            return deny(
                cfg,
                rule,
                req,
                &limits,
                trace,
                Reason::OriginUnavailable.into(),
            );
        }
    };
    let mut response_headers = HeaderSet::default();
    for (k, v) in limits.headers() {
        response_headers.push(k, &v);
    }
    Plan::Forward {
        out,
        trace: forward_trace(trace, rule, &identity),
        response_headers,
    }
}

/// What `edge_forwarded` needs back: `request_id\trule\tcache`, and for a webhook delivery
/// `\twebhook id\tdelivery id in hex` (forgotten by the replay window if the origin does not take
/// it). Hex: a delivery id is the sender's text and could hold a tab or a NUL.
fn forward_trace(trace: &Trace<'_>, rule: &Rule, identity: &Identity) -> String {
    let mut s = format!("{}\t{}\t{}", trace.request_id, trace.rule, trace.cache);
    if let (Access::Webhook(id), Identity::Webhook(v)) = (&rule.access, identity) {
        if let Some(delivery) = v.delivery_id() {
            s.push('\t');
            s.push_str(id);
            s.push('\t');
            s.push_str(&crate::envelope::hex(delivery.as_bytes()));
        }
    }
    s
}

fn deny(
    cfg: &EdgeConfig,
    rule: &Rule,
    req: &Incoming,
    limits: &Limits,
    trace: &Trace<'_>,
    denial: Denial,
) -> Plan {
    let (_, path_and_query) = req.path_and_query();
    Plan::Respond(denial_spec(
        cfg,
        rule,
        req.method(),
        req.accept(),
        path_and_query,
        limits,
        trace,
        denial,
    ))
}

// ---------------------------------------------------------------- waiting for WebCrypto

/// Requests waiting for JS to come back (WebCrypto's answer, a body read), by ticket.
/// Bounded: a request abandoned mid-way (client gone) is evicted by newer ones, never leaks.
struct Waiting<T> {
    next: u32,
    queue: VecDeque<(u32, T)>,
}

const MAX_WAITING: usize = 1024;

impl<T> Waiting<T> {
    const fn new() -> Self {
        Waiting {
            next: 0,
            queue: VecDeque::new(),
        }
    }

    /// Keeps `item` and returns its ticket (evicting the oldest past [`MAX_WAITING`]).
    fn park(&mut self, item: T) -> u32 {
        self.next = self.next.wrapping_add(1);
        if self.queue.len() >= MAX_WAITING {
            self.queue.pop_front();
        }
        self.queue.push_back((self.next, item));
        self.next
    }

    fn get(&self, ticket: u32) -> Option<&T> {
        self.queue
            .iter()
            .find(|(t, _)| *t == ticket)
            .map(|(_, x)| x)
    }

    fn take(&mut self, ticket: u32) -> Option<T> {
        let i = self.queue.iter().position(|(t, _)| *t == ticket)?;
        self.queue.remove(i).map(|(_, x)| x)
    }
}

/// A request whose signature WebCrypto is checking, with what its first pass found, so the
/// answer finishes the decision without parsing the token or matching the route again.
struct Parked {
    req: Incoming,
    limits: Limits,
    cache: &'static str,
    /// The route matched.
    rule: RuleAt,
    /// The token, parsed, its key selected; the claims are checked when WebCrypto answers.
    token: jwt::AwaitingSignature,
    /// The token's issuer, as an index in `cfg.issuers`.
    issuer: usize,
    /// The token's decision-cache key (`None`: caching is off).
    cache_key: Option<TokenHash>,
}

thread_local! {
    static PARKED: RefCell<Waiting<Parked>> = const { RefCell::new(Waiting::new()) };
}

fn park(
    v: Box<PendingVerify>,
    cache_key: Option<TokenHash>,
    req: Incoming,
    limits: Limits,
    cache: &'static str,
    rule: RuleAt,
) -> Plan {
    let v = *v;
    let ticket = PARKED.with(|p| {
        p.borrow_mut().park(Parked {
            req,
            limits,
            cache,
            rule,
            token: v.token,
            issuer: v.issuer,
            cache_key,
        })
    });
    Plan::Verify {
        ticket,
        key_id: v.key_id,
        alg: v.alg,
        signing_input: v.signing_input,
        signature_b64url: v.signature_b64url,
    }
}

fn unpark(ticket: u32) -> Option<Parked> {
    PARKED.with(|p| p.borrow_mut().take(ticket))
}

/// The key for a parked request's WebCrypto import: `format\0algorithm\0data` where data is
/// the raw key in base64url (`raw`) or a JWK (`jwk`). Empty if the ticket is unknown.
#[wasm_bindgen]
pub fn edge_key(ticket: u32, now_ms: f64) -> String {
    use base64::Engine;
    let Some(cfg) = state::loaded() else {
        return String::new();
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    PARKED.with(|p| {
        let p = p.borrow();
        let Some(parked) = p.get(ticket) else {
            return String::new();
        };
        let Ok((token, _)) = pipeline::extract_token(
            parked.req.authorization(),
            parked.req.cookie(),
            &cfg.session_cookie,
        ) else {
            return String::new();
        };
        let Ok(opened) = open(&cfg, token, UnixMillis(now_ms as u64), false) else {
            return String::new();
        };
        let Ok(check) = jwt::signature_check(&opened.parsed, opened.keys.set()) else {
            return String::new();
        };
        if check.key.fingerprint() != parked.token.key_fingerprint() {
            return String::new();
        }
        let Some(alg) = webcrypto_alg(check.alg) else {
            return String::new();
        };
        match check.key.material() {
            KeyMaterial::Okp { x } => format!("raw{SEP}{alg}{SEP}{}", b64(x)),
            KeyMaterial::Ec { x, y } => format!(
                r#"jwk{SEP}{alg}{SEP}{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
                b64(x),
                b64(y)
            ),
            KeyMaterial::Rsa { n, e } => format!(
                r#"jwk{SEP}{alg}{SEP}{{"kty":"RSA","n":"{}","e":"{}"}}"#,
                b64(n),
                b64(e)
            ),
            KeyMaterial::Oct(_) => String::new(),
        }
    })
}

/// Second call for a request parked for WebCrypto: `ok` is `crypto.subtle.verify`'s answer
/// (false also when the import or the verification threw). The claims are checked now, at
/// `now_ms`, from the token parsed on the first pass.
#[wasm_bindgen]
pub fn edge_verified(ticket: u32, ok: bool, now_ms: f64) -> String {
    let (Some(cfg), Some(parked)) = (state::loaded(), unpark(ticket)) else {
        // Evicted or unknown: start over on the full path.
        return Plan::Full.encode();
    };
    let Some(issuer) = cfg.issuers.get(parked.issuer) else {
        return Plan::Full.encode();
    };
    let now = UnixMillis(now_ms as u64);
    let req = parked.req;
    let rule = cfg.routes.rule(parked.rule);
    let trace = Trace {
        request_id: &req.request_id,
        rule: &rule.id,
        cache: parked.cache,
        auth_ms: 0.0,
        origin_ms: None,
        path: "sync",
    };
    let time = TimeOptions {
        now,
        leeway_secs: cfg.leeway_secs,
    };
    let hash = parked.cache_key;
    let plan = match parked.token.finish(ok, &issuer.policy, &time) {
        Ok(c) => {
            if let Some(h) = hash {
                edge_state::cache_put(&cfg, h, &c, now);
            }
            after_auth(&cfg, rule, &req, c, parked.limits, &trace, now)
        }
        Err(e) => {
            let reason = e.reason();
            if let Some(h) = hash {
                edge_state::cache_negative(&cfg, h, reason, now);
            }
            deny(&cfg, rule, &req, &parked.limits, &trace, reason.into())
        }
    };
    plan.encode()
}

// ---------------------------------------------------------------- waiting for a webhook body

/// A webhook delivery whose body `entry.js` is reading.
struct AwaitingBody {
    req: Incoming,
    limits: Limits,
    rule: RuleAt,
}

thread_local! {
    static READING: RefCell<Waiting<AwaitingBody>> = const { RefCell::new(Waiting::new()) };
}

fn park_body(req: Incoming, limits: Limits, rule: RuleAt, wh: &WebhookConfig) -> Plan {
    let ticket = READING.with(|p| p.borrow_mut().park(AwaitingBody { req, limits, rule }));
    Plan::ReadBody {
        ticket,
        max_bytes: wh.max_body_bytes,
        headers: crate::webhook::headers_needed(wh.provider),
    }
}

/// Second call for a webhook delivery: the headers its provider signs (`names`/`values`,
/// newline-joined, only those present), the declared `Content-Length`, and the body — `None`
/// when it exceeded the plan's `max_bytes` (reading stopped there). Verifies, consults the
/// replay window, and returns the plan: forward these bytes, or answer.
#[wasm_bindgen]
pub fn edge_body(
    ticket: u32,
    names: String,
    values: String,
    content_length: Option<String>,
    body: Option<Vec<u8>>,
    now_ms: f64,
) -> String {
    let cfg = state::loaded();
    let parked = READING.with(|p| p.borrow_mut().take(ticket));
    let (Some(cfg), Some(parked)) = (cfg, parked) else {
        // Evicted (over MAX_WAITING deliveries in flight) or no configuration: the body is
        // consumed, so the full path cannot take over; the sender retries the 500.
        worker::console_error!("{}", r#"{"event":"webhook_ticket_lost"}"#);
        let spec = respond::deny(
            Reason::Internal,
            &respond::DenyContext {
                retry_after_secs: Some(1),
                ..Default::default()
            },
        );
        return Plan::Respond(spec).encode();
    };
    let now = UnixMillis(now_ms as u64);
    let req = parked.req;
    let rule = cfg.routes.rule(parked.rule);
    let trace = Trace {
        request_id: &req.request_id,
        rule: &rule.id,
        cache: "none",
        auth_ms: 0.0,
        origin_ms: None,
        path: "sync",
    };
    let Some((id, wh)) = (match &rule.access {
        Access::Webhook(id) => cfg.webhooks.get(id).map(|wh| (id, wh)),
        _ => None,
    }) else {
        return deny(
            &cfg,
            rule,
            &req,
            &parked.limits,
            &trace,
            Reason::ConfigInvalid.into(),
        )
        .encode();
    };
    let declared = content_length.and_then(|v| v.trim().parse::<u64>().ok());
    let verified = crate::webhook::check_content_length(wh, declared)
        .and_then(|()| match body.as_deref() {
            Some(bytes) => Ok(bytes),
            None => Err(crate::webhook::WebhookError::BodyTooLarge {
                limit: wh.max_body_bytes,
                actual: declared.unwrap_or(wh.max_body_bytes + 1),
            }),
        })
        .and_then(|bytes| {
            let mut headers = crate::webhook::WebhookHeaders::new();
            for (n, v) in names.split('\n').zip(values.split('\n')) {
                if !n.is_empty() {
                    headers.insert(n, v);
                }
            }
            crate::webhook::verify(wh, &headers, bytes, now)
        });
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            return deny(&cfg, rule, &req, &parked.limits, &trace, e.reason().into()).encode()
        }
    };
    if !super::webhook::is_fresh(id, wh, &verified, now) {
        let spec = respond::duplicate_delivery(&req.request_id);
        trace.log("duplicate", None, spec.status, Some(&cfg));
        return Plan::Respond(spec).encode();
    }
    let delivery = verified.delivery_id().map(str::to_owned);
    let plan = admit(
        &cfg,
        rule,
        &req,
        Identity::Webhook(verified),
        parked.limits,
        &trace,
        now,
    );
    if let (Plan::Respond(_), Some(delivery)) = (&plan, delivery) {
        // Refused after all (the breaker is open): the sender's retry must not be a duplicate.
        super::webhook::forget_delivery(id, wh, &delivery);
    }
    plan.encode()
}

/// After the forward: reports the outcome to the circuit breaker, logs the request line, and
/// returns what to do with the response: `D\0<server-timing or empty>` (decorate it) or a plan for a
/// 503 when the origin could not be reached (`status` 0).
#[wasm_bindgen]
pub fn edge_forwarded(trace: &str, status: u16, origin_ms: f64, now_ms: f64) -> String {
    let Some(cfg) = state::loaded() else {
        return String::new();
    };
    let mut parts = trace.split('\t');
    let (request_id, rule, cache) = (
        parts.next().unwrap_or("-"),
        parts.next().unwrap_or("-"),
        parts.next().unwrap_or("none"),
    );
    let cache = match cache {
        "hit" => "hit",
        "miss" => "miss",
        "negative" => "negative",
        _ => "none",
    };
    let trace = Trace {
        request_id,
        rule,
        cache,
        auth_ms: 0.0,
        origin_ms: Some(origin_ms),
        path: "sync",
    };
    let reached = status != 0;
    // Only the origin's failures count against it: 5xx, timeouts, refused connections.
    let delivered = reached && status < 500;
    edge_state::breaker_report(&cfg, UnixMillis(now_ms as u64), delivered);
    if let (Some(id), Some(delivery)) = (parts.next(), parts.next()) {
        let delivery = crate::envelope::unhex(delivery).and_then(|b| String::from_utf8(b).ok());
        if let (false, Some(wh), Some(delivery)) = (delivered, cfg.webhooks.get(id), delivery) {
            // The origin did not take the webhook delivery: let the sender's retry through.
            super::webhook::forget_delivery(id, wh, &delivery);
        }
    }
    if reached {
        if cfg.access_log.logs_forward(status) {
            trace.log("forward", None, status, Some(&cfg));
        }
        let mut s = String::from("D");
        s.push(SEP);
        if cfg.server_timing {
            s.push_str(&trace.server_timing());
        }
        return s;
    }
    let spec = respond::deny(
        Reason::OriginUnavailable,
        &respond::DenyContext {
            request_id,
            retry_after_secs: Some(1),
            ..Default::default()
        },
    );
    trace.log(
        "deny",
        Some(Reason::OriginUnavailable),
        spec.status,
        Some(&cfg),
    );
    Plan::Respond(spec).encode()
}
