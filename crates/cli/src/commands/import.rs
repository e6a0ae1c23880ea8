//! `evident import <source> PATH...`: audit log files (local, or every log
//! file of an `s3://` bucket, each at most once) into a running server
//! (`POST /api/v1/import/<source>`, one request a file) or straight into a
//! data directory, with a progress line and a summary.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use evident_app::import::bucket::{self, BucketUrl, S3Options};
use evident_app::import::digests::{Chain, DigestReport};
use evident_app::import::{BucketPass, DeadLetters, FileSummary, ImportRequest, Provenance, files};
use evident_app::{ErrorKind, Evident};
use evident_sources::geoip::GeoIp;
use evident_sources::{Source, SourceChoice};
use object_store::ObjectMeta;

use crate::args::ImportArgs;
use crate::remote::DEFAULT_SERVER;

/// Attempts for a file while the server answers 503 (overloaded).
const ATTEMPTS: u32 = 8;

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let (urls, paths): (Vec<&String>, Vec<&String>) = args
        .paths
        .iter()
        .partition(|path| path.starts_with("s3://"));
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    let files = files::collect(&paths)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting a runtime")?;
    let options = S3Options {
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
    };
    let mut buckets = Vec::new();
    for url in urls {
        let url = BucketUrl::parse(url).map_err(anyhow::Error::msg)?;
        let store = bucket::open(&url, &options).map_err(anyhow::Error::msg)?;
        let (objects, mut digest_files) = runtime
            .block_on(bucket::all_files(store.as_ref(), &url))
            .with_context(|| format!("listing {url}"))?;
        if !args.source.includes(Source::CloudTrail) {
            digest_files.clear();
        }
        // The digests are read first: what they list marks each file's
        // events, and each is checked after the files.
        let pass = runtime
            .block_on(BucketPass::read(url, store, objects, digest_files))
            .map_err(anyhow::Error::msg)?;
        buckets.push(pass);
    }
    let total = files.len() + buckets.iter().map(|pass| pass.logs.len()).sum::<usize>();
    if total == 0 {
        bail!("no files to import under the paths given");
    }
    let destination = match &args.data_dir {
        Some(data_dir) => {
            evident_app::data_dir::prepare(data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            Destination::Local(crate::local::open(
                data_dir,
                GeoIp::open(args.geoip_city.as_deref(), args.geoip_asn.as_deref())?,
            )?)
        }
        None => Destination::remote(args.server.as_deref().unwrap_or(DEFAULT_SERVER))?,
    };
    let mut jobs: Vec<Job<'_>> = files.iter().map(Job::File).collect();
    for pass in &buckets {
        jobs.extend(pass.logs.iter().map(|object| Job::Object { pass, object }));
    }

    // Files are independent: several at a time, on every core here, or
    // enough in flight to keep a server's cores busy.
    let workers = match destination {
        Destination::Local(_) => std::thread::available_parallelism()
            .map_or(2, usize::from)
            .clamp(1, 8),
        Destination::Remote { .. } => 4,
    };
    let next = AtomicUsize::new(0);
    let shared = Mutex::new((Totals::default(), Progress::new(total)));
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let handle = runtime.handle();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else {
                        return;
                    };
                    if failure.lock().is_ok_and(|failure| failure.is_some()) {
                        return;
                    }
                    let outcome = job.run(&destination, args.source, handle);
                    let Ok(mut guard) = shared.lock() else {
                        return;
                    };
                    let (totals, progress) = &mut *guard;
                    match outcome {
                        Ok(Ok(summary)) => totals.add(&summary),
                        Ok(Err(unreadable)) => totals.unreadable.push(unreadable),
                        Err(error) => {
                            if let Ok(mut failure) = failure.lock() {
                                failure.get_or_insert(error);
                            }
                            return;
                        }
                    }
                    progress.show(totals, false);
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().ok().flatten() {
        return Err(error);
    }
    let (totals, mut progress) = shared
        .into_inner()
        .map_err(|_| anyhow::anyhow!("an import worker panicked"))?;
    progress.show(&totals, true);
    // Digests after the files they vouch for, oldest first: what they list
    // missing, a broken chain.
    let mut checks = DigestTotals::default();
    for pass in buckets {
        for (origin, bytes) in pass.digests {
            match destination.check_digest(&origin, &pass.url.bucket, bytes, handle) {
                Ok(report) => checks.add(report),
                Err(DigestFailure::Unreadable(reason)) => checks
                    .problems
                    .push(format!("unreadable digest {origin}: {reason}")),
                Err(DigestFailure::Other(error)) => return Err(error),
            }
        }
    }
    let code = totals.report(&destination, progress.started.elapsed());
    Ok(if checks.report() {
        code
    } else {
        ExitCode::from(1)
    })
}

/// One file to import.
enum Job<'a> {
    File(&'a PathBuf),
    /// A log file of a bucket, vouched for by the pass's digests.
    Object {
        pass: &'a BucketPass,
        object: &'a ObjectMeta,
    },
}

impl Job<'_> {
    /// The file's summary, `Ok(Err(reason))` when the file could not be
    /// opened, `Err` when importing must stop (the destination failed).
    fn run(
        &self,
        destination: &Destination,
        source: SourceChoice,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<Result<FileSummary, String>> {
        match self {
            Job::File(path) => {
                let name = path.display().to_string();
                match std::fs::read(path) {
                    Ok(bytes) => {
                        let request = ImportRequest {
                            source,
                            file: name,
                            origin: None,
                            bytes,
                            listed_sha256: None,
                            provenance: Provenance::Read,
                        };
                        destination.import(request, runtime).map(Ok)
                    }
                    Err(error) => Ok(Err(format!("{name}: {error}"))),
                }
            }
            Job::Object { pass, object } => {
                let request = runtime
                    .block_on(pass.request(object, source))
                    .map_err(anyhow::Error::msg)?;
                destination.import(request, runtime).map(Ok)
            }
        }
    }
}

/// Where the events go.
enum Destination {
    /// A data directory written directly.
    Local(Arc<Evident>),
    Remote {
        client: reqwest::blocking::Client,
        server: String,
        api_key: String,
    },
}

impl Destination {
    fn remote(server: &str) -> anyhow::Result<Destination> {
        let api_key = std::env::var("EVIDENT_API_KEY")
            .context("set EVIDENT_API_KEY to import into a server")?;
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .context("setting up the HTTP client")?;
        Ok(Destination::Remote {
            client,
            server: server.trim_end_matches('/').to_string(),
            api_key,
        })
    }

    /// Imports one file; with an `origin` (a bucket's file), at most once;
    /// `listed` is the SHA-256 a digest gives it.
    fn import(
        &self,
        request: ImportRequest,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<FileSummary> {
        match self {
            Destination::Local(evident) => {
                let name = request.file.clone();
                runtime
                    .block_on(evident.import_file(request))
                    .with_context(|| format!("importing {name}"))
            }
            Destination::Remote {
                client,
                server,
                api_key,
            } => {
                let ImportRequest {
                    source,
                    file: name,
                    origin,
                    bytes,
                    listed_sha256: listed,
                    ..
                } = request;
                let (name, origin, listed) = (name.as_str(), origin.as_deref(), listed.as_deref());
                let url = format!("{server}/api/v1/import/{source}");
                let mut attempt = 1;
                loop {
                    let mut query = vec![("file", name)];
                    if let Some(origin) = origin {
                        query.push(("origin", origin));
                    }
                    if let Some(listed) = listed {
                        query.push(("digest_sha256", listed));
                    }
                    let response = client
                        .post(&url)
                        .query(&query)
                        .header("DD-API-KEY", api_key.as_str())
                        .header("Content-Type", "application/octet-stream")
                        .body(bytes.clone())
                        .send()
                        .with_context(|| format!("sending {name} to {server}"))?;
                    let status = response.status();
                    if status.as_u16() == 503 && attempt < ATTEMPTS {
                        std::thread::sleep(Duration::from_millis(250 << attempt.min(5)));
                        attempt += 1;
                        continue;
                    }
                    let text = response.text().unwrap_or_default();
                    if !status.is_success() {
                        let errors = serde_json::from_str::<serde_json::Value>(&text).ok();
                        let detail = errors
                            .as_ref()
                            .and_then(|body| {
                                let first = &body["errors"][0];
                                first["detail"]
                                    .as_str()
                                    .or(first.as_str())
                                    .map(str::to_string)
                            })
                            .unwrap_or(text);
                        if status.as_u16() == 413 {
                            // That file is too large; the server set it aside, the rest goes on.
                            return Ok(FileSummary {
                                file: name.to_string(),
                                error: Some(detail),
                                dead_letters: 1,
                                too_large: true,
                                ..FileSummary::default()
                            });
                        }
                        bail!("{server} refused {name}: {status}: {detail}");
                    }
                    return serde_json::from_str(&text)
                        .with_context(|| format!("reading the answer of {server} for {name}"));
                }
            }
        }
    }

    /// Checks a CloudTrail digest; `None` when it was checked before.
    fn check_digest(
        &self,
        origin: &str,
        bucket: &str,
        bytes: Vec<u8>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Option<DigestReport>, DigestFailure> {
        match self {
            Destination::Local(evident) => {
                let checked = runtime.block_on(evident.check_digest(
                    origin.to_owned(),
                    bucket.to_owned(),
                    bytes,
                    Provenance::Read,
                ));
                match checked {
                    Err(error) if error.kind == ErrorKind::InvalidArgument => {
                        Err(DigestFailure::Unreadable(error.message))
                    }
                    other => other
                        .with_context(|| format!("checking {origin}"))
                        .map_err(DigestFailure::Other),
                }
            }
            Destination::Remote {
                client,
                server,
                api_key,
            } => {
                let response = client
                    .post(format!("{server}/api/v1/import/cloudtrail-digest"))
                    .query(&[("origin", origin), ("bucket", bucket)])
                    .header("DD-API-KEY", api_key.as_str())
                    .body(bytes)
                    .send()
                    .with_context(|| format!("sending {origin} to {server}"))
                    .map_err(DigestFailure::Other)?;
                let status = response.status();
                let answer: serde_json::Value = response
                    .json()
                    .with_context(|| format!("reading the answer of {server} for {origin}"))
                    .map_err(DigestFailure::Other)?;
                if status.as_u16() == 400 {
                    let reason = answer["errors"][0]["detail"]
                        .as_str()
                        .map_or_else(|| answer.to_string(), str::to_string);
                    return Err(DigestFailure::Unreadable(reason));
                }
                if !status.is_success() {
                    return Err(DigestFailure::Other(anyhow::anyhow!(
                        "{server} refused {origin}: {status}: {answer}"
                    )));
                }
                match answer.get("report") {
                    Some(report) => serde_json::from_value(report.clone())
                        .map(Some)
                        .map_err(|error| DigestFailure::Other(error.into())),
                    None => Ok(None),
                }
            }
        }
    }

    fn dead_letter_place(&self) -> String {
        match self {
            Destination::Local(evident) => evident.dead_letters().1.display().to_string(),
            Destination::Remote { server, .. } => {
                format!(
                    "{}/dead-letters.jsonl in the data directory of {server}",
                    DeadLetters::DIR
                )
            }
        }
    }
}

#[derive(Debug, Default)]
struct Totals {
    files: usize,
    records: usize,
    imported: usize,
    dead_letters: usize,
    /// Files that could not be read at all (bad gzip, ...): dead-lettered.
    bad_files: Vec<String>,
    /// Files this command could not open.
    unreadable: Vec<String>,
    /// Bucket files imported before, skipped.
    already_imported: usize,
}

impl Totals {
    fn add(&mut self, summary: &FileSummary) {
        self.files += 1;
        if summary.already_imported {
            self.already_imported += 1;
        }
        self.records += summary.records;
        self.imported += summary.imported;
        self.dead_letters += summary.dead_letters;
        if let Some(error) = &summary.error {
            self.bad_files.push(format!("{}: {error}", summary.file));
        }
    }

    fn report(&self, destination: &Destination, elapsed: Duration) -> ExitCode {
        let seconds = elapsed.as_secs_f64().max(1e-3);
        println!(
            "imported {} of {} records from {} files in {:.1} s ({:.0} records/s); {} dead letters",
            self.imported,
            self.records,
            self.files,
            seconds,
            self.imported as f64 / seconds,
            self.dead_letters
        );
        if self.already_imported > 0 {
            println!(
                "{} files were imported before and skipped",
                self.already_imported
            );
        }
        for problem in self.bad_files.iter().chain(&self.unreadable).take(20) {
            eprintln!("  {problem}");
        }
        if self.dead_letters > 0 {
            eprintln!(
                "dead letters, with their reasons: {}",
                destination.dead_letter_place()
            );
        }
        if self.dead_letters > 0 || !self.unreadable.is_empty() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Why a digest was not checked.
enum DigestFailure {
    /// The file is no digest (set aside; the import goes on).
    Unreadable(String),
    /// The destination failed (the import stops).
    Other(anyhow::Error),
}

/// What the digests of the buckets said.
#[derive(Debug, Default)]
struct DigestTotals {
    checked: usize,
    verified: usize,
    problems: Vec<String>,
}

impl DigestTotals {
    fn add(&mut self, report: Option<DigestReport>) {
        let Some(report) = report else {
            return;
        };
        self.checked += 1;
        self.verified += report.verified;
        for file in &report.mismatched {
            self.problems.push(format!(
                "altered (hash differs from {}): {file}",
                report.digest
            ));
        }
        for file in &report.missing {
            self.problems
                .push(format!("missing (listed in {}): {file}", report.digest));
        }
        if report.chain == Chain::Broken {
            self.problems
                .push(format!("digest chain broken before {}", report.digest));
        }
    }

    /// Prints the summary; whether everything verified.
    fn report(&self) -> bool {
        if self.checked == 0 {
            return true;
        }
        println!(
            "CloudTrail digests: {} checked, {} files verified, {} problems",
            self.checked,
            self.verified,
            self.problems.len()
        );
        for problem in self.problems.iter().take(50) {
            eprintln!("  {problem}");
        }
        self.problems.is_empty()
    }
}

/// One line on standard error: redrawn in place on a terminal, else at
/// most once every 5 s.
struct Progress {
    files: usize,
    started: Instant,
    shown: Option<Instant>,
    terminal: bool,
}

impl Progress {
    fn new(files: usize) -> Progress {
        let mut progress = Progress {
            files,
            started: Instant::now(),
            shown: None,
            terminal: std::io::stderr().is_terminal(),
        };
        // Off a terminal, a short import prints only its summary.
        if !progress.terminal {
            progress.shown = Some(progress.started);
        }
        progress
    }

    fn show(&mut self, totals: &Totals, last: bool) {
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        if !last && self.shown.is_some_and(|shown| shown.elapsed() < every) {
            return;
        }
        self.shown = Some(Instant::now());
        let line = format!(
            "{}/{} files, {} records, {} dead letters",
            totals.files + totals.unreadable.len(),
            self.files,
            totals.imported,
            totals.dead_letters
        );
        let mut stderr = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(stderr, "\r{line}{}", if last { "\n" } else { "" })
        } else if !last {
            writeln!(stderr, "{line}")
        } else {
            Ok(())
        };
    }
}
