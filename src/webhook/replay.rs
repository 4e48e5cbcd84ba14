//! Per-isolate replay defence: remembers the ids of recently accepted deliveries, bounded.
//!
//! Only ids of *verified* deliveries go in (so a forger cannot fill it), and an id is claimed
//! before forwarding: if the origin then fails, [`ReplayWindow::forget`] releases it so the
//! sender's retry (same id) is not answered "duplicate" and lost.

use std::collections::{HashMap, VecDeque};

use super::{Provider, VerifiedWebhook};
use crate::time::UnixMillis;

/// Default bound on remembered ids per window (≈ 3 MB worst case with 256-byte ids).
pub const DEFAULT_REPLAY_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayStatus {
    /// First time seen within the window: now remembered.
    Fresh,
    /// Already accepted within the window: answer `200 {"status":"duplicate"}`.
    Duplicate,
}

/// Bounded memory of `(provider, delivery id)` pairs. Every entry lives the same time, so
/// insertion order is expiry order: expired entries are dropped from the front, and when full
/// the oldest is evicted (a flood of valid deliveries cannot grow it; the origin's unique
/// `(provider, event id)` still catches a replay of an evicted id).
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    ttl_ms: u64,
    capacity: usize,
    seq: u64,
    /// key → (expires at, sequence number of the live queue entry).
    live: HashMap<String, (u64, u64)>,
    /// (sequence, key) in insertion order; entries whose sequence no longer matches `live`
    /// were forgotten or re-inserted and are skipped.
    order: VecDeque<(u64, String)>,
}

impl ReplayWindow {
    /// Entries live `2 × tolerance_secs`: a delivery signed at `T` passes the timestamp check
    /// anywhere in `[T − tol, T + tol]`, so an id first seen at `T − tol` can still be replayed
    /// with a valid timestamp until `T + tol`. (For GitHub, which has no timestamp, it is simply
    /// how long ids are remembered.)
    pub fn new(tolerance_secs: u64, capacity: usize) -> Self {
        ReplayWindow {
            ttl_ms: tolerance_secs.saturating_mul(2000),
            capacity: capacity.max(1),
            seq: 0,
            live: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// A window sized for `cfg` with the default capacity.
    pub fn for_config(cfg: &super::WebhookConfig) -> Self {
        Self::new(cfg.tolerance_secs, DEFAULT_REPLAY_CAPACITY)
    }

    fn key(provider: Provider, id: &str) -> String {
        let mut k = String::with_capacity(provider.id().len() + 1 + id.len());
        k.push_str(provider.id());
        k.push(':');
        k.push_str(id);
        k
    }

    /// Is this delivery new? If so it is remembered until it expires.
    pub fn check_and_insert(
        &mut self,
        provider: Provider,
        delivery_id: &str,
        now: UnixMillis,
    ) -> ReplayStatus {
        self.expire(now);
        let key = Self::key(provider, delivery_id);
        if let Some(&(expires, _)) = self.live.get(&key) {
            if expires > now.0 {
                return ReplayStatus::Duplicate;
            }
        }
        while self.live.len() >= self.capacity {
            if !self.pop_oldest() {
                break;
            }
        }
        self.seq += 1;
        self.live
            .insert(key.clone(), (now.0.saturating_add(self.ttl_ms), self.seq));
        self.order.push_back((self.seq, key));
        // Forgotten/re-inserted keys leave stale queue entries; keep the queue bounded too.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let live = &self.live;
            self.order
                .retain(|(seq, k)| live.get(k).is_some_and(|&(_, s)| s == *seq));
        }
        ReplayStatus::Fresh
    }

    /// [`Self::check_and_insert`] for a verified delivery; `None` when it carries no id.
    pub fn check_verified(&mut self, v: &VerifiedWebhook, now: UnixMillis) -> Option<ReplayStatus> {
        let provider = Provider::from_id(v.provider())?;
        Some(self.check_and_insert(provider, v.delivery_id()?, now))
    }

    /// Releases an id claimed by [`Self::check_and_insert`] (the origin did not take it).
    pub fn forget(&mut self, provider: Provider, delivery_id: &str) {
        self.live.remove(&Self::key(provider, delivery_id));
    }

    /// Ids currently remembered (expired ones may linger until the next insert).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    fn expire(&mut self, now: UnixMillis) {
        while let Some((seq, key)) = self.order.front() {
            match self.live.get(key) {
                Some(&(expires, s)) if s == *seq => {
                    if expires > now.0 {
                        break;
                    }
                    self.live.remove(key);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    /// Evicts the oldest live entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.live.get(&key).is_some_and(|&(_, s)| s == seq) {
                self.live.remove(&key);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplayStatus::*;

    const T0: UnixMillis = UnixMillis::from_secs(1_700_000_000);

    #[test]
    fn a_second_delivery_with_the_same_id_is_a_duplicate_until_it_expires() {
        let mut w = ReplayWindow::new(300, 100);
        assert_eq!(w.check_and_insert(Provider::GitHub, "a", T0), Fresh);
        assert_eq!(
            w.check_and_insert(Provider::GitHub, "a", T0.plus_secs(599)),
            Duplicate
        );
        assert_eq!(
            w.check_and_insert(Provider::Stripe, "a", T0),
            Fresh,
            "per provider"
        );
        assert_eq!(
            w.check_and_insert(Provider::GitHub, "a", T0.plus_secs(600)),
            Fresh
        );
    }

    #[test]
    fn a_flood_evicts_the_oldest_and_stays_bounded() {
        let mut w = ReplayWindow::new(300, 3);
        for i in 0..1000 {
            assert_eq!(
                w.check_and_insert(Provider::GitHub, &i.to_string(), T0),
                Fresh
            );
            assert!(w.len() <= 3 && w.order.len() <= 6);
        }
        assert_eq!(w.check_and_insert(Provider::GitHub, "999", T0), Duplicate);
        assert_eq!(
            w.check_and_insert(Provider::GitHub, "0", T0),
            Fresh,
            "evicted"
        );
    }

    #[test]
    fn forget_releases_an_id_and_churn_stays_bounded() {
        let mut w = ReplayWindow::new(300, 4);
        for _ in 0..1000 {
            assert_eq!(
                w.check_and_insert(Provider::StandardWebhooks, "x", T0),
                Fresh
            );
            w.forget(Provider::StandardWebhooks, "x");
            assert!(w.order.len() <= 8);
        }
        assert!(w.is_empty());
    }

    #[test]
    fn expired_entries_are_dropped() {
        let mut w = ReplayWindow::new(1, 100);
        for i in 0..50 {
            w.check_and_insert(Provider::GitHub, &i.to_string(), T0);
        }
        w.check_and_insert(Provider::GitHub, "late", T0.plus_secs(2));
        assert_eq!(w.len(), 1);
    }
}
