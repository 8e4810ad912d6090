//! `GET /metrics` and the middleware that counts and times HTTP requests.

use crate::prometheus::{self, HTTP_DURATION, HTTP_REQUESTS};
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metrics of this process.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics() -> Response {
    let mut response = prometheus::render().into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    response
}

/// Middleware: counts each request and times it to its response headers, labelled with the
/// route template (`/v1/audio/denoise`, never the raw path, so label values stay few), the
/// method and the status. Requests no route matched are labelled `unmatched`.
pub async fn track(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let response = next.run(request).await;
    let labels = [("route", route), ("method", method), ("status", response.status().as_str().to_owned())];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(start.elapsed().as_secs_f64());
    response
}
