//! TLS for the HTTP API and the PostgreSQL wire listener: one certificate
//! chain and private key (PEM files, `--tls-cert` / `--tls-key`), served by
//! rustls (ring). Without them both listeners speak plain TCP, for
//! loopback or behind a TLS terminator.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// A handshake that takes longer is dropped: a slow client holds up nobody.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What the HTTP server reads and writes: a TCP stream, or TLS over one.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

/// The HTTP listener: accepts TCP connections and, with TLS, completes
/// each handshake in a task of its own before handing the stream over.
#[derive(Debug)]
pub struct HttpListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(Box<dyn Connection>, SocketAddr)>,
    accepting: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for dyn Connection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Connection")
    }
}

impl HttpListener {
    pub fn new(listener: TcpListener, tls: Option<TlsAcceptor>) -> io::Result<HttpListener> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel::<(Box<dyn Connection>, SocketAddr)>(64);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "setting TCP_NODELAY failed");
                }
                match &tls {
                    None => {
                        if sender.send((Box::new(stream), peer)).await.is_err() {
                            return;
                        }
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let sender = sender.clone();
                        tokio::spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => {
                                    let _ = sender.send((Box::new(stream), peer)).await;
                                }
                                Ok(Err(error)) => {
                                    tracing::debug!(%error, %peer, "TLS handshake failed");
                                }
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        });
                    }
                }
            }
        });
        Ok(HttpListener {
            local,
            ready,
            accepting,
        })
    }
}

impl Drop for HttpListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for HttpListener {
    type Io = Box<dyn Connection>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accepting task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
