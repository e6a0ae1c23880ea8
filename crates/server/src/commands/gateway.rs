//! `evident gateway`, and the gateway `serve --gateway-config` runs beside
//! the server.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use evident_gateway::{Config, Running};

use crate::cli::GatewayArgs;
use crate::commands::serve::{init_tracing, shutdown_signal};

pub fn run(args: &GatewayArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("evident-gateway")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let running = start(&args.config).await?;
        running.serve(shutdown_signal()).await;
        tracing::info!("gateway stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Loads the configuration, starts the gateway and says where it listens.
pub async fn start(config_path: &Path) -> anyhow::Result<Running> {
    let config = Config::load(config_path)?;
    let running = Running::start(&config)
        .await
        .with_context(|| format!("starting the gateway of {}", config_path.display()))?;
    let address = running
        .local_addr()
        .context("reading the gateway's listening address")?;
    println!(
        "evident gateway listening on http://{address} (issuer {}, audit events to {})",
        config.oidc.issuer, config.evident_url
    );
    Ok(running)
}

/// Runs a started gateway until `stop`.
pub async fn serve_until(running: Running, stop: impl Future<Output = ()>) {
    running.serve(stop).await;
}
