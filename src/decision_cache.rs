//! The per-isolate cache of verified auth decisions, bounded in entries and in approximate bytes,
//! with TTLs capped by the token's `exp`. A token is known by [`TokenKey`]: the SHA-256 of its
//! signature segment (the map key) and its signed part, compared in full on a hit. The token itself
//! is never kept.
//! Also home of [`Lru`], the O(1) bounded LRU engine the local rate limiter reuses.
//!
//! A hit only saves the signature check: the caller still applies revocations, rate limits and
//! route permissions to the cached claims.

use core::hash::Hash;
use core::mem::size_of;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::reason::Reason;
use crate::time::UnixMillis;

// ---------------------------------------------------------------------------------------------
// The LRU engine
// ---------------------------------------------------------------------------------------------

const NIL: u32 = u32::MAX;

struct Slot<K, V> {
    entry: Option<(K, V)>,
    /// Towards the most recently used end.
    prev: u32,
    /// Towards the least recently used end.
    next: u32,
}

/// A least-recently-used map with O(1) `get`, `insert`, `remove` and `pop_lru`: a slab of slots
/// linked into an intrusive doubly linked list (indices, not pointers), plus a `HashMap` from key to
/// slot index. Freed slots are reused, so memory is bounded by the peak number of live entries.
///
/// It has no capacity of its own: owners ([`DecisionCache`], the local rate limiter) decide when to
/// evict, because they bound by bytes and by expiry as well as by count.
pub struct Lru<K, V> {
    map: HashMap<K, u32>,
    slots: Vec<Slot<K, V>>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    /// Expected maximum length: the slab grows exactly up to it instead of doubling past it.
    max_len_hint: usize,
}

impl<K: Hash + Eq + Clone, V> Default for Lru<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub fn new() -> Self {
        Lru {
            map: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            max_len_hint: usize::MAX,
        }
    }

    /// An LRU whose owner will keep at most about `max_len` entries: the slab then stops growing
    /// at that size rather than doubling past it. Nothing is allocated up front.
    pub fn with_max_len_hint(max_len: usize) -> Self {
        Lru {
            max_len_hint: max_len,
            ..Self::new()
        }
    }

    /// Approximate bytes one live entry costs in this structure, excluding heap memory owned by
    /// `K` or `V`: the slot, the hash-map entry at its 7/8 maximum load, one free-list index.
    pub const fn entry_overhead() -> usize {
        size_of::<Slot<K, V>>() + (size_of::<(K, u32)>() + 1) * 8 / 7 + size_of::<u32>()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Looks up and marks as most recently used.
    pub fn get(&mut self, key: &K) -> Option<&mut V> {
        let idx = *self.map.get(key)?;
        self.move_to_front(idx);
        self.slots[idx as usize].entry.as_mut().map(|(_, v)| v)
    }

    /// Looks up without touching the recency order.
    pub fn peek(&self, key: &K) -> Option<&V> {
        let idx = *self.map.get(key)?;
        self.slots[idx as usize].entry.as_ref().map(|(_, v)| v)
    }

    /// Inserts as most recently used; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(&idx) = self.map.get(&key) {
            self.move_to_front(idx);
            let slot = self.slots[idx as usize].entry.as_mut()?;
            return Some(core::mem::replace(&mut slot.1, value));
        }
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].entry = Some((key.clone(), value));
                i
            }
            None => {
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i != NIL)
                    .expect("lru holds fewer than 2^32 - 1 entries");
                if self.slots.len() == self.slots.capacity() {
                    let len = self.slots.len();
                    let room = self.max_len_hint.saturating_sub(len);
                    if room > 0 {
                        self.slots.reserve_exact(room.min(len.max(4)));
                    }
                }
                self.slots.push(Slot {
                    entry: Some((key.clone(), value)),
                    prev: NIL,
                    next: NIL,
                });
                i
            }
        };
        self.map.insert(key, idx);
        self.link_front(idx);
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let idx = self.map.remove(key)?;
        self.release(idx).map(|(_, v)| v)
    }

    /// The least recently used entry, without removing it.
    pub fn peek_lru(&self) -> Option<(&K, &V)> {
        if self.tail == NIL {
            return None;
        }
        self.slots[self.tail as usize]
            .entry
            .as_ref()
            .map(|(k, v)| (k, v))
    }

    /// Removes and returns the least recently used entry.
    pub fn pop_lru(&mut self) -> Option<(K, V)> {
        if self.tail == NIL {
            return None;
        }
        let idx = self.tail;
        let (k, v) = self.release(idx)?;
        self.map.remove(&k);
        Some((k, v))
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.slots.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    fn release(&mut self, idx: u32) -> Option<(K, V)> {
        self.unlink(idx);
        let entry = self.slots[idx as usize].entry.take();
        self.free.push(idx);
        entry
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        let s = &mut self.slots[idx as usize];
        s.prev = NIL;
        s.next = NIL;
    }

    fn link_front(&mut self, idx: u32) {
        let old_head = self.head;
        {
            let s = &mut self.slots[idx as usize];
            s.prev = NIL;
            s.next = old_head;
        }
        if old_head != NIL {
            self.slots[old_head as usize].prev = idx;
        }
        self.head = idx;
        if self.tail == NIL {
            self.tail = idx;
        }
    }

    fn move_to_front(&mut self, idx: u32) {
        if self.head != idx {
            self.unlink(idx);
            self.link_front(idx);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The decision cache
// ---------------------------------------------------------------------------------------------

/// SHA-256 of a token's signature segment: the decision cache's map key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A presented token as the decision cache knows it: the SHA-256 of its signature segment (the
/// map key) and its signed part (`header.payload`), which a positive entry keeps and compares in
/// full on a hit, so a hit means the very bytes that were verified.
///
/// Why not a SHA-256 of the whole token, as before: the signature segment is 43 bytes for HS256
/// and 86 for ES256, one or two SHA-256 blocks where a 400-byte token took seven, on every
/// request the cache answers (docs/PERFORMANCE.md, session 16). What is kept stays unusable as a
/// credential: the signed part without its signature, and a hash of the signature.
///
/// Built only from the token ([`TokenKey::of`]), so a hash cannot be paired with another token's
/// signed part.
#[derive(Clone, Copy)]
pub struct TokenKey<'t> {
    hash: TokenHash,
    signed: &'t str,
}

impl<'t> TokenKey<'t> {
    /// Splits at the last `.` (a token without one is all signature, with an empty signed part).
    pub fn of(token: &'t str) -> Self {
        let (signed, signature) = token.rsplit_once('.').unwrap_or(("", token));
        TokenKey {
            hash: TokenHash(Sha256::digest(signature.as_bytes()).into()),
            signed,
        }
    }

    pub fn hash(&self) -> &TokenHash {
        &self.hash
    }

    /// SHA-256 of the signed part: what a negative entry keeps (a flood of forged tokens must not
    /// cost their full size each).
    fn signed_hash(&self) -> [u8; 32] {
        Sha256::digest(self.signed.as_bytes()).into()
    }
}

impl core::fmt::Debug for TokenKey<'_> {
    /// The hash's prefix and the signed part's length: no claims in a log line.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "TokenKey({:?}, {} signed bytes)",
            self.hash,
            self.signed.len()
        )
    }
}

impl core::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // A prefix is enough to correlate log lines.
        write!(f, "TokenHash(")?;
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// How many heap bytes a cached value owns beyond `size_of::<Self>()`; approximate is fine, it
/// only has to make the byte bound meaningful.
pub trait SizeHint {
    fn heap_bytes(&self) -> usize;
}

impl SizeHint for crate::jwt::VerifiedClaims {
    fn heap_bytes(&self) -> usize {
        let strings = |v: &[String]| -> usize {
            core::mem::size_of_val(v) + v.iter().map(String::capacity).sum::<usize>()
        };
        self.issuer().len()
            + self.subject().len()
            + self.session_id().map_or(0, str::len)
            + self.token_id().map_or(0, str::len)
            + strings(self.roles())
            + strings(self.permissions())
            + self.roles_header().len()
            + self.permissions_header().len()
    }
}

impl SizeHint for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl SizeHint for () {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Bounds and lifetimes of a [`DecisionCache`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most positive entries kept.
    pub max_entries: usize,
    /// Most approximate bytes the positive entries may use (overhead + value + its heap).
    pub max_bytes: usize,
    /// Upper bound on how long a verified decision is reused; the token's `exp` caps it further.
    pub ttl_ms: u64,
    /// How long a token whose signature failed is answered from the cache.
    pub negative_ttl_ms: u64,
    /// Most negative entries kept; separate so a flood of bad tokens cannot evict good decisions.
    pub max_negative_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 10_000,
            max_bytes: 8 << 20,
            ttl_ms: 60_000,
            negative_ttl_ms: 10_000,
            max_negative_entries: 2_000,
        }
    }
}

struct Positive<V> {
    value: V,
    expires_at: UnixMillis,
    bytes: usize,
    /// The verified token's signed part, compared in full on every hit.
    signed: Box<str>,
}

struct Negative {
    reason: Reason,
    expires_at: UnixMillis,
    /// SHA-256 of the refused token's signed part.
    signed: [u8; 32],
}

/// The answer of [`DecisionCache::get`].
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a, V> {
    /// A verified decision, still within its TTL.
    Hit(&'a V),
    /// This token failed verification recently, for this reason.
    Negative(Reason),
    Miss,
}

/// What [`DecisionCache::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    Stored {
        ttl_ms: u64,
    },
    /// The token expires now or earlier: nothing to reuse.
    NotStoredExpired,
    /// The entry alone exceeds `max_bytes`.
    NotStoredTooLarge,
    /// `max_entries` or `max_bytes` is 0: caching disabled.
    NotStoredDisabled,
}

/// Counters for the per-request log and the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub negative_hits: u64,
    pub misses: u64,
    /// Live entries dropped to respect a bound.
    pub evictions: u64,
    /// Entries found past their TTL and dropped.
    pub expirations: u64,
}

/// Per-isolate LRU of verified decisions. `V` is what the adapter reuses on a hit
/// (`crate::jwt::VerifiedClaims`).
pub struct DecisionCache<V> {
    config: CacheConfig,
    positive: Lru<TokenHash, Positive<V>>,
    negative: Lru<TokenHash, Negative>,
    bytes: usize,
    stats: CacheStats,
}

impl<V: SizeHint> DecisionCache<V> {
    pub fn new(config: CacheConfig) -> Self {
        DecisionCache {
            config,
            positive: Lru::new(),
            negative: Lru::new(),
            bytes: 0,
            stats: CacheStats::default(),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Fixed bytes charged per positive entry on top of the value's own heap.
    pub const fn entry_overhead() -> usize {
        Lru::<TokenHash, Positive<V>>::entry_overhead()
    }

    /// Looks the token up; an expired entry is dropped and reported as a miss. An entry under the
    /// same signature for other signed bytes is another token: a miss, left in place.
    pub fn get(&mut self, key: &TokenKey<'_>, now: UnixMillis) -> Lookup<'_, V> {
        let found = self
            .positive
            .peek(&key.hash)
            .filter(|e| crate::text::same_bytes(e.signed.as_bytes(), key.signed.as_bytes()))
            .map(|e| e.expires_at);
        match found {
            Some(exp) if now < exp => {
                self.stats.hits += 1;
                return match self.positive.get(&key.hash) {
                    Some(e) => Lookup::Hit(&e.value),
                    None => Lookup::Miss,
                };
            }
            Some(_) => {
                self.remove_positive(&key.hash);
                self.stats.expirations += 1;
            }
            None => {}
        }
        if let Some(e) = self.negative.peek(&key.hash) {
            let (exp, reason) = (e.expires_at, e.reason);
            if e.signed == key.signed_hash() {
                if now < exp {
                    self.stats.negative_hits += 1;
                    return Lookup::Negative(reason);
                }
                self.negative.remove(&key.hash);
                self.stats.expirations += 1;
            }
        }
        self.stats.misses += 1;
        Lookup::Miss
    }

    /// Caches a verified decision for `min(ttl, token_exp - now)`, evicting least recently used
    /// entries until both bounds hold. Replaces a negative entry for the same token, and any
    /// positive entry under the same signature.
    pub fn insert(
        &mut self,
        key: &TokenKey<'_>,
        value: V,
        token_exp: UnixMillis,
        now: UnixMillis,
    ) -> Inserted {
        if self.config.max_entries == 0 || self.config.max_bytes == 0 {
            return Inserted::NotStoredDisabled;
        }
        let ttl_ms = self.config.ttl_ms.min(token_exp.millis_since(now));
        if ttl_ms == 0 {
            return Inserted::NotStoredExpired;
        }
        let bytes = Self::entry_overhead() + size_of::<V>() + value.heap_bytes() + key.signed.len();
        if bytes > self.config.max_bytes {
            return Inserted::NotStoredTooLarge;
        }
        self.remove_negative_of(key);
        self.remove_positive(&key.hash);
        while self.positive.len() >= self.config.max_entries
            || self.bytes + bytes > self.config.max_bytes
        {
            match self.positive.pop_lru() {
                Some((_, old)) => {
                    self.bytes -= old.bytes;
                    self.stats.evictions += 1;
                }
                None => break,
            }
        }
        self.bytes += bytes;
        self.positive.insert(
            key.hash,
            Positive {
                value,
                expires_at: now.plus_millis(ttl_ms),
                bytes,
                signed: key.signed.into(),
            },
        );
        Inserted::Stored { ttl_ms }
    }

    /// Remembers for `negative_ttl_ms` that this token failed with `reason` (meant for
    /// signature failures: they cannot become valid later, unlike an unknown key id). A positive
    /// entry under the same signature for other signed bytes stays: a forged payload under a
    /// copied signature must not evict the genuine token's decision.
    pub fn insert_negative(&mut self, key: &TokenKey<'_>, reason: Reason, now: UnixMillis) {
        if self.config.max_negative_entries == 0 || self.config.negative_ttl_ms == 0 {
            return;
        }
        self.remove_positive_of(key);
        if !self.negative.contains(&key.hash)
            && self.negative.len() >= self.config.max_negative_entries
            && self.negative.pop_lru().is_some()
        {
            self.stats.evictions += 1;
        }
        self.negative.insert(
            key.hash,
            Negative {
                reason,
                expires_at: now.plus_millis(self.config.negative_ttl_ms),
                signed: key.signed_hash(),
            },
        );
    }

    /// Forgets a token (both kinds of entry); true when something was removed.
    pub fn remove(&mut self, key: &TokenKey<'_>) -> bool {
        let p = self.remove_positive_of(key);
        let n = self.remove_negative_of(key);
        p || n
    }

    pub fn clear(&mut self) {
        self.positive.clear();
        self.negative.clear();
        self.bytes = 0;
    }

    /// Positive entries.
    pub fn len(&self) -> usize {
        self.positive.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positive.is_empty() && self.negative.is_empty()
    }

    pub fn negative_len(&self) -> usize {
        self.negative.len()
    }

    /// Approximate bytes used by positive entries (the quantity `max_bytes` bounds).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    fn remove_positive(&mut self, key: &TokenHash) -> bool {
        match self.positive.remove(key) {
            Some(old) => {
                self.bytes -= old.bytes;
                true
            }
            None => false,
        }
    }

    /// Removes the positive entry for exactly this token.
    fn remove_positive_of(&mut self, key: &TokenKey<'_>) -> bool {
        let same = self
            .positive
            .peek(&key.hash)
            .is_some_and(|e| crate::text::same_bytes(e.signed.as_bytes(), key.signed.as_bytes()));
        same && self.remove_positive(&key.hash)
    }

    /// Removes the negative entry for exactly this token.
    fn remove_negative_of(&mut self, key: &TokenKey<'_>) -> bool {
        let same = self
            .negative
            .peek(&key.hash)
            .is_some_and(|e| e.signed == key.signed_hash());
        same && self.negative.remove(&key.hash).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_pops_in_least_recently_used_order_and_reuses_slots() {
        let mut lru = Lru::new();
        for i in 0..4u32 {
            lru.insert(i, i * 10);
        }
        assert_eq!(lru.get(&0), Some(&mut 0)); // 0 becomes most recent
        assert_eq!(lru.pop_lru(), Some((1, 10)));
        assert_eq!(lru.remove(&2), Some(20));
        lru.insert(5, 50);
        assert_eq!(lru.slots.len(), 4, "freed slots are reused");
        let order: Vec<_> = core::iter::from_fn(|| lru.pop_lru().map(|(k, _)| k)).collect();
        assert_eq!(order, vec![3, 0, 5]);
        assert!(lru.is_empty());
        assert_eq!(lru.peek_lru(), None);
    }

    #[test]
    fn token_hash_debug_shows_only_a_prefix() {
        let s = format!("{:?}", TokenKey::of("a.b.c").hash());
        assert!(s.starts_with("TokenHash(") && s.len() < 30, "{s}");
    }
}
