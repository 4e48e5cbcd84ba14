//! The `durable` rate-limit backend's object: the wasm side of the `RateLimiter` Durable Object
//! (one per key shard). A synchronous binding over the pure `crate::ratelimit::shard::Shard`,
//! which decides everything and whose module docs say why the count is exact, global and
//! durable. The class `RateLimiter` in `entry.js` owns the I/O: it reads storage and the clock,
//! calls in here, and carries out the answer (a storage write issued before any await, an
//! alarm, the `Response`).
//!
//! Numbers in, call frames out (`crate::call_frame`), like the request path's calls: each object
//! is an index into this instance's table (`edge_rl_new`, freed by `edge_rl_free` when JS
//! collects the object). Paths and keys are text, times milliseconds, TATs decimal text (a
//! BigInt on the JS side: nanoseconds exceed a double's exact range).
//!
//! | call | frame in | answers (a frame) |
//! | --- | --- | --- |
//! | `edge_rl_check(id, now_ms)` | path | a [`decision`] |
//! | `edge_rl_loaded(id, now_ms)` | path, the stored TAT (absent: none, or not a BigInt) | a [`decision`] |
//! | `edge_rl_sweep_entry(id)` | key, its stored TAT (absent: not a BigInt) | (a bool: false, no sweep under way) |
//! | `edge_rl_sweep_deletion(id)` | — | `delete`, the keys (delete them in this turn) · `done`: the page is done · `error`, why |
//! | `edge_rl_sweep_next_page(id)` | — | `page`, where the next `list` starts · `done`: the sweep is done · `error`, why |
//! | `edge_rl_sweep_finish(id, now_ms)` | — | `alarm`, when to set the next (ms) · `done` · `error`, why |

use std::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;

use super::frame::{input, output};
use crate::call_frame::Writer;
use crate::ratelimit::durable as wire;
use crate::ratelimit::shard::{Decision, Shard, Step, Sweep, SWEEP_PAGE};
use crate::time::UnixMillis;

/// One object's state: the shard and the sweep under way.
#[derive(Default)]
struct Object {
    shard: Shard,
    sweep: Option<Sweep>,
}

thread_local! {
    /// Every object of this instance; a freed slot is reused.
    static OBJECTS: RefCell<Vec<Option<Object>>> = const { RefCell::new(Vec::new()) };
}

fn millis(now_ms: f64) -> UnixMillis {
    UnixMillis(now_ms as u64)
}

/// Runs `f` on object `id` (`None`: no such object).
fn with<T>(id: u32, f: impl FnOnce(&mut Object) -> T) -> Option<T> {
    OBJECTS.with(|o| o.borrow_mut().get_mut(id as usize)?.as_mut().map(f))
}

/// A new object's id.
#[wasm_bindgen]
pub fn edge_rl_new() -> u32 {
    OBJECTS.with(|o| {
        let mut o = o.borrow_mut();
        let id = o.iter().position(Option::is_none).unwrap_or(o.len());
        if id == o.len() {
            o.push(None);
        }
        o[id] = Some(Object::default());
        id as u32
    })
}

/// Forgets object `id` (its JS object was collected).
#[wasm_bindgen]
pub fn edge_rl_free(id: u32) {
    OBJECTS.with(|o| {
        if let Some(slot) = o.borrow_mut().get_mut(id as usize) {
            *slot = None;
        }
    });
}

/// A check's answer, five fields: the step (`malformed`: answer 400; `load`: read the stored
/// value under the key, then `edge_rl_loaded`; `decided`; `error`: no such object), the storage
/// key (to load, or to write), the TAT to write under it now without awaiting the write (absent:
/// no write), the time (ms) an alarm must exist by (absent: none; set one if storage has none,
/// then `edge_rl_alarm_armed`), the answer's text.
fn decision(step: Option<Step>) -> f64 {
    let w = Writer::new();
    output(
        match step {
            None => w.str("error").text(None).text(None).text(None).text(None),
            Some(Step::Malformed) => w
                .str("malformed")
                .text(None)
                .text(None)
                .text(None)
                .text(None),
            Some(Step::Load(c)) => w
                .str("load")
                .str(&c.key_hex)
                .text(None)
                .text(None)
                .text(None),
            Some(Step::Decided(d)) => decided(w, &d),
        }
        .finish(),
    )
}

fn decided(w: Writer, d: &Decision) -> Writer {
    let alarm = d.ensure_alarm_at.map(|t| t.0.to_string());
    w.str("decided")
        .text(d.write.as_ref().map(|w| w.key_hex.as_str()))
        .text(d.write.as_ref().map(|w| w.tat.to_string()).as_deref())
        .text(alarm.as_deref())
        .str(&d.body())
}

/// A check of the path in the frame at `now_ms`.
#[wasm_bindgen]
pub fn edge_rl_check(id: u32, now_ms: f64, len: u32) -> f64 {
    let Ok(path) = input(len, |r| Ok(r.required()?.to_owned())) else {
        return decision(Some(Step::Malformed));
    };
    decision(with(id, |o| o.shard.check(&path, millis(now_ms))))
}

/// The same check once its stored value was read. The path is parsed again: other checks may
/// have run meanwhile.
#[wasm_bindgen]
pub fn edge_rl_loaded(id: u32, now_ms: f64, len: u32) -> f64 {
    let read = input(len, |r| {
        let path = r.required()?.to_owned();
        Ok((path, r.text()?.and_then(|t| t.parse::<u64>().ok())))
    });
    let Ok((path, stored)) = read else {
        return decision(Some(Step::Malformed));
    };
    decision(with(id, |o| match wire::parse_request(&path) {
        Some(c) => Step::Decided(o.shard.loaded(c, stored, millis(now_ms))),
        None => Step::Malformed,
    }))
}

#[wasm_bindgen]
pub fn edge_rl_alarm_armed(id: u32) {
    with(id, |o| o.shard.alarm_armed());
}

/// Starts the alarm's sweep at `now_ms`; answers the `limit` of each storage `list` page (0: no
/// such object).
#[wasm_bindgen]
pub fn edge_rl_sweep_start(id: u32, now_ms: f64) -> u32 {
    with(id, |o| {
        o.sweep = Some(o.shard.start_sweep(millis(now_ms)));
        SWEEP_PAGE as u32
    })
    .unwrap_or(0)
}

/// One entry of the listed page (frame: the key, its TAT); false: no sweep under way.
#[wasm_bindgen]
pub fn edge_rl_sweep_entry(id: u32, len: u32) -> bool {
    let Ok((key, stored)) = input(len, |r| {
        let key = r.required()?.to_owned();
        Ok((key, r.text()?.and_then(|t| t.parse::<u64>().ok())))
    }) else {
        return false;
    };
    with(id, |o| o.sweep.as_mut().map(|s| s.entry(key, stored)))
        .flatten()
        .is_some()
}

fn no_sweep() -> f64 {
    output(
        Writer::new()
            .str("error")
            .str("no sweep under way")
            .finish(),
    )
}

/// The next keys to delete, or `done` when the page is done.
#[wasm_bindgen]
pub fn edge_rl_sweep_deletion(id: u32) -> f64 {
    let next = with(id, |o| {
        let sweep = o.sweep.as_mut()?;
        Some(o.shard.next_deletion(sweep))
    })
    .flatten();
    match next {
        None => no_sweep(),
        Some(None) => output(Writer::new().str("done").finish()),
        Some(Some(keys)) => output(
            keys.iter()
                .fold(Writer::new().str("delete"), |w, k| w.str(k))
                .finish(),
        ),
    }
}

/// Where the next page starts, or `done`: the sweep is done.
#[wasm_bindgen]
pub fn edge_rl_sweep_next_page(id: u32) -> f64 {
    match with(id, |o| o.sweep.as_mut().map(Sweep::next_page)).flatten() {
        None => no_sweep(),
        Some(None) => output(Writer::new().str("done").finish()),
        Some(Some(start)) => output(Writer::new().str("page").str(&start).finish()),
    }
}

/// Ends the sweep at `now_ms`: when to set the next alarm, or `done`.
#[wasm_bindgen]
pub fn edge_rl_sweep_finish(id: u32, now_ms: f64) -> f64 {
    let next = with(id, |o| {
        let sweep = o.sweep.take()?;
        Some(o.shard.finish_sweep(sweep, millis(now_ms)))
    })
    .flatten();
    match next {
        None => no_sweep(),
        Some(None) => output(Writer::new().str("done").finish()),
        Some(Some(t)) => output(Writer::new().str("alarm").str(&t.0.to_string()).finish()),
    }
}
