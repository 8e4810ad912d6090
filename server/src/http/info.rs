//! `GET /v1/info`: what this server runs on, for operators and clients sizing their load.

use crate::config::Limits;
use crate::http::error::ErrorBody;
use crate::state::AppState;
use crate::stream::StreamInfo;
use crate::video_stream::VideoStreamInfo;
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
    /// What audio the denoiser takes.
    pub audio: AudioSupport,
    /// Whether `/v1/*` routes need an API key.
    pub api_key_required: bool,
    /// Size, time and concurrency limits in force.
    pub limits: Limits,
    /// Live audio (`/v1/audio/stream`) limits, when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamInfo>,
    /// Live video (`/v1/video/stream`) limits.
    pub video_stream: VideoStreamInfo,
}

/// Audio the speech denoiser accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AudioSupport {
    /// Lowest sample rate in Hz (other rates than 48 kHz are resampled around the model).
    pub min_sample_rate_hz: u32,
    /// Highest sample rate in Hz.
    pub max_sample_rate_hz: u32,
    /// The model's own rate in Hz.
    pub model_sample_rate_hz: u32,
    /// File formats `POST /v1/audio/denoise` decodes.
    pub file_formats: Vec<String>,
}

impl Default for AudioSupport {
    fn default() -> Self {
        Self {
            min_sample_rate_hz: 8_000,
            max_sample_rate_hz: 192_000,
            model_sample_rate_hz: 48_000,
            file_formats: ["wav", "flac", "ogg-vorbis", "mp3"].map(str::to_owned).to_vec(),
        }
    }
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
            audio: AudioSupport::default(),
            api_key_required: !state.config().api_keys.is_empty(),
            limits: state.config().limits.clone(),
            stream: state.streams().map(|s| StreamInfo::of(s)),
            video_stream: VideoStreamInfo::of(state.video_streams()),
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
