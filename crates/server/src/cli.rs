//! Command-line arguments.

use clap::{Args, Parser, Subcommand};

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
    /// Test a search query against events read from standard input.
    ///
    /// Reads one event per line (JSON in the stored-event shape: message,
    /// host, service, status, source, trace_id, timestamp, tags, attributes)
    /// and prints `true` or `false` for each. A query ending in
    /// `| stats ...` prints one JSON object per group instead. A query that
    /// does not parse exits with code 2 and the position of the error.
    #[command(name = "match")]
    Match(MatchArgs),
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
