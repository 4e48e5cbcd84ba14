//! Cost of a decision-cache hit, of hashing a token, and of a rate-limit check, native.
//! The bounds are asserted only in optimized builds (`cargo test --release --test state_cost`).

use std::hint::black_box;
use std::time::Instant;

use edge_auth::decision_cache::{CacheConfig, DecisionCache, Lookup, TokenHash};
use edge_auth::ratelimit::{KeyInput, KeyParts, LocalLimiter, Quota, RateKey};
use edge_auth::time::UnixMillis;

/// Fewer rounds unoptimized: the numbers only mean something with `--release`.
const N: u32 = if cfg!(debug_assertions) {
    20_000
} else {
    200_000
};

fn per_op_ns(mut f: impl FnMut(u32)) -> f64 {
    let start = Instant::now();
    for i in 0..N {
        f(i);
    }
    start.elapsed().as_nanos() as f64 / f64::from(N)
}

#[test]
fn a_cache_hit_costs_well_under_a_microsecond() {
    let now = UnixMillis(1_700_000_000_000);
    let token = format!(
        "eyJhbGciOiJFUzI1NiJ9.{}.{}",
        "a".repeat(400),
        "s".repeat(86)
    );
    let mut cache = DecisionCache::new(CacheConfig::default());
    let keys: Vec<TokenHash> = (0..10_000)
        .map(|i| TokenHash::of(&format!("{token}{i}")))
        .collect();
    for k in &keys {
        cache.insert(*k, "claims".to_owned(), now.plus_secs(3600), now);
    }
    let hit = per_op_ns(|i| {
        let k = &keys[(i as usize * 7919) % keys.len()];
        assert!(matches!(black_box(cache.get(k, now)), Lookup::Hit(_)));
    });
    let hash = per_op_ns(|_| {
        black_box(TokenHash::of(black_box(&token)));
    });

    let q = Quota::per_minute(100).unwrap();
    let mut limiter = LocalLimiter::new(10_000);
    let rk: Vec<RateKey> = (0..1_000)
        .map(|i| {
            let ip = format!("10.0.{}.{}", i >> 8, i & 255);
            RateKey::build("r", KeyParts::IP, &KeyInput::new().ip(&ip)).unwrap()
        })
        .collect();
    let rl = per_op_ns(|i| {
        black_box(limiter.check(rk[i as usize % rk.len()], q, now, 1));
    });
    let key = per_op_ns(|_| {
        black_box(
            RateKey::build(
                "r",
                KeyParts::IP,
                &KeyInput::new().ip(black_box("192.0.2.1")),
            )
            .unwrap(),
        );
    });
    println!(
        "decision cache hit {hit:.0} ns (+ SHA-256 of a {}-byte token {hash:.0} ns); \
         local rate-limit check {rl:.0} ns (+ key derivation {key:.0} ns)",
        token.len()
    );
    if !cfg!(debug_assertions) {
        assert!(hit < 1_000.0, "hit {hit} ns");
        assert!(rl < 1_000.0, "rate-limit check {rl} ns");
    }
}
