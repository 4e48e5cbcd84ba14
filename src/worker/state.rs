//! The isolate's one piece of state: the configuration, parsed from `env` on the first request,
//! and the core's [`Isolate`] built from it (one `thread_local!`). Every call into the isolate
//! goes through [`with`], which also writes the log lines the core produced.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::config::EdgeConfig;
use crate::pipeline::Isolate;

thread_local! {
    /// `None` until configured; `Some(None)` when the configuration is invalid.
    static ISOLATE: RefCell<Option<Option<Isolate>>> = const { RefCell::new(None) };
}

/// Variables are read from Worker vars first, then secrets.
fn lookup(env: &Env, name: &str) -> Option<String> {
    if let Ok(v) = env.var(name) {
        return Some(v.to_string());
    }
    env.secret(name).ok().map(|s| s.to_string())
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
pub(crate) fn configure(env: &Env) {
    if ISOLATE.with(|i| i.borrow().is_some()) {
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
    ISOLATE.with(|i| *i.borrow_mut() = Some(isolate));
}

/// Runs `f` on the isolate (`None`: not configured, or the configuration is invalid), then
/// writes the log lines it produced. Never held across an `.await`.
pub(crate) fn with<T>(f: impl FnOnce(&mut Isolate) -> T) -> Option<T> {
    ISOLATE.with(|i| {
        let mut i = i.borrow_mut();
        let iso = i.as_mut()?.as_mut()?;
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
