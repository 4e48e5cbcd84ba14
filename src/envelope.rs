//! The identity envelope: the edge → origin contract. One implementation, used by both sides.
//!
//! The edge strips every client-sent `x-auth-*` header, sets its own, and signs them:
//! `X-Auth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over the canonical string
//!
//! ```text
//! edge-auth-envelope-v1\n<t>\n<METHOD>\n<path?query>\n<name>:<value>\n ... (every x-auth-* header but the signature, sorted by name)
//! ```
//!
//! Header names are lowercased; a header appearing twice is refused (no ambiguity about which
//! value was signed). The origin rejects a missing, stale (> max age either way) or wrong signature.
//! Besides the identity namespace, the forwarding context the edge sets (`x-request-id`,
//! `x-forwarded-for`, `x-forwarded-proto`) is signed too: the origin writes it into audit rows.

use core::fmt;

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::SecretBytes;
use crate::time::UnixMillis;

pub const SIGNATURE_HEADER: &str = "x-auth-signature";
pub const PREFIX: &str = "x-auth-";
pub const USER: &str = "x-auth-user";
pub const SESSION: &str = "x-auth-session";
pub const ROLES: &str = "x-auth-roles";
pub const PERMISSIONS: &str = "x-auth-permissions";
pub const ISSUER: &str = "x-auth-issuer";
pub const EXPIRES: &str = "x-auth-expires";
pub const ISSUED_AT: &str = "x-auth-issued-at";
pub const WEBHOOK_PROVIDER: &str = "x-auth-webhook-provider";
pub const WEBHOOK_ID: &str = "x-auth-webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "x-auth-webhook-timestamp";
pub const REQUEST_ID: &str = "x-request-id";
pub const FORWARDED_FOR: &str = "x-forwarded-for";
pub const FORWARDED_PROTO: &str = "x-forwarded-proto";

/// Headers outside the identity namespace that the edge sets and signs.
pub const SIGNED_CONTEXT: [&str; 3] = [REQUEST_ID, FORWARDED_FOR, FORWARDED_PROTO];

/// Minimum envelope secret length (HMAC-SHA256 output size).
pub const MIN_SECRET_LEN: usize = 32;
/// Default maximum age of an envelope at the origin.
pub const DEFAULT_MAX_AGE_SECS: u64 = 60;

const DOMAIN: &str = "edge-auth-envelope-v1";

/// The shared edge/origin secret, held as a keyed HMAC state: the key's inner and outer pads are
/// hashed once here, not on every request (two SHA-256 blocks saved per signature).
#[derive(Clone)]
pub struct EnvelopeKey(Hmac<Sha256>);

impl core::fmt::Debug for EnvelopeKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EnvelopeKey([redacted])")
    }
}

impl EnvelopeKey {
    pub fn new(secret: SecretBytes) -> Result<Self, crate::secret::SecretError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(crate::secret::SecretError::TooShort {
                min: MIN_SECRET_LEN,
                actual: secret.len(),
            });
        }
        // HMAC accepts keys of any length.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose())
            .expect("hmac accepts any key length");
        Ok(EnvelopeKey(mac))
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.0.clone()
    }
}

/// How to make a good `ENVELOPE_SECRET`, appended to every refusal of one.
const SECRET_HINT: &str = "(generate one with `openssl rand -hex 32`)";

/// `ENVELOPE_SECRET` as both the edge (`config.rs`) and the origin (`origin/src/config.rs`) read
/// it: hex or base64 (standard or URL-safe, padding optional), at least [`MIN_SECRET_LEN`] bytes.
/// One parser, so a deployment cannot configure a secret one side takes and the other refuses;
/// the error is the problem text both sides print after the variable's name.
pub fn parse_secret(text: &str) -> Result<EnvelopeKey, String> {
    crate::secret::decode(text)
        .and_then(|b| SecretBytes::new(b, MIN_SECRET_LEN))
        .and_then(EnvelopeKey::new)
        .map_err(|e| format!("{e} {SECRET_HINT}"))
}

/// Is `name` in the identity namespace? Matches any case and `_` in place of `-`
/// (some proxies and CGI-style origins fold `x_auth_user` into `x-auth-user`).
pub fn is_identity_header(name: &str) -> bool {
    let b = name.as_bytes();
    if b.len() < PREFIX.len() {
        return false;
    }
    b[..PREFIX.len()]
        .iter()
        .zip(PREFIX.as_bytes())
        .all(|(&c, &p)| {
            let c = c.to_ascii_lowercase();
            c == p || (p == b'-' && c == b'_')
        })
}

/// The keyed MAC over the canonical form, written through a stack buffer (no canonical string is
/// allocated, and the MAC sees a few block-sized updates instead of ~40 tiny ones):
/// `edge-auth-envelope-v1\n{t}\n{method}\n{path_and_query}\n` then `{name}:{value}\n` per header.
fn mac_over<'n, 'v>(
    key: &EnvelopeKey,
    t: u64,
    method: &str,
    path_and_query: &str,
    headers: impl Iterator<Item = (&'n str, &'v str)>,
) -> Hmac<Sha256> {
    let mut w = MacWriter {
        mac: key.mac(),
        buf: [0; MacWriter::LEN],
        len: 0,
    };
    let mut digits = [0u8; 20];
    w.put(DOMAIN.as_bytes());
    w.put_byte(b'\n');
    w.put(crate::text::decimal(t, &mut digits).as_bytes());
    w.put_byte(b'\n');
    w.put(method.as_bytes());
    w.put_byte(b'\n');
    w.put(path_and_query.as_bytes());
    w.put_byte(b'\n');
    for (n, v) in headers {
        w.put(n.as_bytes());
        w.put_byte(b':');
        w.put(v.as_bytes());
        w.put_byte(b'\n');
    }
    w.finish()
}

/// Collects small pieces into whole SHA-256 blocks before they reach the MAC.
struct MacWriter {
    mac: Hmac<Sha256>,
    buf: [u8; MacWriter::LEN],
    len: usize,
}

impl MacWriter {
    /// Four SHA-256 blocks.
    const LEN: usize = 256;

    fn put(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.len == Self::LEN {
                self.mac.update(&self.buf);
                self.len = 0;
            }
            let n = bytes.len().min(Self::LEN - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
    }

    /// One separator byte: written in place (a one-byte slice copy is a `memory.copy`, which V8
    /// runs as a call out of wasm).
    fn put_byte(&mut self, b: u8) {
        if self.len == Self::LEN {
            self.mac.update(&self.buf);
            self.len = 0;
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn finish(mut self) -> Hmac<Sha256> {
        self.mac.update(&self.buf[..self.len]);
        self.mac
    }
}

/// Lowercases names, drops the signature header, sorts; refuses duplicates, line breaks and NUL.
/// Names already in canonical form (the edge's own) are borrowed, not copied.
fn normalize<'a, I>(headers: I) -> Result<Vec<(Cow<'a, str>, &'a str)>, EnvelopeError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut out: Vec<(Cow<'a, str>, &'a str)> = Vec::with_capacity(12);
    for (n, v) in headers {
        let canonical = !n.bytes().any(|b| b.is_ascii_uppercase() || b == b'_');
        let n: Cow<'a, str> = if is_identity_header(n) {
            if canonical {
                Cow::Borrowed(n)
            } else {
                Cow::Owned(n.to_ascii_lowercase().replace('_', "-"))
            }
        } else if SIGNED_CONTEXT.iter().any(|c| c.eq_ignore_ascii_case(n)) {
            if canonical {
                Cow::Borrowed(n)
            } else {
                Cow::Owned(n.to_ascii_lowercase())
            }
        } else {
            continue;
        };
        if n == SIGNATURE_HEADER {
            continue;
        }
        // No line breaks (they would forge lines of the canonical text) and no NUL (the
        // Worker's plans use it as a field separator).
        if crate::text::has_cr_lf_or_nul(v.as_bytes()) {
            return Err(EnvelopeError::Malformed);
        }
        out.push((n, v));
    }
    out.sort_unstable();
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(EnvelopeError::DuplicateHeader);
    }
    Ok(out)
}

/// Signs the identity headers the edge is about to forward; returns the `X-Auth-Signature` value.
pub fn sign<'a, I>(
    key: &EnvelopeKey,
    now: UnixMillis,
    method: &str,
    path_and_query: &str,
    headers: I,
) -> Result<String, EnvelopeError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let headers = normalize(headers)?;
    let pairs = headers.iter().map(|(n, v)| (n.as_ref(), *v));
    Ok(signature(key, now, method, path_and_query, pairs))
}

/// The `X-Auth-Signature` value over headers already in canonical order.
fn signature<'n, 'v>(
    key: &EnvelopeKey,
    now: UnixMillis,
    method: &str,
    path_and_query: &str,
    headers: impl Iterator<Item = (&'n str, &'v str)>,
) -> String {
    let t = now.secs();
    let mac = mac_over(key, t, method, path_and_query, headers);
    // Not `format!`: `core::fmt` on every forward, and code a fresh isolate compiles (issue 23).
    let mut value = String::with_capacity(2 + 20 + 4 + 64);
    value.push_str("t=");
    crate::text::push_decimal(&mut value, t);
    value.push_str(",v1=");
    value.push_str(&hex(&mac.finalize().into_bytes()));
    value
}

/// The headers the edge itself signs, in the envelope's canonical order by construction: each
/// name is one of this module's lower-case constants and comes after the one pushed before it
/// (sorted, none twice), and no value holds CR, LF or NUL. [`normalize`] has to establish that
/// for headers that came over the wire; here it costs one comparison and one scan per header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeHeaders<'a> {
    lines: Vec<(&'static str, Cow<'a, str>)>,
}

impl<'a> EdgeHeaders<'a> {
    pub fn with_capacity(n: usize) -> Self {
        EdgeHeaders {
            lines: Vec::with_capacity(n),
        }
    }

    /// Appends `name: value`. Refused: a name that does not sort after the last one pushed
    /// (a repeat, or out of order: a bug in the caller, never signed), and a value with CR, LF
    /// or NUL (it would forge lines of the canonical text, or split a Worker plan).
    pub fn push(
        &mut self,
        name: &'static str,
        value: impl Into<Cow<'a, str>>,
    ) -> Result<(), EnvelopeError> {
        debug_assert!(!name.bytes().any(|b| b.is_ascii_uppercase() || b == b'_'));
        let value = value.into();
        if self.lines.last().is_some_and(|(last, _)| *last >= name) {
            return Err(EnvelopeError::DuplicateHeader);
        }
        if crate::text::has_cr_lf_or_nul(value.as_bytes()) {
            return Err(EnvelopeError::Malformed);
        }
        self.lines.push((name, value));
        Ok(())
    }

    /// The headers, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.lines.iter().map(|(n, v)| (*n, v.as_ref()))
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The `X-Auth-Signature` value for these headers on this request.
    pub fn sign(
        &self,
        key: &EnvelopeKey,
        now: UnixMillis,
        method: &str,
        path_and_query: &str,
    ) -> String {
        signature(key, now, method, path_and_query, self.iter())
    }
}

/// A request whose `x-auth-*` headers were signed by the edge within the allowed age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEnvelope {
    /// Signing time, unix seconds.
    pub signed_at: u64,
    /// The signed `x-auth-*` headers, lowercase names, sorted.
    pub headers: Vec<(String, String)>,
}

impl VerifiedEnvelope {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// The authenticated user (`sub`), absent on anonymous and webhook requests.
    pub fn user(&self) -> Option<&str> {
        self.get(USER)
    }
    pub fn session(&self) -> Option<&str> {
        self.get(SESSION)
    }
    /// Comma-separated list header split into items (empty → none).
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn roles(&self) -> Vec<&str> {
        self.list(ROLES)
    }
    pub fn permissions(&self) -> Vec<&str> {
        self.list(PERMISSIONS)
    }
    pub fn webhook_provider(&self) -> Option<&str> {
        self.get(WEBHOOK_PROVIDER)
    }
    pub fn webhook_id(&self) -> Option<&str> {
        self.get(WEBHOOK_ID)
    }
}

/// Verifies the envelope. `headers` are all request headers (non-identity ones are ignored).
pub fn verify<'a, I>(
    key: &EnvelopeKey,
    now: UnixMillis,
    max_age_secs: u64,
    method: &str,
    path_and_query: &str,
    headers: I,
) -> Result<VerifiedEnvelope, EnvelopeError>
where
    I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
{
    let sigs: Vec<&str> = headers
        .clone()
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(SIGNATURE_HEADER))
        .map(|(_, v)| v)
        .collect();
    let sig = match sigs.as_slice() {
        [] => return Err(EnvelopeError::Missing),
        [one] => *one,
        _ => return Err(EnvelopeError::DuplicateHeader),
    };
    let (t, mac_hex) = parse_signature(sig)?;
    let age = now.secs().abs_diff(t);
    if age > max_age_secs {
        return Err(EnvelopeError::Stale {
            age_secs: age,
            max_age_secs,
        });
    }
    // One spelling per signature: the edge writes lower-case hex, so nothing else is accepted.
    if mac_hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(EnvelopeError::Malformed);
    }
    let provided = unhex(mac_hex).ok_or(EnvelopeError::Malformed)?;
    if provided.len() != 32 {
        return Err(EnvelopeError::Malformed);
    }
    let headers = normalize(headers)?;
    mac_over(
        key,
        t,
        method,
        path_and_query,
        headers.iter().map(|(n, v)| (n.as_ref(), *v)),
    )
    .verify_slice(&provided)
    .map_err(|_| EnvelopeError::Invalid)?;
    Ok(VerifiedEnvelope {
        signed_at: t,
        headers: headers
            .into_iter()
            .map(|(n, v)| (n.into_owned(), v.to_owned()))
            .collect(),
    })
}

fn parse_signature(v: &str) -> Result<(u64, &str), EnvelopeError> {
    let rest = v.strip_prefix("t=").ok_or(EnvelopeError::Malformed)?;
    let (t, rest) = rest.split_once(',').ok_or(EnvelopeError::Malformed)?;
    let mac = rest.strip_prefix("v1=").ok_or(EnvelopeError::Malformed)?;
    if t.is_empty()
        || t.len() > 12
        || !t.bytes().all(|b| b.is_ascii_digit())
        || (t.len() > 1 && t.starts_with('0'))
    {
        return Err(EnvelopeError::Malformed);
    }
    Ok((t.parse().map_err(|_| EnvelopeError::Malformed)?, mac))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Written in place (a push per digit checked the capacity each time).
    let mut out = vec![0u8; bytes.len() * 2];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 15) as usize];
    }
    // Only ASCII digits and letters were written.
    String::from_utf8(out).unwrap_or_default()
}

/// The value of one hex digit (either case), or `None`.
pub(crate) fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase or uppercase hex to bytes; `None` on odd length or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    use hex_nibble as nib;
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    Missing,
    Malformed,
    DuplicateHeader,
    Stale { age_secs: u64, max_age_secs: u64 },
    Invalid,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Missing => f.write_str("x-auth-signature header is missing"),
            EnvelopeError::Malformed => {
                f.write_str("x-auth-signature or an identity header is malformed")
            }
            EnvelopeError::DuplicateHeader => {
                f.write_str("an identity header appears more than once")
            }
            EnvelopeError::Stale {
                age_secs,
                max_age_secs,
            } => {
                write!(
                    f,
                    "envelope is {age_secs}s old, at most {max_age_secs}s allowed"
                )
            }
            EnvelopeError::Invalid => f.write_str("envelope signature does not verify"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EnvelopeKey {
        EnvelopeKey::new(SecretBytes::new(vec![42u8; 32], 32).unwrap()).unwrap()
    }
    const NOW: UnixMillis = UnixMillis(1_700_000_000_000);

    /// Every header the edge may sign, in canonical order.
    const EDGE_ORDER: [&str; 13] = [
        EXPIRES,
        ISSUED_AT,
        ISSUER,
        PERMISSIONS,
        ROLES,
        SESSION,
        USER,
        WEBHOOK_ID,
        WEBHOOK_PROVIDER,
        WEBHOOK_TIMESTAMP,
        FORWARDED_FOR,
        FORWARDED_PROTO,
        REQUEST_ID,
    ];

    #[test]
    fn edge_order_is_the_canonical_order() {
        assert!(EDGE_ORDER.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn edge_headers_refuse_what_normalize_would() {
        let mut h = EdgeHeaders::default();
        h.push(ISSUER, "https://i").unwrap();
        assert_eq!(h.push(ISSUER, "x"), Err(EnvelopeError::DuplicateHeader));
        assert_eq!(
            h.push(EXPIRES, "1"),
            Err(EnvelopeError::DuplicateHeader),
            "out of order"
        );
        for bad in ["a\nx-auth-user:root", "a\rb", "a\0b"] {
            assert_eq!(h.push(USER, bad), Err(EnvelopeError::Malformed), "{bad:?}");
        }
        h.push(USER, "u1").unwrap();
        assert_eq!(h.len(), 2, "a refused push adds nothing");
    }

    proptest::proptest! {
        /// The edge's own signing path (headers in order by construction) and the general one
        /// (normalize: lower-case, sort) sign the same text, and the origin's check accepts it.
        #[test]
        fn edge_headers_sign_what_sign_and_verify_agree_on(
            present in proptest::collection::vec(proptest::bool::ANY, EDGE_ORDER.len()),
            values in proptest::collection::vec("[ -~]{0,24}", EDGE_ORDER.len()),
            path in "/[ -~]{0,30}",
        ) {
            let mut edge = EdgeHeaders::default();
            let mut wire = Vec::new();
            for ((name, on), value) in EDGE_ORDER.iter().zip(&present).zip(&values) {
                if *on {
                    edge.push(name, value.as_str()).unwrap();
                    wire.push((name.to_ascii_uppercase(), value.clone()));
                }
            }
            wire.reverse();
            let general = sign(&key(), NOW, "GET", &path, wire.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
            proptest::prop_assert_eq!(&edge.sign(&key(), NOW, "GET", &path), &general);
            let mut all: Vec<(&str, &str)> = edge.iter().collect();
            all.push((SIGNATURE_HEADER, &general));
            let verified = verify(&key(), NOW, 60, "GET", &path, all.iter().copied());
            proptest::prop_assert!(verified.is_ok(), "{:?}", verified);
        }

        /// The block-at-a-time writer (`MacWriter`: pieces and single separator bytes gathered into
        /// 256-byte chunks) MACs exactly the canonical text, wherever a chunk boundary falls.
        #[test]
        fn the_mac_is_over_the_canonical_text_at_any_length(
            path in "/[ -~]{0,300}",
            user in "[ -~]{0,300}",
            roles in "[ -~]{0,300}",
        ) {
            let sig = sign(&key(), NOW, "GET", &path, [(ROLES, roles.as_str()), (USER, user.as_str())]).unwrap();
            let t = NOW.secs();
            let text = format!("edge-auth-envelope-v1\n{t}\nGET\n{path}\nx-auth-roles:{roles}\nx-auth-user:{user}\n");
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[42u8; 32]).unwrap();
            mac.update(text.as_bytes());
            proptest::prop_assert_eq!(sig, format!("t={t},v1={}", hex(&mac.finalize().into_bytes())));
        }
    }

    fn signed() -> Vec<(&'static str, String)> {
        let hs = [(USER, "u1"), (ROLES, "admin,user"), (SESSION, "s1")];
        let sig = sign(&key(), NOW, "GET", "/api/me?x=1", hs).unwrap();
        let mut v: Vec<(&str, String)> = hs.iter().map(|(n, v)| (*n, v.to_string())).collect();
        v.push(("X-Auth-Signature", sig));
        v.push(("accept", "application/json".into()));
        v
    }
    fn view<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        v.iter().map(|(n, s)| (*n, s.as_str())).collect()
    }

    #[test]
    fn values_with_line_breaks_or_nul_are_not_signed() {
        for bad in ["a\nx-auth-roles:admin", "a\rb", "a\0b"] {
            assert!(
                matches!(
                    sign(&key(), NOW, "GET", "/", [(USER, bad)]),
                    Err(EnvelopeError::Malformed)
                ),
                "{bad:?}"
            );
        }
        assert!(sign(&key(), NOW, "GET", "/", [(USER, "a\tb")]).is_ok());
    }

    /// The wire format, spelled out by hand: the canonical text the origin's verifier and any
    /// third-party verifier rebuild (domain, time, method, path, then sorted lower-case headers).
    #[test]
    fn the_signature_is_an_hmac_over_the_documented_canonical_text() {
        let headers = [
            ("X_Auth_User", "u1"),
            (REQUEST_ID, "rid-1"),
            (ROLES, "admin,user"),
            ("accept", "not signed"),
        ];
        let sig = sign(&key(), NOW, "POST", "/a?b=1", headers).unwrap();
        let t = NOW.secs();
        let text = format!(
            "edge-auth-envelope-v1\n{t}\nPOST\n/a?b=1\nx-auth-roles:admin,user\nx-auth-user:u1\nx-request-id:rid-1\n"
        );
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[42u8; 32]).unwrap();
        mac.update(text.as_bytes());
        assert_eq!(
            sig,
            format!("t={t},v1={}", hex(&mac.finalize().into_bytes()))
        );
    }

    #[test]
    fn a_signed_envelope_verifies_and_exposes_identity() {
        let hs = signed();
        let e = verify(
            &key(),
            NOW.plus_secs(5),
            60,
            "GET",
            "/api/me?x=1",
            view(&hs),
        )
        .unwrap();
        assert_eq!(e.user(), Some("u1"));
        assert_eq!(e.roles(), vec!["admin", "user"]);
    }

    #[test]
    fn any_change_breaks_it() {
        let hs = signed();
        let v = view(&hs);
        assert_eq!(
            verify(&key(), NOW, 60, "POST", "/api/me?x=1", v.clone()),
            Err(EnvelopeError::Invalid)
        );
        assert_eq!(
            verify(&key(), NOW, 60, "GET", "/api/me?x=2", v.clone()),
            Err(EnvelopeError::Invalid)
        );
        let mut added = v.clone();
        added.push(("X-Auth-Permissions", "rbac:admin"));
        assert_eq!(
            verify(&key(), NOW, 60, "GET", "/api/me?x=1", added),
            Err(EnvelopeError::Invalid)
        );
        let changed: Vec<_> = v
            .iter()
            .map(|&(n, s)| if n == USER { (n, "u2") } else { (n, s) })
            .collect();
        assert_eq!(
            verify(&key(), NOW, 60, "GET", "/api/me?x=1", changed),
            Err(EnvelopeError::Invalid)
        );
        let other = EnvelopeKey::new(SecretBytes::new(vec![43u8; 32], 32).unwrap()).unwrap();
        assert_eq!(
            verify(&other, NOW, 60, "GET", "/api/me?x=1", v),
            Err(EnvelopeError::Invalid)
        );
    }

    #[test]
    fn stale_missing_duplicate_and_malformed_are_refused() {
        let hs = signed();
        let v = view(&hs);
        assert!(matches!(
            verify(
                &key(),
                NOW.plus_secs(61),
                60,
                "GET",
                "/api/me?x=1",
                v.clone()
            ),
            Err(EnvelopeError::Stale { .. })
        ));
        let no_sig: Vec<_> = v
            .iter()
            .copied()
            .filter(|(n, _)| *n != "X-Auth-Signature")
            .collect();
        assert_eq!(
            verify(&key(), NOW, 60, "GET", "/api/me?x=1", no_sig),
            Err(EnvelopeError::Missing)
        );
        let mut dup = v.clone();
        dup.push(("x_auth_user", "u1"));
        assert_eq!(
            verify(&key(), NOW, 60, "GET", "/api/me?x=1", dup),
            Err(EnvelopeError::DuplicateHeader)
        );
        for bad in [
            "",
            "t=,v1=00",
            "t=01,v1=00",
            "v1=00,t=1",
            "t=1700000000,v1=zz",
            "t=1700000000,v1=00",
        ] {
            let mut m: Vec<_> = v
                .iter()
                .copied()
                .filter(|(n, _)| *n != "X-Auth-Signature")
                .collect();
            m.push(("x-auth-signature", bad));
            assert!(
                verify(&key(), NOW, 60, "GET", "/api/me?x=1", m).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_forwarding_context_is_signed_too() {
        let hs = [
            (USER, "u1"),
            (REQUEST_ID, "r-1"),
            (FORWARDED_FOR, "203.0.113.7"),
        ];
        let sig = sign(&key(), NOW, "GET", "/", hs).unwrap();
        let with = |ip: &'static str| {
            vec![
                (USER, "u1"),
                ("X-Request-Id", "r-1"),
                ("x-forwarded-for", ip),
                (SIGNATURE_HEADER, sig.as_str()),
            ]
        };
        assert!(verify(&key(), NOW, 60, "GET", "/", with("203.0.113.7")).is_ok());
        assert_eq!(
            verify(&key(), NOW, 60, "GET", "/", with("198.51.100.1")),
            Err(EnvelopeError::Invalid)
        );
    }

    #[test]
    fn identity_namespace_matches_every_spelling() {
        for n in [
            "x-auth-user",
            "X-Auth-User",
            "x_auth_user",
            "X_AUTH_ROLES",
            "x-AUTH_roles",
        ] {
            assert!(is_identity_header(n), "{n}");
        }
        for n in [
            "x-authz",
            "x-auth",
            "authorization",
            "x-request-id",
            "xauth-user",
        ] {
            assert!(!is_identity_header(n), "{n}");
        }
    }
}
