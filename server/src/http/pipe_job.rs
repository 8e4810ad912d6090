//! The shared shape of the routes that stream a video back (`POST /v1/video/upscale`,
//! `POST /v1/echo/declutter`, `GET /v1/echo/sample`): admission, the spooled upload, a blocking
//! pass writing into a pipe, and the job table that reports its progress.
//!
//! Admission: a file-job slot first (503 + `Retry-After`), then for an upload the body spooled
//! to `--spool-dir` within `--max-upload`. A blocking thread then opens the pass (errors → 4xx)
//! and runs it into a pipe, whose bytes a second thread forwards to the response body through a bounded
//! channel. The status line waits for the first encoded frame, so a file whose video holds no
//! frame is a 4xx too; damage found later can only cut the body short, which the job table then
//! reports as `failed`. A client that goes away closes the channel and the pipe, which stops the
//! pass.

use super::denoise::{spool, too_large};
use super::video::{FRAMES_HEADER, JOB_HEADER, SIZE_HEADER};
use super::video_jobs::{JobProgress, VideoJobs};
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use std::io::Read;
use std::sync::Arc;
use tempfile::NamedTempFile;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

/// Encoded output is forwarded in pieces of at most this many bytes.
const CHUNK_BYTES: usize = 64 << 10;
/// Pieces buffered between the job and a slow client before the job waits.
const CHANNEL_DEPTH: usize = 8;
/// `Retry-After` when every file-job slot is taken.
const BUSY_RETRY_S: u32 = 5;

/// A file-job slot; dropping it frees the slot.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Takes a file-job slot (503 + `Retry-After` when all `--file-jobs` are busy).
pub fn slot(state: &AppState) -> Result<Slot, ApiError> {
    let permit = state.file_jobs().clone().try_acquire_owned().map_err(|_| {
        let n = state.config().limits.file_jobs;
        ApiError::busy(format!("all {n} file-job slots are busy; retry later"), BUSY_RETRY_S)
    })?;
    Ok(Slot { _permit: permit })
}

/// An admitted upload: the spooled file and the file-job slot; dropping it deletes the file and
/// frees the slot.
pub struct Upload {
    /// The spooled body.
    pub file: NamedTempFile,
    _slot: Slot,
}

/// Takes a file-job slot and spools the body (413 beyond `--max-upload`, 503 with no slot).
pub async fn admit(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Upload, ApiError> {
    let max_bytes = state.config().limits.max_upload_bytes;
    let announced = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max_bytes) {
        return Err(too_large(max_bytes));
    }
    let slot = slot(state)?;
    let file = spool(body, max_bytes, &state.config().spool_dir).await?;
    Ok(Upload { file, _slot: slot })
}

/// What a pass holds until its output is all out: its slot and, for an upload, the spooled file.
enum Held {
    Upload(Upload),
    Slot { _slot: Slot },
}

impl Held {
    /// The spool file's path, which client-facing messages name as "upload".
    fn spool_path(&self) -> Option<String> {
        match self {
            Self::Upload(u) => Some(u.file.path().display().to_string()),
            Self::Slot { .. } => None,
        }
    }
}

/// Why a pass failed: its message (for the job table, the log and a cut body) and the answer
/// when no frame was out yet.
pub struct Failure {
    /// The error in words.
    pub message: String,
    /// The JSON error for the status line.
    pub answer: ApiError,
}

/// A pass opened (on an upload, or on input it made), ready to stream into a pipe.
pub trait PipeJob: Sized {
    /// Frames the input announces, input (width, height), output (width, height).
    fn sizes(&self) -> (Option<u64>, (usize, usize), (usize, usize));

    /// Runs into `pipe`, calling `on_frame(frames_done)`; returns frames written and fps.
    fn run(self, pipe: std::io::PipeWriter, on_frame: &mut dyn FnMut(u64)) -> Result<(u64, f64), Failure>;
}

type Piece = Result<Bytes, std::io::Error>;
type Head = oneshot::Sender<Result<Arc<JobProgress>, ApiError>>;

/// Opens the upload with `open` and streams the pass on a blocking thread; answers with the
/// streamed body of `content_type` and the job headers once the first frame is out.
pub async fn stream<P, F>(
    state: &AppState,
    upload: Upload,
    content_type: &'static str,
    open: F,
) -> Result<Response, ApiError>
where
    P: PipeJob,
    F: FnOnce(&std::path::Path) -> Result<P, ApiError> + Send + 'static,
{
    spawn(state, content_type, move || {
        let opened = open(upload.file.path()).map_err(|e| path_free(e, &upload));
        (opened, Held::Upload(upload))
    })
    .await
}

/// As [`stream`], for a pass that makes its input itself (no upload) while holding `slot`.
pub async fn stream_made<P, F>(
    state: &AppState,
    slot: Slot,
    content_type: &'static str,
    open: F,
) -> Result<Response, ApiError>
where
    P: PipeJob,
    F: FnOnce() -> Result<P, ApiError> + Send + 'static,
{
    spawn(state, content_type, move || (open(), Held::Slot { _slot: slot })).await
}

async fn spawn<P, F>(state: &AppState, content_type: &'static str, open: F) -> Result<Response, ApiError>
where
    P: PipeJob,
    F: FnOnce() -> (Result<P, ApiError>, Held) + Send + 'static,
{
    let (head_tx, head_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let jobs = state.video_jobs().clone();
    tokio::task::spawn_blocking(move || {
        let (opened, held) = open();
        run(opened, held, &jobs, head_tx, tx);
    });
    let progress = match head_rx.await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(ApiError::internal("the video job ended without an answer")),
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Response::new(Body::from_stream(stream));
    let status = progress.status();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
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

/// Replaces the spool file's path by `upload` in a client-facing message.
fn path_free(mut e: ApiError, upload: &Upload) -> ApiError {
    e.body.message = e.body.message.replace(&upload.file.path().display().to_string(), "upload");
    e
}

/// Runs on a blocking thread: run the opened pass into a pipe whose bytes a forwarding thread
/// sends to the body, answer `head` once the first frame is out.
fn run<P: PipeJob>(opened: Result<P, ApiError>, held: Held, jobs: &VideoJobs, head: Head, tx: mpsc::Sender<Piece>) {
    let pass = match opened {
        Ok(pass) => pass,
        Err(e) => {
            drop(held);
            let _ = head.send(Err(e));
            return;
        }
    };
    // Messages name the spool file; the client knows it as its upload.
    let spool_path = held.spool_path();
    let clean = |m: &str| match &spool_path {
        Some(path) => m.replace(path, "upload"),
        None => m.to_owned(),
    };
    let (frames, input, output) = pass.sizes();
    let progress = jobs.start(frames, input, output);
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => {
            jobs.finish(&progress, Some("internal error".into()));
            drop(held);
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
            drop(held);
            let _ = head.send(Err(ApiError::internal(format!("cannot start a thread: {e}"))));
            return;
        }
    };
    let mut head = Some(head);
    let result = pass.run(writer, &mut |n| {
        progress.set_frames(n);
        if let Some(h) = head.take() {
            let _ = h.send(Ok(progress.clone()));
        }
    });
    // The pass has closed the pipe's write end: the forwarder drains what is left and hands
    // back the piece it held, so the upload is gone and the slot free before the body ends.
    let last = forwarder.join().unwrap_or(Forwarded::Stopped);
    drop(held);
    match result {
        Err(Failure { message, mut answer }) if head.is_some() => {
            let message = clean(&message);
            jobs.finish(&progress, Some(message.clone()));
            if let Some(h) = head.take() {
                answer.body.message = message;
                let _ = h.send(Err(answer));
            }
        }
        Err(Failure { message, .. }) => {
            let message = clean(&message);
            tracing::warn!(error = %message, job = progress.id(), "video job failed mid-stream");
            jobs.finish(&progress, Some(message.clone()));
            let _ = tx.blocking_send(Err(std::io::Error::other(message)));
        }
        Ok((frames, fps)) => match last {
            Forwarded::Finished(last) => {
                jobs.finish(&progress, None);
                tracing::info!(job = progress.id(), frames, fps, "video job done");
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
