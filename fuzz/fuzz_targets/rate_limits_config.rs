//! The `RATE_LIMITS` reader (src/ratelimit/rule.rs, `parse_rules`). Properties: it accepts only
//! JSON arrays serde_json reads too, one rule per element with that element's `id` and
//! `limit`, ids unique; a refusal's text and the memory held stay proportional to the input.
#![no_main]

use edge_auth::ratelimit::parse_rules;
use edge_auth_fuzz::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = text(data);
    let (outcome, peak) = peak_during(|| parse_rules(&s));
    assert_bounded("rate limits", s.len(), peak, 128, 64 * 1024);
    match outcome {
        Ok(rules) => {
            let doc = assert_json_accepted("RATE_LIMITS", &s, true);
            let items = doc.as_array().unwrap();
            assert_eq!(rules.len(), items.len(), "one rule per element");
            for (i, (rule, item)) in rules.iter().zip(items).enumerate() {
                assert_eq!(item["id"].as_str(), Some(rule.id.as_str()));
                assert!(
                    rules[..i].iter().all(|r| r.id != rule.id),
                    "repeated id {:?}",
                    rule.id
                );
                assert_eq!(
                    item["limit"].as_u64(),
                    Some(rule.quota.limit as u64),
                    "limit"
                );
            }
        }
        Err(e) => assert_error_bounded("RATE_LIMITS", s.len(), &e.to_string()),
    }
});
