//! The one error type of the HTTP layer, mapped to the contract's JSON errors in one place.
//! 5xx details are logged, never sent.

use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// What a client is told to wait when the store's write queue is full: the queue drains in
/// milliseconds, so the shortest wait `Retry-After` can express.
const OVERLOADED_RETRY_AFTER: &str = "1";

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or a field is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// 401: signature, timestamp or token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: origin not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such shop or ticket (or not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// 409: the ticket is in a state that does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// 413: body too large.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// 429: slow down.
    #[error("too many requests; retry after {} s", retry_after_secs(*.0))]
    RateLimited(Duration),
    /// 503: not ready.
    #[error("{0}")]
    Unavailable(String),
    /// 500: storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// 500: anything else.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Store(StoreError::Overloaded) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Store(StoreError::Overloaded) => "overloaded",
            ApiError::Store(_) | ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let overloaded = matches!(self, ApiError::Store(StoreError::Overloaded));
        let message = if overloaded {
            // Back-pressure, not a fault: counted by the request metrics, not logged per request.
            self.to_string()
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "internal error; it has been logged".to_string()
        } else {
            self.to_string()
        };
        let mut response = (status, Json(serde_json::json!({ "error": { "code": self.code(), "message": message } }))).into_response();
        if let ApiError::RateLimited(wait) = &self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs(*wait).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if overloaded {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(OVERLOADED_RETRY_AFTER));
        }
        response
    }
}

/// `Retry-After` in whole seconds, rounded up: a client that waits that long finds a token.
fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

/// Parses a JSON body into the contract's 400 on failure (instead of axum's plain text).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))
}
