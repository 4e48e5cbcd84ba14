//! Per-isolate state: the configuration, parsed once on the first request, and the caches.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::config::EdgeConfig;

/// The parsed configuration, or the reason the Worker refuses to serve.
pub(crate) type Loaded = Result<Rc<EdgeConfig>, Rc<String>>;

thread_local! {
    static CONFIG: RefCell<Option<Loaded>> = const { RefCell::new(None) };
}

/// Variables are read from Worker vars first, then secrets.
fn lookup(env: &Env, name: &str) -> Option<String> {
    if let Ok(v) = env.var(name) {
        return Some(v.to_string());
    }
    env.secret(name).ok().map(|s| s.to_string())
}

/// The configuration if an earlier request loaded it (the synchronous path has no `Env`).
pub(crate) fn loaded() -> Option<Rc<EdgeConfig>> {
    CONFIG.with(|c| match &*c.borrow() {
        Some(Ok(cfg)) => Some(cfg.clone()),
        _ => None,
    })
}

/// The isolate's configuration, parsed on first use.
pub(crate) fn config(env: &Env) -> Loaded {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return c;
    }
    let loaded = match EdgeConfig::from_lookup(&|name| lookup(env, name)) {
        Ok(c) => Ok(Rc::new(c)),
        Err(e) => {
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "config_invalid", "detail": e.to_string()})
            );
            Err(Rc::new(e.to_string()))
        }
    };
    CONFIG.with(|c| *c.borrow_mut() = Some(loaded.clone()));
    loaded
}
