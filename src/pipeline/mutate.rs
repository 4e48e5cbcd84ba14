//! The mutate stage: identity → envelope → outgoing headers. What the origin receives: the
//! client's headers minus the identity namespace and hop-by-hop headers, plus the edge's
//! identity headers, the forwarding context and their HMAC signature.

use crate::config::EdgeConfig;
use crate::envelope;
use crate::identity::Identity;
use crate::time::UnixMillis;

use super::request::{forwardable_header, Incoming};

/// Headers given as newline-joined names and values (header values never contain a newline).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeaderSet {
    pub names: String,
    pub values: String,
}

impl HeaderSet {
    /// Room for `n` headers whose names and values come to about these many bytes (the joined
    /// strings otherwise grow by doubling, a reallocation and copy each time).
    pub fn with_capacity(names: usize, values: usize, n: usize) -> Self {
        HeaderSet {
            names: String::with_capacity(names + n),
            values: String::with_capacity(values + n),
        }
    }

    pub fn push(&mut self, name: &str, value: &str) {
        // A newline cannot be sent in a header; it would also break the joined form. (The scan
        // also stops at NUL, which the replacement leaves as it is.)
        if crate::text::has_cr_lf_or_nul(value.as_bytes()) {
            self.append(name, &value.replace(['\r', '\n'], " "));
        } else {
            self.append(name, value);
        }
    }

    /// Appends every signed header, as signed. [`envelope::EdgeHeaders`] refused CR and LF when
    /// each was pushed, so the values are not scanned again.
    pub fn extend_signed(&mut self, signed: &envelope::EdgeHeaders<'_>) {
        for (name, value) in signed.iter() {
            self.append(name, value);
        }
    }

    /// One name and value, joined on; the value holds no CR or LF (the callers' guarantee).
    fn append(&mut self, name: &str, value: &str) {
        if !self.names.is_empty() {
            self.names.push('\n');
            self.values.push('\n');
        }
        self.names.push_str(name);
        self.values.push_str(value);
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// What to send to the origin: the URL, the client headers to drop, the headers to set
/// (identity, forwarding context and their signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub url: String,
    /// Newline-joined names of client headers that must not reach the origin.
    pub drop: String,
    pub set: HeaderSet,
    pub timeout_ms: u32,
}

/// Builds the outgoing request for `identity`. Fails only if the envelope cannot be signed.
pub fn outgoing(
    cfg: &EdgeConfig,
    req: &Incoming,
    identity: &Identity,
    now: UnixMillis,
) -> Result<Outgoing, String> {
    let mut drop = String::new();
    for n in req.header_names().split('\n') {
        if !n.is_empty() && !forwardable_header(n) {
            if !drop.is_empty() {
                drop.push('\n');
            }
            drop.push_str(n);
        }
    }
    let (_, path_and_query) = req.path_and_query();
    // In the envelope's canonical order: x-auth-*, x-forwarded-*, x-request-id.
    let sign_err = |e: envelope::EnvelopeError| e.to_string();
    let mut signed = identity.envelope_headers().map_err(sign_err)?;
    if let Some(ip) = req.header(crate::request_fields::Header::ClientIp) {
        signed.push(envelope::FORWARDED_FOR, ip).map_err(sign_err)?;
    }
    signed
        .push(envelope::FORWARDED_PROTO, req.proto())
        .map_err(sign_err)?;
    signed
        .push(envelope::REQUEST_ID, req.request_id())
        .map_err(sign_err)?;
    let sig = signed.sign(&cfg.envelope_key, now, req.method(), path_and_query);
    let (names, values) = signed.iter().fold((0, 0), |(n, v), (name, value)| {
        (n + name.len(), v + value.len())
    });
    let mut set = HeaderSet::with_capacity(
        names + envelope::SIGNATURE_HEADER.len(),
        values + sig.len(),
        signed.len() + 1,
    );
    set.extend_signed(&signed);
    set.push(envelope::SIGNATURE_HEADER, &sig);
    Ok(Outgoing {
        url: [cfg.origin_url.as_str(), path_and_query].concat(),
        drop,
        set,
        timeout_ms: cfg.origin_timeout_ms.min(u32::MAX as u64) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_fields::RequestFields;

    #[test]
    fn the_origin_verifies_what_mutate_signs_and_sees_no_client_identity_headers() {
        let vars = [
            ("DEPLOY_ENV", "development".to_owned()),
            ("ORIGIN_URL", "http://origin.test".to_owned()),
            ("ENVELOPE_SECRET", "ab".repeat(32)),
            ("ISSUERS", r#"[{"issuer":"https://i.test","audiences":["a"],"jwks_url":"https://i.test/jwks"}]"#.to_owned()),
        ];
        let cfg = EdgeConfig::from_lookup(&|n| {
            vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())
        })
        .unwrap();
        let raw = [
            "POST",
            "https://edge.test/a/b?c=1",
            "x-auth-user\nconnection\ncontent-type",
            "",
            "",
            "203.0.113.9",
            "rid-1",
            "",
            "",
            "",
        ]
        .join("\0");
        let req = Incoming::new(
            RequestFields::parse(raw, 0b1110011).unwrap(),
            || unreachable!(),
        );
        let now = UnixMillis(1_800_000_000_000);
        let out = outgoing(&cfg, &req, &Identity::Anonymous, now).unwrap();
        assert_eq!(out.url, "http://origin.test/a/b?c=1");
        assert_eq!(out.drop, "x-auth-user\nconnection");
        assert_eq!(out.timeout_ms, 10_000);
        let headers: Vec<(&str, &str)> = out
            .set
            .names
            .split('\n')
            .zip(out.set.values.split('\n'))
            .collect();
        assert!(headers.contains(&("x-forwarded-for", "203.0.113.9")));
        assert!(headers.contains(&("x-forwarded-proto", "https")));
        assert!(headers.contains(&("x-request-id", "rid-1")));
        let verified = envelope::verify(
            &cfg.envelope_key,
            now,
            60,
            "POST",
            "/a/b?c=1",
            headers.iter().copied(),
        );
        assert!(verified.is_ok(), "{verified:?}");
        assert_eq!(verified.unwrap().user(), None);
        // Signed for this request only.
        assert!(envelope::verify(
            &cfg.envelope_key,
            now,
            60,
            "GET",
            "/a/b?c=1",
            headers.iter().copied()
        )
        .is_err());
    }
}
