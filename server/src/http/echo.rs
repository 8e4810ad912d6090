//! `POST /v1/echo/declutter`: an echo clip (a video file, a ZIP/tar archive of PNG/JPEG frames,
//! or a multi-frame DICOM, told apart by content) in, the clutter-filtered clip streamed back
//! while it is encoded (grey WebM, fragmented MP4, or a multi-frame DICOM); progress at
//! `GET /v1/video/jobs/{id}`, like the upscale route whose admission, pipe and job table
//! ([`super::pipe_job`]) it shares.

use super::pipe_job::{self, Failure, PipeJob};
use super::video::{VideoFormat, video_error};
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use sluice_engine::Threads;
use sluice_models::clutter::Clutter;
use sluice_pipeline::echo::{DeclutterError, DeclutterJob, DeclutterOptions, DeclutterTarget};
use sluice_pipeline::video::OutputTarget;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Output of `POST /v1/echo/declutter`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeclutterFormat {
    /// VP9 in WebM.
    #[default]
    Webm,
    /// H.264 in fragmented MP4.
    Mp4,
    /// Multi-frame grey DICOM (JPEG baseline for a JPEG DICOM input, else explicit VR little
    /// endian); from a video it is sent once the whole clip is filtered.
    Dcm,
}

impl DeclutterFormat {
    /// The video format, or `None` for DICOM.
    fn video(self) -> Option<VideoFormat> {
        match self {
            Self::Webm => Some(VideoFormat::Webm),
            Self::Mp4 => Some(VideoFormat::Mp4),
            Self::Dcm => None,
        }
    }
}

/// Query of `POST /v1/echo/declutter`.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeclutterQuery {
    /// Output: `webm` (VP9, default), `mp4` (H.264, fragmented) or `dcm` (multi-frame DICOM).
    #[param(inline)]
    pub format: Option<DeclutterFormat>,
    /// Constant rate factor for video (H.264 0–51, default 23; VP9 0–63, default 32).
    pub crf: Option<u8>,
}

impl DeclutterQuery {
    /// The output and CRF asked for, or a 400 naming the bad parameter.
    pub fn settings(self) -> Result<(DeclutterFormat, Option<u8>), ApiError> {
        let format = self.format.unwrap_or_default();
        match format.video() {
            Some(video) => Ok((format, video.check_crf(self.crf)?)),
            None if self.crf.is_some() => {
                Err(ApiError::bad_request("bad_parameter", "`crf` applies to video outputs, not to `format=dcm`"))
            }
            None => Ok((format, None)),
        }
    }

    fn content_type(format: DeclutterFormat) -> &'static str {
        format.video().map_or("application/dicom", VideoFormat::content_type)
    }
}

/// The bundled clutter filter, loaded once per process (shared with `/v1/video/stream`).
pub(crate) fn clutter_model() -> Result<Clutter, String> {
    static MODEL: OnceLock<Result<Clutter, String>> = OnceLock::new();
    MODEL.get_or_init(|| Clutter::bundled().map_err(|e| e.to_string())).clone()
}

fn model() -> Result<Clutter, ApiError> {
    clutter_model().map_err(|e| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_model", format!("the clutter filter is not loaded: {e}"))
    })
}

/// Remove clutter (near-field haze, reverberation bands) from an echocardiography clip.
///
/// The upload is a video (any container and codec FFmpeg decodes), a ZIP, tar or tar.gz archive
/// of PNG/JPEG frames (read in member-name order, at 30 fps), or a multi-frame DICOM (8-bit
/// MONOCHROME1/2, RGB, YBR_FULL, YBR_FULL_422; uncompressed little endian or JPEG baseline;
/// its Frame Time or Cine Rate gives the rate), told apart by content. Colour is reduced to
/// BT.601 grey and frame sides that are not multiples of 8 are zero-padded and cropped back.
/// The response streams the filtered clip as it is encoded: grey WebM (VP9) or fragmented MP4
/// (H.264), 4:2:0 with neutral chroma, every frame's timing kept (an odd side loses its last
/// row or column); or, with `format=dcm`, a multi-frame grey DICOM keeping a DICOM input's
/// identity, timing and geometry tags, marked derived with new SOP Instance and Series UIDs
/// (JPEG baseline in → JPEG baseline out, else explicit VR little endian). A video becomes a
/// DICOM only once it is all filtered (the header states the frame count), so that answer
/// starts at the end; its frames wait in a temporary file meanwhile. `Sluice-Job` names the job for `GET /v1/video/jobs/{id}`, `Sluice-Frames`
/// gives the frames the input announces, `Sluice-Output-Size` the output size. Errors found
/// before the first frame is encoded are JSON errors; damage found later cuts the body short and
/// the job reads `failed`. The filter does not yet reach its quality targets (README).
#[utoipa::path(
    post,
    path = "/v1/echo/declutter",
    tag = "echo",
    params(DeclutterQuery),
    request_body(
        description = "The clip's bytes (MP4, WebM, Matroska, AVI, …; ZIP/tar/tar.gz of PNG/JPEG frames; DICOM); any `Content-Type`.",
        content((Vec<u8> = "application/octet-stream")),
    ),
    responses(
        (status = 200, description = "The filtered clip, streamed",
         content((Vec<u8> = "video/webm"), (Vec<u8> = "video/mp4"), (Vec<u8> = "application/dicom")),
         headers(
             ("Sluice-Job" = String, description = "Job id for the progress route"),
             ("Sluice-Output-Size" = String, description = "Output `WIDTHxHEIGHT`"),
         )),
        (status = 400, description = "Bad parameter, a frame of more than 640×480 pixels, a video with no frames, a damaged DICOM (no pixel data, frame count mismatch, …), an archive with no frames or with other members", body = ErrorBody),
        (status = 401, description = "API key missing or wrong", body = ErrorBody),
        (status = 408, description = "Upload not received and checked within the upload timeout", body = ErrorBody),
        (status = 413, description = "Upload too large", body = ErrorBody),
        (status = 415, description = "Not a video, no video stream, a codec this server cannot decode, an unreadable frame, or a DICOM this server does not take (transfer syntax, bit depth, photometric interpretation)", body = ErrorBody),
        (status = 503, description = "All file-job slots busy (see `Retry-After`)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
pub async fn declutter(
    State(state): State<AppState>,
    query: Result<Query<DeclutterQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad_parameter", e.body_text()))?;
    let (format, crf) = query.settings()?;
    let model = model()?;
    let upload = pipe_job::admit(&state, &headers, body).await?;
    // The server's one engine pool (see the upscale route).
    let threads = state.threads().clone();
    let content_type = DeclutterQuery::content_type(format);
    pipe_job::stream(&state, upload, content_type, move |path| open(path, &model, format, crf, threads)).await
}

/// An opened declutter pass and its output format.
struct Declutter {
    job: DeclutterJob,
    format: DeclutterFormat,
}

impl PipeJob for Declutter {
    fn sizes(&self) -> (Option<u64>, (usize, usize), (usize, usize)) {
        let info = self.job.info();
        let (w, h) = info.size;
        let out = if self.format == DeclutterFormat::Dcm { (w, h) } else { (w & !1, h & !1) };
        (info.frames, (w, h), out)
    }

    fn run(self, pipe: std::io::PipeWriter, on_frame: &mut dyn FnMut(u64)) -> Result<(u64, f64), Failure> {
        let target = match self.format.video() {
            Some(video) => DeclutterTarget::Video(OutputTarget::Pipe(pipe), video.container()),
            None => DeclutterTarget::Dicom(OutputTarget::Pipe(pipe)),
        };
        match self.job.run(target, on_frame) {
            Ok(s) => Ok((s.frames, s.fps())),
            Err(e) => Err(Failure { message: e.to_string(), answer: declutter_error(e) }),
        }
    }
}

fn open(
    path: &Path,
    model: &Clutter,
    format: DeclutterFormat,
    crf: Option<u8>,
    threads: Arc<Threads>,
) -> Result<Declutter, ApiError> {
    let options = DeclutterOptions { crf, ..DeclutterOptions::default() };
    let job = DeclutterJob::open(path, model, threads, options).map_err(declutter_error)?;
    Ok(Declutter { job, format })
}

/// The status for a declutter error.
fn declutter_error(e: DeclutterError) -> ApiError {
    match e {
        DeclutterError::Video(v) => video_error(v),
        e @ DeclutterError::BadDimensions { .. } => ApiError::bad_request("bad_dimensions", e.to_string()),
        e @ (DeclutterError::BadImage { .. } | DeclutterError::UnsupportedDicom { .. }) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media", e.to_string())
        }
        e @ DeclutterError::BadDicom { .. } => ApiError::bad_request("bad_dicom", e.to_string()),
        e @ (DeclutterError::BadArchive { .. } | DeclutterError::MixedSizes { .. }) => {
            ApiError::bad_request("bad_archive", e.to_string())
        }
        other => ApiError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_settings_are_checked() {
        let q = |format, crf| DeclutterQuery { format, crf }.settings();
        assert_eq!(q(None, None).ok(), Some((DeclutterFormat::Webm, None)));
        assert_eq!(q(Some(DeclutterFormat::Webm), Some(63)).ok(), Some((DeclutterFormat::Webm, Some(63))));
        assert_eq!(q(Some(DeclutterFormat::Dcm), None).ok(), Some((DeclutterFormat::Dcm, None)));
        let e =
            q(Some(DeclutterFormat::Mp4), Some(52)).err().unwrap_or_else(|| panic!("crf 52 in mp4 should be refused"));
        assert_eq!((e.status, e.body.code.as_str()), (StatusCode::BAD_REQUEST, "bad_parameter"));
        let e =
            q(Some(DeclutterFormat::Dcm), Some(20)).err().unwrap_or_else(|| panic!("crf with dcm should be refused"));
        assert_eq!(e.body.code.as_str(), "bad_parameter");
        assert_eq!(DeclutterQuery::content_type(DeclutterFormat::Dcm), "application/dicom");
    }
}
