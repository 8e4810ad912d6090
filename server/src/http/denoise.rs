//! `POST /v1/audio/denoise`: an audio file in, the enhanced WAV streamed back as it is produced.
//!
//! A job slot is taken first (503 + `Retry-After` when none is free, before any upload bytes
//! are read); the upload is then spooled to a temporary file in `--spool-dir` (the decoder needs
//! to seek), bounded by `--max-upload` and `--upload-timeout`, and deleted when the job ends,
//! however it ends. A blocking thread then decodes the whole file once to check it and count its
//! frames — so undecodable audio is a 400/415 before any 200 is sent, and the WAV header is final
//! from the first byte — and again to denoise it with [`Enhancer`], the loop `sluice denoise`
//! runs, feeding encoded chunks into a bounded channel that the response body drains. The bytes
//! equal `sluice denoise`'s output file for the same input and settings. A client that goes away
//! closes the channel, which stops the job.

use crate::denoise::{Enhancer, RunError, Settings};
use crate::gating::Gating;
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::wav_stream::{self, WavHeaderError};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use sluice_models::dfn3::Dfn3Model;
use sluice_pipeline::audio::{AudioError, AudioReader, WavSampleFormat};
use std::path::Path;
use std::sync::Arc;
use tempfile::NamedTempFile;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

/// Encoded output is sent in pieces of about this many bytes.
const CHUNK_BYTES: usize = 64 << 10;
/// Pieces buffered between the job and a slow client before the job waits.
const CHANNEL_DEPTH: usize = 8;
/// `Retry-After` when every file-job slot is taken.
const BUSY_RETRY_S: u32 = 5;

/// Query of `POST /v1/audio/denoise`.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DenoiseQuery {
    /// Attenuation limit in dB: noise is reduced by at most this much (0..=100; 100 = no limit).
    #[param(minimum = 0.0, maximum = 100.0)]
    pub atten_lim_db: Option<f32>,
    /// Post-filter strength β (0..=1; 0 = off, 0.02 is typical).
    #[param(minimum = 0.0, maximum = 1.0)]
    pub post_filter_beta: Option<f32>,
    /// lsnr stage gating: `off` (default) runs every stage on every hop, as libDF's C API;
    /// `lsnr` mutes noise-only hops and skips the decoders a hop does not use, as libDF's
    /// library does (less CPU, different output).
    #[param(inline)]
    pub gating: Option<Gating>,
}

impl DenoiseQuery {
    /// The settings asked for, or a 400 naming the bad parameter.
    pub fn settings(self) -> Result<Settings, ApiError> {
        let defaults = Settings::default();
        let check = |name: &str, value: Option<f32>, max: f32, default: f32| match value {
            None => Ok(default),
            Some(v) if v.is_finite() && (0.0..=max).contains(&v) => Ok(v),
            Some(v) => Err(ApiError::bad_request("bad_parameter", format!("`{name}` must be in 0..={max}, got {v}"))),
        };
        Ok(Settings {
            atten_lim_db: check("atten_lim_db", self.atten_lim_db, 100.0, defaults.atten_lim_db)?,
            post_filter_beta: check("post_filter_beta", self.post_filter_beta, 1.0, defaults.post_filter_beta)?,
            gating: self.gating.unwrap_or_default(),
        })
    }
}

/// Enhance speech in an audio file (WAV, FLAC, Ogg Vorbis or MP3; any rate from 8 to 192 kHz,
/// any channel count).
///
/// The response is a WAV at the input's rate and channel count, exactly as long and aligned
/// sample for sample: 16-bit PCM, or 32-bit float for 24/32-bit and float inputs. Its
/// `Content-Length` is known up front and the body streams while the file is processed.
#[utoipa::path(
    post,
    path = "/v1/audio/denoise",
    tag = "audio",
    params(DenoiseQuery),
    request_body(
        description = "The audio file's bytes. Any `Content-Type` is accepted (`audio/wav`, `audio/flac`, ...): \
                       the format is detected from the content.",
        content((Vec<u8> = "application/octet-stream")),
    ),
    responses(
        (status = 200, description = "The enhanced WAV, streamed", content_type = "audio/wav", body = Vec<u8>),
        (status = 400, description = "Bad parameter, corrupt or empty audio", body = ErrorBody),
        (status = 401, description = "API key missing or wrong", body = ErrorBody),
        (status = 408, description = "Upload not received and checked within the upload timeout", body = ErrorBody),
        (status = 413, description = "Upload or its audio too long", body = ErrorBody),
        (status = 415, description = "Not audio in a format this server reads", body = ErrorBody),
        (status = 503, description = "All file-job slots busy (see `Retry-After`) or no model loaded", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
pub async fn denoise(
    State(state): State<AppState>,
    query: Result<Query<DenoiseQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad_parameter", e.body_text()))?;
    let settings = query.settings()?;
    let model = state
        .dfn3()
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_model", "the DFN3 model is not loaded"))?;
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
    let max_seconds = limits.max_upload_audio_s;

    let (head_tx, head_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::task::spawn_blocking(move || {
        job(Job { model, settings, upload, max_seconds, _permit: permit }, head_tx, tx)
    });
    let total_len = match head_rx.await {
        Ok(Ok(len)) => len,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(ApiError::internal("the file job ended without an answer")),
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(total_len));
    Ok(response)
}

pub(super) fn too_large(max_bytes: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the upload exceeds {max_bytes} bytes"))
}

/// Writes the request body into a new temporary file (deleted when dropped).
pub(super) async fn spool(body: Body, max_bytes: u64, dir: &Path) -> Result<NamedTempFile, ApiError> {
    let tmp = tempfile::Builder::new()
        .prefix("sluice-upload-")
        .tempfile_in(dir)
        .map_err(|e| ApiError::internal(format!("cannot create a spool file: {e}")))?;
    let file = tmp.reopen().map_err(|e| ApiError::internal(format!("cannot open the spool file: {e}")))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| {
            // tower-http's body limit ends the stream with an error once the limit is crossed.
            if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit exceeded")) {
                too_large(max_bytes)
            } else {
                ApiError::bad_request("upload_failed", format!("the upload was cut off: {e}"))
            }
        })?;
        received += piece.len() as u64;
        if received > max_bytes {
            return Err(too_large(max_bytes));
        }
        tokio::io::AsyncWriteExt::write_all(&mut file, &piece)
            .await
            .map_err(|e| ApiError::internal(format!("cannot write the spool file: {e}")))?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(|e| ApiError::internal(format!("cannot write the spool file: {e}")))?;
    if received == 0 {
        return Err(ApiError::bad_request("empty_upload", "the request body is empty: send the audio file's bytes"));
    }
    Ok(tmp)
}

/// What a file job owns; dropping it deletes the upload and frees the slot.
struct Job {
    model: Arc<Dfn3Model>,
    settings: Settings,
    upload: NamedTempFile,
    max_seconds: u64,
    _permit: OwnedSemaphorePermit,
}

type Piece = Result<Bytes, std::io::Error>;

/// Runs on a blocking thread: check, answer `head` with the response length, then stream.
///
/// The job (spool file and slot) is dropped before the client can see the end of its answer —
/// before an error is sent, and before the last piece of a success — so a client that has its
/// whole response never finds the upload still on disk or the slot still taken.
fn job(job: Job, head: oneshot::Sender<Result<u64, ApiError>>, tx: mpsc::Sender<Piece>) {
    let checked = check(&job, job.upload.path());
    let (header, format, mut reader, enhancer) = match checked {
        Ok(parts) => parts,
        Err(e) => {
            drop(job);
            let _ = head.send(Err(e));
            return;
        }
    };
    let _ = head.send(Ok(header.len() as u64 + data_len(&header)));
    let mut out = header;
    // One full piece is always held back, so the last send below never finds nothing to send.
    let mut held: Option<Bytes> = None;
    let result = enhancer.run(
        &mut reader,
        |_| {},
        |samples| {
            wav_stream::encode(format, samples, &mut out);
            if out.len() >= CHUNK_BYTES {
                let piece = Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(CHUNK_BYTES + 4096)));
                if let Some(ready) = held.replace(piece) {
                    tx.blocking_send(Ok(ready)).map_err(|_| RunError::Abandoned("the client went away".into()))?;
                }
            }
            Ok(())
        },
    );
    drop(reader);
    drop(job);
    match result {
        Ok(_) => {
            for piece in held.into_iter().chain(Some(Bytes::from(out))).filter(|p| !p.is_empty()) {
                if tx.blocking_send(Ok(piece)).is_err() {
                    break;
                }
            }
        }
        Err(RunError::Abandoned(why)) => tracing::info!(reason = why, "file job stopped"),
        Err(e) => {
            // The 200 is sent: all that can be done is to cut the body short (the client sees
            // fewer bytes than Content-Length announced).
            tracing::error!(error = %e, "file job failed mid-stream");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    }
}

/// The `data` chunk length written in `header` (its last four bytes).
fn data_len(header: &[u8]) -> u64 {
    let n = header.len();
    u64::from(u32::from_le_bytes([header[n - 4], header[n - 3], header[n - 2], header[n - 1]]))
}

/// Decodes the upload once to validate it and count frames; returns the WAV header, the sample
/// format, a fresh reader at the start and the set-up enhancer.
fn check(job: &Job, path: &Path) -> Result<(Vec<u8>, WavSampleFormat, AudioReader, Enhancer), ApiError> {
    let audio_err = |e: AudioError| audio_error(e, path);
    let mut reader = AudioReader::open(path).map_err(audio_err)?;
    let info = reader.info();
    let max_frames = job.max_seconds.saturating_mul(u64::from(info.sample_rate));
    while reader.next_chunk().map_err(audio_err)?.is_some() {
        if reader.frames_read() > max_frames {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "audio_too_long",
                format!("the audio is longer than the {} s this server accepts", job.max_seconds),
            ));
        }
    }
    let frames = reader.frames_read();
    if frames == 0 {
        return Err(ApiError::bad_request("empty_audio", "the file holds no audio samples"));
    }
    let enhancer = Enhancer::new(job.model.clone(), &info, job.settings).map_err(|e| match e {
        RunError::Denoise(e) => ApiError::bad_request("unsupported_stream", e.to_string()),
        other => ApiError::internal(other),
    })?;
    let format = WavSampleFormat::for_input(&info);
    let header = wav_stream::header(info.sample_rate, info.channels, format, frames).map_err(|e| match e {
        WavHeaderError::TooLong { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "audio_too_long", e.to_string()),
        WavHeaderError::Spec(_) => ApiError::bad_request("unsupported_stream", e.to_string()),
    })?;
    let reader = AudioReader::open(path).map_err(audio_err)?;
    Ok((header, format, reader, enhancer))
}

/// The status for a decoding error; the spool file's path is replaced by `upload` in the message.
fn audio_error(e: AudioError, path: &Path) -> ApiError {
    let message = e.to_string().replace(&path.display().to_string(), "upload");
    match e {
        AudioError::NotAudio { .. } | AudioError::Unsupported { .. } => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media", message)
        }
        AudioError::BadChannels { .. }
        | AudioError::BadSampleRate { .. }
        | AudioError::Truncated { .. }
        | AudioError::Corrupt { .. } => ApiError::bad_request("bad_audio", message),
        other => ApiError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_settings_are_range_checked() {
        let q = |a, b| DenoiseQuery { atten_lim_db: a, post_filter_beta: b, gating: None }.settings();
        let ok = q(None, None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ok, Settings::default());
        let ok = q(Some(12.0), Some(0.02)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((ok.atten_lim_db, ok.post_filter_beta), (12.0, 0.02));
        for (a, b) in [
            (Some(-1.0), None),
            (Some(f32::NAN), None),
            (Some(101.0), None),
            (None, Some(2.0)),
            (None, Some(f32::INFINITY)),
        ] {
            let e = q(a, b).err().unwrap_or_else(|| panic!("{a:?} {b:?} should be refused"));
            assert_eq!((e.status, e.body.code.as_str()), (StatusCode::BAD_REQUEST, "bad_parameter"));
        }
    }
}
