//! `evident sql`: a SQL statement against a running server (`POST
//! /api/v1/sql`) or directly on a data directory.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use evident_app::Actor;
use evident_app::sql_output::{append_json_rows, columns_json, csv_line, table};
use evident_model::Timestamp;
use evident_query::sql::SqlContext;
use futures::TryStreamExt;
use serde_json::{Map, Value, json};

use crate::args::SqlArgs;
use crate::remote::{self, DEFAULT_SERVER};

/// Column names and rows, whichever way they were computed.
struct Answer {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Answer {
    /// From the API's shape: `{"columns": [{"name", "type"}], "rows": [[...]]}`.
    fn from_json(answer: &Value) -> Answer {
        let list = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
        Answer {
            columns: list("columns")
                .iter()
                .map(|column| column["name"].as_str().unwrap_or_default().to_string())
                .collect(),
            rows: list("rows")
                .into_iter()
                .map(|row| match row {
                    Value::Array(cells) => cells,
                    _ => Vec::new(),
                })
                .collect(),
        }
    }
}

pub fn run(args: &SqlArgs) -> anyhow::Result<ExitCode> {
    let answer = match &args.data_dir {
        Some(data_dir) => local(args, data_dir),
        None => remote(args),
    }?;
    let answer = match answer {
        Ok(answer) => answer,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = print(&mut out, args, &answer).and_then(|()| out.flush());
    match result {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn print(out: &mut impl Write, args: &SqlArgs, answer: &Answer) -> io::Result<()> {
    if args.json {
        for row in &answer.rows {
            let object: Map<String, Value> = answer
                .columns
                .iter()
                .cloned()
                .zip(row.iter().cloned())
                .collect();
            writeln!(out, "{}", Value::Object(object))?;
        }
        Ok(())
    } else if args.csv {
        let header: Vec<Value> = answer.columns.iter().map(|name| json!(name)).collect();
        write!(out, "{}", csv_line(&header))?;
        answer
            .rows
            .iter()
            .try_for_each(|row| write!(out, "{}", csv_line(row)))
    } else {
        write!(out, "{}", table(&answer.columns, &answer.rows))
    }
}

/// `Err(message)` inside: the statement's own error, to show as is.
fn local(args: &SqlArgs, data_dir: &std::path::Path) -> anyhow::Result<Result<Answer, String>> {
    let context =
        match SqlContext::bounded(Timestamp::now(), args.from.as_deref(), args.to.as_deref()) {
            Ok(context) => context,
            Err(message) => return Ok(Err(message)),
        };
    let evident = crate::local::open(data_dir, None)?;
    let actor = Actor::cli(&std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let runtime = crate::local::runtime()?;
    let result = runtime.block_on(async {
        let answer = evident.sql(&actor, &args.statement, &[], context).await?;
        let batches: Vec<_> = answer.rows.try_collect().await?;
        Ok::<_, evident_app::AppError>((answer.schema, batches))
    });
    let (schema, batches) = match result {
        Ok(answer) => answer,
        Err(error) if error.kind.is_callers() => return Ok(Err(error.message)),
        Err(error) => return Err(error.into()),
    };
    let mut encoded = b"[".to_vec();
    let mut first = true;
    for batch in &batches {
        append_json_rows(batch, &mut encoded, &mut first).context("rendering rows")?;
    }
    encoded.push(b']');
    let rows: Value = serde_json::from_slice(&encoded).context("rendering rows")?;
    Ok(Ok(Answer::from_json(
        &json!({"columns": columns_json(&schema), "rows": rows}),
    )))
}

fn remote(args: &SqlArgs) -> anyhow::Result<Result<Answer, String>> {
    let server = args.server.as_deref().unwrap_or(DEFAULT_SERVER);
    let body = json!({"query": args.statement, "from": args.from, "to": args.to});
    let answer = remote::post(
        &reqwest::blocking::Client::new(),
        server,
        "/api/v1/sql",
        &body,
    )?;
    Ok(answer.map(|answer| Answer::from_json(&answer)))
}
