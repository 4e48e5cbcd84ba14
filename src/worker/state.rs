//! The isolate's one piece of state (one `thread_local!`): the configuration, parsed from `env`
//! on the first request, and the core's [`Isolate`] built from it. Every call into the isolate
//! goes through [`with`], which also writes the log lines the core produced.

use std::cell::RefCell;
use std::rc::Rc;

use crate::json::write::Object;
use wasm_bindgen::JsValue;

use crate::config::{EdgeConfig, PACKED_VARIABLE};
use crate::pipeline::Isolate;

struct State {
    /// `None` until configured; `Some(None)` when the configuration is invalid.
    isolate: Option<Option<Isolate>>,
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State { isolate: None }) };
}

/// A variable by name: Worker vars and secrets are both strings on `env`; anything else there
/// (a binding) or nothing reads as absent, as with the `worker` crate's `Env::var` /
/// `Env::secret` had it. Read with one `Reflect.get` instead: those built an error value with a
/// formatted message for every absent variable (twice), code a fresh isolate's first request
/// compiled and ran for each optional variable (issue 23).
fn lookup(env: &JsValue, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()?
        .as_string()
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The Workers runtime's CSPRNG, writing straight into wasm memory.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(dest: &mut [u8]);
}

/// getrandom's backend on the Worker: `crypto.getRandomValues`, at most 65 536 bytes a call
/// (its limit).
fn fill_random(dest: &mut [u8]) -> Result<(), getrandom::Error> {
    for chunk in dest.chunks_mut(65_536) {
        get_random_values(chunk);
    }
    Ok(())
}

getrandom::register_custom_getrandom!(fill_random);

/// Random bytes from the runtime (the request-id seed); the clock if the RNG fails.
pub(crate) fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::getrandom(&mut seed).is_err() {
        seed[..8].copy_from_slice(&(js_sys::Date::now() as u64).to_be_bytes());
    }
    seed
}

/// Parses the configuration once (later calls return at once). An invalid one is logged here;
/// every request is then answered `config_invalid`.
pub(crate) fn configure(env: &JsValue) {
    if STATE.with(|s| s.borrow().isolate.is_some()) {
        return;
    }
    let get = |name: &str| lookup(env, name);
    // The packed configuration when it was made from these variables: the JSON parsers (and
    // their compile on a fresh isolate) are then not needed. Otherwise the JSON variables.
    let loaded = match lookup(env, PACKED_VARIABLE).map(|p| EdgeConfig::from_packed(&p, &get)) {
        Some(Ok(loaded)) => loaded,
        Some(Err(refusal)) => {
            super::console_warn(
                &Object::new()
                    .str("detail", refusal.detail())
                    .str("event", "config_warning")
                    .str("variable", PACKED_VARIABLE)
                    .finish(),
            );
            EdgeConfig::from_lookup(&get)
        }
        None => EdgeConfig::from_lookup(&get),
    };
    let isolate = match loaded {
        Ok(c) => {
            for w in &c.warnings {
                super::console_warn(
                    &Object::new()
                        .str("detail", &w.problem)
                        .str("event", "config_warning")
                        .str("variable", &w.variable)
                        .finish(),
                );
            }
            Some(Isolate::new(Rc::new(c), seed()))
        }
        Err(e) => {
            super::console_error(
                &Object::new()
                    .str("detail", &e.to_string())
                    .str("event", "config_invalid")
                    .finish(),
            );
            None
        }
    };
    STATE.with(|s| s.borrow_mut().isolate = Some(isolate));
}

/// Runs `f` on the isolate (`None`: not configured, or the configuration is invalid), then
/// writes the log lines it produced. Never held across an `.await`.
pub(crate) fn with<T>(f: impl FnOnce(&mut Isolate) -> T) -> Option<T> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let iso = s.isolate.as_mut()?.as_mut()?;
        let out = f(iso);
        for l in iso.take_logs() {
            if l.error {
                super::console_error(&l.line);
            } else {
                super::console_log(&l.line);
            }
        }
        Some(out)
    })
}
