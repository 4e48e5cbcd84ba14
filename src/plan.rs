//! The plan protocol: how a pipeline [`Step`] crosses from wasm to the Worker's JS, as one
//! string. This module is its only encoder; `src/worker/plan.mjs` (`decodePlan`) its only
//! decoder. Golden encodings live in `tests/vectors/plan/` and are checked by both (`cargo
//! test`, `node --test tests/js/`).
//!
//! # Format, version 1
//! Fields separated by NUL (`\0`), which no header name or value, URL, JSON body, base64url
//! text or id produced here can hold. Lists inside a field are newline-joined (header values
//! never hold a newline: [`HeaderSet`] replaces one with a space). The first three fields are
//! always: the version (`1`), the kind, and the background flag (`1`: background work was
//! queued, call `edge_background` in `waitUntil`; else `0`). Then, per kind:
//!
//! | kind | fields after the first three | JS does |
//! | --- | --- | --- |
//! | `respond` | status, header names, header values, body | answers |
//! | `forward` | target (`origin`/`assets`), url, timeout ms, after, drop names, set names, set values, response header names, response header values | forwards, then `edge_forwarded(after, status, ms)` |
//! | `verify` | ticket, key id, alg, signing input, signature (base64url) | WebCrypto, then `edge_verified(ticket, ok)` |
//! | `read_body` | ticket, max bytes, header names | reads the body capped, then `edge_body(ticket, …)` |
//! | `fetch` | ticket, url, timeout ms, header names, header values | GETs the url with these headers (redirects not followed), then `edge_fetched(ticket, status, body, error, cache-control)` (status 0: no response, `error` says why) |
//! | `sync_wait` | ticket, timeout ms | waits until any `fetch` plan's GET (a page of the revocation feed, another request's or background work's) has been reported, or the timeout, whichever is first, then `edge_sync_joined(ticket)` |
//! | `jwks` | ticket, issuer, url, timeout ms | GETs the issuer's key set and reports it with `edge_jwks(issuer, url, status, body, error, cache-control)` — or, when a GET for that issuer is already running (another request's, or a background refresh), waits for it (single flight) — then `edge_joined(ticket)` |
//! | `limits` | ticket, backends (`durable`/`binding`), names (the object's name / the binding's), arguments (the check's URL / the key) — one line per check | asks each backend, then `edge_limited(ticket, answers)`: one line per check, `<status> <text>` (`200 a …` / `200 l …` from the object, `200 true` / `200 false` from `limit()`'s `success`; status 0: it threw, the text says what) |
//! | `ed25519` | ticket, message (base64url), public keys, signatures (base64url, one line per candidate) | WebCrypto, then `edge_ed25519(ticket, index)` (the first candidate that verified; -1: none) |
//! | `idle` | — | no background work left |
//! | `decorate` | server-timing value (may be empty) | answers the forwarded response with the plan's response headers |
//! | `key` | format (`raw`/`jwk`), alg, data | imports the key for a `verify` |
//! | `no_key` | — | the `verify` fails |
//!
//! Background work (revocation polls, JWKS refreshes) is planned the same way, in `waitUntil`:
//! `edge_background` answers the first `fetch` or `jwks` plan of the queued work; a `fetch`
//! answers through `edge_job_fetched(ticket, …)` and a `jwks` (after `edge_jwks`) through
//! `edge_job_joined(ticket)`, each giving the next plan, until `idle`.
//!
//! The calls' arguments are named here by what they say. Numbers cross as numbers, strings and
//! bytes in the call's frame (`crate::call_frame`); each export in `src/worker/fast.rs` lists its
//! parameters and its frame's fields, and answers where the next plan lies.
//!
//! A decoder meeting another version, an unknown kind or a wrong field count reports an error
//! (the request gets a 500 and the log says why); it never guesses. A kind may be added within
//! a version (`fetch` was, for issue 23): the encoder and the decoder ship in one bundle, and a
//! decoder that does not know a kind refuses it by that rule. Changing an existing kind's
//! fields is a new version.

use crate::b64;
use crate::text;

use crate::pipeline::{
    Finished, ForwardPlan, HeaderSet, Io, KeyImport, RemoteBackend, Step, Target,
};
use crate::ratelimit::durable;
use crate::respond::ResponseSpec;

/// How long a JWKS GET may take.
pub const JWKS_TIMEOUT_MS: u32 = 5_000;

/// The protocol version this build speaks.
pub const VERSION: &str = "1";

/// Every kind, with its number of fields after the first three.
pub const KINDS: &[(&str, usize)] = &[
    ("respond", 4),
    ("forward", 9),
    ("verify", 5),
    ("read_body", 3),
    ("fetch", 5),
    ("sync_wait", 2),
    ("jwks", 4),
    ("limits", 4),
    ("ed25519", 4),
    ("idle", 0),
    ("decorate", 1),
    ("key", 3),
    ("no_key", 0),
];

const SEP: char = '\0';

struct Writer(String);

impl Writer {
    fn new(kind: &str, background: bool) -> Writer {
        Self::with_room(kind, background, 128)
    }

    /// A plan whose fields come to about `fields` bytes: the string is allocated once.
    fn with_room(kind: &str, background: bool, fields: usize) -> Writer {
        // The version, kind and flag, and a separator and up to 20 digits per number.
        let mut s = String::with_capacity(fields + 64);
        s.push_str(VERSION);
        s.push(SEP);
        s.push_str(kind);
        s.push(SEP);
        s.push(if background { '1' } else { '0' });
        Writer(s)
    }

    fn field(&mut self, v: &str) -> &mut Self {
        self.0.push(SEP);
        self.0.push_str(v);
        self
    }

    fn number(&mut self, v: impl Into<u64>) -> &mut Self {
        self.0.push(SEP);
        crate::text::push_decimal(&mut self.0, v.into());
        self
    }
}

/// Encodes a step. `ticket`: where the driver parked the request, for a `Need`.
pub fn encode(step: &Step, ticket: u32, background: bool) -> String {
    match step {
        Step::Respond(spec) => respond(spec, background),
        Step::Forward(plan) => forward(plan, background),
        Step::Need(io) => need(io, ticket, background),
    }
}

/// A `respond` plan.
pub fn respond(spec: &ResponseSpec, background: bool) -> String {
    let (names, values) = spec
        .headers
        .iter()
        .fold((0, 0), |(n, l), (k, v)| (n + k.len(), l + v.len()));
    let mut h = HeaderSet::with_capacity(names, values, spec.headers.len());
    for (k, v) in &spec.headers {
        h.push(k, v);
    }
    let room = h.names.len() + h.values.len() + spec.body.len() + 8;
    let mut w = Writer::with_room("respond", background, room);
    w.number(spec.status)
        .field(&h.names)
        .field(&h.values)
        .field(&spec.body);
    w.0
}

fn forward(plan: &ForwardPlan, background: bool) -> String {
    let target = match &plan.target {
        Target::Origin(out) => {
            out.url.len() + out.drop.len() + out.set.names.len() + out.set.values.len()
        }
        Target::Assets => 0,
    };
    let room = target
        + plan.after.len()
        + plan.response_headers.names.len()
        + plan.response_headers.values.len()
        + 16;
    let mut w = Writer::with_room("forward", background, room);
    match &plan.target {
        Target::Origin(out) => {
            w.field("origin")
                .field(&out.url)
                .number(out.timeout_ms)
                .field(&plan.after)
                .field(&out.drop)
                .field(&out.set.names)
                .field(&out.set.values);
        }
        Target::Assets => {
            w.field("assets")
                .field("")
                .number(0u8)
                .field(&plan.after)
                .field("")
                .field("")
                .field("");
        }
    }
    w.field(&plan.response_headers.names)
        .field(&plan.response_headers.values);
    w.0
}

/// A plan for a request waiting on `io`, parked under `ticket`.
pub fn need(io: &Io, ticket: u32, background: bool) -> String {
    match io {
        Io::Signature(job) => {
            let mut w = Writer::new("verify", background);
            w.number(ticket)
                .field(&job.key_id)
                .field(job.alg)
                .field(&job.signing_input)
                .field(&job.signature_b64url);
            w.0
        }
        Io::Body { max_bytes, headers } => {
            let mut w = Writer::new("read_body", background);
            w.number(ticket)
                .number(*max_bytes)
                .field(&text::join(headers, "\n"));
            w.0
        }
        Io::FeedPage(req) => {
            let mut w = Writer::new("fetch", background);
            w.number(ticket)
                .field(&req.url)
                .number(req.timeout_ms)
                .field(crate::envelope::SIGNATURE_HEADER)
                .field(&req.signature);
            w.0
        }
        Io::SyncWait { timeout_ms } => {
            let mut w = Writer::new("sync_wait", background);
            w.number(ticket).number(*timeout_ms);
            w.0
        }
        Io::Jwks { issuer, url } => {
            let mut w = Writer::new("jwks", background);
            w.number(ticket)
                .field(issuer)
                .field(url)
                .number(JWKS_TIMEOUT_MS);
            w.0
        }
        Io::RateLimits(checks) => {
            let (mut backends, mut names, mut args) = (Vec::new(), Vec::new(), Vec::new());
            for c in checks {
                match &c.backend {
                    RemoteBackend::Durable => {
                        backends.push("durable");
                        names.push(durable::shard_name(&c.key));
                        args.push(durable::request_url(&c.key, c.quota, 1));
                    }
                    RemoteBackend::Binding(name) => {
                        backends.push("binding");
                        names.push(name.clone());
                        args.push(c.key.to_hex());
                    }
                }
            }
            let mut w = Writer::new("limits", background);
            w.number(ticket)
                .field(&text::join(&backends, "\n"))
                .field(&text::join(&names, "\n"))
                .field(&text::join(&args, "\n"));
            w.0
        }
        Io::Ed25519(job) => {
            let (mut keys, mut sigs) = (Vec::new(), Vec::new());
            for (key, sig) in &job.candidates {
                keys.push(b64::encode_url(key));
                sigs.push(b64::encode_url(sig));
            }
            let mut w = Writer::new("ed25519", background);
            w.number(ticket)
                .field(&b64::encode_url(&job.message))
                .field(&text::join(&keys, "\n"))
                .field(&text::join(&sigs, "\n"));
            w.0
        }
    }
}

/// No background work left.
pub fn idle() -> String {
    Writer::new("idle", false).0
}

/// The answer to `edge_forwarded`.
pub fn finished(f: &Finished, background: bool) -> String {
    match f {
        Finished::Decorate { server_timing } => {
            let mut w = Writer::new("decorate", background);
            w.field(server_timing.as_deref().unwrap_or(""));
            w.0
        }
        Finished::Respond(spec) => respond(spec, background),
    }
}

/// The answer to `edge_key`.
pub fn key(k: Option<&KeyImport>) -> String {
    match k {
        Some(KeyImport::Raw { alg, b64url }) => {
            let mut w = Writer::new("key", false);
            w.field("raw").field(alg).field(b64url);
            w.0
        }
        Some(KeyImport::Jwk { alg, json }) => {
            let mut w = Writer::new("key", false);
            w.field("jwk").field(alg).field(json);
            w.0
        }
        None => Writer::new("no_key", false).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_has_the_field_count_its_kind_declares() {
        let spec = ResponseSpec {
            status: 401,
            headers: vec![
                ("content-type", "application/json".into()),
                ("x", "a\nb".into()),
            ],
            body: "{}".into(),
        };
        let samples = [
            respond(&spec, false),
            finished(
                &Finished::Decorate {
                    server_timing: None,
                },
                true,
            ),
            key(None),
            key(Some(&KeyImport::Raw {
                alg: "EdDSA",
                b64url: "AA".into(),
            })),
            encode(
                &Step::Need(Io::FeedPage(crate::pipeline::FeedRequest {
                    url: "http://o/internal/revocations".into(),
                    signature: "t=1,v1=ab".into(),
                    timeout_ms: 3000,
                })),
                7,
                false,
            ),
            encode(
                &Step::Need(Io::Body {
                    max_bytes: 10,
                    headers: &["a", "b"],
                }),
                8,
                false,
            ),
            encode(
                &Step::Forward(ForwardPlan {
                    target: Target::Assets,
                    after: "t".into(),
                    response_headers: HeaderSet::default(),
                }),
                0,
                false,
            ),
        ];
        for s in samples {
            let f: Vec<&str> = s.split(SEP).collect();
            assert_eq!(f[0], VERSION, "{s:?}");
            let (_, n) = KINDS
                .iter()
                .find(|(k, _)| *k == f[1])
                .expect("a named kind");
            assert_eq!(f.len(), 3 + n, "{s:?}");
            assert!(f[2] == "0" || f[2] == "1");
        }
        // A newline in a header value would break the joined list: it is sent as a space.
        assert!(respond(&spec, false).contains("application/json\na b"));
    }
}
