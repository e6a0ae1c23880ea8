//! `evident gateway`, and the gateway `serve --gateway-config` runs beside
//! the server.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use evident_gateway::{Config, Running};

use crate::cli::GatewayArgs;
use crate::serve::{init_tracing, shutdown_signal};

pub fn run(args: &GatewayArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("evident-gateway")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let config = Config::load(&args.config)?;
        let running = start(&config, &args.config).await?;
        running.serve(shutdown_signal()).await;
        tracing::info!("gateway stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the gateway of a loaded configuration and says where it listens.
pub async fn start(config: &Config, config_path: &Path) -> anyhow::Result<Running> {
    let running = Running::start(config)
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
