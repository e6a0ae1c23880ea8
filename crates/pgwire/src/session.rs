//! Statements about the connection rather than the events, which drivers
//! and BI tools send around their queries: transactions, `SET`, `SHOW`,
//! `DISCARD`. They are answered here, without the SQL engine, and are not
//! recorded as queries.
//!
//! Everything is read-only, so a transaction is only a frame the client
//! keeps: `BEGIN` and `COMMIT` are acknowledged, settings are ignored, and
//! `SHOW` reports the fixed values the server announced at login.

use std::sync::Arc;

use futures::stream;
use pgwire::api::Type;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

/// The answer to `statement` when it is a session statement, else `None`.
pub fn answer(statement: &str) -> Option<PgWireResult<Response>> {
    let words: Vec<String> = statement
        .split_whitespace()
        .map(|word| word.to_ascii_lowercase())
        .collect();
    let first = words.first()?.as_str();
    let response = match first {
        "begin" | "start" => Response::TransactionStart(Tag::new("BEGIN")),
        "commit" | "end" => Response::TransactionEnd(Tag::new("COMMIT")),
        "rollback" | "abort" => Response::TransactionEnd(Tag::new("ROLLBACK")),
        "set" | "reset" => Response::Execution(Tag::new(&first.to_ascii_uppercase())),
        "discard" => Response::Execution(Tag::new("DISCARD ALL")),
        "show" => return Some(show(&words[1..].join(" "))),
        _ => return None,
    };
    Some(Ok(response))
}

/// The columns of `statement` when it is a session statement, else `None`.
pub fn describe(statement: &str) -> Option<Vec<FieldInfo>> {
    match answer(statement)? {
        Ok(Response::Query(query)) => Some(query.row_schema().as_ref().clone()),
        _ => Some(Vec::new()),
    }
}

fn show(setting: &str) -> PgWireResult<Response> {
    let setting = setting.trim_end_matches(';').trim();
    let (column, value) = match setting {
        "transaction isolation level" | "transaction_isolation" => {
            ("transaction_isolation", "read committed")
        }
        "transaction_read_only" | "default_transaction_read_only" => (setting, "on"),
        "time zone" | "timezone" => ("TimeZone", "UTC"),
        "search_path" => ("search_path", "public"),
        "client_encoding" | "server_encoding" => (setting, "UTF8"),
        "datestyle" => ("DateStyle", "ISO, MDY"),
        "intervalstyle" => ("IntervalStyle", "postgres"),
        "standard_conforming_strings" | "integer_datetimes" => (setting, "on"),
        "max_identifier_length" => ("max_identifier_length", "63"),
        "server_version" => ("server_version", "16.6"),
        "server_version_num" => ("server_version_num", "160006"),
        "lc_collate" | "lc_ctype" => (setting, "C.UTF-8"),
        _ => {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "42704".into(),
                format!("unrecognized configuration parameter \"{setting}\""),
            ))));
        }
    };
    let fields = Arc::new(vec![FieldInfo::new(
        column.into(),
        None,
        None,
        Type::TEXT,
        FieldFormat::Text,
    )]);
    let mut encoder = DataRowEncoder::new(Arc::clone(&fields));
    encoder.encode_field(&value)?;
    let row = encoder.take_row();
    Ok(Response::Query(QueryResponse::new(
        fields,
        stream::iter([Ok(row)]),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_and_settings_are_acknowledged() {
        for (statement, tag) in [
            ("BEGIN", "BEGIN"),
            ("start transaction read only", "BEGIN"),
            ("COMMIT", "COMMIT"),
            ("rollback", "ROLLBACK"),
            ("SET extra_float_digits = 3", "SET"),
        ] {
            let response = answer(statement).and_then(Result::ok);
            let found = match response {
                Some(
                    Response::TransactionStart(found)
                    | Response::TransactionEnd(found)
                    | Response::Execution(found),
                ) => found,
                _ => panic!("{statement}: no tag"),
            };
            assert_eq!(found, Tag::new(tag), "{statement}");
        }
    }

    #[test]
    fn show_answers_known_settings_and_refuses_others() {
        let fields = describe("SHOW TRANSACTION ISOLATION LEVEL").unwrap_or_default();
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].name(), "transaction_isolation");
        assert!(matches!(answer("show nonsense"), Some(Err(_))));
        assert!(answer("SELECT 1").is_none());
    }
}
