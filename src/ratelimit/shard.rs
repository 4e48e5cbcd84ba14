//! The `RateLimiter` Durable Object's logic (one object per key shard) without I/O: the GCRA
//! state of the shard's keys, each check's decision, and the alarm's sweep. The object's driver
//! (`src/worker/rate_limiter.rs` + `RateLimiter` in `src/worker/entry.js`) reads storage and the
//! clock, feeds them in, and carries out what this module says: a storage read, a write, an alarm.
//!
//! # Why it is exact and global
//! Every check of a key goes to the one object named after the key's shard, wherever the
//! request arrived. An object runs one event at a time, and the read-modify-write of a key's
//! TAT has no await between the decision ([`Shard::check`] / [`Shard::loaded`]) and issuing the
//! write it returns ([`Decision::write`]), so concurrent checks are serialised: a burst of
//! `limit` is admitted and the next one is not, however many clients. A check whose key had to
//! be loaded first is decided after the load with whatever memory holds then: if another check
//! of the key ran during the read, memory wins over the value read.
//!
//! # State
//! Memory is a cache; storage is the record. Each admitted check with a cost writes the key's new
//! TAT to storage without awaiting the write: the runtime's output gate holds the response
//! until the write is durable, so an admitted answer is never lost by a restart (no window of
//! "admitted but forgotten"), and writes issued in the same turn are coalesced (cost: see
//! [`Decision::write`]). A key missing from memory is loaded from storage on first use
//! ([`Step::Load`]); memory can therefore be dropped at any time without losing a count, which
//! bounds it ([`MAX_MEMORY_KEYS`]). An alarm deletes keys whose TAT has passed (such a key is
//! the same as an absent one), so storage holds only keys still counting ([`Sweep`]).
//!
//! Time is an input everywhere (`now`); nothing here reads a clock.
//!
//! # Sharding and wire format
//! In `crate::ratelimit::durable` (which object a key lives in, the check's URL and the
//! answer's text).

use std::collections::HashMap;

use super::durable::{self as wire, Check};
use super::{check as gcra, Outcome};
use crate::time::UnixMillis;

/// Keys kept in one object's memory before it forgets the expired ones (and, if still over,
/// all of them: storage has every count, so forgetting costs a storage read, never a count).
pub const MAX_MEMORY_KEYS: usize = 100_000;
/// How often the alarm deletes passed keys from storage.
pub const SWEEP_EVERY_MS: u64 = 10 * 60 * 1000;
/// Keys per storage `list` page in the sweep.
pub const SWEEP_PAGE: usize = 512;
/// Keys per storage `delete` in the sweep.
pub const DELETE_CHUNK: usize = 128;
const NS_PER_MS: u64 = 1_000_000;

/// The GCRA state of one shard's keys (see the module docs).
#[derive(Debug)]
pub struct Shard {
    /// Key → TAT (ns since the epoch), the authoritative value once present.
    tats: HashMap<[u8; 16], u64>,
    max_memory_keys: usize,
    /// Whether this instance has made sure a sweep alarm exists.
    alarm_armed: bool,
}

/// What a check needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Not a check (`durable::parse_request` refused the path): answer 400.
    Malformed,
    /// The key is not in memory: read `check.key_hex` from storage, then [`Shard::loaded`].
    Load(Check),
    /// Decided from memory.
    Decided(Decision),
}

/// A decided check: the answer, and what to carry out, in this order and without an await
/// before the write is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// A TAT to write (a BigInt: nanoseconds exceed a double's exact range) — issued before
    /// anything is awaited, and not awaited itself. The output gate delays the answer until
    /// the write is durable, and a failed write resets the object instead of answering, so no
    /// admitted unit is forgotten. Only for an admitted check with a cost.
    ///
    /// Cost, measured under `wrangler dev` on 2 busy cores (1000 sequential checks of one key
    /// from inside the Worker, median of 7 runs): 2.8 ms per check with this write, 0.9 ms from
    /// memory only; `allowUnconfirmed` did not help (2.7 ms). Kept per check anyway: the
    /// `durable` backend is for the strict rules (login, sign-up, refresh), where ~2 ms is small
    /// next to the request and an exact count across restarts and evictions is the point.
    /// Periodic persistence would forget the admits since the last flush on every eviction.
    pub write: Option<Write>,
    /// Make sure a sweep alarm exists: if storage has none, set one at this time; then
    /// [`Shard::alarm_armed`]. Asked until this instance has done so once (an earlier alarm is kept).
    pub ensure_alarm_at: Option<UnixMillis>,
}

/// A storage write: `key_hex` → `tat` (ns since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub key_hex: String,
    pub tat: u64,
}

impl Decision {
    /// The answer's text (`durable` wire format).
    pub fn body(&self) -> String {
        wire::outcome_body(&self.outcome)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Self::new()
    }
}

impl Shard {
    pub fn new() -> Self {
        Self::with_memory_limit(MAX_MEMORY_KEYS)
    }

    /// A shard that keeps at most `max_memory_keys` keys in memory (tests use a small bound).
    pub fn with_memory_limit(max_memory_keys: usize) -> Self {
        Shard {
            tats: HashMap::new(),
            max_memory_keys: max_memory_keys.max(1),
            alarm_armed: false,
        }
    }

    /// A check (`/check/<key>/<limit>/<period_ms>/<cost>`) at `now`: decided from memory, or the
    /// key's stored value is needed first.
    pub fn check(&mut self, path: &str, now: UnixMillis) -> Step {
        let Some(c) = wire::parse_request(path) else {
            return Step::Malformed;
        };
        match self.tats.get(&c.key).copied() {
            Some(tat) => Step::Decided(self.decide(c, Some(tat), now)),
            None => Step::Load(c),
        }
    }

    /// The check of a [`Step::Load`], once `stored` (the value under its `key_hex`, `None` when
    /// absent or not a TAT) has been read. Another check of this key may have run during the
    /// read: memory wins then.
    pub fn loaded(&mut self, check: Check, stored: Option<u64>, now: UnixMillis) -> Decision {
        let tat = self.tats.get(&check.key).copied().or(stored);
        self.decide(check, tat, now)
    }

    fn decide(&mut self, c: Check, tat: Option<u64>, now: UnixMillis) -> Decision {
        let outcome = gcra(tat, c.quota, now, c.cost);
        let write = match outcome {
            Outcome::Allowed { new_tat, .. } if c.cost > 0 => {
                self.remember(c.key, new_tat, now);
                Some(Write {
                    key_hex: c.key_hex,
                    tat: new_tat,
                })
            }
            _ => None,
        };
        Decision {
            outcome,
            write,
            ensure_alarm_at: (!self.alarm_armed).then(|| now.plus_millis(SWEEP_EVERY_MS)),
        }
    }

    /// The driver made sure an alarm exists ([`Decision::ensure_alarm_at`]).
    pub fn alarm_armed(&mut self) {
        self.alarm_armed = true;
    }

    fn remember(&mut self, key: [u8; 16], tat: u64, now: UnixMillis) {
        if self.tats.len() >= self.max_memory_keys && !self.tats.contains_key(&key) {
            let now_ns = now.0.saturating_mul(NS_PER_MS);
            self.tats.retain(|_, t| *t > now_ns);
            if self.tats.len() >= self.max_memory_keys {
                self.tats.clear();
            }
        }
        self.tats.insert(key, tat);
    }

    /// The alarm's sweep at `now`: forgets passed keys from memory and starts reading storage
    /// (see [`Sweep`]).
    pub fn start_sweep(&mut self, now: UnixMillis) -> Sweep {
        let now_ns = now.0.saturating_mul(NS_PER_MS);
        self.tats.retain(|_, tat| *tat > now_ns);
        Sweep {
            now_ns,
            still_counting: false,
            seen: 0,
            last: None,
            passed: Vec::new(),
        }
    }

    /// The next keys to delete (at most [`DELETE_CHUNK`], never empty), or `None` when the
    /// page's passed keys are done. A key checked again since the page was read is in memory
    /// with a future TAT and is kept: call this in the same turn as the delete is issued.
    pub fn next_deletion(&self, sweep: &mut Sweep) -> Option<Vec<String>> {
        while !sweep.passed.is_empty() {
            let n = sweep.passed.len().min(DELETE_CHUNK);
            let gone: Vec<String> = sweep
                .passed
                .drain(..n)
                .filter(|k| wire::parse_key(k).is_none_or(|b| !self.tats.contains_key(&b)))
                .collect();
            if !gone.is_empty() {
                return Some(gone);
            }
        }
        None
    }

    /// The end of the sweep at `now`: when the alarm should run again, or `None` when nothing is
    /// left to sweep (then the next check arms it again).
    pub fn finish_sweep(&mut self, sweep: Sweep, now: UnixMillis) -> Option<UnixMillis> {
        if sweep.still_counting || !self.tats.is_empty() {
            Some(now.plus_millis(SWEEP_EVERY_MS))
        } else {
            self.alarm_armed = false;
            None
        }
    }
}

/// The alarm's pass over storage, started by [`Shard::start_sweep`]: list a page of
/// [`SWEEP_PAGE`] keys (from the start, then from [`Sweep::next_page`]), feed each entry to
/// [`Sweep::entry`], delete what [`Shard::next_deletion`] gives until `None`, then ask
/// [`Sweep::next_page`]; at the end, [`Shard::finish_sweep`].
#[derive(Debug)]
pub struct Sweep {
    now_ns: u64,
    /// A stored key with a future TAT was seen: the alarm runs again.
    still_counting: bool,
    /// Entries of the current page.
    seen: usize,
    last: Option<String>,
    /// Keys of the current page whose TAT has passed (or is not a TAT), not yet deleted.
    passed: Vec<String>,
}

impl Sweep {
    /// One entry of the listed page: `stored` is the value, `None` when it is not a TAT.
    pub fn entry(&mut self, key: String, stored: Option<u64>) {
        self.seen += 1;
        match stored {
            Some(tat) if tat > self.now_ns => self.still_counting = true,
            _ => self.passed.push(key.clone()),
        }
        self.last = Some(key);
    }

    /// After the page's deletions: where the next page starts, or `None` when this page was not
    /// full (the last one). `start` is inclusive: the next page begins just after the last key.
    pub fn next_page(&mut self) -> Option<String> {
        debug_assert!(self.passed.is_empty(), "the page's deletions come first");
        let full = self.seen >= SWEEP_PAGE;
        self.seen = 0;
        let last = self.last.take();
        if full {
            last.map(|k| k + "\0")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{Quota, RateKey};

    const NOW: UnixMillis = UnixMillis(1_796_000_000_000);

    fn key(n: u16) -> RateKey {
        let mut b = [0u8; 16];
        b[..2].copy_from_slice(&n.to_be_bytes());
        RateKey::from_bytes(b)
    }

    fn path(n: u16, limit: u32, period_ms: u64, cost: u32) -> String {
        let url = wire::request_url(&key(n), Quota::new(limit, period_ms).unwrap(), cost);
        url.strip_prefix("https://rate-limiter").unwrap().to_owned()
    }

    fn ns(t: UnixMillis) -> u64 {
        t.0 * NS_PER_MS
    }

    /// A check carried out as the driver does: load when asked (from `stored`), then decide.
    fn run(shard: &mut Shard, path: &str, stored: Option<u64>, now: UnixMillis) -> Decision {
        match shard.check(path, now) {
            Step::Decided(d) => d,
            Step::Load(c) => shard.loaded(c, stored, now),
            Step::Malformed => panic!("malformed: {path}"),
        }
    }

    #[test]
    fn a_malformed_path_is_refused() {
        let mut s = Shard::new();
        assert_eq!(s.check("/check/zz/10/60000/1", NOW), Step::Malformed);
        assert_eq!(s.check("/other", NOW), Step::Malformed);
    }

    #[test]
    fn an_unknown_key_is_loaded_then_answered_from_memory() {
        let mut s = Shard::new();
        let p = path(1, 10, 60_000, 1);
        let Step::Load(c) = s.check(&p, NOW) else {
            panic!("a key not in memory needs its stored value")
        };
        assert_eq!(c.key_hex, key(1).to_hex());
        let d = s.loaded(c, None, NOW);
        assert_eq!(d.outcome.remaining(), 9);
        // Now in memory: decided without a load.
        let Step::Decided(d) = s.check(&p, NOW) else {
            panic!("the key is in memory")
        };
        assert_eq!(d.outcome.remaining(), 8);
    }

    #[test]
    fn a_stored_tat_counts_after_a_load() {
        let mut s = Shard::new();
        // 10 per minute, 9 already spent at NOW: one left.
        let stored = ns(NOW) + 9 * 6_000 * NS_PER_MS;
        let d = run(&mut s, &path(1, 10, 60_000, 1), Some(stored), NOW);
        assert_eq!(d.outcome.remaining(), 0);
        assert!(d.outcome.is_allowed());
        let d = run(&mut s, &path(1, 10, 60_000, 1), None, NOW);
        assert_eq!(d.outcome.retry_after_ms(), Some(6_000));
    }

    #[test]
    fn memory_wins_over_a_value_read_while_another_check_ran() {
        let mut s = Shard::new();
        let p = path(1, 10, 60_000, 1);
        let Step::Load(first) = s.check(&p, NOW) else {
            panic!()
        };
        let Step::Load(second) = s.check(&p, NOW) else {
            panic!()
        };
        // Both reads found nothing; the first finishes and fills memory.
        let a = s.loaded(first, None, NOW);
        let b = s.loaded(second, None, NOW);
        assert_eq!((a.outcome.remaining(), b.outcome.remaining()), (9, 8));
        let (Some(wa), Some(wb)) = (a.write, b.write) else {
            panic!("both admitted")
        };
        assert!(wb.tat > wa.tat, "the second check counted the first");
    }

    #[test]
    fn only_admitted_checks_with_a_cost_are_written() {
        let mut s = Shard::new();
        let d = run(&mut s, &path(1, 2, 60_000, 1), None, NOW);
        let Outcome::Allowed { new_tat, .. } = d.outcome else {
            panic!()
        };
        assert_eq!(
            d.write,
            Some(Write {
                key_hex: key(1).to_hex(),
                tat: new_tat
            })
        );
        // Cost 0 reports the state and writes nothing.
        let d = run(&mut s, &path(1, 2, 60_000, 0), None, NOW);
        assert!(d.outcome.is_allowed());
        assert_eq!((d.outcome.remaining(), d.write), (1, None));
        run(&mut s, &path(1, 2, 60_000, 1), None, NOW);
        // Refused: nothing written, the count is unchanged.
        let d = run(&mut s, &path(1, 2, 60_000, 1), None, NOW);
        assert!(!d.outcome.is_allowed());
        assert_eq!(d.write, None);
        // A cost-0 check of an unknown key is not remembered: it is loaded again next time.
        let _ = run(&mut s, &path(2, 2, 60_000, 0), None, NOW);
        assert!(matches!(
            s.check(&path(2, 2, 60_000, 0), NOW),
            Step::Load(_)
        ));
    }

    #[test]
    fn the_answer_is_the_wire_format() {
        let mut s = Shard::new();
        let d = run(&mut s, &path(1, 10, 60_000, 1), None, NOW);
        assert_eq!(wire::parse_outcome(&d.body()), Some(d.outcome));
        assert!(d.body().starts_with("a "));
    }

    #[test]
    fn the_alarm_is_ensured_until_armed_and_again_after_an_empty_sweep() {
        let mut s = Shard::new();
        let at = NOW.plus_millis(SWEEP_EVERY_MS);
        // Every check asks (refused and cost-0 ones too) until the driver confirms.
        assert_eq!(
            run(&mut s, &path(1, 10, 60_000, 0), None, NOW).ensure_alarm_at,
            Some(at)
        );
        assert_eq!(
            run(&mut s, &path(1, 10, 60_000, 1), None, NOW).ensure_alarm_at,
            Some(at)
        );
        s.alarm_armed();
        assert_eq!(
            run(&mut s, &path(1, 10, 60_000, 1), None, NOW).ensure_alarm_at,
            None
        );
        // A sweep that leaves nothing disarms it: the next check arms it again.
        let later = NOW.plus_millis(120_000);
        let sweep = s.start_sweep(later);
        assert_eq!(s.finish_sweep(sweep, later), None);
        let d = run(&mut s, &path(1, 10, 60_000, 1), None, later);
        assert_eq!(d.ensure_alarm_at, Some(later.plus_millis(SWEEP_EVERY_MS)));
    }

    #[test]
    fn memory_forgets_passed_keys_first_then_everything_but_never_a_count() {
        let mut s = Shard::with_memory_limit(3);
        // Keys 1 and 2: 1 per second, passed after 1 s. Key 3: 1 per hour.
        run(&mut s, &path(1, 1, 1_000, 1), None, NOW);
        run(&mut s, &path(2, 1, 1_000, 1), None, NOW);
        run(&mut s, &path(3, 1, 3_600_000, 1), None, NOW);
        let later = NOW.plus_millis(2_000);
        // Full: a new key forgets the passed ones (1 and 2) and keeps key 3.
        run(&mut s, &path(4, 1, 3_600_000, 1), None, later);
        assert!(matches!(
            s.check(&path(1, 1, 1_000, 1), later),
            Step::Load(_)
        ));
        assert!(matches!(
            s.check(&path(2, 1, 1_000, 1), later),
            Step::Load(_)
        ));
        assert!(matches!(
            s.check(&path(3, 1, 3_600_000, 1), later),
            Step::Decided(_)
        ));
        // Keys 3, 4, 5 all counting: a sixth clears memory (storage has every count).
        run(&mut s, &path(5, 1, 3_600_000, 1), None, later);
        let d = run(&mut s, &path(6, 1, 3_600_000, 1), None, later);
        assert!(d.write.is_some());
        assert!(matches!(
            s.check(&path(3, 1, 3_600_000, 1), later),
            Step::Load(_)
        ));
        assert!(matches!(
            s.check(&path(6, 1, 3_600_000, 1), later),
            Step::Decided(_)
        ));
        // A key already in memory never triggers forgetting: fill memory ({6}) to the bound
        // and check one of its keys again.
        run(&mut s, &path(7, 10, 3_600_000, 1), None, later);
        run(&mut s, &path(8, 10, 3_600_000, 1), None, later);
        let d = run(&mut s, &path(7, 10, 3_600_000, 1), None, later);
        assert_eq!(d.outcome.remaining(), 8);
        for n in [6, 7, 8] {
            assert!(matches!(
                s.check(&path(n, 10, 3_600_000, 0), later),
                Step::Decided(_)
            ));
        }
    }

    fn drain(s: &Shard, sweep: &mut Sweep) -> Vec<Vec<String>> {
        std::iter::from_fn(|| s.next_deletion(sweep)).collect()
    }

    #[test]
    fn the_sweep_deletes_passed_keys_and_garbage_and_keeps_counting_ones() {
        let mut s = Shard::new();
        s.alarm_armed();
        let mut sweep = s.start_sweep(NOW);
        sweep.entry(key(1).to_hex(), Some(ns(NOW) - 1));
        sweep.entry(key(2).to_hex(), Some(ns(NOW) + 1));
        sweep.entry("not-a-key".into(), Some(0));
        sweep.entry(key(3).to_hex(), None); // not a TAT
        sweep.entry(key(4).to_hex(), Some(ns(NOW)));
        let deleted = drain(&s, &mut sweep);
        assert_eq!(
            deleted,
            vec![vec![
                key(1).to_hex(),
                "not-a-key".into(),
                key(3).to_hex(),
                key(4).to_hex()
            ]]
        );
        assert_eq!(
            sweep.next_page(),
            None,
            "a page that is not full is the last"
        );
        // Key 2 still counts: the alarm runs again.
        assert_eq!(
            s.finish_sweep(sweep, NOW),
            Some(NOW.plus_millis(SWEEP_EVERY_MS))
        );
    }

    #[test]
    fn a_key_checked_again_since_the_list_is_kept() {
        let mut s = Shard::new();
        let p = path(1, 1, 1_000, 1);
        run(&mut s, &p, None, NOW);
        let later = NOW.plus_millis(5_000);
        let mut sweep = s.start_sweep(later);
        // Listed with its old (passed) TAT; memory forgot it at the start.
        sweep.entry(key(1).to_hex(), Some(ns(NOW) + 1_000 * NS_PER_MS));
        sweep.entry(key(2).to_hex(), Some(ns(NOW)));
        // Checked again between the list and the delete: in memory with a future TAT.
        run(&mut s, &p, None, later);
        assert_eq!(drain(&s, &mut sweep), vec![vec![key(2).to_hex()]]);
        assert_eq!(sweep.next_page(), None);
        // Nothing counting in storage, but memory holds key 1: the alarm runs again.
        assert_eq!(
            s.finish_sweep(sweep, later),
            Some(later.plus_millis(SWEEP_EVERY_MS))
        );
    }

    #[test]
    fn the_sweep_deletes_in_chunks_and_pages_while_pages_are_full() {
        let mut s = Shard::new();
        s.alarm_armed();
        let mut sweep = s.start_sweep(NOW);
        let keys: Vec<String> = (0..SWEEP_PAGE as u16).map(|n| key(n).to_hex()).collect();
        for k in &keys {
            sweep.entry(k.clone(), Some(1));
        }
        let deleted = drain(&s, &mut sweep);
        assert_eq!(deleted.len(), SWEEP_PAGE / DELETE_CHUNK);
        assert!(deleted.iter().all(|c| c.len() == DELETE_CHUNK));
        assert_eq!(deleted.concat(), keys);
        // A full page: continue just after its last key (`start` is inclusive).
        assert_eq!(
            sweep.next_page(),
            Some(format!("{}\0", keys[SWEEP_PAGE - 1]))
        );
        // The next page is short: the last.
        sweep.entry(key(9_999).to_hex(), Some(1));
        assert_eq!(drain(&s, &mut sweep), vec![vec![key(9_999).to_hex()]]);
        assert_eq!(sweep.next_page(), None);
        // Nothing left anywhere: no re-arm, and the next check arms the alarm again.
        assert_eq!(s.finish_sweep(sweep, NOW), None);
        let d = run(&mut s, &path(1, 10, 60_000, 1), None, NOW);
        assert!(d.ensure_alarm_at.is_some());
    }

    #[test]
    fn a_chunk_with_every_key_kept_is_skipped() {
        let mut s = Shard::new();
        let later = NOW.plus_millis(5_000);
        let mut sweep = s.start_sweep(later);
        let keys: Vec<u16> = (0..DELETE_CHUNK as u16 + 1).collect();
        for &n in &keys {
            sweep.entry(key(n).to_hex(), Some(0));
        }
        // The first chunk's keys are all checked again: only the last key is deleted.
        for &n in &keys[..DELETE_CHUNK] {
            run(&mut s, &path(n, 1, 3_600_000, 1), None, later);
        }
        assert_eq!(
            drain(&s, &mut sweep),
            vec![vec![key(DELETE_CHUNK as u16).to_hex()]]
        );
    }
}
