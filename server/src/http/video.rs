//! `POST /v1/video/upscale`: a video file in, the upscaled video streamed back as it is encoded
//! (WebM, or fragmented MP4); `GET /v1/video/jobs/{id}`: how far that job is.
//!
//! Admission, the spooled upload, the pipe and the job table are [`super::pipe_job`]'s.

use super::pipe_job::{self, Failure, PipeJob};
use super::video_jobs::JobStatus;
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use sluice_engine::Threads;
use sluice_models::dfn3::Dfn3Model;
use sluice_models::espcn::Espcn;
use sluice_pipeline::video::{
    BicubicUpscaler, Container, EspcnUpscaler, LumaUpscaler, OutputTarget, UpscaleJob, UpscaleOptions, VideoError,
};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The response header naming the job for `GET /v1/video/jobs/{id}`.
pub const JOB_HEADER: HeaderName = HeaderName::from_static("sluice-job");
/// The response header with the frames the input announces (absent when unknown).
pub const FRAMES_HEADER: HeaderName = HeaderName::from_static("sluice-frames");
/// The response header with the output size, `WIDTHxHEIGHT`.
pub const SIZE_HEADER: HeaderName = HeaderName::from_static("sluice-output-size");

/// Output container of `POST /v1/video/upscale`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VideoFormat {
    /// VP9 in WebM (browsers play it while it downloads).
    #[default]
    Webm,
    /// H.264 in fragmented MP4.
    Mp4,
}

impl VideoFormat {
    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Webm => "video/webm",
            Self::Mp4 => "video/mp4",
        }
    }

    /// The container the pipeline writes.
    pub fn container(self) -> Container {
        match self {
            Self::Webm => Container::WebM,
            Self::Mp4 => Container::Mp4,
        }
    }

    /// `crf` if it is in this format's encoder range (VP9 0–63, H.264 0–51), else a 400.
    pub fn check_crf(self, crf: Option<u8>) -> Result<Option<u8>, ApiError> {
        let max_crf = match self {
            Self::Webm => 63,
            Self::Mp4 => 51,
        };
        match crf {
            Some(c) if c > max_crf => {
                Err(ApiError::bad_request("bad_parameter", format!("`crf` must be 0..={max_crf} here, got {c}")))
            }
            ok => Ok(ok),
        }
    }
}

/// Luma model of `POST /v1/video/upscale`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VideoModel {
    /// ESPCN, trained by this project.
    #[default]
    Espcn,
    /// Separable bicubic, the baseline.
    Bicubic,
}

/// Query of `POST /v1/video/upscale`.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpscaleQuery {
    /// Upscaling factor: 2, 3 or 4 (the output is N× the input in both directions).
    #[param(minimum = 2, maximum = 4)]
    pub scale: Option<u8>,
    /// Output container: `webm` (VP9, default) or `mp4` (H.264, fragmented).
    #[param(inline)]
    pub format: Option<VideoFormat>,
    /// Luma model: `espcn` (default) or `bicubic`.
    #[param(inline)]
    pub model: Option<VideoModel>,
    /// Constant rate factor (H.264 0–51, default 23; VP9 0–63, default 32).
    pub crf: Option<u8>,
    /// Denoise the audio track with DeepFilterNet3 instead of copying it.
    pub denoise_audio: Option<bool>,
}

/// A checked [`UpscaleQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpscaleSettings {
    /// The factor.
    pub scale: usize,
    /// The container.
    pub format: VideoFormat,
    /// The luma model.
    pub model: VideoModel,
    /// The CRF, if given.
    pub crf: Option<u8>,
    /// Whether to denoise the audio.
    pub denoise_audio: bool,
}

impl UpscaleQuery {
    /// The settings asked for, or a 400 naming the bad parameter.
    pub fn settings(self) -> Result<UpscaleSettings, ApiError> {
        let scale = match self.scale {
            Some(s @ 2..=4) => usize::from(s),
            Some(s) => {
                return Err(ApiError::bad_request("bad_parameter", format!("`scale` must be 2, 3 or 4, got {s}")));
            }
            None => return Err(ApiError::bad_request("bad_parameter", "`scale` is required: 2, 3 or 4")),
        };
        let format = self.format.unwrap_or_default();
        Ok(UpscaleSettings {
            scale,
            format,
            model: self.model.unwrap_or_default(),
            crf: format.check_crf(self.crf)?,
            denoise_audio: self.denoise_audio.unwrap_or(false),
        })
    }
}

/// Upscale a video (any container and codec FFmpeg decodes) with super-resolution.
///
/// The response streams the result as it is encoded: WebM (VP9) or fragmented MP4 (H.264),
/// with the audio copied or re-encoded (denoised on request), frame timing kept. The
/// `Sluice-Job` header names the job for `GET /v1/video/jobs/{id}` (progress);
/// `Sluice-Frames` gives the frames the input announces, `Sluice-Output-Size` the output size.
/// Errors found before the first frame is encoded are JSON errors; damage found later cuts the
/// body short and the job reads `failed`.
#[utoipa::path(
    post,
    path = "/v1/video/upscale",
    tag = "video",
    params(UpscaleQuery),
    request_body(
        description = "The video file's bytes (MP4, WebM, Matroska, …); any `Content-Type`.",
        content((Vec<u8> = "application/octet-stream")),
    ),
    responses(
        (status = 200, description = "The upscaled video, streamed",
         content((Vec<u8> = "video/webm"), (Vec<u8> = "video/mp4")),
         headers(
             ("Sluice-Job" = String, description = "Job id for the progress route"),
             ("Sluice-Output-Size" = String, description = "Output `WIDTHxHEIGHT`"),
         )),
        (status = 400, description = "Bad parameter, a frame size beyond the cap, a video with no frames", body = ErrorBody),
        (status = 401, description = "API key missing or wrong", body = ErrorBody),
        (status = 408, description = "Upload not received and checked within the upload timeout", body = ErrorBody),
        (status = 413, description = "Upload too large", body = ErrorBody),
        (status = 415, description = "Not a video, no video stream, or a codec this server cannot decode", body = ErrorBody),
        (status = 503, description = "All file-job slots busy (see `Retry-After`)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
pub async fn upscale(
    State(state): State<AppState>,
    query: Result<Query<UpscaleQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad_parameter", e.body_text()))?;
    let settings = query.settings()?;
    let dfn3 = match settings.denoise_audio {
        false => None,
        true => Some(state.dfn3().cloned().ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_model", "the DFN3 model is not loaded")
        })?),
    };
    let upload = pipe_job::admit(&state, &headers, body).await?;
    // The server's one engine pool: concurrent jobs take turns per layer instead of each
    // starting threads of its own and oversubscribing the cores.
    let threads = state.threads().clone();
    pipe_job::stream(&state, upload, settings.format.content_type(), move |path| open(path, settings, dfn3, threads))
        .await
}

/// Progress of a video job started by `POST /v1/video/upscale`.
#[utoipa::path(
    get,
    path = "/v1/video/jobs/{id}",
    tag = "video",
    params(("id" = String, Path, description = "The `Sluice-Job` header of the upload's response")),
    responses(
        (status = 200, description = "The job's progress", body = JobStatus),
        (status = 401, description = "API key missing or wrong", body = ErrorBody),
        (status = 404, description = "No such job (or finished long ago)", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
pub async fn job_status(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<JobStatus>, ApiError> {
    state.video_jobs().get(&id).map(|j| Json(j.status())).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_job",
            format!("no video job `{id}` (it may have finished long ago)"),
        )
    })
}

/// An opened upscale pass and its output container.
struct Upscale {
    job: UpscaleJob,
    container: Container,
    scale: usize,
}

impl PipeJob for Upscale {
    fn sizes(&self) -> (Option<u64>, (usize, usize), (usize, usize)) {
        let info = self.job.info();
        let (w, h) = info.size;
        let s = self.scale;
        let out = if info.rotation % 180 == 0 { (w * s, h * s) } else { (h * s, w * s) };
        (info.frames, (w, h), out)
    }

    fn run(self, pipe: std::io::PipeWriter, on_frame: &mut dyn FnMut(u64)) -> Result<(u64, f64), Failure> {
        match self.job.run(OutputTarget::Pipe(pipe), self.container, on_frame) {
            Ok(s) => Ok((s.frames, s.fps())),
            Err(e) => Err(Failure { message: e.to_string(), answer: video_error(e) }),
        }
    }
}

/// Opens the upload at `path` with the asked-for model.
fn open(
    path: &Path,
    s: UpscaleSettings,
    dfn3: Option<Arc<Dfn3Model>>,
    threads: Arc<Threads>,
) -> Result<Upscale, ApiError> {
    let upscaler: Box<dyn LumaUpscaler> = match s.model {
        VideoModel::Bicubic => Box::new(BicubicUpscaler::new(s.scale).map_err(video_error)?),
        VideoModel::Espcn => {
            let model = espcn_model(s.scale).map_err(|e| video_error(VideoError::Upscaler(e)))?;
            Box::new(EspcnUpscaler::new(model, threads))
        }
    };
    let options = UpscaleOptions { crf: s.crf, denoise_audio: dfn3 };
    let job = UpscaleJob::open(path, upscaler, options).map_err(video_error)?;
    Ok(Upscale { job, container: s.format.container(), scale: s.scale })
}

/// The bundled ESPCN network for `scale` (2, 3 or 4), loaded once per process (shared with
/// `/v1/video/stream`).
pub(crate) fn espcn_model(scale: usize) -> Result<Espcn, String> {
    static MODELS: [OnceLock<Result<Espcn, String>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = scale.checked_sub(2).and_then(|i| MODELS.get(i)).ok_or_else(|| format!("no ESPCN ×{scale}"))?;
    slot.get_or_init(|| Espcn::bundled(scale).map_err(|e| format!("cannot load the ESPCN x{scale} weights: {e}")))
        .clone()
}

/// The status for a video error.
pub(crate) fn video_error(e: VideoError) -> ApiError {
    let message = e.to_string();
    match e {
        VideoError::NotMedia { .. } | VideoError::NoVideo { .. } | VideoError::UnsupportedCodec { .. } => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media", message)
        }
        VideoError::BadDimensions { .. } => ApiError::bad_request("bad_dimensions", message),
        VideoError::ZeroFrames { .. } => ApiError::bad_request("empty_video", message),
        VideoError::Truncated { .. } => ApiError::bad_request("bad_video", message),
        VideoError::InvalidConfig(_) => ApiError::bad_request("bad_parameter", message),
        other => ApiError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_settings_are_checked() {
        let q = |scale, format, crf| UpscaleQuery { scale, format, crf, ..UpscaleQuery::default() }.settings();
        let ok = q(Some(3), None, None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            ok,
            UpscaleSettings {
                scale: 3,
                format: VideoFormat::Webm,
                model: VideoModel::Espcn,
                crf: None,
                denoise_audio: false
            }
        );
        assert!(q(Some(2), Some(VideoFormat::Webm), Some(63)).is_ok());
        for (scale, format, crf) in [
            (None, None, None),
            (Some(1), None, None),
            (Some(5), None, None),
            (Some(2), Some(VideoFormat::Mp4), Some(52)),
        ] {
            let e = q(scale, format, crf).err().unwrap_or_else(|| panic!("{scale:?} {crf:?} should be refused"));
            assert_eq!((e.status, e.body.code.as_str()), (StatusCode::BAD_REQUEST, "bad_parameter"));
        }
    }
}
