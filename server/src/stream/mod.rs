//! `GET /v1/audio/stream`: live speech enhancement over a WebSocket (protocol of DESIGN §5).
//!
//! | concern | module |
//! |---|---|
//! | messages, sample formats, close codes | [`protocol`] |
//! | one session: handshake, reader/writer tasks | `session` |
//! | compute workers: per-tick batches of every stream's ready hops | `worker` |
//! | the default stream cap, measured at start-up | [`capacity`] |
//! | flags and limits | [`limits`] |
//! | API keys (the server's, checked at the upgrade) | [`crate::auth`] |
//! | metric names and descriptions | [`metrics`] |
//!
//! Admission: a stream slot (semaphore permit) is taken before the upgrade — none left → HTTP
//! 503 + `Retry-After` — and held by the session. Drain: [`StreamService::begin_drain`] refuses
//! new streams and makes every live one flush its tail and close with 1001;
//! [`StreamService::drained`] waits for them.

pub mod capacity;
pub mod limits;
pub mod metrics;
pub mod protocol;
mod session;
pub(crate) mod socket;
mod worker;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_models::dfn3::Dfn3Model;
use sluice_pipeline::denoise::{DenoiseError, HopBatch};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{ApiKeys, authorize};
use crate::state::AppState;
use capacity::Capacity;
use limits::StreamLimits;
use worker::{Job, WorkerHandle};

/// WebSocket read buffer per stream, server and load generator alike: several 10 ms hops of
/// any format (bigger messages take more reads). tungstenite zero-fills its free part before
/// every socket read, so the 128 KiB default cost a 128 KiB memset per hop.
pub(crate) const READ_BUFFER: usize = 16 << 10;

/// Why the live-audio service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamSetupError {
    /// The calibration run failed.
    #[error("calibrating the stream capacity: {0}")]
    Calibrate(#[from] DenoiseError),
    /// A worker thread could not be started.
    #[error("starting a stream worker: {0}")]
    Spawn(#[from] std::io::Error),
}

/// The live-audio service: model, limits, admission, workers and drain.
pub struct StreamService {
    model: Arc<Dfn3Model>,
    limits: StreamLimits,
    max_streams: usize,
    capacity: Option<Capacity>,
    keys: ApiKeys,
    permits: Arc<Semaphore>,
    workers: Vec<WorkerHandle>,
    drain: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for StreamService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamService")
            .field("limits", &self.limits)
            .field("max_streams", &self.max_streams)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl StreamService {
    /// Starts the workers. Without `limits.max_streams`, first times a batched calibration run
    /// on this machine and derives the cap from it (logged).
    pub fn start(model: Arc<Dfn3Model>, limits: StreamLimits, keys: ApiKeys) -> Result<Arc<Self>, StreamSetupError> {
        // The workers take their metric handles as they start: a recorder installed later (when
        // the app is built) would never see their hops, latencies and queue depths.
        let _ = crate::prometheus::handle();
        let workers = limits.workers.max(1);
        let runner = || match limits.batch {
            Some(cap) => HopBatch::new(model.clone(), cap),
            None => HopBatch::unbatched(model.clone()),
        };
        let (max_streams, capacity) = match limits.max_streams {
            Some(n) => (n.max(1), None),
            None => {
                let c = capacity::calibrate(&model, runner(), workers)?;
                tracing::info!(
                    // To 0.1 µs: a timing, not 47.577999999999996.
                    per_hop_us = (c.per_hop.as_secs_f64() * 1e7).round() / 10.0,
                    workers,
                    headroom = capacity::HEADROOM,
                    max_streams = c.max_streams,
                    batched = limits.batch.is_some(),
                    "live-audio capacity measured"
                );
                (c.max_streams, Some(c))
            }
        };
        let workers = (0..workers)
            .map(|i| worker::spawn(i, model.clone(), limits.batch, limits.burst))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Self {
            model,
            max_streams,
            capacity,
            keys,
            permits: Arc::new(Semaphore::new(max_streams)),
            workers,
            drain: CancellationToken::new(),
            tracker: TaskTracker::new(),
            limits: StreamLimits { max_streams: Some(max_streams), ..limits },
        }))
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<Dfn3Model> {
        &self.model
    }

    /// The limits in force (`max_streams` settled).
    pub fn limits(&self) -> &StreamLimits {
        &self.limits
    }

    /// The stream cap.
    pub fn max_streams(&self) -> usize {
        self.max_streams
    }

    /// What start-up calibration measured, if the cap came from it.
    pub fn capacity(&self) -> Option<Capacity> {
        self.capacity
    }

    /// Streams open now.
    pub fn active(&self) -> usize {
        self.max_streams - self.permits.available_permits()
    }

    /// Refuses new streams from now on and makes live ones flush and close with 1001.
    pub fn begin_drain(&self) {
        self.drain.cancel();
        self.tracker.close();
    }

    /// Resolves once every session has ended (call after [`StreamService::begin_drain`]).
    pub async fn drained(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn drain_token(&self) -> &CancellationToken {
        &self.drain
    }

    fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Hands a stream to the least busy worker; false if no worker is running.
    fn assign(&self, job: Job) -> bool {
        let Some(w) = self.workers.iter().min_by_key(|w| w.active.load(Ordering::Relaxed)) else {
            return false;
        };
        w.active.fetch_add(1, Ordering::Relaxed);
        if w.jobs.send(job).is_err() {
            w.active.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

fn unavailable(reason: &'static str, message: &'static str) -> Response {
    socket::unavailable(metrics::SESSIONS_REJECTED, reason, message)
}

/// `GET /v1/audio/stream`: live speech enhancement over a WebSocket (protocol of DESIGN §5).
///
/// After the upgrade the client sends a `start` text message, waits for `ready`, then streams
/// binary PCM (s16le or f32le, interleaved) and receives the enhanced PCM in order, with
/// `stats` events; `stop` flushes the tail and is answered `done`. Close codes: 1000 normal,
/// 1001 server draining, 1003 bad or unsupported message, 1008 bad API key, 1009
/// message too big, 1011 internal error, 1013 full.
#[utoipa::path(
    get,
    path = "/v1/audio/stream",
    tag = "audio",
    params(("token" = Option<String>, Query, description = "API key, for browsers that cannot set `Authorization`")),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 503, description = "All live streams are in use, or the server is draining; see `Retry-After`"),
    ),
    security((), ("api_key" = []))
)]
pub async fn stream_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(svc) = state.streams().cloned() else {
        return unavailable("unavailable", "live audio is not enabled on this server");
    };
    if svc.drain.is_cancelled() {
        return unavailable("draining", "the server is shutting down");
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let l = &svc.limits;
    // A small read buffer (see READ_BUFFER): at the 128 KiB default its memset was a quarter of
    // the I/O thread's time with 80 live streams.
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        .max_message_size(l.max_message)
        .max_frame_size(l.max_message)
        .write_buffer_size(64 << 10)
        .max_write_buffer_size(l.max_message + (256 << 10));
    if authorize(&svc.keys, &headers, &uri).is_err() {
        ::metrics::counter!(metrics::SESSIONS_REJECTED, "reason" => "auth").increment(1);
        let timeout = l.write_timeout;
        return ws.on_upgrade(move |s| socket::refuse(s, socket::unauthorized(), timeout, metrics::SESSIONS_CLOSED));
    }
    let Ok(permit) = svc.permits.clone().try_acquire_owned() else {
        return unavailable("capacity", "all live-audio streams are in use; retry later");
    };
    let tracked = svc.clone();
    ws.on_upgrade(move |socket| tracked.tracker.clone().track_future(session::run(socket, permit, tracked)))
}

/// What `/v1/info` says about live audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamInfo {
    /// The route.
    pub route: String,
    /// The model.
    pub model: String,
    /// Stream cap.
    pub max_streams: usize,
    /// Streams open now.
    pub active_streams: usize,
    /// Channels per stream.
    pub max_channels: usize,
    /// Accepted sample rates, Hz.
    pub sample_rates: [u32; 2],
    /// Accepted PCM formats.
    pub formats: Vec<String>,
    /// Largest WebSocket message, bytes.
    pub max_message_bytes: usize,
    /// Whether hops of many streams share network calls.
    pub batching: bool,
    /// Whether an API key is required.
    pub auth: bool,
}

impl StreamInfo {
    /// Describes `svc`.
    pub fn of(svc: &StreamService) -> Self {
        Self {
            route: "/v1/audio/stream".into(),
            model: "DeepFilterNet3".into(),
            max_streams: svc.max_streams,
            active_streams: svc.active(),
            max_channels: svc.limits.max_channels,
            sample_rates: [8_000, 192_000],
            formats: vec!["s16le".into(), "f32le".into()],
            max_message_bytes: svc.limits.max_message,
            batching: svc.limits.batch.is_some(),
            auth: !svc.keys.is_empty(),
        }
    }
}
