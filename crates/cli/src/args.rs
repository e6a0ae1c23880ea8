//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use evident_sources::SourceChoice;

#[derive(Debug, Parser)]
#[command(
    name = "evident",
    version,
    about = "A self-hosted, tamper-evident audit trail"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: Datadog-compatible intake, search and integrity APIs.
    ///
    /// Needs no configuration: data goes to ./evident-data and the server
    /// listens on 127.0.0.1:8844. On first start it prints an API key (to
    /// send events) and an application key (to read them), unless
    /// EVIDENT_API_KEY / EVIDENT_APP_KEY provide them.
    Serve(Box<ServeArgs>),
    /// Check offline that no stored event was altered, removed or reordered.
    ///
    /// Re-hashes every stored event and checks every signed checkpoint.
    /// Exits 0 when everything verifies, 1 with the problems and the first
    /// bad position otherwise.
    Verify(VerifyArgs),
    /// Search events, on a running server or directly in a data directory.
    ///
    /// Prints a table (or JSON lines with --json), newest first. Against a
    /// server, keys come from EVIDENT_API_KEY and EVIDENT_APP_KEY.
    Search(SearchArgs),
    /// Run a read-only SQL statement over the audit events.
    ///
    /// Events are a table through Datadog's dd.audit function:
    ///
    ///   evident sql "SELECT email, count(*) FROM dd.audit(columns => ARRAY['@usr.email'],
    ///     filter => '@evt.name:api_key') AS (email VARCHAR) GROUP BY email"
    ///
    /// Prints a table (or JSON lines with --json, CSV with --csv). Against a
    /// server, keys come from EVIDENT_API_KEY and EVIDENT_APP_KEY. Every
    /// statement run is recorded as an audit event.
    Sql(SqlArgs),
    /// Import audit log files: cloudtrail, gcp, azure, okta, github, kubernetes, or auto.
    ///
    ///   evident import cloudtrail ./AWSLogs      (into the server on 127.0.0.1:8844)
    ///
    ///   evident import cloudtrail trail.json.gz --data-dir ./evident-data
    ///
    /// Reads files and directories of them: JSON, JSON lines, CloudTrail's
    /// {"Records": [...]}, gzip'ed or not. Each record is normalized to the
    /// dd.audit fields, its original kept under the source's namespace
    /// (@aws.cloudtrail, @gcp.audit, ...; see docs/sources.md). Records that cannot be read or normalized go to
    /// the dead-letter area of the data directory with their reason; the
    /// import goes on and exits 1 if there were any. Against a server, the
    /// API key comes from EVIDENT_API_KEY.
    Import(ImportArgs),
    /// Test a search query against events read from standard input.
    ///
    /// Reads one event per line (JSON in the stored-event shape: message,
    /// host, service, status, source, trace_id, timestamp, tags, attributes)
    /// and prints `true` or `false` for each. A query ending in
    /// `| stats ...` prints one JSON object per group instead. A query that
    /// does not parse exits with code 2 and the position of the error.
    #[command(name = "match")]
    Match(MatchArgs),
    /// Run the audit gateway: a reverse proxy that authenticates callers
    /// (agents, users) by OIDC token, forwards their calls with credentials
    /// they never see, and records every request and response in evident.
    ///
    ///   evident gateway --config gateway.toml
    ///
    /// See docs/gateway.md for the configuration file.
    Gateway(GatewayArgs),
    /// Send a recorded gateway session again to another upstream and show
    /// how the answers differ from the recording.
    ///
    ///   evident replay tok-1a2b3c4d5e6f7a8b --target http://sandbox:8080
    ///
    /// Exits 0 when every answer matches (status and body), 1 when some
    /// differ. Recordings are read from the server with EVIDENT_API_KEY and
    /// EVIDENT_APP_KEY.
    Replay(ReplayArgs),
    /// Manage evident's users, on a running server (an Admin's keys in
    /// EVIDENT_API_KEY / EVIDENT_APP_KEY) or on a stopped data directory
    /// (bootstrap, or recovery of a lost Admin).
    ///
    ///   evident users create --email ana@example.com --role "Read Only"
    ///
    ///   evident users list --data-dir ./evident-data
    Users(UsersArgs),
    /// Manage API and application keys, on a running server or a stopped
    /// data directory.
    ///
    ///   evident keys create --user ana@example.com --kind application
    ///
    /// A key is printed once; only its hash is kept.
    Keys(KeysArgs),
    /// Monitors on a running server: alerts on the audit trail.
    ///
    ///   evident monitor create --name 'Spike in blocked decisions' \
    ///       --query 'audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 10' \
    ///       --message 'Blocked decisions spiking {{value}} @slack-secops'
    ///   evident monitor list
    Monitor(MonitorArgs),
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The server (default http://127.0.0.1:8844); keys from
    /// EVIDENT_API_KEY and EVIDENT_APP_KEY.
    #[arg(long, env = "EVIDENT_SERVER", global = true)]
    pub server: Option<String>,
    #[command(subcommand)]
    pub action: MonitorAction,
}

#[derive(Debug, Subcommand)]
pub enum MonitorAction {
    /// Every monitor: id, name, type, state (OK / Warn / Alert / No Data,
    /// muted), last triggered.
    List {
        /// Only monitors whose name contains this.
        #[arg(long)]
        name: Option<String>,
        /// Only monitors with all these tags (comma-separated).
        #[arg(long)]
        tags: Option<String>,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One monitor, as JSON, with its groups' states.
    Show { id: i64 },
    /// A new monitor (see the README for the query forms).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        query: String,
        /// The notification: {{value}}, {{#is_alert}}…{{/is_alert}}, @handles.
        #[arg(long, default_value = "")]
        message: String,
        /// A tag (repeat for more).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// 1 (highest) to 5.
        #[arg(long)]
        priority: Option<i64>,
        /// A warning threshold, before the critical one.
        #[arg(long)]
        warning: Option<f64>,
        /// Remind every this many minutes while not OK.
        #[arg(long)]
        renotify_interval: Option<u64>,
        /// Seconds to wait for late events before judging a window.
        #[arg(long)]
        evaluation_delay: Option<u64>,
        /// Minutes without events before a group is No Data.
        #[arg(long)]
        no_data_timeframe: Option<u64>,
    },
    /// Deletes a monitor.
    Delete { id: i64 },
    /// Mutes a monitor, or one group (`--scope usr.email:bob@example.com`).
    Mute {
        id: i64,
        #[arg(long)]
        scope: Option<String>,
        /// When the mute ends (epoch seconds); none: until unmuted.
        #[arg(long)]
        end: Option<i64>,
    },
    /// Ends a mute (every scope with --all).
    Unmute {
        id: i64,
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

/// Where `users` and `keys` work: a running server (the default) or a
/// stopped data directory.
#[derive(Debug, Clone, Args)]
pub struct Place {
    /// A running server (default http://127.0.0.1:8844).
    #[arg(
        long,
        env = "EVIDENT_SERVER",
        conflicts_with = "data_dir",
        global = true
    )]
    pub server: Option<String>,

    /// A stopped data directory instead (no server may be using it).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(flatten)]
    pub place: Place,
    #[command(subcommand)]
    pub action: UsersAction,
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Every user: id, email, name, status, roles.
    List,
    /// A new active user.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        /// A role's name or id (Admin, Standard, Read Only, or a custom
        /// role); repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Disable a user (by id or email): their keys stop working.
    Disable { user: String },
    /// Enable a disabled user again.
    Enable { user: String },
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub place: Place,
    #[command(subcommand)]
    pub action: KeysAction,
}

/// How `serve` records reads (see `--audit-reads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadAuditArg {
    /// Unrecorded.
    #[value(alias = "false")]
    Off,
    /// Written to the log before the answer, durable a fsync later.
    #[value(alias = "true")]
    Written,
    /// Durable before the answer.
    Durable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyKindArg {
    /// Sends events (DD-API-KEY).
    Api,
    /// Acts as its user (DD-APPLICATION-KEY).
    Application,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Every key: id, kind, last four characters, owner, last use, name.
    List,
    /// A new key, printed once.
    Create {
        /// The user an application key acts as (id or email); on a server,
        /// the caller by default.
        #[arg(long)]
        user: Option<String>,
        #[arg(long, value_enum, default_value = "application")]
        kind: KeyKindArg,
        #[arg(long, default_value = "")]
        name: String,
        /// Narrow an application key to this permission (repeat for
        /// several); by default it may do what its user may.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Revoke (delete) a key by its id.
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// The configuration file (TOML).
    #[arg(long, env = "EVIDENT_GATEWAY_CONFIG")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The session id (`@gateway.session_id` of the recorded calls).
    pub session: String,

    /// The upstream to send the calls to, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub target: String,

    /// A header added to every call (the sandbox's credentials), as
    /// NAME=env:VAR or NAME=file:PATH. Repeat for several.
    #[arg(long = "header", value_name = "NAME=SECRET")]
    pub headers: Vec<String>,

    /// The evident server holding the recordings.
    #[arg(long, env = "EVIDENT_SERVER", default_value = "http://127.0.0.1:8844")]
    pub server: String,

    /// How far back to look for the session's calls.
    #[arg(long, default_value = "now-30d")]
    pub from: String,

    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MatchArgs {
    /// The query, in the Datadog search syntax. It may start with '-'
    /// (`-@action:deleted`).
    #[arg(allow_hyphen_values = true)]
    pub query: String,

    /// Print the parsed tree instead of reading events.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where events, the ledger and keys are kept.
    #[arg(long, env = "EVIDENT_DATA_DIR", default_value = "evident-data")]
    pub data_dir: PathBuf,

    /// Address to listen on.
    #[arg(long, env = "EVIDENT_LISTEN", default_value = "127.0.0.1:8844")]
    pub listen: SocketAddr,

    /// Also speak the PostgreSQL wire protocol here (e.g. 127.0.0.1:5433),
    /// for psql and BI tools: any user name, the application key as the
    /// password (sent in clear text: keep it on loopback or a trusted network).
    #[arg(long, env = "EVIDENT_PG_LISTEN")]
    pub pg_listen: Option<SocketAddr>,

    /// Refuse new batches (503, Retry-After) while more than this many
    /// bytes wait for the disk.
    #[arg(long, default_value_t = 256 << 20)]
    pub max_pending_bytes: usize,

    /// Refuse new batches (503, Retry-After) while more than this many
    /// acknowledged events wait in memory to be sealed: when ingest outruns
    /// sealing, senders slow down instead of memory running out.
    #[arg(long, env = "EVIDENT_MAX_UNSEALED_EVENTS", default_value_t = 500_000)]
    pub max_unsealed_events: u64,

    /// Events per sealed segment (a Parquet file and its term index):
    /// fewer make more, smaller files; until that many arrive, events stay
    /// in the write-ahead log and memory.
    #[arg(long, env = "EVIDENT_SEAL_ROWS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub seal_rows: u64,

    /// Keep events this many days after they arrived (0: forever), until
    /// retention is set through the API or the UI (then `retention.json`
    /// in the data directory rules, per source as well). Whole sealed
    /// segments are dropped; the ledger keeps their hashes, so what
    /// remains still verifies.
    #[arg(long, env = "EVIDENT_RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,

    /// An S3 bucket CloudTrail delivers to (s3://bucket[/prefix]), read as
    /// it fills: AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz,
    /// every file imported exactly once. Repeat for several buckets.
    /// Credentials come from the AWS_* variables.
    #[arg(
        long = "cloudtrail-bucket",
        env = "EVIDENT_CLOUDTRAIL_BUCKETS",
        value_delimiter = ','
    )]
    pub cloudtrail_buckets: Vec<String>,

    /// The buckets' region (else AWS_REGION / AWS_DEFAULT_REGION).
    #[arg(long)]
    pub aws_region: Option<String>,

    /// Another S3 API than AWS's (MinIO, a test server), e.g. http://127.0.0.1:9000.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,

    /// Seconds between two listings of each bucket.
    #[arg(long, default_value_t = 60)]
    pub bucket_poll_seconds: u64,

    /// MaxMind-format City database (GeoIP2 / GeoLite2 City .mmdb): events
    /// with a public @network.client.ip get @network.client.geoip.* at ingest.
    #[arg(long, env = "EVIDENT_GEOIP_CITY")]
    pub geoip_city: Option<PathBuf>,

    /// MaxMind-format ASN database (GeoLite2 ASN .mmdb): adds
    /// @network.client.geoip.as.{number,name,route}.
    #[arg(long, env = "EVIDENT_GEOIP_ASN")]
    pub geoip_asn: Option<PathBuf>,

    /// Also run the audit gateway of this configuration file (see
    /// `evident gateway`).
    #[arg(long, env = "EVIDENT_GATEWAY_CONFIG")]
    pub gateway_config: Option<PathBuf>,

    /// A PEM certificate chain: with --tls-key, the HTTP API and the
    /// PostgreSQL listener speak TLS (and the PostgreSQL listener refuses
    /// logins without it).
    #[arg(long, env = "EVIDENT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "EVIDENT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Memory (MiB) that decoding request bodies (intake and import) may
    /// take at once; requests wait up to 5 s for room, then get 503.
    #[arg(long, env = "EVIDENT_DECODE_MEMORY_MIB", default_value_t = 1024)]
    pub decode_memory_mib: usize,

    /// Record every read (search, aggregation, export, live tail, proof)
    /// as an audit event (`@evt.name:audit_logs_query`) before answering
    /// it: `written` (the default; also `true`) to the log, durable a fsync
    /// later; `durable` before the answer, as changes and SQL statements
    /// are; `off` (also `false`) unrecorded. A read that cannot be recorded
    /// (a full disk) is refused.
    #[arg(long, env = "EVIDENT_AUDIT_READS", value_enum, default_value_t = ReadAuditArg::Written)]
    pub audit_reads: ReadAuditArg,

    /// Failed key checks are recorded once per this many seconds, one
    /// event per key fingerprint and client address.
    #[arg(long, default_value_t = 60, hide = true)]
    pub failed_key_window_seconds: u64,

    /// The SMTP server of email notifications (`@alice@example.com` in a
    /// monitor's message): `smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://user:pass@host:465`.
    #[arg(long, env = "EVIDENT_SMTP_URL", requires = "smtp_from")]
    pub smtp_url: Option<String>,

    /// The From address of email notifications.
    #[arg(long, env = "EVIDENT_SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// Single sign-on for the web UI: an OpenID Connect client
    /// configuration (TOML; see docs/sign-in.md).
    #[arg(long, env = "EVIDENT_SSO_CONFIG")]
    pub sso_config: Option<PathBuf>,

    /// A web UI session unused this many seconds ends.
    #[arg(long, env = "EVIDENT_UI_IDLE_TIMEOUT_SECONDS", default_value_t = 1800)]
    pub ui_idle_timeout_seconds: u64,

    /// A web UI session ends this many seconds after sign-in, used or not.
    #[arg(long, env = "EVIDENT_UI_SESSION_MAX_SECONDS", default_value_t = 43_200)]
    pub ui_session_max_seconds: u64,

    /// Memory (MiB) the SQL statements running at once may hold in sorts,
    /// aggregates and joins; past it a statement fails.
    #[arg(long, env = "EVIDENT_SQL_MEMORY_MIB", default_value_t = 1024)]
    pub sql_memory_mib: usize,

    /// Seconds a SQL statement may run (planning and every row).
    #[arg(long, env = "EVIDENT_SQL_TIMEOUT_SECONDS", default_value_t = 60)]
    pub sql_timeout_seconds: u64,

    /// SQL statements running at once; more wait up to 10 s, then are
    /// refused as busy.
    #[arg(long, env = "EVIDENT_SQL_CONCURRENCY", default_value_t = 4)]
    pub sql_concurrency: usize,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data directory to check.
    #[arg(long, env = "EVIDENT_DATA_DIR", default_value = "evident-data")]
    pub data_dir: PathBuf,

    /// The public key to trust (`<name>+<hash>+<key>`, as served by
    /// /api/v1/integrity/checkpoint); by default the data directory's own.
    #[arg(long)]
    pub public_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query, in the Datadog search syntax ('*' for everything).
    #[arg(allow_hyphen_values = true, default_value = "*")]
    pub query: String,

    /// Start of the time range: now-15m, now-1h, now-7d, ISO 8601 or epoch ms.
    #[arg(long, default_value = "now-15m")]
    pub from: String,

    /// End of the time range.
    #[arg(long, default_value = "now")]
    pub to: String,

    /// At most this many events.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,

    /// Oldest first instead of newest first.
    #[arg(long)]
    pub ascending: bool,

    /// Print one JSON object per event instead of a table.
    #[arg(long)]
    pub json: bool,

    /// A running server to ask.
    #[arg(long, env = "EVIDENT_SERVER", conflicts_with = "data_dir")]
    pub server: Option<String>,

    /// Read a data directory directly (no server may be using it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The kind of log: cloudtrail, gcp, azure, okta, github, kubernetes,
    /// or auto (each record's source recognized on its own).
    #[arg(value_parser = parse_source)]
    pub source: SourceChoice,

    /// Files or directories to import, or S3 buckets (s3://bucket[/prefix]:
    /// every .json.gz / .json under it, each at most once).
    #[arg(required = true)]
    pub paths: Vec<String>,

    /// The region of s3:// buckets (else AWS_REGION / AWS_DEFAULT_REGION).
    #[arg(long)]
    pub region: Option<String>,

    /// Another S3 API than AWS's (MinIO, a test server).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// The running server to import into (default http://127.0.0.1:8844).
    #[arg(long, env = "EVIDENT_SERVER", conflicts_with = "data_dir")]
    pub server: Option<String>,

    /// Write into a data directory directly (no server may be using it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,

    /// MaxMind-format City database (GeoIP2 / GeoLite2 City .mmdb): events
    /// with a public @network.client.ip get @network.client.geoip.* (with
    /// --data-dir; a server enriches with its own databases).
    #[arg(long, env = "EVIDENT_GEOIP_CITY")]
    pub geoip_city: Option<PathBuf>,

    /// MaxMind-format ASN database (GeoLite2 ASN .mmdb): adds
    /// @network.client.geoip.as.{number,name,route}.
    #[arg(long, env = "EVIDENT_GEOIP_ASN")]
    pub geoip_asn: Option<PathBuf>,
}

fn parse_source(name: &str) -> Result<SourceChoice, String> {
    name.parse()
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The statement: SELECT ... FROM dd.audit(columns => ARRAY[...], ...) AS (...).
    pub statement: String,

    /// The window of dd.audit calls that give no time bounds (default:
    /// every retained event): now-1h, ISO 8601 or epoch ms.
    #[arg(long)]
    pub from: Option<String>,

    /// End of that window.
    #[arg(long)]
    pub to: Option<String>,

    /// Print one JSON object per row instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,

    /// Print CSV with a header line instead of a table.
    #[arg(long)]
    pub csv: bool,

    /// A running server to ask.
    #[arg(long, env = "EVIDENT_SERVER", conflicts_with = "data_dir")]
    pub server: Option<String>,

    /// Read a data directory directly (no server may be using it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}
