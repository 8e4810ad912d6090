//! HTTP routes. [`app`] builds the whole router so tests can drive it with `oneshot`; the
//! OpenAPI document ([`openapi`]) is generated from the same route table, so a route cannot be
//! served without being documented.
//!
//! Layers, outermost first: request tracing, request metrics, CORS (answers preflights before
//! auth sees them), JSON error bodies, API keys; then per route group a timeout and body limits
//! (small for most routes, `--max-upload` for file uploads).

pub mod denoise;
pub mod error;
pub mod health;
pub mod info;
pub mod metrics;

use crate::auth;
use crate::config::ServerConfig;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The document's fixed parts; paths are added from the route table.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice",
        description = "Real-time speech enhancement (DeepFilterNet3) over HTTP. Errors are JSON `ErrorBody`s."
    ),
    modifiers(&BearerKeys),
    components(schemas(error::ErrorBody)),
    tags(
        (name = "audio", description = "Speech enhancement"),
        (name = "operations", description = "Probes, metrics, this document, server facts"),
    )
)]
struct ApiDoc;

/// Declares the `api_key` security scheme the `/v1/*` routes name.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// An OpenAPI 3.1 document (JSON object).
#[derive(utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct OpenApiDocument(pub serde_json::Value);

/// The served document, serialised once.
#[derive(Clone)]
struct DocJson(Arc<String>);

/// This API's OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document", body = OpenApiDocument))
)]
async fn openapi_json(Extension(DocJson(doc)): Extension<DocJson>) -> Response {
    ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], doc.as_str().to_owned()).into_response()
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Every route, with its group's timeout and body limit.
fn routes(config: &ServerConfig) -> OpenApiRouter<AppState> {
    let limits = &config.limits;
    let small = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(info::info))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
        .layer(RequestBodyLimitLayer::new(usize_of(limits.body_limit_bytes)))
        .layer(DefaultBodyLimit::max(usize_of(limits.body_limit_bytes)))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout()));
    // The upload timeout bounds receiving and checking the file; the streamed body goes on after.
    let uploads = OpenApiRouter::new()
        .routes(routes!(denoise::denoise))
        .layer(RequestBodyLimitLayer::new(usize_of(limits.max_upload_bytes)))
        .layer(DefaultBodyLimit::max(usize_of(limits.max_upload_bytes)))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.upload_timeout()));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(small).merge(uploads)
}

/// The OpenAPI document of every route [`app`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes(&ServerConfig::default()).into_openapi()
}

/// CORS for the configured origins, or `None` when there are none.
fn cors(config: &ServerConfig) -> Option<CorsLayer> {
    if config.cors_origins.is_empty() {
        return None;
    }
    let origins = if config.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    )
}

/// The service's router: every route and layer, over the shared state.
pub fn app(state: AppState) -> Router {
    let (router, doc) = routes(state.config()).split_for_parts();
    let doc = DocJson(Arc::new(doc.to_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))));
    let cors = cors(state.config());
    let _ = crate::prometheus::handle();
    router
        .layer(from_fn_with_state(state.clone(), auth::require_key))
        .layer(from_fn(error::json_error_bodies))
        .layer(tower::util::option_layer(cors))
        .layer(from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        .layer(Extension(doc))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::health::Readiness;
    use crate::http::info::Info;
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use sluice_engine::{Isa, Threads};
    use tower::ServiceExt;

    async fn get(state: &AppState, path: &str) -> (StatusCode, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).unwrap_or_else(|e| panic!("request: {e}"));
        let response = app(state.clone()).oneshot(request).await.unwrap_or_else(|e| match e {});
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap_or_else(|e| panic!("body: {e}"));
        (status, body.to_vec())
    }

    fn readiness(body: &[u8]) -> String {
        serde_json::from_slice::<Readiness>(body).unwrap_or_else(|e| panic!("readyz body: {e}")).status
    }

    #[tokio::test]
    async fn healthz_answers_in_every_phase() {
        let state = AppState::new(Threads::single());
        for step in [AppState::mark_ready, AppState::begin_drain] {
            assert_eq!(get(&state, "/healthz").await, (StatusCode::OK, b"ok".to_vec()));
            step(&state);
        }
        assert_eq!(get(&state, "/healthz").await, (StatusCode::OK, b"ok".to_vec()));
    }

    #[tokio::test]
    async fn readyz_follows_the_phase() {
        let state = AppState::new(Threads::single());
        let (code, body) = get(&state, "/readyz").await;
        assert_eq!((code, readiness(&body).as_str()), (StatusCode::SERVICE_UNAVAILABLE, "starting"));
        state.mark_ready();
        let (code, body) = get(&state, "/readyz").await;
        assert_eq!((code, readiness(&body).as_str()), (StatusCode::OK, "ready"));
        state.begin_drain();
        let (code, body) = get(&state, "/readyz").await;
        assert_eq!((code, readiness(&body).as_str()), (StatusCode::SERVICE_UNAVAILABLE, "draining"));
    }

    #[tokio::test]
    async fn info_describes_the_engine() {
        let state = AppState::new(Threads::new(2).unwrap_or_else(|e| panic!("threads: {e}")));
        let (code, body) = get(&state, "/v1/info").await;
        assert_eq!(code, StatusCode::OK);
        let info: Info = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("info body: {e}"));
        let isa = Isa::active();
        assert_eq!(
            info,
            Info {
                name: "sluice".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                isa: isa.name().into(),
                lanes: isa.lanes(),
                engine_threads: 2,
                models: vec![],
                api_key_required: false,
                limits: crate::config::Limits::default(),
            }
        );
        assert!(isa.is_supported());
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_are_refused() {
        let state = AppState::new(Threads::single());
        assert_eq!(get(&state, "/nope").await.0, StatusCode::NOT_FOUND);
        let post = Request::post("/healthz").body(Body::empty()).unwrap_or_else(|e| panic!("request: {e}"));
        let response = app(state).oneshot(post).await.unwrap_or_else(|e| match e {});
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
