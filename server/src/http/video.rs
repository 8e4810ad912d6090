//! `POST /v1/video/upscale`: a video file in, the upscaled video streamed back as it is encoded
//! (WebM, or fragmented MP4); `GET /v1/video/jobs/{id}`: how far that job is.
//!
//! Admission and the upload are as for audio files ([`super::denoise`]): a file-job slot first
//! (503 + `Retry-After`), the body spooled to `--spool-dir` within `--max-upload`. A blocking
//! thread then opens the file (not a video, no video stream, unknown codec, a size beyond the
//! cap → 4xx) and runs [`UpscaleJob`] into a pipe, whose bytes a second thread forwards to the
//! response body through a bounded channel. The status line waits for the first encoded frame,
//! so a file whose video holds no frame is a 400 too; damage found later can only cut the body
//! short, which the job table then reports as `failed`. A client that goes away closes the
//! channel and the pipe, which stops the job.

use super::denoise::{spool, too_large};
use super::video_jobs::{JobProgress, JobStatus};
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use sluice_engine::Threads;
use sluice_models::dfn3::Dfn3Model;
use sluice_pipeline::video::{
    BicubicUpscaler, Container, EspcnUpscaler, LumaUpscaler, OutputTarget, UpscaleJob, UpscaleOptions, VideoError,
};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use tempfile::NamedTempFile;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

/// Encoded output is forwarded in pieces of at most this many bytes.
const CHUNK_BYTES: usize = 64 << 10;
/// Pieces buffered between the job and a slow client before the job waits.
const CHANNEL_DEPTH: usize = 8;
/// `Retry-After` when every file-job slot is taken.
const BUSY_RETRY_S: u32 = 5;

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
        let max_crf = match format {
            VideoFormat::Webm => 63,
            VideoFormat::Mp4 => 51,
        };
        if let Some(crf) = self.crf.filter(|c| *c > max_crf) {
            return Err(ApiError::bad_request("bad_parameter", format!("`crf` must be 0..={max_crf} here, got {crf}")));
        }
        Ok(UpscaleSettings {
            scale,
            format,
            model: self.model.unwrap_or_default(),
            crf: self.crf,
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
    let limits = &state.config().limits;
    let max_bytes = limits.max_upload_bytes;
    let announced = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max_bytes) {
        return Err(too_large(max_bytes));
    }
    let permit = state.file_jobs().clone().try_acquire_owned().map_err(|_| {
        ApiError::busy(format!("all {} file-job slots are busy; retry later", limits.file_jobs), BUSY_RETRY_S)
    })?;
    let upload = spool(body, max_bytes, &state.config().spool_dir).await?;
    let job = Job { settings, dfn3, upload, threads: state.threads().count(), _permit: permit };

    let (head_tx, head_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let jobs = state.video_jobs().clone();
    tokio::task::spawn_blocking(move || run_job(job, &jobs, head_tx, tx));
    let progress = match head_rx.await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(ApiError::internal("the video job ended without an answer")),
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Response::new(Body::from_stream(stream));
    let status = progress.status();
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(match settings.format {
            VideoFormat::Webm => "video/webm",
            VideoFormat::Mp4 => "video/mp4",
        }),
    );
    if let Ok(v) = HeaderValue::from_str(progress.id()) {
        h.insert(JOB_HEADER, v);
    }
    if let Some(n) = status.frames_total {
        h.insert(FRAMES_HEADER, HeaderValue::from(n));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{}x{}", status.output_size[0], status.output_size[1])) {
        h.insert(SIZE_HEADER, v);
    }
    Ok(response)
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

/// What a video job owns; dropping it deletes the upload and frees the slot.
struct Job {
    settings: UpscaleSettings,
    dfn3: Option<Arc<Dfn3Model>>,
    upload: NamedTempFile,
    threads: usize,
    _permit: OwnedSemaphorePermit,
}

type Piece = Result<Bytes, std::io::Error>;
type Head = oneshot::Sender<Result<Arc<JobProgress>, ApiError>>;

/// Runs on a blocking thread: open and check the input, run the pass into a pipe whose bytes a
/// forwarding thread sends to the body, answer `head` once the first frame is out.
fn run_job(job: Job, jobs: &super::video_jobs::VideoJobs, head: Head, tx: mpsc::Sender<Piece>) {
    let opened = open(&job);
    let (upscale, container) = match opened {
        Ok(parts) => parts,
        Err(e) => {
            drop(job);
            let _ = head.send(Err(e));
            return;
        }
    };
    // Messages name the spool file; the client knows it as its upload.
    let spool_path = job.upload.path().display().to_string();
    let clean = |e: &VideoError| e.to_string().replace(&spool_path, "upload");
    let info = upscale.info().clone();
    let scale = job.settings.scale;
    let (w, h) = info.size;
    let out = if info.rotation % 180 == 0 { (w * scale, h * scale) } else { (h * scale, w * scale) };
    let progress = jobs.start(info.frames, (w, h), out);
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            jobs.finish(&progress, Some("internal error".into()));
            drop(job);
            let _ = head.send(Err(ApiError::internal(format!("cannot make a pipe: {e}"))));
            return;
        }
    };
    let forward_tx = tx.clone();
    let forwarder =
        std::thread::Builder::new().name("sluice-video-out".into()).spawn(move || forward(reader, &forward_tx));
    let forwarder = match forwarder {
        Ok(f) => f,
        Err(e) => {
            jobs.finish(&progress, Some("internal error".into()));
            drop(job);
            let _ = head.send(Err(ApiError::internal(format!("cannot start a thread: {e}"))));
            return;
        }
    };
    let mut head = Some(head);
    let result = upscale.run(OutputTarget::Pipe(writer), container, &mut |n| {
        progress.set_frames(n);
        if let Some(h) = head.take() {
            let _ = h.send(Ok(progress.clone()));
        }
    });
    // The pass has closed the pipe's write end: the forwarder drains what is left and hands
    // back the piece it held, so the upload is gone and the slot free before the body ends.
    let held = forwarder.join().unwrap_or(Forwarded::Stopped);
    drop(job);
    match result {
        Err(e) if head.is_some() => {
            let message = clean(&e);
            jobs.finish(&progress, Some(message.clone()));
            if let Some(h) = head.take() {
                let mut answer = video_error(e);
                answer.body.message = message;
                let _ = h.send(Err(answer));
            }
        }
        Err(e) => {
            let message = clean(&e);
            tracing::warn!(error = %message, job = progress.id(), "video job failed mid-stream");
            jobs.finish(&progress, Some(message.clone()));
            let _ = tx.blocking_send(Err(std::io::Error::other(message)));
        }
        Ok(summary) => match held {
            Forwarded::Finished(last) => {
                jobs.finish(&progress, None);
                tracing::info!(job = progress.id(), frames = summary.frames, fps = summary.fps(), "video job done");
                if let Some(last) = last {
                    let _ = tx.blocking_send(Ok(last));
                }
            }
            Forwarded::Stopped => {
                jobs.finish(&progress, Some("the client went away".into()));
            }
        },
    }
}

/// How the forwarder ended.
enum Forwarded {
    /// The pipe reached its end; the last piece, held back, is for the caller to send.
    Finished(Option<Bytes>),
    /// The client went away or the pipe failed.
    Stopped,
}

/// Reads the pipe into pieces and sends them, always holding the latest one back.
fn forward(mut reader: std::io::PipeReader, tx: &mpsc::Sender<Piece>) -> Forwarded {
    let mut held: Option<Bytes> = None;
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Forwarded::Finished(held),
            Ok(n) => {
                // Dropping the reader makes the muxer's next write fail: the job stops.
                if let Some(ready) = held.replace(Bytes::copy_from_slice(&buf[..n]))
                    && tx.blocking_send(Ok(ready)).is_err()
                {
                    return Forwarded::Stopped;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::error!(error = %e, "reading the video pipe");
                return Forwarded::Stopped;
            }
        }
    }
}

/// Opens the upload with the asked-for model.
fn open(job: &Job) -> Result<(UpscaleJob, Container), ApiError> {
    let s = job.settings;
    let upscaler: Box<dyn LumaUpscaler> = match s.model {
        VideoModel::Bicubic => Box::new(BicubicUpscaler::new(s.scale).map_err(video_error)?),
        VideoModel::Espcn => {
            let threads = Threads::new(job.threads.max(1)).map_err(ApiError::internal)?;
            Box::new(EspcnUpscaler::bundled(s.scale, Arc::new(threads)).map_err(video_error)?)
        }
    };
    let options = UpscaleOptions { crf: s.crf, denoise_audio: job.dfn3.clone() };
    let opened = UpscaleJob::open(job.upload.path(), upscaler, options)
        .map_err(|e| path_free(video_error(e), job.upload.path()))?;
    let container = match s.format {
        VideoFormat::Webm => Container::WebM,
        VideoFormat::Mp4 => Container::Mp4,
    };
    Ok((opened, container))
}

/// The status for a video error.
fn video_error(e: VideoError) -> ApiError {
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

/// Replaces the spool file's path by `upload` in a client-facing message.
fn path_free(mut e: ApiError, path: &Path) -> ApiError {
    e.body.message = e.body.message.replace(&path.display().to_string(), "upload");
    e
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
