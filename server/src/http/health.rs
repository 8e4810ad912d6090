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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `starting`, `ready` or `draining`.
    pub status: String,
}

/// `GET /healthz`: 200 while the process can answer.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when ready, 503 while starting or draining.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let phase = state.phase();
    let code = if phase == Phase::Ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(Readiness { status: phase.name().to_owned() }))
}
