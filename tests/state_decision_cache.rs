//! The decision cache with an injected clock: bounds, TTL capped by `exp`, LRU order, negatives.

use edge_auth::decision_cache::{CacheConfig, DecisionCache, Inserted, Lookup, TokenKey};
use edge_auth::reason::Reason;
use edge_auth::time::UnixMillis;

const T0: UnixMillis = UnixMillis(1_700_000_000_000);

fn at(ms: u64) -> UnixMillis {
    T0.plus_millis(ms)
}

/// A token that expires in an hour.
fn far_exp() -> UnixMillis {
    at(3_600_000)
}

/// Token `i` (each with its own signature segment).
fn tok(i: usize) -> TokenKey<'static> {
    TokenKey::of(Box::leak(
        format!("header.payload-{i}.signature-{i}").into_boxed_str(),
    ))
}

fn config(max_entries: usize, max_bytes: usize) -> CacheConfig {
    CacheConfig {
        max_entries,
        max_bytes,
        ttl_ms: 60_000,
        negative_ttl_ms: 5_000,
        max_negative_entries: 3,
    }
}

fn value(i: usize) -> String {
    format!("claims-{i}")
}

#[test]
fn a_cached_decision_is_a_hit_until_its_ttl() {
    let mut c = DecisionCache::new(config(10, 1 << 20));
    assert_eq!(
        c.insert(&tok(1), value(1), far_exp(), at(0)),
        Inserted::Stored { ttl_ms: 60_000 }
    );
    assert_eq!(c.get(&tok(1), at(59_999)), Lookup::Hit(&value(1)));
    assert_eq!(c.get(&tok(1), at(60_000)), Lookup::Miss);
    assert!(c.is_empty(), "the expired entry was dropped");
    assert_eq!(c.stats().expirations, 1);
}

#[test]
fn the_ttl_is_capped_by_the_token_expiry() {
    let mut c = DecisionCache::new(config(10, 1 << 20));
    let exp = at(10_000);
    assert_eq!(
        c.insert(&tok(1), value(1), exp, at(0)),
        Inserted::Stored { ttl_ms: 10_000 }
    );
    assert!(matches!(c.get(&tok(1), at(9_999)), Lookup::Hit(_)));
    assert_eq!(
        c.get(&tok(1), exp),
        Lookup::Miss,
        "never served at or past exp"
    );
}

#[test]
fn an_already_expired_token_is_not_cached() {
    let mut c = DecisionCache::new(config(10, 1 << 20));
    assert_eq!(
        c.insert(&tok(1), value(1), at(0), at(0)),
        Inserted::NotStoredExpired
    );
    assert_eq!(
        c.insert(&tok(1), value(1), at(0), at(5)),
        Inserted::NotStoredExpired
    );
    assert!(c.is_empty());
}

#[test]
fn the_entry_bound_evicts_the_least_recently_used() {
    let mut c = DecisionCache::new(config(3, 1 << 20));
    for i in 0..3 {
        c.insert(&tok(i), value(i), far_exp(), at(0));
    }
    assert!(matches!(c.get(&tok(0), at(1)), Lookup::Hit(_))); // 0 is now the most recent
    c.insert(&tok(3), value(3), far_exp(), at(2));
    assert_eq!(c.len(), 3);
    assert_eq!(
        c.get(&tok(1), at(3)),
        Lookup::Miss,
        "1 was least recently used"
    );
    for i in [0, 2, 3] {
        assert!(matches!(c.get(&tok(i), at(3)), Lookup::Hit(_)), "{i}");
    }
    assert_eq!(c.stats().evictions, 1);
}

#[test]
fn the_byte_bound_holds_whatever_the_entry_count() {
    let per_entry = DecisionCache::<String>::entry_overhead() + std::mem::size_of::<String>();
    let big = |i: usize| {
        let mut s = format!("{i:0>1000}"); // 1000 heap bytes each
        s.shrink_to_fit();
        s
    };
    let signed = "header.payload-45".len(); // what each of the survivors keeps of its token
    let budget = 5 * (per_entry + 1000 + signed);
    let mut c = DecisionCache::new(config(1_000, budget));
    for i in 0..50 {
        c.insert(&tok(i), big(i), far_exp(), at(0));
        assert!(c.bytes() <= budget, "{} > {budget}", c.bytes());
    }
    assert_eq!(c.len(), 5);
    // The five most recent survive.
    for i in 45..50 {
        assert!(matches!(c.get(&tok(i), at(1)), Lookup::Hit(_)));
    }
}

#[test]
fn an_entry_larger_than_the_whole_budget_is_refused() {
    let mut c = DecisionCache::new(config(10, 500));
    assert_eq!(
        c.insert(&tok(1), "x".repeat(1_000), far_exp(), at(0)),
        Inserted::NotStoredTooLarge
    );
    assert_eq!(c.bytes(), 0);
}

#[test]
fn replacing_an_entry_keeps_the_byte_count_exact() {
    let mut c = DecisionCache::new(config(10, 1 << 20));
    c.insert(&tok(1), "a".repeat(100), far_exp(), at(0));
    let one = c.bytes();
    c.insert(&tok(1), "a".repeat(100), far_exp(), at(1));
    assert_eq!(c.bytes(), one);
    assert!(c.remove(&tok(1)));
    assert_eq!(c.bytes(), 0);
}

#[test]
fn a_bad_signature_is_answered_from_the_cache_for_a_short_while() {
    let mut c: DecisionCache<String> = DecisionCache::new(config(10, 1 << 20));
    c.insert_negative(&tok(9), Reason::TokenSignatureInvalid, at(0));
    assert_eq!(
        c.get(&tok(9), at(4_999)),
        Lookup::Negative(Reason::TokenSignatureInvalid)
    );
    assert_eq!(c.get(&tok(9), at(5_000)), Lookup::Miss);
    assert_eq!(c.negative_len(), 0);
}

#[test]
fn a_flood_of_bad_tokens_cannot_evict_good_decisions() {
    let mut c = DecisionCache::new(config(10, 1 << 20));
    c.insert(&tok(0), value(0), far_exp(), at(0));
    for i in 100..1_100 {
        c.insert_negative(&tok(i), Reason::TokenSignatureInvalid, at(1));
    }
    assert_eq!(c.negative_len(), 3, "negatives have their own bound");
    assert_eq!(c.get(&tok(0), at(2)), Lookup::Hit(&value(0)));
    assert_eq!(
        c.get(&tok(1_099), at(2)),
        Lookup::Negative(Reason::TokenSignatureInvalid)
    );
    assert_eq!(
        c.get(&tok(100), at(2)),
        Lookup::Miss,
        "oldest negatives went first"
    );
}

#[test]
fn keys_are_hashes_of_the_signature_and_show_no_claims() {
    let t = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    assert_eq!(TokenKey::of(t).hash(), TokenKey::of(t).hash());
    assert_ne!(
        TokenKey::of(t).hash(),
        TokenKey::of("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lo").hash()
    );
    // Same signature, other signed part: the same map key (the entry tells them apart).
    assert_eq!(
        TokenKey::of(t).hash(),
        TokenKey::of("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIyIn0.c2ln").hash()
    );
    let shown = format!("{:?}", TokenKey::of(t));
    assert!(!shown.contains("eyJ") && !shown.contains("c2ln"), "{shown}");
}

/// The signed part is compared in full: a token that copies a cached token's signature onto
/// other claims is not that token.
#[test]
fn a_copied_signature_on_other_claims_is_a_miss() {
    let genuine = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl";
    let truncated = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ.c2lnbmF0dXJl";
    let mut c = DecisionCache::new(config(10, 1 << 20));
    c.insert(&TokenKey::of(genuine), value(1), far_exp(), at(0));
    assert_eq!(c.get(&TokenKey::of(forged), at(1)), Lookup::Miss);
    assert_eq!(c.get(&TokenKey::of(truncated), at(1)), Lookup::Miss);
    assert_eq!(c.get(&TokenKey::of("c2lnbmF0dXJl"), at(1)), Lookup::Miss);
    // The forgery fails its check and is cached as such, beside the genuine decision.
    c.insert_negative(&TokenKey::of(forged), Reason::TokenSignatureInvalid, at(2));
    assert_eq!(
        c.get(&TokenKey::of(forged), at(3)),
        Lookup::Negative(Reason::TokenSignatureInvalid)
    );
    assert_eq!(c.get(&TokenKey::of(genuine), at(3)), Lookup::Hit(&value(1)));
    assert_eq!(c.get(&TokenKey::of(truncated), at(3)), Lookup::Miss);
    // Re-verifying the genuine token replaces neither the other's negative entry…
    c.insert(&TokenKey::of(genuine), value(2), far_exp(), at(4));
    assert_eq!(c.get(&TokenKey::of(genuine), at(5)), Lookup::Hit(&value(2)));
    // …nor can a removal for the forgery drop the genuine decision.
    assert!(c.remove(&TokenKey::of(forged)));
    assert_eq!(c.get(&TokenKey::of(genuine), at(6)), Lookup::Hit(&value(2)));
    assert_eq!(c.len(), 1);
}

/// A positive entry is charged for the signed part it keeps.
#[test]
fn the_signed_part_counts_against_the_byte_bound() {
    let long = format!("h.{}.s", "p".repeat(4096));
    let mut c = DecisionCache::new(config(10, 1 << 20));
    c.insert(&TokenKey::of("h.p.s"), value(1), far_exp(), at(0));
    let short = c.bytes();
    c.clear();
    c.insert(&TokenKey::of(&long), value(1), far_exp(), at(0));
    assert_eq!(c.bytes() - short, 4095);
}

#[test]
fn disabled_caching_stores_nothing() {
    let mut c = DecisionCache::new(config(0, 1 << 20));
    assert_eq!(
        c.insert(&tok(1), value(1), far_exp(), at(0)),
        Inserted::NotStoredDisabled
    );
}

#[test]
fn hits_misses_and_negatives_are_counted() {
    let mut c = DecisionCache::new(config(10, 1 << 20));
    c.insert(&tok(1), value(1), far_exp(), at(0));
    c.insert_negative(&tok(2), Reason::TokenSignatureInvalid, at(0));
    c.get(&tok(1), at(1));
    c.get(&tok(2), at(1));
    c.get(&tok(3), at(1));
    let s = c.stats();
    assert_eq!((s.hits, s.negative_hits, s.misses), (1, 1, 1));
}
