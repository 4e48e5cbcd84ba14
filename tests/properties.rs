//! Property tests (proptest) for the four pieces of state the edge keeps or trusts: the GCRA rate
//! limiter, the decision cache, the origin circuit breaker and the identity envelope.
//!
//! Case counts are chosen so the whole file runs in a few seconds in a debug build (it is part of
//! `cargo test --workspace`); `PROPTEST_CASES=10000 cargo test --release --test properties` runs
//! longer. Failures are not persisted to files: proptest prints the shrunk input, which goes into
//! a named `#[test]` next to the fix.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

use edge_auth::breaker::{
    Admission, Breaker, BreakerConfig, BreakerState, Call, Transition, TransitionCause,
};
use edge_auth::decision_cache::{CacheConfig, DecisionCache, Inserted, Lookup, TokenKey};
use edge_auth::envelope::{self, EnvelopeKey};
use edge_auth::ratelimit::{check, KeyInput, KeyParts, LocalLimiter, Outcome, Quota, RateKey};
use edge_auth::reason::Reason;
use edge_auth::secret::SecretBytes;
use edge_auth::time::UnixMillis;

/// An arbitrary "now" far from 0, so clocks can go backwards from it.
const T0: u64 = 1_700_000_000_000;
const NS_PER_MS: u64 = 1_000_000;

/// `cases` per property, unless `PROPTEST_CASES` asks for another number (longer runs).
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// =============================================================================================
// GCRA
// =============================================================================================

fn quota() -> impl Strategy<Value = Quota> {
    (1u32..=50, 1u64..=10_000).prop_map(|(limit, period_ms)| {
        Quota::new(limit, period_ms).expect("limit 1..=50 over 1..=10_000 ms is a valid quota")
    })
}

/// Request times in ms after `T0`, in any order: independent draws (no order at all), a random
/// walk that goes backwards as well as forwards, or one monotone clock read by a few isolates
/// whose clocks are skewed by up to a period either way.
fn clocks(period_ms: u64, n: usize) -> BoxedStrategy<Vec<u64>> {
    let span = 4 * period_ms;
    let base = 2 * period_ms;
    prop_oneof![
        prop::collection::vec(0..=span, n),
        prop::collection::vec(-(period_ms as i64)..=(period_ms as i64), n).prop_map(move |steps| {
            let mut t = base as i64;
            steps
                .into_iter()
                .map(|s| {
                    t = (t + s / 4).max(0);
                    t as u64
                })
                .collect()
        }),
        (
            prop::collection::vec(0..=period_ms / 2, n),
            prop::collection::vec(-(period_ms as i64)..=(period_ms as i64), 3),
            prop::collection::vec(0usize..3, n),
        )
            .prop_map(move |(steps, skews, isolate)| {
                let mut t = base;
                steps
                    .into_iter()
                    .zip(isolate)
                    .map(|(s, i)| {
                        t += s / 8;
                        (t as i64 + skews[i]).max(0) as u64
                    })
                    .collect()
            }),
    ]
    .boxed()
}

/// Mostly cost 1; sometimes any cost including 0 (a state report) and above the limit.
fn costs(limit: u32, n: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(prop_oneof![4 => Just(1u32), 1 => 0..=limit + 1], n)
}

/// A quota and a sequence of (ms after `T0`, cost).
fn scenario() -> impl Strategy<Value = (Quota, Vec<(u64, u32)>)> {
    (quota(), 1usize..=120).prop_flat_map(|(q, n)| {
        (Just(q), clocks(q.period_ms, n), costs(q.limit, n))
            .prop_map(|(q, t, c)| (q, t.into_iter().zip(c).collect()))
    })
}

fn at(offset_ms: u64) -> UnixMillis {
    UnixMillis(T0 + offset_ms)
}

/// Runs the requests in order against the pure function, carrying the TAT the way the Durable
/// Object does (the new TAT is kept only when a request is allowed); returns each outcome with
/// the TAT it was checked against.
fn run_gcra(q: Quota, reqs: &[(u64, u32)]) -> Vec<(Option<u64>, Outcome)> {
    let mut tat = None;
    reqs.iter()
        .map(|&(t, cost)| {
            let before = tat;
            let out = check(tat, q, at(t), cost);
            if let Outcome::Allowed { new_tat, .. } = out {
                tat = Some(new_tat);
            }
            (before, out)
        })
        .collect()
}

proptest! {
    #![proptest_config(config(1024))]

    /// In any window `[a, a + W]` of request times, the units admitted are at most
    /// `limit + floor((W + r) / T)`, whatever order the clocks arrive in. `T` is the emission
    /// interval, `period / limit` rounded down to whole ns, and `r = period - limit·T` (< limit ns)
    /// what the rounding gives away: each admission adds `T` to a TAT that is already at or past
    /// the window's start, and the last must leave it at most `period` past its own time, so
    /// `units·T ≤ W + period = W + limit·T + r`. For `r = 0`, or W short of the drift adding up to
    /// a whole `T`, this is the ideal `limit + floor(W / T)`; with rounding a steady full-rate
    /// client can gain one unit per `T²/r` ns (17 per 3 ms: one unit over 17.6 s).
    #[test]
    fn gcra_never_admits_more_than_limit_plus_refill_in_any_window((q, reqs) in scenario()) {
        let outcomes = run_gcra(q, &reqs);
        let mut admitted: Vec<(u64, u32)> = reqs
            .iter()
            .zip(&outcomes)
            .filter(|(_, (_, o))| o.is_allowed())
            .map(|(&r, _)| r)
            .collect();
        admitted.sort_unstable();
        let t = q.emission_interval_ns();
        let r = q.period_ms * NS_PER_MS - u64::from(q.limit) * t;
        prop_assert!(r < u64::from(q.limit));
        for i in 0..admitted.len() {
            let mut units = 0u64;
            for &(end, cost) in &admitted[i..] {
                units += u64::from(cost);
                let w_ns = (end - admitted[i].0) * NS_PER_MS;
                let bound = u64::from(q.limit) + (w_ns + r) / t;
                prop_assert!(
                    units <= bound,
                    "{units} units admitted in [{}, {end}] ms, bound {bound}",
                    admitted[i].0
                );
            }
        }
    }

    /// A refusal reports a positive wait, the state it was given is the state to keep, and after
    /// exactly that wait (nothing else happening) the same request is admitted, one ms earlier it
    /// is not. An admission never reports more than `limit` remaining, and that many more cost-1
    /// requests at the same instant are admitted, one more is not.
    #[test]
    fn gcra_outcomes_are_consistent_with_the_state((q, reqs) in scenario()) {
        for (&(t, cost), (tat, out)) in reqs.iter().zip(run_gcra(q, &reqs)) {
            let now = at(t);
            match out {
                Outcome::Limited { retry_after_ms, reset_after_ms } => {
                    prop_assert!(retry_after_ms > 0);
                    // Limited reports the unchanged state: its reset is the stored TAT's.
                    prop_assert_eq!(reset_after_ms, check(tat, q, now, 0).reset_after_ms());
                    if cost > q.limit {
                        prop_assert_eq!(retry_after_ms, q.period_ms);
                        continue;
                    }
                    let later = check(tat, q, now.plus_millis(retry_after_ms), cost);
                    prop_assert!(later.is_allowed(), "not admitted after retry_after: {later:?}");
                    let early = check(tat, q, now.plus_millis(retry_after_ms - 1), cost);
                    prop_assert!(!early.is_allowed(), "admitted before retry_after: {early:?}");
                }
                Outcome::Allowed { new_tat, remaining, .. } => {
                    prop_assert!(remaining <= q.limit);
                    let mut tat = new_tat;
                    for i in 0..remaining {
                        match check(Some(tat), q, now, 1) {
                            Outcome::Allowed { new_tat, .. } => tat = new_tat,
                            o => prop_assert!(false, "unit {i} of {remaining} refused: {o:?}"),
                        }
                    }
                    prop_assert!(!check(Some(tat), q, now, 1).is_allowed());
                }
            }
        }
    }

    /// The per-isolate table never holds more than `max_keys` keys, whatever keys and clocks come,
    /// and a refused request leaves its key's stored TAT as it was (or dropped, if already past).
    #[test]
    fn local_limiter_stays_within_max_keys(
        max_keys in 1usize..=16,
        q in quota(),
        reqs in prop::collection::vec((0usize..48, 0u64..20_000, 0u32..=2, any::<bool>()), 1..200),
    ) {
        let keys: Vec<RateKey> = (0..48)
            .map(|i| {
                let ip = format!("192.0.2.{i}");
                RateKey::build("prop", KeyParts::IP, &KeyInput::new().ip(&ip)).expect("ip given")
            })
            .collect();
        let mut limiter = LocalLimiter::new(max_keys);
        for (k, t, cost, pair) in reqs {
            let now = at(t);
            let key = keys[k];
            let before = limiter.tat(&key);
            if pair {
                let other = keys[(k + 1) % keys.len()];
                let outs = limiter.check_all(&[(key, q), (other, q)], now, cost);
                prop_assert_eq!(outs.len(), 2);
            } else {
                let out = limiter.check(key, q, now, cost);
                match out {
                    Outcome::Allowed { new_tat, .. } => {
                        prop_assert_eq!(limiter.tat(&key), Some(new_tat));
                    }
                    Outcome::Limited { .. } => {
                        let after = limiter.tat(&key);
                        let past = before.is_some_and(|b| b <= now.0 * NS_PER_MS);
                        prop_assert!(after == before || (after.is_none() && past));
                    }
                }
            }
            prop_assert!(
                limiter.len() <= max_keys,
                "{} keys tracked, max {max_keys}",
                limiter.len()
            );
        }
    }
}

/// The bound above is reached: a client sending as fast as it is admitted, one ms tick after
/// another, gets `limit + floor((W + r) / T)` units, one more than `limit + floor(W / T)` once
/// the rounding adds up (17 per 3 ms: after 17.644 s).
#[test]
fn gcra_a_full_rate_client_reaches_the_bound_exactly() {
    let q = Quota::new(17, 3).expect("valid quota");
    let t = q.emission_interval_ns();
    let r = q.period_ms * NS_PER_MS - u64::from(q.limit) * t;
    let (mut tat, mut units) = (None, 0u64);
    for ms in 0..=17_644 {
        while let Outcome::Allowed { new_tat, .. } = check(tat, q, at(ms), 1) {
            tat = Some(new_tat);
            units += 1;
        }
        let w_ns = ms * NS_PER_MS;
        assert!(
            units <= u64::from(q.limit) + (w_ns + r) / t,
            "{units} units by {ms} ms"
        );
    }
    let w_ns = 17_644 * NS_PER_MS;
    assert_eq!(units, u64::from(q.limit) + (w_ns + r) / t);
    assert_eq!(units, u64::from(q.limit) + w_ns / t + 1);
}

// =============================================================================================
// Decision cache
// =============================================================================================

#[derive(Clone, Debug)]
enum CacheOp {
    Insert { key: usize, len: usize, exp_in: i64 },
    Negative { key: usize },
    Get { key: usize },
    Remove { key: usize },
}

const CACHE_KEYS: usize = 8;
const MAX_VALUE_LEN: usize = 160;

fn cache_op() -> impl Strategy<Value = (i64, CacheOp)> {
    let key = 0..CACHE_KEYS;
    let op = prop_oneof![
        3 => (key.clone(), 0..=MAX_VALUE_LEN, -200i64..=3_000)
            .prop_map(|(key, len, exp_in)| CacheOp::Insert { key, len, exp_in }),
        1 => key.clone().prop_map(|key| CacheOp::Negative { key }),
        4 => key.clone().prop_map(|key| CacheOp::Get { key }),
        1 => key.prop_map(|key| CacheOp::Remove { key }),
    ];
    // The clock mostly stands still or moves forwards, and sometimes goes backwards.
    let dt = prop_oneof![2 => Just(0i64), 4 => 0i64..=400, 1 => -400i64..0];
    (dt, op)
}

fn cache_config() -> impl Strategy<Value = CacheConfig> {
    (
        0usize..=6,
        0usize..=1_200,
        0u64..=1_500,
        0u64..=1_500,
        0usize..=4,
    )
        .prop_map(
            |(max_entries, max_bytes, ttl_ms, negative_ttl_ms, max_negative_entries)| CacheConfig {
                max_entries,
                max_bytes,
                ttl_ms,
                negative_ttl_ms,
                max_negative_entries,
            },
        )
}

/// What the test knows was stored for a key.
#[derive(Clone, Debug)]
struct Stored {
    value: String,
    at: u64,
    exp: u64,
}

proptest! {
    #![proptest_config(config(512))]

    /// A hit is the value last stored for that token, served only before the token's `exp` and
    /// before insert time + TTL; a negative answer only within the negative TTL; the cache never
    /// holds more than its entry and byte bounds. Tokens share signatures in pairs (the cache's
    /// map key): one token's entries never answer for its pair.
    #[test]
    fn decision_cache_serves_nothing_stale_and_stays_bounded(
        cfg in cache_config(),
        ops in prop::collection::vec(cache_op(), 1..150),
    ) {
        let texts: Vec<String> = (0..CACHE_KEYS).map(|i| format!("h.p{i}.s{}", i / 2)).collect();
        let tokens: Vec<TokenKey> = texts.iter().map(|t| TokenKey::of(t)).collect();
        // The other token under the same signature.
        let pair = |k: usize| k ^ 1;
        let signed = 4; // "h.p{i}", what a positive entry keeps
        let mut cache: DecisionCache<String> = DecisionCache::new(cfg.clone());
        let mut positive: Vec<Option<Stored>> = vec![None; CACHE_KEYS];
        let mut negative: Vec<Option<u64>> = vec![None; CACHE_KEYS];
        let per_entry =
            DecisionCache::<String>::entry_overhead() + core::mem::size_of::<String>() + signed;
        let (mut min_heap, mut max_heap) = (usize::MAX, 0usize);
        let mut now = T0 as i64;
        for (serial, (dt, op)) in ops.into_iter().enumerate() {
            now += dt;
            let t = now as u64;
            match op {
                CacheOp::Insert { key, len, exp_in } => {
                    let mut value = String::with_capacity(len + 8);
                    value.push_str(&format!("{serial}:"));
                    value.extend(core::iter::repeat_n('v', len));
                    let stored = value.clone();
                    let heap = stored.capacity();
                    let exp = (now + exp_in) as u64;
                    let result = cache.insert(&tokens[key], stored, UnixMillis(exp), UnixMillis(t));
                    match result {
                        Inserted::Stored { ttl_ms } => {
                            prop_assert!(ttl_ms > 0 && ttl_ms <= cfg.ttl_ms);
                            prop_assert!(t + ttl_ms <= exp, "TTL {ttl_ms} runs past exp");
                            positive[key] = Some(Stored { value, at: t, exp });
                            positive[pair(key)] = None; // one decision per signature
                            negative[key] = None;
                            min_heap = min_heap.min(heap);
                            max_heap = max_heap.max(heap);
                        }
                        Inserted::NotStoredExpired => {
                            prop_assert!(exp <= t || cfg.ttl_ms == 0);
                        }
                        Inserted::NotStoredTooLarge => {
                            prop_assert!(per_entry + heap > cfg.max_bytes);
                        }
                        Inserted::NotStoredDisabled => {
                            prop_assert!(cfg.max_entries == 0 || cfg.max_bytes == 0);
                        }
                    }
                }
                CacheOp::Negative { key } => {
                    cache.insert_negative(&tokens[key], Reason::TokenSignatureInvalid, UnixMillis(t));
                    if cfg.max_negative_entries > 0 && cfg.negative_ttl_ms > 0 {
                        positive[key] = None;
                        negative[key] = Some(t);
                        negative[pair(key)] = None; // one refusal per signature
                    }
                }
                CacheOp::Remove { key } => {
                    cache.remove(&tokens[key]);
                    positive[key] = None;
                    negative[key] = None;
                }
                CacheOp::Get { key } => match cache.get(&tokens[key], UnixMillis(t)) {
                    Lookup::Hit(v) => {
                        let s = positive[key].as_ref();
                        prop_assert!(s.is_some(), "hit for a token never stored");
                        let s = s.unwrap();
                        prop_assert_eq!(v, &s.value, "hit serves another value");
                        prop_assert!(t < s.exp, "hit at {t} at/after exp {}", s.exp);
                        prop_assert!(
                            t < s.at + cfg.ttl_ms,
                            "hit at {t} after insert {} + ttl {}",
                            s.at,
                            cfg.ttl_ms
                        );
                    }
                    Lookup::Negative(reason) => {
                        prop_assert_eq!(reason, Reason::TokenSignatureInvalid);
                        let at = negative[key];
                        prop_assert!(at.is_some(), "negative for a token never refused");
                        let at = at.unwrap();
                        prop_assert!(
                            t < at + cfg.negative_ttl_ms,
                            "negative at {t} after insert {at} + ttl {}",
                            cfg.negative_ttl_ms
                        );
                    }
                    Lookup::Miss => {
                        // Evicted or expired: gone for good either way.
                        positive[key] = None;
                        negative[key] = None;
                    }
                },
            }
            prop_assert!(cache.len() <= cfg.max_entries, "{} > max_entries", cache.len());
            prop_assert!(cache.negative_len() <= cfg.max_negative_entries);
            prop_assert!(cache.bytes() <= cfg.max_bytes, "{} > max_bytes", cache.bytes());
            // Every entry is charged its overhead plus its value, so bytes are proportional to
            // the number of entries, hence at most `max_entries` times the largest entry.
            // (`is_empty` also counts negative entries, which `bytes` does not.)
            match cache.len() {
                0 => prop_assert_eq!(cache.bytes(), 0),
                n => {
                    prop_assert!(cache.bytes() >= n * (per_entry + min_heap));
                    prop_assert!(cache.bytes() <= n * (per_entry + max_heap));
                    prop_assert!(cache.bytes() <= cfg.max_entries * (per_entry + max_heap));
                }
            }
        }
    }
}

// =============================================================================================
// Circuit breaker
// =============================================================================================

/// A reference for the breaker, written from its documentation (module and `BreakerConfig` docs),
/// not from its code: closed opens after `consecutive_failures` failures in a row or when
/// failures reach `failure_ratio_percent` of at least `min_requests` calls in the rolling window
/// (10 buckets of `window_ms / 10`); open refuses until the cool-down has passed; the first call
/// after it is a probe and moves to half-open, which lets `half_open_probes` calls through;
/// all of them succeeding closes, any failing reopens. Every state counts afresh.
/// While half-open only that round's probes decide: this suite found the breaker once counting
/// any call's result there (a slow call let through before it opened closed it early).

#[derive(Debug)]
struct Model {
    cfg: BreakerConfig,
    state: MState,
    /// How many times the breaker went half-open: tags the probes of each round.
    round: u64,
    consecutive: u32,
    /// (bucket index, success) of the results recorded while closed.
    calls: Vec<(u64, bool)>,
}

#[derive(Clone, Copy, Debug)]
enum MState {
    Closed,
    Open { until: u64 },
    HalfOpen { admitted: u32, succeeded: u32 },
}

#[derive(Debug, PartialEq)]
enum Expected {
    Permit {
        probe: bool,
        transition: Option<Transition>,
    },
    /// The wait, when the documentation fixes it (open: until the cool-down ends).
    Rejected { retry_after_ms: Option<u64> },
}

impl Model {
    fn new(cfg: BreakerConfig) -> Self {
        Model {
            cfg,
            state: MState::Closed,
            round: 0,
            consecutive: 0,
            calls: Vec::new(),
        }
    }

    fn public(&self) -> BreakerState {
        match self.state {
            MState::Closed => BreakerState::Closed,
            MState::Open { .. } => BreakerState::Open,
            MState::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// A probe budget of 0 would never close: it counts as 1.
    fn probes(&self) -> u32 {
        self.cfg.half_open_probes.max(1)
    }

    fn go(&mut self, now: u64, to: MState, cause: TransitionCause) -> Transition {
        let from = self.public();
        self.state = to;
        self.consecutive = 0;
        self.calls.clear();
        Transition {
            from,
            to: self.public(),
            cause,
            at: UnixMillis(now),
        }
    }

    fn before_call(&mut self, now: u64) -> Expected {
        match self.state {
            MState::Closed => Expected::Permit {
                probe: false,
                transition: None,
            },
            MState::Open { until } if now < until => Expected::Rejected {
                retry_after_ms: Some(until - now),
            },
            MState::Open { .. } => {
                let to = MState::HalfOpen {
                    admitted: 1,
                    succeeded: 0,
                };
                let t = self.go(now, to, TransitionCause::CoolDownElapsed);
                self.round += 1;
                Expected::Permit {
                    probe: true,
                    transition: Some(t),
                }
            }
            MState::HalfOpen {
                admitted,
                succeeded,
            } if admitted < self.probes() => {
                self.state = MState::HalfOpen {
                    admitted: admitted + 1,
                    succeeded,
                };
                Expected::Permit {
                    probe: true,
                    transition: None,
                }
            }
            MState::HalfOpen { .. } => Expected::Rejected {
                retry_after_ms: None,
            },
        }
    }

    /// The call tag for a permitted call: the half-open round it probes, if it is a probe.
    fn tag(&self) -> Option<u64> {
        matches!(self.state, MState::HalfOpen { .. }).then_some(self.round)
    }

    fn on_result(&mut self, now: u64, call: Option<u64>, success: bool) -> Option<Transition> {
        let open = |m: &mut Model, cause| {
            let until = now + m.cfg.cool_down_ms;
            m.go(now, MState::Open { until }, cause)
        };
        let probe_of_this_round = call == Some(self.round);
        match self.state {
            MState::Open { .. } => None,
            MState::HalfOpen { .. } if !probe_of_this_round => None,
            MState::HalfOpen { .. } if !success => Some(open(self, TransitionCause::ProbeFailed)),
            MState::HalfOpen {
                admitted,
                succeeded,
            } => {
                let probes = self.probes();
                if succeeded + 1 >= probes {
                    let cause = TransitionCause::ProbesSucceeded { probes };
                    Some(self.go(now, MState::Closed, cause))
                } else {
                    self.state = MState::HalfOpen {
                        admitted,
                        succeeded: succeeded + 1,
                    };
                    None
                }
            }
            MState::Closed => {
                let bucket_ms = (self.cfg.window_ms / 10).max(1);
                let current = now / bucket_ms;
                self.calls.push((current, success));
                if success {
                    self.consecutive = 0;
                    return None;
                }
                self.consecutive += 1;
                let n = self.cfg.consecutive_failures;
                if n > 0 && self.consecutive >= n {
                    let failures = self.consecutive;
                    return Some(open(
                        self,
                        TransitionCause::ConsecutiveFailures { failures },
                    ));
                }
                let in_window = self.calls.iter().filter(|(b, _)| current - b < 10);
                let calls = in_window.clone().count() as u32;
                let failures = in_window.filter(|(_, ok)| !ok).count() as u32;
                let pct = u32::from(self.cfg.failure_ratio_percent);
                if pct > 0 && calls >= self.cfg.min_requests.max(1) && failures * 100 >= pct * calls
                {
                    return Some(open(
                        self,
                        TransitionCause::FailureRatio { failures, calls },
                    ));
                }
                None
            }
        }
    }
}

#[derive(Clone, Debug)]
enum BreakerOp {
    /// Ask to call the origin `dt` ms later.
    Call { dt: u64 },
    /// `dt` ms later, one of the calls in flight (picked by `which`) ends.
    Result {
        dt: u64,
        which: Index,
        success: bool,
    },
}

fn breaker_config() -> impl Strategy<Value = BreakerConfig> {
    (
        0u32..=6,
        prop_oneof![Just(0u8), 1u8..=100],
        1u64..=3_000,
        0u32..=12,
        0u64..=1_500,
        0u32..=4,
    )
        .prop_map(
            |(
                consecutive_failures,
                failure_ratio_percent,
                window_ms,
                min_requests,
                cool_down_ms,
                half_open_probes,
            )| {
                BreakerConfig {
                    consecutive_failures,
                    failure_ratio_percent,
                    window_ms,
                    min_requests,
                    cool_down_ms,
                    half_open_probes,
                }
            },
        )
}

fn breaker_ops() -> impl Strategy<Value = Vec<BreakerOp>> {
    // How often calls fail varies per case, so both healthy and failing origins are explored.
    (1u32..=9).prop_flat_map(|fail_tenths| {
        let dt = prop_oneof![3 => Just(0u64), 3 => 0u64..=60, 1 => 0u64..=2_000];
        let op = prop_oneof![
            (dt.clone()).prop_map(|dt| BreakerOp::Call { dt }),
            (
                dt,
                any::<Index>(),
                prop::bool::weighted(1.0 - f64::from(fail_tenths) / 10.0)
            )
                .prop_map(|(dt, which, success)| BreakerOp::Result {
                    dt,
                    which,
                    success
                }),
        ];
        prop::collection::vec(op, 1..160)
    })
}

proptest! {
    #![proptest_config(config(512))]

    /// The breaker and the reference agree on every admission, wait, transition and state, for
    /// any interleaving of calls and results on a non-decreasing clock.
    #[test]
    fn breaker_follows_its_documented_state_machine(
        cfg in breaker_config(),
        ops in breaker_ops(),
    ) {
        let mut breaker = Breaker::new(cfg);
        let mut model = Model::new(cfg);
        // The calls let through and not yet ended, by their model tag.
        let mut in_flight: Vec<(Option<u64>, Call)> = Vec::new();
        let mut now = T0;
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                BreakerOp::Call { dt } => {
                    now += dt;
                    let got = breaker.before_call(UnixMillis(now));
                    let want = model.before_call(now);
                    match (got, &want) {
                        (Admission::Permit { probe, transition, call }, Expected::Permit { .. }) => {
                            prop_assert_eq!(
                                &Expected::Permit { probe, transition },
                                &want,
                                "step {}",
                                step
                            );
                            in_flight.push((model.tag(), call));
                        }
                        (Admission::Rejected { retry_after_ms }, Expected::Rejected { retry_after_ms: w }) => {
                            prop_assert!(retry_after_ms > 0, "step {step}: Retry-After 0");
                            if let Some(w) = *w {
                                prop_assert_eq!(retry_after_ms, w, "step {}", step);
                            }
                        }
                        (got, want) => {
                            prop_assert!(false, "step {step}: breaker {got:?}, reference {want:?}");
                        }
                    }
                }
                BreakerOp::Result { dt, which, success } => {
                    if in_flight.is_empty() {
                        continue;
                    }
                    now += dt;
                    let (tag, call) = in_flight.swap_remove(which.index(in_flight.len()));
                    let got = breaker.on_result(UnixMillis(now), call, success);
                    let want = model.on_result(now, tag, success);
                    prop_assert_eq!(got, want, "step {}", step);
                }
            }
            prop_assert_eq!(breaker.state(), model.public(), "step {}", step);
        }
    }
}

// =============================================================================================
// Identity envelope
// =============================================================================================

/// The headers the edge signs: the identity namespace and the forwarding context.
const SIGNED: [&str; 13] = [
    envelope::USER,
    envelope::SESSION,
    envelope::ROLES,
    envelope::PERMISSIONS,
    envelope::ISSUER,
    envelope::EXPIRES,
    envelope::ISSUED_AT,
    envelope::WEBHOOK_PROVIDER,
    envelope::WEBHOOK_ID,
    envelope::WEBHOOK_TIMESTAMP,
    envelope::REQUEST_ID,
    envelope::FORWARDED_FOR,
    envelope::FORWARDED_PROTO,
];

fn envelope_key() -> EnvelopeKey {
    EnvelopeKey::new(SecretBytes::new((0u8..32).collect(), 32).expect("32 bytes"))
        .expect("32-byte key")
}

/// A request as the edge forwards it.
#[derive(Clone, Debug)]
struct Forward {
    now: u64,
    method: String,
    path: String,
    /// Signed headers (lowercase names) then a few the envelope does not cover.
    headers: Vec<(String, String)>,
}

fn forward() -> impl Strategy<Value = Forward> {
    let value = "[ -~]{0,24}";
    (
        0u64..=100_000_000,
        prop_oneof![
            Just("GET".to_owned()),
            Just("POST".to_owned()),
            "[A-Z]{1,7}"
        ],
        "/[!-~]{0,40}",
        prop::collection::vec(proptest::option::of(value), SIGNED.len()),
        prop::collection::vec(("(accept|user-agent|x-other)", value), 0..3),
    )
        .prop_map(|(now_s, method, path, values, unsigned)| {
            let mut headers: Vec<(String, String)> = SIGNED
                .iter()
                .zip(values)
                .filter_map(|(n, v)| v.map(|v| ((*n).to_owned(), v)))
                .collect();
            headers.extend(unsigned);
            Forward {
                now: T0 + now_s * 1_000,
                method,
                path,
                headers,
            }
        })
}

fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

impl Forward {
    /// The headers as sent: the forwarded ones plus `x-auth-signature`.
    fn signed(&self, key: &EnvelopeKey) -> Vec<(String, String)> {
        let sig = envelope::sign(
            key,
            UnixMillis(self.now),
            &self.method,
            &self.path,
            pairs(&self.headers),
        )
        .expect("values without line breaks sign");
        let mut sent = self.headers.clone();
        sent.push((envelope::SIGNATURE_HEADER.to_owned(), sig));
        sent
    }
}

/// Which part of a signed request a mutation touches.
#[derive(Clone, Copy, Debug)]
enum Part {
    Method,
    Path,
    Name(usize),
    Value(usize),
}

#[derive(Clone, Copy, Debug)]
enum Edit {
    /// Replace the byte at the position with another printable ASCII byte.
    Replace(u8),
    Insert(u8),
    Delete,
}

/// Two spellings of one header name, as the verifier folds them: identity names by ASCII case
/// and `_` for `-`, the forwarding context by ASCII case only.
fn same_header(a: &str, b: &str) -> bool {
    let fold = |n: &str| n.to_ascii_lowercase().replace('_', "-");
    if envelope::is_identity_header(a) && envelope::is_identity_header(b) {
        fold(a) == fold(b)
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

fn edit(s: &str, at: Index, e: Edit) -> Option<String> {
    let mut b = s.as_bytes().to_vec();
    match e {
        Edit::Replace(c) => {
            if b.is_empty() {
                return None;
            }
            let i = at.index(b.len());
            b[i] = if b[i] == c {
                b' ' + (c - b' ' + 1) % 95
            } else {
                c
            };
        }
        Edit::Insert(c) => b.insert(at.index(b.len() + 1), c),
        Edit::Delete => {
            if b.is_empty() {
                return None;
            }
            b.remove(at.index(b.len()));
        }
    }
    Some(String::from_utf8(b).expect("ASCII in, ASCII out"))
}

fn mutation() -> impl Strategy<Value = (Index, Edit)> {
    let printable = b' '..=b'~';
    (
        any::<Index>(),
        prop_oneof![
            3 => printable.clone().prop_map(Edit::Replace),
            1 => printable.prop_map(Edit::Insert),
            1 => Just(Edit::Delete),
        ],
    )
}

proptest! {
    #![proptest_config(config(1024))]

    /// A signed request verifies at the origin (any header order, any name case, within the
    /// allowed age) and yields exactly the signed headers.
    #[test]
    fn envelope_signed_request_verifies(
        f in forward(),
        skew_s in -60i64..=60,
        rotate in any::<Index>(),
        upper in any::<bool>(),
    ) {
        let key = envelope_key();
        let mut sent = f.signed(&key);
        let r = rotate.index(sent.len());
        sent.rotate_left(r);
        if upper {
            for (n, _) in &mut sent {
                *n = n.to_ascii_uppercase();
            }
        }
        let now = UnixMillis((f.now as i64 + skew_s * 1_000) as u64);
        let v = envelope::verify(&key, now, 60, &f.method, &f.path, pairs(&sent));
        prop_assert!(v.is_ok(), "{v:?}");
        let v = v.unwrap();
        prop_assert_eq!(v.signed_at, f.now / 1_000);
        let mut want: Vec<(String, String)> = f
            .headers
            .iter()
            .filter(|(n, _)| SIGNED.contains(&n.as_str()))
            .cloned()
            .collect();
        want.sort();
        prop_assert_eq!(v.headers, want);
    }

    /// Any one-byte change, insertion or deletion in the method, the path, a signed header's
    /// name or value, or the signature itself is refused.
    #[test]
    fn envelope_refuses_any_one_byte_change(
        f in forward(),
        part in any::<Index>(),
        (pos, e) in mutation(),
    ) {
        let key = envelope_key();
        let mut sent = f.signed(&key);
        // Everything signed, and the signature (the last header).
        let signed: Vec<usize> = (0..sent.len())
            .filter(|&i| i == sent.len() - 1 || SIGNED.contains(&sent[i].0.as_str()))
            .collect();
        let mut parts = vec![Part::Method, Part::Path];
        for &i in &signed {
            parts.push(Part::Name(i));
            parts.push(Part::Value(i));
        }
        let target = parts[part.index(parts.len())];
        let (mut method, mut path) = (f.method.clone(), f.path.clone());
        match target {
            Part::Method => match edit(&method, pos, e) {
                Some(m) => method = m,
                None => return Ok(()),
            },
            Part::Path => match edit(&path, pos, e) {
                Some(p) => path = p,
                None => return Ok(()),
            },
            Part::Name(i) => match edit(&sent[i].0, pos, e) {
                // A spelling the origin folds to the same name is the same header.
                Some(n) if same_header(&n, &sent[i].0) => return Ok(()),
                Some(n) => sent[i].0 = n,
                None => return Ok(()),
            },
            Part::Value(i) => match edit(&sent[i].1, pos, e) {
                Some(v) => sent[i].1 = v,
                None => return Ok(()),
            },
        }
        let v = envelope::verify(&key, UnixMillis(f.now), 60, &method, &path, pairs(&sent));
        prop_assert!(v.is_err(), "{target:?} changed by {e:?} still verifies: {sent:?}");
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// The same, aimed at the `X-Auth-Signature` value alone (`t=<secs>,v1=<hex>`).
    #[test]
    fn envelope_refuses_any_one_byte_change_to_the_signature(
        f in forward(),
        (pos, e) in mutation(),
    ) {
        let key = envelope_key();
        let mut sent = f.signed(&key);
        let sig = sent.last_mut().expect("the signature is the last header");
        let Some(changed) = edit(&sig.1, pos, e) else {
            return Ok(());
        };
        sig.1 = changed;
        let v = envelope::verify(&key, UnixMillis(f.now), 60, &f.method, &f.path, pairs(&sent));
        prop_assert!(v.is_err(), "signature changed by {e:?} still verifies: {sent:?}");
    }
}
