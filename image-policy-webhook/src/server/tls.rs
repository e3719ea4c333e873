//! TLS: the serving certificate that can be swapped while the server runs,
//! and the optional client CA for mutual TLS.
//!
//! rustls asks a [`ResolvesServerCert`] for the certificate at every
//! handshake. [`CertificateStore`] answers with whatever was loaded last, so a
//! reload affects new handshakes only: connections already established keep
//! their session and are never dropped.

use super::reload::ReadError;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why the serving certificate, its key or the client CA cannot be used;
/// each names its file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A certificate file is not PEM.
    #[error("{}: not a PEM certificate: {source}", path.display())]
    NotPemCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        source: std::io::Error,
    },
    /// A certificate file holds no certificate.
    #[error("{}: no certificate found", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file is not PEM.
    #[error("{}: not a PEM private key: {source}", path.display())]
    NotPemKey {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        source: std::io::Error,
    },
    /// The key file holds no private key.
    #[error("{}: no private key found", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key does not belong to the certificate, or rustls cannot use them.
    #[error("{} and {} do not make a serving certificate: {source}", cert.display(), key.display())]
    Certificate {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// A client CA certificate cannot be used.
    #[error("{}: {source}", path.display())]
    ClientCa {
        /// The client CA file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// No client certificate verifier can be made of the client CA.
    #[error("{}: {source}", path.display())]
    ClientVerifier {
        /// The client CA file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::server::VerifierBuilderError,
    },
    /// rustls refused the configuration.
    #[error("{0}")]
    Config(rustls::Error),
}

/// The crypto provider everything here uses (ring, as the workspace declares).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The serving certificate in force; swapped by the reload task.
#[derive(Debug)]
pub(crate) struct CertificateStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateStore {
    pub(crate) fn new(key: CertifiedKey) -> Self {
        CertificateStore {
            current: RwLock::new(Arc::new(key)),
        }
    }

    /// Makes `key` the certificate of every later handshake.
    pub(crate) fn replace(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// Parses a PEM certificate chain and a PEM private key and checks that the
/// key belongs to the first certificate. Errors name the file.
pub(crate) fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain = read_certificates(cert_pem, cert_path)?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|source| TlsError::NotPemKey {
            path: key_path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey {
            path: key_path.to_owned(),
        })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|source| TlsError::Certificate {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        source,
    })
}

fn read_certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::NotPemCertificate {
            path: path.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

/// The rustls configuration: certificates from `store`, client certificates
/// required and checked against `client_ca` when given, HTTP/2 and HTTP/1.1
/// offered by ALPN.
pub(crate) fn server_config(
    store: Arc<CertificateStore>,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| ReadError {
                path: path.to_owned(),
                source,
            })?;
            let mut roots = RootCertStore::empty();
            for cert in read_certificates(&pem, path)? {
                roots.add(cert).map_err(|source| TlsError::ClientCa {
                    path: path.to_owned(),
                    source,
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|source| TlsError::ClientVerifier {
                    path: path.to_owned(),
                    source,
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each way a certificate pair is wrong is its own kind, naming its file.
    #[test]
    fn errors_name_their_kind_and_file() {
        let (cert, key) = (Path::new("tls.crt"), Path::new("tls.key"));
        let err = certified_key(b"not pem", b"", cert, key).expect_err("no certificate");
        assert!(matches!(&err, TlsError::NoCertificate { path } if path == cert));
        assert_eq!(err.to_string(), "tls.crt: no certificate found");

        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let pem = generated.cert.pem();
        let err = certified_key(pem.as_bytes(), b"", cert, key).expect_err("no key");
        assert!(matches!(&err, TlsError::NoKey { path } if path == key));

        let other =
            rcgen::generate_simple_self_signed(vec!["other".to_owned()]).expect("a certificate");
        let err = certified_key(
            pem.as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
            cert,
            key,
        )
        .expect_err("a key of another certificate");
        assert!(matches!(err, TlsError::Certificate { .. }), "{err}");
        assert!(
            certified_key(
                pem.as_bytes(),
                generated.signing_key.serialize_pem().as_bytes(),
                cert,
                key
            )
            .is_ok()
        );
    }
}
