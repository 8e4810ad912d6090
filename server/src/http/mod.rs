//! HTTP routes. [`app`] builds the whole router so tests can drive it with `oneshot`; the
//! OpenAPI document ([`openapi`]) is generated from the same route table, so a route cannot be
//! served without being documented.
//!
//! Layers, outermost first: request tracing, request metrics, CORS (answers preflights before
//! auth sees them), JSON error bodies, API keys; then per route group a timeout and body limits
//! (small for most routes, `--max-upload` for file uploads).

pub mod denoise;
pub mod echo;
pub mod echo_sample;
pub mod error;
pub mod health;
pub mod info;
pub mod metrics;
pub mod pipe_job;
pub mod video;
pub mod video_jobs;
pub mod web;

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
        description = "Real-time speech enhancement (DeepFilterNet3), video super-resolution (ESPCN) and echocardiography clutter filtering over HTTP. Errors are JSON `ErrorBody`s."
    ),
    modifiers(&BearerKeys),
    components(schemas(error::ErrorBody)),
    tags(
        (name = "audio", description = "Speech enhancement"),
        (name = "video", description = "Video super-resolution"),
        (name = "echo", description = "Echocardiography clutter filtering"),
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
        .routes(routes!(video::job_status))
        .layer(RequestBodyLimitLayer::new(usize_of(limits.body_limit_bytes)))
        .layer(DefaultBodyLimit::max(usize_of(limits.body_limit_bytes)))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout()));
    // The upload timeout bounds receiving and checking the file; the streamed body goes on after.
    let uploads = OpenApiRouter::new()
        .routes(routes!(denoise::denoise))
        .routes(routes!(video::upscale))
        .routes(routes!(echo::declutter))
        // No upload, but making the clip takes seconds: the upload timeout bounds it too.
        .routes(routes!(echo_sample::sample))
        .layer(RequestBodyLimitLayer::new(usize_of(limits.max_upload_bytes)))
        .layer(DefaultBodyLimit::max(usize_of(limits.max_upload_bytes)))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.upload_timeout()));
    // A live stream outlives any request timeout; its own limits apply (`--stream-*`).
    let live = OpenApiRouter::new()
        .routes(routes!(crate::stream::stream_route))
        .routes(routes!(crate::video_stream::stream_route));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(small).merge(uploads).merge(live)
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
    // The web page's static files: outside the OpenAPI document, which describes the API.
    router
        .merge(web::routes())
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
    use std::collections::BTreeSet;
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
                audio: crate::http::info::AudioSupport::default(),
                api_key_required: false,
                limits: crate::config::Limits::default(),
                stream: None,
                video_models: info.video_models.clone(),
                video_stream: crate::video_stream::VideoStreamInfo::of(state.video_streams()),
            }
        );
        assert!(isa.is_supported());
        // The video models, with their caps as the routes enforce them.
        let models: Vec<_> = info.video_models.iter().map(|m| (m.name.as_str(), m.route.as_str())).collect();
        assert_eq!(
            models,
            [("espcn", "/v1/video/upscale"), ("bicubic", "/v1/video/upscale"), ("clutter", "/v1/echo/declutter")]
        );
        let espcn = &info.video_models[0];
        assert_eq!((espcn.scales.as_slice(), espcn.max_output_size), (&[2, 3, 4][..], Some([7680, 4320])));
        assert_eq!((espcn.output.as_str(), espcn.latency_frames), ("video", 0));
        let clutter = &info.video_models[2];
        assert_eq!(clutter.max_input_pixels, Some(640 * 480));
        assert_eq!((clutter.latency_frames, clutter.output.as_str()), (0, "grey_video"));
        assert!(clutter.scales.is_empty());
        assert_eq!(clutter.output_formats, ["webm", "mp4", "dcm"]);
        assert_eq!(clutter.sample_route.as_deref(), Some("/v1/echo/sample"));
        let raw: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw["video_models"][2]["max_input_pixels"], 307_200, "{raw}");
        assert!(raw["video_models"][0].get("max_input_pixels").is_none(), "absent caps are left out: {raw}");
    }

    /// `(METHOD, /path)` rows of the README's route table (the `sluice serve` section).
    fn readme_routes() -> BTreeSet<(String, String)> {
        let readme = include_str!("../../../README.md");
        let section = readme.split("### `sluice serve`").nth(1).unwrap_or_else(|| panic!("no serve section"));
        let section = section.split("\n### ").next().unwrap_or_default();
        section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`').map(|(cell, _)| cell))
            .filter_map(|cell| cell.split_once(' '))
            .filter(|(m, p)| m.chars().all(|c| c.is_ascii_uppercase()) && p.starts_with('/'))
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect()
    }

    fn documented_routes() -> BTreeSet<(String, String)> {
        let doc = serde_json::to_value(openapi()).unwrap_or_else(|e| panic!("{e}"));
        let paths = doc["paths"].as_object().unwrap_or_else(|| panic!("no paths"));
        paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = item.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
                methods.into_iter().map(move |m| (m.to_ascii_uppercase(), path.clone()))
            })
            .collect()
    }

    #[tokio::test]
    async fn every_served_route_is_documented_in_openapi_and_the_readme() {
        let documented = documented_routes();
        assert_eq!(documented, readme_routes(), "OpenAPI paths vs the README's route table");
        assert!(documented.len() >= 6, "{documented:?}");
        // Every documented operation is served: the router and the document share one table.
        let state = AppState::new(Threads::single());
        for (method, path) in &documented {
            // A path parameter gets a value no resource has: the handler itself answers 404.
            let templated = path.contains('{');
            let uri = path.replace("{id}", "0");
            let request = Request::builder()
                .method(method.as_str())
                .uri(uri.as_str())
                .body(Body::empty())
                .unwrap_or_else(|e| panic!("request: {e}"));
            let response = app(state.clone()).oneshot(request).await.unwrap_or_else(|e| match e {});
            let status = response.status();
            let body = to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
            let routed = match status {
                StatusCode::METHOD_NOT_ALLOWED => false,
                StatusCode::NOT_FOUND => {
                    templated && !String::from_utf8_lossy(&body).contains("\"code\":\"not_found\"")
                }
                _ => true,
            };
            assert!(routed, "{method} {path} is documented but answers {status}");
        }
        // Error bodies are part of the document.
        let doc = serde_json::to_value(openapi()).unwrap_or_else(|e| panic!("{e}"));
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        let denoise = &doc["paths"]["/v1/audio/denoise"]["post"]["responses"];
        for code in ["200", "400", "401", "413", "415", "503"] {
            assert!(denoise[code].is_object(), "denoise response {code} undocumented");
        }
    }

    #[tokio::test]
    async fn openapi_json_is_served_and_parses() {
        let state = AppState::new(Threads::single());
        let (code, body) = get(&state, "/openapi.json").await;
        assert_eq!(code, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
        assert_eq!(doc, serde_json::to_value(openapi()).unwrap_or_else(|e| panic!("{e}")));
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
