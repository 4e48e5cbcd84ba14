//! The `ROUTES` reader (src/policy.rs, `RoutePolicy::from_json`). Properties: it accepts only
//! JSON arrays serde_json reads too, one rule per element, each with that element's `id`; every
//! accepted pattern parses back to itself; a refusal's text and the memory held stay
//! proportional to the input.
#![no_main]

use edge_auth::policy::{PathPattern, RoutePolicy};
use edge_auth_fuzz::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = text(data);
    let (outcome, peak) = peak_during(|| RoutePolicy::from_json(&s));
    // A rule is a few hundred bytes of structure for as little as ~20 bytes of text.
    assert_bounded("routes", s.len(), peak, 128, 64 * 1024);
    match outcome {
        Ok(policy) => {
            let doc = assert_json_accepted("ROUTES", &s, true);
            let items = doc.as_array().unwrap();
            assert_eq!(policy.rules().len(), items.len(), "one rule per element");
            for (rule, item) in policy.rules().iter().zip(items) {
                assert_eq!(item["id"].as_str(), Some(rule.id.as_str()));
                let again = PathPattern::parse(rule.pattern.as_str()).expect("pattern re-parses");
                assert_eq!(again, rule.pattern, "pattern round trip");
            }
            assert_eq!(
                RoutePolicy::from_json(&s).as_ref(),
                Ok(&policy),
                "deterministic"
            );
        }
        Err(e) => assert_error_bounded("ROUTES", s.len(), &e.to_string()),
    }
});
