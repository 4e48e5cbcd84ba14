//! The driver, called by `entry.js`: one call into wasm starts a request's pipeline and returns
//! its [`Step`] encoded by the plan protocol (`crate::plan`). Every export takes and returns
//! numbers; a call's strings and bytes come in a call frame (`super::frame`, `crate::call_frame`:
//! the fields each call reads are listed in its docs) and the plan goes back the same way.
//! Every wait is performed by `entry.js` and comes back through an `edge_*` call: a WebCrypto
//! check (`edge_verified`,
//! `edge_ed25519`), a capped body read (`edge_body`), a GET (`edge_fetched`; a JWKS GET is
//! reported with `edge_jwks`, then `edge_joined`), the end of a wait for the revocation sync
//! under way (`edge_sync_joined`), remote rate limits (`edge_limited`); the
//! forward's outcome through `edge_forwarded`. Background work (revocation polls, JWKS
//! refreshes) runs the same way after the answer: `edge_background` → GET → `edge_job_*` →
//! the next GET, until `idle`. It decides nothing: it parks waiting pipelines and jobs, hands
//! results to the core and encodes what the core says.

use wasm_bindgen::prelude::wasm_bindgen;

use super::frame::{input, output};
use super::state;
use crate::call_frame::{Malformed, Reader};
use crate::pipeline::{
    self, BodyRead, Fetched, Incoming, Io, IoResult, Isolate, Pipeline, RemoteOutcome, Step,
};
use crate::plan;
use crate::reason::Reason;
use crate::request_fields::RequestFields;
use crate::respond::{self, DenyContext};
use crate::time::UnixMillis;

fn at(now_ms: f64) -> UnixMillis {
    UnixMillis(now_ms as u64)
}

/// Encodes `step`; a pipeline that waits is parked under the plan's ticket.
pub(crate) fn answer(iso: &mut Isolate, p: Pipeline, step: Step) -> String {
    match step {
        Step::Need(io) => {
            let ticket = iso.park(p, io);
            let background = iso.has_background();
            match iso.parked(ticket) {
                Some((_, io)) => plan::need(io, ticket, background),
                None => lost(),
            }
        }
        step => plan::encode(&step, 0, iso.has_background()),
    }
}

/// A waiting request that is no longer known (evicted by over 1024 others in flight): a 500 the
/// client may retry.
pub(crate) fn lost() -> String {
    super::console_error(r#"{"event":"pipeline_ticket_lost"}"#);
    let spec = respond::deny(
        Reason::Internal,
        &DenyContext {
            retry_after_secs: Some(1),
            ..Default::default()
        },
    );
    plan::respond(&spec, false)
}

/// `entry.js` and this driver disagree (a build mismatch): `line` is logged, a 500 answered.
fn mismatch(line: &str) -> String {
    super::console_error(line);
    plan::respond(
        &respond::deny(Reason::Internal, &DenyContext::default()),
        false,
    )
}

/// The log line of a call frame that does not hold what its call reads.
const MALFORMED_FRAME: &str = r#"{"event":"call_frame_malformed"}"#;

fn malformed() -> String {
    mismatch(MALFORMED_FRAME)
}

/// Resumes the pipeline parked under `ticket` with `result`.
pub(crate) fn resume(ticket: u32, result: IoResult, now: UnixMillis) -> String {
    state::with(|iso| match iso.unpark(ticket) {
        Some((mut p, _)) => {
            let step = p.resume(iso, result, now);
            answer(iso, p, step)
        }
        None => lost(),
    })
    .unwrap_or_else(lost)
}

/// Reads the configuration from the Worker's `env` (once; later calls return at once): its
/// string values by name (`state::configure`).
#[wasm_bindgen]
pub fn edge_configure(env: wasm_bindgen::JsValue) {
    state::configure(&env);
}

/// The first call for every request: its first step. Frame: the request as [`RequestFields`]
/// describes it (entry.js writes it with `TextEncoder.encodeInto` straight into the frame);
/// `absent` says which of its headers were absent.
#[wasm_bindgen]
pub fn edge_plan(absent: u32, now_ms: f64, len: u32) -> f64 {
    output(plan_for(absent, now_ms, len))
}

fn plan_for(absent: u32, now_ms: f64, len: u32) -> String {
    let fields = input(len, |r| Ok(r.required()?.to_owned())).ok();
    let Some(fields) = fields.and_then(|f| RequestFields::parse(f, absent)) else {
        // Only if entry.js and request_fields.rs disagree: a bug, answered loudly.
        return mismatch(r#"{"event":"request_fields_malformed"}"#);
    };
    let now = at(now_ms);
    let mut fields = Some(fields);
    let planned = state::with(|iso| {
        let req = Incoming::new(fields.take()?, || iso.new_request_id());
        let (p, step) = Pipeline::start(req, iso, now);
        Some(answer(iso, p, step))
    })
    .flatten();
    match (planned, fields) {
        (Some(s), _) => s,
        // No usable configuration: every request is answered `config_invalid`.
        (None, Some(fields)) => {
            let req = Incoming::new(fields, || crate::envelope::hex(&state::seed()[..16]));
            let (spec, line) = pipeline::config_invalid(&req);
            super::console_log(&line);
            plan::respond(&spec, false)
        }
        (None, None) => lost(),
    }
}

/// The key to import for a request waiting on WebCrypto (asked only when JS has not cached it).
#[wasm_bindgen]
pub fn edge_key(ticket: u32, now_ms: f64) -> f64 {
    let key = state::with(|iso| {
        let key = iso
            .parked(ticket)
            .and_then(|(p, _)| p.key_to_import(iso, at(now_ms)));
        plan::key(key.as_ref())
    });
    output(key.unwrap_or_else(|| plan::key(None)))
}

/// WebCrypto's answer for a `verify` plan (false also when the import or the check threw).
#[wasm_bindgen]
pub fn edge_verified(ticket: u32, ok: bool, now_ms: f64) -> f64 {
    output(resume(ticket, IoResult::Signature(ok), at(now_ms)))
}

/// The body a `read_body` plan asked for. Frame: the headers it named that were present (names,
/// then values, newline-joined), the declared `Content-Length` (absent: none), the bytes
/// (absent: they exceeded the plan's cap, and reading stopped there).
#[wasm_bindgen]
pub fn edge_body(ticket: u32, now_ms: f64, len: u32) -> f64 {
    let read = input(len, |r| {
        let (names, values) = (r.required()?, r.required()?);
        let headers = names
            .split('\n')
            .zip(values.split('\n'))
            .filter(|(n, _)| !n.is_empty())
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        Ok(BodyRead {
            headers,
            content_length: r.text()?.map(str::to_owned),
            bytes: r.bytes()?.map(<[u8]>::to_vec),
        })
    });
    output(match read {
        Ok(read) => resume(ticket, IoResult::Body(read), at(now_ms)),
        Err(Malformed) => malformed(),
    })
}

/// A GET as JS reported it: `status` (0: no response), then, from the frame, the body (absent
/// when there was none), the error (why there was no response; else empty) and `Cache-Control`.
fn fetched(status: u16, r: &mut Reader<'_>) -> Result<Fetched, Malformed> {
    Ok(Fetched {
        status,
        body: r.bytes()?.map(<[u8]>::to_vec).unwrap_or_default(),
        error: r.required()?.to_owned(),
        cache_control: r.text()?.map(str::to_owned),
    })
}

/// What the GET of a `fetch` plan brought back (frame: as [`fetched`] reads it). The core
/// judges it.
#[wasm_bindgen]
pub fn edge_fetched(ticket: u32, status: u16, now_ms: f64, len: u32) -> f64 {
    output(match input(len, |r| fetched(status, r)) {
        Ok(f) => resume(ticket, IoResult::Fetched(f), at(now_ms)),
        Err(Malformed) => malformed(),
    })
}

/// What a `jwks` plan's GET brought back. Frame: the issuer and the url (the plan's), then the
/// GET as [`fetched`] reads it. The core applies it (if `url` is the issuer's configured one).
/// Every request and job that waited on that GET then resumes with `edge_joined` /
/// `edge_job_joined`.
#[wasm_bindgen]
pub fn edge_jwks(status: u16, now_ms: f64, len: u32) {
    let reported = input(len, |r| {
        let (issuer, url) = (r.required()?.to_owned(), r.required()?.to_owned());
        Ok((issuer, url, fetched(status, r)?))
    });
    match reported {
        Ok((issuer, url, f)) => {
            state::with(|iso| iso.jwks_reported(&issuer, &url, f, at(now_ms)));
        }
        // The waiters resume and find no key set: their failure policy answers.
        Err(Malformed) => super::console_error(MALFORMED_FRAME),
    }
}

/// A `jwks` plan's GET ran (this request's, or one it waited for: single flight) and was
/// reported with `edge_jwks`.
#[wasm_bindgen]
pub fn edge_joined(ticket: u32, now_ms: f64) -> f64 {
    output(resume(ticket, IoResult::Done, at(now_ms)))
}

/// A `sync_wait` plan's wait ended (a page of the revocation feed was reported, or its
/// timeout passed): the core decides whether to wait again, sync itself, or go on.
#[wasm_bindgen]
pub fn edge_sync_joined(ticket: u32, now_ms: f64) -> f64 {
    output(resume(ticket, IoResult::Done, at(now_ms)))
}

/// The backends' answers to a `limits` plan. Frame: one line per check (`<status> <text>`); the
/// core reads them against the checks the request waits on.
#[wasm_bindgen]
pub fn edge_limited(ticket: u32, now_ms: f64, len: u32) -> f64 {
    let Ok(answers) = input(len, |r| Ok(r.required()?.to_owned())) else {
        return output(malformed());
    };
    let read = state::with(|iso| match iso.parked(ticket) {
        Some((_, Io::RateLimits(checks))) => Some(RemoteOutcome::read_all(checks, &answers)),
        _ => None,
    })
    .flatten();
    output(match read {
        Some(outcomes) => resume(ticket, IoResult::RateLimits(outcomes), at(now_ms)),
        None => lost(),
    })
}

/// WebCrypto's answer to an `ed25519` plan: the first candidate that verified (-1: none).
#[wasm_bindgen]
pub fn edge_ed25519(ticket: u32, index: i32, now_ms: f64) -> f64 {
    output(resume(
        ticket,
        IoResult::Ed25519(usize::try_from(index).ok()),
        at(now_ms),
    ))
}

// ------------------------------------------------------------ background work

/// The plan for a background job's next GET, or `idle`.
fn job_plan(next: Option<(u32, Io)>) -> f64 {
    output(match next {
        Some((ticket, io)) => plan::need(&io, ticket, false),
        None => plan::idle(),
    })
}

/// The first GET of the background work queued by earlier plans (`entry.js` runs it in
/// `ctx.waitUntil`, one GET after the other, until `idle`).
#[wasm_bindgen]
pub fn edge_background(now_ms: f64) -> f64 {
    job_plan(state::with(|iso| iso.next_job(at(now_ms))).flatten())
}

/// A background GET came back (frame: as [`fetched`] reads it): the next one (of this job or
/// the next), or `idle`.
#[wasm_bindgen]
pub fn edge_job_fetched(ticket: u32, status: u16, now_ms: f64, len: u32) -> f64 {
    // A malformed frame reads as a GET with no response: the job fails and retries later.
    let f = input(len, |r| fetched(status, r)).unwrap_or_else(|Malformed| Fetched {
        status: 0,
        body: Vec::new(),
        error: "call frame malformed".to_owned(),
        cache_control: None,
    });
    job_plan(state::with(|iso| iso.job_resumed(ticket, IoResult::Fetched(f), at(now_ms))).flatten())
}

/// A background `jwks` plan's GET ran and was reported (`edge_jwks`): the next GET, or `idle`.
#[wasm_bindgen]
pub fn edge_job_joined(ticket: u32, now_ms: f64) -> f64 {
    job_plan(state::with(|iso| iso.job_resumed(ticket, IoResult::Done, at(now_ms))).flatten())
}

/// After a `forward` plan: the status (0: the origin could not be reached) and the time it
/// took. Frame: the plan's `after`.
#[wasm_bindgen]
pub fn edge_forwarded(status: u16, origin_ms: f64, now_ms: f64, len: u32) -> f64 {
    let Ok(after) = input(len, |r| Ok(r.required()?.to_owned())) else {
        return output(malformed());
    };
    output(
        state::with(|iso| {
            // JS's `Date.now()` difference: whole milliseconds (a negative or NaN one saturates
            // to 0).
            let finished = pipeline::forwarded(iso, &after, status, origin_ms as u64, at(now_ms));
            plan::finished(&finished, iso.has_background())
        })
        .unwrap_or_else(lost),
    )
}
