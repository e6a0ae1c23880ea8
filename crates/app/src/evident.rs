//! [`Evident`]: the one application service. It holds the store and
//! everything kept beside it (keys, saved views, the importer, the decoding
//! budget, the metrics), runs blocking work off the async threads, and is
//! what every surface calls.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use evident_sources::geoip::GeoIp;
use evident_store::Store;

use crate::access::Access;
use crate::access::failures::FailedChecks;
use crate::access::signin::{SignInGuard, SignInLimits};
use crate::access::sso::Sso;
use crate::activity::failed_key_checks_event;
use crate::actor::key_fingerprint;
use crate::error::AppError;
use crate::import::Importer;
use crate::intake::budget::DecodeBudget;
use crate::metrics::{Internal, Metrics, Sample};
use crate::monitors::Monitors;
use crate::retention::RetentionStore;
use crate::views::ViewStore;

/// How a read's audit record is kept before the read is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAudit {
    /// Reads are not recorded.
    Off,
    /// The record is written to the log before the answer, and durable and
    /// searchable within 10 ms (one fsync covers the records of that time,
    /// or less when anything durable is written): a process crash cannot
    /// lose it, a machine crash before that fsync can. The default: a
    /// question neither waits for nor pays a fsync of its own.
    Written,
    /// The record is durable before the answer, as every change is.
    Durable,
}

/// How the service sheds load.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Above this many bytes waiting for the disk, writes answer busy.
    pub max_pending_bytes: usize,
    /// Above this many unsealed events, writes answer busy.
    pub max_unsealed_events: u64,
    /// Memory for decoding request bodies and files, shared by intake and
    /// import.
    pub decode_memory_bytes: usize,
    /// Whether and how every read (searches, aggregations, exports, live
    /// tails, proofs) is recorded as an audit event before it is answered.
    pub audit_reads: ReadAudit,
    /// Failed key checks are recorded once per window, per key and address.
    pub failed_checks_window: Duration,
    /// When failed sign-ins lock an account or refuse an address.
    pub sign_in: SignInLimits,
    /// Single sign-on for the web UI, when configured.
    pub sso: Option<Arc<Sso>>,
    /// Days events are kept until retention is set through the service.
    pub retention_days: u32,
    /// The SMTP server of email notifications, if any.
    pub smtp: Option<crate::monitors::channels::Smtp>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_pending_bytes: 256 << 20,
            max_unsealed_events: 500_000,
            decode_memory_bytes: 1 << 30,
            audit_reads: ReadAudit::Written,
            failed_checks_window: Duration::from_secs(60),
            sign_in: SignInLimits::default(),
            sso: None,
            retention_days: 90,
            smtp: None,
        }
    }
}

/// evident's operations, whichever surface asks.
#[derive(Debug)]
pub struct Evident {
    pub(crate) store: Arc<Store>,
    pub(crate) access: Arc<Access>,
    /// Changes to users, roles and keys, one at a time.
    pub(crate) access_changes: tokio::sync::Mutex<()>,
    pub(crate) importer: Arc<Importer>,
    pub(crate) views: Arc<ViewStore>,
    pub(crate) monitors: Arc<Monitors>,
    pub(crate) retention: Arc<RetentionStore>,
    /// Changes to settings (retention), one at a time.
    pub(crate) settings_changes: tokio::sync::Mutex<()>,
    pub(crate) geoip: Option<Arc<GeoIp>>,
    pub(crate) decode_budget: DecodeBudget,
    pub(crate) settings: Settings,
    pub(crate) metrics: Metrics,
    pub(crate) failed_checks: FailedChecks,
    pub(crate) sign_ins: SignInGuard,
}

impl Evident {
    /// The service over `store`, opened from `data_dir`, with the lists
    /// kept beside it (imported files, dead letters, saved views). Blocks
    /// (it reads those files).
    pub fn open(
        data_dir: &Path,
        store: Arc<Store>,
        access: Access,
        geoip: Option<Arc<GeoIp>>,
        settings: Settings,
    ) -> Result<Evident, AppError> {
        let importer =
            Importer::open(Arc::clone(&store), data_dir, geoip.clone()).map_err(|error| {
                AppError::internal(format!(
                    "reading the import lists in {}: {error}",
                    data_dir.display()
                ))
            })?;
        let views = ViewStore::open(data_dir).map_err(|error| {
            AppError::internal(format!(
                "reading the saved views in {}: {error}",
                data_dir.display()
            ))
        })?;
        let retention = RetentionStore::open(data_dir, settings.retention_days)
            .map_err(|error| AppError::internal(error.to_string()))?;
        let monitors = Monitors::open(data_dir, &store)?;
        monitors.channels.set_smtp(settings.smtp.clone());
        let importer = Arc::new(importer);
        let metrics = Metrics::default();
        metrics.add_source(state_samples(Arc::clone(&store), Arc::clone(&importer)));
        let monitors = Arc::new(monitors);
        {
            let monitors = Arc::clone(&monitors);
            let store = Arc::clone(&store);
            metrics.add_source(move |samples| monitors.samples(&store, samples));
        }
        Ok(Evident {
            store,
            access: Arc::new(access),
            access_changes: tokio::sync::Mutex::new(()),
            importer,
            views: Arc::new(views),
            monitors,
            retention: Arc::new(retention),
            settings_changes: tokio::sync::Mutex::new(()),
            geoip,
            decode_budget: DecodeBudget::new(settings.decode_memory_bytes),
            settings,
            metrics,
            failed_checks: FailedChecks::default(),
            sign_ins: SignInGuard::default(),
        })
    }

    /// The store underneath (for the server's start and stop).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Users, roles and keys.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Runs blocking `work` on the store off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Store) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|error| AppError::task(what, error))?
    }

    /// Counts a key that failed its check (an unknown, revoked or disabled
    /// user's key), by fingerprint, from `client_ip`.
    pub fn key_check_failed(&self, presented: &str, client_ip: Option<String>) {
        self.failed_checks.add(
            key_fingerprint(presented),
            client_ip.unwrap_or_else(|| "unknown".into()),
        );
    }

    /// Records the window's failed key checks, one event per key and
    /// address. Blocks.
    pub fn record_failed_checks(&self) {
        let events: Vec<_> = self
            .failed_checks
            .take()
            .into_iter()
            .map(|((fingerprint, client_ip), count)| {
                self.located(failed_key_checks_event(&fingerprint, &client_ip, count))
            })
            .collect();
        if events.is_empty() {
            return;
        }
        let count = events.len();
        if let Err(error) = self.store.commit(events).wait() {
            tracing::error!(%error, records = count, "failed key checks could not be recorded");
        }
    }

    /// Writes when keys were last used, if that changed. Blocks.
    pub fn save_key_usage(&self) {
        if let Err(error) = self.access.save_usage() {
            tracing::warn!(%error, "when keys were last used could not be written");
        }
    }

    /// Signs a checkpoint when the tree grew (every second while events
    /// arrive). Blocks.
    pub fn sign_checkpoint(&self) {
        match self.store.checkpoint() {
            Ok(signed) => self.metrics.emit(Internal::CheckpointSigned {
                size: signed.checkpoint.size,
            }),
            Err(error) => self.metrics.emit(Internal::CheckpointFailed {
                message: &error.to_string(),
            }),
        }
    }

    /// Seals full runs of the tail and, when `expire`, drops the segments
    /// past their retention (see [`crate::retention`]). Blocks.
    pub fn seal_and_expire(&self, expire: bool) {
        let before = self.store.unsealed();
        let started = Instant::now();
        match self.store.seal() {
            Ok(0) => {}
            Ok(segments) => self.metrics.emit(Internal::Sealed {
                segments,
                events: before.saturating_sub(self.store.unsealed()),
                elapsed: started.elapsed(),
            }),
            Err(error) => self.metrics.emit(Internal::SealFailed {
                message: &error.to_string(),
            }),
        }
        if expire {
            let retention = self.retention();
            let now = jiff::Timestamp::now().as_nanosecond() as i64;
            match self
                .store
                .expire_while(|segment| retention.expired(segment, now))
            {
                Ok(0) => {}
                Ok(events) => self.metrics.emit(Internal::Expired { events }),
                Err(error) => self.metrics.emit(Internal::RetentionFailed {
                    message: &error.to_string(),
                }),
            }
        }
    }

    /// The background work of a server: checkpoints and sealing, each on
    /// its own ticker (sealing takes seconds; a checkpoint is due every
    /// `period` while events arrive). Runs until the tasks are aborted.
    pub fn start_background(
        self: &Arc<Self>,
        period: Duration,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            every(
                self.settings.failed_checks_window,
                Arc::clone(self),
                Evident::record_failed_checks,
            ),
            every(period, Arc::clone(self), Evident::sign_checkpoint),
            every(
                Duration::from_secs(60),
                Arc::clone(self),
                Evident::save_key_usage,
            ),
            every(period, Arc::clone(self), move |evident| {
                evident.seal_and_expire(true)
            }),
            // Monitors follow the log closely: an alert is due within seconds.
            every(
                Duration::from_millis(100),
                Arc::clone(self),
                Evident::evaluate_monitors,
            ),
            self.start_monitor_dispatch(),
        ]
    }

    /// What a server does when it stops: seal what is complete (sparing
    /// the next start a long replay) and sign the last checkpoint.
    pub async fn finish(self: &Arc<Self>) {
        let evident = Arc::clone(self);
        let finished = tokio::task::spawn_blocking(move || {
            evident.record_failed_checks();
            evident.save_key_usage();
            evident.evaluate_monitors();
            evident.save_monitor_state();
            evident.seal_and_expire(false);
            evident.sign_checkpoint();
        });
        if let Err(error) = finished.await {
            tracing::error!(%error, "the final seal or checkpoint failed");
        }
    }
}

/// The state of the store and the importer, read at each render.
fn state_samples(store: Arc<Store>, importer: Arc<Importer>) -> impl Fn(&mut Vec<Sample>) {
    move |samples| {
        samples.extend([
            Sample {
                name: "evident_dead_letters_total",
                kind: "counter",
                help: "Imported records and files set aside in the dead-letter area since the server started.",
                value: importer.dead_letters().written(),
            },
            Sample {
                name: "evident_imported_bucket_files",
                kind: "gauge",
                help: "Files and digests from buckets imported or checked, all time.",
                value: importer.imported_files() as u64,
            },
            Sample {
                name: "evident_unsealed_events",
                kind: "gauge",
                help: "Acknowledged events waiting in memory to be sealed into a segment.",
                value: store.unsealed(),
            },
            Sample {
                name: "evident_pending_bytes",
                kind: "gauge",
                help: "Bytes of acknowledged-to-be events waiting for the disk.",
                value: store.pending_bytes() as u64,
            },
        ])
    }
}

/// Runs blocking `work` every `period`, one run at a time.
fn every(
    period: Duration,
    evident: Arc<Evident>,
    work: impl Fn(&Evident) + Clone + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let evident = Arc::clone(&evident);
            let work = work.clone();
            if let Err(error) = tokio::task::spawn_blocking(move || work(&evident)).await {
                tracing::error!(%error, "a background task failed");
            }
        }
    })
}
