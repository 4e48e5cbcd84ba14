//! The Workers adapter (wasm32 only): the one place that imports `worker`. It reads the
//! request, calls the core's stages in order, and performs the I/O they ask for. It decides
//! nothing itself: every allow/deny comes from the core.
//!
//! Order per request: route → rate limits not keyed by user (before any signature work) →
//! authenticate (decision cache, then JWT/JWKS or webhook) → revocations → user-keyed rate
//! limits → authorize → circuit breaker → forward with the signed envelope.

mod edge_state;
mod fast;
mod forward;
mod http;
mod jwks;
mod rate_limiter;
mod state;
mod webcrypto;
mod webhook;

use std::rc::Rc;

use wasm_bindgen::JsValue;
use web_sys::{Headers, Request, Response};
use worker::{event, Context, Env};

use crate::config::{EdgeConfig, KeySource};
use crate::decision_cache::TokenHash;
use crate::identity::Identity;
use crate::jwt::{self, JwtError, TimeOptions, UntrustedToken};
use crate::pipeline::{self, Denial};
use crate::policy::{Access, Rule, Upstream};
use crate::reason::Reason;
use crate::respond::{self, DenyContext};
use crate::time::UnixMillis;

use self::edge_state::{Cached, Limits, Phase};
use self::http::header;

/// Request ids: SHA-256 of a per-isolate random seed and a counter, so a request costs no call
/// into the runtime's RNG (ids are for correlation, yet still unguessable). One digest makes two
/// 128-bit ids: the second half is kept for the next request.
struct RequestIds {
    seed: [u8; 32],
    counter: u64,
    spare: Option<[u8; 16]>,
}

thread_local! {
    static REQUEST_IDS: std::cell::RefCell<RequestIds> = std::cell::RefCell::new({
        let mut seed = [0u8; 32];
        if getrandom::getrandom(&mut seed).is_err() {
            seed[..8].copy_from_slice(&(js_sys::Date::now() as u64).to_be_bytes());
        }
        RequestIds { seed, counter: 0, spare: None }
    });
}

pub(crate) fn new_request_id() -> String {
    use sha2::{Digest, Sha256};
    let id = REQUEST_IDS.with(|r| {
        let mut r = r.borrow_mut();
        if let Some(id) = r.spare.take() {
            return id;
        }
        r.counter += 1;
        let digest = Sha256::new()
            .chain_update(r.seed)
            .chain_update(r.counter.to_be_bytes())
            .finalize();
        let (first, second) = digest.split_at(16);
        r.spare = second.try_into().ok();
        first.try_into().unwrap_or_default()
    });
    crate::envelope::hex(&id)
}

/// What one request did: the log line and the `Server-Timing` header.
pub(crate) struct Trace<'a> {
    pub request_id: &'a str,
    pub rule: &'a str,
    pub cache: &'static str,
    pub auth_ms: f64,
    pub origin_ms: Option<f64>,
    /// Which request path decided: `sync` (`fast.rs`) or `async` (this module).
    pub path: &'static str,
}

impl Trace<'_> {
    /// One JSON line per request. Written by hand: every field is an id, a number or a
    /// validated request id (no escaping needed), and a `serde_json::Value` map per request
    /// showed up in profiles.
    pub(crate) fn log(
        &self,
        decision: &str,
        reason: Option<Reason>,
        status: u16,
        cfg: Option<&EdgeConfig>,
    ) {
        use core::fmt::Write;
        let mut line = String::with_capacity(192);
        let _ = write!(
            line,
            r#"{{"request_id":"{}","rule":"{}","path":"{}","decision":"{}","reason":{},"status":{},"auth_us":{},"cache":"{}","origin_ms":{},"breaker":{}}}"#,
            self.request_id,
            self.rule,
            self.path,
            decision,
            reason.map_or("null".into(), |r| format!("\"{}\"", r.id())),
            status,
            (self.auth_ms * 1000.0) as u64,
            self.cache,
            self.origin_ms.map_or("null".into(), |m| format!("{m}")),
            cfg.map_or("null".into(), |c| format!(
                "\"{}\"",
                edge_state::breaker_state(c)
            )),
        );
        worker::console_log!("{line}");
    }

    pub(crate) fn server_timing(&self) -> String {
        let mut s = format!("auth;dur={:.1};desc=\"cache {}\"", self.auth_ms, self.cache);
        if let Some(o) = self.origin_ms {
            s.push_str(&format!(", origin;dur={o:.1}"));
        }
        s
    }
}

/// The response to a denial, logged (both request paths).
#[allow(clippy::too_many_arguments)]
pub(crate) fn denial_spec(
    cfg: &EdgeConfig,
    rule: &Rule,
    method: &str,
    accept: Option<&str>,
    path_and_query: &str,
    limits: &Limits,
    trace: &Trace<'_>,
    denial: Denial,
) -> respond::ResponseSpec {
    let mut extra = limits.headers();
    if cfg.server_timing {
        extra.push(("server-timing", trace.server_timing()));
    }
    let d = DenyContext {
        browser_navigation: respond::is_browser_navigation(method, accept),
        path_and_query,
        login_path: &cfg.login_path,
        request_id: trace.request_id,
        retry_after_secs: denial.retry_after_secs,
        scope: match &rule.access {
            Access::Permissions(p) => Some(p.scope()),
            _ => None,
        },
        extra_headers: extra,
    };
    let spec = respond::deny(denial.reason, &d);
    trace.log("deny", Some(denial.reason), spec.status, Some(cfg));
    spec
}

/// Authenticates a bearer token (decision cache first); never returns an identity built from
/// unverified input (the types enforce it).
async fn authenticate_token(
    cfg: &EdgeConfig,
    headers: &Headers,
    now: UnixMillis,
    ctx: &Context,
    trace: &mut Trace<'_>,
) -> Result<jwt::VerifiedClaims, Denial> {
    let authorization = header(headers, "authorization");
    let cookie = header(headers, "cookie");
    let (token, _source) = pipeline::extract_token(
        authorization.as_deref(),
        cookie.as_deref(),
        &cfg.session_cookie,
    )?;
    if token.len() > cfg.max_token_bytes {
        return Err(Reason::TokenTooLarge.into());
    }
    let hash = TokenHash::of(token);
    match edge_state::cache_get(cfg, &hash, now) {
        Cached::Hit(claims) => {
            trace.cache = "hit";
            return Ok(claims);
        }
        Cached::Negative(reason) => {
            trace.cache = "negative";
            return Err(reason.into());
        }
        Cached::Miss => trace.cache = "miss",
    }
    let result = validate_token(cfg, token, now, ctx).await;
    match &result {
        Ok(claims) => edge_state::cache_put(cfg, hash, claims, now),
        Err(d) => edge_state::cache_negative(cfg, hash, d.reason, now),
    }
    result
}

async fn validate_token(
    cfg: &EdgeConfig,
    token: &str,
    now: UnixMillis,
    ctx: &Context,
) -> Result<jwt::VerifiedClaims, Denial> {
    let token = UntrustedToken::parse(token, cfg.max_token_bytes).map_err(|e| e.reason())?;
    let iss = token
        .unverified_issuer()
        .ok_or(Reason::TokenIssuerInvalid)?;
    let issuer = cfg.issuer(iss).ok_or(Reason::TokenIssuerInvalid)?;
    let time = TimeOptions {
        now,
        leeway_secs: cfg.leeway_secs,
    };
    let verifier = webcrypto::WebCryptoVerifier;
    let claims = match &issuer.keys {
        KeySource::Static(keys) => {
            jwt::validate(&token, keys, &issuer.policy, &time, &verifier).await
        }
        KeySource::Url(url) => {
            let keys = jwks::keys(cfg, &issuer.policy.issuer, url, now, ctx).await?;
            match jwt::validate(&token, &keys, &issuer.policy, &time, &verifier).await {
                Err(JwtError::KeyUnknown { kid: Some(_) }) => {
                    // Perhaps a rotated key: refetch (single flight, rate-limited) and retry once.
                    match jwks::refetch_for_unknown_kid(cfg, &issuer.policy.issuer, url, now)
                        .await?
                    {
                        Some(keys) => {
                            jwt::validate(&token, &keys, &issuer.policy, &time, &verifier).await
                        }
                        None => Err(JwtError::KeyUnknown {
                            kid: token.kid().map(str::to_owned),
                        }),
                    }
                }
                other => other,
            }
        }
    };
    claims.map_err(|e| e.reason().into())
}

/// A body the edge had to read (a webhook's, or a log-in counted by account): forwarded as-is.
struct ReadBody {
    bytes: Vec<u8>,
    /// The webhook config id, for a verified delivery.
    webhook: Option<String>,
}

/// Largest body read on routes whose rate limits count by the targeted account.
const ACCOUNT_BODY_LIMIT: u64 = 64 * 1024;

/// Everything between routing and forwarding. `Ok(None)`: answered already (a duplicate delivery).
#[allow(clippy::too_many_arguments)]
async fn decide(
    cfg: &EdgeConfig,
    env: &Env,
    ctx: &Context,
    req: &Request,
    headers: &Headers,
    rule: &Rule,
    ip: &str,
    now: UnixMillis,
    limits: &mut Limits,
    trace: &mut Trace<'_>,
) -> Result<Option<(Identity, Option<ReadBody>)>, Denial> {
    // Rules counting by the targeted account need the body (read once, capped, forwarded as-is).
    let counts_accounts = rule
        .rate_limits
        .iter()
        .any(|id| cfg.rate_rules.iter().any(|r| &r.id == id && r.key.account));
    let mut body = None;
    let mut account = None;
    if counts_accounts {
        let declared = header(headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let bytes =
            webhook::read_capped(req, declared, ACCOUNT_BODY_LIMIT, Reason::BodyTooLarge).await?;
        account = Some(crate::ratelimit::account_of_body(&bytes));
        body = Some(bytes);
    }
    edge_state::rate_limit(
        cfg,
        env,
        rule,
        Phase::BeforeAuth,
        ip,
        None,
        account.as_deref(),
        now,
        limits,
    )
    .await?;
    let auth_start = js_sys::Date::now();
    let (identity, body) = match &rule.access {
        Access::Public => (
            Identity::Anonymous,
            body.map(|bytes| ReadBody {
                bytes,
                webhook: None,
            }),
        ),
        Access::Authenticated | Access::Permissions(_) => {
            let claims = authenticate_token(cfg, headers, now, ctx, trace).await;
            trace.auth_ms = js_sys::Date::now() - auth_start;
            let claims = claims?;
            edge_state::ensure_synced(cfg, now).await;
            edge_state::check_revoked(cfg, rule, &claims, now)?;
            edge_state::rate_limit(
                cfg,
                env,
                rule,
                Phase::AfterAuth,
                ip,
                Some(&claims),
                account.as_deref(),
                now,
                limits,
            )
            .await?;
            (
                Identity::User(claims),
                body.map(|bytes| ReadBody {
                    bytes,
                    webhook: None,
                }),
            )
        }
        Access::Webhook(id) => {
            let wh = cfg.webhooks.get(id).ok_or(Reason::ConfigInvalid)?;
            let delivery = webhook::receive(id, wh, req, headers, now).await;
            trace.auth_ms = js_sys::Date::now() - auth_start;
            match delivery? {
                webhook::Delivery::Duplicate => return Ok(None),
                webhook::Delivery::Fresh(v, bytes) => (
                    Identity::Webhook(v),
                    Some(ReadBody {
                        bytes,
                        webhook: Some(id.clone()),
                    }),
                ),
            }
        }
    };
    pipeline::authorize(rule, &identity)?;
    Ok(Some((identity, body)))
}

async fn handle(req: Request, env: Env, ctx: Context) -> Result<Response, JsValue> {
    let now = UnixMillis(js_sys::Date::now() as u64);
    let method = req.method();
    let url = req.url();
    let (path, path_and_query) = http::path_and_query(&url);
    let headers = req.headers();
    let given_id = header(&headers, "x-request-id");
    let request_id: String = match pipeline::accept_request_id(given_id.as_deref()) {
        Some(id) => id.to_owned(),
        None => new_request_id(),
    };

    let cfg: Rc<EdgeConfig> = match state::config(&env) {
        Ok(c) => c,
        Err(_) => {
            let trace = Trace {
                request_id: &request_id,
                rule: "-",
                cache: "none",
                auth_ms: 0.0,
                origin_ms: None,
                path: "async",
            };
            let spec = respond::deny(
                Reason::ConfigInvalid,
                &DenyContext {
                    request_id: &request_id,
                    path_and_query,
                    ..Default::default()
                },
            );
            trace.log("deny", Some(Reason::ConfigInvalid), spec.status, None);
            return http::to_response(&spec);
        }
    };
    let rule = cfg.routes.route(&method, path);
    edge_state::maybe_poll(&cfg, &ctx, now);

    // Local runs have no CF-Connecting-IP: every client then shares one key.
    let client_ip = header(&headers, "cf-connecting-ip");
    let ip = client_ip.as_deref().unwrap_or("local");
    let mut trace = Trace {
        request_id: &request_id,
        rule: &rule.id,
        cache: "none",
        auth_ms: 0.0,
        origin_ms: None,
        path: "async",
    };
    let mut limits = Limits::default();

    let decided = match pipeline::check_path(path) {
        Err(reason) => Err(Denial::from(reason)),
        Ok(()) => {
            decide(
                &cfg,
                &env,
                &ctx,
                &req,
                &headers,
                rule,
                ip,
                now,
                &mut limits,
                &mut trace,
            )
            .await
        }
    };
    let decided = decided.and_then(|d| match d {
        Some(d) => match edge_state::breaker_admit(&cfg, now) {
            Ok(()) => Ok(Some(d)),
            Err(e) => {
                // Refused before forwarding: a webhook delivery's retry must not be a duplicate.
                if let (
                    Identity::Webhook(v),
                    Some(ReadBody {
                        webhook: Some(id), ..
                    }),
                ) = (&d.0, &d.1)
                {
                    webhook::forget(id, &cfg.webhooks[id], v);
                }
                Err(e)
            }
        },
        None => Ok(None),
    });
    let (identity, read_body) = match decided {
        Ok(Some(d)) => d,
        Ok(None) => {
            let spec = respond::duplicate_delivery(&request_id);
            trace.log("duplicate", None, spec.status, Some(&cfg));
            return http::to_response(&spec);
        }
        Err(denial) => {
            let accept = header(&headers, "accept");
            let spec = denial_spec(
                &cfg,
                rule,
                &method,
                accept.as_deref(),
                path_and_query,
                &limits,
                &trace,
                denial,
            );
            return http::to_response(&spec);
        }
    };

    if rule.upstream == Upstream::Assets {
        let assets = env
            .assets("ASSETS")
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let resp = assets
            .fetch_request(worker::Request::from(req))
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let resp: Response = resp.into();
        trace.log("assets", None, resp.status(), Some(&cfg));
        return Ok(resp);
    }

    let proto = forward::proto_of(&url);
    let fwd = forward::Forward {
        cfg: &cfg,
        req: &req,
        method: &method,
        path_and_query,
        identity: &identity,
        request_id: &request_id,
        client_ip: client_ip.as_deref(),
        proto,
        now,
        body: read_body.as_ref().map(|b| b.bytes.as_slice()),
    };
    let origin_start = js_sys::Date::now();
    let sent = fwd.send().await;
    trace.origin_ms = Some(js_sys::Date::now() - origin_start);
    // Only the origin's failures count against it: 5xx, timeouts, refused connections.
    let ok = match &sent {
        Ok(r) => r.status() < 500,
        Err(forward::OriginError::Network(_)) => false,
        Err(forward::OriginError::Build(_)) => true,
    };
    if !matches!(sent, Err(forward::OriginError::Build(_))) {
        edge_state::breaker_report(&cfg, UnixMillis(js_sys::Date::now() as u64), ok);
    }
    let delivered = matches!(&sent, Ok(r) if r.status() < 500);
    if let (Some(id), Identity::Webhook(v), false) = (
        read_body.as_ref().and_then(|b| b.webhook.as_ref()),
        &identity,
        delivered,
    ) {
        // The origin did not take it: let the sender's retry through.
        webhook::forget(id, &cfg.webhooks[id], v);
    }
    match sent {
        Ok(resp) => {
            if cfg.access_log.logs_forward(resp.status()) {
                trace.log("forward", None, resp.status(), Some(&cfg));
            }
            let mut extra = limits.headers();
            if cfg.server_timing {
                extra.push(("server-timing", trace.server_timing()));
            }
            Ok(forward::decorate(resp, &extra))
        }
        Err(e) => {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "origin_error", "request_id": request_id, "detail": format!("{e:?}")})
            );
            let d = DenyContext {
                request_id: &request_id,
                path_and_query,
                retry_after_secs: Some(1),
                ..Default::default()
            };
            let spec = respond::deny(Reason::OriginUnavailable, &d);
            trace.log(
                "deny",
                Some(Reason::OriginUnavailable),
                spec.status,
                Some(&cfg),
            );
            http::to_response(&spec)
        }
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    handle(req, env, ctx)
        .await
        .map_err(|e| worker::Error::JsError(format!("{e:?}")))
}
