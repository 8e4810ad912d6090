//! One error shape for every HTTP failure: `{"code": "...", "message": "..."}`.
//!
//! Handlers return [`ApiError`]; [`json_error_bodies`] rewrites the plain-text errors produced
//! outside them (unknown route, wrong method, tower's body limit and timeout layers, extractor
//! rejections) into the same shape, so clients parse one thing.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable reason, e.g. `unsupported_media`, `payload_too_large`.
    pub code: String,
    /// What went wrong and what to do about it, for humans.
    pub message: String,
}

/// An error response: status, [`ErrorBody`], and for 503 a `Retry-After`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
    /// Seconds for `Retry-After`, if any.
    pub retry_after_s: Option<u32>,
}

impl ApiError {
    /// An error with `status`, machine `code` and human `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { code: code.to_owned(), message: message.into() }, retry_after_s: None }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503 telling the client to come back in `seconds`.
    pub fn busy(message: impl Into<String>, seconds: u32) -> Self {
        Self { retry_after_s: Some(seconds), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message) }
    }

    /// 500; `detail` is logged, the client sees only a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(s) = self.retry_after_s {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// The code used for a status when the error came from outside a handler.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Middleware: an error status (≥ 400) whose body is not JSON gets an [`ErrorBody`] instead,
/// keeping its status and other headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
/// `/readyz`'s JSON 503 and handler errors pass unchanged.
pub async fn json_error_bodies(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The original text (an extractor's rejection reason) is short: keep it as the message.
    let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    let message = match text {
        Ok(t) if !t.is_empty() => t,
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let json = serde_json::to_vec(&ErrorBody { code: code_for(status).to_owned(), message }).unwrap_or_default();
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(json.len()));
    Response::from_parts(parts, Body::from(json))
}
