//! The packed configuration's reader (src/config/packed.rs, `EdgeConfig::from_packed`) behind a
//! good digest. The input edits a real pack of a configuration with every kind of key source,
//! access, failure policy, step-up and rate-limit backend: pairs of (position, xor) bytes, 3
//! bytes each; after a leading 0xff the rest of the input is the body itself. Properties:
//! nothing panics; memory held stays proportional to the input; a body that is read back packs
//! again to exactly itself (one encoding per configuration: no RSA key here, the one value
//! whose checks rewrite it).
#![no_main]

use edge_auth::config::EdgeConfig;
use edge_auth::fuzzing::{pack_around, packed_body, repacked};
use edge_auth_fuzz::*;
use libfuzzer_sys::fuzz_target;

const ISSUERS: &str = r#"[
  {"issuer":"https://url.example","audiences":["api","web"],"jwks_url":"https://url.example/jwks"},
  {"issuer":"https://inline.example","audiences":["api"],"jwks":{"keys":[
    {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"},
    {"kty":"oct","alg":"HS384","kid":"h","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0i"}]}},
  {"issuer":"https://secret.example","audiences":["api"],"jwks_secret":"JWKS_FUZZ"}]"#;
const ROUTES: &str = r#"[
  {"id":"p","methods":["GET"],"path":"/healthz","access":"public"},
  {"id":"l","methods":["POST"],"path":"/login","access":"public","rate_limits":["ip","acct"],"failure":{"rate_limiter":"strict"}},
  {"id":"a","path":"/app/{x}/*","access":"authenticated","upstream":"assets","failure":"strict"},
  {"id":"s","path":"/admin/**","access":{"permissions":{"all_of":["a","b"]}},"require_fresh_auth":300,"require_amr":["mfa"]},
  {"id":"m","path":"/m","access":{"permissions":["x","y"]},"rate_limits":["user","bind"]},
  {"id":"w","methods":["POST"],"path":"/hooks","access":{"webhook":"hook"}}]"#;
const RATE_LIMITS: &str = r#"[
  {"id":"ip","key":["ip","route"],"limit":5,"period_secs":60},
  {"id":"acct","key":["account"],"limit":3,"period_ms":90000},
  {"id":"user","key":["user"],"limit":100,"period_secs":60,"backend":"durable"},
  {"id":"bind","key":["ip"],"limit":10,"period_secs":10,"backend":"binding","binding":"RL"}]"#;

fn var(name: &str) -> Option<String> {
    Some(
        match name {
            "DEPLOY_ENV" => "development",
            "ORIGIN_URL" => "http://127.0.0.1:8788",
            "ENVELOPE_SECRET" => "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "ISSUERS" => ISSUERS,
            "JWKS_FUZZ" => r#"{"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr8"}]}"#,
            "ROUTES" => ROUTES,
            "RATE_LIMITS" => RATE_LIMITS,
            "WEBHOOK_HOOK" => r#"{"provider":"standard","secrets":["whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="]}"#,
            "CORS_ORIGINS" => r#"["https://app.example"]"#,
            "SERVER_TIMING" => "on",
            _ => return None,
        }
        .to_owned(),
    )
}

fuzz_target!(|data: &[u8]| {
    let body = match data.split_first() {
        Some((0xff, raw)) => raw.to_vec(),
        _ => {
            let mut body = packed_body(&var);
            for edit in data.chunks_exact(3) {
                mutate(&mut body, u16::from_le_bytes([edit[0], edit[1]]), edit[2]);
            }
            body
        }
    };
    let packed = pack_around(&var, &body);
    let (outcome, peak) = peak_during(|| EdgeConfig::from_packed(&packed, &var));
    // The secrets (a webhook, a JWKS) are parsed whatever the body: a fixed floor.
    assert_bounded("packed", body.len(), peak, 64, 256 * 1024);
    if let Ok(Ok(c)) = outcome {
        assert_eq!(repacked(&c), body, "read back, a body packs again to itself");
    }
});
