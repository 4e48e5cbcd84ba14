//! Signing keys: JWKS verifies issued tokens, rotation keeps old keys published until their
//! tokens expire, private keys are encrypted at rest, discovery documents.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use common::{As, TestApp};
use edge_auth_origin::domain::keys::AccessClaims;
use jwt_compact::alg::{Ed25519, Es256};
use jwt_compact::{AlgorithmExt, TimeOptions, UntrustedToken};
use serde_json::Value;

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

async fn jwks(t: &TestApp) -> (Value, Option<String>) {
    let r = t
        .send(
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    (r.body.clone(), r.header("cache-control").map(str::to_owned))
}

fn kids(set: &Value) -> Vec<String> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Verifies `token` against the published key with its kid (as the edge would).
fn verify(set: &Value, token: &str) -> AccessClaims {
    let t = UntrustedToken::new(token).unwrap();
    let kid = t.header().key_id.clone().unwrap();
    let jwk = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid published");
    match jwk["alg"].as_str().unwrap() {
        "EdDSA" => {
            assert_eq!(
                (jwk["kty"].as_str(), jwk["crv"].as_str()),
                (Some("OKP"), Some("Ed25519"))
            );
            let x: [u8; 32] = b64(jwk["x"].as_str().unwrap()).try_into().unwrap();
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
            let tok = Ed25519.validator::<AccessClaims>(&vk).validate(&t).unwrap();
            tok.claims()
                .validate_expiration(&TimeOptions::new(
                    chrono::Duration::seconds(60),
                    chrono::Utc::now,
                ))
                .unwrap();
            tok.claims().custom.clone()
        }
        "ES256" => {
            let mut sec1 = vec![4u8];
            sec1.extend(b64(jwk["x"].as_str().unwrap()));
            sec1.extend(b64(jwk["y"].as_str().unwrap()));
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
            Es256
                .validator::<AccessClaims>(&vk)
                .validate(&t)
                .unwrap()
                .claims()
                .custom
                .clone()
        }
        other => panic!("unexpected alg {other}"),
    }
}

#[tokio::test]
async fn issued_tokens_verify_against_the_published_jwks() {
    let t = TestApp::new().await;
    let (login, _) = t.signup_login("sam@example.com").await;
    let (set, cache) = jwks(&t).await;
    assert_eq!(cache.as_deref(), Some("public, max-age=300"));
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
    assert!(
        set["keys"][0].get("d").is_none(),
        "no private part published"
    );
    let c = verify(&set, login["access_token"].as_str().unwrap());
    assert_eq!(c.aud, "edge-auth");
}

#[tokio::test]
async fn es256_can_be_configured() {
    let t = TestApp::with_env(&[("SIGNING_ALG", "ES256")]).await;
    let (login, _) = t.signup_login("sue@example.com").await;
    let (set, _) = jwks(&t).await;
    assert_eq!(set["keys"][0]["alg"], "ES256");
    assert_eq!(set["keys"][0]["crv"], "P-256");
    verify(&set, login["access_token"].as_str().unwrap());
}

#[tokio::test]
async fn rotation_signs_with_the_new_key_and_keeps_the_old_one_until_its_tokens_expire() {
    let t = TestApp::new().await;
    let (login, _) = t.signup_login("tom@example.com").await;
    let (before, _) = jwks(&t).await;
    let old_kid = kids(&before)[0].clone();
    let r = t
        .call(
            Method::POST,
            "/admin/keys/rotate",
            &As::admin("usr_root"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new_kid = r.body["kid"].as_str().unwrap().to_owned();
    assert_eq!(r.body["retired"], serde_json::json!([old_kid]));
    let (after, _) = jwks(&t).await;
    assert_eq!(
        kids(&after),
        vec![new_kid.clone(), old_kid.clone()],
        "newest first, old still published"
    );
    // Old token still verifies; new tokens carry the new kid.
    verify(&after, login["access_token"].as_str().unwrap());
    let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
    let tok = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        UntrustedToken::new(tok).unwrap().header().key_id.as_deref(),
        Some(new_kid.as_str())
    );
    verify(&after, tok);
    // Once every token the old key signed has expired (15 min + leeway), it drops out.
    t.state.clock.advance_secs(900 + 61);
    let (later, _) = jwks(&t).await;
    assert_eq!(kids(&later), vec![new_kid]);
    assert!(t.audit_actions().await.contains(&"keys.rotate".to_owned()));
    // Non-admins cannot rotate.
    let r = t
        .call(
            Method::POST,
            "/admin/keys/rotate",
            &As::user("usr_x", "ses_x"),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "insufficient_permissions")
    );
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest_and_need_the_right_kek() {
    let t = TestApp::new().await;
    t.signup_login("uma@example.com").await;
    let enc: Vec<u8> = sqlx::query_scalar("SELECT private_enc FROM signing_keys")
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
    assert_eq!(enc.len(), 32 + 16, "ciphertext + tag");
    // Another KEK over the same database cannot sign.
    let mut env = common::base_env();
    env.insert("KEY_ENCRYPTION_KEY".into(), "ff".repeat(32));
    let config = edge_auth_origin::config::Config::from_map(&env).unwrap();
    let other = edge_auth_origin::AppState::new(config, t.state.db.clone(), t.state.clock.clone())
        .await
        .unwrap();
    let t2 = TestApp {
        router: edge_auth_origin::app(other.clone()),
        state: other,
        key: t.key.clone(),
    };
    let r = t2
        .post(
            "/auth/login",
            &As::anonymous(),
            serde_json::json!({"email": "uma@example.com", "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
    );
    assert!(
        r.body.get("detail").is_none(),
        "no internals leak: {:?}",
        r.body
    );
    // And the failed login left no half-written session.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn openid_configuration_names_the_issuer_and_jwks_uri() {
    let t = TestApp::with_env(&[("ISSUER", "https://auth.example.com/")]).await;
    let r = t
        .send(
            Request::get("/.well-known/openid-configuration")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["issuer"], "https://auth.example.com");
    assert_eq!(
        r.body["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert!(r.header("cache-control").unwrap().contains("max-age="));
}
