//! The `local` backend: one isolate's table of TATs, bounded in keys, evicting least recently
//! used (in practice: expired first) keys, so an unauthenticated flood cannot grow memory.

use super::gcra::{check, Outcome, Quota};
use super::key::RateKey;
use crate::decision_cache::Lru;
use crate::time::UnixMillis;

/// How many expired keys each call tidies from the cold end, besides its own work.
const TIDY_PER_CALL: usize = 2;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// Keys dropped whose TAT was already in the past: nothing lost.
    pub expired_removed: u64,
    /// Keys dropped while still counting, because the table was full: those keys start over.
    /// Non-zero means `max_keys` is too small for the traffic (or a flood is on).
    pub live_evicted: u64,
}

/// Per-isolate, approximate (each isolate counts alone), zero-network limiter.
pub struct LocalLimiter {
    table: Lru<RateKey, u64>,
    max_keys: usize,
    stats: LimiterStats,
}

impl LocalLimiter {
    /// `max_keys` ≥ 1 bounds memory at about `max_keys × bytes_per_key()` plus the hash table's
    /// power-of-two slack.
    pub fn new(max_keys: usize) -> Self {
        LocalLimiter {
            table: Lru::with_max_len_hint(max_keys.max(1)),
            max_keys: max_keys.max(1),
            stats: LimiterStats::default(),
        }
    }

    /// Approximate bytes per tracked key (computed from the layout; `tests/state_memory.rs`
    /// measures it with a counting allocator).
    pub const fn bytes_per_key() -> usize {
        Lru::<RateKey, u64>::entry_overhead()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    pub fn stats(&self) -> LimiterStats {
        self.stats
    }

    /// The key's stored TAT, if tracked (for tests and the log).
    pub fn tat(&self, key: &RateKey) -> Option<u64> {
        self.table.peek(key).copied()
    }

    /// Spends `cost` units of `quota` for `key` at `now` if they are available.
    pub fn check(&mut self, key: RateKey, quota: Quota, now: UnixMillis, cost: u32) -> Outcome {
        self.tidy(now, TIDY_PER_CALL);
        let tat = self.table.get(&key).copied();
        let out = check(tat, quota, now, cost);
        if let Outcome::Allowed { new_tat, .. } = out {
            self.store(key, new_tat, now);
        }
        out
    }

    /// All-or-nothing over several rules: units are spent on every key only if every rule admits
    /// the request, so a refusal by one rule does not consume the others.
    pub fn check_all(
        &mut self,
        checks: &[(RateKey, Quota)],
        now: UnixMillis,
        cost: u32,
    ) -> Vec<Outcome> {
        self.tidy(now, TIDY_PER_CALL);
        let outcomes: Vec<Outcome> = checks
            .iter()
            .map(|(k, q)| check(self.table.get(k).copied(), *q, now, cost))
            .collect();
        if outcomes.iter().all(Outcome::is_allowed) {
            for ((k, _), o) in checks.iter().zip(&outcomes) {
                if let Outcome::Allowed { new_tat, .. } = *o {
                    self.store(*k, new_tat, now);
                }
            }
        }
        outcomes
    }

    /// Drops up to `max` expired keys from the cold end; returns how many went.
    pub fn tidy(&mut self, now: UnixMillis, max: usize) -> usize {
        let now_ns = now.0.saturating_mul(1_000_000);
        let mut n = 0;
        while n < max {
            match self.table.peek_lru() {
                Some((_, &tat)) if tat <= now_ns => {
                    self.table.pop_lru();
                    n += 1;
                }
                _ => break,
            }
        }
        self.stats.expired_removed += n as u64;
        n
    }

    fn store(&mut self, key: RateKey, new_tat: u64, now: UnixMillis) {
        if !self.table.contains(&key) {
            let now_ns = now.0.saturating_mul(1_000_000);
            while self.table.len() >= self.max_keys {
                match self.table.pop_lru() {
                    Some((_, tat)) if tat <= now_ns => self.stats.expired_removed += 1,
                    Some(_) => self.stats.live_evicted += 1,
                    None => break,
                }
            }
        }
        self.table.insert(key, new_tat);
    }
}
