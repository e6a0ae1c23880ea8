//! TLS for the HTTP API and the PostgreSQL wire listener: one certificate
//! chain and private key (PEM files, `--tls-cert` / `--tls-key`), served by
//! rustls (ring). Without them both listeners speak plain TCP, for
//! loopback or behind a TLS terminator. The HTTP listener itself is
//! `evident_http::listener`; the PostgreSQL one, `evident_pgwire::serve`.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the certificate chain {path}: {message}")]
    Certificates { path: String, message: String },
    #[error("reading the private key {path}: {message}")]
    Key { path: String, message: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// The certificate chain and key, read and checked now.
#[derive(Clone)]
pub struct TlsIdentity {
    certificates: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TlsIdentity")
            .field("certificates", &self.certificates.len())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    pub fn load(certificate: &Path, key: &Path) -> Result<TlsIdentity, TlsError> {
        let certificates = CertificateDer::pem_file_iter(certificate)
            .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
            .map_err(|error| TlsError::Certificates {
                path: certificate.display().to_string(),
                message: error.to_string(),
            })?;
        if certificates.is_empty() {
            return Err(TlsError::Certificates {
                path: certificate.display().to_string(),
                message: "no certificate in the file".into(),
            });
        }
        let private_key = PrivateKeyDer::from_pem_file(key).map_err(|error| TlsError::Key {
            path: key.display().to_string(),
            message: error.to_string(),
        })?;
        let identity = TlsIdentity {
            certificates,
            key: Arc::new(private_key),
        };
        // Checked at start, so that a mismatched pair stops it.
        identity.acceptor(&[])?;
        Ok(identity)
    }

    /// An acceptor offering `protocols` by ALPN.
    pub fn acceptor(&self, protocols: &[&[u8]]) -> Result<TlsAcceptor, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(self.certificates.clone(), self.key.clone_key())
        .map_err(|error| TlsError::Config(error.to_string()))?;
        config.alpn_protocols = protocols.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
