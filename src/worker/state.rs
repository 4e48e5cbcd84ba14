//! The isolate's one piece of state (one `thread_local!`): the configuration, parsed from `env`
//! on the first request, and the core's [`Isolate`] built from it; beside it, the driver's own
//! handles on I/O in flight (JS promises, which the core cannot hold). Every call into the
//! isolate goes through [`with`], which also writes the log lines the core produced.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::JsValue;

use crate::config::EdgeConfig;
use crate::pipeline::Isolate;

struct State {
    /// `None` until configured; `Some(None)` when the configuration is invalid.
    isolate: Option<Option<Isolate>>,
    /// The JWKS fetch running for an issuer, which other requests join (single flight).
    jwks_fetches: HashMap<String, js_sys::Promise>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        isolate: None,
        jwks_fetches: HashMap::new(),
    });
}

/// The JWKS fetch running for `issuer`, if any.
pub(crate) fn jwks_fetch(issuer: &str) -> Option<js_sys::Promise> {
    STATE.with(|s| s.borrow().jwks_fetches.get(issuer).cloned())
}

/// Records (`Some`) or forgets (`None`) the fetch running for `issuer`.
pub(crate) fn set_jwks_fetch(issuer: &str, fetch: Option<js_sys::Promise>) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        match fetch {
            Some(p) => s.jwks_fetches.insert(issuer.to_owned(), p),
            None => s.jwks_fetches.remove(issuer),
        }
    });
}

/// A variable by name: Worker vars and secrets are both strings on `env`; anything else there
/// (a binding) or nothing reads as absent, as with the `worker` crate's `Env::var` /
/// `Env::secret`. Read with one `Reflect.get` instead: those built an error value with a
/// formatted message for every absent variable (twice), code a fresh isolate's first request
/// compiled and ran for each optional variable (issue 23).
fn lookup(env: &JsValue, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()?
        .as_string()
}

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
    let isolate = match EdgeConfig::from_lookup(&|name| lookup(env, name)) {
        Ok(c) => {
            for w in &c.warnings {
                worker::console_warn!(
                    "{}",
                    serde_json::json!({"event": "config_warning", "variable": w.variable, "detail": w.problem})
                );
            }
            Some(Isolate::new(Rc::new(c), seed()))
        }
        Err(e) => {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "config_invalid", "detail": e.to_string()})
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
                worker::console_error!("{}", l.line);
            } else {
                worker::console_log!("{}", l.line);
            }
        }
        Some(out)
    })
}
