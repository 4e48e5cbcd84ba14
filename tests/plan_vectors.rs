//! The plan protocol's golden encodings (`tests/vectors/plan/`) against the Rust encoder
//! (`edge_auth::plan`). `node --test tests/js/` checks the same files against the JS decoder.

use edge_auth::pipeline::{
    Ed25519Job, FeedRequest, Finished, ForwardPlan, HeaderSet, Io, KeyImport, Outgoing,
    RemoteBackend, RemoteCheck, SignatureJob, Step, Target,
};
use edge_auth::plan;
use edge_auth::ratelimit::{Quota, RateKey};
use edge_auth::respond::ResponseSpec;
use serde_json::Value;

fn vectors(name: &str) -> Value {
    let path = format!("{}/tests/vectors/plan/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("vector JSON")
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn header_set(v: &Value) -> HeaderSet {
    let mut h = HeaderSet::default();
    for (n, v) in pairs(v) {
        h.push(&n, &v);
    }
    h
}

/// The encoding of a case's `step` by the Rust encoder.
fn encode(step: &Value) -> String {
    let background = step["background"].as_bool().unwrap_or(false);
    let ticket = step["ticket"].as_u64().unwrap_or(0) as u32;
    match str_of(step, "kind") {
        "respond" => plan::respond(
            &ResponseSpec {
                status: step["status"].as_u64().unwrap() as u16,
                headers: pairs(&step["headers"])
                    .into_iter()
                    .map(|(n, v)| (leak(&n), v))
                    .collect(),
                body: str_of(step, "body").to_owned(),
            },
            background,
        ),
        "forward" => {
            let target = match str_of(step, "target") {
                "origin" => Target::Origin(Outgoing {
                    url: str_of(step, "url").to_owned(),
                    drop: step["drop"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    set: header_set(&step["set"]),
                    timeout_ms: step["timeout_ms"].as_u64().unwrap() as u32,
                }),
                _ => Target::Assets,
            };
            let plan = ForwardPlan {
                target,
                after: str_of(step, "after").to_owned(),
                response_headers: header_set(&step["response_headers"]),
            };
            plan::encode(&Step::Forward(plan), 0, background)
        }
        "verify" => plan::encode(
            &Step::Need(Io::Signature(SignatureJob {
                key_id: str_of(step, "key_id").to_owned(),
                alg: leak(str_of(step, "alg")),
                signing_input: str_of(step, "signing_input").to_owned(),
                signature_b64url: str_of(step, "signature").to_owned(),
            })),
            ticket,
            background,
        ),
        "read_body" => {
            let headers: Vec<&'static str> = step["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| leak(h.as_str().unwrap()))
                .collect();
            let io = Io::Body {
                max_bytes: step["max_bytes"].as_u64().unwrap(),
                headers: Box::leak(headers.into_boxed_slice()),
            };
            plan::encode(&Step::Need(io), ticket, background)
        }
        "sync_wait" => plan::encode(
            &Step::Need(Io::SyncWait {
                timeout_ms: step["timeout_ms"].as_u64().unwrap() as u32,
            }),
            ticket,
            background,
        ),
        "jwks" => plan::encode(
            &Step::Need(Io::Jwks {
                issuer: str_of(step, "issuer").to_owned(),
                url: str_of(step, "url").to_owned(),
            }),
            ticket,
            background,
        ),
        "limits" => {
            let checks = step["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| RemoteCheck {
                    rule_id: str_of(c, "rule_id").to_owned(),
                    key: RateKey::from_hex(str_of(c, "key")).expect("a key"),
                    quota: Quota::new(
                        c["limit"].as_u64().unwrap() as u32,
                        c["period_ms"].as_u64().unwrap(),
                    )
                    .unwrap(),
                    backend: match str_of(c, "backend") {
                        "durable" => RemoteBackend::Durable,
                        _ => RemoteBackend::Binding(str_of(c, "binding").to_owned()),
                    },
                })
                .collect();
            plan::encode(&Step::Need(Io::RateLimits(checks)), ticket, background)
        }
        "ed25519" => {
            let bytes = |v: &Value| -> Vec<u8> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_u64().unwrap() as u8)
                    .collect()
            };
            let candidates = step["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        bytes(&c[0]).try_into().unwrap(),
                        bytes(&c[1]).try_into().unwrap(),
                    )
                })
                .collect();
            let io = Io::Ed25519(Ed25519Job {
                message: str_of(step, "message").as_bytes().to_vec(),
                candidates,
            });
            plan::encode(&Step::Need(io), ticket, background)
        }
        "idle" => plan::idle(),
        "fetch" => {
            // The one GET the protocol carries: a page of the revocation feed, signed.
            let headers = pairs(&step["headers"]);
            assert_eq!(headers.len(), 1);
            assert_eq!(headers[0].0, edge_auth::envelope::SIGNATURE_HEADER);
            let io = Io::FeedPage(FeedRequest {
                url: str_of(step, "url").to_owned(),
                signature: headers[0].1.clone(),
                timeout_ms: step["timeout_ms"].as_u64().unwrap() as u32,
            });
            plan::encode(&Step::Need(io), ticket, background)
        }
        "decorate" => plan::finished(
            &Finished::Decorate {
                server_timing: step["server_timing"].as_str().map(str::to_owned),
            },
            background,
        ),
        "key" => {
            let alg = leak(str_of(step, "alg"));
            let data = str_of(step, "data").to_owned();
            let k = match str_of(step, "format") {
                "raw" => KeyImport::Raw { alg, b64url: data },
                _ => KeyImport::Jwk { alg, json: data },
            };
            plan::key(Some(&k))
        }
        "no_key" => plan::key(None),
        other => panic!("kind {other}"),
    }
}

#[test]
fn the_encoder_writes_every_golden_case_exactly() {
    let v = vectors("steps.json");
    assert!(str_of(&v, "source").contains("version 1"));
    let cases = v["cases"].as_array().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for c in cases {
        assert_eq!(
            encode(&c["step"]),
            str_of(c, "encoded"),
            "{}",
            str_of(c, "name")
        );
        kinds.insert(str_of(&c["step"], "kind").to_owned());
    }
    for (kind, _) in plan::KINDS {
        assert!(kinds.contains(*kind), "no golden case for kind {kind}");
    }
}

#[test]
fn the_invalid_cases_are_nothing_the_encoder_can_write() {
    let v = vectors("invalid.json");
    assert!(str_of(&v, "source").contains("version 1"));
    for c in v["cases"].as_array().unwrap() {
        let s = str_of(c, "encoded");
        let f: Vec<&str> = s.split('\0').collect();
        let valid = f.len() >= 3
            && f[0] == plan::VERSION
            && (f[2] == "0" || f[2] == "1")
            && plan::KINDS
                .iter()
                .any(|(k, n)| *k == f[1] && f.len() == 3 + n)
            // What the decoder checks inside a field (a ticket's digits, a target's or
            // backend's name, lists of one length) the encoder never writes wrong either.
            && !["ticket", "target", "backend", "keys"]
                .iter()
                .any(|w| c["error"].as_str().unwrap().contains(w));
        assert!(!valid, "{}", str_of(c, "name"));
    }
}
