//! `evident verify`: offline integrity check of a data directory.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use evident_ledger::NoteVerifier;

use crate::args::VerifyArgs;

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    if !args.data_dir.join("ledger").is_dir() {
        anyhow::bail!(
            "{} is not an evident data directory (no ledger/ inside)",
            args.data_dir.display()
        );
    }
    let verifier = args
        .public_key
        .as_deref()
        .map(NoteVerifier::parse)
        .transpose()
        .context("reading --public-key")?;
    let started = std::time::Instant::now();
    let mut last_report = std::time::Instant::now();
    let mut progress = |checked: u64| {
        if last_report.elapsed() >= std::time::Duration::from_secs(2) {
            eprintln!("... {checked} events checked ({:.0?})", started.elapsed());
            last_report = std::time::Instant::now();
        }
    };
    let report =
        evident_store::verify::verify_with_progress(&args.data_dir, verifier, &mut progress)
            .with_context(|| format!("verifying {}", args.data_dir.display()))?;
    let elapsed = started.elapsed();
    // Kept for the Integrity page; the check's answer is the exit code.
    let record =
        evident_store::verify::LastVerify::new(&report, elapsed, args.public_key.is_some());
    if let Err(error) = record.save(&args.data_dir) {
        eprintln!("warning: the result could not be kept for the server to show: {error}");
    }
    // A closed pipe (`evident verify | head`) is not a failure of the check.
    let mut out = std::io::stdout().lock();
    let rate = report.events as f64 / elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "checked {} events and {} signed checkpoints in {:.2?} ({:.0} events/s)",
        report.events, report.checkpoints, elapsed, rate
    );
    if report.expired > 0 {
        let _ = writeln!(
            out,
            "{} older events expired under retention; checked through the leaf hashes kept for them",
            report.expired
        );
    }
    if report.is_ok() {
        let _ = writeln!(
            out,
            "ok: all {} events up to the latest checkpoint are intact and in order",
            report.verified_size
        );
        if report.events > report.verified_size {
            let _ = writeln!(
                out,
                "note: {} newer events are not covered by a checkpoint yet (one is signed every second while the server runs)",
                report.events - report.verified_size
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &report.problems {
        match problem.position {
            Some(position) => {
                let _ = writeln!(out, "FAIL at position {position}: {}", problem.description);
            }
            None => {
                let _ = writeln!(out, "FAIL: {}", problem.description);
            }
        }
    }
    if let Some(position) = report.first_bad_position() {
        let _ = writeln!(out, "first bad position: {position}");
    }
    Ok(ExitCode::FAILURE)
}
