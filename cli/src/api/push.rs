//! The push routes (ADR 0026): start a job of a `type = "push"` source, put and delete
//! documents in it, finish it, and read its state and report.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiState;
use super::error::{ApiError, ApiPath, Code};
use crate::push::wire::{self, Refusal, RefusalKind};
use crate::push::{JobView, Jobs, Mode, PushError};

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::UnknownSource(id) => ApiError::not_found(format!("no source {id:?}")),
            PushError::NotPush { source, kind } => ApiError::new(
                Code::Conflict,
                format!(
                    "source {source:?} is a {kind} source: only push sources (type = \"push\") take jobs"
                ),
            ),
            PushError::UnknownJob { source, job } => {
                ApiError::not_found(format!("no job {job:?} of source {source:?}"))
            }
            PushError::Busy { source, job } => ApiError::new(
                Code::Conflict,
                format!("source {source:?} has an open job {job}: finish it, or let it expire"),
            ),
            PushError::NotOpen { job, state } => ApiError::new(
                Code::Conflict,
                format!(
                    "job {job} is {}: it takes no more requests (start a new one)",
                    serde_json::to_value(state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            ),
            PushError::Unavailable(m) => ApiError::unavailable(m),
            PushError::Internal(m) => ApiError::internal(&anyhow::anyhow!(m)),
        }
    }
}

fn refusal(r: Refusal) -> ApiError {
    let code = match r.kind {
        RefusalKind::Invalid => Code::BadRequest,
        RefusalKind::TooMany => Code::TooManyDocuments,
        RefusalKind::TooLarge => Code::DocumentTooLarge,
    };
    ApiError::new(code, r.message)
}

/// The body, or the API's error for one too large (413) or cut off (400).
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                Code::PayloadTooLarge,
                format!(
                    "the body is over the limit of {} bytes per request: send smaller batches",
                    wire::MAX_REQUEST_BYTES
                ),
            )
        } else {
            ApiError::bad_request(format!("body: {}", e.body_text()))
        }
    })
}

fn jobs(state: &ApiState) -> Result<&std::sync::Arc<Jobs>, ApiError> {
    state.push().ok_or_else(|| {
        ApiError::unavailable("push jobs run in `tributary daemon`, which serves this API")
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    mode: Option<Mode>,
}

pub(super) async fn start(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let raw = body(raw)?;
    let mode = if raw.iter().all(u8::is_ascii_whitespace) {
        Mode::Incremental
    } else {
        serde_json::from_slice::<StartBody>(&raw)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))?
            .mode
            .unwrap_or(Mode::Incremental)
    };
    let config = state.control().config();
    let view = jobs(&state)?.start(&config, &id, mode).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(super) async fn get(
    State(state): State<ApiState>,
    ApiPath((id, job)): ApiPath<(String, String)>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(jobs(&state)?.get(&id, &job)?))
}

pub(super) async fn put(
    State(state): State<ApiState>,
    ApiPath((id, job)): ApiPath<(String, String)>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let raw = body(raw)?;
    let jobs = jobs(&state)?;
    // Known job first: a client with a typo in the path hears that, not a body problem.
    jobs.get(&id, &job)?;
    // Decoding a batch (base64, up to the request limit) is milliseconds of CPU: not on
    // an async worker.
    let batch = tokio::task::spawn_blocking(move || wire::read_put(&raw))
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("reading the batch: {e}")))?
        .map_err(refusal)?;
    let config = state.control().config();
    let accepted = jobs.put(&config, &id, &job, batch).await?;
    Ok(Json(serde_json::json!({"job": job, "accepted": accepted})))
}

pub(super) async fn delete(
    State(state): State<ApiState>,
    ApiPath((id, job)): ApiPath<(String, String)>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let raw = body(raw)?;
    let jobs = jobs(&state)?;
    jobs.get(&id, &job)?;
    let ids = wire::read_delete(&raw).map_err(refusal)?;
    let accepted = jobs.delete(&id, &job, ids).await?;
    Ok(Json(serde_json::json!({"job": job, "accepted": accepted})))
}

pub(super) async fn finish(
    State(state): State<ApiState>,
    ApiPath((id, job)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let view = jobs(&state)?.finish(&id, &job).await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}
