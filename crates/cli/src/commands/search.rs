//! `evident search`: the search API from the command line.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use evident_app::Actor;
use evident_app::read::{Flavor, SearchRequest};
use serde_json::{Value, json};

use crate::args::SearchArgs;
use crate::remote::{self, DEFAULT_SERVER};

const PAGE: usize = 1000;

pub fn run(args: &SearchArgs) -> anyhow::Result<ExitCode> {
    let sort = if args.ascending {
        "timestamp"
    } else {
        "-timestamp"
    };
    let mut events: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let local = match &args.data_dir {
        Some(data_dir) => Some((
            crate::local::open(data_dir, None)?,
            crate::local::runtime()?,
        )),
        None => None,
    };
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let http = reqwest::blocking::Client::new();
    while events.len() < args.limit {
        let limit = (args.limit - events.len()).min(PAGE);
        let page = match &local {
            Some((evident, runtime)) => {
                let request = SearchRequest {
                    query: args.query.clone(),
                    from: args.from.clone(),
                    to: args.to.clone(),
                    sort: sort.to_string(),
                    cursor: cursor.clone(),
                    limit: Some(limit as i64),
                };
                let actor = Actor::cli(&std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
                match runtime.block_on(evident.search_page(&actor, request, Flavor::Logs)) {
                    Ok(mut page) => {
                        // Timings are the server's business.
                        page.meta.elapsed = None;
                        serde_json::to_value(page).context("rendering a page of results")?
                    }
                    Err(error) => {
                        eprintln!("error: {}", error.message);
                        return Ok(ExitCode::from(2));
                    }
                }
            }
            None => {
                let mut body = json!({"filter": {"query": args.query, "from": args.from, "to": args.to}, "sort": sort, "page": {"limit": limit}});
                if let Some(cursor) = &cursor {
                    body["page"]["cursor"] = json!(cursor);
                }
                match remote::post(&http, &server, "/api/v2/logs/events/search", &body)? {
                    Ok(page) => page,
                    Err(message) => {
                        eprintln!("error: {message}");
                        return Ok(ExitCode::from(2));
                    }
                }
            }
        };
        let data = page["data"].as_array().cloned().unwrap_or_default();
        let done = data.is_empty();
        events.extend(data);
        match page["meta"]["page"]["after"].as_str() {
            Some(after) if !done => cursor = Some(after.to_string()),
            _ => break,
        }
    }
    print_events(&events, args.json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_events(events: &[Value], as_json: bool) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = if as_json {
        events.iter().try_for_each(|event| writeln!(out, "{event}"))
    } else {
        write_table(&mut out, events)
    };
    match result.and_then(|()| out.flush()) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

fn write_table(out: &mut impl Write, events: &[Value]) -> io::Result<()> {
    let text = |value: &Value| {
        value.as_str().map_or_else(
            || {
                if value.is_null() {
                    String::new()
                } else {
                    value.to_string()
                }
            },
            str::to_string,
        )
    };
    let rows: Vec<[String; 5]> = events
        .iter()
        .map(|event| {
            let attributes = &event["attributes"];
            let custom = &attributes["attributes"];
            let mut message = text(&attributes["message"]).replace('\n', " ");
            if message.chars().count() > 80 {
                message = message.chars().take(77).collect::<String>() + "...";
            }
            [
                text(&attributes["timestamp"]),
                text(&attributes["service"]),
                text(&custom["usr"]["email"]),
                text(&custom["evt"]["name"]),
                message,
            ]
        })
        .collect();
    let headers = ["TIMESTAMP", "SERVICE", "USER", "EVENT", "MESSAGE"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(index, (cell, width))| {
                if index == 4 {
                    cell.to_string()
                } else {
                    format!("{cell:width$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(headers))?;
    for row in &rows {
        writeln!(
            out,
            "{}",
            line([&row[0], &row[1], &row[2], &row[3], &row[4]])
        )?;
    }
    writeln!(
        out,
        "{} event{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    )
}
