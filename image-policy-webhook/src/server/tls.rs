//! TLS: the serving certificate that can be swapped while the server runs,
//! and the optional client CA for mutual TLS.
//!
//! rustls asks a [`ResolvesServerCert`] for the certificate at every
//! handshake. [`CertificateStore`] answers with whatever was loaded last, so a
//! reload affects new handshakes only: connections already established keep
//! their session and are never dropped.

use super::ServerError;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::{Arc, RwLock};

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
) -> Result<CertifiedKey, String> {
    let chain = read_certificates(cert_pem, cert_path)?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| format!("{}: not a PEM private key: {e}", key_path.display()))?
        .ok_or_else(|| format!("{}: no private key found", key_path.display()))?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        format!(
            "{} and {} do not make a serving certificate: {e}",
            cert_path.display(),
            key_path.display()
        )
    })
}

fn read_certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(chain)
}

/// The rustls configuration: certificates from `store`, client certificates
/// required and checked against `client_ca` when given, HTTP/2 and HTTP/1.1
/// offered by ALPN.
pub(crate) fn server_config(
    store: Arc<CertificateStore>,
    client_ca: Option<&Path>,
) -> Result<ServerConfig, ServerError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| ServerError::Tls(format!("cannot read {}: {e}", path.display())))?;
            let mut roots = RootCertStore::empty();
            for cert in read_certificates(&pem, path).map_err(ServerError::Tls)? {
                roots
                    .add(cert)
                    .map_err(|e| ServerError::Tls(format!("{}: {e}", path.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ServerError::Tls(format!("{}: {e}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
