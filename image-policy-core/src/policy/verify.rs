//! Verify rules: the public keys an image's cosign signature must be made
//! with, read and checked here (PEM, the `SubjectPublicKeyInfo`'s algorithm
//! and curve), without doing any cryptography: the signatures themselves
//! are checked by `image-policy-registry` (with ring), which reads these
//! keys through [`Policy::verify_requirements`](super::Policy::verify_requirements).
//!
//! Where the key parsing lives: the core reads the keys' *structure* (the
//! `spki` crate, a few hundred lines of DER with no crypto), so that `policy
//! check` reports a bad key with its line and column and every adapter gets
//! keys already sorted by kind; the registry crate verifies.
//!
//! `keyFile:` is a path: the core does no I/O, so a loader that reads files
//! resolves it with [`PolicyBuilder::read_key_files`](super::PolicyBuilder::read_key_files)
//! before [`build`](super::PolicyBuilder::build) (the CLI and the webhook do,
//! relative to the policy file's directory). A policy built with a
//! `keyFile:` never resolved does not compile (`bad-key`): a key that was
//! never read must not quietly verify nothing.

use spki::SubjectPublicKeyInfoOwned;
use spki::der::asn1::ObjectIdentifier;
use spki::der::{Decode, DecodePem};
use std::fmt;

/// `id-ecPublicKey`.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1` (P-256).
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1` (P-384).
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `secp521r1` (P-521).
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `rsaEncryption`.
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-Ed25519`.
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The kinds of key a verify rule may list: those cosign makes that ring
/// verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 (cosign's default `cosign generate-key-pair`), SHA-256.
    EcdsaP256,
    /// ECDSA on P-384 (SHA-384, cosign's hash for the curve; SHA-256 is
    /// accepted too, as older cosign releases signed with it).
    EcdsaP384,
    /// RSA, 2048 to 8192 bits: PKCS#1 v1.5 or PSS signatures, SHA-256.
    Rsa,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// `ecdsa-p256`, `ecdsa-p384`, `rsa`, `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Rsa => "rsa",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public key of a verify rule, checked: its kind, and the key as ring
/// reads it (the `subjectPublicKey` bits: an uncompressed EC point, a
/// PKCS#1 `RSAPublicKey`, or Ed25519's 32 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    key: Vec<u8>,
    spki_der: Vec<u8>,
}

impl PublicKey {
    /// Reads one PEM `PUBLIC KEY` block (a `SubjectPublicKeyInfo`, as `cosign
    /// generate-key-pair` and `openssl pkey -pubout` write it). Text around
    /// the block, a second block, another label, a curve or an algorithm this
    /// verifier does not check are errors.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let trimmed = text.trim();
        let blocks = trimmed.matches("-----BEGIN ").count();
        if blocks == 0 {
            return Err(KeyError::NotPem);
        }
        if blocks > 1 {
            return Err(KeyError::SeveralKeys);
        }
        if !trimmed.starts_with("-----BEGIN PUBLIC KEY-----") {
            let label = trimmed
                .split("-----BEGIN ")
                .nth(1)
                .and_then(|rest| rest.split("-----").next())
                .unwrap_or_default();
            return Err(KeyError::Label(label.chars().take(40).collect()));
        }
        let info = SubjectPublicKeyInfoOwned::from_pem(trimmed.as_bytes())
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let spki_der =
            spki::der::Encode::to_der(&info).map_err(|e| KeyError::Malformed(e.to_string()))?;
        Self::from_info(&info, spki_der)
    }

    /// Reads a DER `SubjectPublicKeyInfo`.
    pub fn from_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let owned = SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        Self::from_info(&owned, der.to_vec())
    }

    fn from_info(
        info: &SubjectPublicKeyInfoOwned,
        spki_der: Vec<u8>,
    ) -> Result<PublicKey, KeyError> {
        let oid = info.algorithm.oid;
        let key = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Malformed("the key's bit string has unused bits".to_owned()))?
            .to_vec();
        let algorithm = if oid == EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| KeyError::Malformed("an EC key without a named curve".to_owned()))?;
            match curve {
                c if c == P256 => KeyAlgorithm::EcdsaP256,
                c if c == P384 => KeyAlgorithm::EcdsaP384,
                c if c == P521 => return Err(KeyError::Unsupported("ECDSA P-521".to_owned())),
                c => return Err(KeyError::Unsupported(format!("the EC curve {c}"))),
            }
        } else if oid == RSA {
            KeyAlgorithm::Rsa
        } else if oid == ED25519 {
            KeyAlgorithm::Ed25519
        } else {
            return Err(KeyError::Unsupported(format!("the key algorithm {oid}")));
        };
        let expected = match algorithm {
            KeyAlgorithm::EcdsaP256 => Some(65),
            KeyAlgorithm::EcdsaP384 => Some(97),
            KeyAlgorithm::Ed25519 => Some(32),
            KeyAlgorithm::Rsa => None,
        };
        if let Some(n) = expected
            && (key.len() != n || (n != 32 && key.first() != Some(&4)))
        {
            return Err(KeyError::Malformed(format!(
                "a {algorithm} key of {} bytes (expected an uncompressed key of {n})",
                key.len()
            )));
        }
        if algorithm == KeyAlgorithm::Rsa {
            let bits = rsa_modulus_bits(&key)
                .ok_or_else(|| KeyError::Malformed("not an RSAPublicKey".to_owned()))?;
            if !(2048..=8192).contains(&bits) {
                return Err(KeyError::Unsupported(format!(
                    "RSA keys of {bits} bits (2048 to 8192)"
                )));
            }
        }
        Ok(PublicKey {
            algorithm,
            key,
            spki_der,
        })
    }

    /// The kind of key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key as ring's `UnparsedPublicKey` reads it.
    pub fn key_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The whole `SubjectPublicKeyInfo`, DER (what the exports write as
    /// `keyData`, and what identifies the key in a cache).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
}

/// The bit length of an `RSAPublicKey`'s modulus (`SEQUENCE { INTEGER n,
/// INTEGER e }`), without leading zero bytes.
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    use spki::der::Reader;
    use spki::der::asn1::UintRef;
    let mut reader = spki::der::SliceReader::new(der).ok()?;
    let n: UintRef<'_> = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let _e = UintRef::decode(r)?;
            Ok(n)
        })
        .ok()?;
    let bytes = n.as_bytes();
    let first = *bytes.first()?;
    Some(bytes.len() * 8 - first.leading_zeros() as usize)
}

/// Why a verify rule's key is not usable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No PEM block at all.
    NotPem,
    /// More than one PEM block in one key entry.
    SeveralKeys,
    /// A PEM block that is not a `PUBLIC KEY` (its label).
    Label(String),
    /// A `PUBLIC KEY` block that is not a well-formed key.
    Malformed(String),
    /// A key kind the verifier does not check (P-521, DSA, a small RSA key).
    Unsupported(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotPem => {
                f.write_str("not a PEM public key (no -----BEGIN PUBLIC KEY----- block)")
            }
            KeyError::SeveralKeys => {
                f.write_str("more than one PEM block: list each key on its own")
            }
            KeyError::Label(l) => write!(
                f,
                "a PEM {l:?} block, not a PUBLIC KEY (the private key must never be in a policy)"
            ),
            KeyError::Malformed(e) => write!(f, "not a well-formed public key: {e}"),
            KeyError::Unsupported(what) => write!(
                f,
                "{what} cannot be verified here (ECDSA P-256 or P-384, RSA 2048 to 8192 bits, Ed25519)"
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// What one verify rule asks of an image it matches: a cosign signature by
/// one of [`keys`](VerifyRequirement::keys), found in
/// [`signature_repository`](VerifyRequirement::signature_repository) or else
/// in the image's repository.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct VerifyRequirement<'p> {
    /// The rule (kind [`RuleKind::Verify`](super::RuleKind::Verify)).
    pub rule: super::RuleInfo<'p>,
    /// The keys, any of which verifies (inline first, then the key file's).
    pub keys: &'p [PublicKey],
    /// Where the signatures are kept (`COSIGN_REPOSITORY`), normalized
    /// (`docker.io/library/x` for `x`); `None`: the image's repository.
    pub signature_repository: Option<&'p str>,
}

/// The compiled part of a verify rule (what matching does not hold).
#[derive(Clone, Debug)]
pub(crate) struct CompiledVerify {
    pub(crate) keys: Vec<PublicKey>,
    pub(crate) signature_repository: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_public_key() {
        assert_eq!(PublicKey::from_pem("hello"), Err(KeyError::NotPem));
        assert!(matches!(
            PublicKey::from_pem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"),
            Err(KeyError::Label(l)) if l == "EC PRIVATE KEY"
        ));
        assert!(matches!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(KeyError::Malformed(_))
        ));
    }
}
