//! Social sign-in routes: thin adapters. The protocol checks live in `crate::social`, the
//! account rules in `domain::identities`; this file parses, calls, and renders — browsers get a
//! redirect or a plain page (with the stable reason id), API callers problem+json.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::envelope::AuthUser;
use super::extract::{cookie, RequestCtx};
use super::AppState;
use crate::domain::error::{DomainError, SocialRefused};
use crate::domain::mfa::Login;
use crate::domain::{identities, sessions};
use crate::error::{AppError, AppResult};
use crate::social::config::ProviderId;
use crate::social::flow::{self, safe_next};
use crate::social::CallbackParams;

fn flow_cookie(state: &AppState, provider: ProviderId, value: &str, max_age: i64) -> HeaderValue {
    let v = format!(
        "{}={value}; Path=/auth/oauth/{}/callback; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        flow::COOKIE,
        provider.as_str(),
        if state.config.cookie_secure {
            "; Secure"
        } else {
            ""
        }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Does the caller navigate (a browser asks for HTML)? Others get problem+json.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// What a sign-in with `name` that failed answers: to a browser a page saying what happened
/// in words, the stable reason id, and the way back (never a bare 500); to others problem+json.
/// Both carry the reason id in `X-Reason`.
fn error_page(name: &str, e: AppError, html: bool) -> Response {
    if !html {
        let (e, id) = match e {
            AppError::Problem(p) => {
                let id = p.id;
                let p = if id == "provider_unavailable" {
                    p.detail(format!("{name} sign-in is unavailable"))
                } else {
                    p
                };
                (AppError::Problem(p), id)
            }
            AppError::Db(err) => (AppError::Db(err), "database_unavailable"),
            other => (other, "internal_error"),
        };
        let mut res = e.into_response();
        res.headers_mut()
            .insert("x-reason", HeaderValue::from_static(id));
        return res;
    }
    let (status, id, retry) = match e {
        AppError::Problem(p) => (p.status, p.id, p.retry_after),
        AppError::Db(err) => {
            tracing::error!(side = "upstream", error = %err, "database error in social sign-in");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                Some(1),
            )
        }
        AppError::Internal(m) => {
            tracing::error!(side = "internal", error = %m, "internal error in social sign-in");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", None)
        }
    };
    let message = match id {
        "provider_unavailable" => {
            format!("{name} sign-in is unavailable right now. Try again in a moment, or use another way to sign in.")
        }
        "account_exists_link_required" => format!(
            "An account with this e-mail address already exists. Sign in to it first, then link {name} from your account page."
        ),
        "email_unverified" => format!(
            "{name} did not confirm an e-mail address for you, so no account was created. Verify your address at {name}, or sign up with a password."
        ),
        "identity_linked_elsewhere" => {
            format!("This {name} account is already linked to another account.")
        }
        "oauth_provider_denied" => format!("Sign-in with {name} was cancelled."),
        "account_disabled" => "This account is disabled.".to_owned(),
        _ => format!("Sign-in with {name} did not complete. Please start again."),
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in problem</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"card\">\
         <h1>Sign-in problem</h1><p id=\"social-error\" data-reason=\"{id}\">{}</p>\
         <p class=\"muted\">Reason: <code>{id}</code></p>\
         <p><a href=\"/login\">Back to sign-in</a></p></main></body></html>",
        escape(&message)
    );
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-reason", HeaderValue::from_static(id));
    if let Some(s) = retry {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    res
}

fn display_name(provider: &str) -> &'static str {
    ProviderId::parse(provider).map_or("Social", ProviderId::name)
}

/// `GET /auth/oauth/providers`: the configured providers (the login page shows only these).
pub async fn providers(State(state): State<AppState>) -> Json<serde_json::Value> {
    let list: Vec<_> = state
        .social
        .config
        .providers
        .iter()
        .map(|p| {
            json!({
                "id": p.id.as_str(),
                "name": p.id.name(),
                "start": format!("/auth/oauth/{}/start", p.id.as_str()),
                "breaker": state.social.breaker_state(p.id).as_str(),
            })
        })
        .collect();
    Json(json!({ "providers": list }))
}

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /auth/oauth/{provider}/start?next=`: the flow cookie and a redirect to the provider.
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(q): Query<StartQuery>,
    headers: HeaderMap,
) -> Response {
    let name = display_name(&provider);
    let html = wants_html(&headers);
    let r: AppResult<Response> = async {
        let pc = state.social.provider(&provider)?;
        let next = match q.next.as_deref() {
            None | Some("") => "/account",
            Some(n) => safe_next(n).ok_or(DomainError::Social(SocialRefused::NextInvalid))?,
        };
        let (url, sealed) = state
            .social
            .start(&state.keys, pc, next, None, state.clock.now_ms())
            .await?;
        Ok(redirect_with_flow(&state, pc.id, &url, &sealed))
    }
    .await;
    r.unwrap_or_else(|e| error_page(name, e, html))
}

fn redirect_with_flow(state: &AppState, p: ProviderId, url: &str, sealed: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(url) {
        h.insert(header::LOCATION, v);
    }
    h.insert(
        header::SET_COOKIE,
        flow_cookie(state, p, sealed, flow::TTL_MS / 1000),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /auth/oauth/{provider}/callback`: every check, then a session (or a link) and a
/// redirect to the flow's `next`. The flow cookie is cleared whatever the outcome.
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    RequestCtx(ctx): RequestCtx,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let name = display_name(&provider);
    let r: AppResult<Response> = async {
        let pc = state.social.provider(&provider)?;
        let (flow, code) = state.social.check_callback(
            &state.keys,
            pc,
            &params,
            cookie(&headers, flow::COOKIE),
            state.clock.now_ms(),
        )?;
        identities::spend_state(&state, &ctx, &flow.state, flow.expires_at).await?;
        let profile = state
            .social
            .exchange(pc, &flow, code, params.iss.as_deref())
            .await?;
        let mut res = StatusCode::SEE_OTHER.into_response();
        match &flow.link_user {
            Some(user_id) => {
                identities::link(&state, &ctx.acting(user_id), user_id, &profile).await?;
            }
            None => match identities::sign_in(&state, &ctx, &profile).await? {
                Login::Session(issued) => {
                    super::auth::session_cookies(&state, &issued, res.headers_mut());
                }
                Login::MfaRequired { mfa_token, .. } => {
                    // TOTP is on: the login page asks for the code. The challenge travels in
                    // the fragment — never sent to a server, never in a Referer.
                    let next = safe_next(&flow.next).unwrap_or("/account");
                    let to = format!(
                        "/login?next={}#mfa_token={mfa_token}",
                        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                    );
                    if let Ok(v) = HeaderValue::from_str(&to) {
                        res.headers_mut().insert(header::LOCATION, v);
                    }
                    return Ok(res);
                }
            },
        }
        let next = safe_next(&flow.next).unwrap_or("/account");
        if let Ok(v) = HeaderValue::from_str(next) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        Ok(res)
    }
    .await;
    let mut res = r.unwrap_or_else(|e| error_page(name, e, wants_html(&headers)));
    if let Some(p) = ProviderId::parse(&provider) {
        res.headers_mut()
            .append(header::SET_COOKIE, flow_cookie(&state, p, "", 0));
    }
    let h = res.headers_mut();
    // The callback URL carries the code and state: no Referer may leak it onward.
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /api/identities`: the caller's ways to sign in.
pub async fn list(State(state): State<AppState>, user: AuthUser) -> AppResult<Response> {
    let m = identities::list(&state, &user.user_id).await?;
    Ok(Json(m).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    next: Option<String>,
}

/// `POST /api/identities/{provider}/link`: starts a flow that links the provider to the caller
/// (a recent authentication required); answers where to send the browser.
pub async fn link(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(provider): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let b: LinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        LinkBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            crate::error::Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
                .detail(e.to_string())
        })?
    };
    let ctx = user.ctx(rc);
    let pc = state.social.provider(&provider)?;
    sessions::require_fresh(&state, &ctx, state.config.step_up_max_age_secs).await?;
    let next = match b.next.as_deref() {
        None | Some("") => "/account",
        Some(n) => safe_next(n).ok_or(DomainError::Social(SocialRefused::NextInvalid))?,
    };
    let (url, sealed) = state
        .social
        .start(
            &state.keys,
            pc,
            next,
            Some(user.user_id.clone()),
            state.clock.now_ms(),
        )
        .await?;
    let mut res = Json(json!({ "location": url })).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        flow_cookie(&state, pc.id, &sealed, flow::TTL_MS / 1000),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `DELETE /api/identities/{provider}`: unlinks, unless it is the last way to sign in (409
/// `last_login_method`).
pub async fn unlink(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(provider): Path<String>,
) -> AppResult<Response> {
    identities::unlink(&state, &user.ctx(rc), &user.user_id, &provider).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
