//! Public account routes (they arrive anonymous but envelope-signed) and logout.
//! Browsers get tokens as HttpOnly cookies; API clients get JSON.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::envelope::AuthUser;
use super::extract::{cookie, is_browser, ApiJson, RequestCtx};
use super::AppState;
use crate::domain::accounts;
use crate::domain::mfa::{self, Login};
use crate::domain::sessions::{self, Issued};
use crate::error::{bad_request, AppError, AppResult, Problem};

pub const ACCESS_COOKIE: &str = "access_token";
pub const REFRESH_COOKIE: &str = "refresh_token";
pub const REFRESH_PATH: &str = "/auth/refresh";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    email: String,
    password: String,
}

pub async fn signup(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(c): ApiJson<Credentials>,
) -> AppResult<Response> {
    let user = accounts::signup(&state, &ctx, &c.email, c.password).await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))).into_response())
}

pub async fn login(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    headers: HeaderMap,
    ApiJson(c): ApiJson<Credentials>,
) -> AppResult<Response> {
    let user = accounts::authenticate(&state, &ctx, &c.email, c.password).await?;
    match mfa::after_password(&state, &ctx, &user).await? {
        Login::Session(issued) => Ok(token_response(&state, &issued, is_browser(&headers))),
        // No token, no cookie: only `POST /auth/login/mfa` turns the challenge into a session.
        Login::MfaRequired {
            mfa_token,
            expires_in,
            methods,
        } => Ok((
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(json!({
                "mfa_required": true,
                "mfa_token": mfa_token,
                "expires_in": expires_in,
                "methods": methods,
            })),
        )
            .into_response()),
    }
}

/// A second factor: exactly one of a TOTP `code` or a `recovery_code`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondFactor {
    code: Option<String>,
    recovery_code: Option<String>,
}

impl SecondFactor {
    pub fn into_code(self) -> AppResult<mfa::Code> {
        match (self.code, self.recovery_code) {
            (Some(c), None) => Ok(mfa::Code::Totp(c)),
            (None, Some(r)) => Ok(mfa::Code::Recovery(r)),
            _ => Err(crate::error::unprocessable("one_code_required")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaLogin {
    mfa_token: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

/// The second step of a log-in with TOTP on.
pub async fn login_mfa(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<MfaLogin>,
) -> AppResult<Response> {
    let code = SecondFactor {
        code: b.code,
        recovery_code: b.recovery_code,
    }
    .into_code()?;
    let issued = mfa::complete_login(&state, &ctx, &b.mfa_token, &code).await?;
    Ok(token_response(&state, &issued, is_browser(&headers)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: Option<String>,
}

pub async fn refresh(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let b: RefreshBody = serde_json::from_slice(&body).map_err(|e| {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").detail(e.to_string())
        })?;
        b.refresh_token
    };
    let token = from_body
        .or_else(|| cookie(&headers, REFRESH_COOKIE).map(str::to_owned))
        .ok_or_else(|| bad_request("refresh_token_missing"))?;
    let browser = is_browser(&headers);
    match sessions::refresh(&state, &ctx, &token).await {
        Ok(issued) => Ok(token_response(&state, &issued, browser)),
        Err(e) => {
            // A dead refresh cookie is cleared so the browser stops presenting it.
            let mut res = AppError::from(e).into_response();
            if browser {
                clear_cookies(&state, res.headers_mut());
            }
            Ok(res)
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Response> {
    let sid = user
        .session_id
        .clone()
        .ok_or_else(|| bad_request("session_missing"))?;
    sessions::revoke(&state, &user.ctx(rc), &user.user_id, &sid, "logout").await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    clear_cookies(&state, res.headers_mut());
    Ok(res)
}

pub async fn logout_all(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Response> {
    let n = sessions::revoke_all(&state, &user.ctx(rc), &user.user_id, "logout_all").await?;
    let mut res = Json(json!({ "revoked_sessions": n })).into_response();
    clear_cookies(&state, res.headers_mut());
    Ok(res)
}

fn set_cookie(
    headers: &mut HeaderMap,
    secure: bool,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: i64,
) {
    let v = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        headers.append(header::SET_COOKIE, v);
    }
}

pub(super) fn clear_cookies(state: &AppState, headers: &mut HeaderMap) {
    let s = state.config.cookie_secure;
    set_cookie(headers, s, ACCESS_COOKIE, "", "/", "Lax", 0);
    set_cookie(headers, s, REFRESH_COOKIE, "", REFRESH_PATH, "Strict", 0);
}

/// The browser's session: the access cookie and the refresh cookie (social sign-in sets them
/// on its callback's redirect too).
pub(super) fn session_cookies(state: &AppState, t: &Issued, headers: &mut HeaderMap) {
    let s = state.config.cookie_secure;
    set_cookie(
        headers,
        s,
        ACCESS_COOKIE,
        &t.access_token,
        "/",
        "Lax",
        t.access_expires_in as i64,
    );
    let left = ((t.refresh_expires_at - state.clock.now_ms()) / 1000).max(0);
    set_cookie(
        headers,
        s,
        REFRESH_COOKIE,
        &t.refresh_token,
        REFRESH_PATH,
        "Strict",
        left,
    );
}

pub(super) fn token_response(state: &AppState, t: &Issued, browser: bool) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let common = json!({
        "user_id": t.user_id,
        "session_id": t.session_id,
        "expires_in": t.access_expires_in,
        "refresh_expires_at": t.refresh_expires_at / 1000,
        "roles": t.roles,
        "permissions": t.permissions,
        "auth_time": t.auth_time,
        "amr": t.amr,
        "acr": t.acr,
    });
    if browser {
        session_cookies(state, t, &mut headers);
        (headers, Json(common)).into_response()
    } else {
        let mut body = common;
        body["access_token"] = json!(t.access_token);
        body["token_type"] = json!("Bearer");
        body["refresh_token"] = json!(t.refresh_token);
        (headers, Json(body)).into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUp {
    password: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

/// Step-up: re-authenticate on the current session for a token with a new `auth_time`. The
/// refresh token is unchanged; browsers get the new access cookie.
pub async fn step_up(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<StepUp>,
) -> AppResult<Response> {
    let code = match (b.code, b.recovery_code) {
        (None, None) => None,
        (code, recovery_code) => Some(
            SecondFactor {
                code,
                recovery_code,
            }
            .into_code()?,
        ),
    };
    let t = mfa::step_up(
        &state,
        &user.ctx(rc),
        &user.user_id,
        b.password,
        code.as_ref(),
    )
    .await?;
    Ok(step_up_response(&state, &t, is_browser(&headers)))
}

/// A step-up's answer: the new access token (a cookie for browsers), the refresh token unchanged.
pub(super) fn step_up_response(state: &AppState, t: &Issued, browser: bool) -> Response {
    let mut out = HeaderMap::new();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let mut body = json!({
        "user_id": t.user_id,
        "session_id": t.session_id,
        "expires_in": t.access_expires_in,
        "auth_time": t.auth_time,
        "amr": t.amr,
        "acr": t.acr,
    });
    if browser {
        set_cookie(
            &mut out,
            state.config.cookie_secure,
            ACCESS_COOKIE,
            &t.access_token,
            "/",
            "Lax",
            t.access_expires_in as i64,
        );
    } else {
        body["access_token"] = json!(t.access_token);
        body["token_type"] = json!("Bearer");
    }
    (out, Json(body)).into_response()
}
