//! What a rule counts by: client IP, verified user, route, the targeted account, or a combination, hashed into a
//! fixed-size [`RateKey`] so a table entry costs the same whatever the input length.

use core::fmt;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::jwt::VerifiedClaims;

/// Which request facts make up a rule's key. At least one is set in a valid rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyParts {
    /// The client IP (`CF-Connecting-IP`; the socket address in local runs); IPv6 by /64.
    pub ip: bool,
    /// The verified user id (`sub` of verified claims).
    pub user: bool,
    /// The matched route rule's id.
    pub route: bool,
    /// The account a log-in (or sign-up, refresh) targets: the JSON body's `email`, trimmed and
    /// case-folded ([`account_class`]). Counting by it slows password guessing spread over many IPs.
    pub account: bool,
}

impl KeyParts {
    pub const IP: KeyParts = KeyParts {
        ip: true,
        user: false,
        route: false,
        account: false,
    };
    pub const USER: KeyParts = KeyParts {
        ip: false,
        user: true,
        route: false,
        account: false,
    };
    pub const ROUTE: KeyParts = KeyParts {
        ip: false,
        user: false,
        route: true,
        account: false,
    };
    pub const ACCOUNT: KeyParts = KeyParts {
        ip: false,
        user: false,
        route: false,
        account: true,
    };

    pub const fn and(self, other: KeyParts) -> KeyParts {
        KeyParts {
            ip: self.ip || other.ip,
            user: self.user || other.user,
            route: self.route || other.route,
            account: self.account || other.account,
        }
    }

    pub const fn is_empty(&self) -> bool {
        !(self.ip || self.user || self.route || self.account)
    }

    /// Config names of the set parts, in canonical order.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::with_capacity(3);
        if self.ip {
            v.push("ip");
        }
        if self.user {
            v.push("user");
        }
        if self.route {
            v.push("route");
        }
        if self.account {
            v.push("account");
        }
        v
    }
}

/// The request facts a key may be built from. The user part can only come from
/// [`VerifiedClaims`], so an unverified `sub` can never pick someone else's bucket.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyInput<'a> {
    ip: Option<&'a str>,
    user: Option<&'a str>,
    route: Option<&'a str>,
    account: Option<&'a str>,
}

impl<'a> KeyInput<'a> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn ip(mut self, ip: &'a str) -> Self {
        self.ip = Some(ip);
        self
    }
    pub fn route(mut self, route_id: &'a str) -> Self {
        self.route = Some(route_id);
        self
    }
    pub fn verified_user(mut self, claims: &'a VerifiedClaims) -> Self {
        self.user = Some(claims.subject());
        self
    }
    /// The targeted account as the client sent it (see [`account_of_body`]); normalised when hashed.
    pub fn account(mut self, account: &'a str) -> Self {
        self.account = Some(account);
        self
    }
}

/// The account a JSON body targets: its `email` member. A body without one (not JSON, no
/// `email`, not a string) targets the empty account, so malformed requests share one bucket
/// instead of escaping the rule.
pub fn account_of_body(body: &[u8]) -> String {
    crate::json::parse(body)
        .ok()
        .and_then(|doc| doc.get("email")?.as_str())
        .map(|email| email.into_owned())
        .unwrap_or_default()
}

/// What the per-account key counts: the account trimmed, ASCII letters lower-cased, and every
/// other non-ASCII character one class, `*`.
///
/// The origin names an account by `email.trim().to_lowercase()` (full Unicode), and the edge
/// must never count one account in two buckets (a case variant would be a way around the
/// limit): so `account_class(a) == account_class(a.to_lowercase())` for every string, which
/// the test `the_class_is_the_same_for_an_account_and_its_lower_case` checks for every code point. Two
/// characters lower-case into ASCII and are mapped as their lower case is: `K` (KELVIN SIGN,
/// U+212A) → `k`, `İ` (U+0130) → `i` + U+0307 → `i*`.
///
/// The price of the class: addresses that differ only in non-ASCII letters at the same places
/// (`müller@…`, `möller@…`) share a bucket, so one of them can use up the other's allowance —
/// which naming the account itself already allows. Full Unicode lower-casing would put core's
/// case tables (7.9 KB of the gzipped upload) in the Worker for this one call (docs/PERFORMANCE.md,
/// session 12).
pub fn account_class(account: &str) -> Vec<u8> {
    let account = account.trim();
    let mut out = Vec::with_capacity(account.len());
    for c in account.chars() {
        match c {
            _ if c.is_ascii() => out.push(c.to_ascii_lowercase() as u8),
            '\u{212A}' => out.push(b'k'),
            '\u{130}' => out.extend_from_slice(b"i*"),
            _ => out.push(b'*'),
        }
    }
    out
}

/// A rule needs a fact the request does not have (e.g. a user-keyed rule on an anonymous request:
/// the caller skips that rule; an IP rule covers such requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingKeyPart(pub &'static str);

impl fmt::Display for MissingKeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the request has no {} for this rate-limit key", self.0)
    }
}

impl std::error::Error for MissingKeyPart {}

/// 128 bits of SHA-256 over the rule id and the key parts: fixed size in the table, no raw IP or
/// user id kept in memory or in Durable Object names, and collisions are out of an attacker's reach.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateKey([u8; 16]);

impl RateKey {
    #[cfg(test)]
    pub(crate) fn from_bytes(b: [u8; 16]) -> RateKey {
        RateKey(b)
    }

    pub fn build(
        rule_id: &str,
        parts: KeyParts,
        input: &KeyInput<'_>,
    ) -> Result<RateKey, MissingKeyPart> {
        let mut h = Sha256::new();
        h.update(b"edge-auth/ratelimit/v1\0");
        let mut field = |tag: u8, value: &[u8]| {
            h.update([tag]);
            h.update((value.len() as u64).to_be_bytes());
            h.update(value);
        };
        field(b'r', rule_id.as_bytes());
        if parts.ip {
            let ip = input.ip.ok_or(MissingKeyPart("client ip"))?;
            field(b'i', &ip_bucket(ip));
        }
        if parts.user {
            field(
                b'u',
                input
                    .user
                    .ok_or(MissingKeyPart("verified user"))?
                    .as_bytes(),
            );
        }
        if parts.route {
            field(
                b'p',
                input.route.ok_or(MissingKeyPart("route id"))?.as_bytes(),
            );
        }
        if parts.account {
            let account = input.account.ok_or(MissingKeyPart("target account"))?;
            field(b'a', &account_class(account));
        }
        let digest = h.finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(&digest[..16]);
        Ok(RateKey(k))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The key `to_hex` wrote (32 hex digits), or `None`.
    pub fn from_hex(hex: &str) -> Option<RateKey> {
        super::durable::parse_key(hex).map(RateKey)
    }

    /// 32 lowercase hex digits: how the key travels to a Durable Object or a binding.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s
    }
}

impl fmt::Debug for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RateKey({})", self.to_hex())
    }
}

/// The bytes an IP is counted by. One IPv6 client usually owns a whole /64, so counting per
/// address would let it rotate through 2^64 keys; IPv4-mapped addresses count as IPv4.
/// An unparsable value is counted as-is.
fn ip_bucket(ip: &str) -> Vec<u8> {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.octets().to_vec(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..8].to_vec(),
        },
        Err(_) => ip.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every code point: its class is the class of its lower case (so, for strings, the class
    /// of a string is the class of its lower case — `str::to_lowercase` is per character but
    /// for final sigma, and every sigma is `*`).
    #[test]
    fn the_class_is_the_same_for_an_account_and_its_lower_case() {
        let mut checked = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let one = c.to_string();
            let lower: String = c.to_lowercase().collect();
            assert_eq!(
                account_class(&one),
                account_class(&lower),
                "U+{:04X} lower-cases to {lower:?}",
                c as u32
            );
            checked += 1;
        }
        assert_eq!(checked, 0x110000 - 0x800);
        assert_eq!(account_class(" Ann@Example.COM\t"), b"ann@example.com");
        assert_eq!(account_class("\u{212A}im@x.io"), account_class("kim@x.io"));
        assert_eq!(
            account_class("\u{130}lke@x.io"),
            account_class("i\u{307}lke@x.io")
        );
        assert_eq!(account_class("ΣΑΣ@x.io"), account_class("σας@x.io"));
    }

    proptest! {
        #[test]
        fn an_account_and_its_lower_case_share_a_bucket(account in "\\PC{0,24}") {
            let input = KeyInput::default().account(&account);
            let lower = account.to_lowercase();
            prop_assert_eq!(
                RateKey::build("login", KeyParts::ACCOUNT, &input),
                RateKey::build("login", KeyParts::ACCOUNT, &KeyInput::default().account(&lower))
            );
        }
    }

    fn claims(sub: &str) -> VerifiedClaims {
        crate::jwt::Claims {
            issuer: "https://issuer.test".into(),
            subject: sub.into(),
            session_id: None,
            token_id: None,
            expires_at: 0,
            issued_at: None,
            roles: vec![],
            permissions: vec![],
            auth_time: None,
            amr: vec![],
            acr: None,
        }
        .into()
    }

    #[test]
    fn a_user_key_separates_users_and_needs_a_verified_user() {
        let (a, b) = (claims("alice"), claims("bob"));
        let ka = RateKey::build("api", KeyParts::USER, &KeyInput::new().verified_user(&a));
        let kb = RateKey::build("api", KeyParts::USER, &KeyInput::new().verified_user(&b));
        assert_ne!(ka.unwrap(), kb.unwrap());
        assert_eq!(
            RateKey::build("api", KeyParts::USER, &KeyInput::new().ip("1.2.3.4")),
            Err(MissingKeyPart("verified user"))
        );
    }

    #[test]
    fn user_and_ip_combined_differ_from_each_alone() {
        let a = claims("alice");
        let input = KeyInput::new().ip("1.2.3.4").verified_user(&a);
        let both = RateKey::build("r", KeyParts::IP.and(KeyParts::USER), &input).unwrap();
        assert_ne!(both, RateKey::build("r", KeyParts::IP, &input).unwrap());
        assert_ne!(both, RateKey::build("r", KeyParts::USER, &input).unwrap());
    }
}
