//! `evident serve`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use evident_app::access::Access;
use evident_app::import::bucket::{self, BucketUrl, S3Options};
use evident_app::import::poller::{BucketSource, Positions};
use evident_app::metrics::Sample;
use evident_app::{Evident, ReadAudit, Settings};
use evident_sources::geoip::GeoIp;
use evident_store::{Store, StoreOptions};
use tracing_subscriber::EnvFilter;

use crate::cli::{ReadAuditArg, ServeArgs};

/// How often a checkpoint is signed while events arrive, and full segments
/// sealed.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("evident")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

/// SHA-256 of a verifier key's text in 16 groups of 4 hex digits, as the
/// web UI shows it: compared out of band when a browser reports a changed
/// key.
pub fn key_fingerprint(public_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(public_key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    hex.as_bytes()
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn init_tracing() {
    let filter = EnvFilter::try_from_env("EVIDENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone();
    evident_app::data_dir::prepare(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    evident_query::sql::limits::set_limits(evident_query::sql::limits::SqlLimits {
        memory_bytes: args.sql_memory_mib.saturating_mul(1 << 20),
        timeout: std::time::Duration::from_secs(args.sql_timeout_seconds.max(1)),
        concurrency: args.sql_concurrency.max(1),
    })
    .map_err(anyhow::Error::msg)?;
    let store_dir = data_dir.clone();
    let options = StoreOptions {
        seal_rows: usize::try_from(args.seal_rows).unwrap_or(usize::MAX),
        ..StoreOptions::default()
    };
    let store = tokio::task::spawn_blocking(move || Store::open(&store_dir, options))
        .await
        .context("opening the store")?
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let store = Arc::new(store);

    let env_key = |name: &str| std::env::var(name).ok();
    let (access, created) = Access::open(
        &data_dir,
        env_key("EVIDENT_API_KEY").as_deref(),
        env_key("EVIDENT_APP_KEY").as_deref(),
    )
    .context("loading keys")?;
    if let Some(key) = &created.api {
        println!("API key (send events with DD-API-KEY): {key}");
    }
    if let Some(key) = &created.application {
        println!("Application key (read with DD-APPLICATION-KEY): {key}");
    }
    if created.api.is_some() || created.application.is_some() {
        println!("These keys are shown once; only their hashes are stored.");
    }

    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(key)) => {
            Some(crate::tls::TlsIdentity::load(certificate, key).context("setting up TLS")?)
        }
        _ => None,
    };
    let pg_listener = match args.pg_listen {
        Some(pg_address) => {
            let pg_listener = tokio::net::TcpListener::bind(pg_address)
                .await
                .with_context(|| format!("listening on {pg_address} for postgres"))?;
            let bound = pg_listener
                .local_addr()
                .context("reading the postgres listening address")?;
            let security = if tls.is_some() {
                "TLS required"
            } else {
                "no TLS: the password travels in clear"
            };
            println!(
                "evident postgres listening on {bound} (password: an application key; {security})"
            );
            Some(pg_listener)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("reading the listening address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "evident listening on {scheme}://{address} (data in {}, {} events)",
        data_dir.display(),
        store.len()
    );
    let public_key = store.verifier().to_string();
    println!(
        "public key: {public_key} (fingerprint {}: the web UI pins it and shows it on its Integrity page)",
        key_fingerprint(&public_key)
    );

    let geoip = GeoIp::open(args.geoip_city.as_deref(), args.geoip_asn.as_deref())?.map(Arc::new);
    let sso = match &args.sso_config {
        Some(path) => Some(Arc::new(evident_app::access::sso::Sso::load(path)?)),
        None => None,
    };
    let settings = Settings {
        sso,
        max_pending_bytes: args.max_pending_bytes,
        max_unsealed_events: args.max_unsealed_events,
        decode_memory_bytes: args.decode_memory_mib.saturating_mul(1 << 20),
        audit_reads: match args.audit_reads {
            ReadAuditArg::Off => ReadAudit::Off,
            ReadAuditArg::Written => ReadAudit::Written,
            ReadAuditArg::Durable => ReadAudit::Durable,
        },
        retention_days: args.retention_days,
        smtp: match (&args.smtp_url, &args.smtp_from) {
            (Some(url), Some(from)) => Some(evident_app::monitors::channels::Smtp {
                url: url.clone(),
                from: from.clone(),
            }),
            _ => None,
        },
        failed_checks_window: Duration::from_secs(args.failed_key_window_seconds.max(1)),
        ..Settings::default()
    };
    let service_dir = data_dir.clone();
    let service_store = Arc::clone(&store);
    let evident = tokio::task::spawn_blocking(move || {
        Evident::open(&service_dir, service_store, access, geoip, settings)
    })
    .await
    .context("opening the data directory")??;
    let evident = Arc::new(evident);
    let background = evident.start_background(CHECKPOINT_INTERVAL);
    let pg_tls = tls
        .as_ref()
        .map(|tls| tls.acceptor(&[b"postgresql"]))
        .transpose()?;
    let postgres = pg_listener.map(|pg_listener| {
        tokio::spawn(evident_pgwire::serve(
            pg_listener,
            Arc::clone(&evident),
            pg_tls,
        ))
    });
    let buckets = bucket_sources(args, &data_dir, &evident)?;
    // Answers that stream (SQL rows) go out in several writes: without
    // TCP_NODELAY the second waits for the client's delayed ACK (40 ms).
    // One stop signal for the HTTP server and the gateway beside it.
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let stop_sender = Arc::new(stop_sender);
    let on_signal = Arc::clone(&stop_sender);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = on_signal.send(true);
    });
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    // The gateway starts once this server answers (it checks its intake key
    // here); a gateway that cannot start stops the server.
    let gateway = match &args.gateway_config {
        Some(path) => {
            let mut config = evident_gateway::Config::load(path)?;
            // Beside the server, the gateway's events wait in its data
            // directory while the server cannot take them.
            if config.spool.dir.is_none() {
                config.spool.dir = Some(data_dir.join("gateway-spool"));
            }
            let path = path.clone();
            let gateway_stop = stopped(stop.clone());
            let metrics = Arc::clone(&evident);
            Some(tokio::spawn(async move {
                let started = super::gateway::start(&config, &path).await;
                match started {
                    Ok(running) => {
                        let counters = Arc::clone(running.gateway.recorder().counters());
                        metrics
                            .metrics()
                            .add_source(move |samples| gateway_samples(&counters, samples));
                        running.serve(gateway_stop).await;
                        Ok(())
                    }
                    Err(error) => {
                        let _ = stop_sender.send(true);
                        Err(error)
                    }
                }
            }))
        }
        None => None,
    };
    let (gateway_outcome, mut gateway_result) =
        tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let http_tls = tls
        .as_ref()
        .map(|tls| tls.acceptor(&[b"http/1.1"]))
        .transpose()?;
    let sessions = evident_http::SessionOptions {
        idle: Duration::from_secs(args.ui_idle_timeout_seconds.max(1)),
        lifetime: Duration::from_secs(args.ui_session_max_seconds.max(1)),
        secure: tls.is_some(),
    };
    // Tapped (with nothing to do) so that handlers get the peer address.
    let listener = evident_http::listener::HttpListener::new(listener, http_tls)
        .context("serving HTTP")?
        .tap_io(|_| {});
    axum::serve(
        listener,
        evident_http::router(Arc::clone(&evident), sessions)
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stopped(stop).await;
        if let Some(gateway) = gateway {
            // The gateway stops first: its last audit events may still be
            // on their way to this server's intake.
            let outcome = gateway
                .await
                .unwrap_or_else(|error| Err(anyhow::anyhow!("the gateway task failed: {error}")));
            let _ = gateway_outcome.send(outcome);
        }
    })
    .await
    .context("serving HTTP")?;
    let gateway_failure = gateway_result.try_recv().ok().and_then(Result::err);
    for task in background {
        task.abort();
    }
    if let Some(postgres) = postgres {
        postgres.abort();
    }
    for bucket in buckets {
        bucket.abort();
    }
    // Sealing what is complete now spares the next start a long replay.
    evident.finish().await;
    tracing::info!("stopped");
    match gateway_failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Starts polling each `--cloudtrail-bucket`.
fn bucket_sources(
    args: &ServeArgs,
    data_dir: &std::path::Path,
    evident: &Arc<Evident>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    if args.cloudtrail_buckets.is_empty() {
        return Ok(Vec::new());
    }
    let positions = Arc::new(std::sync::Mutex::new(
        Positions::open(data_dir).context("reading the bucket positions")?,
    ));
    let options = S3Options {
        region: args.aws_region.clone(),
        endpoint_url: args.aws_endpoint_url.clone(),
    };
    let mut tasks = Vec::new();
    for url in &args.cloudtrail_buckets {
        let url = BucketUrl::parse(url).map_err(anyhow::Error::msg)?;
        let store = bucket::open(&url, &options).map_err(anyhow::Error::msg)?;
        println!(
            "evident reading CloudTrail from {url} every {} s",
            args.bucket_poll_seconds
        );
        let source = BucketSource {
            url,
            store,
            evident: Arc::clone(evident),
            positions: Arc::clone(&positions),
            interval: Duration::from_secs(args.bucket_poll_seconds.max(1)),
        };
        tasks.push(tokio::spawn(source.run()));
    }
    Ok(tasks)
}

/// The counters of the gateway `serve` runs beside it.
fn gateway_samples(counters: &evident_gateway::recorder::Counters, samples: &mut Vec<Sample>) {
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    let counter = |name, help, value| Sample {
        name,
        kind: "counter",
        help,
        value,
    };
    samples.extend([
        counter(
            "evident_gateway_events_sent_total",
            "Gateway audit events evident acknowledged.",
            load(&counters.sent),
        ),
        counter(
            "evident_gateway_events_rejected_total",
            "Gateway audit events evident refused for good (set aside in the spool's rejected folder).",
            load(&counters.rejected),
        ),
        counter(
            "evident_gateway_events_dropped_total",
            "Gateway audit events lost (refused for good without a spool, or not written).",
            load(&counters.dropped),
        ),
        counter(
            "evident_gateway_events_spooled_total",
            "Gateway audit events written to the spool.",
            load(&counters.spooled),
        ),
        counter(
            "evident_gateway_failed_posts_total",
            "Posts of gateway audit events that failed and were retried.",
            load(&counters.failed_posts),
        ),
    ]);
}

pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: finishing requests in flight");
}
