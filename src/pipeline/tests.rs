//! Native tests of the pipeline state machine: simulated time, no runtime. The driver's part
//! (performing each `Io`) is played by the tests.

use std::rc::Rc;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;
use crate::request_fields::RequestFields;

const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-pipeline";
const NOW_SECS: u64 = 1_800_000_000;
const NOW: UnixMillis = UnixMillis(NOW_SECS * 1000);

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn ed_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
}

fn config(extra: &[(&str, &str)]) -> Rc<EdgeConfig> {
    let issuers = format!(
        r#"[{{"issuer":"https://hs.test","audiences":["api"],"jwks":{{"keys":[{{"kty":"oct","alg":"HS256","kid":"h","k":"{}"}}]}}}},
            {{"issuer":"https://ed.test","audiences":["api"],"jwks":{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"e","x":"{}"}}]}}}},
            {{"issuer":"https://url.test","audiences":["api"],"jwks_url":"https://url.test/jwks"}}]"#,
        b64(HS_SECRET),
        b64(ed_key().verifying_key().as_bytes())
    );
    let routes = r#"[
        {"id":"pub","path":"/pub","access":"public"},
        {"id":"strict","path":"/strict","access":"authenticated","failure":"strict"},
        {"id":"admin","path":"/admin","access":{"permissions":{"any_of":["admin"]}}},
        {"id":"limited","path":"/limited","access":"public","rate_limits":["two"]},
        {"id":"login","path":"/login","methods":["POST"],"access":"public","rate_limits":["acct"]},
        {"id":"remote","path":"/remote","access":"public","rate_limits":["global"]},
        {"id":"hook","path":"/hook","methods":["POST"],"access":{"webhook":"stripe"}},
        {"id":"pages","path":"/page","access":"public","upstream":"assets"},
        {"id":"fresh","path":"/fresh","access":"authenticated","require_fresh_auth":60},
        {"id":"mfa","path":"/mfa","access":{"permissions":["read"]},"require_amr":["mfa"]}
    ]"#;
    let rate = r#"[{"id":"two","key":["ip"],"limit":2,"period_secs":60},
                   {"id":"acct","key":["account"],"limit":5,"period_secs":60},
                   {"id":"global","key":["ip"],"limit":5,"period_secs":60,"backend":"durable"}]"#;
    let webhook = r#"{"provider":"stripe","secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}"#;
    let mut vars: Vec<(String, String)> = vec![
        ("DEPLOY_ENV".into(), "development".into()),
        ("ORIGIN_URL".into(), "http://origin.test".into()),
        ("ENVELOPE_SECRET".into(), "00".repeat(32)),
        ("ISSUERS".into(), issuers),
        ("ROUTES".into(), routes.into()),
        ("RATE_LIMITS".into(), rate.into()),
        ("WEBHOOK_STRIPE".into(), webhook.into()),
    ];
    for (k, v) in extra {
        vars.retain(|(n, _)| n != k);
        vars.push((k.to_string(), v.to_string()));
    }
    let cfg =
        EdgeConfig::from_lookup(&|n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
            .expect("test config loads");
    Rc::new(cfg)
}

/// An isolate whose revocation list has synced once (so requests do not wait for it).
fn isolate(cfg: Rc<EdgeConfig>) -> Isolate {
    let mut iso = Isolate::new(cfg, [3; 32]);
    assert_eq!(iso.first_sync(NOW), super::isolate::FirstSync::Run);
    assert!(!iso.feed_polled(Ok(br#"{"revocations":[],"next":"c0"}"#.to_vec()), 1, NOW));
    assert_eq!(iso.first_sync(NOW), super::isolate::FirstSync::Done);
    assert!(iso.take_logs().is_empty(), "an empty page applies quietly");
    iso
}

/// A feed page that came back 200 with `body`.
fn page(body: &[u8]) -> IoResult {
    IoResult::Fetched(Fetched {
        status: 200,
        body: body.to_vec(),
        ..Default::default()
    })
}

fn token(iss: &str, alg: &str, kid: &str, extra: &str) -> String {
    let header = b64(format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#).as_bytes());
    let payload = b64(format!(
        r#"{{"iss":"{iss}","aud":"api","sub":"u1","sid":"s1","iat":{},"exp":{}{extra}}}"#,
        NOW_SECS - 10,
        NOW_SECS + 600
    )
    .as_bytes());
    let input = format!("{header}.{payload}");
    let sig = match alg {
        "HS256" => {
            let mut m = <Hmac<Sha256>>::new_from_slice(HS_SECRET).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            use ed25519_dalek::Signer;
            ed_key().sign(input.as_bytes()).to_bytes().to_vec()
        }
    };
    format!("{input}.{}", b64(&sig))
}

fn hs(extra: &str) -> String {
    token("https://hs.test", "HS256", "h", extra)
}

/// A request as `planFields` in glue.js would send it.
fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Incoming {
    let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    let mut raw = format!("{method}\0https://edge.test{path}\0{}", names.join("\n"));
    let mut absent = 0;
    for (i, h) in crate::request_fields::PLAN_HEADERS.iter().enumerate() {
        raw.push('\0');
        match headers.iter().find(|(n, _)| n == h) {
            Some((_, v)) => raw.push_str(v),
            None => absent |= 1 << i,
        }
    }
    let fields = RequestFields::parse(raw, absent).expect("well-formed fields");
    Incoming::new(fields, || "fresh-id".to_owned())
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn run(iso: &mut Isolate, req: Incoming) -> (Pipeline, Step) {
    Pipeline::start(req, iso, NOW)
}

fn run_at(iso: &mut Isolate, req: Incoming, now: UnixMillis) -> (Pipeline, Step) {
    Pipeline::start(req, iso, now)
}

fn status(step: &Step) -> u16 {
    match step {
        Step::Respond(spec) => spec.status,
        Step::Forward(_) => 0,
        Step::Need(io) => panic!("unexpected wait for {io:?}"),
    }
}

fn error_of(step: &Step) -> String {
    match step {
        Step::Respond(spec) => serde_json::from_str::<serde_json::Value>(&spec.body).unwrap()
            ["error"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        other => panic!("not an answer: {other:?}"),
    }
}

fn header<'a>(step: &'a Step, name: &str) -> Option<&'a str> {
    match step {
        Step::Respond(spec) => spec
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str()),
        _ => None,
    }
}

fn forwarded_identity(step: &Step) -> Option<String> {
    match step {
        Step::Forward(ForwardPlan {
            target: Target::Origin(out),
            ..
        }) => {
            let names: Vec<&str> = out.set.names.split('\n').collect();
            let values: Vec<&str> = out.set.values.split('\n').collect();
            names
                .iter()
                .position(|n| *n == "x-auth-user")
                .map(|i| values[i].to_owned())
                .or(Some(String::new()))
        }
        _ => None,
    }
}

#[test]
fn a_public_request_is_forwarded_signed_and_without_user_headers() {
    let mut iso = isolate(config(&[]));
    let (p, step) = run(
        &mut iso,
        request(
            "GET",
            "/pub?x=1",
            &[("x-auth-user", "spoof"), ("accept", "*/*")],
        ),
    );
    let Step::Forward(plan) = &step else {
        panic!("{step:?}")
    };
    let Target::Origin(out) = &plan.target else {
        panic!()
    };
    assert_eq!(out.url, "http://origin.test/pub?x=1");
    assert_eq!(
        out.drop, "x-auth-user",
        "the spoofed identity header is dropped"
    );
    assert!(out.set.names.contains("x-auth-signature"));
    assert!(!out.set.names.contains("x-auth-user"));
    assert_eq!(p.trace().request_id, "fresh-id");
}

#[test]
fn an_hmac_token_is_decided_in_one_step_and_then_served_from_the_cache() {
    let mut iso = isolate(config(&[]));
    let t = hs("");
    let (p, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
    assert_eq!(p.trace().cache, CacheUse::Miss);
    let (p, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
    assert_eq!(p.trace().cache, CacheUse::Hit);
}

/// The decision cache knows a token by its signature's hash and compares the signed part in
/// full: a cached token's signature copied onto other claims is verified (and refused), and the
/// genuine token's decision survives it. HS256 (checked in wasm) and EdDSA (WebCrypto).
#[test]
fn a_cached_tokens_signature_on_other_claims_is_verified_not_served() {
    for alg in ["HS256", "EdDSA"] {
        let iss = if alg == "HS256" {
            "https://hs.test"
        } else {
            "https://ed.test"
        };
        let kid = if alg == "HS256" { "h" } else { "e" };
        let mut iso = isolate(config(&[]));
        let genuine = token(iss, alg, kid, "");
        let decide = |iso: &mut Isolate, t: &str| {
            let (mut p, step) = run(
                iso,
                request("GET", "/api", &[("authorization", &bearer(t))]),
            );
            let step = match step {
                Step::Need(Io::Signature(_)) => {
                    // WebCrypto's verdict, computed here as the runtime would.
                    let (input, sig) = t.rsplit_once('.').unwrap();
                    let ok = *t == *genuine || {
                        use ed25519_dalek::Verifier;
                        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(sig)
                            .unwrap();
                        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
                        ed_key()
                            .verifying_key()
                            .verify(input.as_bytes(), &sig)
                            .is_ok()
                    };
                    p.resume(iso, IoResult::Signature(ok), NOW)
                }
                step => step,
            };
            (p.trace().cache, step)
        };
        let (cache, step) = decide(&mut iso, &genuine);
        assert_eq!(
            (cache, forwarded_identity(&step).as_deref()),
            (CacheUse::Miss, Some("u1"))
        );
        let (header, rest) = genuine.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let other = token(iss, alg, kid, r#","roles":["admin"]"#);
        let (_, other_payload) = other.split_once('.').unwrap();
        let (other_payload, _) = other_payload.split_once('.').unwrap();
        let forged = format!("{header}.{other_payload}.{signature}");
        for round in 0..2 {
            let (cache, step) = decide(&mut iso, &forged);
            assert_eq!(
                error_of(&step),
                "token_signature_invalid",
                "{alg}, round {round}"
            );
            let expected = if round == 0 {
                CacheUse::Miss
            } else {
                CacheUse::Negative
            };
            assert_eq!(cache, expected, "{alg}, round {round}");
            let (cache, step) = decide(&mut iso, &genuine);
            assert_eq!(
                (cache, forwarded_identity(&step).as_deref()),
                (CacheUse::Hit, Some("u1")),
                "{alg}, round {round}: the genuine decision stays cached"
            );
        }
    }
}

#[test]
fn the_cache_key_is_not_computed_when_the_cache_is_off() {
    let mut iso = isolate(config(&[
        ("DECISION_CACHE_TTL_SECONDS", "0"),
        ("NEGATIVE_CACHE_TTL_SECONDS", "0"),
    ]));
    assert!(iso.cache_key("a.b.c").is_none());
    let t = hs("");
    for _ in 0..2 {
        let (p, step) = run(
            &mut iso,
            request("GET", "/api", &[("authorization", &bearer(&t))]),
        );
        assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
        assert_eq!(p.trace().cache, CacheUse::Miss);
    }
    assert!(iso.cache.is_empty());
}

#[test]
fn routes_needing_a_user_refuse_anonymous_requests_with_a_challenge() {
    let mut iso = isolate(config(&[]));
    let (_, step) = run(&mut iso, request("GET", "/api", &[]));
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (401, "token_missing")
    );
    assert!(header(&step, "www-authenticate").is_some());
    let logs = iso.take_logs();
    assert!(
        logs.iter().any(|l| l
            .line
            .contains(r#""decision":"deny","reason":"token_missing""#)),
        "{logs:?}"
    );
    // A browser is sent to the login page instead.
    let (_, step) = run(&mut iso, request("GET", "/api", &[("accept", "text/html")]));
    assert_eq!(status(&step), 302);
}

#[test]
fn permissions_are_checked_after_authentication() {
    let mut iso = isolate(config(&[]));
    let (_, step) = run(
        &mut iso,
        request(
            "GET",
            "/admin",
            &[("authorization", &bearer(&hs(r#","permissions":["read"]"#)))],
        ),
    );
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (403, "insufficient_permissions")
    );
    let (_, step) = run(
        &mut iso,
        request(
            "GET",
            "/admin",
            &[("authorization", &bearer(&hs(r#","permissions":["admin"]"#)))],
        ),
    );
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
}

#[test]
fn a_fresh_isolate_syncs_its_revocations_before_its_first_authenticated_decision() {
    let cfg = config(&[]);
    let mut iso = Isolate::new(cfg, [1; 32]);
    let t = hs("");
    let (mut p, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    let Step::Need(Io::FeedPage(feed)) = &step else {
        panic!("{step:?}")
    };
    // The driver GETs the page: the feed revokes the token's session.
    assert_eq!(feed.url, "http://origin.test/internal/revocations");
    assert!(feed.signature.starts_with("t="));
    assert_eq!(feed.timeout_ms, FEED_TIMEOUT_MS);
    let step = p.resume(
        &mut iso,
        page(br#"{"revocations":[{"kind":"session","session":"s1","user":"u1","until":1900000000}],"next":"c1"}"#),
        NOW,
    );
    // The page had entries: the pipeline asks for the next one, from the new cursor.
    let Step::Need(Io::FeedPage(feed)) = &step else {
        panic!("{step:?}")
    };
    assert_eq!(feed.url, "http://origin.test/internal/revocations?since=c1");
    let step = p.resume(&mut iso, page(br#"{"revocations":[],"next":"c1"}"#), NOW);
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (401, "token_revoked")
    );
    // Only the first request waits.
    let (_, step) = run(&mut iso, request("GET", "/pub", &[]));
    assert!(matches!(step, Step::Forward(_)));
}

/// The CI finding of session 13: a public request (the readiness probe) started a background
/// poll on a fresh isolate; the first authenticated request, arriving while that poll ran, was
/// decided on the empty list and a logged-out token passed. It now waits for that poll, past
/// every page, and is refused.
#[test]
fn a_request_that_needs_a_user_waits_for_the_first_sync_a_public_request_started() {
    let mut iso = Isolate::new(config(&[]), [1; 32]);
    let (_, step) = run(&mut iso, request("GET", "/pub", &[]));
    assert!(matches!(step, Step::Forward(_)));
    let Some((job, Io::FeedPage(_))) = iso.next_job(NOW) else {
        panic!("the public request queued the first poll")
    };
    let t = hs("");
    let (mut p, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    assert!(
        matches!(
            step,
            Step::Need(Io::SyncWait {
                timeout_ms: FEED_TIMEOUT_MS
            })
        ),
        "no second feed GET: it waits for the one under way: {step:?}"
    );
    // Woken by the timer before any page came: it waits again.
    let step = p.resume(&mut iso, IoResult::Done, UnixMillis(NOW.0 + 3_000));
    assert!(matches!(step, Step::Need(Io::SyncWait { .. })), "{step:?}");
    // The poll's first page revokes the session but is not the feed's end: still waiting.
    let next = iso.job_resumed(
        job,
        page(br#"{"revocations":[{"kind":"session","session":"s1","user":"u1","until":1900000000}],"next":"c1"}"#),
        UnixMillis(NOW.0 + 3_100),
    );
    let Some((job, Io::FeedPage(_))) = next else {
        panic!("{next:?}")
    };
    let step = p.resume(&mut iso, IoResult::Done, UnixMillis(NOW.0 + 3_100));
    assert!(matches!(step, Step::Need(Io::SyncWait { .. })), "{step:?}");
    assert_eq!(
        iso.job_resumed(
            job,
            page(br#"{"revocations":[],"next":"c1"}"#),
            UnixMillis(NOW.0 + 3_200)
        ),
        None
    );
    let step = p.resume(&mut iso, IoResult::Done, UnixMillis(NOW.0 + 3_200));
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (401, "token_revoked")
    );
}

#[test]
fn concurrent_first_requests_share_one_sync() {
    let mut iso = Isolate::new(config(&[]), [1; 32]);
    let t = hs("");
    let req = || request("GET", "/api", &[("authorization", &bearer(&t))]);
    let (mut a, step) = run(&mut iso, req());
    assert!(matches!(step, Step::Need(Io::FeedPage(_))), "{step:?}");
    let (mut b, step) = run(&mut iso, req());
    assert!(matches!(step, Step::Need(Io::SyncWait { .. })), "{step:?}");
    let step = a.resume(&mut iso, page(br#"{"revocations":[],"next":"c0"}"#), NOW);
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
    let step = b.resume(&mut iso, IoResult::Done, NOW);
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
    assert_eq!(iso.next_job(NOW), None, "and no poll is queued meanwhile");
}

#[test]
fn a_request_waiting_for_a_failed_first_sync_is_decided_like_the_one_that_ran_it() {
    let mut iso = Isolate::new(config(&[]), [1; 32]);
    let t = hs("");
    let req = || request("GET", "/api", &[("authorization", &bearer(&t))]);
    let (mut a, _) = run(&mut iso, req());
    let (mut b, step) = run(&mut iso, req());
    assert!(matches!(step, Step::Need(Io::SyncWait { .. })), "{step:?}");
    let failed = IoResult::Fetched(Fetched {
        status: 503,
        ..Default::default()
    });
    let ran = a.resume(&mut iso, failed, NOW);
    let waited = b.resume(&mut iso, IoResult::Done, NOW);
    assert_eq!(status(&waited), status(&ran));
    // A third request during the poll interval does not wait and does not sync.
    let (_, step) = run(&mut iso, req());
    assert_eq!(status(&step), status(&ran));
}

#[test]
fn a_request_waiting_for_a_lost_first_sync_runs_its_own() {
    let mut iso = Isolate::new(config(&[]), [1; 32]);
    let t = hs("");
    let req = || request("GET", "/api", &[("authorization", &bearer(&t))]);
    let (_lost, _) = run(&mut iso, req());
    let (mut b, _) = run(&mut iso, req());
    let later = UnixMillis(NOW.0 + crate::revocation::RevocationList::DEFAULT_IN_FLIGHT_TIMEOUT_MS);
    let step = b.resume(&mut iso, IoResult::Done, later);
    assert!(matches!(step, Step::Need(Io::FeedPage(_))), "{step:?}");
}

#[test]
fn the_first_sync_reads_at_most_feed_max_pages_pages() {
    let mut iso = Isolate::new(config(&[]), [1; 32]);
    let t = hs("");
    let (mut p, mut step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    let mut pages = 0;
    // A feed that never drains: every page has an entry (another user's session).
    while matches!(step, Step::Need(Io::FeedPage(_))) {
        pages += 1;
        let body = format!(
            r#"{{"revocations":[{{"kind":"session","session":"x{pages}","user":"u9","until":1900000000}}],"next":"c{pages}"}}"#
        );
        step = p.resume(&mut iso, page(body.as_bytes()), NOW);
    }
    assert_eq!(pages, FEED_MAX_PAGES);
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
    assert_eq!(iso.revocations.sessions_len(), FEED_MAX_PAGES);
}

#[test]
fn a_stale_revocation_list_refuses_strict_routes_only() {
    let mut iso = Isolate::new(config(&[]), [1; 32]);
    let t = hs("");
    // The first sync fails; the list has never synced, so it is stale.
    let (mut p, _) = run(
        &mut iso,
        request("GET", "/strict", &[("authorization", &bearer(&t))]),
    );
    let refused = Fetched {
        error: "TypeError: connection refused".into(),
        ..Default::default()
    };
    let step = p.resume(&mut iso, IoResult::Fetched(refused), NOW);
    assert!(iso.take_logs().iter().any(|l| l.error
        && l.line.contains("revocation_poll_failed")
        && l.line
            .contains("fetch failed: TypeError: connection refused")));
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (503, "revocations_unavailable")
    );
    let (_, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
}

#[test]
fn a_redirected_feed_page_is_a_failed_poll_not_a_page() {
    let mut iso = Isolate::new(config(&[]), [1; 32]);
    let t = hs("");
    let (mut p, _) = run(
        &mut iso,
        request("GET", "/strict", &[("authorization", &bearer(&t))]),
    );
    // What a driver hands back for a 302 with `redirect: "manual"`: the 3xx itself, with a body
    // that would parse as an empty page if it were taken for one.
    let redirected = Fetched {
        status: 302,
        body: br#"{"revocations":[],"next":"c0"}"#.to_vec(),
        ..Default::default()
    };
    let step = p.resume(&mut iso, IoResult::Fetched(redirected), NOW);
    assert!(iso.take_logs().iter().any(|l| l.error
        && l.line.contains("revocation_poll_failed")
        && l.line.contains("HTTP 302: a redirect, not followed")));
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (503, "revocations_unavailable")
    );
}

#[test]
fn an_unusable_status_names_a_redirect_as_one() {
    assert_eq!(
        crate::pipeline::unusable_status(301),
        "HTTP 301: a redirect, not followed"
    );
    assert_eq!(
        crate::pipeline::unusable_status(399),
        "HTTP 399: a redirect, not followed"
    );
    assert_eq!(crate::pipeline::unusable_status(404), "HTTP 404");
    assert_eq!(crate::pipeline::unusable_status(299), "HTTP 299");
}

#[test]
fn an_asymmetric_signature_waits_for_webcrypto_and_a_forgery_is_cached_negatively() {
    let mut iso = isolate(config(&[]));
    let t = token("https://ed.test", "EdDSA", "e", "");
    let (mut p, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    let Step::Need(Io::Signature(job)) = &step else {
        panic!("{step:?}")
    };
    assert_eq!(job.alg, "EdDSA");
    assert_eq!(format!("{}.{}", job.signing_input, job.signature_b64url), t);
    // The key to import, found again from the token.
    let Some(KeyImport::Raw { alg, b64url }) = p.key_to_import(&iso, NOW) else {
        panic!()
    };
    assert_eq!(
        (alg, b64url),
        ("EdDSA", b64(ed_key().verifying_key().as_bytes()))
    );
    let step = p.resume(&mut iso, IoResult::Signature(true), UnixMillis(NOW.0 + 5));
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
    assert_eq!(p.trace().auth_us, 5_000);

    let forged = format!("{}AAAA", &t[..t.len() - 4]);
    let (mut p, _) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&forged))]),
    );
    let step = p.resume(&mut iso, IoResult::Signature(false), NOW);
    assert_eq!(error_of(&step), "token_signature_invalid");
    let (p, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&forged))]),
    );
    assert_eq!(error_of(&step), "token_signature_invalid");
    assert_eq!(
        p.trace().cache,
        CacheUse::Negative,
        "refused from the cache, no second verification"
    );
}

#[test]
fn an_issuer_without_keys_waits_for_its_jwks() {
    let mut iso = isolate(config(&[]));
    let t = token("https://url.test", "EdDSA", "e", "");
    let (mut p, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    let Step::Need(Io::Jwks { issuer, url }) = &step else {
        panic!("{step:?}")
    };
    assert_eq!(
        (issuer.as_str(), url.as_str()),
        ("https://url.test", "https://url.test/jwks")
    );
    assert_eq!(p.trace().path, DriverPath::Async);
    let jwks = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"e","x":"{}"}}]}}"#,
        b64(ed_key().verifying_key().as_bytes())
    );
    // The driver's GET, reported by this request: the pipeline hands it to the isolate.
    let fetched = Fetched {
        status: 200,
        body: jwks.clone().into_bytes(),
        cache_control: Some("max-age=300".into()),
        ..Default::default()
    };
    // A report for another url than the issuer's configured one is dropped.
    iso.jwks_reported(
        "https://url.test",
        "https://evil.test/jwks",
        fetched.clone(),
        NOW,
    );
    assert!(iso
        .take_logs()
        .iter()
        .any(|l| l.error && l.line.contains("jwks_report_ignored")));
    assert!(iso.jwks_ready("https://url.test", NOW).is_none());
    iso.jwks_reported("https://url.test", "https://url.test/jwks", fetched, NOW);
    let step = p.resume(&mut iso, IoResult::Done, NOW);
    assert!(matches!(step, Step::Need(Io::Signature(_))), "{step:?}");
    assert!(iso
        .take_logs()
        .iter()
        .any(|l| l.line.contains("jwks_fetched")));
    let step = p.resume(&mut iso, IoResult::Signature(true), NOW);
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));

    // A key set behind a redirect is not one: the driver does not follow it.
    let mut iso = isolate(config(&[]));
    let (mut p, _) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    let moved = Fetched {
        status: 302,
        body: jwks.clone().into_bytes(),
        ..Default::default()
    };
    iso.jwks_reported("https://url.test", "https://url.test/jwks", moved, NOW);
    let step = p.resume(&mut iso, IoResult::Done, NOW);
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (503, "jwks_unavailable")
    );
    assert!(iso
        .take_logs()
        .iter()
        .any(|l| l.line.contains("jwks_fetch_failed")
            && l.line.contains("HTTP 302: a redirect, not followed")));

    // Requests arriving while that first fetch runs wait for it (the driver joins the one
    // fetch) instead of answering 503.
    let mut iso = isolate(config(&[]));
    let started: Vec<_> = (0..3)
        .map(|_| {
            run(
                &mut iso,
                request("GET", "/api", &[("authorization", &bearer(&t))]),
            )
        })
        .collect();
    let mut waiting = Vec::new();
    for (p, step) in started {
        assert!(matches!(step, Step::Need(Io::Jwks { .. })), "{step:?}");
        waiting.push(p);
    }
    iso.jwks_fetched(
        "https://url.test",
        "https://url.test/jwks",
        Ok((jwks.clone(), Some("max-age=300".into()))),
        NOW,
    );
    for mut p in waiting {
        let step = p.resume(&mut iso, IoResult::Done, NOW);
        assert!(matches!(step, Step::Need(Io::Signature(_))), "{step:?}");
    }

    // Another issuer whose fetch fails answers 503 jwks_unavailable.
    let mut iso = isolate(config(&[]));
    let (mut p, _) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&t))]),
    );
    iso.jwks_fetched(
        "https://url.test",
        "https://url.test/jwks",
        Err("HTTP 500".into()),
        NOW,
    );
    let step = p.resume(&mut iso, IoResult::Done, NOW);
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (503, "jwks_unavailable")
    );
    assert!(header(&step, "retry-after").is_some());
}

#[test]
fn background_tasks_run_as_jobs_one_get_at_a_time() {
    let mut iso = isolate(config(&[]));
    assert_eq!(iso.next_job(NOW), None, "nothing queued");
    iso.queue(Task::Revocations);
    iso.queue(Task::Jwks {
        issuer: "https://url.test".into(),
        url: "https://url.test/jwks".into(),
    });
    // The poll first: page by page until an empty one.
    let (ticket, io) = iso.next_job(NOW).expect("the poll");
    let Io::FeedPage(feed) = io else {
        panic!("{io:?}")
    };
    assert_eq!(feed.url, "http://origin.test/internal/revocations?since=c0");
    let (ticket, io) = iso
        .job_resumed(
            ticket,
            page(br#"{"revocations":[{"kind":"session","session":"s9","user":"u9","until":1900000000}],"next":"c1"}"#),
            NOW,
        )
        .expect("the next page");
    assert!(
        matches!(&io, Io::FeedPage(f) if f.url.ends_with("since=c1")),
        "{io:?}"
    );
    assert_eq!(iso.revocations.sessions_len(), 1);
    // The empty page ends the poll; the JWKS refresh comes next.
    let (ticket, io) = iso
        .job_resumed(ticket, page(br#"{"revocations":[],"next":"c1"}"#), NOW)
        .expect("the JWKS refresh");
    assert_eq!(
        io,
        Io::Jwks {
            issuer: "https://url.test".into(),
            url: "https://url.test/jwks".into()
        }
    );
    let jwks = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"e","x":"{}"}}]}}"#,
        b64(ed_key().verifying_key().as_bytes())
    );
    let fetched = Fetched {
        status: 200,
        body: jwks.into_bytes(),
        cache_control: Some("max-age=300".into()),
        ..Default::default()
    };
    iso.jwks_reported("https://url.test", "https://url.test/jwks", fetched, NOW);
    assert_eq!(iso.job_resumed(ticket, IoResult::Done, NOW), None);
    assert!(iso.jwks_ready("https://url.test", NOW).is_some());
    // A ticket answered twice, or never issued, starts nothing and breaks nothing.
    assert_eq!(iso.job_resumed(ticket, IoResult::Done, NOW), None);
    assert_eq!(iso.job_resumed(9999, IoResult::Done, NOW), None);
}

#[test]
fn a_background_poll_reads_at_most_feed_max_pages_and_a_failed_one_is_logged() {
    let mut iso = isolate(config(&[]));
    iso.queue(Task::Revocations);
    let mut next = iso.next_job(NOW);
    let mut pages = 0;
    while let Some((ticket, io)) = next {
        assert!(matches!(io, Io::FeedPage(_)), "{io:?}");
        pages += 1;
        let body = format!(
            r#"{{"revocations":[{{"kind":"session","session":"x{pages}","user":"u9","until":1900000000}}],"next":"c{pages}"}}"#
        );
        next = iso.job_resumed(ticket, page(body.as_bytes()), NOW);
    }
    assert_eq!(pages, FEED_MAX_PAGES);
    iso.take_logs();
    iso.queue(Task::Revocations);
    let (ticket, _) = iso.next_job(NOW).unwrap();
    let refused = Fetched {
        error: "TypeError: connection refused".into(),
        ..Default::default()
    };
    assert_eq!(
        iso.job_resumed(ticket, IoResult::Fetched(refused), NOW),
        None
    );
    assert!(iso.take_logs().iter().any(|l| l.error
        && l.line.contains("revocation_poll_failed")
        && l.line.contains("connection refused")));
}

#[test]
fn local_limits_answer_429_with_rate_limit_headers() {
    let mut iso = isolate(config(&[]));
    let ip = [("cf-connecting-ip", "203.0.113.7")];
    for _ in 0..2 {
        let (_, step) = run(&mut iso, request("GET", "/limited", &ip));
        let Step::Forward(plan) = &step else {
            panic!("{step:?}")
        };
        assert!(
            plan.response_headers.names.contains("RateLimit"),
            "{:?}",
            plan.response_headers
        );
    }
    let (_, step) = run(&mut iso, request("GET", "/limited", &ip));
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (429, "rate_limited")
    );
    assert!(header(&step, "retry-after").is_some());
}

#[test]
fn a_flood_of_429s_writes_one_line_a_second_and_counts_the_rest() {
    let mut iso = isolate(config(&[]));
    let ip = [("cf-connecting-ip", "203.0.113.8")];
    let deny_lines = |iso: &mut Isolate| -> Vec<String> {
        iso.take_logs()
            .into_iter()
            .map(|l| l.line)
            .filter(|l| l.contains("rate_limited"))
            .collect()
    };
    for _ in 0..2 {
        run(&mut iso, request("GET", "/limited", &ip));
    }
    for i in 0..10 {
        let (_, step) = Pipeline::start(
            request("GET", "/limited", &ip),
            &mut iso,
            UnixMillis(NOW.0 + i),
        );
        assert_eq!(status(&step), 429, "every one is refused, logged or not");
    }
    let lines = deny_lines(&mut iso);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("\"decision\":\"deny\""), "{}", lines[0]);
    // Any request a second later reports the nine not written.
    run_at(
        &mut iso,
        request("GET", "/pub", &ip),
        UnixMillis(NOW.0 + 1500),
    );
    let lines = deny_lines(&mut iso);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let summary: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(summary["event"], "denials_suppressed");
    assert_eq!(summary["rule"], "limited");
    assert_eq!(summary["count"], 9);
    // Other denials are never thinned out.
    for _ in 0..5 {
        run(&mut iso, request("GET", "/strict", &[]));
    }
    let logs = iso.take_logs();
    assert_eq!(
        logs.iter()
            .filter(|l| l.line.contains("token_missing"))
            .count(),
        5
    );
}

#[test]
fn rate_limited_log_per_second_zero_logs_every_429() {
    let mut iso = isolate(config(&[("RATE_LIMITED_LOG_PER_SECOND", "0")]));
    let ip = [("cf-connecting-ip", "203.0.113.9")];
    for _ in 0..12 {
        run(&mut iso, request("GET", "/limited", &ip));
    }
    let logs = iso.take_logs();
    assert_eq!(
        logs.iter()
            .filter(|l| l.line.contains("rate_limited"))
            .count(),
        10
    );
}

#[test]
fn remote_limits_are_one_wait_and_an_unavailable_backend_falls_back_to_the_isolate() {
    let mut iso = isolate(config(&[]));
    let (mut p, step) = run(&mut iso, request("GET", "/remote", &[]));
    let Step::Need(Io::RateLimits(checks)) = &step else {
        panic!("{step:?}")
    };
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].backend, RemoteBackend::Durable);
    let step = p.resume(
        &mut iso,
        IoResult::RateLimits(vec![RemoteOutcome::Unavailable("down".into())]),
        NOW,
    );
    assert!(matches!(step, Step::Forward(_)));
    assert!(iso
        .take_logs()
        .iter()
        .any(|l| l.line.contains("rate_limiter_unavailable")));
}

#[test]
fn a_login_counted_by_account_reads_the_body_first_and_refuses_an_oversized_one() {
    let mut iso = isolate(config(&[]));
    let (mut p, step) = run(&mut iso, request("POST", "/login", &[]));
    assert_eq!(
        step_need(&step),
        Some(Io::Body {
            max_bytes: ACCOUNT_BODY_LIMIT,
            headers: &[]
        })
    );
    let body = BodyRead {
        bytes: Some(br#"{"email":"A@example.com"}"#.to_vec()),
        ..Default::default()
    };
    assert!(matches!(
        p.resume(&mut iso, IoResult::Body(body), NOW),
        Step::Forward(_)
    ));
    let (mut p, _) = run(&mut iso, request("POST", "/login", &[]));
    let step = p.resume(&mut iso, IoResult::Body(BodyRead::default()), NOW);
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (413, "body_too_large")
    );
}

fn step_need(step: &Step) -> Option<Io> {
    match step {
        Step::Need(io) => Some(io.clone()),
        _ => None,
    }
}

fn stripe_body(body: &[u8]) -> BodyRead {
    let t = NOW_SECS.to_string();
    let mut m = <Hmac<Sha256>>::new_from_slice(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    m.update(format!("{t}.").as_bytes());
    m.update(body);
    let sig = crate::envelope::hex(&m.finalize().into_bytes());
    BodyRead {
        headers: vec![("stripe-signature".into(), format!("t={t},v1={sig}"))],
        content_length: Some(body.len().to_string()),
        bytes: Some(body.to_vec()),
    }
}

#[test]
fn a_webhook_route_without_its_secret_answers_503_before_reading_and_the_rest_still_works() {
    // An empty variable is an unset one (wrangler cannot delete a var in `--env-file`).
    let cfg = config(&[("WEBHOOK_STRIPE", "")]);
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    let mut iso = isolate(cfg);
    let (_, step) = run(&mut iso, request("POST", "/hook", &[]));
    assert!(
        step_need(&step).is_none(),
        "no body is read for a route that is off: {step:?}"
    );
    assert_eq!(
        (status(&step), error_of(&step)),
        (503, "webhook_not_configured".to_owned())
    );
    assert!(header(&step, "retry-after").is_some());
    let (_, step) = run(&mut iso, request("GET", "/pub", &[]));
    assert!(matches!(step, Step::Forward(_)), "{step:?}");
}

#[test]
fn a_webhook_route_with_a_malformed_secret_answers_500_logs_it_once_and_the_rest_still_works() {
    // Parsed on the route's first delivery, not at start: the configuration loads.
    let cfg = config(&[(
        "WEBHOOK_STRIPE",
        r#"{"provider":"stripe","secrets":["short"]}"#,
    )]);
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let mut iso = isolate(cfg);
    let (_, step) = run(&mut iso, request("GET", "/pub", &[]));
    assert!(matches!(step, Step::Forward(_)), "{step:?}");
    for delivery in 0..3 {
        let (_, step) = run(&mut iso, request("POST", "/hook", &[]));
        assert!(step_need(&step).is_none(), "no body is read: {step:?}");
        assert_eq!(
            (status(&step), error_of(&step)),
            (500, "config_invalid".to_owned())
        );
        let refusals: Vec<serde_json::Value> = iso
            .take_logs()
            .into_iter()
            .filter(|l| l.error)
            .filter_map(|l| serde_json::from_str(&l.line).ok())
            .filter(|v: &serde_json::Value| v["event"] == "config_invalid")
            .collect();
        if delivery == 0 {
            assert_eq!(refusals.len(), 1, "{refusals:?}");
            assert_eq!(refusals[0]["variable"], "WEBHOOK_STRIPE");
            let detail = refusals[0]["detail"].as_str().unwrap();
            assert!(detail.contains("at least 16"), "{detail}");
            assert!(!detail.contains("short"), "never the secret: {detail}");
        } else {
            assert!(refusals.is_empty(), "logged once per isolate: {refusals:?}");
        }
    }
    let (_, step) = run(&mut iso, request("GET", "/pub", &[]));
    assert!(matches!(step, Step::Forward(_)), "{step:?}");
}

#[test]
fn a_webhook_is_verified_from_its_body_and_a_replay_is_answered_as_a_duplicate() {
    let mut iso = isolate(config(&[]));
    let body = br#"{"id":"evt_1","type":"x"}"#;
    let (mut p, step) = run(&mut iso, request("POST", "/hook", &[]));
    let Some(Io::Body { headers, .. }) = step_need(&step) else {
        panic!("{step:?}")
    };
    assert!(headers.contains(&"stripe-signature"));
    let step = p.resume(&mut iso, IoResult::Body(stripe_body(body)), NOW);
    let Step::Forward(plan) = &step else {
        panic!("{step:?}")
    };
    let Target::Origin(out) = &plan.target else {
        panic!()
    };
    assert!(out.set.names.contains("x-auth-webhook-id"));
    let after = plan.after.clone();

    let (mut p, _) = run(&mut iso, request("POST", "/hook", &[]));
    let step = p.resume(&mut iso, IoResult::Body(stripe_body(body)), NOW);
    let Step::Respond(spec) = &step else {
        panic!("{step:?}")
    };
    assert_eq!(spec.status, 200);
    assert!(spec.body.contains("duplicate"));

    // The origin failed to take the first one: its retry goes through.
    let finished = forwarded(&mut iso, &after, 503, 2, NOW);
    assert_eq!(
        finished,
        Finished::Decorate {
            server_timing: None
        }
    );
    let (mut p, _) = run(&mut iso, request("POST", "/hook", &[]));
    assert!(matches!(
        p.resume(&mut iso, IoResult::Body(stripe_body(body)), NOW),
        Step::Forward(_)
    ));

    // Too large: the reader gave up.
    let (mut p, _) = run(&mut iso, request("POST", "/hook", &[]));
    let step = p.resume(
        &mut iso,
        IoResult::Body(BodyRead {
            bytes: None,
            ..stripe_body(body)
        }),
        NOW,
    );
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (413, "webhook_body_too_large")
    );
}

#[test]
fn after_the_forward_the_breaker_hears_of_failures_and_an_unreachable_origin_gets_503() {
    let mut iso = isolate(config(&[("BREAKER_FAILURES", "2")]));
    for _ in 0..2 {
        let (_, step) = run(&mut iso, request("GET", "/pub", &[]));
        let Step::Forward(plan) = step else { panic!() };
        let finished = forwarded(&mut iso, &plan.after, 0, 1, NOW);
        let Finished::Respond(spec) = finished else {
            panic!()
        };
        assert_eq!(spec.status, 503);
    }
    let (_, step) = run(&mut iso, request("GET", "/pub", &[]));
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (503, "origin_unavailable")
    );
    let logs = iso.take_logs();
    assert!(
        logs.iter().any(|l| l.line.contains(r#""event":"breaker""#)),
        "{logs:?}"
    );
}

#[test]
fn the_access_log_line_comes_after_the_forward_with_the_origin_time() {
    let mut iso = isolate(config(&[("SERVER_TIMING", "on")]));
    let (_, step) = run(
        &mut iso,
        request("GET", "/pub", &[("x-request-id", "rid-7")]),
    );
    let Step::Forward(plan) = step else { panic!() };
    let Finished::Decorate {
        server_timing: Some(st),
    } = forwarded(&mut iso, &plan.after, 200, 12, NOW)
    else {
        panic!()
    };
    assert!(st.contains("origin;dur=12"), "{st}");
    let logs = iso.take_logs();
    let line = &logs.last().unwrap().line;
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        (
            v["request_id"].as_str(),
            v["decision"].as_str(),
            v["status"].as_u64()
        ),
        (Some("rid-7"), Some("forward"), Some(200))
    );
    assert_eq!(v["origin_ms"], 12);
}

#[test]
fn asset_routes_forward_to_the_assets_binding_without_touching_the_breaker() {
    let mut iso = isolate(config(&[]));
    let (_, step) = run(&mut iso, request("GET", "/page", &[]));
    let Step::Forward(plan) = step else { panic!() };
    assert_eq!(plan.target, Target::Assets);
    assert_eq!(
        forwarded(&mut iso, &plan.after, 0, 1, NOW),
        Finished::Decorate {
            server_timing: None
        }
    );
    assert_eq!(iso.breaker_state(), "closed");
}

#[test]
fn a_resume_that_does_not_match_the_wait_is_an_internal_error_not_a_panic() {
    let mut iso = isolate(config(&[]));
    let (mut p, _) = run(&mut iso, request("POST", "/hook", &[]));
    let step = p.resume(&mut iso, IoResult::Signature(true), NOW);
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (500, "internal_error")
    );
    assert!(iso
        .take_logs()
        .iter()
        .any(|l| l.error && l.line.contains("pipeline_resumed_wrongly")));
}

#[test]
fn ambiguous_paths_are_refused_before_any_work() {
    let mut iso = isolate(config(&[]));
    let (_, step) = run(
        &mut iso,
        request("GET", "/a/../pub", &[("authorization", &bearer(&hs("")))]),
    );
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (400, "path_invalid")
    );
}

#[test]
fn background_work_is_claimed_for_the_driver_once() {
    let mut iso = isolate(config(&[("REVOCATION_POLL_SECONDS", "1")]));
    let later = UnixMillis(NOW.0 + 5_000);
    let _ = Pipeline::start(request("GET", "/pub", &[]), &mut iso, later);
    assert!(iso.has_background());
    assert_eq!(iso.take_background(), vec![Task::Revocations]);
    let _ = Pipeline::start(request("GET", "/pub", &[]), &mut iso, later);
    assert!(!iso.has_background(), "one poll in flight");
}

#[test]
fn a_route_requiring_a_fresh_authentication_challenges_old_and_missing_auth_times_cache_hit_or_not()
{
    let mut iso = isolate(config(&[]));
    let recent = hs(&format!(r#","auth_time":{}"#, NOW_SECS - 50));
    let (p, step) = run(
        &mut iso,
        request("GET", "/fresh", &[("authorization", &bearer(&recent))]),
    );
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
    assert_eq!(p.trace().cache, CacheUse::Miss);
    // Twenty seconds later the same token comes from the decision cache, and is too old now.
    let later = UnixMillis(NOW.0 + 20_000);
    let (p, step) = Pipeline::start(
        request("GET", "/fresh", &[("authorization", &bearer(&recent))]),
        &mut iso,
        later,
    );
    assert_eq!(p.trace().cache, CacheUse::Hit);
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (401, "step_up_required")
    );
    let challenge = header(&step, "www-authenticate").unwrap();
    assert!(challenge.starts_with(r#"Bearer realm="edge-auth", error="insufficient_user_authentication", error_description=""#), "{challenge}");
    assert!(challenge.ends_with(", max_age=60"), "{challenge}");
    // No auth_time at all: the same challenge.
    let (_, step) = run(
        &mut iso,
        request("GET", "/fresh", &[("authorization", &bearer(&hs("")))]),
    );
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (401, "step_up_required")
    );
    // Other routes do not care.
    let (_, step) = run(
        &mut iso,
        request("GET", "/api", &[("authorization", &bearer(&hs("")))]),
    );
    assert!(matches!(step, Step::Forward(_)));
    // A browser is sent to log in again.
    let (_, step) = run(
        &mut iso,
        request(
            "GET",
            "/fresh",
            &[("authorization", &bearer(&hs(""))), ("accept", "text/html")],
        ),
    );
    assert_eq!(status(&step), 302);
    assert!(header(&step, "location").unwrap().contains("step_up=1"));
}

#[test]
fn a_route_requiring_mfa_names_it_in_acr_values_after_checking_permissions() {
    let mut iso = isolate(config(&[]));
    let one = hs(r#","permissions":["read"],"amr":["pwd"]"#);
    let (_, step) = run(
        &mut iso,
        request("GET", "/mfa", &[("authorization", &bearer(&one))]),
    );
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (401, "step_up_required")
    );
    let challenge = header(&step, "www-authenticate").unwrap();
    assert!(challenge.ends_with(r#", acr_values="mfa""#), "{challenge}");
    // Lacking the permission is a 403 first: stepping up would not help.
    let (_, step) = run(
        &mut iso,
        request(
            "GET",
            "/mfa",
            &[("authorization", &bearer(&hs(r#","amr":["pwd"]"#)))],
        ),
    );
    assert_eq!(status(&step), 403);
    for amr in [r#"["pwd","otp"]"#, r#"["mfa"]"#] {
        let t = hs(&format!(r#","permissions":["read"],"amr":{amr}"#));
        let (_, step) = run(
            &mut iso,
            request("GET", "/mfa", &[("authorization", &bearer(&t))]),
        );
        assert!(matches!(step, Step::Forward(_)), "{amr}");
    }
    // A malformed amr does not invalidate the token; it only cannot satisfy the requirement.
    let odd = hs(r#","permissions":["read"],"amr":"mfa""#);
    let (_, step) = run(
        &mut iso,
        request("GET", "/mfa", &[("authorization", &bearer(&odd))]),
    );
    assert_eq!(error_of(&step), "step_up_required");
}

// ---------------------------------------------------------------- failure policy per dependency

/// Routes with each dependency's policy set both ways, and the backends they depend on.
fn failure_config() -> Rc<EdgeConfig> {
    failure_config_with(&[])
}

/// [`failure_config`] with extra settings.
fn failure_config_with(extra: &[(&str, &str)]) -> Rc<EdgeConfig> {
    let mut vars = vec![
        (
            "ROUTES",
            r#"[
            {"id":"jwks-open","path":"/jwks-open","access":"authenticated","failure":{"jwks":"open"}},
            {"id":"jwks-strict","path":"/jwks-strict","access":{"permissions":["read"]},"failure":{"jwks":"strict"}},
            {"id":"rev-open","path":"/rev-open","access":"authenticated","failure":{"revocations":"open"}},
            {"id":"rev-strict","path":"/rev-strict","access":"authenticated","failure":{"revocations":"strict"}},
            {"id":"do-open","path":"/do-open","access":"public","rate_limits":["global"],"failure":{"rate_limiter":"open"}},
            {"id":"do-strict","path":"/do-strict","access":"public","rate_limits":["global"],"failure":{"rate_limiter":"strict"}},
            {"id":"rl-open","path":"/rl-open","access":"public","rate_limits":["bound"],"failure":{"rate_limit_binding":"open"}},
            {"id":"rl-strict","path":"/rl-strict","access":"public","rate_limits":["bound"],"failure":{"rate_limit_binding":"strict"}},
            {"id":"both","path":"/both","access":"public","rate_limits":["global","bound"],"failure":{"rate_limiter":"strict"}},
            {"id":"all-strict","path":"/all-strict","access":"authenticated","rate_limits":["bound"],"failure":"strict"}
        ]"#,
        ),
        (
            "RATE_LIMITS",
            r#"[{"id":"global","key":["ip"],"limit":5,"period_secs":60,"backend":"durable"},
                {"id":"bound","key":["ip"],"limit":10,"period_secs":60,"backend":"binding","binding":"RL"}]"#,
        ),
    ];
    vars.extend_from_slice(extra);
    config(&vars)
}

/// The failure lines logged so far, parsed.
fn failure_lines(iso: &mut Isolate) -> Vec<serde_json::Value> {
    iso.take_logs()
        .into_iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l.line).ok())
        .filter(|v| v.get("dependency").is_some())
        .collect()
}

fn url_token() -> String {
    token(
        "https://url.test",
        "EdDSA",
        "e",
        r#","permissions":["read"]"#,
    )
}

/// Sends `path` with the `url.test` token and drives it through a failing JWKS fetch (when
/// it asks for one) and a good WebCrypto answer (when it gets that far).
fn through_failed_jwks(iso: &mut Isolate, path: &str, now: UnixMillis) -> Step {
    let t = url_token();
    let req = request("GET", path, &[("authorization", &bearer(&t))]);
    let (mut p, mut step) = Pipeline::start(req, iso, now);
    if let Step::Need(Io::Jwks { issuer, url }) = &step {
        iso.jwks_fetched(issuer, url, Err("connection refused".into()), now);
        step = p.resume(iso, IoResult::Done, now);
    }
    if matches!(step, Step::Need(Io::Signature(_))) {
        step = p.resume(iso, IoResult::Signature(true), now);
    }
    step
}

#[test]
fn an_issuer_whose_jwks_never_answered_gets_503_whatever_the_policy() {
    // No key was ever fetched: nothing can verify the token, so `open` does not forward either
    // (it would let an unauthenticated request through a route that needs a user).
    let mut iso = isolate(failure_config());
    for (path, policy) in [("/jwks-open", "open"), ("/jwks-strict", "strict")] {
        for _ in 0..2 {
            // The first request fetches (the JWKS server is down); the next is decided at once
            // while the cache backs off.
            let step = through_failed_jwks(&mut iso, path, NOW);
            assert_eq!(status(&step), 503, "{path}: {step:?}");
            assert_eq!(error_of(&step), "jwks_unavailable");
            assert!(header(&step, "retry-after").is_some_and(|v| v.parse::<u64>().unwrap() >= 1));
        }
        let lines = failure_lines(&mut iso);
        let written: Vec<_> = lines
            .iter()
            .filter(|l| l["event"] == "jwks_unavailable")
            .collect();
        assert_eq!(
            written.len(),
            1,
            "one line a second, the rest counted: {lines:?}"
        );
        assert_eq!(written[0]["failure"], policy);
        assert_eq!(written[0]["rule"], path.trim_start_matches('/'));
        assert!(written[0]["detail"]
            .as_str()
            .unwrap()
            .contains("https://url.test"));
    }
    // A token of an issuer with keys is unaffected.
    let (_, step) = run(
        &mut iso,
        request(
            "GET",
            "/jwks-open",
            &[("authorization", &bearer(&hs(r#","permissions":["read"]"#)))],
        ),
    );
    assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
}

#[test]
fn keys_past_their_maximum_staleness_verify_on_open_routes_only() {
    let mut iso = isolate(failure_config_with(&[("JWKS_MAX_STALENESS_SECONDS", "60")]));
    let jwks = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"e","x":"{}"}}]}}"#,
        b64(ed_key().verifying_key().as_bytes())
    );
    // Fetched 1000 s ago, fresh for 300 s, usable stale for 60 more: unusable now.
    let long_ago = UnixMillis(NOW.0 - 1_000_000);
    iso.jwks_fetched(
        "https://url.test",
        "https://url.test/jwks",
        Ok((jwks, Some("max-age=300".into()))),
        long_ago,
    );
    iso.take_logs();
    let strict = through_failed_jwks(&mut iso, "/jwks-strict", NOW);
    assert_eq!(error_of(&strict), "jwks_unavailable", "{strict:?}");
    let open = through_failed_jwks(&mut iso, "/jwks-open", NOW);
    // Verified (the signature was checked with the stale key) and forwarded as the user.
    assert_eq!(forwarded_identity(&open).as_deref(), Some("u1"), "{open:?}");
    let lines = failure_lines(&mut iso);
    let used = lines
        .iter()
        .find(|l| l["rule"] == "jwks-open")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(
        (used["event"].as_str(), used["failure"].as_str()),
        (Some("jwks_unavailable"), Some("open"))
    );
    assert!(
        used["detail"]
            .as_str()
            .unwrap()
            .contains("maximum staleness"),
        "{used}"
    );
    // A bad signature is still refused with the stale keys (another token: not a cache hit).
    let t = token(
        "https://url.test",
        "EdDSA",
        "e",
        r#","permissions":["read"],"n":2"#,
    );
    let (mut p, step) = run(
        &mut iso,
        request("GET", "/jwks-open", &[("authorization", &bearer(&t))]),
    );
    let step = match step {
        Step::Need(Io::Jwks { issuer, url }) => {
            iso.jwks_fetched(&issuer, &url, Err("connection refused".into()), NOW);
            p.resume(&mut iso, IoResult::Done, NOW)
        }
        s => s,
    };
    let step = match step {
        Step::Need(Io::Signature(_)) => p.resume(&mut iso, IoResult::Signature(false), NOW),
        s => s,
    };
    assert_eq!(status(&step), 401, "{step:?}");
}

#[test]
fn a_stale_revocation_feed_refuses_strict_routes_and_serves_open_ones_with_a_line() {
    for (path, want) in [("/rev-open", 0), ("/rev-strict", 503)] {
        let mut iso = Isolate::new(failure_config(), [1; 32]);
        let t = hs("");
        let (mut p, step) = run(
            &mut iso,
            request("GET", path, &[("authorization", &bearer(&t))]),
        );
        assert!(matches!(step, Step::Need(Io::FeedPage(_))), "{step:?}");
        let unavailable = Fetched {
            status: 503,
            body: b"{\"revocations\":[],\"next\":\"c\"}".to_vec(),
            ..Default::default()
        };
        // A 503 is a failed poll whatever its body says: the core judges the status.
        let step = p.resume(&mut iso, IoResult::Fetched(unavailable), NOW);
        assert_eq!(status(&step), want, "{path}: {step:?}");
        if want == 503 {
            assert_eq!(error_of(&step), "revocations_unavailable");
            // REVOCATION_POLL_SECONDS (default 5): when the next poll runs.
            assert_eq!(header(&step, "retry-after"), Some("5"));
        } else {
            assert_eq!(forwarded_identity(&step).as_deref(), Some("u1"));
        }
        let lines = failure_lines(&mut iso);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["event"], "revocations_unavailable");
        assert_eq!(
            lines[0]["failure"],
            if want == 0 { "open" } else { "strict" }
        );
    }
}

#[test]
fn an_unreachable_durable_object_or_binding_is_decided_per_route_and_per_backend() {
    let mut iso = isolate(failure_config());
    let cases: [(&str, Vec<RemoteOutcome>, u16, &str); 6] = [
        (
            "/do-open",
            vec![RemoteOutcome::Unavailable("DO down".into())],
            0,
            "",
        ),
        (
            "/do-strict",
            vec![RemoteOutcome::Unavailable("DO down".into())],
            503,
            "rate_limiter_unavailable",
        ),
        (
            "/rl-open",
            vec![RemoteOutcome::Unavailable("no binding".into())],
            0,
            "",
        ),
        (
            "/rl-strict",
            vec![RemoteOutcome::Unavailable("no binding".into())],
            503,
            "rate_limit_binding_unavailable",
        ),
        // Strict for the Durable Object only: a failing binding is open (the default) there…
        (
            "/both",
            vec![
                RemoteOutcome::Durable(crate::ratelimit::Outcome::Allowed {
                    new_tat: 0,
                    remaining: 4,
                    reset_after_ms: 1000,
                }),
                RemoteOutcome::Unavailable("no binding".into()),
            ],
            0,
            "",
        ),
        // …and a failing Durable Object is not.
        (
            "/both",
            vec![
                RemoteOutcome::Unavailable("DO down".into()),
                RemoteOutcome::Binding(true),
            ],
            503,
            "rate_limiter_unavailable",
        ),
    ];
    for (path, answers, want, reason) in cases {
        let (mut p, step) = run(&mut iso, request("GET", path, &[]));
        let Step::Need(Io::RateLimits(checks)) = &step else {
            panic!("{path}: {step:?}")
        };
        assert_eq!(checks.len(), answers.len());
        let step = p.resume(&mut iso, IoResult::RateLimits(answers), NOW);
        assert_eq!(status(&step), want, "{path}: {step:?}");
        if want == 503 {
            assert_eq!(error_of(&step), reason);
            assert_eq!(header(&step, "retry-after"), Some("1"));
        } else {
            // Open: counted by this isolate instead, so the response still says how much is left.
            let Step::Forward(plan) = &step else { panic!() };
            assert!(
                plan.response_headers
                    .names
                    .to_ascii_lowercase()
                    .contains("ratelimit"),
                "{plan:?}"
            );
        }
        let lines = failure_lines(&mut iso);
        assert_eq!(lines.len(), 1, "{path}: {lines:?}");
        let dep = if lines[0]["detail"].as_str().unwrap().contains("binding RL") {
            "rate_limit_binding"
        } else {
            "rate_limiter"
        };
        assert_eq!(lines[0]["dependency"], dep);
        assert_eq!(
            lines[0]["failure"],
            if want == 0 { "open" } else { "strict" }
        );
    }
}

#[test]
fn the_old_one_word_strict_makes_every_dependency_strict() {
    let mut iso = isolate(failure_config());
    let (mut p, _) = run(
        &mut iso,
        request("GET", "/all-strict", &[("authorization", &bearer(&hs("")))]),
    );
    let step = p.resume(
        &mut iso,
        IoResult::RateLimits(vec![RemoteOutcome::Unavailable("gone".into())]),
        NOW,
    );
    assert_eq!(
        (status(&step), error_of(&step).as_str()),
        (503, "rate_limit_binding_unavailable")
    );
}

#[test]
fn a_flood_of_failures_writes_one_line_a_second_per_route_and_counts_the_rest() {
    let mut iso = isolate(failure_config());
    for i in 0..50 {
        let (mut p, _) = run_at(
            &mut iso,
            request("GET", "/do-open", &[]),
            UnixMillis(NOW.0 + i),
        );
        let step = p.resume(
            &mut iso,
            IoResult::RateLimits(vec![RemoteOutcome::Unavailable("down".into())]),
            UnixMillis(NOW.0 + i),
        );
        assert!(matches!(step, Step::Forward(_)) || status(&step) == 429);
    }
    let lines = failure_lines(&mut iso);
    assert_eq!(lines.len(), 1, "{lines:?}");
    // The next second's first request reports the 49 others.
    let _ = run_at(
        &mut iso,
        request("GET", "/pub", &[]),
        UnixMillis(NOW.0 + 1000),
    );
    let lines = failure_lines(&mut iso);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "dependency_failures_suppressed");
    assert_eq!(lines[0]["dependency"], "rate_limiter");
    assert_eq!(lines[0]["rule"], "do-open");
    assert_eq!(lines[0]["count"], 49);
}

/// ES512 and PS384 (issue 21): deferred to WebCrypto under their own names, the key imported
/// as a JWK on its own curve; a signature of the wrong size is refused before any WebCrypto call.
#[test]
fn the_added_algorithms_wait_for_webcrypto_with_their_own_parameters() {
    use serde_json::json;
    let p521 = json!({"kty":"EC","crv":"P-521","kid":"e5","alg":"ES512",
        "x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
        "y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"});
    let rfc_rsa: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/vectors/jwt/rfc7515_a2_rs256.json"
    ))
    .unwrap();
    let n = rfc_rsa["jwk"]["n"].as_str().unwrap().to_owned();
    let rsa = json!({"kty":"RSA","kid":"p3","alg":"PS384","n": n,"e":"AQAB"});
    let issuers = json!([
        {"issuer":"https://es512.test","audiences":["api"],"jwks":{"keys":[p521]}},
        {"issuer":"https://ps384.test","audiences":["api"],"jwks":{"keys":[rsa]}},
    ])
    .to_string();
    let mut iso = isolate(config(&[("ISSUERS", &issuers)]));
    let unsigned = |iss: &str, alg: &str, kid: &str, sig_len: usize| {
        let header = b64(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#).as_bytes());
        let payload = b64(format!(
            r#"{{"iss":"{iss}","aud":"api","sub":"u1","exp":{}}}"#,
            NOW_SECS + 600
        )
        .as_bytes());
        format!("{header}.{payload}.{}", b64(&vec![1u8; sig_len]))
    };
    for (iss, alg, kid, size, expect_jwk) in [
        (
            "https://es512.test",
            "ES512",
            "e5",
            132,
            format!(
                r#"{{"kty":"EC","crv":"P-521","x":"{}","y":"{}"}}"#,
                p521["x"].as_str().unwrap(),
                p521["y"].as_str().unwrap()
            ),
        ),
        (
            "https://ps384.test",
            "PS384",
            "p3",
            256,
            format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB"}}"#),
        ),
    ] {
        let t = unsigned(iss, alg, kid, size);
        let (p, step) = run(
            &mut iso,
            request("GET", "/api", &[("authorization", &bearer(&t))]),
        );
        let Step::Need(Io::Signature(job)) = &step else {
            panic!("{alg}: {step:?}")
        };
        assert_eq!(job.alg, alg);
        let Some(KeyImport::Jwk {
            alg: import_alg,
            json,
        }) = p.key_to_import(&iso, NOW)
        else {
            panic!("{alg}: a JWK to import")
        };
        assert_eq!((import_alg, json), (alg, expect_jwk));
        // One byte short: refused at once, WebCrypto is never asked.
        let t = unsigned(iss, alg, kid, size - 1);
        let (_, step) = run(
            &mut iso,
            request("GET", "/api", &[("authorization", &bearer(&t))]),
        );
        assert_eq!(error_of(&step), "token_signature_invalid", "{alg}");
    }
}
