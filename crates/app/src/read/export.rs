//! Export (`GET /api/v1/export?query=&from=&to=&format=csv|json&columns=`): every
//! event a query matches, newest first, streamed page by page (no cap), as
//! CSV with the chosen columns or as one JSON array of hits in the search
//! API's shape. The window is fixed when the export starts, so a long
//! export does not drift with `now`.

use std::collections::HashMap;
use std::sync::Arc;

use evident_model::{Timestamp, parse_time};
use futures::Stream;
use futures::stream;
use serde_json::Value;

use super::search::{Flavor, SearchRequest, format_time};
use crate::Evident;
use crate::activity::ReadActivity;
use crate::actor::Actor;
use crate::error::AppError;
use crate::sql_output::{csv_field, csv_name};

/// Columns of a CSV export when none are asked for (the explorer's).
const DEFAULT_COLUMNS: [&str; 9] = [
    "id",
    "timestamp",
    "user",
    "@evt.name",
    "@action",
    "asset",
    "@network.client.ip",
    "status",
    "message",
];
const PAGE: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// An export about to stream.
pub struct Export {
    /// `text/csv; charset=utf-8` or `application/json`.
    pub content_type: &'static str,
    /// The name to save it under.
    pub file_name: String,
    /// The export's bytes, a page at a time; an error ends it.
    pub chunks: std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>, std::io::Error>> + Send>>,
    query: String,
    from: String,
    to: String,
}

impl Export {
    /// The export as a read, with how many events it gave when done.
    pub(crate) fn read(&self, results: Option<u64>) -> ReadActivity<'_> {
        ReadActivity {
            kind: "export",
            query: &self.query,
            from: Some(&self.from),
            to: Some(&self.to),
            results,
        }
    }
}

impl std::fmt::Debug for Export {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Export")
            .field("content_type", &self.content_type)
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

struct Pages {
    evident: Arc<Evident>,
    actor: Actor,
    format: Format,
    columns: Arc<Vec<String>>,
    query: String,
    from: String,
    to: String,
    cursor: Option<String>,
    started: bool,
    written: u64,
    done: bool,
}

/// The export `params` ask for, checked before anything streams.
pub(crate) fn start(
    evident: Arc<Evident>,
    actor: Actor,
    params: &HashMap<String, String>,
) -> Result<Export, AppError> {
    let format = match params.get("format").map(String::as_str) {
        None | Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(other) => {
            return Err(AppError::invalid(format!(
                "invalid format {other:?}: use csv or json"
            )));
        }
    };
    let query = params.get("query").cloned().unwrap_or_default();
    evident_search::parse(&query)
        .map_err(|error| AppError::invalid(format!("invalid query: {error}")))?;
    let now = Timestamp::now();
    let bound = |name: &str, default: &str| -> Result<String, AppError> {
        let text = params.get(name).map_or(default, String::as_str);
        parse_time(text, now)
            .map(format_time)
            .map_err(|error| AppError::invalid(format!("invalid {name}: {error}")))
    };
    let columns: Vec<String> = match params.get("columns") {
        Some(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|column| column.trim().to_owned())
            .filter(|column| !column.is_empty())
            .collect(),
        _ => DEFAULT_COLUMNS
            .iter()
            .map(|column| (*column).to_owned())
            .collect(),
    };
    let (from, to) = (bound("from", "now-15m")?, bound("to", "now")?);
    let pages = Pages {
        evident,
        actor,
        format,
        columns: Arc::new(columns),
        query: query.clone(),
        from: from.clone(),
        to: to.clone(),
        cursor: None,
        started: false,
        written: 0,
        done: false,
    };
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    Ok(Export {
        content_type,
        file_name: format!(
            "evident-export-{}.{extension}",
            now.as_nanos() / 1_000_000_000
        ),
        chunks: Box::pin(stream::unfold(pages, next_chunk)),
        query,
        from,
        to,
    })
}

/// The next piece of the export: the header, a page of events, the end.
async fn next_chunk(mut export: Pages) -> Option<(Result<Vec<u8>, std::io::Error>, Pages)> {
    if export.done {
        return None;
    }
    let mut out = Vec::new();
    if !export.started {
        export.started = true;
        match export.format {
            Format::Csv => {
                let names: Vec<String> = export
                    .columns
                    .iter()
                    .map(|column| csv_name(column))
                    .collect();
                csv_record(&mut out, names.iter().map(String::as_str));
            }
            Format::Json => out.extend_from_slice(b"["),
        }
    }
    let request = SearchRequest {
        query: export.query.clone(),
        from: export.from.clone(),
        to: export.to.clone(),
        sort: "-timestamp".to_owned(),
        cursor: export.cursor.take(),
        limit: Some(PAGE),
    };
    let page = match export
        .evident
        .search_page_unrecorded(request, Flavor::Logs)
        .await
    {
        Ok(page) => page,
        Err(error) => {
            tracing::warn!(error = %error.message, "export stopped");
            export.done = true;
            return Some((Err(std::io::Error::other(error.message)), export));
        }
    };
    for hit in &page.data {
        match export.format {
            Format::Json => {
                if export.written > 0 {
                    out.push(b',');
                }
                out.push(b'\n');
                out.extend_from_slice(hit.get().as_bytes());
            }
            Format::Csv => {
                let hit: Value = serde_json::from_str(hit.get()).unwrap_or(Value::Null);
                let values: Vec<String> = export
                    .columns
                    .iter()
                    .map(|column| cell(&hit, column))
                    .collect();
                csv_line(&mut out, values.iter().map(String::as_str));
            }
        }
        export.written += 1;
    }
    export.cursor = page.meta.page.map(|page| page.after);
    if export.cursor.is_none() || page.data.is_empty() {
        export.done = true;
        // The whole export, with its count, recorded before its end.
        let read = ReadActivity {
            kind: "export",
            query: &export.query,
            from: Some(&export.from),
            to: Some(&export.to),
            results: Some(export.written),
        };
        let record = export.evident.start_read_record(&export.actor, &read);
        if let Err(error) = export.evident.finish_read_record(record).await {
            return Some((Err(std::io::Error::other(error.message)), export));
        }
        if export.format == Format::Json {
            out.extend_from_slice(b"\n]\n");
        }
    }
    Some((Ok(out), export))
}

/// The first of `paths` (`@` paths) the hit holds a value at.
fn first_of<'h>(hit: &'h Value, paths: &[&str]) -> Option<&'h Value> {
    paths
        .iter()
        .filter_map(|path| attribute(hit, path))
        .find(|value| !value.is_null())
}

fn attribute<'h>(hit: &'h Value, path: &str) -> Option<&'h Value> {
    path.split('.')
        .try_fold(&hit["attributes"]["attributes"], |value, part| {
            value.get(part)
        })
}

/// A hit's value for a column: `id`, the reserved fields, an `@path` in
/// the attributes, or a derived column: `user` (`@usr.email`, else
/// `@usr.name`, else `@usr.id`) and `asset` (`@asset.name`, else
/// `@asset.type/@asset.id`); objects and arrays as JSON.
fn cell(hit: &Value, column: &str) -> String {
    if column == "asset" && first_of(hit, &["asset.name"]).is_none() {
        let parts: Vec<String> = ["asset.type", "asset.id"]
            .iter()
            .filter_map(|path| first_of(hit, &[path]))
            .map(|value| text_of(Some(value)))
            .collect();
        return parts.join("/");
    }
    let value = match column {
        "user" => first_of(hit, &["usr.email", "usr.name", "usr.id"]),
        "asset" => first_of(hit, &["asset.name"]),
        "id" => hit.get("id"),
        _ if column.starts_with('@') => attribute(hit, &column[1..]),
        _ => hit["attributes"]
            .get(column)
            .or_else(|| hit["attributes"]["attributes"].get(column)),
    };
    text_of(value)
}

/// A value as a CSV cell's text.
fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// One CSV record of cells, ended by CRLF as RFC 4180 has it.
fn csv_line<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = &'a str>) {
    let cells: Vec<String> = fields.map(csv_field).collect();
    csv_record(out, cells.iter().map(String::as_str));
}

/// Fields already written as CSV, joined into a record.
fn csv_record<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = &'a str>) {
    for (index, field) in fields.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_and_csv_quoting() {
        let hit = json!({"id": "e1", "attributes": {"status": "info", "tags": ["a:b", "c"],
            "attributes": {"usr": {"email": "a@b.co"}, "n": 3, "note": "say \"hi\", twice"}}});
        assert_eq!(cell(&hit, "id"), "e1");
        assert_eq!(cell(&hit, "status"), "info");
        assert_eq!(cell(&hit, "@usr.email"), "a@b.co");
        assert_eq!(cell(&hit, "@n"), "3");
        assert_eq!(cell(&hit, "@missing.path"), "");
        assert_eq!(cell(&hit, "tags"), "a:b,c");
        assert_eq!(cell(&hit, "user"), "a@b.co");
        assert_eq!(cell(&hit, "asset"), "");
        let actor = json!({"id": "e2", "attributes": {"attributes": {
            "usr": {"name": "octocat", "id": "42"}, "asset": {"type": "repository", "id": "r1"}}}});
        assert_eq!(cell(&actor, "user"), "octocat");
        assert_eq!(cell(&actor, "asset"), "repository/r1");
        let only_id = json!({"attributes": {"attributes": {"usr": {"id": "arn:aws:iam::1:user/x"}, "asset": {"name": "key-1", "type": "api_key"}}}});
        assert_eq!(cell(&only_id, "user"), "arn:aws:iam::1:user/x");
        assert_eq!(cell(&only_id, "asset"), "key-1");
        let mut out = Vec::new();
        csv_line(
            &mut out,
            [cell(&hit, "@note").as_str(), "plain", "two\nlines"].into_iter(),
        );
        assert_eq!(out, b"\"say \"\"hi\"\", twice\",plain,\"two\nlines\"\r\n");
    }
}
