//! The JWKS cache state machine, driven the way the adapter drives it, with a fake clock.

#[path = "jwt_support.rs"]
mod support;

use edge_auth::jwt::jwks::{ttl_from_cache_control, FetchReason, JwksCache, JwksError, JwksPolicy};
use edge_auth::jwt::Algorithm;
use edge_auth::reason::Reason;
use edge_auth::time::UnixMillis;
use serde_json::json;
use support::TestKey;

const T0: u64 = 1_900_000_000;

fn t(secs: u64) -> UnixMillis {
    UnixMillis::from_secs(T0 + secs)
}

fn body(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

#[test]
fn cache_control_sets_the_ttl_within_bounds() {
    let p = JwksPolicy::default();
    let rows: [(&str, Option<&str>, u64); 12] = [
        ("max-age is honoured", Some("public, max-age=3600"), 3600),
        (
            "s-maxage wins over max-age",
            Some("max-age=100, s-maxage=7200"),
            7200,
        ),
        (
            "directive names are case-insensitive",
            Some("Max-Age=600"),
            600,
        ),
        ("a quoted value is accepted", Some("max-age=\"600\""), 600),
        (
            "a too-short max-age is raised to the minimum",
            Some("max-age=5"),
            60,
        ),
        (
            "a too-long max-age is capped at the maximum",
            Some("max-age=9999999"),
            86_400,
        ),
        (
            "no-store means the minimum",
            Some("no-store, max-age=3600"),
            60,
        ),
        (
            "no-cache means the minimum",
            Some("max-age=3600, no-cache"),
            60,
        ),
        ("no header means the default", None, 300),
        (
            "a header without max-age means the default",
            Some("public"),
            300,
        ),
        (
            "a garbled max-age means the default",
            Some("max-age=soon"),
            300,
        ),
        (
            "a negative max-age means the default",
            Some("max-age=-1"),
            300,
        ),
    ];
    for (sentence, header, ttl) in rows {
        assert_eq!(ttl_from_cache_control(header, &p), ttl, "{sentence}");
    }
    let tight = JwksPolicy {
        min_ttl_secs: 10,
        max_ttl_secs: 20,
        ..p
    };
    assert_eq!(ttl_from_cache_control(Some("max-age=15"), &tight), 15);
    assert_eq!(ttl_from_cache_control(Some("max-age=25"), &tight), 20);
}

#[test]
fn with_no_keys_at_all_the_issuer_is_unavailable_not_unauthorized() {
    let mut c = JwksCache::new(JwksPolicy::default());
    assert!(c.needs_refresh(t(0)));
    let err = c.usable_keys(t(0)).unwrap_err();
    assert_eq!(err.reason(), Reason::JwksUnavailable);
    let ticket = c.begin_fetch(t(0)).expect("first fetch starts");
    assert_eq!(ticket.reason, FetchReason::Initial);
    c.on_fetch_err(t(1));
    match c.usable_keys(t(1)) {
        Err(JwksError::Unavailable { retry_after_secs }) => assert_eq!(retry_after_secs, 10),
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_one_fetch_is_in_flight_until_it_ends_or_its_lease_expires() {
    let mut c = JwksCache::new(JwksPolicy::default());
    let first = c.begin_fetch(t(0)).expect("first fetch");
    assert_eq!(first.lease_until, t(10));
    assert_eq!(c.begin_fetch(t(1)), None, "a second scheduled fetch waits");
    assert_eq!(
        c.begin_unknown_kid_fetch(t(1)),
        None,
        "an unknown-kid fetch waits too"
    );
    assert!(
        c.begin_fetch(t(10)).is_some(),
        "a lost fetch's lease expires"
    );
    let k = TestKey::new(Algorithm::EdDsa, "a");
    assert_eq!(
        c.on_fetch_ok(t(11), &body(&[&k]), Some("max-age=600")),
        Ok(1)
    );
    assert!(!c.needs_refresh(t(12)));
    assert_eq!(c.begin_fetch(t(12)), None, "fresh keys need no fetch");
    assert_eq!(c.fetched_at(), Some(t(11)));
    assert_eq!(c.fresh_until(), Some(t(611)));
}

#[test]
fn fresh_keys_are_served_then_refreshed_after_the_ttl() {
    let mut c = JwksCache::new(JwksPolicy::default());
    let a = TestKey::new(Algorithm::EdDsa, "a");
    let b = TestKey::new(Algorithm::EdDsa, "b");
    let _ = c.begin_fetch(t(0)).unwrap();
    c.on_fetch_ok(t(0), &body(&[&a]), Some("max-age=120"))
        .unwrap();
    assert_eq!(c.usable_keys(t(119)).unwrap().keys()[0].kid(), Some("a"));
    assert!(!c.is_stale(t(119)));
    assert!(c.needs_refresh(t(120)));
    let ticket = c.begin_fetch(t(120)).expect("refresh after ttl");
    assert_eq!(ticket.reason, FetchReason::Expired);
    assert!(
        c.usable_keys(t(121)).is_ok(),
        "stale keys are served during the refresh"
    );
    c.on_fetch_ok(t(121), &body(&[&b]), None).unwrap();
    assert_eq!(
        c.usable_keys(t(122)).unwrap().keys()[0].kid(),
        Some("b"),
        "rotated"
    );
}

#[test]
fn an_unknown_kid_triggers_at_most_one_refetch_per_interval() {
    let mut c = JwksCache::new(JwksPolicy::default());
    let a = TestKey::new(Algorithm::EdDsa, "a");
    let _ = c.begin_fetch(t(0)).unwrap();
    c.on_fetch_ok(t(0), &body(&[&a]), Some("max-age=3600"))
        .unwrap();

    let ticket = c
        .begin_unknown_kid_fetch(t(5))
        .expect("first unknown kid refetches");
    assert_eq!(ticket.reason, FetchReason::UnknownKid);
    c.on_fetch_ok(t(6), &body(&[&a]), Some("max-age=3600"))
        .unwrap();
    assert_eq!(
        c.begin_unknown_kid_fetch(t(7)),
        None,
        "a second unknown kid within 30 s waits"
    );
    assert_eq!(
        c.begin_unknown_kid_fetch(t(34)),
        None,
        "still within 30 s of the last refetch"
    );
    assert!(
        c.begin_unknown_kid_fetch(t(35)).is_some(),
        "30 s later one more is allowed"
    );
    c.on_fetch_err(t(36));
    assert_eq!(
        c.begin_unknown_kid_fetch(t(40)),
        None,
        "failures do not reset the interval"
    );
}

#[test]
fn errors_keep_the_last_good_keys_until_the_max_staleness() {
    let mut c = JwksCache::new(JwksPolicy::default());
    let a = TestKey::new(Algorithm::Es256, "a");
    let _ = c.begin_fetch(t(0)).unwrap();
    c.on_fetch_ok(t(0), &body(&[&a]), Some("max-age=60"))
        .unwrap();

    // The endpoint goes down after the TTL.
    let _ = c.begin_fetch(t(60)).expect("refresh due");
    c.on_fetch_err(t(61));
    assert_eq!(c.consecutive_failures(), 1);
    assert!(c.is_stale(t(61)));
    assert_eq!(
        c.usable_keys(t(61)).unwrap().len(),
        1,
        "stale keys keep working"
    );
    assert!(
        !c.needs_refresh(t(65)),
        "no refetch storm: wait the error retry delay"
    );
    assert_eq!(c.begin_fetch(t(65)), None);
    assert!(c.needs_refresh(t(71)));

    // A 200 with garbage counts as a failure and keeps the keys too.
    let _ = c.begin_fetch(t(71)).unwrap();
    let err = c.on_fetch_ok(t(72), "<html>oops</html>", None).unwrap_err();
    assert!(matches!(err, JwksError::InvalidJwks(_)), "{err:?}");
    let _ = c.begin_fetch(t(90)).unwrap();
    let err = c.on_fetch_ok(t(90), r#"{"keys":[]}"#, None).unwrap_err();
    assert!(
        matches!(err, JwksError::InvalidJwks(_)),
        "an empty set does not replace keys"
    );
    assert_eq!(c.consecutive_failures(), 3);
    assert_eq!(c.usable_keys(t(90)).unwrap().keys()[0].kid(), Some("a"));

    // Fresh until 60, plus 24 h of staleness: usable until then, unusable after.
    let edge = 60 + 86_400;
    assert!(
        c.usable_keys(t(edge - 1)).is_ok(),
        "usable one second before max staleness"
    );
    let err = c.usable_keys(t(edge)).unwrap_err();
    assert_eq!(err.reason(), Reason::JwksUnavailable);

    // Recovery resets everything.
    let _ = c.begin_fetch(t(edge)).unwrap();
    c.on_fetch_ok(t(edge), &body(&[&a]), None).unwrap();
    assert_eq!(c.consecutive_failures(), 0);
    assert!(c.usable_keys(t(edge + 1)).is_ok());
}

#[test]
fn a_short_max_staleness_is_honoured() {
    let policy = JwksPolicy {
        max_staleness_secs: 300,
        ..JwksPolicy::default()
    };
    let mut c = JwksCache::new(policy);
    let a = TestKey::new(Algorithm::Hs256, "a");
    let _ = c.begin_fetch(t(0)).unwrap();
    c.on_fetch_ok(t(0), &body(&[&a]), Some("max-age=60"))
        .unwrap();
    assert!(c.usable_keys(t(359)).is_ok());
    assert!(c.usable_keys(t(360)).is_err());
}

#[test]
fn a_key_fingerprint_changes_with_its_material_or_algorithm_not_its_kid() {
    let a = TestKey::new(Algorithm::Es256, "k1");
    let b = TestKey::new(Algorithm::Es256, "k1"); // same kid, new material (a rotation)
    let set_a = support::jwks(&[&a]);
    let set_b = support::jwks(&[&b]);
    let fa = set_a.keys()[0].fingerprint();
    assert_eq!(fa, set_a.keys()[0].fingerprint(), "stable");
    assert_ne!(
        fa,
        set_b.keys()[0].fingerprint(),
        "a reused kid must not share a cached import"
    );
    let mut renamed = a.jwk.clone();
    renamed["kid"] = json!("other");
    let set_c =
        edge_auth::jwt::KeySet::from_jwks_json(&json!({"keys": [renamed]}).to_string()).unwrap();
    assert_eq!(
        fa,
        set_c.keys()[0].fingerprint(),
        "the kid is not part of the key"
    );
}
