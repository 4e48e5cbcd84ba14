//! Verification keys: a [`Jwk`] pins exactly one [`Algorithm`]; a [`KeySet`] is one issuer's keys.
//! Everything that could make a key unsafe (short HMAC secrets, private parts published in a
//! JWKS, tiny RSA moduli, an `alg` contradicting the key type) is refused here, at load.

use core::fmt;
use std::borrow::Cow;

use hmac::digest::KeyInit;
use hmac::Hmac;
use sha2::Sha256;
use zeroize::Zeroize;

use super::{Algorithm, KeyError};
use crate::b64;
use crate::json::{self, Node};
use crate::packed::{Packer, Unpacker};
use crate::secret::SecretBytes;

/// Private members of asymmetric JWKs (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// RSA modulus sizes accepted (RFC 7518 §3.3 requires ≥ 2048; RustCrypto caps at 4096).
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 4096;

enum Material {
    Oct(SecretBytes),
    Ec { x: Vec<u8>, y: Vec<u8> },
    Okp { x: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// Raw key bytes, for importing into another crypto provider (WebCrypto on wasm).
/// All integers are big-endian; EC coordinates are as long as the pinned algorithm's curve
/// says ([`Algorithm::ec_curve`]: 32, 48 or 66 bytes); Ed25519 `x` is 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyMaterial<'a> {
    /// HMAC secret: handle with care, never log.
    Oct(&'a [u8]),
    /// P-256, P-384 or P-521 public point (the curve of the key's pinned `ES*` algorithm).
    Ec { x: &'a [u8], y: &'a [u8] },
    /// Ed25519 public key.
    Okp { x: &'a [u8] },
    /// RSA public key: modulus (no leading zero bytes) and exponent.
    Rsa { n: &'a [u8], e: &'a [u8] },
}

impl fmt::Debug for KeyMaterial<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMaterial::Oct(k) => write!(f, "Oct([redacted; {} bytes])", k.len()),
            KeyMaterial::Ec { x, .. } => write!(f, "Ec({} bits)", x.len() * 8),
            KeyMaterial::Okp { .. } => f.write_str("Okp(Ed25519)"),
            KeyMaterial::Rsa { n, .. } => write!(f, "Rsa({} bits)", n.len() * 8),
        }
    }
}

/// One verification key with its pinned algorithm.
pub struct Jwk {
    kid: Option<String>,
    alg: Algorithm,
    material: Material,
    /// See [`Jwk::fingerprint`]; computed on first use.
    fingerprint: std::sync::OnceLock<[u8; 16]>,
    /// An HS256 secret's keyed MAC state (both pads hashed once, not per token); first use.
    hs256: std::sync::OnceLock<Box<Hmac<Sha256>>>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("material", &self.material())
            .finish()
    }
}

/// Result of reading one JWK from a set: usable, or skipped because this layer does not
/// implement it (encryption keys, other curves such as secp256k1...). Skipping is not an error so that
/// a provider's JWKS with extra key types still loads.
enum Parsed {
    Key(Jwk),
    Unsupported,
}

impl Jwk {
    /// A digest of the pinned algorithm and the public key material (never of a secret): an id
    /// under which a runtime may cache this key in imported form. A rotated key that reuses a
    /// `kid` gets a different fingerprint, so a stale imported key can never be used for it.
    pub fn fingerprint(&self) -> [u8; 16] {
        *self.fingerprint.get_or_init(|| {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(self.alg.as_str().as_bytes());
            h.update([0]);
            match self.material() {
                // Secrets are never cached outside this type: their fingerprint names only the alg.
                KeyMaterial::Oct(_) => {}
                KeyMaterial::Ec { x, y } => {
                    h.update(x);
                    h.update(y);
                }
                KeyMaterial::Okp { x } => h.update(x),
                KeyMaterial::Rsa { n, e } => {
                    h.update((n.len() as u32).to_be_bytes());
                    h.update(n);
                    h.update(e);
                }
            }
            let d = h.finalize();
            let mut out = [0u8; 16];
            out.copy_from_slice(&d[..16]);
            out
        })
    }

    /// A fresh HS256 MAC keyed with this key's secret (cloned from a state keyed once), or
    /// `None` if this is not an HS256 key.
    pub(crate) fn hs256_mac(&self) -> Option<Hmac<Sha256>> {
        match (&self.material, self.alg) {
            (Material::Oct(secret), Algorithm::Hs256) => Some(
                self.hs256
                    .get_or_init(|| {
                        Box::new(
                            <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose())
                                .expect("hmac accepts any key length"),
                        )
                    })
                    .as_ref()
                    .clone(),
            ),
            _ => None,
        }
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn material(&self) -> KeyMaterial<'_> {
        match &self.material {
            Material::Oct(k) => KeyMaterial::Oct(k.expose()),
            Material::Ec { x, y } => KeyMaterial::Ec { x, y },
            Material::Okp { x } => KeyMaterial::Okp { x },
            Material::Rsa { n, e } => KeyMaterial::Rsa { n, e },
        }
    }

    /// The exact length of a JWS signature made with this key: the MAC size for HMAC,
    /// `r||s` for ECDSA (twice the coordinate size: 64, 96 or 132 bytes, RFC 7518 §3.4), 64 bytes
    /// for Ed25519, or the modulus length for RSA (RFC 7518 §3.3).
    pub fn signature_len(&self) -> usize {
        match &self.material {
            Material::Oct(_) => self.alg.hmac_len().unwrap_or(32),
            Material::Ec { x, .. } => 2 * x.len(),
            Material::Okp { .. } => 64,
            Material::Rsa { n, .. } => n.len(),
        }
    }

    /// An HMAC key from a configured secret (not from JSON). Refused if shorter than the hash.
    pub fn hmac(kid: Option<String>, alg: Algorithm, secret: &[u8]) -> Result<Jwk, KeyError> {
        let Some(min) = alg.hmac_len() else {
            return Err(KeyError::AlgorithmInconsistent {
                kid,
                alg: alg.as_str().to_owned(),
            });
        };
        let secret = SecretBytes::new(secret.to_vec(), min).map_err(|_| KeyError::OctTooShort {
            kid: kid.clone(),
            min,
            actual: secret.len(),
        })?;
        Ok(Jwk {
            kid,
            alg,
            material: Material::Oct(secret),
            fingerprint: Default::default(),
            hs256: Default::default(),
        })
    }

    /// One JWK as JSON. Unlike [`KeySet::from_jwks_json`], a key type this layer does not
    /// implement is an error here (a single configured key must be usable).
    pub fn from_json(s: &str) -> Result<Jwk, KeyError> {
        let obj = parse_object(s)?;
        match Jwk::from_object(obj)? {
            Parsed::Key(k) => Ok(k),
            Parsed::Unsupported => Err(KeyError::NoUsableKeys),
        }
    }

    fn from_object(obj: Node<'_>) -> Result<Parsed, KeyError> {
        let kid = match obj.get("kid").map(Node::as_str) {
            None => None,
            Some(Some(k)) => Some(k.into_owned()),
            Some(None) => {
                return Err(KeyError::Field {
                    kid: None,
                    field: "kid",
                })
            }
        };
        let field_err = |field: &'static str| KeyError::Field {
            kid: kid.clone(),
            field,
        };
        let string = |field: &'static str| -> Result<Option<Cow<'_, str>>, KeyError> {
            match obj.get(field) {
                None => Ok(None),
                Some(v) => v.as_str().map(Some).ok_or_else(|| field_err(field)),
            }
        };
        let bytes = |field: &'static str| -> Result<Vec<u8>, KeyError> {
            match obj.get(field).and_then(Node::as_str) {
                Some(s) => b64::decode_url(&s).ok_or_else(|| field_err(field)),
                None => Err(field_err(field)),
            }
        };

        let kty = string("kty")?.ok_or_else(|| field_err("kty"))?;
        let kty = &*kty;
        let alg_name = string("alg")?;
        let alg_name = alg_name.as_deref();
        // Encryption keys and keys not allowed to verify are not ours to use.
        if let Some(u) = string("use")? {
            if u != "sig" {
                return Ok(Parsed::Unsupported);
            }
        }
        if let Some(ops) = obj.get("key_ops") {
            let mut ops = ops.items().ok_or_else(|| field_err("key_ops"))?;
            if !ops.any(|o| o.as_str().as_deref() == Some("verify")) {
                return Ok(Parsed::Unsupported);
            }
        }
        if kty != "oct" {
            if let Some(p) = PRIVATE_MEMBERS.iter().find(|p| obj.get(p).is_some()) {
                return Err(KeyError::PrivatePartsPresent {
                    kid,
                    field: (*p).to_owned(),
                });
            }
        }

        // Which algorithms this key type can pin, and the default when `alg` is absent.
        let (allowed, default): (&[Algorithm], Algorithm) = match kty {
            "oct" => (
                &[Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512],
                Algorithm::Hs256,
            ),
            "EC" => match &*string("crv")?.ok_or_else(|| field_err("crv"))? {
                "P-256" => (&[Algorithm::Es256], Algorithm::Es256),
                "P-384" => (&[Algorithm::Es384], Algorithm::Es384),
                "P-521" => (&[Algorithm::Es512], Algorithm::Es512),
                _ => return Ok(Parsed::Unsupported),
            },
            "OKP" => match &*string("crv")?.ok_or_else(|| field_err("crv"))? {
                "Ed25519" => (&[Algorithm::EdDsa], Algorithm::EdDsa),
                _ => return Ok(Parsed::Unsupported),
            },
            "RSA" => (
                &[
                    Algorithm::Rs256,
                    Algorithm::Rs384,
                    Algorithm::Rs512,
                    Algorithm::Ps256,
                    Algorithm::Ps384,
                    Algorithm::Ps512,
                ],
                Algorithm::Rs256,
            ),
            _ => return Ok(Parsed::Unsupported),
        };
        let alg = match alg_name {
            None => default,
            Some(name) => match Algorithm::from_jws_name(name) {
                Some(a) if allowed.contains(&a) => a,
                // A known algorithm on the wrong key type is a configuration error (this is
                // how RS256→HS256 confusion would be set up); an unknown one is just not ours.
                Some(_) => {
                    return Err(KeyError::AlgorithmInconsistent {
                        kid,
                        alg: name.to_owned(),
                    })
                }
                None if is_known_foreign_alg(kty, name) => return Ok(Parsed::Unsupported),
                None => {
                    return Err(KeyError::AlgorithmInconsistent {
                        kid,
                        alg: name.to_owned(),
                    })
                }
            },
        };

        let raw = match kty {
            "oct" => Raw::Oct(bytes("k")?),
            "EC" => Raw::Ec {
                x: bytes("x")?,
                y: bytes("y")?,
            },
            "OKP" => Raw::Okp { x: bytes("x")? },
            _ => Raw::Rsa {
                n: bytes("n")?,
                e: bytes("e")?,
            },
        };
        Jwk::checked(kid, alg, raw).map(Parsed::Key)
    }
}

/// Key material as read, before [`Jwk::checked`].
enum Raw {
    Oct(Vec<u8>),
    Ec { x: Vec<u8>, y: Vec<u8> },
    Okp { x: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl Jwk {
    /// The checks every key passes, whether read from a JWK or from the packed configuration:
    /// the pinned algorithm belongs to the key type, and the material is what that algorithm
    /// needs (HMAC secret at least the hash's length, EC point on the curve's size, Ed25519's 32
    /// bytes, RSA 2048–4096 bits with an odd exponent in 3 ..= 2^33 − 1).
    fn checked(kid: Option<String>, alg: Algorithm, raw: Raw) -> Result<Jwk, KeyError> {
        let field_err = |kid: Option<String>, field: &'static str| KeyError::Field { kid, field };
        let fits = match &raw {
            Raw::Oct(_) => alg.hmac_len().is_some(),
            Raw::Ec { .. } => alg.ec_curve().is_some(),
            Raw::Okp { .. } => alg == Algorithm::EdDsa,
            Raw::Rsa { .. } => matches!(
                alg,
                Algorithm::Rs256
                    | Algorithm::Rs384
                    | Algorithm::Rs512
                    | Algorithm::Ps256
                    | Algorithm::Ps384
                    | Algorithm::Ps512
            ),
        };
        if !fits {
            // A secret read for an algorithm that is not an HMAC's is wiped all the same.
            if let Raw::Oct(mut k) = raw {
                k.zeroize();
            }
            return Err(KeyError::AlgorithmInconsistent {
                kid,
                alg: alg.as_str().to_owned(),
            });
        }
        let material = match raw {
            Raw::Oct(k) => {
                let min = alg.hmac_len().unwrap_or(32);
                let actual = k.len();
                match SecretBytes::new(k, min) {
                    Ok(k) => Material::Oct(k),
                    Err(_) => return Err(KeyError::OctTooShort { kid, min, actual }),
                }
            }
            Raw::Ec { x, y } => {
                // The curve is the one the pinned algorithm names.
                let size = alg.ec_curve().map_or(0, |(_, size)| size);
                if x.len() != size {
                    return Err(field_err(kid, "x"));
                }
                if y.len() != size {
                    return Err(field_err(kid, "y"));
                }
                Material::Ec { x, y }
            }
            Raw::Okp { x } => {
                if x.len() != 32 {
                    return Err(field_err(kid, "x"));
                }
                Material::Okp { x }
            }
            Raw::Rsa { mut n, e } => {
                let lead = n.iter().take_while(|b| **b == 0).count();
                n.drain(..lead);
                // An empty (or all-zero) modulus has 0 bits; the first byte left is non-zero.
                let bits = n
                    .first()
                    .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
                if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                    return Err(KeyError::RsaKeySize { kid, bits });
                }
                // Odd, 3 ..= 2^33-1 (the range RustCrypto and WebCrypto both accept).
                let e_val = (e.len() <= 5)
                    .then(|| e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)));
                match e_val {
                    Some(v) if v >= 3 && v % 2 == 1 && v < (1 << 33) => {}
                    _ => return Err(KeyError::RsaExponent { kid }),
                }
                Material::Rsa { n, e }
            }
        };
        Ok(Jwk {
            kid,
            alg,
            material,
            fingerprint: Default::default(),
            hs256: Default::default(),
        })
    }

    fn pack(&self, p: &mut Packer) {
        p.opt_str(self.kid.as_deref()).str(self.alg.as_str());
        match &self.material {
            Material::Oct(k) => p.u8(0).bytes(k.expose()),
            Material::Ec { x, y } => p.u8(1).bytes(x).bytes(y),
            Material::Okp { x } => p.u8(2).bytes(x),
            Material::Rsa { n, e } => p.u8(3).bytes(n).bytes(e),
        };
    }

    fn unpack(u: &mut Unpacker<'_>) -> Option<Jwk> {
        let kid = u.opt_str();
        let alg = Algorithm::from_jws_name(&u.str())?;
        let raw = match u.u8() {
            0 => Raw::Oct(u.bytes().to_vec()),
            1 => Raw::Ec {
                x: u.bytes().to_vec(),
                y: u.bytes().to_vec(),
            },
            2 => Raw::Okp {
                x: u.bytes().to_vec(),
            },
            3 => Raw::Rsa {
                n: u.bytes().to_vec(),
                e: u.bytes().to_vec(),
            },
            _ => return None,
        };
        Jwk::checked(kid, alg, raw).ok()
    }
}

impl KeySet {
    /// The packed form (`crate::packed`) of an issuer's static keys.
    pub fn pack(&self, p: &mut Packer) {
        p.usize(self.skipped).usize(self.keys.len());
        for k in &self.keys {
            k.pack(p);
        }
    }

    /// Every key through [`Jwk::checked`], the set through [`KeySet::new`] (unique `kid`s).
    pub fn unpack(u: &mut Unpacker<'_>) -> Option<KeySet> {
        let skipped = u.usize();
        let mut set = KeySet::new(u.list(Jwk::unpack)).ok()?;
        set.skipped = skipped;
        Some(set)
    }
}

/// `s` as one JSON object: parsed strictly (a repeated member name at any depth is refused,
/// as in tokens) so two parsers can never disagree on which key a document holds.
fn parse_object(s: &str) -> Result<Node<'_>, KeyError> {
    let doc = json::parse(s.as_bytes()).map_err(|e| KeyError::Json {
        detail: e.to_string(),
    })?;
    if doc.kind() != json::Kind::Object {
        return Err(KeyError::Json {
            detail: "not an object".to_owned(),
        });
    }
    Ok(doc)
}

/// Registered algorithms this layer does not implement, on the key type they belong to.
fn is_known_foreign_alg(kty: &str, name: &str) -> bool {
    match kty {
        "RSA" => matches!(name, "RSA-OAEP" | "RSA-OAEP-256" | "RSA1_5"),
        "EC" => name.starts_with("ECDH-ES"),
        "OKP" => name.starts_with("ECDH-ES"),
        "oct" => {
            matches!(name, "A128KW" | "A192KW" | "A256KW" | "dir")
                || name.starts_with("A1")
                || name.starts_with("A2")
        }
        _ => false,
    }
}

/// One issuer's verification keys. `kid`s are unique.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Jwk>,
    skipped: usize,
}

impl KeySet {
    /// Builds a set from keys already loaded (e.g. configured HMAC secrets).
    pub fn new(keys: Vec<Jwk>) -> Result<KeySet, KeyError> {
        for (i, k) in keys.iter().enumerate() {
            if let Some(kid) = k.kid() {
                if keys[..i].iter().any(|o| o.kid() == Some(kid)) {
                    return Err(KeyError::DuplicateKid {
                        kid: kid.to_owned(),
                    });
                }
            }
        }
        if keys.is_empty() {
            return Err(KeyError::NoUsableKeys);
        }
        Ok(KeySet { keys, skipped: 0 })
    }

    /// Parses a JWKS document (`{"keys":[...]}`). Keys of types this layer does not implement
    /// are skipped (see [`KeySet::skipped`]); unsafe or malformed keys fail the whole set.
    pub fn from_jwks_json(s: &str) -> Result<KeySet, KeyError> {
        Self::from_jwks(parse_object(s)?)
    }

    /// [`KeySet::from_jwks_json`] for a JWKS object inside a document already parsed (an
    /// issuer's inline `jwks` in `ISSUERS`).
    pub(crate) fn from_jwks(doc: Node<'_>) -> Result<KeySet, KeyError> {
        let Some(entries) = doc.get("keys").and_then(Node::items) else {
            return Err(KeyError::Json {
                detail: "no `keys` array".to_owned(),
            });
        };
        let mut keys = Vec::new();
        let mut skipped = 0;
        for entry in entries {
            if entry.kind() != json::Kind::Object {
                return Err(KeyError::Json {
                    detail: "a `keys` entry is not an object".to_owned(),
                });
            }
            match Jwk::from_object(entry)? {
                Parsed::Key(k) => keys.push(k),
                Parsed::Unsupported => skipped += 1,
            }
        }
        let mut set = KeySet::new(keys)?;
        set.skipped = skipped;
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// How many JWKS entries were skipped as not implemented here (for logs).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    pub(crate) fn by_kid(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    /// The key for a token: with a `kid`, the key with that `kid` if it pins `alg`;
    /// without, the single key pinning `alg` (none if zero or several do).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&Jwk> {
        match kid {
            Some(kid) => self.by_kid(kid).filter(|k| k.alg == alg),
            None => {
                let mut it = self.keys.iter().filter(|k| k.alg == alg);
                match (it.next(), it.next()) {
                    (Some(k), None) => Some(k),
                    _ => None,
                }
            }
        }
    }
}
