//! `GET /v1/info`: what this server runs on, for operators and clients sizing their load.

use crate::config::Limits;
use crate::http::error::ErrorBody;
use crate::state::AppState;
use crate::stream::StreamInfo;
use crate::video_stream::VideoStreamInfo;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sluice_models::clutter::LATENCY_FRAMES;
use sluice_models::espcn::BUNDLED_SCALES;
use sluice_pipeline::echo::declutter::MAX_PIXELS;
use sluice_pipeline::video::MAX_OUTPUT;

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
    /// The video models (upscale, clutter filter): what each takes and gives.
    pub video_models: Vec<VideoModelInfo>,
    /// Live video (`/v1/video/stream`) limits.
    pub video_stream: VideoStreamInfo,
}

/// A video model, with what a client needs to call it. Video models load on a job's first use,
/// so they are listed here rather than in `models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VideoModelInfo {
    /// Model name: `espcn`, `bicubic` (the `model` values of the upscale route) or `clutter`.
    pub name: String,
    /// What it does: `upscale` or `declutter`.
    pub task: String,
    /// The route that runs it.
    pub route: String,
    /// Scale factors (the upscale route's `scale`); empty for a same-size model.
    pub scales: Vec<u32>,
    /// Largest input frame in pixels (width × height, any shape), when the model caps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input_pixels: Option<u64>,
    /// Largest output frame `[width, height]` (either orientation), when capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_size: Option<[u32; 2]>,
    /// Frames each output frame waits for after its input frame (0: frame for frame).
    pub latency_frames: u32,
    /// What comes out: `video` (colour, audio kept) or `grey_video` (one grey channel, no audio).
    pub output: String,
    /// Output containers (the `format` values): `webm` (VP9), `mp4` (H.264), `dcm` (DICOM).
    pub output_formats: Vec<String>,
    /// A route serving a sample input to try the model on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_route: Option<String>,
}

impl VideoModelInfo {
    /// The models this build serves.
    pub fn all() -> Vec<VideoModelInfo> {
        let formats = || ["webm", "mp4"].map(str::to_owned).to_vec();
        let (max_w, max_h) = MAX_OUTPUT;
        let scales: Vec<u32> = BUNDLED_SCALES.iter().filter_map(|&s| u32::try_from(s).ok()).collect();
        let upscaler = |name: &str| VideoModelInfo {
            name: name.to_owned(),
            task: "upscale".to_owned(),
            route: "/v1/video/upscale".to_owned(),
            scales: scales.clone(),
            max_input_pixels: None,
            max_output_size: u32::try_from(max_w).ok().zip(u32::try_from(max_h).ok()).map(|(w, h)| [w, h]),
            latency_frames: 0,
            output: "video".to_owned(),
            output_formats: formats(),
            sample_route: None,
        };
        let clutter = VideoModelInfo {
            name: "clutter".to_owned(),
            task: "declutter".to_owned(),
            route: "/v1/echo/declutter".to_owned(),
            scales: vec![],
            max_input_pixels: Some(MAX_PIXELS as u64),
            max_output_size: None,
            latency_frames: u32::try_from(LATENCY_FRAMES).unwrap_or(u32::MAX),
            output: "grey_video".to_owned(),
            output_formats: ["webm", "mp4", "dcm"].map(str::to_owned).to_vec(),
            sample_route: Some("/v1/echo/sample".to_owned()),
        };
        vec![upscaler("espcn"), upscaler("bicubic"), clutter]
    }
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
            video_models: VideoModelInfo::all(),
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
