//! `evident match`: the reference matcher on the command line.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use evident_model::Event;

use crate::args::MatchArgs;

/// Exit code for a query that does not parse.
const EXIT_BAD_QUERY: u8 = 2;

pub fn run(args: &MatchArgs) -> anyhow::Result<ExitCode> {
    let query = match evident_search::parse(&args.query) {
        Ok(query) => query,
        Err(error) => {
            eprintln!("error: invalid query: {error}");
            eprintln!("  {}", args.query);
            eprintln!("  {}^", " ".repeat(error.column.saturating_sub(1)));
            return Ok(ExitCode::from(EXIT_BAD_QUERY));
        }
    };
    if args.explain {
        print!("{}", evident_search::explain(&query));
        return Ok(ExitCode::SUCCESS);
    }

    let stdin = io::stdin().lock();
    let mut stdout = BufWriter::new(io::stdout().lock());
    let mut bad_lines = 0usize;
    let mut aggregator = query.stats.as_ref().map(evident_search::Aggregator::new);
    // Lines are read as bytes so that one line of invalid UTF-8 is reported
    // like any other bad event instead of ending the run.
    for (index, line) in stdin.split(b'\n').enumerate() {
        let line_number = index + 1;
        let line = line.with_context(|| format!("reading line {line_number} of standard input"))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let verdict = match serde_json::from_slice::<Event>(line) {
            Ok(event) => {
                let matched = evident_search::matches(&query.filter, &event);
                if let Some(aggregator) = aggregator.as_mut() {
                    if matched {
                        aggregator.add(&event);
                    }
                    continue;
                }
                if matched { "true" } else { "false" }
            }
            Err(error) => {
                // Keep one output line per event line so the output stays
                // aligned with the input.
                eprintln!("error: line {line_number}: invalid event: {error}");
                bad_lines += 1;
                if aggregator.is_some() {
                    continue;
                }
                "error"
            }
        };
        if let Err(error) = writeln!(stdout, "{verdict}") {
            return broken_pipe_is_success(error);
        }
    }
    if let (Some(aggregator), Some(stats)) = (aggregator, &query.stats) {
        let rows = match aggregator.finish() {
            Ok(rows) => rows,
            Err(bound) => {
                eprintln!("error: {bound}");
                return Ok(ExitCode::FAILURE);
            }
        };
        for row in rows {
            if let Err(error) = writeln!(stdout, "{}", stats_row_json(stats, &row)) {
                return broken_pipe_is_success(error);
            }
        }
    }
    if let Err(error) = stdout.flush() {
        return broken_pipe_is_success(error);
    }
    Ok(if bad_lines == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One JSON object per group, keys in query order: the `by` fields, then
/// the aggregations (named by their alias or as written).
fn stats_row_json(stats: &evident_search::Stats, row: &evident_search::StatsRow) -> String {
    let group_names = stats.group_by.iter().map(ToString::to_string);
    let value_names = stats
        .aggregations
        .iter()
        .map(|aggregation| match &aggregation.alias {
            Some(alias) => alias.clone(),
            None => evident_search::ast::Aggregation {
                alias: None,
                ..aggregation.clone()
            }
            .to_string(),
        });
    let entries: Vec<String> = group_names
        .chain(value_names)
        .zip(row.group.iter().chain(&row.values))
        .map(|(name, value)| format!("{}:{value}", serde_json::Value::String(name)))
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// `evident match ... | head` closing the pipe early is not a failure.
fn broken_pipe_is_success(error: io::Error) -> anyhow::Result<ExitCode> {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return Ok(ExitCode::SUCCESS);
    }
    Err(error).context("writing to standard output")
}
