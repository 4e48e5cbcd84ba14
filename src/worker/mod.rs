//! The Workers adapter (wasm32 only): the one place that imports `worker`. It reads the
//! request, calls the core's stages in order, and performs the I/O they ask for. It decides
//! nothing itself: every allow/deny comes from the core.

mod forward;
mod http;
mod jwks;
mod state;
mod webcrypto;
mod webhook;

use std::rc::Rc;

use wasm_bindgen::JsValue;
use web_sys::{Headers, Request, Response};
use worker::{event, Context, Env};

use crate::config::{EdgeConfig, KeySource};
use crate::identity::Identity;
use crate::jwt::{self, JwtError, TimeOptions, UntrustedToken};
use crate::pipeline::{self, Denial};
use crate::policy::{Access, Rule, Upstream};
use crate::reason::Reason;
use crate::respond::{self, DenyContext};
use crate::time::UnixMillis;

use self::http::header;

fn new_request_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // Randomness is only for correlation here; fall back to the clock rather than fail.
        b[..8].copy_from_slice(&(js_sys::Date::now() as u64).to_be_bytes());
    }
    crate::envelope::hex(&b)
}

/// What one request did, for the log line.
struct Outcome<'a> {
    request_id: &'a str,
    rule: &'a str,
    decision: &'static str,
    reason: Option<Reason>,
    status: u16,
    auth_us: u64,
}

fn log(o: &Outcome<'_>) {
    let line = serde_json::json!({
        "request_id": o.request_id,
        "rule": o.rule,
        "decision": o.decision,
        "reason": o.reason.map(Reason::id),
        "status": o.status,
        "auth_us": o.auth_us,
    });
    worker::console_log!("{line}");
}

/// Authenticates per the rule's access requirement; never returns an identity built from
/// unverified input (the types enforce it).
async fn authenticate(
    cfg: &EdgeConfig,
    rule: &Rule,
    headers: &Headers,
    now: UnixMillis,
    ctx: &Context,
) -> Result<Identity, Denial> {
    match &rule.access {
        Access::Public => Ok(Identity::Anonymous),
        Access::Authenticated | Access::Permissions(_) => {
            let authorization = header(headers, "authorization");
            let cookie = header(headers, "cookie");
            let (token, _source) = pipeline::extract_token(
                authorization.as_deref(),
                cookie.as_deref(),
                &cfg.session_cookie,
            )?;
            let token =
                UntrustedToken::parse(token, cfg.max_token_bytes).map_err(|e| e.reason())?;
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
                            match jwks::refetch_for_unknown_kid(
                                cfg,
                                &issuer.policy.issuer,
                                url,
                                now,
                            )
                            .await?
                            {
                                Some(keys) => {
                                    jwt::validate(&token, &keys, &issuer.policy, &time, &verifier)
                                        .await
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
            Ok(Identity::User(claims.map_err(|e| e.reason())?))
        }
        // Webhook routes are verified by `webhook::receive` (they need the body).
        Access::Webhook(_) => Err(Reason::Internal.into()),
    }
}

async fn handle(req: Request, env: Env, ctx: Context) -> Result<Response, JsValue> {
    let now = UnixMillis(js_sys::Date::now() as u64);
    let method = req.method();
    let url = req.url();
    let (path, path_and_query) = http::path_and_query(&url);
    let headers = req.headers();
    let request_id = header(&headers, "x-request-id");
    let request_id: String = match pipeline::accept_request_id(request_id.as_deref()) {
        Some(id) => id.to_owned(),
        None => new_request_id(),
    };
    let accept = header(&headers, "accept");
    let browser = respond::is_browser_navigation(&method, accept.as_deref());

    let cfg: Rc<EdgeConfig> = match state::config(&env) {
        Ok(c) => c,
        Err(_) => {
            let ctx_deny = DenyContext {
                request_id: &request_id,
                path_and_query,
                ..Default::default()
            };
            let spec = respond::deny(Reason::ConfigInvalid, &ctx_deny);
            log(&Outcome {
                request_id: &request_id,
                rule: "-",
                decision: "deny",
                reason: Some(Reason::ConfigInvalid),
                status: spec.status,
                auth_us: 0,
            });
            return http::to_response(&spec);
        }
    };
    let rule = cfg.routes.route(&method, path);

    let auth_start = js_sys::Date::now();
    // A verified webhook's raw body, read once, forwarded as-is.
    let mut webhook_body: Option<(String, Vec<u8>)> = None;
    let authenticated = match &rule.access {
        Access::Webhook(id) => match cfg.webhooks.get(id) {
            None => Err(Denial::from(Reason::ConfigInvalid)),
            Some(wh) => match webhook::receive(id, wh, &req, &headers, now).await {
                Ok(webhook::Delivery::Duplicate) => {
                    let spec = respond::duplicate_delivery(&request_id);
                    log(&Outcome {
                        request_id: &request_id,
                        rule: &rule.id,
                        decision: "duplicate",
                        reason: None,
                        status: spec.status,
                        auth_us: 0,
                    });
                    return http::to_response(&spec);
                }
                Ok(webhook::Delivery::Fresh(verified, body)) => {
                    webhook_body = Some((id.clone(), body));
                    Ok(Identity::Webhook(verified))
                }
                Err(d) => Err(d),
            },
        },
        _ => authenticate(&cfg, rule, &headers, now, &ctx).await,
    };
    let decided = authenticated.and_then(|identity| {
        pipeline::authorize(rule, &identity)
            .map(|()| identity)
            .map_err(Denial::from)
    });
    let auth_us = ((js_sys::Date::now() - auth_start) * 1000.0) as u64;

    let identity = match decided {
        Ok(identity) => identity,
        Err(Denial {
            reason,
            retry_after_secs,
        }) => {
            let scope = match &rule.access {
                Access::Permissions(p) => Some(p.scope()),
                _ => None,
            };
            let d = DenyContext {
                browser_navigation: browser,
                path_and_query,
                login_path: &cfg.login_path,
                request_id: &request_id,
                retry_after_secs,
                scope,
                extra_headers: Vec::new(),
            };
            let spec = respond::deny(reason, &d);
            log(&Outcome {
                request_id: &request_id,
                rule: &rule.id,
                decision: "deny",
                reason: Some(reason),
                status: spec.status,
                auth_us,
            });
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
        log(&Outcome {
            request_id: &request_id,
            rule: &rule.id,
            decision: "assets",
            reason: None,
            status: resp.status(),
            auth_us,
        });
        return Ok(resp);
    }

    let client_ip = header(&headers, "cf-connecting-ip");
    let proto = if url.starts_with("https:") {
        "https"
    } else {
        "http"
    };
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
        body: webhook_body.as_ref().map(|(_, b)| b.as_slice()),
    };
    let sent = fwd.send().await;
    if let (Some((id, _)), Identity::Webhook(v)) = (&webhook_body, &identity) {
        if !matches!(&sent, Ok(r) if r.status() < 500) {
            // The origin did not take it: let the sender's retry through.
            webhook::forget(id, &cfg.webhooks[id], v);
        }
    }
    match sent {
        Ok(resp) => {
            log(&Outcome {
                request_id: &request_id,
                rule: &rule.id,
                decision: "forward",
                reason: None,
                status: resp.status(),
                auth_us,
            });
            Ok(resp)
        }
        Err(e) => {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "origin_error", "request_id": request_id, "detail": format!("{e:?}")})
            );
            let d = DenyContext {
                request_id: &request_id,
                path_and_query,
                retry_after_secs: Some(5),
                ..Default::default()
            };
            let spec = respond::deny(Reason::OriginUnavailable, &d);
            log(&Outcome {
                request_id: &request_id,
                rule: &rule.id,
                decision: "deny",
                reason: Some(Reason::OriginUnavailable),
                status: spec.status,
                auth_us,
            });
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
