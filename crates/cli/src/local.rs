//! The service on a stopped data directory, for the commands that work
//! without a server (`--data-dir`): the same operations a server runs,
//! with no keys (nobody signs in) and no decoding budget to share.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use evident_app::access::Access;
use evident_app::{Evident, Settings};
use evident_sources::geoip::GeoIp;
use evident_store::{Store, StoreOptions};

/// Opens `data_dir` for this process alone.
pub fn open(data_dir: &Path, geoip: Option<GeoIp>) -> anyhow::Result<Arc<Evident>> {
    open_with(data_dir, open_store(data_dir)?, Access::none(), geoip)
}

/// The store of `data_dir`, locked for this process.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    Store::open(data_dir, StoreOptions::default()).with_context(|| {
        format!(
            "opening {} (is a server running on it? then use --server)",
            data_dir.display()
        )
    })
}

/// The service over `store` with the users and keys of `access`.
pub fn open_with(
    data_dir: &Path,
    store: Store,
    access: Access,
    geoip: Option<GeoIp>,
) -> anyhow::Result<Arc<Evident>> {
    let settings = Settings {
        // One command, its own memory: nothing to share.
        decode_memory_bytes: usize::MAX,
        ..Settings::default()
    };
    let evident = Evident::open(
        data_dir,
        Arc::new(store),
        access,
        geoip.map(Arc::new),
        settings,
    )?;
    Ok(Arc::new(evident))
}

/// A runtime for the service's operations.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting a runtime")
}
