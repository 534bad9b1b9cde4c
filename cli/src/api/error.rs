//! The API's one error shape, `{"error": {"code": "not_found", "message": "..."}}`, and the
//! extractors that turn axum's plain-text rejections into it.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The stable codes clients match on; the message is for people and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// 401: no bearer token, or the wrong one.
    Unauthorized,
    /// 404: no such route, source or document.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 400: a query string or body the endpoint does not accept.
    BadRequest,
    /// 400: a push batch with more documents (or ids) than one batch may hold.
    TooManyDocuments,
    /// 413: a pushed document's content is over the per-document limit.
    DocumentTooLarge,
    /// 413: a request body over the route's limit.
    PayloadTooLarge,
    /// 409: the request conflicts with what the daemon is doing (a busy source, a kind that
    /// is off, a push job that is not open).
    Conflict,
    /// 503: not ready, shutting down, or nothing synced yet.
    Unavailable,
    /// 500: a failure of the daemon's own (the store or index could not be read).
    Internal,
}

impl Code {
    fn status(self) -> StatusCode {
        match self {
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::BadRequest => StatusCode::BAD_REQUEST,
            Code::TooManyDocuments => StatusCode::BAD_REQUEST,
            Code::DocumentTooLarge | Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Conflict => StatusCode::CONFLICT,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error response.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// What a trigger did when it answers 409 (`{"result": "busy", "running": "full"}`): a
    /// busy source still queued the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            outcome: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(Code::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(Code::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(Code::Unavailable, message)
    }

    /// A failure of the daemon's own. Logged here, once, with its whole chain: the client
    /// sees the same text, which names files and stores but never a secret.
    pub fn internal(e: &anyhow::Error) -> Self {
        tracing::error!("api: {e:#}");
        ApiError::new(Code::Internal, format!("{e:#}"))
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a ApiError,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), Json(Body { error: &self })).into_response();
        if self.code == Code::Unauthorized {
            // RFC 6750: a 401 names the scheme the client should use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `Query<T>` whose rejection is a 400 in the API's error shape (axum's is plain text).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(e) => Err(query_rejection(&e)),
        }
    }
}

fn query_rejection(e: &QueryRejection) -> ApiError {
    // The body text names the parameter and what was wrong, without axum's prefix.
    ApiError::bad_request(format!(
        "query string: {}",
        e.body_text()
            .trim_start_matches("Failed to deserialize query string: ")
    ))
}

/// `Path<T>` whose rejection is a 400 in the API's error shape.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(e) => Err(path_rejection(&e)),
        }
    }
}

fn path_rejection(e: &PathRejection) -> ApiError {
    ApiError::bad_request(format!("path: {}", e.body_text()))
}
