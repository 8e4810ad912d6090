//! `GET /v1/info`: what this server runs on, for operators and clients sizing their load.

use crate::config::Limits;
use crate::http::error::ErrorBody;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// Body of `/v1/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Info {
    /// Always `sluice`.
    pub name: String,
    /// The server crate's version.
    pub version: String,
    /// Engine ISA tier in use (`scalar`, `neon`, `avx2`, `avx512`).
    pub isa: String,
    /// f32 lanes per vector register in that tier.
    pub lanes: usize,
    /// Threads in the engine's compute pool.
    pub engine_threads: usize,
    /// Models loaded and servable.
    pub models: Vec<String>,
    /// Whether `/v1/*` routes need an API key.
    pub api_key_required: bool,
    /// Size, time and concurrency limits in force.
    pub limits: Limits,
}

impl Info {
    /// Describes `state`.
    pub fn of(state: &AppState) -> Info {
        let isa = state.isa();
        Info {
            name: "sluice".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            isa: isa.name().to_owned(),
            lanes: isa.lanes(),
            engine_threads: state.threads().count(),
            models: state.models().to_vec(),
            api_key_required: !state.config().api_keys.is_empty(),
            limits: state.config().limits.clone(),
        }
    }
}

/// `GET /v1/info`: version, engine tier, models and limits.
#[utoipa::path(
    get,
    path = "/v1/info",
    tag = "operations",
    responses(
        (status = 200, description = "What this server runs on", body = Info),
        (status = 401, description = "API key missing or wrong", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
pub async fn info(State(state): State<AppState>) -> Json<Info> {
    Json(Info::of(&state))
}
