//! The one error type of the HTTP layer, mapped to the contract's JSON errors in one place.
//! 5xx details are logged, never sent.

use crate::app::StoreError;
use crate::app::inbound::ReceiveError;
use crate::app::tickets::TicketError;
use crate::ingest::InvalidMessage;
use crate::ingest::signature::SignatureError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// What a client is told to wait when the store's write queue is full: the queue drains in
/// milliseconds, so the shortest wait `Retry-After` can express.
const OVERLOADED_RETRY_AFTER: &str = "1";

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
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
    /// 422: a record (an after-sales case) with missing or wrong fields: field → message.
    #[error("{message}")]
    Unprocessable {
        /// The code, e.g. `invalid_case`.
        code: &'static str,
        /// For people.
        message: String,
        /// Field → what is wrong with it.
        fields: std::collections::BTreeMap<&'static str, String>,
    },
    /// 408: the request took longer than the configured limit.
    #[error("the request took longer than {} ms", .0.as_millis())]
    Timeout(Duration),
    /// 429: slow down.
    #[error("too many requests; retry after {} s", retry_after_secs(*.0))]
    RateLimited(Duration),
    /// 500: storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 500: anything else.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub(crate) fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(StoreError::Overloaded) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::Timeout(_) => "timeout",
            ApiError::RateLimited(_) => "rate_limited",
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
        let mut body = error_body(self.code(), &message);
        if let ApiError::Unprocessable { fields, .. } = &self {
            body.0["error"]["fields"] = serde_json::json!(fields);
        }
        let mut response = (status, body).into_response();
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

/// 503 while the models load: the JSON error `starting`, and when to try again.
pub(super) async fn starting(request: axum::extract::Request) -> Response {
    // Read what the client sent (bounded) so the connection can be kept: closing it with the
    // body unread would reset it, and the client could lose this answer.
    let _ = axum::body::to_bytes(request.into_body(), 1 << 20).await;
    let body = error_body("starting", "the service is starting (loading knowledge bases and models); retry shortly");
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(STARTING_RETRY_AFTER));
    response
}

/// Loading takes seconds to a minute: a sender retrying after this finds it ready soon after.
const STARTING_RETRY_AFTER: &str = "5";

/// Parses a JSON body into the contract's 400 on failure (instead of axum's plain text).
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))
}

impl ApiError {
    /// The 404 of a shop that is not configured (or not the caller's).
    pub(crate) fn no_shop(id: &str) -> ApiError {
        ApiError::NotFound(format!("no shop {id:?}"))
    }
}

/// The inbound use case's failures, mapped to the contract once.
impl From<ReceiveError> for ApiError {
    fn from(e: ReceiveError) -> Self {
        match e {
            ReceiveError::Invalid(e) => ApiError::BadRequest(e.to_string()),
            ReceiveError::RateLimited(wait) => ApiError::RateLimited(wait),
            ReceiveError::Store(e) => ApiError::Store(e),
            e @ (ReceiveError::Serialize(_) | ReceiveError::ConversationKeptChanging) => ApiError::Internal(e.to_string()),
        }
    }
}

/// An agent's ticket actions' failures, mapped to the contract once.
impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> Self {
        match e {
            e @ TicketError::NotFound(_) => ApiError::NotFound(e.to_string()),
            e @ TicketError::AlreadyResolved => ApiError::Conflict(e.to_string()),
            TicketError::Invalid(message) => ApiError::BadRequest(message),
            TicketError::Store(e) => ApiError::Store(e),
        }
    }
}

/// After-sales case actions' failures, mapped to the contract once.
impl From<crate::app::cases::CaseError> for ApiError {
    fn from(e: crate::app::cases::CaseError) -> Self {
        use crate::app::cases::CaseError;
        match e {
            CaseError::NotFound(message) => ApiError::NotFound(message),
            e @ CaseError::AlreadySubmitted => ApiError::Conflict(e.to_string()),
            e @ CaseError::Invalid(_) => {
                let message = e.to_string();
                let CaseError::Invalid(fields) = e else { unreachable!("matched above") };
                ApiError::Unprocessable { code: "invalid_case", message, fields }
            }
            CaseError::Store(e) => ApiError::Store(e),
        }
    }
}

/// Ratings', votes' and inspections' failures, mapped to the contract once.
impl From<crate::app::quality::QualityError> for ApiError {
    fn from(e: crate::app::quality::QualityError) -> Self {
        use crate::app::quality::QualityError;
        match e {
            QualityError::NotFound(message) => ApiError::NotFound(message),
            e @ QualityError::AlreadyRated => ApiError::Conflict(e.to_string()),
            QualityError::Invalid(message) => ApiError::BadRequest(message),
            QualityError::Forbidden(message) => ApiError::Forbidden(message),
            QualityError::Store(e) => ApiError::Store(e),
        }
    }
}

/// A webhook signature or timestamp that does not check out is a 401.
impl From<SignatureError> for ApiError {
    fn from(e: SignatureError) -> Self {
        ApiError::Unauthorized(e.to_string())
    }
}

/// A message body that breaks the contract's limits is a 400.
impl From<InvalidMessage> for ApiError {
    fn from(e: InvalidMessage) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// A value that would not serialise is a fault of ours, never a silent `null`.
impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::Internal(format!("serialisation failed: {e}"))
    }
}

/// The body of every error answer: `{"error": {"code", "message"}}`.
fn error_body(code: &str, message: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "error": { "code": code, "message": message } }))
}

/// A query string that does not parse is the contract's 400.
impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// A path parameter that does not parse is the contract's 400 (a route without the parameter
/// it extracts is a bug: 500).
impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        if rejection.status().is_server_error() {
            ApiError::Internal(rejection.body_text())
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    }
}

/// `axum::extract::Query` with the contract's JSON 400 instead of axum's plain text.
pub(super) struct Query<T>(pub(super) T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

/// `axum::extract::Path` with the contract's JSON 400 instead of axum's plain text.
pub(super) struct Path<T>(pub(super) T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

/// The router's fallback: a path no route matches.
pub(super) async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no endpoint at {}", uri.path()))
}

/// A path that exists, called with a method it does not answer (axum keeps the `Allow` header).
pub(super) async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let message = format!("{} does not answer {method}", uri.path());
    (StatusCode::METHOD_NOT_ALLOWED, error_body("method_not_allowed", &message)).into_response()
}

/// Ends a request that runs longer than `limit` with the contract's 408.
pub(super) async fn request_timeout(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

/// A handler that panicked: logged, answered as the contract's generic 500.
pub(super) fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied()).unwrap_or("?");
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}

/// The contract's code of a status that reached the client without one of our JSON bodies.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// The last word on every error answer: one that is not JSON (a framework default, a page's
/// plain-text 404, a failed serialisation) is rewritten into the contract's shape, keeping its
/// status and headers (`Allow`, `Retry-After`, CORS). Client errors keep their text as the
/// message; server errors are logged and answered with generic text.
pub(super) async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    /// Plain-text error bodies are short; a longer one is cut here.
    const MAX_ERROR_TEXT: usize = 4096;
    let response = next.run(request).await;
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let message = if status.is_server_error() {
        tracing::error!(status = status.as_u16(), error = %text, "request failed");
        "internal error; it has been logged".to_string()
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = serde_json::json!({ "error": { "code": code_of(status), "message": message } }).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}
