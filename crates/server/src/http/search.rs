//! `POST /api/v2/{logs,audit}/events/search` and `GET /api/v2/{logs,audit}/events`
//! in Datadog's request and response shapes, with cursor pagination.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evident_model::Timestamp;
use evident_query::{Order, SortKey, Window};
use evident_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::{JsonBody, QueryError, SharedState};
use evident_model::parse_time;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Logs,
    Audit,
}

impl Flavor {
    fn of(audit: bool) -> Flavor {
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

impl SearchRequest {
    fn from_query(params: &HashMap<String, String>) -> Result<SearchRequest, QueryError> {
        let limit = params
            .get("page[limit]")
            .map(|limit| {
                limit
                    .parse::<i64>()
                    .map_err(|_| QueryError::bad_request("page[limit] must be a number"))
            })
            .transpose()?;
        Ok(SearchRequest {
            query: params.get("filter[query]").cloned().unwrap_or_default(),
            from: params
                .get("filter[from]")
                .cloned()
                .unwrap_or_else(|| "now-15m".into()),
            to: params
                .get("filter[to]")
                .cloned()
                .unwrap_or_else(|| "now".into()),
            sort: params
                .get("sort")
                .cloned()
                .unwrap_or_else(|| "-timestamp".into()),
            cursor: params.get("page[cursor]").cloned(),
            limit,
        })
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

/// `POST .../events/search`; `AUDIT` picks the Audit Trail shape over Logs.
pub async fn search_post<const AUDIT: bool>(
    State(state): State<SharedState>,
    body: Option<JsonBody<SearchBody>>,
) -> Response {
    let request = body.map(|JsonBody(body)| body).unwrap_or_default().into();
    respond(state, Ok(request), Flavor::of(AUDIT)).await
}

/// `GET .../events`, the query-string form.
pub async fn search_get<const AUDIT: bool>(
    State(state): State<SharedState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(state, SearchRequest::from_query(&params), Flavor::of(AUDIT)).await
}

async fn respond(
    state: SharedState,
    request: Result<SearchRequest, QueryError>,
    flavor: Flavor,
) -> Response {
    let result = async {
        let request = request?;
        let started = std::time::Instant::now();
        let page = tokio::task::spawn_blocking(move || search_page(&state.store, &request, flavor))
            .await
            .map_err(|error| QueryError::internal(format!("search task failed: {error}")))??;
        Ok::<_, QueryError>((page, started.elapsed()))
    }
    .await;
    match result {
        Ok((mut page, elapsed)) => {
            page.meta.elapsed = Some(elapsed.as_millis() as u64);
            Json(page).into_response()
        }
        Err(error) => error.into_response(),
    }
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

/// One page of results in Datadog's response shape. The HTTP handlers and
/// `evident search --data-dir` share it.
pub fn search_page(
    store: &Store,
    request: &SearchRequest,
    flavor: Flavor,
) -> Result<SearchResponse, QueryError> {
    let query = evident_search::parse(&request.query)
        .map_err(|error| QueryError::bad_request(format!("invalid query: {error}")))?;
    if query.stats.is_some() {
        return Err(QueryError::bad_request(
            "a '| stats' pipe aggregates: send it to POST /api/v2/logs/analytics/aggregate",
        ));
    }
    let descending = match request.sort.as_str() {
        "-timestamp" => true,
        "timestamp" => false,
        other => {
            return Err(QueryError::bad_request(format!(
                "invalid sort {other:?}: use timestamp or -timestamp"
            )));
        }
    };
    let limit = match request.limit {
        None => DEFAULT_LIMIT,
        Some(limit) if (1..=MAX_LIMIT as i64).contains(&limit) => limit as usize,
        Some(_) => {
            return Err(QueryError::bad_request(format!(
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
    .map_err(|error| QueryError::internal(format!("search failed: {error}")))?;
    let data = page
        .hits
        .iter()
        .map(|(key, raw)| {
            super::hit::render(raw, flavor).map_err(|error| {
                QueryError::internal(format!("event {} does not parse: {error}", key.position))
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
pub(super) fn resolve_window(from: &str, to: &str) -> Result<(Timestamp, Timestamp), QueryError> {
    let now = Timestamp::now();
    let from = parse_time(from, now)
        .map_err(|error| QueryError::bad_request(format!("invalid filter.from: {error}")))?;
    let to = parse_time(to, now)
        .map_err(|error| QueryError::bad_request(format!("invalid filter.to: {error}")))?;
    if from > to {
        return Err(QueryError::bad_request("filter.from is after filter.to"));
    }
    Ok((from, to))
}

/// `[from, to]` as the store's half-open window: Datadog's `to` is
/// inclusive.
pub(super) fn window(from: Timestamp, to: Timestamp) -> Window {
    Window {
        from: from.as_nanos(),
        to: to.as_nanos().saturating_add(1),
    }
}

fn decode_cursor(cursor: &str, search_digest: &str) -> Result<Cursor, QueryError> {
    let invalid = || {
        QueryError::bad_request(
            "invalid page cursor: pass meta.page.after of the previous page unchanged",
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| invalid())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor.search != search_digest {
        return Err(QueryError::bad_request(
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
