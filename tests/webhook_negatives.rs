//! Forged, replayed, stale, oversize and malformed deliveries: each refused with its precise reason.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use edge_auth::reason::Reason;
use edge_auth::time::UnixMillis;
use edge_auth::webhook::{
    check_content_length, headers_needed, prepare, verify, verify_with, DalekEd25519, Prepared,
    Provider, ReplayStatus, ReplayWindow, WebhookConfig, WebhookError, WebhookHeaders,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const T: u64 = 1_700_000_000;
const NOW: UnixMillis = UnixMillis::from_secs(T);
const STRIPE_SECRET: &str = "whsec_negative_tests_stripe_secret_1";
const STRIPE_OLD: &str = "whsec_negative_tests_stripe_secret_0";
const GITHUB_SECRET: &str = "negative-tests github secret";
const STANDARD_KEY: [u8; 32] = [7; 32];
const BODY: &[u8] = br#"{"id":"evt_neg1","type":"ping"}"#;
const GUID: &str = "0b989ba4-242f-11e5-81e1-c7b6966d2516";
const MSG: &str = "msg_neg1";

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <Hmac<Sha256>>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn cfg(provider: &str, secrets: &[&str]) -> WebhookConfig {
    WebhookConfig::from_json(
        &serde_json::json!({ "provider": provider, "secrets": secrets }).to_string(),
    )
    .unwrap()
}
fn standard_secret() -> String {
    format!("whsec_{}", B64.encode(STANDARD_KEY))
}

fn stripe_header(secret: &str, t: u64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex(&mac(
            secret.as_bytes(),
            &[t.to_string().as_bytes(), b".", body]
        ))
    )
}
fn stripe(header: &str) -> WebhookHeaders {
    WebhookHeaders::new().with("Stripe-Signature", header)
}
fn github_sig(body: &[u8]) -> String {
    format!("sha256={}", hex(&mac(GITHUB_SECRET.as_bytes(), &[body])))
}
fn github(sig: &str) -> WebhookHeaders {
    WebhookHeaders::new()
        .with("X-Hub-Signature-256", sig)
        .with("X-GitHub-Delivery", GUID)
}
fn standard_sig(id: &str, ts: &str, body: &[u8]) -> String {
    format!(
        "v1,{}",
        B64.encode(mac(
            &STANDARD_KEY,
            &[id.as_bytes(), b".", ts.as_bytes(), b".", body]
        ))
    )
}
fn standard(id: &str, ts: &str, sig: &str) -> WebhookHeaders {
    WebhookHeaders::new()
        .with("webhook-id", id)
        .with("webhook-timestamp", ts)
        .with("webhook-signature", sig)
}

fn reason(r: Result<impl std::fmt::Debug, WebhookError>) -> Reason {
    r.expect_err("expected a refusal").reason()
}

#[test]
fn genuine_deliveries_of_each_format_verify() {
    let v = verify(
        &cfg("stripe", &[STRIPE_SECRET]),
        &stripe(&stripe_header(STRIPE_SECRET, T, BODY)),
        BODY,
        NOW,
    )
    .unwrap();
    assert_eq!(
        (v.provider(), v.delivery_id(), v.timestamp()),
        ("stripe", Some("evt_neg1"), Some(T))
    );
    let v = verify(
        &cfg("github", &[GITHUB_SECRET]),
        &github(&github_sig(BODY)),
        BODY,
        NOW,
    )
    .unwrap();
    // GitHub signs only the body, so the body's digest (not the unsigned GUID) is the id.
    let digest = format!(
        "sha256:{}",
        hex_lower(&<sha2::Sha256 as sha2::Digest>::digest(BODY))
    );
    assert_eq!(
        (v.provider(), v.delivery_id(), v.timestamp()),
        ("github", Some(digest.as_str()), None)
    );
    let ts = T.to_string();
    let v = verify(
        &cfg("standard", &[&standard_secret()]),
        &standard(MSG, &ts, &standard_sig(MSG, &ts, BODY)),
        BODY,
        NOW,
    )
    .unwrap();
    assert_eq!(
        (v.provider(), v.delivery_id(), v.timestamp()),
        ("standard", Some(MSG), Some(T))
    );
}

#[test]
fn a_tampered_body_byte_is_refused_in_every_format() {
    let ts = T.to_string();
    let s = cfg("stripe", &[STRIPE_SECRET]);
    let g = cfg("github", &[GITHUB_SECRET]);
    let w = cfg("standard", &[&standard_secret()]);
    let (sh, gh, wh) = (
        stripe(&stripe_header(STRIPE_SECRET, T, BODY)),
        github(&github_sig(BODY)),
        standard(MSG, &ts, &standard_sig(MSG, &ts, BODY)),
    );
    for i in 0..BODY.len() {
        let mut body = BODY.to_vec();
        body[i] ^= 0x01;
        assert_eq!(
            reason(verify(&s, &sh, &body, NOW)),
            Reason::WebhookSignatureInvalid,
            "stripe byte {i}"
        );
        assert_eq!(
            reason(verify(&g, &gh, &body, NOW)),
            Reason::WebhookSignatureInvalid,
            "github byte {i}"
        );
        assert_eq!(
            reason(verify(&w, &wh, &body, NOW)),
            Reason::WebhookSignatureInvalid,
            "standard byte {i}"
        );
    }
    // Appending or dropping a byte (e.g. a proxy's trailing newline) also breaks it.
    assert_eq!(
        reason(verify(&g, &gh, &[BODY, b"\n"].concat(), NOW)),
        Reason::WebhookSignatureInvalid
    );
    assert_eq!(
        reason(verify(&g, &gh, &BODY[..BODY.len() - 1], NOW)),
        Reason::WebhookSignatureInvalid
    );
}

#[test]
fn every_flipped_signature_bit_is_refused() {
    let good = mac(GITHUB_SECRET.as_bytes(), &[BODY]);
    let g = cfg("github", &[GITHUB_SECRET]);
    for bit in 0..good.len() * 8 {
        let mut sig = good.clone();
        sig[bit / 8] ^= 1 << (bit % 8);
        let h = github(&format!("sha256={}", hex(&sig)));
        assert_eq!(
            reason(verify(&g, &h, BODY, NOW)),
            Reason::WebhookSignatureInvalid,
            "bit {bit}"
        );
    }
}

#[test]
fn a_wrong_secret_is_refused() {
    let wrong = "whsec_someone_elses_secret_0000000";
    assert_eq!(
        reason(verify(
            &cfg("stripe", &[STRIPE_SECRET]),
            &stripe(&stripe_header(wrong, T, BODY)),
            BODY,
            NOW
        )),
        Reason::WebhookSignatureInvalid
    );
    assert_eq!(
        reason(verify(
            &cfg("github", &["another github secret!"]),
            &github(&github_sig(BODY)),
            BODY,
            NOW
        )),
        Reason::WebhookSignatureInvalid
    );
    let other = format!("whsec_{}", B64.encode([8u8; 32]));
    let ts = T.to_string();
    assert_eq!(
        reason(verify(
            &cfg("standard", &[&other]),
            &standard(MSG, &ts, &standard_sig(MSG, &ts, BODY)),
            BODY,
            NOW
        )),
        Reason::WebhookSignatureInvalid
    );
}

#[test]
fn rotation_accepts_old_and_new_while_both_are_configured_and_refuses_a_removed_one() {
    let both = cfg("stripe", &[STRIPE_SECRET, STRIPE_OLD]);
    let by_new = stripe(&stripe_header(STRIPE_SECRET, T, BODY));
    let by_old = stripe(&stripe_header(STRIPE_OLD, T, BODY));
    assert_eq!(verify(&both, &by_new, BODY, NOW).unwrap().secret_index(), 0);
    assert_eq!(verify(&both, &by_old, BODY, NOW).unwrap().secret_index(), 1);
    let new_only = cfg("stripe", &[STRIPE_SECRET]);
    assert_eq!(
        reason(verify(&new_only, &by_old, BODY, NOW)),
        Reason::WebhookSignatureInvalid
    );
}

#[test]
fn truncated_and_empty_signatures_are_refused() {
    let full = stripe_header(STRIPE_SECRET, T, BODY);
    let s = cfg("stripe", &[STRIPE_SECRET]);
    for cut in [2, 32, 62] {
        assert_eq!(
            reason(verify(&s, &stripe(&full[..full.len() - cut]), BODY, NOW)),
            Reason::WebhookSignatureInvalid,
            "cut {cut}"
        );
    }
    assert_eq!(
        reason(verify(&s, &stripe(&format!("t={T},v1=")), BODY, NOW)),
        Reason::WebhookSignatureInvalid
    );

    let g = cfg("github", &[GITHUB_SECRET]);
    let sig = github_sig(BODY);
    assert_eq!(
        reason(verify(&g, &github(&sig[..sig.len() - 2]), BODY, NOW)),
        Reason::WebhookSignatureInvalid
    );
    assert_eq!(
        reason(verify(&g, &github("sha256="), BODY, NOW)),
        Reason::WebhookSignatureInvalid
    );
    // An empty header value is a present header that says nothing.
    assert_eq!(
        reason(verify(&g, &github(""), BODY, NOW)),
        Reason::WebhookHeaderMalformed
    );

    let w = cfg("standard", &[&standard_secret()]);
    let ts = T.to_string();
    let mac16 = B64.encode(
        &mac(
            &STANDARD_KEY,
            &[MSG.as_bytes(), b".", ts.as_bytes(), b".", BODY],
        )[..16],
    );
    assert_eq!(
        reason(verify(
            &w,
            &standard(MSG, &ts, &format!("v1,{mac16}")),
            BODY,
            NOW
        )),
        Reason::WebhookSignatureInvalid
    );
    assert_eq!(
        reason(verify(&w, &standard(MSG, &ts, "v1,"), BODY, NOW)),
        Reason::WebhookSignatureInvalid
    );
}

#[test]
fn schemes_that_are_never_enough() {
    // Stripe v0 carrying the right HMAC.
    let v1 = stripe_header(STRIPE_SECRET, T, BODY);
    let v0 = v1.replace("v1=", "v0=");
    let s = cfg("stripe", &[STRIPE_SECRET]);
    let e = verify(&s, &stripe(&v0), BODY, NOW).unwrap_err();
    assert_eq!(
        e,
        WebhookError::NoAcceptedScheme {
            header: "stripe-signature"
        }
    );
    assert_eq!(e.reason(), Reason::WebhookSignatureMissing);
    // GitHub legacy SHA-1 header only.
    let sha1_only = WebhookHeaders::new()
        .with(
            "X-Hub-Signature",
            "sha1=0123456789abcdef0123456789abcdef01234567",
        )
        .with("X-GitHub-Delivery", GUID);
    assert_eq!(
        verify(&cfg("github", &[GITHUB_SECRET]), &sha1_only, BODY, NOW).unwrap_err(),
        WebhookError::SignatureMissing {
            header: "x-hub-signature-256"
        }
    );
    // A sha1= value in the sha256 header.
    assert_eq!(
        reason(verify(
            &cfg("github", &[GITHUB_SECRET]),
            &github("sha1=0123456789abcdef0123456789abcdef01234567"),
            BODY,
            NOW
        )),
        Reason::WebhookHeaderMalformed
    );
    // Standard Webhooks: unknown versions only.
    let ts = T.to_string();
    let sig = standard_sig(MSG, &ts, BODY).replace("v1,", "v2,");
    assert_eq!(
        reason(verify(
            &cfg("standard", &[&standard_secret()]),
            &standard(MSG, &ts, &sig),
            BODY,
            NOW
        )),
        Reason::WebhookSignatureMissing
    );
}

#[test]
fn timestamps_at_the_tolerance_edge_either_way() {
    let s = cfg("stripe", &[STRIPE_SECRET]);
    let w = cfg("standard", &[&standard_secret()]);
    for (offset, ok) in [
        (-301i64, false),
        (-300, true),
        (0, true),
        (300, true),
        (301, false),
    ] {
        let t = (T as i64 + offset) as u64;
        let r = verify(
            &s,
            &stripe(&stripe_header(STRIPE_SECRET, t, BODY)),
            BODY,
            NOW,
        );
        let ts = t.to_string();
        let r2 = verify(
            &w,
            &standard(MSG, &ts, &standard_sig(MSG, &ts, BODY)),
            BODY,
            NOW,
        );
        for r in [r.map(|_| ()), r2.map(|_| ())] {
            match ok {
                true => assert!(r.is_ok(), "offset {offset}: {r:?}"),
                false => assert_eq!(
                    reason(r),
                    Reason::WebhookTimestampOutOfTolerance,
                    "offset {offset}"
                ),
            }
        }
    }
    // Fractional `now` is rounded down to whole seconds.
    let ts = (T + 300).to_string();
    assert!(verify(
        &w,
        &standard(MSG, &ts, &standard_sig(MSG, &ts, BODY)),
        BODY,
        NOW.plus_millis(999)
    )
    .is_ok());
    // A configured tolerance is honoured.
    let mut tight = cfg("standard", &[&standard_secret()]);
    tight.tolerance_secs = 5;
    let ts = (T - 6).to_string();
    assert_eq!(
        reason(verify(
            &tight,
            &standard(MSG, &ts, &standard_sig(MSG, &ts, BODY)),
            BODY,
            NOW
        )),
        Reason::WebhookTimestampOutOfTolerance
    );
}

#[test]
fn a_duplicated_delivery_is_caught_by_the_replay_window() {
    let g = cfg("github", &[GITHUB_SECRET]);
    let mut window = ReplayWindow::for_config(&g);
    let h = github(&github_sig(BODY));
    let first = verify(&g, &h, BODY, NOW).unwrap();
    assert_eq!(
        window.check_verified(&first, NOW),
        Some(ReplayStatus::Fresh)
    );
    for later in [1, 60, 599] {
        let again = verify(&g, &h, BODY, NOW.plus_secs(later)).unwrap();
        assert_eq!(
            window.check_verified(&again, NOW.plus_secs(later)),
            Some(ReplayStatus::Duplicate)
        );
    }
    // A captured delivery replayed with a fresh, unsigned X-GitHub-Delivery is still a duplicate.
    let forged_guid = WebhookHeaders::new()
        .with("X-Hub-Signature-256", &github_sig(BODY))
        .with("X-GitHub-Delivery", "11111111-2222-3333-4444-555555555555");
    let replayed = verify(&g, &forged_guid, BODY, NOW.plus_secs(5)).unwrap();
    assert_eq!(
        window.check_verified(&replayed, NOW.plus_secs(5)),
        Some(ReplayStatus::Duplicate)
    );
    // The origin failed: the id is released so the sender's retry goes through.
    let id = first.delivery_id().unwrap().to_owned();
    window.forget(Provider::GitHub, &id);
    assert_eq!(
        window.check_and_insert(Provider::GitHub, &id, NOW.plus_secs(700)),
        ReplayStatus::Fresh
    );

    let w = cfg("standard", &[&standard_secret()]);
    let mut window = ReplayWindow::for_config(&w);
    let ts = T.to_string();
    let h = standard(MSG, &ts, &standard_sig(MSG, &ts, BODY));
    let v = verify(&w, &h, BODY, NOW).unwrap();
    assert_eq!(window.check_verified(&v, NOW), Some(ReplayStatus::Fresh));
    // Replayed at the far edge of the timestamp tolerance: still remembered (window = 2 × tolerance).
    let v = verify(&w, &h, BODY, NOW.plus_secs(300)).unwrap();
    assert_eq!(
        window.check_verified(&v, NOW.plus_secs(300)),
        Some(ReplayStatus::Duplicate)
    );
}

#[test]
fn oversize_bodies_are_refused_before_and_after_reading() {
    let mut g = cfg("github", &[GITHUB_SECRET]);
    assert_eq!(g.max_body_bytes, 1024 * 1024);
    assert!(check_content_length(&g, Some(1024 * 1024)).is_ok());
    assert!(check_content_length(&g, None).is_ok());
    assert_eq!(
        check_content_length(&g, Some(1024 * 1024 + 1)).unwrap_err(),
        WebhookError::BodyTooLarge {
            limit: 1024 * 1024,
            actual: 1024 * 1024 + 1
        }
    );
    g.max_body_bytes = 16;
    // Refused on size even with a valid signature, before any HMAC work.
    assert_eq!(
        reason(verify(&g, &github(&github_sig(BODY)), BODY, NOW)),
        Reason::WebhookBodyTooLarge
    );
    assert!(verify(&g, &github(&github_sig(&BODY[..16])), &BODY[..16], NOW).is_ok());
}

#[test]
fn malformed_headers_each_with_their_reason() {
    use Reason::*;
    let ts = T.to_string();
    let good_std = standard_sig(MSG, &ts, BODY);
    let good_v1 = stripe_header(STRIPE_SECRET, T, BODY);
    let v1_part = good_v1.split_once(',').unwrap().1.to_owned();
    let s = cfg("stripe", &[STRIPE_SECRET]);
    let g = cfg("github", &[GITHUB_SECRET]);
    let w = cfg("standard", &[&standard_secret()]);

    let stripe_cases: Vec<(String, Reason)> = vec![
        (format!("t=0{T},{v1_part}"), WebhookHeaderMalformed), // zero-padded
        (format!("t=+{T},{v1_part}"), WebhookHeaderMalformed), // signed
        (format!("t=-{T},{v1_part}"), WebhookHeaderMalformed),
        (format!("t={T}.0,{v1_part}"), WebhookHeaderMalformed), // not an integer
        (format!("t=abc,{v1_part}"), WebhookHeaderMalformed),   // non-numeric
        (format!("t=,{v1_part}"), WebhookHeaderMalformed),
        (v1_part.clone(), WebhookHeaderMalformed), // no t
        (format!("t={T},t={T},{v1_part}"), WebhookHeaderMalformed),
        (format!("t={T}, {v1_part}"), WebhookHeaderMalformed), // space: " v1" is an unknown key → no v1
        (format!("t={T},{v1_part},"), WebhookHeaderMalformed), // trailing comma
        (
            format!("t={T},v1=zz{}", &v1_part[5..]),
            WebhookHeaderMalformed,
        ), // non-hex
        (format!("t={T},={v1_part}"), WebhookHeaderMalformed),
        (
            format!("t={T},{}", vec![v1_part.as_str(); 17].join(",")),
            WebhookHeaderMalformed,
        ),
        (format!("t={T}"), WebhookSignatureMissing),
    ];
    for (h, want) in stripe_cases {
        let got = reason(verify(&s, &stripe(&h), BODY, NOW));
        // The space case has no usable v1 at all.
        let want = if h.contains(", v1") {
            WebhookSignatureMissing
        } else {
            want
        };
        assert_eq!(got, want, "stripe {h:?}");
    }
    assert_eq!(
        reason(verify(&s, &WebhookHeaders::new(), BODY, NOW)),
        WebhookSignatureMissing
    );

    let sig = github_sig(BODY);
    for (h, want) in [
        (
            github(&sig.replace("sha256=", "SHA256=")),
            WebhookHeaderMalformed,
        ),
        (
            github(&sig.replace("sha256=", "sha256 =")),
            WebhookHeaderMalformed,
        ),
        (github(&format!("{sig}g")), WebhookHeaderMalformed),
        (
            WebhookHeaders::new().with("x-hub-signature-256", &sig),
            WebhookHeaderMalformed,
        ), // no delivery id
        (
            WebhookHeaders::new()
                .with("x-hub-signature-256", &sig)
                .with("x-github-delivery", "a b"),
            WebhookHeaderMalformed,
        ),
        (
            WebhookHeaders::new().with("x-github-delivery", GUID),
            WebhookSignatureMissing,
        ),
    ] {
        assert_eq!(reason(verify(&g, &h, BODY, NOW)), want, "github {h:?}");
    }
    // Sent twice (which copy was signed?): refused, even when both copies are right.
    let twice = github(&sig).with("X-Hub-Signature-256", &sig);
    assert_eq!(
        verify(&g, &twice, BODY, NOW).unwrap_err(),
        WebhookError::HeaderMalformed {
            header: "x-hub-signature-256",
            problem: "sent more than once"
        }
    );

    let padded = format!("0{ts}");
    for (h, want) in [
        (standard(MSG, &padded, &good_std), WebhookHeaderMalformed),
        (
            standard(MSG, &format!("+{ts}"), &good_std),
            WebhookHeaderMalformed,
        ),
        (standard(MSG, "1.7e9", &good_std), WebhookHeaderMalformed),
        (standard(MSG, "hello", &good_std), WebhookHeaderMalformed),
        (standard("msg.1", &ts, &good_std), WebhookHeaderMalformed), // '.' in the id
        (
            standard(&"m".repeat(257), &ts, &good_std),
            WebhookHeaderMalformed,
        ),
        (
            standard(MSG, &ts, &good_std.replace(',', "")),
            WebhookHeaderMalformed,
        ), // no version,sig
        (
            standard(MSG, &ts, &format!("{good_std}  {good_std}")),
            WebhookHeaderMalformed,
        ), // empty entry
        (
            standard(MSG, &ts, &good_std.replace('=', "")),
            WebhookHeaderMalformed,
        ), // unpadded base64
        (standard(MSG, &ts, "v1,!!!!"), WebhookHeaderMalformed),
        (
            standard(MSG, &ts, &format!(",{}", &good_std[3..])),
            WebhookHeaderMalformed,
        ),
        (
            WebhookHeaders::new()
                .with("webhook-timestamp", &ts)
                .with("webhook-signature", &good_std),
            WebhookHeaderMalformed,
        ),
        (
            WebhookHeaders::new()
                .with("webhook-id", MSG)
                .with("webhook-signature", &good_std),
            WebhookHeaderMalformed,
        ),
        (
            WebhookHeaders::new()
                .with("webhook-id", MSG)
                .with("webhook-timestamp", &ts),
            WebhookSignatureMissing,
        ),
    ] {
        assert_eq!(reason(verify(&w, &h, BODY, NOW)), want, "standard {h:?}");
    }
    // Header names are case-insensitive and surrounding spaces are not part of the value.
    let h = WebhookHeaders::new()
        .with("Webhook-Id", MSG)
        .with("WEBHOOK-TIMESTAMP", &format!(" {ts}\t"))
        .with("webhook-signature", &good_std);
    assert!(verify(&w, &h, BODY, NOW).is_ok());
}

#[test]
fn ed25519_is_verified_by_the_caller_and_never_implicitly() {
    let sk = SigningKey::from_bytes(&[42; 32]);
    let pk = format!("whpk_{}", B64.encode(sk.verifying_key().to_bytes()));
    let ts = T.to_string();
    let content = [MSG.as_bytes(), b".", ts.as_bytes(), b".", BODY].concat();
    let sig = format!("v1a,{}", B64.encode(sk.sign(&content).to_bytes()));
    let w = cfg("standard", &[&pk]);
    let h = standard(MSG, &ts, &sig);

    // The synchronous HMAC path refuses to decide: a wiring error, not the sender's fault.
    assert_eq!(
        verify(&w, &h, BODY, NOW).unwrap_err(),
        WebhookError::Ed25519Required
    );
    assert_eq!(WebhookError::Ed25519Required.reason(), Reason::Internal);
    // What the Worker adapter does with WebCrypto:
    let Prepared::NeedsEd25519(p) = prepare(&w, &h, BODY, NOW).unwrap() else {
        panic!()
    };
    assert_eq!(p.signed_content(), &content[..]);
    assert_eq!(p.candidates().len(), 1);
    assert_eq!(
        reason(prepare_pending(&w, &h).finish(None)),
        Reason::WebhookSignatureInvalid
    );
    assert_eq!(
        reason(prepare_pending(&w, &h).finish(Some(1))),
        Reason::WebhookSignatureInvalid
    );
    assert_eq!(p.finish(Some(0)).unwrap().delivery_id(), Some(MSG));
    // Natively, ed25519-dalek.
    assert!(verify_with(&w, &h, BODY, NOW, &DalekEd25519).is_ok());
    // Header checks still come first: a stale v1a delivery never reaches the Ed25519 step.
    let old = (T - 301).to_string();
    assert_eq!(
        reason(prepare(&w, &standard(MSG, &old, &sig), BODY, NOW)),
        Reason::WebhookTimestampOutOfTolerance
    );
    // A 63-byte v1a signature is well-formed base64 of the wrong length: invalid, no candidate.
    let short = format!("v1a,{}", B64.encode(&sk.sign(&content).to_bytes()[..63]));
    assert_eq!(
        reason(prepare(&w, &standard(MSG, &ts, &short), BODY, NOW)),
        Reason::WebhookSignatureInvalid
    );
}

fn prepare_pending(w: &WebhookConfig, h: &WebhookHeaders) -> edge_auth::webhook::PendingEd25519 {
    match prepare(w, h, BODY, NOW).unwrap() {
        Prepared::NeedsEd25519(p) => p,
        Prepared::Verified(_) => panic!("expected pending"),
    }
}

#[test]
fn headers_needed_lists_only_what_each_format_reads() {
    assert_eq!(headers_needed(Provider::Stripe), ["stripe-signature"]);
    assert_eq!(
        headers_needed(Provider::GitHub),
        ["x-hub-signature-256", "x-github-delivery"]
    );
    assert_eq!(
        headers_needed(Provider::StandardWebhooks),
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
    );
    for p in Provider::ALL {
        assert_eq!(Provider::from_id(p.id()), Some(p));
    }
}

#[test]
fn config_errors_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"secrets":["0123456789abcdef"]}"#,
            "provider is required",
        ),
        (
            r#"{"provider":"gitlab","secrets":["0123456789abcdef"]}"#,
            "provider \"gitlab\" is not one of",
        ),
        (r#"{"provider":"github"}"#, "secrets is required"),
        (r#"{"provider":"github","secrets":[]}"#, "secrets is empty"),
        (
            r#"{"provider":"github","secrets":"0123456789abcdef"}"#,
            "secrets must be an array",
        ),
        (
            r#"{"provider":"github","secrets":["0123456789abcdef",""]}"#,
            "secrets[1] is empty",
        ),
        (
            r#"{"provider":"stripe","secrets":["whsec_short"]}"#,
            "secrets[0] is 11 bytes, at least 16",
        ),
        (
            r#"{"provider":"github","secrets":[42]}"#,
            "secrets[0] must be a string",
        ),
        (
            r#"{"provider":"standard","secrets":["whsec_AAAA"]}"#,
            "secrets[0] decodes to 3 bytes, 24 to 64",
        ),
        (
            r#"{"provider":"standard","secrets":["whsec_not base64!"]}"#,
            "secrets[0] is not valid base64",
        ),
        (
            r#"{"provider":"standard","secrets":["whpk_AAAA"]}"#,
            "secrets[0] decodes to 3 bytes, an ed25519 public key is 32",
        ),
        (
            r#"{"provider":"standard","secrets":["c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"]}"#,
            "secrets[0] must start with whsec_",
        ),
        (
            r#"{"provider":"github","secrets":["0123456789abcdef"],"tolerance_secs":0}"#,
            "tolerance_secs is 0",
        ),
        (
            r#"{"provider":"github","secrets":["0123456789abcdef"],"tolerance_secs":300000}"#,
            "tolerance_secs is 300000",
        ),
        (
            r#"{"provider":"github","secrets":["0123456789abcdef"],"tolerance_secs":-1}"#,
            "tolerance_secs must be a non-negative integer",
        ),
        (
            r#"{"provider":"github","secrets":["0123456789abcdef"],"max_body_bytes":0}"#,
            "max_body_bytes is 0",
        ),
        (
            r#"{"provider":"github","secrets":["0123456789abcdef"],"secret":"x"}"#,
            "secret is not a known field",
        ),
        (r#"["github"]"#, "webhook must be a json object"),
        (r#"{"provider":"#, "webhook is not valid json"),
    ];
    for (json, want) in cases {
        let e = WebhookConfig::from_json(json).unwrap_err().to_string();
        assert!(e.contains(want), "{json}: got {e:?}, want {want:?}");
        assert!(
            !e.contains("0123456789abcdef") && !e.contains("whsec_short"),
            "secret leaked: {e}"
        );
    }
    let c: WebhookConfig = r#"{"provider":"standard","secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],"tolerance_secs":60,"max_body_bytes":65536}"#
        .parse()
        .unwrap();
    assert_eq!(
        (
            c.provider,
            c.tolerance_secs,
            c.max_body_bytes,
            c.secrets.len()
        ),
        (Provider::StandardWebhooks, 60, 65536, 1)
    );
    assert!(!format!("{c:?}").contains("MfKQ"), "Debug redacts secrets");
    let e = WebhookConfig::from_json(r#"{"provider":"github","secrets":[""]}"#)
        .unwrap_err()
        .within("routes[2].webhook");
    assert_eq!(e.field, "routes[2].webhook.secrets[0]");
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
