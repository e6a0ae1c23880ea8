//! The HTTP listener for `axum::serve`: plain TCP connections, or TLS
//! ones whose handshakes complete in tasks of their own (with a timeout)
//! before a connection is handed over.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// A handshake that takes longer is dropped: a slow client holds up nobody.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
