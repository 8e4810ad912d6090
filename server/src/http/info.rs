//! `GET /v1/info`: what this server runs on, for operators and clients sizing their load.

use crate::state::AppState;
use crate::stream::StreamInfo;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// Body of `/v1/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Live audio (`/v1/audio/stream`) limits, when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamInfo>,
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
            stream: state.streams().map(|s| StreamInfo::of(s)),
        }
    }
}

/// `GET /v1/info`.
pub async fn info(State(state): State<AppState>) -> Json<Info> {
    Json(Info::of(&state))
}
