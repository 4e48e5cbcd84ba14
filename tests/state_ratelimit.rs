//! Rate limiting with an injected clock: GCRA exactness, the bounded key table, rules, headers.

use edge_auth::ratelimit::{
    check, combine, default_rules, parse_rules, rate_limit_headers, retry_after_secs, Backend,
    KeyInput, KeyParts, LocalLimiter, Outcome, Quota, RateKey, RuleOutcome,
};
use edge_auth::time::UnixMillis;

const T0: UnixMillis = UnixMillis(1_700_000_000_000);

fn at(ms: u64) -> UnixMillis {
    T0.plus_millis(ms)
}

/// Runs `n` requests at `now` through the pure function, threading the TAT.
fn burst(tat: &mut Option<u64>, q: Quota, now: UnixMillis, n: u32) -> Vec<Outcome> {
    (0..n)
        .map(|_| {
            let o = check(*tat, q, now, 1);
            if let Outcome::Allowed { new_tat, .. } = o {
                *tat = Some(new_tat);
            }
            o
        })
        .collect()
}

fn key(rule: &str, ip: &str) -> RateKey {
    RateKey::build(rule, KeyParts::IP, &KeyInput::new().ip(ip)).unwrap()
}

#[test]
fn exactly_limit_requests_pass_in_a_burst_and_the_next_waits_exactly_one_interval() {
    let q = Quota::new(5, 1_000).unwrap(); // one unit back every 200 ms
    let mut tat = None;
    let out = burst(&mut tat, q, at(0), 6);
    let remaining: Vec<u32> = out[..5].iter().map(Outcome::remaining).collect();
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    assert_eq!(
        out[5],
        Outcome::Limited {
            retry_after_ms: 200,
            reset_after_ms: 1_000
        }
    );
}

#[test]
fn one_unit_comes_back_after_period_over_limit_and_not_a_millisecond_earlier() {
    let q = Quota::new(5, 1_000).unwrap();
    let mut tat = None;
    burst(&mut tat, q, at(0), 5);
    assert_eq!(check(tat, q, at(199), 1).retry_after_ms(), Some(1));
    let o = check(tat, q, at(200), 1);
    assert!(o.is_allowed());
    assert_eq!(o.remaining(), 0);
    // After a full period everything is back.
    assert_eq!(check(tat, q, at(1_000), 1).remaining(), 4);
}

#[test]
fn a_quota_whose_interval_is_not_a_whole_millisecond_is_still_exact() {
    let q = Quota::new(3, 1_000).unwrap(); // 333.33… ms per unit
    let mut tat = None;
    let out = burst(&mut tat, q, at(0), 4);
    assert!(out[..3].iter().all(Outcome::is_allowed));
    assert_eq!(out[3].retry_after_ms(), Some(334));
    assert!(!check(tat, q, at(333), 1).is_allowed());
    assert!(check(tat, q, at(334), 1).is_allowed());
}

#[test]
fn a_cost_spends_several_units_and_a_cost_above_the_limit_never_passes() {
    let q = Quota::new(10, 10_000).unwrap();
    let o = check(None, q, at(0), 4);
    assert_eq!(o.remaining(), 6);
    assert!(!check(None, q, at(0), 11).is_allowed());
    // Cost 0 reports without spending.
    let Outcome::Allowed { new_tat, .. } = o else {
        panic!("4 of 10 must pass")
    };
    assert_eq!(check(Some(new_tat), q, at(0), 0).remaining(), 6);
}

#[test]
fn an_idle_key_is_the_same_as_a_new_key() {
    let q = Quota::per_minute(2).unwrap();
    let mut tat = None;
    burst(&mut tat, q, at(0), 2);
    assert_eq!(check(tat, q, at(60_000), 1), check(None, q, at(60_000), 1));
}

#[test]
fn invalid_quotas_are_refused() {
    assert!(Quota::new(0, 1_000).is_err());
    assert!(Quota::new(1, 0).is_err());
    assert!(Quota::new(2_000_000, 1_000).is_err());
}

#[test]
fn the_local_limiter_counts_per_key() {
    let q = Quota::new(2, 1_000).unwrap();
    let mut l = LocalLimiter::new(100);
    let (a, b) = (key("r", "192.0.2.1"), key("r", "192.0.2.2"));
    assert!(l.check(a, q, at(0), 1).is_allowed());
    assert!(l.check(a, q, at(0), 1).is_allowed());
    assert!(!l.check(a, q, at(0), 1).is_allowed());
    assert!(l.check(b, q, at(0), 1).is_allowed());
    assert_eq!(l.len(), 2);
}

#[test]
fn a_flood_of_new_keys_never_grows_the_table_past_its_bound() {
    let q = Quota::per_minute(5).unwrap();
    let mut l = LocalLimiter::new(1_000);
    for i in 0..20_000u32 {
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        l.check(key("flood", &ip), q, at(u64::from(i)), 1);
        assert!(l.len() <= 1_000);
    }
    assert_eq!(l.len(), 1_000);
    assert_eq!(l.stats().live_evicted, 19_000);
}

#[test]
fn eviction_takes_the_least_recently_used_key_first() {
    let q = Quota::per_minute(5).unwrap();
    let mut l = LocalLimiter::new(2);
    let (a, b, c) = (
        key("r", "1.1.1.1"),
        key("r", "2.2.2.2"),
        key("r", "3.3.3.3"),
    );
    l.check(a, q, at(0), 1);
    l.check(b, q, at(1), 1);
    l.check(a, q, at(2), 1); // a is now the most recent
    l.check(c, q, at(3), 1);
    assert!(l.tat(&a).is_some());
    assert!(l.tat(&b).is_none());
    assert!(l.tat(&c).is_some());
}

#[test]
fn expired_keys_are_tidied_before_live_ones_are_evicted() {
    let q = Quota::new(1, 100).unwrap();
    let mut l = LocalLimiter::new(10);
    for i in 0..10 {
        l.check(key("r", &format!("10.0.0.{i}")), q, at(0), 1);
    }
    // 100 ms later every key is back to a full quota: each call tidies expired keys.
    for i in 0..5 {
        l.check(key("r", &format!("10.0.1.{i}")), q, at(100), 1);
    }
    assert_eq!(l.stats().live_evicted, 0);
    assert!(l.len() <= 10);
    assert!(l.stats().expired_removed >= 5);
}

#[test]
fn ipv6_clients_are_counted_per_slash_64() {
    assert_eq!(
        key("r", "2001:db8:1:2::1"),
        key("r", "2001:db8:1:2:ffff::9")
    );
    assert_ne!(key("r", "2001:db8:1:2::1"), key("r", "2001:db8:1:3::1"));
    assert_eq!(key("r", "::ffff:192.0.2.1"), key("r", "192.0.2.1"));
}

#[test]
fn the_same_ip_under_two_rules_has_two_keys() {
    assert_ne!(key("login_ip", "192.0.2.1"), key("api_ip", "192.0.2.1"));
    assert_eq!(key("login_ip", "192.0.2.1").to_hex().len(), 32);
}

#[test]
fn check_all_spends_nothing_when_one_rule_refuses() {
    let mut l = LocalLimiter::new(10);
    let (loose, tight) = (
        Quota::per_minute(100).unwrap(),
        Quota::per_minute(1).unwrap(),
    );
    let (a, b) = (key("loose", "1.1.1.1"), key("tight", "1.1.1.1"));
    let first = l.check_all(&[(a, loose), (b, tight)], at(0), 1);
    assert!(first.iter().all(Outcome::is_allowed));
    let tat_a = l.tat(&a);
    let second = l.check_all(&[(a, loose), (b, tight)], at(0), 1);
    assert!(second[0].is_allowed() && !second[1].is_allowed());
    assert_eq!(l.tat(&a), tat_a, "the loose rule was not charged");
}

#[test]
fn allowed_responses_carry_policy_and_state_headers() {
    let q = Quota::per_minute(10).unwrap();
    let o = check(None, q, at(0), 1);
    let h = rate_limit_headers(&[RuleOutcome {
        rule_id: "api_user",
        quota: q,
        outcome: o,
    }]);
    assert_eq!(
        h,
        vec![
            ("RateLimit-Policy", "\"api_user\";q=10;w=60".to_owned()),
            ("RateLimit", "\"api_user\";r=9;t=6".to_owned()),
        ]
    );
}

#[test]
fn refusals_add_retry_after_in_whole_seconds_rounded_up() {
    let q = Quota::per_minute(1).unwrap();
    let mut tat = None;
    burst(&mut tat, q, at(0), 1);
    let limited = check(tat, q, at(500), 1);
    assert_eq!(limited.retry_after_ms(), Some(59_500));
    let h = rate_limit_headers(&[RuleOutcome {
        rule_id: "login_ip",
        quota: q,
        outcome: limited,
    }]);
    assert_eq!(h[1], ("RateLimit", "\"login_ip\";r=0;t=60".to_owned()));
    assert_eq!(h[2], ("Retry-After", "60".to_owned()));
    assert_eq!(retry_after_secs(1), 1);
    assert_eq!(retry_after_secs(0), 1);
    assert_eq!(retry_after_secs(1_000), 1);
    assert_eq!(retry_after_secs(1_001), 2);
}

#[test]
fn the_most_restrictive_rule_decides() {
    let ip_q = Quota::per_minute(10).unwrap();
    let user_q = Quota::new(1, 10_000).unwrap();
    let ip = check(None, ip_q, at(0), 1);
    let mut user_tat = None;
    burst(&mut user_tat, user_q, at(0), 1);
    let user = check(user_tat, user_q, at(1_000), 1);
    let both = [
        RuleOutcome {
            rule_id: "login_ip",
            quota: ip_q,
            outcome: ip,
        },
        RuleOutcome {
            rule_id: "login_user",
            quota: user_q,
            outcome: user,
        },
    ];
    let c = combine(&both);
    assert!(!c.allowed);
    assert_eq!(c.decisive, Some(1));
    assert_eq!(c.retry_after_ms, Some(9_000));
    let h = rate_limit_headers(&both);
    assert_eq!(h[0].1, "\"login_ip\";q=10;w=60, \"login_user\";q=1;w=10");
    assert_eq!(h[2], ("Retry-After", "9".to_owned()));

    // When all admit, the rule with the fewest remaining units is decisive.
    let fresh_user = check(None, user_q, at(0), 1);
    let c = combine(&[
        RuleOutcome {
            rule_id: "a",
            quota: ip_q,
            outcome: ip,
        },
        RuleOutcome {
            rule_id: "b",
            quota: user_q,
            outcome: fresh_user,
        },
    ]);
    assert!(c.allowed);
    assert_eq!(c.decisive, Some(1));
}

#[test]
fn rules_parse_from_json() {
    let rules = parse_rules(
        r#"[{"id":"login_ip","key":["ip"],"limit":10,"period_secs":60,"backend":"durable"},
            {"id":"api","key":["user","route"],"limit":600,"period_ms":60000},
            {"id":"bind","key":["ip"],"limit":100,"period_secs":10,"backend":"binding","binding":"RL"}]"#,
    )
    .unwrap();
    assert_eq!(rules[0].backend, Backend::Durable);
    assert_eq!(rules[0].quota, Quota::per_minute(10).unwrap());
    assert_eq!(rules[1].key, KeyParts::USER.and(KeyParts::ROUTE));
    assert_eq!(rules[1].backend, Backend::Local);
    assert_eq!(rules[2].backend, Backend::Binding { name: "RL".into() });
}

#[test]
fn rule_errors_name_the_field() {
    let r = |fields: &str| format!(r#"[{{"id":"a","key":["ip"],{fields}}}]"#);
    let cases = [
        (r#"{}"#.to_owned(), "rules: must be a json array"),
        (
            r#"[{"key":["ip"],"limit":1,"period_secs":1}]"#.to_owned(),
            "rules[0].id: is required",
        ),
        (
            r#"[{"id":"A","key":["ip"],"limit":1,"period_secs":1}]"#.to_owned(),
            "rules[0].id: must be",
        ),
        (
            r#"[{"id":"a","key":["ip","mac"],"limit":1,"period_secs":1}]"#.to_owned(),
            "rules[0].key[1]: must be",
        ),
        (
            r#"[{"id":"a","key":[],"limit":1,"period_secs":1}]"#.to_owned(),
            "rules[0].key: must name at least one part",
        ),
        (
            r(r#""limit":0,"period_secs":1"#),
            "rules[0].limit: limit must be at least 1",
        ),
        (
            r(r#""limit":"5","period_secs":1"#),
            "rules[0].limit: must be a non-negative integer",
        ),
        (r(r#""limit":1"#), "rules[0].period_secs: is required"),
        (r(r#""limit":1,"period_secs":0"#), "rules[0].period_secs: period must be"),
        (
            r(r#""limit":1,"period_secs":1,"limt":2"#),
            "rules[0].limt: unknown field",
        ),
        (
            r(r#""limit":1,"period_secs":30,"backend":"binding","binding":"X""#),
            "rules[0].period_secs: must be 10 or 60",
        ),
        (
            r(r#""limit":1,"period_secs":10,"backend":"binding""#),
            "rules[0].binding: is required",
        ),
        (
            // A newline (or anything not an identifier) could never be a binding's name, and
            // would break the plan's newline-joined list (src/plan.rs, `limits`).
            r(r#""limit":1,"period_secs":10,"backend":"binding","binding":"RL\nAPI""#),
            "rules[0].binding: must name a rate limiting binding (a JS identifier",
        ),
        (
            r(r#""limit":1,"period_secs":10,"backend":"binding","binding":"1RL""#),
            "rules[0].binding: must name a rate limiting binding",
        ),
        (
            r(r#""limit":1,"period_secs":1,"backend":"redis""#),
            "rules[0].backend: must be",
        ),
        (
            r#"[{"id":"a","key":["ip"],"limit":1,"period_secs":1},{"id":"a","key":["ip"],"limit":1,"period_secs":1}]"#.to_owned(),
            "rules[1].id: duplicate rule id",
        ),
        ("[".to_owned(), "rate-limit rules are not valid json"),
    ];
    for (json, expected) in cases {
        let e = parse_rules(&json).unwrap_err().to_string();
        assert!(
            e.starts_with(expected),
            "{json}\n  gave: {e}\n  want: {expected}…"
        );
    }
}

#[test]
fn the_default_rules_are_valid_and_strict_on_login() {
    let rules = default_rules();
    for r in &rules {
        r.quota.validate().unwrap();
    }
    let login = rules.iter().find(|r| r.id == "login_ip").unwrap();
    assert!(login.quota.limit <= 10 && login.backend == Backend::Durable);
}

#[test]
fn account_keys_count_the_targeted_account_whatever_its_spelling() {
    use edge_auth::ratelimit::{account_of_body, KeyInput, KeyParts, MissingKeyPart, RateKey};
    let key = |a: &str| {
        RateKey::build(
            "login_account",
            KeyParts::ACCOUNT,
            &KeyInput::new().account(a),
        )
        .unwrap()
    };
    assert_eq!(key("Alice@Example.com"), key(" alice@example.com "));
    assert_ne!(key("alice@example.com"), key("bob@example.com"));
    assert_eq!(
        RateKey::build(
            "login_account",
            KeyParts::ACCOUNT,
            &KeyInput::new().ip("203.0.113.9")
        ),
        Err(MissingKeyPart("target account"))
    );
    assert_eq!(
        account_of_body(br#"{"email":"Alice@Example.com","password":"x"}"#),
        "Alice@Example.com"
    );
    // Malformed bodies all land in one bucket rather than escaping the rule.
    assert_eq!(account_of_body(b"not json"), "");
    assert_eq!(account_of_body(br#"{"email":42}"#), "");
    assert_eq!(account_of_body(br#"{"password":"x"}"#), "");
}

#[test]
fn rules_may_count_by_account() {
    let rules = edge_auth::ratelimit::parse_rules(
        r#"[{"id":"login_account","key":["account","ip"],"limit":5,"period_secs":60,"backend":"durable"}]"#,
    )
    .unwrap();
    assert!(rules[0].key.account && rules[0].key.ip && !rules[0].key.user);
    assert!(edge_auth::ratelimit::default_rules()
        .iter()
        .any(|r| r.id == "login_account" && r.key == edge_auth::ratelimit::KeyParts::ACCOUNT));
}
