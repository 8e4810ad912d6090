//! HTTP routes. [`app`] builds the whole router so tests can drive it with `oneshot`.

pub mod health;
pub mod info;
pub mod web;

use crate::state::AppState;
use axum::Router;
use axum::routing::get;
use tower_http::trace::TraceLayer;

/// The service's router: every route, with request tracing, over the shared state.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/info", get(info::info))
        .merge(web::routes())
        .layer(TraceLayer::new_for_http())
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
