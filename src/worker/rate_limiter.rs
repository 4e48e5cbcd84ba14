//! The `durable` rate-limit backend's object: the wasm side of the `RateLimiter` Durable Object
//! (one per key shard). A synchronous binding over the pure `crate::ratelimit::shard::Shard`,
//! which decides everything and whose module docs say why the count is exact, global and
//! durable. The class `RateLimiter` in `entry.js` owns the I/O: it reads storage and the clock,
//! calls in here, and carries out the answer (a storage write issued before any await, an
//! alarm, the `Response`).
//!
//! Plain values only: paths and keys as strings, times as milliseconds (numbers), TATs as `u64`
//! (BigInt: nanoseconds exceed a double's exact range; stored as BigInts, as they always were).
//! The result of the last `check`/`loaded` is kept here and read back by getters in the same
//! turn, so nothing is allocated for JS beyond the strings it needs.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsError, JsValue};

use crate::ratelimit::durable as wire;
use crate::ratelimit::shard::{Decision, Shard, Step, Sweep, SWEEP_PAGE};
use crate::time::UnixMillis;

/// `check`/`loaded` results (mirrored in `entry.js`).
const MALFORMED: u32 = 0;
const DECIDED: u32 = 1;
const LOAD: u32 = 2;

/// One object's state: the shard, the last decision, the sweep under way.
#[wasm_bindgen]
#[derive(Default)]
pub struct RateLimiterShard {
    shard: Shard,
    /// The storage key of the last check (to load, then to write).
    key: String,
    decision: Option<Decision>,
    sweep: Option<Sweep>,
}

fn millis(now_ms: f64) -> UnixMillis {
    UnixMillis(now_ms as u64)
}

#[wasm_bindgen]
impl RateLimiterShard {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// A check of `path` at `now_ms`: 0 malformed (answer 400), 1 decided (read `answer`,
    /// `write_tat`, `alarm_at`), 2 load the value under `key` and call `loaded`.
    pub fn check(&mut self, path: &str, now_ms: f64) -> u32 {
        self.decision = None;
        match self.shard.check(path, millis(now_ms)) {
            Step::Malformed => MALFORMED,
            Step::Load(c) => {
                self.key = c.key_hex;
                LOAD
            }
            Step::Decided(d) => self.decided(d),
        }
    }

    /// The same check once its stored value was read (`undefined`, or anything but a BigInt,
    /// counts as absent). The path is parsed again: other checks may have run meanwhile.
    pub fn loaded(&mut self, path: &str, stored: JsValue, now_ms: f64) -> u32 {
        self.decision = None;
        let Some(c) = wire::parse_request(path) else {
            return MALFORMED;
        };
        let d = self
            .shard
            .loaded(c, u64::try_from(stored).ok(), millis(now_ms));
        self.decided(d)
    }

    fn decided(&mut self, d: Decision) -> u32 {
        if let Some(w) = &d.write {
            self.key.clone_from(&w.key_hex);
        }
        self.decision = Some(d);
        DECIDED
    }

    /// The storage key of the last check.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> String {
        self.key.clone()
    }

    /// The last decision's answer text.
    pub fn answer(&self) -> String {
        self.decision
            .as_ref()
            .map(Decision::body)
            .unwrap_or_default()
    }

    /// The TAT to write under `key` now, without awaiting the write; `undefined`: no write.
    pub fn write_tat(&self) -> Option<u64> {
        self.decision.as_ref()?.write.as_ref().map(|w| w.tat)
    }

    /// If set: make sure an alarm exists (set one at this time, ms, if storage has none), then
    /// call `alarm_armed`.
    pub fn alarm_at(&self) -> Option<f64> {
        Some(self.decision.as_ref()?.ensure_alarm_at?.0 as f64)
    }

    pub fn alarm_armed(&mut self) {
        self.shard.alarm_armed();
    }

    /// Starts the alarm's sweep at `now_ms`; answers the `limit` of each storage `list` page.
    pub fn sweep_start(&mut self, now_ms: f64) -> u32 {
        self.sweep = Some(self.shard.start_sweep(millis(now_ms)));
        SWEEP_PAGE as u32
    }

    /// One entry of the listed page (`stored`: anything but a BigInt is not a TAT).
    pub fn sweep_entry(&mut self, key: String, stored: JsValue) -> Result<(), JsError> {
        self.sweep_mut()?.entry(key, u64::try_from(stored).ok());
        Ok(())
    }

    /// The next keys to delete (issue the delete in this turn), or `undefined` when the page
    /// is done.
    pub fn sweep_deletion(&mut self) -> Result<Option<Vec<String>>, JsError> {
        let sweep = self
            .sweep
            .as_mut()
            .ok_or_else(|| JsError::new("no sweep under way"))?;
        Ok(self.shard.next_deletion(sweep))
    }

    /// Where the next page starts (`start` of the next `list`), or `undefined`: the sweep is done.
    pub fn sweep_next_page(&mut self) -> Result<Option<String>, JsError> {
        Ok(self.sweep_mut()?.next_page())
    }

    /// Ends the sweep at `now_ms`: the time (ms) to set the next alarm at, or `undefined`.
    pub fn sweep_finish(&mut self, now_ms: f64) -> Result<Option<f64>, JsError> {
        let sweep = self
            .sweep
            .take()
            .ok_or_else(|| JsError::new("no sweep under way"))?;
        Ok(self
            .shard
            .finish_sweep(sweep, millis(now_ms))
            .map(|t| t.0 as f64))
    }

    fn sweep_mut(&mut self) -> Result<&mut Sweep, JsError> {
        self.sweep
            .as_mut()
            .ok_or_else(|| JsError::new("no sweep under way"))
    }
}
