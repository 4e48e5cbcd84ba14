//! The `ISSUERS` reader (src/config/mod.rs, through `EdgeConfig::from_lookup` with every other
//! variable valid), inline JWKS included (src/jwt/keys.rs). Properties: it accepts only JSON
//! arrays serde_json reads too, one issuer per element with that element's `issuer` and
//! `audiences`; a refusal names only `ISSUERS` (or the secret an entry names), in text
//! proportional to the input; memory held stays proportional to the input.
#![no_main]

use edge_auth::config::EdgeConfig;
use edge_auth_fuzz::*;
use libfuzzer_sys::fuzz_target;

const ENVELOPE_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// What an entry's `"jwks_secret": "JWKS_FUZZ"` finds.
const JWKS_FUZZ: &str = r#"{"keys":[{"kty":"oct","alg":"HS256","kid":"k1","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]}"#;

fuzz_target!(|data: &[u8]| {
    let s = text(data);
    let lookup = |name: &str| -> Option<String> {
        match name {
            "DEPLOY_ENV" => Some("development".into()),
            "ORIGIN_URL" => Some("http://127.0.0.1:8787".into()),
            "ENVELOPE_SECRET" => Some(ENVELOPE_SECRET.into()),
            "ISSUERS" => Some(s.clone()),
            "JWKS_FUZZ" => Some(JWKS_FUZZ.into()),
            _ => None,
        }
    };
    let (outcome, peak) = peak_during(|| EdgeConfig::from_lookup(&lookup));
    // The default routes and rate rules are built too: a fixed floor.
    assert_bounded("issuers", s.len(), peak, 128, 256 * 1024);
    match outcome {
        Ok(cfg) => {
            let doc = assert_json_accepted("ISSUERS", s.trim(), true);
            let items = doc.as_array().unwrap();
            assert_eq!(cfg.issuers.len(), items.len(), "one issuer per element");
            for (iss, item) in cfg.issuers.iter().zip(items) {
                assert_eq!(item["issuer"].as_str(), Some(iss.policy.issuer.as_str()));
                let auds: Vec<&str> = item["audiences"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|a| a.as_str())
                    .collect();
                assert_eq!(auds, iss.policy.audiences, "audiences");
            }
        }
        Err(e) => {
            // The secrets the entries name (`jwks_secret`), as serde_json reads them.
            let named: Vec<String> = serde_json::from_str::<serde_json::Value>(s.trim())
                .ok()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.get("jwks_secret")?.as_str().map(str::to_owned))
                .collect();
            for p in &e.0 {
                assert!(
                    p.variable.starts_with("ISSUERS") || named.contains(&p.variable),
                    "a refusal of ISSUERS blamed {:?}: {}",
                    p.variable,
                    p.problem
                );
            }
            assert_error_bounded("ISSUERS", s.len(), &e.to_string());
        }
    }
});
