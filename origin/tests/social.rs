//! Social sign-in at the protocol level, through `app(state)`: a small OpenID provider and a
//! GitHub fake run inside the test on 127.0.0.1 (real HTTP: the origin's client calls them),
//! and each can be told to misbehave — a wrong nonce, audience or issuer, an expired token, a
//! bad signature, an unverified address, an outage, a hang. Every refusal the issue lists has a
//! test here, on SQLite and on PostgreSQL (`TEST_DATABASE_URL`).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{As, Resp, TestApp};
use p256::ecdsa::signature::Signer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Normal,
    WrongNonce,
    WrongAudience,
    WrongIssuer,
    Expired,
    BadSignature,
    Unverified,
    Down,
    Hang,
    /// GitHub: the token endpoint's error as HTTP 200 {"error": ...}.
    ErrorAs200,
    /// GitHub: answer form-encoded whatever the Accept header says.
    FormEncoded,
    /// The token endpoint redirects elsewhere (a client must not follow).
    Redirect,
}

struct Pending {
    nonce: String,
    challenge: String,
    login: String,
}

struct Fake {
    base: String,
    key: p256::ecdsa::SigningKey,
    other_key: p256::ecdsa::SigningKey,
    mode: Mutex<Mode>,
    codes: Mutex<HashMap<String, Pending>>,
    tokens: Mutex<HashMap<String, String>>,
    token_calls: Mutex<u32>,
    redirect_followed: Mutex<bool>,
}

type Shared = Arc<Fake>;

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

impl Fake {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }
    fn jwt(&self, claims: Value) -> String {
        let header = b64(json!({"alg": "ES256", "kid": "k1", "typ": "JWT"})
            .to_string()
            .as_bytes());
        let payload = b64(claims.to_string().as_bytes());
        let input = format!("{header}.{payload}");
        let key = if self.mode() == Mode::BadSignature {
            &self.other_key
        } else {
            &self.key
        };
        let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }
}

async fn discovery(State(f): State<Shared>) -> Json<Value> {
    let b = &f.base;
    Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/auth"),
        "token_endpoint": format!("{b}/token"),
        "jwks_uri": format!("{b}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(f): State<Shared>) -> Json<Value> {
    let point = f.key.verifying_key().to_encoded_point(false);
    Json(json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
    }]}))
}

async fn misbehave(f: &Fake) -> Option<Response> {
    match f.mode() {
        Mode::Down => Some((StatusCode::SERVICE_UNAVAILABLE, "down").into_response()),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            None
        }
        _ => None,
    }
}

fn pkce_ok(p: &Pending, verifier: Option<&String>) -> bool {
    verifier.is_some_and(|v| b64(&Sha256::digest(v.as_bytes())) == p.challenge)
}

async fn token(State(f): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    *f.token_calls.lock().unwrap() += 1;
    if let Some(r) = misbehave(&f).await {
        return r;
    }
    if f.mode() == Mode::Redirect {
        let to = format!("{}/elsewhere", f.base);
        return (StatusCode::TEMPORARY_REDIRECT, [("location", to)]).into_response();
    }
    let pending = f
        .codes
        .lock()
        .unwrap()
        .remove(form.get("code").map_or("", |s| s));
    let Some(p) = pending else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    if !pkce_ok(&p, form.get("code_verifier")) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "PKCE"})),
        )
            .into_response();
    }
    let now = chrono::Utc::now().timestamp();
    let mode = f.mode();
    let claims = json!({
        "iss": if mode == Mode::WrongIssuer { "https://evil.example".to_owned() } else { f.base.clone() },
        "aud": if mode == Mode::WrongAudience { "someone-else" } else { "test-client" },
        "sub": format!("sub-{}", p.login),
        "nonce": if mode == Mode::WrongNonce { "not-the-nonce".to_owned() } else { p.nonce.clone() },
        "iat": now - 5,
        "exp": if mode == Mode::Expired { now - 600 } else { now + 300 },
        "email": format!("{}@example.test", p.login),
        "email_verified": mode != Mode::Unverified,
    });
    let access = format!("at-{}", common_id());
    f.tokens
        .lock()
        .unwrap()
        .insert(access.clone(), p.login.clone());
    Json(json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 3600,
        "id_token": f.jwt(claims),
    }))
    .into_response()
}

fn common_id() -> String {
    edge_auth_origin::domain::ids::hex(&edge_auth_origin::domain::ids::random_bytes::<8>())
}

async fn gh_token(
    State(f): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    *f.token_calls.lock().unwrap() += 1;
    if let Some(r) = misbehave(&f).await {
        return r;
    }
    let mode = f.mode();
    let json_wanted = headers
        .get("accept")
        .is_some_and(|v| v == "application/json")
        && mode != Mode::FormEncoded;
    let answer = |pairs: Vec<(&str, String)>| -> Response {
        if json_wanted {
            Json(pairs.into_iter().collect::<HashMap<_, _>>()).into_response()
        } else {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            (
                [("content-type", "application/x-www-form-urlencoded")],
                body,
            )
                .into_response()
        }
    };
    let pending = f
        .codes
        .lock()
        .unwrap()
        .remove(form.get("code").map_or("", |s| s));
    match pending {
        Some(p) if mode != Mode::ErrorAs200 && pkce_ok(&p, form.get("code_verifier")) => {
            let access = format!("gho_{}", common_id());
            f.tokens.lock().unwrap().insert(access.clone(), p.login);
            answer(vec![
                ("access_token", access),
                ("token_type", "bearer".into()),
                ("scope", "read:user".into()),
            ])
        }
        // GitHub reports a bad code with HTTP 200.
        _ => answer(vec![("error", "bad_verification_code".into())]),
    }
}

fn bearer_login(f: &Fake, headers: &HeaderMap) -> Option<String> {
    let h = headers.get("authorization")?.to_str().ok()?;
    f.tokens
        .lock()
        .unwrap()
        .get(h.strip_prefix("Bearer ")?)
        .cloned()
}

async fn gh_user(State(f): State<Shared>, headers: HeaderMap) -> Response {
    match bearer_login(&f, &headers) {
        Some(login) => {
            Json(json!({"login": login, "id": 4242 + login.len() as u64})).into_response()
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn gh_emails(State(f): State<Shared>, headers: HeaderMap) -> Response {
    match bearer_login(&f, &headers) {
        Some(login) => Json(json!([
            {"email": format!("{login}.second@example.test"), "primary": false, "verified": true},
            {"email": format!("{login}@example.test"), "primary": true, "verified": !login.starts_with("unverified")},
        ]))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn start_fake() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Fake {
        base,
        key: p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap(),
        other_key: p256::ecdsa::SigningKey::from_slice(&[4u8; 32]).unwrap(),
        mode: Mutex::new(Mode::Normal),
        codes: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
        token_calls: Mutex::new(0),
        redirect_followed: Mutex::new(false),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .route(
            "/elsewhere",
            post(|State(f): State<Shared>| async move {
                *f.redirect_followed.lock().unwrap() = true;
                StatusCode::OK
            }),
        )
        .route("/login/oauth/access_token", post(gh_token))
        .route("/user", get(gh_user))
        .route("/user/emails", get(gh_emails))
        .with_state(fake.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    fake
}

const PUBLIC: &str = "https://auth.example.test";

struct World {
    app: TestApp,
    fake: Shared,
}

async fn world(extra: &[(&str, &str)]) -> World {
    let fake = start_fake().await;
    let b = fake.base.clone();
    let mut env = vec![
        ("PUBLIC_URL", PUBLIC.to_owned()),
        ("SOCIAL_ALLOW_HTTP", "true".into()),
        ("SOCIAL_TIMEOUT_MS", "300".into()),
        ("SOCIAL_BREAKER_FAILURES", "2".into()),
        ("GOOGLE_CLIENT_ID", "test-client".into()),
        ("GOOGLE_CLIENT_SECRET", "test-secret".into()),
        ("GOOGLE_ISSUER", b.clone()),
        ("GITHUB_CLIENT_ID", "gh-client".into()),
        ("GITHUB_CLIENT_SECRET", "gh-secret".into()),
        ("GITHUB_AUTHORIZE_URL", format!("{b}/gh/authorize")),
        ("GITHUB_TOKEN_URL", format!("{b}/login/oauth/access_token")),
        ("GITHUB_API_URL", b.clone()),
    ];
    for (k, v) in extra {
        env.retain(|(x, _)| x != k);
        env.push((k, v.to_string()));
    }
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    World {
        app: TestApp::with_env(&pairs).await,
        fake,
    }
}

/// What the browser holds after `start`: the provider's URL and the flow cookie.
struct Started {
    query: HashMap<String, String>,
    cookie: String,
    set_cookie: String,
}

fn query_of(url: &str) -> HashMap<String, String> {
    let u = url::Url::parse(url).unwrap();
    u.query_pairs().into_owned().collect()
}

impl World {
    async fn start(&self, provider: &str, next: &str) -> Started {
        let r = self
            .app
            .get(
                &format!("/auth/oauth/{provider}/start?next={next}"),
                &As::anonymous(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "{}",
            String::from_utf8_lossy(&r.raw)
        );
        let set_cookie = r.header("set-cookie").unwrap().to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        Started {
            query: query_of(r.header("location").unwrap()),
            cookie,
            set_cookie,
        }
    }

    /// The provider's side of the authorization: the person `login` signs in; a code for it.
    fn authorize(&self, s: &Started, login: &str) -> String {
        let code = common_id();
        self.fake.codes.lock().unwrap().insert(
            code.clone(),
            Pending {
                nonce: s.query.get("nonce").cloned().unwrap_or_default(),
                challenge: s.query["code_challenge"].clone(),
                login: login.to_owned(),
            },
        );
        code
    }

    async fn callback(&self, provider: &str, query: &str, cookie: Option<&str>) -> Resp {
        let uri = format!("/auth/oauth/{provider}/callback?{query}");
        let mut req = self.app.signed(Method::GET, &uri, &As::anonymous(), None);
        // A browser navigating: refusals come as a page.
        req.headers_mut()
            .insert("accept", "text/html,*/*".parse().unwrap());
        if let Some(c) = cookie {
            req.headers_mut().insert("cookie", c.parse().unwrap());
        }
        self.app.send(req).await
    }

    /// A whole link of `provider` to the signed-in `who`, the provider's person being `login`
    /// (the callback's answer).
    async fn link(&self, provider: &str, who: &As, login: &str) -> Resp {
        let r = self
            .app
            .post(&format!("/api/identities/{provider}/link"), who, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let set_cookie = r.header("set-cookie").unwrap().to_owned();
        assert!(set_cookie.contains(&format!("Path=/auth/oauth/{provider}/callback")));
        let s = Started {
            query: query_of(r.body["location"].as_str().unwrap()),
            cookie: set_cookie.split(';').next().unwrap().to_owned(),
            set_cookie,
        };
        let code = self.authorize(&s, login);
        let iss = if provider == "google" {
            format!("&iss={}", enc(&self.fake.base))
        } else {
            String::new()
        };
        self.callback(
            provider,
            &format!("code={code}&state={}{iss}", s.query["state"]),
            Some(&s.cookie),
        )
        .await
    }

    /// A whole sign-in as `login` (the callback's answer).
    async fn sign_in(&self, provider: &str, login: &str) -> Resp {
        let s = self.start(provider, "/account").await;
        let code = self.authorize(&s, login);
        let iss = if provider == "google" {
            format!("&iss={}", enc(&self.fake.base))
        } else {
            String::new()
        };
        self.callback(
            provider,
            &format!("code={code}&state={}{iss}", s.query["state"]),
            Some(&s.cookie),
        )
        .await
    }

    fn set_mode(&self, m: Mode) {
        *self.fake.mode.lock().unwrap() = m;
    }

    fn token_calls(&self) -> u32 {
        *self.fake.token_calls.lock().unwrap()
    }

    async fn users(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.app.state.db.pool)
            .await
            .unwrap()
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn reason(r: &Resp) -> String {
    r.header("x-reason").unwrap_or("").to_owned()
}

fn access_claims(r: &Resp) -> Value {
    let c = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("access_token="))
        .expect("an access cookie");
    common::decode_claims(c.split(';').next().unwrap())
}

#[tokio::test]
async fn google_first_sign_in_creates_the_account_with_amr_fed_and_keeps_tokens_encrypted() {
    let w = world(&[]).await;
    let s = w.start("google", "/account?tab=1").await;
    // The authorization request: code flow, PKCE S256, state and nonce, the exact redirect URI.
    assert_eq!(s.query["response_type"], "code");
    assert_eq!(s.query["code_challenge_method"], "S256");
    assert_eq!(
        s.query["redirect_uri"],
        format!("{PUBLIC}/auth/oauth/google/callback")
    );
    assert!(s.query["state"].len() >= 43 && s.query["nonce"].len() >= 43);
    assert!(s.query["scope"].contains("openid"));
    // The flow cookie: HttpOnly, scoped to the callback, short-lived, and opaque (encrypted).
    assert!(
        s.set_cookie.contains("Path=/auth/oauth/google/callback"),
        "{}",
        s.set_cookie
    );
    assert!(s.set_cookie.contains("HttpOnly") && s.set_cookie.contains("SameSite=Lax"));
    assert!(s.set_cookie.contains("Max-Age=600"));
    assert!(
        !s.cookie.contains(&s.query["state"]),
        "the cookie does not show the state"
    );

    let code = w.authorize(&s, "alice");
    let r = w
        .callback(
            "google",
            &format!(
                "code={code}&state={}&iss={}",
                s.query["state"],
                enc(&w.fake.base)
            ),
            Some(&s.cookie),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
    assert_eq!(r.header("location"), Some("/account?tab=1"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let claims = access_claims(&r);
    assert_eq!(claims["amr"], json!(["fed"]));
    let user_id = claims["sub"].as_str().unwrap().to_owned();
    // The flow cookie is cleared.
    assert!(r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("oauth_flow=;")));

    let me = As::user(&user_id, claims["sid"].as_str().unwrap());
    let list = w.app.get("/api/identities", &me).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["password"], false);
    assert_eq!(list.body["identities"][0]["provider"], "google");
    assert_eq!(list.body["identities"][0]["email"], "alice@example.test");
    assert!(
        !list.raw.windows(3).any(|x| x == b"at-"),
        "provider tokens never reach the client"
    );

    // Tokens at rest: encrypted, bound to user + provider.
    let raw: Vec<u8> = sqlx::query_scalar("SELECT tokens_enc FROM identities WHERE user_id = $1")
        .bind(&user_id)
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap();
    assert!(!raw.windows(3).any(|x| x == b"at-"));
    let kept = edge_auth_origin::domain::identities::kept_tokens(&w.app.state, &user_id, "google")
        .await
        .unwrap()
        .expect("tokens open for their owner");
    assert!(kept.contains("\"access_token\":\"at-"));
    sqlx::query("UPDATE identities SET user_id = 'usr_other' WHERE user_id = $1")
        .bind(&user_id)
        .execute(&w.app.state.db.pool)
        .await
        .ok();
    assert_eq!(
        edge_auth_origin::domain::identities::kept_tokens(&w.app.state, "usr_other", "google")
            .await
            .unwrap(),
        None,
        "another owner's associated data does not open them"
    );

    let actions = w.app.audit_actions().await;
    for a in [
        "user.signup",
        "identity.link",
        "login.social",
        "login.success",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn the_second_sign_in_finds_the_same_user_by_subject() {
    let w = world(&[]).await;
    let a = access_claims(&w.sign_in("google", "bob").await);
    let b = access_claims(&w.sign_in("google", "bob").await);
    assert_eq!(a["sub"], b["sub"]);
    assert_ne!(a["sid"], b["sid"]);
    assert_eq!(w.users().await, 1);
}

#[tokio::test]
async fn a_wrong_state_is_refused_before_any_provider_call() {
    let w = world(&[]).await;
    let s = w.start("google", "/").await;
    let code = w.authorize(&s, "carol");
    let r = w
        .callback(
            "google",
            &format!("code={code}&state=forged"),
            Some(&s.cookie),
        )
        .await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::BAD_REQUEST, "oauth_state_invalid")
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    // Another flow's cookie (another browser's state) does not fit either.
    let other = w.start("google", "/").await;
    let r = w
        .callback(
            "google",
            &format!("code={code}&state={}", s.query["state"]),
            Some(&other.cookie),
        )
        .await;
    assert_eq!(reason(&r), "oauth_state_invalid");
    // A cookie of another provider does not open for this one.
    let r = w
        .callback(
            "github",
            &format!("code={code}&state={}", s.query["state"]),
            Some(&s.cookie),
        )
        .await;
    assert_eq!(reason(&r), "oauth_state_invalid");
    assert_eq!(w.token_calls(), 0);
    assert_eq!(w.users().await, 0);
}

#[tokio::test]
async fn a_replayed_state_is_refused() {
    let w = world(&[]).await;
    let s = w.start("google", "/").await;
    let code = w.authorize(&s, "dave");
    let q = format!(
        "code={code}&state={}&iss={}",
        s.query["state"],
        enc(&w.fake.base)
    );
    let first = w.callback("google", &q, Some(&s.cookie)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let again = w.callback("google", &q, Some(&s.cookie)).await;
    assert_eq!(
        (again.status, reason(&again).as_str()),
        (StatusCode::BAD_REQUEST, "oauth_state_replayed")
    );
    assert_eq!(
        w.token_calls(),
        1,
        "the replay never reached the token endpoint"
    );
}

#[tokio::test]
async fn without_the_flow_cookie_there_is_no_pkce_verifier_and_no_exchange() {
    let w = world(&[]).await;
    let s = w.start("google", "/").await;
    let code = w.authorize(&s, "erin");
    let r = w
        .callback(
            "google",
            &format!("code={code}&state={}", s.query["state"]),
            None,
        )
        .await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::BAD_REQUEST, "oauth_flow_missing")
    );
    assert_eq!(w.token_calls(), 0);
}

#[tokio::test]
async fn the_provider_refusing_the_code_or_verifier_is_a_clear_refusal() {
    let w = world(&[]).await;
    let s = w.start("google", "/").await;
    let code = w.authorize(&s, "frank");
    // The code's PKCE challenge no longer matches what the flow's verifier hashes to.
    w.fake
        .codes
        .lock()
        .unwrap()
        .get_mut(&code)
        .unwrap()
        .challenge = "AAAA".into();
    let r = w
        .callback(
            "google",
            &format!(
                "code={code}&state={}&iss={}",
                s.query["state"],
                enc(&w.fake.base)
            ),
            Some(&s.cookie),
        )
        .await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::BAD_REQUEST, "oauth_code_rejected")
    );
    assert_eq!(w.users().await, 0);
}

#[tokio::test]
async fn each_bad_id_token_is_refused_with_its_reason_and_creates_nothing() {
    let w = world(&[]).await;
    for (mode, id) in [
        (Mode::WrongNonce, "id_token_nonce_mismatch"),
        (Mode::WrongAudience, "id_token_audience_invalid"),
        (Mode::WrongIssuer, "id_token_issuer_invalid"),
        (Mode::Expired, "id_token_expired"),
        (Mode::BadSignature, "id_token_signature_invalid"),
    ] {
        w.set_mode(mode);
        let r = w.sign_in("google", "grace").await;
        assert_eq!(
            (r.status, reason(&r)),
            (StatusCode::BAD_REQUEST, id.to_owned()),
            "{mode:?}"
        );
        assert!(!r
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("access_token=")));
    }
    assert_eq!(w.users().await, 0);
    w.set_mode(Mode::Normal);
    assert_eq!(
        w.sign_in("google", "grace").await.status,
        StatusCode::SEE_OTHER,
        "a good token still passes"
    );
}

#[tokio::test]
async fn rfc9207_an_authorization_response_from_another_issuer_is_refused() {
    let w = world(&[]).await;
    let s = w.start("google", "/").await;
    let code = w.authorize(&s, "heidi");
    let r = w
        .callback(
            "google",
            &format!(
                "code={code}&state={}&iss={}",
                s.query["state"],
                enc("https://evil.example")
            ),
            Some(&s.cookie),
        )
        .await;
    assert_eq!(reason(&r), "oauth_issuer_mismatch");
    // The provider promises `iss` (its metadata says so): an answer without it is refused too.
    let s = w.start("google", "/").await;
    let code = w.authorize(&s, "heidi");
    let r = w
        .callback(
            "google",
            &format!("code={code}&state={}", s.query["state"]),
            Some(&s.cookie),
        )
        .await;
    assert_eq!(reason(&r), "oauth_issuer_mismatch");
    assert_eq!(w.token_calls(), 0);
}

#[tokio::test]
async fn an_unverified_email_creates_no_account() {
    let w = world(&[]).await;
    w.set_mode(Mode::Unverified);
    let r = w.sign_in("google", "ivan").await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::FORBIDDEN, "email_unverified")
    );
    assert_eq!(w.users().await, 0);
}

#[tokio::test]
async fn an_attackers_preregistered_local_account_is_never_merged_into() {
    let w = world(&[]).await;
    // The attacker signs up with the victim's address and never verifies it.
    let (_, attacker) = w.app.signup_login("victim@example.test").await;
    let r = w.sign_in("google", "victim").await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::CONFLICT, "account_exists_link_required")
    );
    assert!(!r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("access_token=")));
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identities")
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "no identity attached to the attacker's account");
    let mine = w.app.get("/api/identities", &attacker).await;
    assert_eq!(mine.body["identities"], json!([]));
    assert_eq!(w.users().await, 1);
}

#[tokio::test]
async fn next_must_be_a_same_origin_path() {
    let w = world(&[]).await;
    for bad in [
        "//evil.example",
        "/%5Cevil.example",
        "https://evil.example/x",
        "evil",
    ] {
        let r = w
            .app
            .get(
                &format!("/auth/oauth/google/start?next={bad}"),
                &As::anonymous(),
            )
            .await;
        assert_eq!(
            (r.status, reason(&r)),
            (StatusCode::BAD_REQUEST, "oauth_next_invalid".to_owned()),
            "{bad}"
        );
        assert!(r.header("set-cookie").is_none());
    }
}

#[tokio::test]
async fn unknown_or_unconfigured_providers_are_not_offered() {
    let w = world(&[("GITHUB_CLIENT_ID", "")]).await;
    let r = w.app.get("/auth/oauth/providers", &As::anonymous()).await;
    let ids: Vec<&str> = r.body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["google"]);
    for p in ["github", "kakao", "facebook"] {
        let r = w
            .app
            .get(&format!("/auth/oauth/{p}/start"), &As::anonymous())
            .await;
        assert_eq!(
            (r.status, reason(&r)),
            (StatusCode::NOT_FOUND, "oauth_provider_unknown".to_owned())
        );
    }
}

#[tokio::test]
async fn a_provider_outage_gives_the_outage_page_and_opens_the_breaker() {
    let w = world(&[]).await;
    let pending = w.start("google", "/").await;
    w.set_mode(Mode::Down);
    for _ in 0..2 {
        let r = w.sign_in("google", "judy").await;
        assert_eq!(
            (r.status, reason(&r).as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable")
        );
        let page = String::from_utf8_lossy(&r.raw);
        assert!(page.contains("Google sign-in is unavailable"), "{page}");
        assert!(r.header("retry-after").is_some());
    }
    assert_eq!(w.users().await, 0, "no half-created account");
    let listed = w.app.get("/auth/oauth/providers", &As::anonymous()).await;
    assert_eq!(listed.body["providers"][0]["breaker"], "open");
    // Open: a flow started before is answered without calling the provider…
    let calls = w.token_calls();
    let t = Instant::now();
    let code = w.authorize(&pending, "judy");
    let r = w
        .callback(
            "google",
            &format!(
                "code={code}&state={}&iss={}",
                pending.query["state"],
                enc(&w.fake.base)
            ),
            Some(&pending.cookie),
        )
        .await;
    assert_eq!(reason(&r), "provider_unavailable");
    assert_eq!(w.token_calls(), calls, "no call while open");
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    // …and a new sign-in gets the outage page at once.
    let r = w
        .app
        .get("/auth/oauth/google/start", &As::anonymous())
        .await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable")
    );
    // GitHub has its own breaker: still closed, while Google's stays open until its cool-down.
    w.set_mode(Mode::Normal);
    assert_eq!(
        w.sign_in("github", "judy-gh").await.status,
        StatusCode::SEE_OTHER
    );
    let r = w
        .app
        .get("/auth/oauth/google/start", &As::anonymous())
        .await;
    assert_eq!(reason(&r), "provider_unavailable");
}

#[tokio::test]
async fn a_provider_that_hangs_costs_a_bounded_wait() {
    let w = world(&[]).await;
    w.set_mode(Mode::Hang);
    let t = Instant::now();
    let r = w.sign_in("google", "ken").await;
    let waited = t.elapsed();
    assert_eq!(reason(&r), "provider_unavailable");
    // SOCIAL_TIMEOUT_MS=300: the token call is not retried (a code works once), so one timeout.
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
}

#[tokio::test]
async fn github_uses_the_numeric_id_and_only_a_verified_primary_address() {
    let w = world(&[]).await;
    let r = w.sign_in("github", "octo").await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
    let subject: String =
        sqlx::query_scalar("SELECT subject FROM identities WHERE provider = 'github'")
            .fetch_one(&w.app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(subject, (4242 + "octo".len()).to_string());
    // Unverified primary: the verified secondary address does not stand in for it.
    let r = w.sign_in("github", "unverified-octo").await;
    assert_eq!(reason(&r), "email_unverified");
    // Errors come as HTTP 200 {"error": ...}.
    w.set_mode(Mode::ErrorAs200);
    let r = w.sign_in("github", "octo").await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::BAD_REQUEST, "oauth_code_rejected")
    );
    // A form-encoded answer is read as well.
    w.set_mode(Mode::FormEncoded);
    assert_eq!(
        w.sign_in("github", "octo").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn link_then_sign_in_with_either_then_unlink_but_never_the_last_method() {
    let w = world(&[]).await;
    // A Google-created account (no password) links GitHub.
    let first = access_claims(&w.sign_in("google", "lena").await);
    let user_id = first["sub"].as_str().unwrap().to_owned();
    let mut me = As::user(&user_id, first["sid"].as_str().unwrap());
    me.auth_time = Some(chrono::Utc::now().timestamp());
    let r = w.link("github", &me, "lena-gh").await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
    assert_eq!(r.header("location"), Some("/account"));
    // Signing in with GitHub now finds the same user.
    let gh = access_claims(&w.sign_in("github", "lena-gh").await);
    assert_eq!(gh["sub"].as_str(), Some(user_id.as_str()));
    // Unlink Google: GitHub remains.
    let r = w
        .app
        .call(Method::DELETE, "/api/identities/google", &me, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    // GitHub is the last way in: refused.
    let r = w
        .app
        .call(Method::DELETE, "/api/identities/github", &me, None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "last_login_method")
    );
    let r = w
        .app
        .call(Method::DELETE, "/api/identities/google", &me, None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "identity_not_found")
    );
    let actions = w.app.audit_actions().await;
    assert!(actions.contains(&"identity.unlink".to_owned()));
}

#[tokio::test]
async fn linking_needs_a_recent_authentication_and_a_free_identity() {
    let w = world(&[]).await;
    let (_, mut pw) = w.app.signup_login("mia@example.test").await;
    pw.auth_time = Some(chrono::Utc::now().timestamp() - 3600);
    let r = w
        .app
        .post("/api/identities/google/link", &pw, json!({}))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "insufficient_user_authentication")
    );
    // Someone else's Google identity cannot be linked to this account.
    w.sign_in("google", "nina").await;
    pw.auth_time = Some(chrono::Utc::now().timestamp());
    let r = w.link("google", &pw, "nina").await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::CONFLICT, "identity_linked_elsewhere")
    );
    // A password account may unlink its only identity (the password remains) — after linking one.
    let code = w.link("google", &pw, "mia-google").await.status;
    assert_eq!(code, StatusCode::SEE_OTHER);
    let r = w
        .app
        .call(Method::DELETE, "/api/identities/google", &pw, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn back_channel_redirects_are_never_followed() {
    let w = world(&[]).await;
    w.set_mode(Mode::Redirect);
    let r = w.sign_in("google", "olga").await;
    assert_eq!(reason(&r), "provider_unavailable");
    assert!(
        !*w.fake.redirect_followed.lock().unwrap(),
        "the client did not follow the 307"
    );
    assert_eq!(w.users().await, 0);
}

#[tokio::test]
async fn the_providers_own_error_answer_is_a_refusal_not_a_sign_in() {
    let w = world(&[]).await;
    let s = w.start("google", "/").await;
    let r = w
        .callback(
            "google",
            &format!(
                "error=access_denied&state={}&iss={}",
                s.query["state"],
                enc(&w.fake.base)
            ),
            Some(&s.cookie),
        )
        .await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (StatusCode::FORBIDDEN, "oauth_provider_denied")
    );
    assert!(String::from_utf8_lossy(&r.raw).contains("cancelled"));
    let r = w
        .callback(
            "google",
            &format!("state={}", s.query["state"]),
            Some(&s.cookie),
        )
        .await;
    assert_eq!(reason(&r), "oauth_code_missing");
    assert_eq!(w.token_calls(), 0);
}

#[tokio::test]
async fn a_provider_never_skips_the_second_factor() {
    let w = world(&[]).await;
    // A Google-created account turns TOTP on.
    let first = access_claims(&w.sign_in("google", "pia").await);
    let mut me = As::user(
        first["sub"].as_str().unwrap(),
        first["sid"].as_str().unwrap(),
    );
    me.auth_time = Some(chrono::Utc::now().timestamp());
    let r = w.app.post("/api/mfa/totp/enroll", &me, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let totp = totp_rs::TOTP::from_url(r.body["otpauth_uri"].as_str().unwrap()).unwrap();
    let now = || (w.app.state.clock.now_ms() / 1000) as u64;
    let r = w
        .app
        .post(
            "/api/mfa/totp/confirm",
            &me,
            json!({ "code": totp.generate(now()) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    w.app.state.clock.advance_secs(30);

    // Signing in with Google now yields a challenge (in the fragment), not a session.
    let r = w.sign_in("google", "pia").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to = r.header("location").unwrap().to_owned();
    assert!(to.starts_with("/login?next=%2Faccount#mfa_token="), "{to}");
    assert!(!r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("access_token=")));
    let token = to.split("#mfa_token=").nth(1).unwrap();
    let r = w
        .app
        .post(
            "/auth/login/mfa",
            &As::anonymous(),
            json!({ "mfa_token": token, "code": totp.generate(now()) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["amr"], json!(["fed", "otp", "mfa"]));
    assert_eq!(r.body["acr"], "urn:edge-auth:acr:mfa");
}
