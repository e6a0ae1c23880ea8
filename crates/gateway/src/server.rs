//! Accepting connections: HTTP/1.1 on a TCP listener, each connection
//! served by hyper, and a graceful stop that lets calls in flight finish
//! and the audit queue drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::ConfigError;
use crate::proxy::Gateway;
use crate::recorder::Recorder;
use crate::spool::Spool;

/// How long calls in flight, then queued audit events, get at a stop.
const DRAIN: Duration = Duration::from_secs(10);

/// A gateway ready to serve: built from the configuration, its keys
/// fetched, listening.
#[derive(Debug)]
pub struct Running {
    pub gateway: Arc<Gateway>,
    pub listener: TcpListener,
    recorder_task: JoinHandle<()>,
}

impl Running {
    /// Reads the secrets, fetches the issuer's keys (a failure is logged,
    /// and tried again on the first call), binds `config.listen`.
    pub async fn start(config: &Config) -> Result<Running, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| ConfigError::Tls(error.to_string()))?;
        let api_key = config.evident_api_key.resolve()?;
        check_intake_key(&http, &config.evident_url, &api_key).await?;
        let spool = match &config.spool.dir {
            Some(dir) => Some(Spool::open(dir, config.spool.max_bytes).map_err(|source| {
                ConfigError::Invalid(format!("opening the spool {}: {source}", dir.display()))
            })?),
            None => None,
        };
        let (recorder, recorder_task) = Recorder::start(
            &config.evident_url,
            api_key,
            config.capture.queue_events,
            http.clone(),
            spool,
        );
        let gateway = Arc::new(Gateway::new(config, recorder, http)?);
        match gateway.verifier().prime().await {
            Ok(keys) => {
                tracing::info!(issuer = %config.oidc.issuer, keys, "oidc issuer keys loaded")
            }
            Err(error) => {
                tracing::warn!(issuer = %config.oidc.issuer, %error, "oidc issuer not reachable yet; tried again on the first call")
            }
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ConfigError::Listen {
                    address: config.listen,
                    source,
                })?;
        Ok(Running {
            gateway,
            listener,
            recorder_task,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `stop` completes, then drains.
    pub async fn serve(self, stop: impl Future<Output = ()>) {
        let Running {
            gateway,
            listener,
            recorder_task,
        } = self;
        let graceful = GracefulShutdown::new();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "accepting a connection failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let gateway = Arc::clone(&gateway);
                    let service = service_fn(move |request| Arc::clone(&gateway).handle(request, peer));
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let watched = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(error) = watched.await {
                            tracing::debug!(%error, %peer, "connection ended with an error");
                        }
                    });
                }
                () = &mut stop => break,
            }
        }
        drop(listener);
        if tokio::time::timeout(DRAIN, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "calls still in flight after {} s; stopping anyway",
                DRAIN.as_secs()
            );
        }
        let counters = Arc::clone(gateway.recorder().counters());
        // The last recorder goes with the gateway; the sender task then
        // empties the queue and ends.
        drop(gateway);
        if tokio::time::timeout(DRAIN, recorder_task).await.is_err() {
            tracing::error!(
                "audit events still unsent after {} s; evident unreachable?",
                DRAIN.as_secs()
            );
        }
        let load = |counter: &std::sync::atomic::AtomicU64| {
            counter.load(std::sync::atomic::Ordering::Relaxed)
        };
        tracing::info!(
            sent = load(&counters.sent),
            dropped = load(&counters.dropped),
            failed_posts = load(&counters.failed_posts),
            rejected = load(&counters.rejected),
            spooled = load(&counters.spooled),
            "gateway stopped: audit events"
        );
    }
}

/// A wrong intake key would fill the queue and refuse every call: it stops
/// the start instead. An evident not reachable yet only warns (the
/// recorder retries).
async fn check_intake_key(
    http: &reqwest::Client,
    evident_url: &str,
    api_key: &str,
) -> Result<(), ConfigError> {
    let url = format!("{}/api/v1/validate", evident_url.trim_end_matches('/'));
    match http.get(&url).header("DD-API-KEY", api_key).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) if matches!(response.status().as_u16(), 401 | 403) => {
            Err(ConfigError::Invalid(format!(
                "{evident_url} refuses the API key of evident_api_key ({})",
                response.status()
            )))
        }
        Ok(response) => {
            tracing::warn!(%url, status = response.status().as_u16(), "could not check the intake key");
            Ok(())
        }
        Err(error) => {
            tracing::warn!(%url, %error, "evident not reachable yet; audit events wait in the queue");
            Ok(())
        }
    }
}
