//! The endpoints. Each reads what it needs off the async workers (store, index and identity
//! reads take milliseconds to seconds; async code must not block) and answers JSON: on the
//! blocking pool, or for searches in place ([`in_place`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use schedules::{SourceStatus, SyncKind, TriggerOutcome};
use serde::{Deserialize, Serialize};
use sync_core::{Engine, RunMode, RunReport, RunState, SearchOptions};

use super::error::{ApiError, ApiPath, ApiQuery, Code};
use super::metrics::{self, Scrape, SourceGauges};
use super::{ApiState, OPENAPI, reads};
use crate::acl::{Explanation, split_doc};
use crate::config::Config;
use crate::rows::{self, SourceRow};

/// Most hits one search returns: tantivy sizes its top-k heap by the limit, so an unbounded
/// one is a way to make the daemon allocate at will.
pub(super) const MAX_LIMIT: usize = 1000;

/// The largest request body read: a trigger's `{"mode": "full"}` is all any route takes.
pub(super) const MAX_BODY: usize = 16 * 1024;

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("request task failed: {e}")))?
}

/// Searches running right now on an async worker without handing it over (see [`in_place`]).
static ON_WORKER: Claims = Claims(AtomicUsize::new(0));

/// A count of searches running on async workers as they are.
struct Claims(AtomicUsize);

/// A claim on running one search on this async worker as it is; released on drop.
struct Claim<'a>(&'a Claims);

impl Claims {
    /// A claim if fewer than `workers - 1` searches hold one, so that at least one worker
    /// always stays free for other requests, timers and the scheduler; none with one worker.
    fn claim(&self, workers: usize) -> Option<Claim<'_>> {
        let most = workers.saturating_sub(1);
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < most).then_some(n + 1)
            })
            .ok()
            .map(|_| Claim(self))
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `f`, which may block for milliseconds but is usually done in a fraction of one (a
/// search), on this thread, on a multi-threaded runtime such as the daemon's; on another
/// runtime, which cannot spare a worker, on the blocking pool.
///
/// Most searches run on the worker as it is: no thread wakes for them (ADR 0020; a wake-up
/// costs as much as a cheap search on a VM whose idle cores halt). At most `workers - 1` at
/// a time do, so that a slow search (a frequent word at 1M chunks: 5–10 ms) never stalls the
/// whole runtime; any other one first hands the worker's other tasks to another thread
/// (`block_in_place`), which costs that wake-up but keeps every search in flight on a thread
/// of its own, for the OS to share the cores among.
async fn in_place<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let runtime = tokio::runtime::Handle::current();
    if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return blocking(f).await;
    }
    match ON_WORKER.claim(runtime.metrics().num_workers()) {
        Some(_claim) => f(),
        None => tokio::task::block_in_place(f),
    }
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError::internal(&e)
}

/// The engine on the data folder, read-only; `None` where nothing was synced yet (looking
/// must not create the folder).
fn read_only_engine(config: &Config) -> Result<Option<Engine>, ApiError> {
    if !config.data_dir.exists() {
        return Ok(None);
    }
    Engine::open_read_only(&config.data_dir)
        .map(Some)
        .map_err(|e| internal(e.into()))
}

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

pub(super) async fn readyz(
    State(state): State<ApiState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.control().ready() {
        Ok(Json(serde_json::json!({"status": "ready"})))
    } else {
        Err(ApiError::unavailable(
            "the daemon is not ready: starting, or shutting down",
        ))
    }
}

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found("no such route (see /v1/openapi.json)")
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        "this route does not take that method (see /v1/openapi.json)",
    )
}

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub(super) async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let config = state.control().config();
    let statuses = state.control().statuses();
    let scrape = {
        let state = state.clone();
        blocking(move || scrape(&state, &config, &statuses)).await?
    };
    let body = state.metrics().encode(&scrape);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response())
}

/// The gauges of one scrape: the scheduler's view, and the store and index on disk.
pub(super) fn scrape(
    state: &ApiState,
    config: &Config,
    statuses: &[SourceStatus],
) -> Result<Scrape, ApiError> {
    let counts = state.reads().document_counts(config)?;
    let engine = read_only_engine(config)?;
    let runs = match &engine {
        Some(engine) => engine.store().runs().map_err(|e| internal(e.into()))?,
        None => Vec::new(),
    };
    let mut sources = Vec::with_capacity(config.sources.len());
    for s in &config.sources {
        let status = statuses.iter().find(|st| st.source == s.id);
        let pending_retries = match &engine {
            Some(engine) => engine
                .store()
                .retries(&s.id)
                .map_err(|e| internal(e.into()))?
                .len() as u64,
            None => 0,
        };
        sources.push(SourceGauges {
            source: s.id.clone(),
            healthy: status.map(|st| st.health == schedules::Health::Healthy),
            consecutive_failures: status.map_or(0, |st| st.consecutive_failures),
            pending_retries,
            last_document_success: last_success(&runs, &s.id, false),
            last_identity_success: last_success(&runs, &s.id, true),
            documents: counts.get(&s.id).copied().unwrap_or(0),
        });
    }
    let running: Vec<_> = statuses.iter().filter_map(|s| s.running.as_ref()).collect();
    Ok(Scrape {
        sources,
        running_runs: running.len() as u64,
        stalled_runs: running.iter().filter(|r| r.stalled).count() as u64,
        index_size_bytes: reads::dir_size(&config.data_dir.join("index")),
        store_size_bytes: std::fs::metadata(config.data_dir.join(sync_core::store::STORE_FILE))
            .map_or(0, |m| m.len()),
    })
}

/// When the newest successful run of `source` ended, as a Unix time: identity syncs that
/// succeeded, or document runs that completed their listing (`partial` counts: a document
/// that keeps failing must not make the source look stale forever).
pub(super) fn last_success(runs: &[RunReport], source: &str, identities: bool) -> Option<f64> {
    runs.iter()
        .rev()
        .filter(|r| r.source == source && (r.mode == RunMode::Identities) == identities)
        .find(|r| match r.state {
            RunState::Succeeded => true,
            RunState::Partial => !identities,
            _ => false,
        })
        .and_then(|r| r.finished_at)
        .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
}

/// A configured source: its id, type, documents, retries and newest run, and the scheduler's
/// status of it (`null` when the scheduler does not have it, as between a reload and its
/// pickup).
#[derive(Debug, Serialize)]
pub(super) struct SourceView {
    #[serde(flatten)]
    row: SourceRow,
    schedule: Option<SourceStatus>,
}

pub(super) async fn sources(
    State(state): State<ApiState>,
) -> Result<Json<Vec<SourceView>>, ApiError> {
    let config = state.control().config();
    let mut statuses: BTreeMap<String, SourceStatus> = state
        .control()
        .statuses()
        .into_iter()
        .map(|s| (s.source.clone(), s))
        .collect();
    let rows = blocking(move || {
        let counts = state.reads().document_counts(&config)?;
        let engine = read_only_engine(&config)?;
        rows::source_rows(&config, &counts, engine.as_ref().map(Engine::store)).map_err(internal)
    })
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|row| SourceView {
                schedule: statuses.remove(&row.id),
                row,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunsQuery {
    source: Option<String>,
    last: Option<usize>,
}

pub(super) async fn runs(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<Vec<RunReport>>, ApiError> {
    let config = state.control().config();
    let runs =
        blocking(move || rows::run_rows(&config, q.source.as_deref(), q.last).map_err(internal))
            .await?;
    Ok(Json(runs))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModeQuery {
    mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    mode: Option<String>,
}

/// `mode` from the query or the JSON body (they must agree when both are given); `content`
/// when neither gives one.
fn trigger_mode(query: Option<String>, body: &[u8]) -> Result<SyncKind, ApiError> {
    let body_mode = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<TriggerBody>(body)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))?
            .mode
    };
    let mode = match (query, body_mode) {
        (Some(q), Some(b)) if q != b => {
            return Err(ApiError::bad_request(format!(
                "mode {q:?} in the query and {b:?} in the body: give one"
            )));
        }
        (q, b) => q.or(b),
    };
    match mode {
        None => Ok(SyncKind::Content),
        Some(m) => m
            .parse()
            .map_err(|e: schedules::UnknownSyncKind| ApiError::bad_request(e.to_string())),
    }
}

pub(super) async fn trigger(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ModeQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Too large (over `MAX_BODY`) or cut off: axum's answer would be plain text.
    let body = body.map_err(|e| ApiError::bad_request(format!("body: {}", e.body_text())))?;
    let kind = trigger_mode(q.mode, &body)?;
    let outcome = state.control().trigger(&id, kind);
    let as_json = || serde_json::to_value(outcome).ok();
    match outcome {
        TriggerOutcome::Queued => {
            let mut body = as_json().unwrap_or_default();
            if let Some(o) = body.as_object_mut() {
                o.insert("source".into(), id.into());
                o.insert("mode".into(), kind.name().into());
            }
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
        TriggerOutcome::Busy { running } => Err(ApiError {
            outcome: as_json(),
            ..ApiError::new(
                Code::Conflict,
                format!(
                    "source {id:?} is running a {running} sync: the {kind} run is queued and starts after it"
                ),
            )
        }),
        TriggerOutcome::KindOff => Err(ApiError {
            outcome: as_json(),
            ..ApiError::new(
                Code::Conflict,
                format!("the {kind} sync of source {id:?} is off: turn it on in its schedule"),
            )
        }),
        TriggerOutcome::UnknownSource => Err(ApiError::not_found(format!("no source {id:?}"))),
        TriggerOutcome::ShuttingDown => Err(ApiError::unavailable(
            "the daemon is shutting down and starts no more runs",
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchQuery {
    q: Option<String>,
    #[serde(rename = "as")]
    user: Option<String>,
    limit: Option<usize>,
    all: Option<bool>,
    snippets: Option<bool>,
}

/// `as`, present and not blank.
fn required_user(user: Option<String>) -> Result<String, ApiError> {
    user.filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request("`as` is required: the user (an email address) to search as")
    })
}

pub(super) async fn search(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    let user = required_user(q.user)?;
    let all = q.all.unwrap_or(false);
    let limit = q.limit.unwrap_or(10);
    if limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is over {MAX_LIMIT}"
        )));
    }
    if all && q.snippets.is_some() {
        return Err(ApiError::bad_request(
            "`snippets` applies to a search with `q`, not to `all=true`",
        ));
    }
    let query = match (q.q, all) {
        (Some(_), true) => {
            return Err(ApiError::bad_request("give `q` or `all=true`, not both"));
        }
        (None, false) => {
            return Err(ApiError::bad_request(
                "give `q`, or `all=true` to list every document the user may see",
            ));
        }
        (q, _) => q,
    };
    let options = SearchOptions {
        snippets: q.snippets.unwrap_or(true),
    };
    let config = state.control().config();
    match query {
        Some(query) => {
            in_place(move || {
                let index = state.reads().index(&config)?;
                let principals = state.reads().principals(&config, &user)?;
                let rows = rows::search_rows_of(&index, &principals, &query, limit, options)
                    .map_err(internal)?;
                Ok(Json(rows).into_response())
            })
            .await
        }
        // Every document the user may see: seconds on a large index, for the blocking pool.
        None => {
            blocking(move || {
                let index = state.reads().index(&config)?;
                let identities = state.reads().identities(&config)?;
                let rows = rows::visible_rows(&index, &identities, &user).map_err(internal)?;
                Ok(Json(rows).into_response())
            })
            .await
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExplainQuery {
    #[serde(rename = "as")]
    user: Option<String>,
    doc: Option<String>,
}

pub(super) async fn acl_explain(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<ExplainQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = required_user(q.user)?;
    let doc = q.doc.unwrap_or_default();
    let Some((source, doc_id)) = split_doc(&doc) else {
        return Err(ApiError::bad_request(
            "`doc` takes SOURCE:DOC_ID (for example sample:public/handbook.md)",
        ));
    };
    let (source, doc_id) = (source.to_string(), doc_id.to_string());
    let config: Arc<Config> = state.control().config();
    blocking(move || {
        let index = state.reads().index(&config)?;
        let acl = index
            .document_acl(&source, &doc_id)
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no document {doc_id:?} of source {source:?} in the index"
                ))
            })?;
        let identities = state.reads().identities(&config)?;
        Ok(Json(
            Explanation::new(&identities, &user, &source, &doc_id, acl).to_json(),
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_always_stays_free_of_searches() {
        let claims = Claims(AtomicUsize::new(0));
        assert!(claims.claim(1).is_none(), "one worker: never run on it");
        let first = claims.claim(2).expect("two workers: one search may");
        assert!(claims.claim(2).is_none(), "but not a second one");
        let second = claims.claim(4).expect("four workers: three may");
        let third = claims.claim(4).expect("four workers: three may");
        assert!(claims.claim(4).is_none());
        drop(first);
        assert!(claims.claim(2).is_none(), "two still run");
        drop((second, third));
        assert!(claims.claim(2).is_some(), "a released claim is free again");
        assert_eq!(claims.0.load(Ordering::Acquire), 0, "and released on drop");
    }
}
