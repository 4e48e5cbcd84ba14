//! Passkeys through the origin's HTTP routes, answered by a software authenticator written here
//! (P-256, "none" attestation, CBOR by hand) so every byte webauthn-rs checks is produced the way
//! an authenticator would: registration needs a fresh authentication, usernameless sign-in,
//! a passkey as the second step of a log-in, step-up, removal, and the refusals (a challenge
//! used twice or expired, a wrong origin, a forged signature, another user's challenge).

mod common;

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::{decode_claims, As, TestApp, PASSWORD};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use totp_rs::TOTP;

const ORIGIN: &str = "http://localhost:8787";

async fn app() -> TestApp {
    TestApp::with_env(&[
        ("WEBAUTHN_RP_ID", "localhost"),
        ("WEBAUTHN_ORIGINS", ORIGIN),
    ])
    .await
}

/// A software authenticator holding one discoverable credential.
struct Authenticator {
    key: SigningKey,
    cred_id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
    /// Backup eligible (a synced passkey): `swk` instead of `hwk`.
    synced: bool,
    origin: String,
}

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const AT: u8 = 0x40;

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    match b.len() {
        n if n < 24 => out.push(0x40 | n as u8),
        n if n < 256 => out.extend([0x58, n as u8]),
        n => {
            out.push(0x59);
            out.extend((n as u16).to_be_bytes());
        }
    }
    out.extend(b);
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    assert!(s.len() < 24);
    out.push(0x60 | s.len() as u8);
    out.extend(s.as_bytes());
}

impl Authenticator {
    fn new(synced: bool) -> Authenticator {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).unwrap();
        let mut cred_id = vec![0u8; 32];
        getrandom::getrandom(&mut cred_id).unwrap();
        Authenticator {
            key: SigningKey::from_slice(&seed).unwrap(),
            cred_id,
            user_handle: Vec::new(),
            counter: 0,
            synced,
            origin: ORIGIN.into(),
        }
    }

    fn flags(&self) -> u8 {
        UP | UV | if self.synced { BE } else { 0 }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": options["publicKey"]["challenge"],
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    /// `navigator.credentials.create()`: the registration answer as the pages send it.
    fn create(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().unwrap();
        self.user_handle = B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap();
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(&mut cose, point.x().unwrap());
        cose.push(0x22);
        cbor_bytes(&mut cose, point.y().unwrap());
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | AT);
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((self.cred_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.cred_id);
        auth_data.extend(cose);
        let mut att = vec![0xa3];
        cbor_text(&mut att, "fmt");
        cbor_text(&mut att, "none");
        cbor_text(&mut att, "attStmt");
        att.push(0xa0);
        cbor_text(&mut att, "authData");
        cbor_bytes(&mut att, &auth_data);
        let id = B64.encode(&self.cred_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "attestationObject": B64.encode(att),
                "clientDataJSON": B64.encode(self.client_data("webauthn.create", options)),
            },
            "extensions": {},
        })
    }

    /// `navigator.credentials.get()`: an assertion over the challenge, user verified.
    fn get(&mut self, options: &Value) -> Value {
        let rp_id = options["publicKey"]["rpId"].as_str().unwrap();
        self.counter += 1;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags());
        auth_data.extend(self.counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", options);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let sig: Signature = self.key.sign(&signed);
        let id = B64.encode(&self.cred_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(sig.to_der().as_bytes()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "extensions": {},
        })
    }
}

/// Adds a passkey held by `a` to `who`'s account; returns its id.
async fn register(t: &TestApp, who: &As, a: &mut Authenticator, name: &str) -> String {
    let r = t.post("/api/passkeys/options", who, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cred = a.create(&r.body);
    let r = t
        .post(
            "/api/passkeys",
            who,
            json!({ "challenge_id": r.body["challenge_id"], "name": name, "credential": cred }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn passkey_login(t: &TestApp, a: &mut Authenticator) -> common::Resp {
    let r = t
        .post("/auth/passkey/options", &As::anonymous(), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cred = a.get(&r.body);
    t.post(
        "/auth/passkey/login",
        &As::anonymous(),
        json!({ "challenge_id": r.body["challenge_id"], "credential": cred }),
    )
    .await
}

#[tokio::test]
async fn a_registered_passkey_signs_in_without_an_address() {
    let t = app().await;
    let (_, who) = t.signup_login("pk@example.com").await;
    let r = t.post("/api/passkeys/options", &who, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let pk = &r.body["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    let handle = B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap();
    assert_eq!(handle.len(), 16, "a random handle, not the user id");
    assert!(!pk.to_string().contains(who.user.as_deref().unwrap()));

    let mut a = Authenticator::new(false);
    let cred = a.create(&r.body);
    let r = t
        .post(
            "/api/passkeys",
            &who,
            json!({ "challenge_id": r.body["challenge_id"], "name": "laptop", "credential": cred }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = t.get("/api/passkeys", &who).await;
    assert_eq!(r.body["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["passkeys"][0]["name"], "laptop");
    assert_eq!(r.body["passkeys"][0]["last_used_at"], Value::Null);

    let r = passkey_login(&t, &mut a).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["amr"], json!(["hwk", "mfa"]));
    assert_eq!(r.body["acr"], "urn:edge-auth:acr:mfa");
    let claims = decode_claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"].as_str(), who.user.as_deref());
    assert_eq!(claims["amr"], json!(["hwk", "mfa"]));
    let r = t.get("/api/passkeys", &who).await;
    assert!(r.body["passkeys"][0]["last_used_at"].is_i64());
    assert!(t
        .audit_actions()
        .await
        .contains(&"login.passkey".to_owned()));

    // A synced (backup-eligible) passkey is `swk`.
    let mut synced = Authenticator::new(true);
    register(&t, &who, &mut synced, "phone").await;
    let r = passkey_login(&t, &mut synced).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["amr"], json!(["swk", "mfa"]));
}

#[tokio::test]
async fn a_challenge_works_once_and_not_after_it_expires() {
    let t = app().await;
    let (_, who) = t.signup_login("once@example.com").await;
    let mut a = Authenticator::new(false);
    register(&t, &who, &mut a, "key").await;

    let r = t
        .post("/auth/passkey/options", &As::anonymous(), json!({}))
        .await;
    let options = r.body.clone();
    let cred = a.get(&options);
    let body = json!({ "challenge_id": options["challenge_id"], "credential": cred });
    let r = t
        .post("/auth/passkey/login", &As::anonymous(), body.clone())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = t.post("/auth/passkey/login", &As::anonymous(), body).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "passkey_challenge_invalid")
    );

    let r = t
        .post("/auth/passkey/options", &As::anonymous(), json!({}))
        .await;
    let cred = a.get(&r.body);
    t.state.clock.advance_secs(181);
    let r = t
        .post(
            "/auth/passkey/login",
            &As::anonymous(),
            json!({ "challenge_id": r.body["challenge_id"], "credential": cred }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "passkey_challenge_invalid")
    );
}

#[tokio::test]
async fn a_wrong_origin_a_forged_signature_or_an_unknown_key_is_refused() {
    let t = app().await;
    let (_, who) = t.signup_login("forged@example.com").await;
    let mut a = Authenticator::new(false);
    register(&t, &who, &mut a, "key").await;

    // Another site's page asked for the assertion.
    a.origin = "http://evil.localhost:8787".into();
    let r = passkey_login(&t, &mut a).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "passkey_invalid")
    );
    a.origin = ORIGIN.into();

    // One bit of the signature flipped.
    let r = t
        .post("/auth/passkey/options", &As::anonymous(), json!({}))
        .await;
    let mut cred = a.get(&r.body);
    let mut sig = B64
        .decode(cred["response"]["signature"].as_str().unwrap())
        .unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    cred["response"]["signature"] = json!(B64.encode(sig));
    let r = t
        .post(
            "/auth/passkey/login",
            &As::anonymous(),
            json!({ "challenge_id": r.body["challenge_id"], "credential": cred }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "passkey_invalid")
    );

    // A key this site never registered, claiming the account's handle.
    let mut stranger = Authenticator::new(false);
    stranger.user_handle = a.user_handle.clone();
    let r = passkey_login(&t, &mut stranger).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "passkey_invalid")
    );

    // Garbage where the credential goes is a body error, not a crash.
    let r = t
        .post(
            "/auth/passkey/login",
            &As::anonymous(),
            json!({ "challenge_id": "x", "credential": { "id": 1 } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);

    // The real key still works.
    let r = passkey_login(&t, &mut a).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn adding_and_removing_need_a_fresh_authentication_and_stay_on_the_account() {
    let t = app().await;
    let (_, alice) = t.signup_login("alice-pk@example.com").await;
    let (_, bob) = t.signup_login("bob-pk@example.com").await;

    // Bob cannot finish a registration Alice started.
    let r = t.post("/api/passkeys/options", &alice, json!({})).await;
    let mut a = Authenticator::new(false);
    let cred = a.create(&r.body);
    let r = t
        .post(
            "/api/passkeys",
            &bob,
            json!({ "challenge_id": r.body["challenge_id"], "credential": cred }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "passkey_challenge_invalid")
    );

    let id = register(&t, &alice, &mut a, "key").await;
    // The same credential twice: refused.
    let r = t.post("/api/passkeys/options", &alice, json!({})).await;
    let excluded = r.body["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(
        excluded.len(),
        1,
        "the page's authenticator is told to skip it"
    );
    // Bob cannot remove Alice's passkey.
    let r = t
        .call(Method::DELETE, &format!("/api/passkeys/{id}"), &bob, None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "passkey_not_found")
    );

    // Ten minutes later the session's authentication is too old for either.
    t.state.clock.advance_secs(600);
    let r = t.post("/api/passkeys/options", &alice, json!({})).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "insufficient_user_authentication")
    );
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("max_age=300"));
    let r = t
        .call(Method::DELETE, &format!("/api/passkeys/{id}"), &alice, None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "insufficient_user_authentication")
    );

    // Step-up with the passkey itself, then the removal goes through.
    let r = t
        .post("/auth/step-up/passkey/options", &alice, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cred = a.get(&r.body);
    let r = t
        .post(
            "/auth/step-up/passkey",
            &alice,
            json!({ "challenge_id": r.body["challenge_id"], "credential": cred }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["amr"], json!(["hwk", "mfa"]));
    let now = t.state.clock.now_ms() / 1000;
    assert!((r.body["auth_time"].as_i64().unwrap() - now).abs() <= 1);
    let r = t
        .call(Method::DELETE, &format!("/api/passkeys/{id}"), &alice, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = t.get("/api/passkeys", &alice).await;
    assert_eq!(r.body["passkeys"], json!([]));
    // A removed passkey signs nobody in.
    let r = passkey_login(&t, &mut a).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "passkey_invalid")
    );
    let r = t
        .post("/auth/step-up/passkey/options", &alice, json!({}))
        .await;
    assert_eq!((r.status, r.error()), (StatusCode::CONFLICT, "no_passkeys"));
    let actions = t.audit_actions().await;
    for a in ["passkey.register", "passkey.remove", "session.step_up"] {
        assert!(actions.contains(&a.to_owned()), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn a_passkey_is_the_second_step_of_a_password_log_in() {
    let t = app().await;
    let (_, who) = t.signup_login("second@example.com").await;
    // TOTP on: the password log-in becomes two steps.
    let r = t.post("/api/mfa/totp/enroll", &who, json!({})).await;
    let totp = TOTP::from_url(r.body["otpauth_uri"].as_str().unwrap()).unwrap();
    let code = totp.generate((t.state.clock.now_ms() / 1000) as u64);
    let r = t
        .post("/api/mfa/totp/confirm", &who, json!({ "code": code }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut a = Authenticator::new(false);
    register(&t, &who, &mut a, "key").await;

    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({ "email": "second@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.body["mfa_required"], true, "{:?}", r.body);
    assert_eq!(
        r.body["methods"],
        json!(["totp", "recovery_code", "passkey"])
    );
    let mfa_token = r.body["mfa_token"].as_str().unwrap().to_owned();
    // An options request without a live MFA challenge is refused.
    let r = t
        .post(
            "/auth/login/mfa/passkey/options",
            &As::anonymous(),
            json!({ "mfa_token": "nope" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "mfa_challenge_invalid")
    );
    let r = t
        .post(
            "/auth/login/mfa/passkey/options",
            &As::anonymous(),
            json!({ "mfa_token": mfa_token }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let allowed = r.body["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    let cred = a.get(&r.body);
    let r = t
        .post(
            "/auth/login/mfa/passkey",
            &As::anonymous(),
            json!({ "mfa_token": mfa_token, "challenge_id": r.body["challenge_id"], "credential": cred }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["amr"], json!(["pwd", "hwk", "mfa"]));
    assert!(r.body["access_token"].is_string());
    // The MFA challenge is spent: no second session from it.
    t.state.clock.advance_secs(30);
    let code = totp.generate((t.state.clock.now_ms() / 1000) as u64);
    let r = t
        .post(
            "/auth/login/mfa",
            &As::anonymous(),
            json!({ "mfa_token": mfa_token, "code": code }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "mfa_challenge_invalid")
    );
}

#[tokio::test]
async fn without_a_relying_party_the_passkey_routes_say_so() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("nopk@example.com").await;
    for (uri, as_) in [
        ("/auth/passkey/options", As::anonymous()),
        ("/api/passkeys/options", who.clone()),
    ] {
        let r = t.post(uri, &as_, json!({})).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::SERVICE_UNAVAILABLE, "passkeys_not_configured"),
            "{uri}"
        );
    }
    // Deleting the account removes its passkeys too (nothing to remove here; the route works).
    let r = t.get("/api/passkeys", &who).await;
    assert_eq!(r.body["passkeys"], json!([]));
}

#[tokio::test]
async fn deleting_the_account_removes_its_passkeys() {
    let t = app().await;
    let (_, who) = t.signup_login("gone-pk@example.com").await;
    let mut a = Authenticator::new(false);
    register(&t, &who, &mut a, "key").await;
    let r = t.call(Method::DELETE, "/api/account", &who, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    for table in ["passkeys", "webauthn_users", "webauthn_challenges"] {
        let n: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1"))
                .bind(who.user.as_deref().unwrap())
                .fetch_one(&t.state.db.pool)
                .await
                .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let r = passkey_login(&t, &mut a).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "passkey_invalid")
    );
}
