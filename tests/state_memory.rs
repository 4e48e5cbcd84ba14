//! Memory per rate-limit key, measured: a counting global allocator tracks live heap bytes while a
//! `LocalLimiter` fills up with distinct keys. (One test only: the allocator is process-wide.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use edge_auth::ratelimit::{KeyInput, KeyParts, LocalLimiter, Quota, RateKey};
use edge_auth::time::UnixMillis;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_rate_limit_key_costs_well_under_a_hundred_bytes_and_a_full_table_stays_put() {
    const KEYS: u32 = 100_000;
    let q = Quota::per_minute(10).unwrap();
    let keys: Vec<RateKey> = (0..KEYS * 2)
        .map(|i| {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            RateKey::build("anonymous_ip", KeyParts::IP, &KeyInput::new().ip(&ip)).unwrap()
        })
        .collect();
    let now = UnixMillis(1_700_000_000_000);

    let before = LIVE.load(Ordering::SeqCst);
    let mut limiter = LocalLimiter::new(KEYS as usize);
    for k in &keys[..KEYS as usize] {
        limiter.check(*k, q, now, 1);
    }
    let full = LIVE.load(Ordering::SeqCst);
    let per_key = (full - before) as f64 / f64::from(KEYS);

    // A flood of as many new keys again: evictions, no growth.
    for k in &keys[KEYS as usize..] {
        limiter.check(*k, q, now, 1);
    }
    let after_flood = LIVE.load(Ordering::SeqCst);
    // The hash map may double once (deleted-slot markers left by evictions trigger a resize while
    // it is over half full); from then on it only rehashes in place.
    for round in 0..3u64 {
        for k in keys.iter().rev() {
            limiter.check(*k, q, now.plus_millis(round + 1), 1);
        }
    }
    let steady = LIVE.load(Ordering::SeqCst);
    println!(
        "rate-limit table: {per_key:.1} bytes/key measured at {KEYS} keys \
         (layout estimate {} bytes/key); after a flood of {KEYS} more keys: {:.1} bytes/key; \
         after 3 more floods: {:.1} bytes/key",
        LocalLimiter::bytes_per_key(),
        (after_flood - before) as f64 / f64::from(KEYS),
        (steady - before) as f64 / f64::from(KEYS),
    );
    assert_eq!(limiter.len(), KEYS as usize);
    assert!(per_key < 100.0, "{per_key} bytes per key");
    assert!(
        (steady - before) as f64 / f64::from(KEYS) < 100.0,
        "the table kept growing under floods"
    );
    assert_eq!(steady, after_flood, "no growth after the first flood");
}
