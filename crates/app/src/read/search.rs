//! A page of search results in Datadog's request and response shapes
//! (`POST /api/v2/{logs,audit}/events/search`), with cursor pagination.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evident_model::Timestamp;
use evident_query::{Order, SortKey, Window};
use evident_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use evident_model::parse_time;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Logs,
    Audit,
}

impl Flavor {
    pub fn of(audit: bool) -> Flavor {
        if audit { Flavor::Audit } else { Flavor::Logs }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchBody {
    #[serde(default)]
    filter: FilterBody,
    #[serde(default)]
    page: PageBody,
    sort: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct FilterBody {
    query: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PageBody {
    cursor: Option<String>,
    limit: Option<i64>,
}

/// A search request, whichever way it came in.
#[derive(Debug)]
pub struct SearchRequest {
    pub query: String,
    pub from: String,
    pub to: String,
    pub sort: String,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl From<SearchBody> for SearchRequest {
    fn from(body: SearchBody) -> SearchRequest {
        SearchRequest {
            query: body.filter.query.unwrap_or_default(),
            from: body.filter.from.unwrap_or_else(|| "now-15m".into()),
            to: body.filter.to.unwrap_or_else(|| "now".into()),
            sort: body.sort.unwrap_or_else(|| "-timestamp".into()),
            cursor: body.page.cursor,
            limit: body.page.limit,
        }
    }
}

/// Where the previous page stopped, and which search it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    time: i64,
    tiebreaker: i64,
    /// Position in the log: the last part of the sort key.
    sequence: u64,
    /// Digest of the query, bounds as written and sort.
    search: String,
    /// The bounds the first page resolved (`now` moves; pages must not).
    from: i64,
    to: i64,
}

/// A page of hits in Datadog's response shape (keys in sorted order).
#[derive(Debug, Serialize)]
pub struct SearchResponse {
    pub data: Vec<Box<RawValue>>,
    pub meta: SearchMeta,
}

#[derive(Debug, Serialize)]
pub struct SearchMeta {
    /// Milliseconds the search took, set by the HTTP handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<PageMeta>,
    pub request_id: String,
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct PageMeta {
    /// The cursor of the next page.
    pub after: String,
}

/// One page of results in Datadog's response shape. Blocks (it reads
/// segments): [`crate::Evident::search_page`] runs it off the async threads.
pub(crate) fn search_page(
    store: &Store,
    request: &SearchRequest,
    flavor: Flavor,
) -> Result<SearchResponse, AppError> {
    let query = evident_search::parse(&request.query)
        .map_err(|error| AppError::invalid(format!("invalid query: {error}")))?;
    if query.stats.is_some() {
        return Err(AppError::invalid(
            "a '| stats' pipe aggregates: send it to POST /api/v2/logs/analytics/aggregate",
        ));
    }
    let descending = match request.sort.as_str() {
        "-timestamp" => true,
        "timestamp" => false,
        other => {
            return Err(AppError::invalid(format!(
                "invalid sort {other:?}: use timestamp or -timestamp"
            )));
        }
    };
    let limit = match request.limit {
        None => DEFAULT_LIMIT,
        Some(limit) if (1..=MAX_LIMIT as i64).contains(&limit) => limit as usize,
        Some(_) => {
            return Err(AppError::invalid(format!(
                "page limit must be between 1 and {MAX_LIMIT}"
            )));
        }
    };
    let search_digest = {
        let digest = Sha256::digest(format!(
            "{}\n{}\n{}\n{}",
            request.query, request.from, request.to, request.sort
        ));
        digest[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    let after = request
        .cursor
        .as_deref()
        .filter(|cursor| !cursor.is_empty())
        .map(|cursor| decode_cursor(cursor, &search_digest))
        .transpose()?;
    let (from, to) = match &after {
        Some(cursor) => (
            Timestamp::from_nanos(cursor.from),
            Timestamp::from_nanos(cursor.to),
        ),
        None => resolve_window(&request.from, &request.to)?,
    };

    let order = if descending {
        Order::NewestFirst
    } else {
        Order::OldestFirst
    };
    let page = evident_query::search(
        store,
        &query.filter,
        window(from, to),
        order,
        after
            .as_ref()
            .map(|cursor| SortKey::new(cursor.time, cursor.tiebreaker, cursor.sequence)),
        limit,
    )
    .map_err(|error| AppError::internal(format!("search failed: {error}")))?;
    let data = page
        .hits
        .iter()
        .map(|(key, raw)| {
            super::hit::render(raw, flavor).map_err(|error| {
                AppError::internal(format!("event {} does not parse: {error}", key.position))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut response = SearchResponse {
        data,
        meta: SearchMeta {
            elapsed: None,
            page: None,
            request_id: search_digest.clone(),
            status: "done",
        },
    };
    if page.more
        && let Some(&(last, _)) = page.hits.last()
    {
        let cursor = Cursor {
            time: last.time,
            tiebreaker: last.tiebreaker,
            sequence: last.position,
            search: search_digest,
            from: from.as_nanos(),
            to: to.as_nanos(),
        };
        let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default());
        response.meta.page = Some(PageMeta { after: encoded });
    }
    Ok(response)
}

/// `from` and `to` as the APIs take them (`now-15m`, ISO 8601, epoch ms),
/// resolved against one `now`.
pub(crate) fn resolve_window(from: &str, to: &str) -> Result<(Timestamp, Timestamp), AppError> {
    let now = Timestamp::now();
    let from = parse_time(from, now)
        .map_err(|error| AppError::invalid(format!("invalid filter.from: {error}")))?;
    let to = parse_time(to, now)
        .map_err(|error| AppError::invalid(format!("invalid filter.to: {error}")))?;
    if from > to {
        return Err(AppError::invalid("filter.from is after filter.to"));
    }
    Ok((from, to))
}

/// `[from, to]` as the store's half-open window: Datadog's `to` is
/// inclusive.
pub(crate) fn window(from: Timestamp, to: Timestamp) -> Window {
    Window {
        from: from.as_nanos(),
        to: to.as_nanos().saturating_add(1),
    }
}

fn decode_cursor(cursor: &str, search_digest: &str) -> Result<Cursor, AppError> {
    let invalid = || {
        AppError::invalid(
            "invalid page cursor: pass meta.page.after of the previous page unchanged",
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| invalid())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor.search != search_digest {
        return Err(AppError::invalid(
            "the page cursor belongs to a different query or time range",
        ));
    }
    Ok(cursor)
}

/// Datadog's millisecond timestamps: `2022-04-13T09:21:13.750Z`.
pub fn format_time(timestamp: Timestamp) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(timestamp.as_nanos()))
        .map(|instant| instant.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}
