//! What one request did, for its access-log line and its `Server-Timing` header: built once per
//! request (by the pipeline), written in one place.

use core::fmt::Write;

use crate::reason::Reason;

/// The access log's `path`: `sync` when the decision waited on nothing outside the request (or
/// only on WebCrypto, the body, the first revocation sync — its own or one under way), `async` when it waited on a remote
/// dependency (a JWKS GET, a Durable Object, a rate-limiting binding) or an Ed25519 check. The
/// names are from when a wasm async driver carried those waits (every wait is `entry.js`'s now);
/// kept, as log consumers read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverPath {
    Sync,
    Async,
}

impl DriverPath {
    pub fn id(self) -> &'static str {
        match self {
            DriverPath::Sync => "sync",
            DriverPath::Async => "async",
        }
    }

    pub(crate) fn from_id(s: &str) -> DriverPath {
        if s == "async" {
            DriverPath::Async
        } else {
            DriverPath::Sync
        }
    }
}

/// How the decision cache served the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// No token was looked at.
    None,
    Hit,
    Miss,
    Negative,
}

impl CacheUse {
    pub fn id(self) -> &'static str {
        match self {
            CacheUse::None => "none",
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Negative => "negative",
        }
    }

    pub(crate) fn from_id(s: &str) -> CacheUse {
        match s {
            "hit" => CacheUse::Hit,
            "miss" => CacheUse::Miss,
            "negative" => CacheUse::Negative,
            _ => CacheUse::None,
        }
    }
}

/// One request's trace. The only constructor is [`Trace::new`].
#[derive(Debug, Clone)]
pub struct Trace {
    pub request_id: String,
    /// The route rule's id (`-` before routing).
    pub rule: String,
    pub cache: CacheUse,
    pub path: DriverPath,
    /// Time spent authenticating, including waits (WebCrypto, JWKS).
    /// Microseconds spent authenticating (whole milliseconds on the synchronous path).
    pub auth_us: u64,
    /// Milliseconds the origin took (JS's `Date.now()` difference: whole milliseconds).
    pub origin_ms: Option<u64>,
}

impl Trace {
    pub fn new(request_id: &str, rule: &str) -> Trace {
        Trace {
            request_id: request_id.to_owned(),
            rule: rule.to_owned(),
            cache: CacheUse::None,
            path: DriverPath::Sync,
            auth_us: 0,
            origin_ms: None,
        }
    }

    /// The JSON access-log line. Written by hand: every field is an id, a number or a validated
    /// request id (no escaping needed), and a `serde_json::Value` map per request showed up in
    /// profiles. `breaker`: the circuit breaker's state id, when the config loaded.
    pub fn line(
        &self,
        decision: &str,
        reason: Option<Reason>,
        status: u16,
        breaker: Option<&str>,
    ) -> String {
        let mut line = String::with_capacity(192);
        let _ = write!(
            line,
            r#"{{"request_id":"{}","rule":"{}","path":"{}","decision":"{}","reason":"#,
            self.request_id,
            self.rule,
            self.path.id(),
            decision,
        );
        match reason {
            Some(r) => {
                let _ = write!(line, r#""{}""#, r.id());
            }
            None => line.push_str("null"),
        }
        let _ = write!(
            line,
            r#","status":{},"auth_us":{},"cache":"{}","origin_ms":"#,
            status,
            self.auth_us,
            self.cache.id(),
        );
        match self.origin_ms {
            Some(m) => {
                let _ = write!(line, "{m}");
            }
            None => line.push_str("null"),
        }
        line.push_str(r#","breaker":"#);
        match breaker {
            Some(b) => {
                let _ = write!(line, r#""{b}"}}"#);
            }
            None => line.push_str("null}"),
        }
        line
    }

    /// The `Server-Timing` value (only sent with `SERVER_TIMING=on`).
    /// Durations in milliseconds with one decimal, by integer arithmetic: no float formatting
    /// machinery in the Worker (core's `flt2dec`, ~11 KB of wasm; docs/PERFORMANCE.md).
    pub fn server_timing(&self) -> String {
        let tenths = (self.auth_us + 50) / 100;
        let mut s = format!(
            "auth;dur={}.{};desc=\"cache {}\"",
            tenths / 10,
            tenths % 10,
            self.cache.id()
        );
        if let Some(o) = self.origin_ms {
            let _ = write!(s, ", origin;dur={o}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_is_json_with_every_field() {
        let mut t = Trace::new("rid-1", "api");
        t.cache = CacheUse::Hit;
        t.auth_us = 250;
        let line = t.line("deny", Some(Reason::TokenExpired), 401, Some("closed"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["request_id"], "rid-1");
        assert_eq!(v["rule"], "api");
        assert_eq!(v["path"], "sync");
        assert_eq!(v["decision"], "deny");
        assert_eq!(v["reason"], "token_expired");
        assert_eq!(v["status"], 401);
        assert_eq!(v["auth_us"], 250);
        assert_eq!(v["cache"], "hit");
        assert_eq!(v["origin_ms"], serde_json::Value::Null);
        assert_eq!(v["breaker"], "closed");
        t.origin_ms = Some(3);
        t.path = DriverPath::Async;
        let v: serde_json::Value =
            serde_json::from_str(&t.line("forward", None, 200, None)).unwrap();
        assert_eq!(v["reason"], serde_json::Value::Null);
        assert_eq!(v["origin_ms"], 3);
        assert_eq!(v["path"], "async");
        assert_eq!(v["breaker"], serde_json::Value::Null);
    }

    #[test]
    fn server_timing_names_the_cache_use() {
        let mut t = Trace::new("r", "x");
        t.cache = CacheUse::Miss;
        t.auth_us = 1_000;
        assert_eq!(t.server_timing(), r#"auth;dur=1.0;desc="cache miss""#);
        t.auth_us = 12_345; // rounded to a tenth, like `{:.1}`
        assert!(t.server_timing().starts_with("auth;dur=12.3;"));
        t.auth_us = 12_350;
        assert!(t.server_timing().starts_with("auth;dur=12.4;"));
        t.auth_us = 40;
        assert!(t.server_timing().starts_with("auth;dur=0.0;"));
        t.origin_ms = Some(2);
        assert!(t.server_timing().ends_with(", origin;dur=2"));
    }
}
