//! The `durable` backend's wire format (Worker → `RateLimiter` Durable Object) and shard naming.
//! Pure string handling, shared by the edge's side (the check a plan asks `entry.js` to send)
//! and the object's side (`super::shard`, driven by `src/worker/rate_limiter.rs`).
//!
//! # Sharding
//! `SHARDS` objects named `rl1-00`..`rl1-63` by the top 6 bits of the key's first byte. The key
//! is a SHA-256 prefix, so keys spread evenly, and no IP or user id appears in an object name.
//! Changing `SHARDS` re-homes keys (their counts restart once): the `rl1` prefix is the version
//! to bump when doing so.
//!
//! # Wire format (internal)
//! Request: `POST https://rate-limiter/check/<key hex 32>/<limit>/<period_ms>/<cost>`, no body.
//! Answer (200, text): `a <new_tat_ns> <remaining> <reset_after_ms>` or
//! `l <retry_after_ms> <reset_after_ms>`.

use super::{Outcome, Quota, RateKey};

/// The Durable Object namespace binding in `wrangler.toml`.
pub const BINDING: &str = "RATE_LIMITER";
pub const SHARDS: u8 = 64;

/// The object name for a key: its shard.
pub fn shard_name(key: &RateKey) -> String {
    let shard = key.as_bytes()[0] >> 2; // top 6 bits: 0..=63
    debug_assert!(shard < SHARDS);
    format!("rl1-{shard:02}")
}

/// One check, as the object reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub key: [u8; 16],
    pub key_hex: String,
    pub quota: Quota,
    pub cost: u32,
}

pub fn request_url(key: &RateKey, quota: Quota, cost: u32) -> String {
    format!(
        "https://rate-limiter/check/{}/{}/{}/{}",
        key.to_hex(),
        quota.limit,
        quota.period_ms,
        cost
    )
}

pub fn parse_key(hex: &str) -> Option<[u8; 16]> {
    let b = hex.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut key = [0u8; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = nib(b[2 * i])? << 4 | nib(b[2 * i + 1])?;
    }
    Some(key)
}

/// `/check/<key>/<limit>/<period_ms>/<cost>`; the quota is validated (a bad one is refused,
/// not silently inexact).
pub fn parse_request(path: &str) -> Option<Check> {
    let mut it = path.strip_prefix("/check/")?.split('/');
    let key_hex = it.next()?;
    let key = parse_key(key_hex)?;
    let limit = it.next()?.parse().ok()?;
    let period_ms = it.next()?.parse().ok()?;
    let cost = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    let quota = Quota::new(limit, period_ms).ok()?;
    Some(Check {
        key,
        key_hex: key_hex.to_ascii_lowercase(),
        quota,
        cost,
    })
}

pub fn outcome_body(o: &Outcome) -> String {
    match *o {
        Outcome::Allowed {
            new_tat,
            remaining,
            reset_after_ms,
        } => format!("a {new_tat} {remaining} {reset_after_ms}"),
        Outcome::Limited {
            retry_after_ms,
            reset_after_ms,
        } => format!("l {retry_after_ms} {reset_after_ms}"),
    }
}

pub fn parse_outcome(body: &str) -> Option<Outcome> {
    let mut it = body.split(' ');
    let o = match it.next()? {
        "a" => Outcome::Allowed {
            new_tat: it.next()?.parse().ok()?,
            remaining: it.next()?.parse().ok()?,
            reset_after_ms: it.next()?.parse().ok()?,
        },
        "l" => Outcome::Limited {
            retry_after_ms: it.next()?.parse().ok()?,
            reset_after_ms: it.next()?.parse().ok()?,
        },
        _ => return None,
    };
    it.next().is_none().then_some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(first: u8) -> RateKey {
        let mut b = [7u8; 16];
        b[0] = first;
        RateKey::from_bytes(b)
    }

    #[test]
    fn shards_are_the_top_six_bits_of_the_first_byte() {
        assert_eq!(shard_name(&key(0)), "rl1-00");
        assert_eq!(shard_name(&key(0b0000_0011)), "rl1-00");
        assert_eq!(shard_name(&key(0b0000_0100)), "rl1-01");
        assert_eq!(shard_name(&key(255)), "rl1-63");
    }

    #[test]
    fn a_request_url_parses_back_to_its_check() {
        let k = key(0xab);
        let q = Quota::new(10, 60_000).unwrap();
        let url = request_url(&k, q, 1);
        let path = url.strip_prefix("https://rate-limiter").unwrap();
        let c = parse_request(path).unwrap();
        assert_eq!((c.key, c.quota, c.cost), (*k.as_bytes(), q, 1));
        assert_eq!(c.key_hex, k.to_hex());
    }

    #[test]
    fn malformed_requests_are_refused() {
        let hex = key(1).to_hex();
        for path in [
            format!("/check/{hex}/10/60000"),
            format!("/check/{hex}/10/60000/1/extra"),
            format!("/check/{}/10/60000/1", &hex[..30]),
            format!("/check/{}zz/10/60000/1", &hex[..30]),
            format!("/check/{hex}/0/60000/1"),
            format!("/check/{hex}/ten/60000/1"),
            format!("/other/{hex}/10/60000/1"),
        ] {
            assert_eq!(parse_request(&path), None, "{path}");
        }
    }

    #[test]
    fn outcomes_round_trip_and_garbage_is_refused() {
        for o in [
            Outcome::Allowed {
                new_tat: 1_796_000_000_000_000_000,
                remaining: 9,
                reset_after_ms: 6000,
            },
            Outcome::Limited {
                retry_after_ms: 1200,
                reset_after_ms: 60_000,
            },
        ] {
            assert_eq!(parse_outcome(&outcome_body(&o)), Some(o));
        }
        for bad in ["", "a 1 2", "a 1 2 3 4", "l x 2", "x 1 2", "a -1 2 3"] {
            assert_eq!(parse_outcome(bad), None, "{bad}");
        }
    }
}
