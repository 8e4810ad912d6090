//! `GET /v1/video/stream`: live video super-resolution or echo clutter filtering over a
//! WebSocket (DESIGN §5, README "Live video").
//!
//! | concern | module |
//! |---|---|
//! | messages, frame header, formats, `start` checks | [`protocol`] |
//! | one session: handshake, reader/writer tasks | `session` |
//! | the latest-frame-wins mailbox and the compute thread | `worker` |
//! | flags and limits | [`limits`] |
//! | metric names and descriptions | [`metrics`] |
//!
//! The shape is the live-audio route's ([`crate::stream`]), whose socket helpers, close codes
//! and error events it shares. Admission: a stream slot (semaphore permit) is taken before the
//! upgrade — none left → HTTP 503 + `Retry-After` — and held by the session. Each stream's
//! frames run on its own blocking thread, on the engine pool every stream shares. Drain:
//! [`VideoStreamService::begin_drain`] refuses new streams and makes every live one finish its
//! waiting frame, send `done` and close with 1001.

pub mod limits;
pub mod metrics;
pub mod protocol;
mod session;
mod worker;

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_engine::Threads;
use sluice_pipeline::echo::declutter::MAX_PIXELS;
use sluice_pipeline::video::MAX_OUTPUT;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{ApiKeys, authorize};
use crate::state::AppState;
use crate::stream::socket;
use limits::VideoStreamLimits;

/// Room for the largest message the server may send (each send is flushed before the next, so
/// this is a cap, not a buffer): the header and an 8K frame at up to 3 bytes per pixel (a JPEG
/// of noise at the best quality), plus slack.
const MAX_WRITE_BUFFER: usize = protocol::HEADER_BYTES + MAX_OUTPUT.0 * MAX_OUTPUT.1 * 3 + (1 << 20);

/// The live-video service: limits, admission, the shared engine pool and drain.
pub struct VideoStreamService {
    limits: VideoStreamLimits,
    keys: ApiKeys,
    threads: Arc<Threads>,
    permits: Arc<Semaphore>,
    drain: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for VideoStreamService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoStreamService")
            .field("limits", &self.limits)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl VideoStreamService {
    /// A service whose streams run on `threads` (shared with the rest of the server). Models
    /// are loaded by the first stream that needs them.
    pub fn new(limits: VideoStreamLimits, keys: ApiKeys, threads: Arc<Threads>) -> Arc<Self> {
        let max = limits.max_streams.max(1);
        Arc::new(Self {
            limits: VideoStreamLimits { max_streams: max, ..limits },
            keys,
            threads,
            permits: Arc::new(Semaphore::new(max)),
            drain: CancellationToken::new(),
            tracker: TaskTracker::new(),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &VideoStreamLimits {
        &self.limits
    }

    /// Streams open now.
    pub fn active(&self) -> usize {
        self.limits.max_streams - self.permits.available_permits()
    }

    /// Refuses new streams from now on and makes live ones finish and close with 1001.
    pub fn begin_drain(&self) {
        self.drain.cancel();
        self.tracker.close();
    }

    /// Resolves once every session has ended (call after [`VideoStreamService::begin_drain`]).
    pub async fn drained(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn threads(&self) -> &Arc<Threads> {
        &self.threads
    }

    fn drain_token(&self) -> &CancellationToken {
        &self.drain
    }

    fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }
}

/// `GET /v1/video/stream`: live video super-resolution or echo clutter filtering over a WebSocket.
///
/// After the upgrade the client sends `{"type":"start","op":"upscale"|"declutter","width":W,
/// "height":H,"format":"i420"|"jpeg","scale":2..4,"model":"espcn"|"bicubic","quality":1..100,
/// "range":"limited"|"full"}` and waits for `{"type":"ready","width","height","format",
/// "latency_frames","header_bytes","max_message_bytes"}` (the output size). Every binary
/// message, both ways, is a 16-byte little-endian header — u64 sequence number, i64 timestamp
/// in µs, both chosen by the client and echoed by the server — followed by one frame: raw I420
/// (Y, Cb, Cr planes packed, exactly `W·H + 2·⌈W/2⌉·⌈H/2⌉` bytes) or one JPEG picture of W×H.
/// Output frames come back in order (upscale: W·s × H·s; declutter: W × H grey, neutral
/// chroma). While a frame is processed, a newer one replaces the one waiting (latest frame
/// wins; the replaced one is dropped). `stats` events report `processed`, `dropped`,
/// `last_ms`, `queue`; `stop` → the waiting frame is processed → `{"type":"done","frames_in",
/// "frames_out","dropped"}`. Close codes: 1000 normal, 1001 server draining, 1003 bad message
/// or frame (wrong size, undecodable JPEG), 1008 bad API key, idle, or frames beyond the
/// message limit, 1009 message too big, 1011 internal error.
#[utoipa::path(
    get,
    path = "/v1/video/stream",
    tag = "video",
    params(("token" = Option<String>, Query, description = "API key, for browsers that cannot set `Authorization`")),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 503, description = "All live-video streams are in use, or the server is draining; see `Retry-After`"),
    ),
    security((), ("api_key" = []))
)]
pub async fn stream_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let svc = state.video_streams().clone();
    if svc.drain.is_cancelled() {
        return socket::unavailable(metrics::STREAMS_REJECTED, "draining", "the server is shutting down");
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let l = &svc.limits;
    let ws = ws
        .max_message_size(l.max_message)
        .max_frame_size(l.max_message)
        .write_buffer_size(64 << 10)
        .max_write_buffer_size(MAX_WRITE_BUFFER);
    if authorize(&svc.keys, &headers, &uri).is_err() {
        ::metrics::counter!(metrics::STREAMS_REJECTED, "reason" => "auth").increment(1);
        let timeout = l.write_timeout;
        return ws.on_upgrade(move |s| socket::refuse(s, socket::unauthorized(), timeout, metrics::STREAMS_CLOSED));
    }
    let Ok(permit) = svc.permits.clone().try_acquire_owned() else {
        return socket::unavailable(
            metrics::STREAMS_REJECTED,
            "capacity",
            "all live-video streams are in use; retry later",
        );
    };
    let tracked = svc.clone();
    ws.on_upgrade(move |socket| tracked.tracker.clone().track_future(session::run(socket, permit, tracked)))
}

/// What `/v1/info` says about live video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VideoStreamInfo {
    /// The route.
    pub route: String,
    /// Stream cap.
    pub max_streams: usize,
    /// Streams open now.
    pub active_streams: usize,
    /// Operations.
    pub ops: Vec<String>,
    /// Frame formats.
    pub formats: Vec<String>,
    /// Upscale factors.
    pub scales: Vec<usize>,
    /// Upscale luma models.
    pub models: Vec<String>,
    /// Largest upscale output (long side, short side), pixels.
    pub max_upscale_output: [usize; 2],
    /// Largest declutter frame, pixels (width × height).
    pub max_declutter_pixels: usize,
    /// Bytes of the frame header.
    pub header_bytes: usize,
    /// Largest WebSocket message, bytes.
    pub max_message_bytes: usize,
    /// Idle timeout, ms.
    pub idle_timeout_ms: u64,
    /// Whether an API key is required.
    pub auth: bool,
}

impl VideoStreamInfo {
    /// Describes `svc`.
    pub fn of(svc: &VideoStreamService) -> Self {
        let strings = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect();
        Self {
            route: "/v1/video/stream".into(),
            max_streams: svc.limits.max_streams,
            active_streams: svc.active(),
            ops: strings(&["upscale", "declutter"]),
            formats: strings(&["i420", "jpeg"]),
            scales: vec![2, 3, 4],
            models: strings(&["espcn", "bicubic"]),
            max_upscale_output: [MAX_OUTPUT.0, MAX_OUTPUT.1],
            max_declutter_pixels: MAX_PIXELS,
            header_bytes: protocol::HEADER_BYTES,
            max_message_bytes: svc.limits.max_message,
            idle_timeout_ms: u64::try_from(svc.limits.idle_timeout.as_millis()).unwrap_or(u64::MAX),
            auth: !svc.keys.is_empty(),
        }
    }
}
