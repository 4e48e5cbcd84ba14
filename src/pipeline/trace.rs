//! What one request did, for its access-log line and its `Server-Timing` header: built once per
//! request (by the pipeline), written in one place.

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
        // Written piece by piece: no `core::fmt` for the line a forward may log (issue 23).
        let mut line = String::with_capacity(192);
        for piece in [
            r#"{"request_id":""#,
            &self.request_id,
            r#"","rule":""#,
            &self.rule,
            r#"","path":""#,
            self.path.id(),
            r#"","decision":""#,
            decision,
            r#"","reason":"#,
        ] {
            line.push_str(piece);
        }
        match reason {
            Some(r) => {
                line.push('"');
                line.push_str(r.id());
                line.push('"');
            }
            None => line.push_str("null"),
        }
        line.push_str(r#","status":"#);
        crate::text::push_decimal(&mut line, status.into());
        line.push_str(r#","auth_us":"#);
        crate::text::push_decimal(&mut line, self.auth_us);
        line.push_str(r#","cache":""#);
        line.push_str(self.cache.id());
        line.push_str(r#"","origin_ms":"#);
        match self.origin_ms {
            Some(m) => crate::text::push_decimal(&mut line, m),
            None => line.push_str("null"),
        }
        line.push_str(r#","breaker":"#);
        match breaker {
            Some(b) => {
                line.push('"');
                line.push_str(b);
                line.push_str(r#""}"#);
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
        let mut s = String::with_capacity(64);
        s.push_str("auth;dur=");
        crate::text::push_decimal(&mut s, tenths / 10);
        s.push('.');
        crate::text::push_decimal(&mut s, tenths % 10);
        s.push_str(";desc=\"cache ");
        s.push_str(self.cache.id());
        s.push('"');
        if let Some(o) = self.origin_ms {
            s.push_str(", origin;dur=");
            crate::text::push_decimal(&mut s, o);
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

    /// Byte for byte: log consumers match these lines as text, and the writer is hand-written.
    #[test]
    fn the_log_line_keeps_its_field_order_and_spelling() {
        let mut t = Trace::new("rid-1", "api");
        t.auth_us = 1234;
        assert_eq!(
            t.line("deny", Some(Reason::TokenExpired), 401, Some("closed")),
            r#"{"request_id":"rid-1","rule":"api","path":"sync","decision":"deny","reason":"token_expired","status":401,"auth_us":1234,"cache":"none","origin_ms":null,"breaker":"closed"}"#
        );
        t.origin_ms = Some(18_446_744_073_709_551_615);
        t.cache = CacheUse::Negative;
        assert_eq!(
            t.line("forward", None, 200, None),
            r#"{"request_id":"rid-1","rule":"api","path":"sync","decision":"forward","reason":null,"status":200,"auth_us":1234,"cache":"negative","origin_ms":18446744073709551615,"breaker":null}"#
        );
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
