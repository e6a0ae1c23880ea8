//! The `evident` binary: one executable for every role.
//!
//! `main` only parses the command line and hands over to the command;
//! each command returns the process exit code.

use std::process::ExitCode;

use clap::Parser;
use evident::cli::{Cli, Command};
use evident_cli::commands;

// Ingest and sealing allocate many short-lived strings across threads;
// glibc's allocator spent a tenth of the time returning and re-faulting
// pages under that load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Match(args) => commands::match_events::run(&args),
        Command::Serve(args) => evident::serve::run(&args),
        Command::Verify(args) => commands::verify::run(&args),
        Command::Search(args) => commands::search::run(&args),
        Command::Sql(args) => commands::sql::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Gateway(args) => evident::gateway::run(&args),
        Command::Replay(args) => commands::replay::run(&args),
        Command::Users(args) => commands::access::users(&args),
        Command::Keys(args) => commands::access::keys(&args),
        Command::Monitor(args) => commands::monitor::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
