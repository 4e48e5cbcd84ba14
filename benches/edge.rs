//! Native micro-benchmarks of the edge core (`cargo bench --bench edge`). These time the pure
//! Rust stages; in the Worker, asymmetric signatures go through WebCrypto instead (see
//! docs/PERFORMANCE.md), so the ES256/EdDSA/RS256 numbers here are RustCrypto's, not the edge's.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use edge_auth::decision_cache::{CacheConfig, DecisionCache, Lookup, TokenKey};
use edge_auth::envelope::{self, EnvelopeKey};
use edge_auth::jwt::{validate, Algorithm, NativeVerifier, UntrustedToken, MAX_TOKEN_BYTES};
use edge_auth::policy::RoutePolicy;
use edge_auth::ratelimit::{KeyInput, KeyParts, LocalLimiter, Quota, RateKey};
use edge_auth::secret::SecretBytes;
use edge_auth::time::UnixMillis;
use edge_auth::webhook::{self, Provider, WebhookConfig, WebhookHeaders, WebhookSecret};

#[path = "../tests/jwt_support.rs"]
mod jwt_support;
use jwt_support::{at, block_on, claims, policy, TestKey, NOW};

const ROUTES: &str = r#"[
  {"id": "health",   "methods": ["GET"], "path": "/healthz", "access": "public"},
  {"id": "jwks",     "methods": ["GET"], "path": "/.well-known/**", "access": "public"},
  {"id": "auth",     "methods": ["POST"], "path": "/auth/**", "access": "public"},
  {"id": "pages",    "methods": ["GET", "HEAD"], "path": "/login", "access": "public", "upstream": "assets"},
  {"id": "signup-page", "methods": ["GET", "HEAD"], "path": "/signup", "access": "public", "upstream": "assets"},
  {"id": "static",   "methods": ["GET", "HEAD"], "path": "/static/**", "access": "public", "upstream": "assets"},
  {"id": "account",  "methods": ["GET", "HEAD"], "path": "/account", "access": "authenticated", "upstream": "assets"},
  {"id": "sessions-page", "methods": ["GET", "HEAD"], "path": "/sessions", "access": "authenticated", "upstream": "assets"},
  {"id": "admin-page", "methods": ["GET", "HEAD"], "path": "/admin", "access": {"permissions": ["rbac:admin"]}, "upstream": "assets"},
  {"id": "admin-api", "path": "/admin/**", "access": {"permissions": {"any_of": ["rbac:admin", "webhooks:admin"]}}},
  {"id": "internal", "path": "/internal/**", "access": {"permissions": ["internal:read"]}},
  {"id": "api",      "path": "/api/{version}/items/**", "access": "authenticated"}
]"#;

fn envelope_sign(c: &mut Criterion) {
    let key = EnvelopeKey::new(SecretBytes::new(vec![7u8; 32], 32).unwrap()).unwrap();
    let now = UnixMillis::from_secs(NOW);
    let user = [
        (envelope::USER, "user-1234"),
        (envelope::SESSION, "sess-5678"),
        (envelope::ROLES, "member,editor"),
        (envelope::PERMISSIONS, "items:read,items:write"),
        (envelope::ISSUER, "https://issuer.example"),
        (envelope::EXPIRES, "1893459600"),
    ];
    let mut g = c.benchmark_group("envelope");
    g.bench_function("sign/user (6 headers)", |b| {
        b.iter(|| {
            envelope::sign(
                &key,
                now,
                "GET",
                black_box("/api/v1/items?page=2"),
                user.iter().copied(),
            )
            .unwrap()
        })
    });
    g.bench_function("sign/anonymous", |b| {
        b.iter(|| {
            envelope::sign(&key, now, "GET", black_box("/healthz"), std::iter::empty()).unwrap()
        })
    });
    g.finish();
}

fn route_matching(c: &mut Criterion) {
    let p = RoutePolicy::from_json(ROUTES).unwrap();
    let mut g = c.benchmark_group("policy/route (12 rules)");
    for (name, method, path) in [
        ("first rule", "GET", "/healthz"),
        ("last rule", "GET", "/api/v1/items/42/parts"),
        ("fallback", "DELETE", "/nowhere/at/all"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(p.route(black_box(method), black_box(path)))
                    .id
                    .len()
            })
        });
    }
    g.finish();
}

/// A Stripe event of exactly `size` bytes, `id` first as Stripe writes it.
fn stripe_event(size: usize) -> Vec<u8> {
    let head = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","api_version":"2023-10-16","created":1686089970,"livemode":false,"pending_webhooks":1,"type":"payment_intent.succeeded","data":{"object":{"id":"pi_3NG8Dt2eZvKYlo2C0dXq","object":"payment_intent","amount":2000,"currency":"usd","metadata":{"order":"6735"},"description":""#;
    let tail = r#""}}}"#;
    let pad = size - head.len() - tail.len();
    let body = format!("{head}{}{tail}", "x".repeat(pad));
    assert_eq!(body.len(), size);
    body.into_bytes()
}

fn webhook_verify(c: &mut Criterion) {
    let secret = "whsec_benchbenchbenchbenchbenchbench";
    let cfg = WebhookConfig::new(
        Provider::Stripe,
        vec![WebhookSecret::parse(Provider::Stripe, secret).unwrap()],
    );
    let now = UnixMillis::from_secs(NOW);
    // "signature": header parse + HMAC-SHA256 of `t.body` + constant-time compare.
    // "delivery": the same, then the event id read from the body (what the Worker runs).
    let mut g = c.benchmark_group("webhook/stripe verify");
    for size in [1024usize, 64 * 1024] {
        let body = stripe_event(size);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{NOW}.").as_bytes());
        mac.update(&body);
        let sig: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let headers = WebhookHeaders::new().with("stripe-signature", &format!("t={NOW},v1={sig}"));
        let v = webhook::verify(&cfg, &headers, &body, now).unwrap();
        assert_eq!(v.delivery_id(), Some("evt_1NG8Du2eZvKYlo2CUI79vXWy"));
        g.throughput(Throughput::Bytes(size as u64));
        let kib = size / 1024;
        g.bench_with_input(
            BenchmarkId::new("signature", format!("{kib} KiB")),
            &body,
            |b, body| {
                b.iter(|| webhook::verify_signature(&cfg, &headers, black_box(body), now).unwrap())
            },
        );
        g.bench_with_input(
            BenchmarkId::new("delivery", format!("{kib} KiB")),
            &body,
            |b, body| b.iter(|| webhook::verify(&cfg, &headers, black_box(body), now).unwrap()),
        );
    }
    g.finish();
}

fn jwt_validate(c: &mut Criterion) {
    let mut g = c.benchmark_group("jwt/parse + validate (native verifier)");
    let mut claims = claims();
    claims["sid"] = json!("sess-5678");
    claims["roles"] = json!(["member"]);
    claims["permissions"] = json!(["items:read", "items:write"]);
    for alg in [
        Algorithm::Hs256,
        Algorithm::EdDsa,
        Algorithm::Es256,
        Algorithm::Rs256,
    ] {
        let key = TestKey::new(alg, "k1");
        let keys = key.set();
        let token = key.mint(&claims);
        let (issuer, time) = (policy(), at(NOW));
        block_on(validate(
            &UntrustedToken::parse(&token, MAX_TOKEN_BYTES).unwrap(),
            &keys,
            &issuer,
            &time,
            &NativeVerifier,
        ))
        .unwrap();
        g.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                let t = UntrustedToken::parse(black_box(&token), MAX_TOKEN_BYTES).unwrap();
                block_on(validate(&t, &keys, &issuer, &time, &NativeVerifier)).unwrap()
            })
        });
        if alg == Algorithm::Hs256 {
            g.bench_function("parse only (HS256 token)", |b| {
                b.iter(|| {
                    UntrustedToken::parse(black_box(&token), MAX_TOKEN_BYTES)
                        .unwrap()
                        .kid()
                        .map(str::len)
                })
            });
        }
    }
    g.finish();
}

fn state(c: &mut Criterion) {
    let now = UnixMillis::from_secs(NOW);
    let token = format!(
        "eyJhbGciOiJFUzI1NiJ9.{}.{}",
        "a".repeat(400),
        "s".repeat(86)
    );
    let mut cache = DecisionCache::new(CacheConfig::default());
    let texts: Vec<String> = (0..10_000).map(|i| format!("{token}{i}")).collect();
    let keys: Vec<TokenKey> = texts.iter().map(|t| TokenKey::of(t)).collect();
    for k in &keys {
        cache.insert(k, "claims".to_owned(), now.plus_secs(3600), now);
    }
    let mut g = c.benchmark_group("state");
    let mut i = 0usize;
    g.bench_function("decision cache hit (10k entries)", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            assert!(matches!(cache.get(&keys[i], now), Lookup::Hit(_)));
        })
    });
    g.bench_function(
        "token key (SHA-256 of the signature, 500 B ES256 token)",
        |b| b.iter(|| TokenKey::of(black_box(&token))),
    );
    let q = Quota::per_minute(100).unwrap();
    let mut limiter = LocalLimiter::new(10_000);
    let rk: Vec<RateKey> = (0..1_000)
        .map(|i| {
            RateKey::build(
                "r",
                KeyParts::IP,
                &KeyInput::new().ip(&format!("10.0.{}.{}", i >> 8, i & 255)),
            )
            .unwrap()
        })
        .collect();
    let mut j = 0usize;
    g.bench_function("GCRA check (local, 1k keys)", |b| {
        b.iter(|| {
            j = (j + 1) % rk.len();
            limiter.check(rk[j], q, now, 1)
        })
    });
    g.bench_function("rate key derivation (ip)", |b| {
        b.iter(|| {
            RateKey::build(
                "r",
                KeyParts::IP,
                &KeyInput::new().ip(black_box("192.0.2.1")),
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(40);
    targets = envelope_sign, route_matching, webhook_verify, jwt_validate, state
}
criterion_main!(benches);
