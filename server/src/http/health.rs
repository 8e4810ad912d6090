//! Liveness and readiness probes.
//!
//! Liveness says the process answers at all (a failed probe means "restart me"); readiness says
//! it should be sent new work (a failed probe means "route elsewhere for now"), so it turns 503
//! as soon as a drain begins, before the listener closes.

use crate::state::{AppState, Phase};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// Body of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `starting`, `ready` or `draining`.
    #[schema(example = "ready")]
    pub status: String,
}

/// `GET /healthz`: 200 while the process can answer.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers (liveness)", content_type = "text/plain", body = String, example = "ok"))
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when ready, 503 while starting or draining.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready for new work", body = Readiness),
        (status = 503, description = "Starting or draining: send new work elsewhere", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let phase = state.phase();
    let code = if phase == Phase::Ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(Readiness { status: phase.name().to_owned() }))
}
