//! TOTP second factor: enrolment → confirmation → two-step log-in, replay refused, recovery
//! codes single use, wrong codes throttled, disabling needs a fresh authentication. Through
//! HTTP (the envelope-signing test client) and through the domain operations directly.

mod common;

use axum::http::{Method, StatusCode};
use common::{decode_claims, As, Resp, TestApp, PASSWORD};
use edge_auth_origin::domain::mfa::{self, Code, Login};
use edge_auth_origin::domain::{accounts, Ctx, DomainError};
use serde_json::{json, Value};
use totp_rs::TOTP;

/// The code the person's app shows now (by the service clock).
fn code_now(t: &TestApp, totp: &TOTP) -> String {
    totp.generate((t.state.clock.now_ms() / 1000) as u64)
}

/// Moves to the next 30-second step (a code of a used step is a replay).
fn next_step(t: &TestApp) {
    t.state.clock.advance_secs(30);
}

/// Signs up, logs in, enrols and confirms TOTP; returns the identity, the TOTP and the
/// recovery codes.
async fn with_totp(t: &TestApp, email: &str) -> (As, TOTP, Vec<String>) {
    let (_, who) = t.signup_login(email).await;
    let r = t.post("/api/mfa/totp/enroll", &who, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let totp = TOTP::from_url(r.body["otpauth_uri"].as_str().unwrap()).unwrap();
    let r = t
        .post(
            "/api/mfa/totp/confirm",
            &who,
            json!({ "code": code_now(t, &totp) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let codes = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    next_step(t);
    (who, totp, codes)
}

async fn password_step(t: &TestApp, email: &str) -> Resp {
    t.post(
        "/auth/login",
        &As::anonymous(),
        json!({ "email": email, "password": PASSWORD }),
    )
    .await
}

async fn challenge(t: &TestApp, email: &str) -> String {
    let r = password_step(t, email).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["mfa_required"], true, "{:?}", r.body);
    r.body["mfa_token"].as_str().unwrap().to_owned()
}

async fn second_step(t: &TestApp, token: &str, factor: Value) -> Resp {
    let mut body = json!({ "mfa_token": token });
    for (k, v) in factor.as_object().unwrap() {
        body[k] = v.clone();
    }
    t.post("/auth/login/mfa", &As::anonymous(), body).await
}

#[tokio::test]
async fn enrol_confirm_then_login_needs_the_code_and_a_replay_is_refused() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("totp@example.com").await;
    let r = t.get("/api/mfa", &who).await;
    assert_eq!(r.body["totp_enabled"], false);

    let r = t.post("/api/mfa/totp/enroll", &who, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let uri = r.body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/edge-auth:totp%40example.com?"),
        "{uri}"
    );
    assert!(r.body["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let totp = TOTP::from_url(uri).unwrap();
    assert_eq!(totp.get_secret_base32(), r.body["secret"].as_str().unwrap());
    // At rest the secret is encrypted: its bytes are nowhere in the row.
    let enc: Vec<u8> = sqlx::query_scalar("SELECT secret_enc FROM totp_factors")
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
    assert!(!enc
        .windows(totp.secret.len())
        .any(|w| w == totp.secret.as_slice()));
    // Not active before it is confirmed: the password alone still signs in.
    let r = password_step(&t, "totp@example.com").await;
    assert!(r.body["access_token"].is_string(), "{:?}", r.body);
    assert_eq!(t.get("/api/mfa", &who).await.body["totp_pending"], true);

    // A wrong code does not confirm; the right one does and hands out ten recovery codes.
    let r = t
        .post("/api/mfa/totp/confirm", &who, json!({ "code": "000000x" }))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    let used = code_now(&t, &totp);
    let r = t
        .post("/api/mfa/totp/confirm", &who, json!({ "code": used }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["recovery_codes"].as_array().unwrap().len(), 10);
    let r = t.post("/api/mfa/totp/enroll", &who, json!({})).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "totp_already_enabled")
    );

    // Now the password yields a challenge: no token, no cookie (browser or not).
    let r = password_step(&t, "totp@example.com").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("access_token").is_none() && r.body.get("refresh_token").is_none());
    assert_eq!(r.body["methods"], json!(["totp", "recovery_code"]));
    let mut req = t.signed(
        Method::POST,
        "/auth/login",
        &As::anonymous(),
        Some(json!({ "email": "totp@example.com", "password": PASSWORD })),
    );
    req.headers_mut()
        .insert("sec-fetch-mode", "cors".parse().unwrap());
    let r = t.send(req).await;
    assert_eq!(r.body["mfa_required"], true);
    assert!(r.header("set-cookie").is_none(), "{:?}", r.headers);
    let token = r.body["mfa_token"].as_str().unwrap().to_owned();

    // The code that confirmed the enrolment (same step) is a replay.
    let r = second_step(&t, &token, json!({ "code": used })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "otp_already_used")
    );
    next_step(&t);
    let fresh = code_now(&t, &totp);
    let r = second_step(&t, &token, json!({ "code": fresh })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let c = decode_claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(c["acr"], "urn:edge-auth:acr:mfa");
    // The challenge is single use; the code too, even with a new challenge.
    let r = second_step(&t, &token, json!({ "code": fresh })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "mfa_challenge_invalid")
    );
    let token2 = challenge(&t, "totp@example.com").await;
    let r = second_step(&t, &token2, json!({ "code": fresh })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "otp_already_used")
    );
    // A refresh keeps the two-factor authentication.
    next_step(&t);
    let r = second_step(&t, &token2, json!({ "code": code_now(&t, &totp) })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = t.refresh(r.body["refresh_token"].as_str().unwrap()).await;
    let c = decode_claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
    let actions = t.audit_actions().await;
    for a in [
        "mfa.totp.enroll",
        "mfa.totp.enable",
        "login.mfa_required",
        "mfa.failure",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a}: {actions:?}");
    }
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let t = TestApp::new().await;
    let (who, _, codes) = with_totp(&t, "rec@example.com").await;
    let token = challenge(&t, "rec@example.com").await;
    // Typed in capitals without dashes: the same code.
    let typed = codes[3].replace('-', "").to_uppercase();
    let r = second_step(&t, &token, json!({ "recovery_code": typed })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        decode_claims(r.body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp", "mfa"])
    );
    let token = challenge(&t, "rec@example.com").await;
    let r = second_step(&t, &token, json!({ "recovery_code": codes[3] })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    let r = second_step(&t, &token, json!({ "recovery_code": codes[4] })).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        t.get("/api/mfa", &who).await.body["recovery_codes_remaining"],
        8
    );
    // Stored hashed only.
    let stored: Vec<String> = sqlx::query_scalar("SELECT code_hash FROM recovery_codes")
        .fetch_all(&t.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|h| h.len() == 64 && !codes.contains(h)));
}

#[tokio::test]
async fn wrong_codes_are_throttled_and_spend_the_challenge() {
    let t = TestApp::new().await;
    let (_, totp, _) = with_totp(&t, "slow@example.com").await;
    let token = challenge(&t, "slow@example.com").await;
    // LOGIN_THROTTLE_AFTER=5: five wrong codes are each refused; the fifth locks out.
    for bad in ["123456", "000000", "abc", "", "99999999"] {
        let r = second_step(&t, &token, json!({ "code": bad })).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, "invalid_otp"),
            "{bad:?}"
        );
    }
    // The challenge has spent its attempts, even with the right code.
    let r = second_step(&t, &token, json!({ "code": code_now(&t, &totp) })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "mfa_challenge_invalid")
    );
    let locked: i64 =
        sqlx::query_scalar("SELECT failures FROM login_throttle WHERE email LIKE 'mfa:%'")
            .fetch_one(&t.state.db.pool)
            .await
            .unwrap();
    assert_eq!(locked, 5);
    // Within the lock-out (clock moved back to be sure), a right code on a new challenge is
    // refused before it is checked.
    let token = challenge(&t, "slow@example.com").await;
    t.state.clock.advance_secs(-3);
    let r = second_step(&t, &token, json!({ "code": code_now(&t, &totp) })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::TOO_MANY_REQUESTS, "login_throttled")
    );
    assert!(r.header("retry-after").is_some());
    t.state.clock.advance_secs(40);
    let r = second_step(&t, &token, json!({ "code": code_now(&t, &totp) })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn disabling_needs_a_fresh_authentication_and_a_code() {
    let t = TestApp::new().await;
    let (_, totp, codes) = with_totp(&t, "off@example.com").await;
    let token = challenge(&t, "off@example.com").await;
    let r = second_step(&t, &token, json!({ "code": code_now(&t, &totp) })).await;
    let who = As::from_login(&r.body);
    next_step(&t);
    // Malformed requests get precise reasons.
    let r = t.post("/api/mfa/totp/disable", &who, json!({})).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "one_code_required")
    );
    let r = t
        .post(
            "/api/mfa/totp/disable",
            &As::anonymous(),
            json!({ "code": "123456" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "authentication_required")
    );
    // Ten minutes later the session's authentication is too old (STEP_UP_MAX_AGE_SECS=300).
    t.state.clock.advance_secs(600);
    let r = t
        .post(
            "/api/mfa/totp/disable",
            &who,
            json!({ "code": code_now(&t, &totp) }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "insufficient_user_authentication")
    );
    let challenge_header = r.header("www-authenticate").unwrap();
    assert!(
        challenge_header.contains("error=\"insufficient_user_authentication\"")
            && challenge_header.contains("max_age=300"),
        "{challenge_header}"
    );
    // A token whose auth_time the edge forwards as recent (a step-up) passes the check; the
    // code still has to be right.
    let stepped = As {
        auth_time: Some(t.state.clock.now_ms() / 1000 - 5),
        ..who.clone()
    };
    let r = t
        .post(
            "/api/mfa/totp/disable",
            &stepped,
            json!({ "code": "111111" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    let r = t
        .post(
            "/api/mfa/totp/disable",
            &stepped,
            json!({ "recovery_code": codes[0] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = t.get("/api/mfa", &who).await;
    assert_eq!(
        r.body,
        json!({ "totp_enabled": false, "totp_pending": false, "recovery_codes_remaining": 0 })
    );
    let r = t
        .post(
            "/api/mfa/totp/disable",
            &stepped,
            json!({ "code": code_now(&t, &totp) }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "totp_not_enabled")
    );
    // The password alone signs in again.
    let r = password_step(&t, "off@example.com").await;
    assert!(r.body["access_token"].is_string(), "{:?}", r.body);
}

#[tokio::test]
async fn bad_second_steps_get_precise_reasons() {
    let t = TestApp::new().await;
    for (body, status, id) in [
        (
            json!({ "mfa_token": "nope", "code": "123456" }),
            401,
            "mfa_challenge_invalid",
        ),
        (
            json!({ "mfa_token": "x".repeat(5000), "code": "1" }),
            401,
            "mfa_challenge_invalid",
        ),
        (json!({ "mfa_token": "nope" }), 422, "one_code_required"),
        (
            json!({ "mfa_token": "nope", "code": "1", "recovery_code": "2" }),
            422,
            "one_code_required",
        ),
        (json!({ "code": "123456" }), 422, "invalid_body"),
        (
            json!({ "mfa_token": "a", "code": "1", "extra": 1 }),
            422,
            "invalid_body",
        ),
    ] {
        let r = t
            .post("/auth/login/mfa", &As::anonymous(), body.clone())
            .await;
        assert_eq!((r.status.as_u16(), r.error()), (status, id), "{body}");
    }
    let (_, who) = t.signup_login("nofactor@example.com").await;
    let r = t
        .post("/api/mfa/totp/confirm", &who, json!({ "code": "123456" }))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "totp_not_enrolled")
    );
    // Activating a factor with an old authentication: the RFC 9470 challenge.
    let r = t.post("/api/mfa/totp/enroll", &who, json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    t.state.clock.advance_secs(600);
    let r = t
        .post("/api/mfa/totp/confirm", &who, json!({ "code": "123456" }))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "insufficient_user_authentication")
    );
}

/// The same rules through the domain operations (what another surface would call).
#[tokio::test]
async fn domain_operations_hold_the_rules() {
    let t = TestApp::new().await;
    let core = &t.state.core;
    let anon = Ctx::default();
    let u = accounts::signup(core, &anon, "dom@example.com", PASSWORD.into())
        .await
        .unwrap();
    let mut ctx = anon.acting(&u.id);
    let e = mfa::enroll(core, &ctx, &u.id).await.unwrap();
    // Activating a factor needs a recent authentication: a session that just started.
    assert!(matches!(
        mfa::confirm(core, &ctx, &u.id, "123456").await,
        Err(DomainError::StepUpRequired { .. })
    ));
    let s = edge_auth_origin::domain::sessions::create(core, &anon, &u)
        .await
        .unwrap();
    ctx.session = Some(s.session_id.clone());
    let totp = TOTP::from_url(&e.otpauth_uri).unwrap();
    assert!(matches!(
        mfa::confirm(core, &ctx, &u.id, "12345").await,
        Err(DomainError::InvalidOtp)
    ));
    let codes = mfa::confirm(core, &ctx, &u.id, &code_now(&t, &totp))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    assert!(matches!(
        mfa::enroll(core, &ctx, &u.id).await,
        Err(DomainError::TotpAlreadyEnabled)
    ));
    let Login::MfaRequired { mfa_token, .. } = mfa::after_password(core, &anon, &u).await.unwrap()
    else {
        panic!("TOTP is on: a challenge, not a session");
    };
    // Same step as the confirmation: replay.
    assert!(matches!(
        mfa::complete_login(core, &anon, &mfa_token, &Code::Totp(code_now(&t, &totp))).await,
        Err(DomainError::OtpAlreadyUsed)
    ));
    next_step(&t);
    let issued = mfa::complete_login(core, &anon, &mfa_token, &Code::Totp(code_now(&t, &totp)))
        .await
        .unwrap();
    assert_eq!(issued.amr, vec!["pwd", "otp", "mfa"]);
    assert!(matches!(
        mfa::complete_login(core, &anon, &mfa_token, &Code::Recovery(codes[0].clone())).await,
        Err(DomainError::MfaChallengeInvalid)
    ));
    // Disabling without a fresh authentication is refused before the code is looked at.
    ctx.session = None;
    assert!(matches!(
        mfa::disable(core, &ctx, &u.id, &Code::Recovery(codes[0].clone())).await,
        Err(DomainError::StepUpRequired { .. })
    ));
    let mut fresh = ctx.clone();
    fresh.session = Some(issued.session_id.clone());
    mfa::disable(core, &fresh, &u.id, &Code::Recovery(codes[0].clone()))
        .await
        .unwrap();
    assert!(!mfa::totp_enabled(core, &u.id).await.unwrap());
}

#[tokio::test]
async fn a_step_up_with_totp_on_needs_a_code() {
    let t = TestApp::new().await;
    let (_, totp, _) = with_totp(&t, "upmfa@example.com").await;
    let token = challenge(&t, "upmfa@example.com").await;
    let r = second_step(&t, &token, json!({ "code": code_now(&t, &totp) })).await;
    let who = As::from_login(&r.body);
    next_step(&t);
    let r = t
        .post("/auth/step-up", &who, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "otp_required")
    );
    let r = t
        .post(
            "/auth/step-up",
            &who,
            json!({ "password": PASSWORD, "code": "000000" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    let r = t
        .post(
            "/auth/step-up",
            &who,
            json!({ "password": PASSWORD, "code": code_now(&t, &totp) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        decode_claims(r.body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp", "mfa"])
    );
    // A caller without a session (an admin tool's token) has nothing to step up.
    let mut no_session = who.clone();
    no_session.session = None;
    let r = t
        .post(
            "/auth/step-up",
            &no_session,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
}

#[tokio::test]
async fn recovery_codes_are_regenerated_on_a_fresh_authentication_and_the_old_ones_stop() {
    let t = TestApp::new().await;
    let (_, plain) = t.signup_login("no-totp-codes@example.com").await;
    let r = t.post("/api/mfa/recovery-codes", &plain, json!({})).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "totp_not_enabled")
    );

    let (who, _, old) = with_totp(&t, "regen@example.com").await;
    let r = t.post("/api/mfa/recovery-codes", &who, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new: Vec<String> = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    let r = t.get("/api/mfa", &who).await;
    assert_eq!(r.body["recovery_codes_remaining"], 10);

    let token = challenge(&t, "regen@example.com").await;
    let r = second_step(&t, &token, json!({ "recovery_code": old[0] })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_otp")
    );
    let r = second_step(&t, &token, json!({ "recovery_code": new[0] })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(t
        .audit_actions()
        .await
        .contains(&"mfa.recovery_codes.regenerate".to_owned()));

    // Ten minutes on, the session's authentication is too old (RFC 9470 challenge).
    t.state.clock.advance_secs(600);
    let r = t.post("/api/mfa/recovery-codes", &who, json!({})).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "insufficient_user_authentication")
    );
}
