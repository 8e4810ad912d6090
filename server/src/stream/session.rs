//! One live-audio WebSocket session: `start` handshake, then a reader (socket → worker) and a
//! writer (worker → socket) task that cancel each other, then the close code.
//!
//! Backpressure: the reader awaits room in the bounded worker queue before reading the next
//! message, so a client sending faster than the worker takes its input is held back by TCP.
//! A client that does not read: the writer's send waits (socket buffers bounded by
//! `max_write_buffer_size`), the worker holds at most ~1 MiB of output, then stops taking
//! input; after `write_timeout` the session is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use sluice_pipeline::denoise::{BatchStream, DenoiserSettings};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::StreamService;
use super::metrics as m;
use super::protocol::{ClientMessage, Refusal, ServerMessage, StreamConfig, close, parse_client};
use super::socket::{self, First, LINGER, Sink, Source, close_with, idle_refusal, read_error, send, send_refusal};
use super::worker::{Input, Job, Output};

/// Output events queued worker → writer (at most one per worker tick: at least 128 ms of output,
/// 640 ms when each event holds one hop).
const OUTPUT_QUEUE: usize = 64;
/// After stop, how long the tail may take before the session is given up.
const AFTER_STOP_WAIT: Duration = Duration::from_secs(60);

/// Runs a session to its end and records how it closed. `permit` (a stream slot) is held
/// until then.
pub(crate) async fn run(socket: WebSocket, permit: tokio::sync::OwnedSemaphorePermit, svc: Arc<StreamService>) {
    let _permit = permit;
    metrics::gauge!(m::SESSIONS_ACTIVE).increment(1.0);
    let code = session(socket, &svc).await;
    metrics::gauge!(m::SESSIONS_ACTIVE).decrement(1.0);
    let label = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
    metrics::counter!(m::SESSIONS_CLOSED, "code" => label).increment(1);
}

/// Returns the close code sent, or `None` if the client went away first.
async fn session(socket: WebSocket, svc: &Arc<StreamService>) -> Option<u16> {
    let limits = svc.limits();
    let (mut sink, mut source) = socket.split();
    let config = match wait_start(&mut source, svc).await {
        Start::Config(c) => c,
        Start::Refused(r) => return send_refusal(&mut sink, &r, limits.write_timeout).await,
        Start::Draining => {
            return close_with(&mut sink, close::GOING_AWAY, "shutting down", limits.write_timeout).await;
        }
        Start::Gone => return None,
    };

    let model = svc.model().clone();
    let built = tokio::task::spawn_blocking(move || BatchStream::new(model, config.channels, config.sample_rate)).await;
    let mut stream = match built {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let r = Refusal::bad_data("bad_start", e.to_string());
            return send_refusal(&mut sink, &r, limits.write_timeout).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "building a live stream panicked");
            let r = Refusal { close: close::INTERNAL, code: "internal", message: "internal error".into() };
            return send_refusal(&mut sink, &r, limits.write_timeout).await;
        }
    };
    stream.set_settings(DenoiserSettings {
        atten_lim_db: config.atten_lim_db,
        post_filter_beta: config.post_filter_beta,
        thresholds: config.gating.thresholds(),
    });
    let ready = ServerMessage::Ready { latency_samples: stream.latency(), hop_samples: stream.unit_frames() };

    let (in_tx, in_rx) = mpsc::channel(limits.queue_messages);
    let (out_tx, out_rx) = mpsc::channel(OUTPUT_QUEUE);
    let queued = Arc::new(AtomicU64::new(0));
    let job =
        Job { stream, config, input: in_rx, output: out_tx, queued: queued.clone(), drain: svc.drain_token().clone() };
    if !svc.assign(job) {
        let r = Refusal { close: close::TRY_AGAIN, code: "at_capacity", message: "no compute worker available".into() };
        return send_refusal(&mut sink, &r, limits.write_timeout).await;
    }
    if send(&mut sink, Message::text(ready.to_json()), limits.write_timeout).await.is_err() {
        return None;
    }

    let cancel = CancellationToken::new();
    let (ctl_tx, ctl_rx) = mpsc::channel(1);
    let writer = svc.tracker().spawn(write_loop(sink, out_rx, ctl_rx, cancel.clone(), svc.clone()));
    let reader = Reader { source, input: in_tx, queued, control: ctl_tx, config, cancel: cancel.clone() };
    reader.run(svc).await;
    let code = writer.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "live stream writer panicked");
        None
    });
    cancel.cancel();
    code
}

enum Start {
    Config(StreamConfig),
    Refused(Refusal),
    Draining,
    Gone,
}

/// Waits for a valid `start`.
async fn wait_start(source: &mut Source, svc: &StreamService) -> Start {
    let limits = svc.limits();
    let text = match socket::first_text(source, svc.drain_token(), limits.idle_timeout, "audio").await {
        First::Text(t) => t,
        First::Refused(r) => return Start::Refused(r),
        First::Draining => return Start::Draining,
        First::Gone => return Start::Gone,
    };
    match parse_client(text.as_str()) {
        Ok(ClientMessage::Start(s)) => s.validate(limits.max_channels).map_or_else(Start::Refused, Start::Config),
        Ok(ClientMessage::Stop) => Start::Refused(Refusal::bad_data("expected_start", "send start before stop")),
        Err(r) => Start::Refused(r),
    }
}

/// The socket → worker direction.
struct Reader {
    source: Source,
    input: mpsc::Sender<Input>,
    queued: Arc<AtomicU64>,
    control: mpsc::Sender<Refusal>,
    config: StreamConfig,
    cancel: CancellationToken,
}

impl Reader {
    async fn run(mut self, svc: &StreamService) {
        let idle = svc.limits().idle_timeout;
        let drain = svc.drain_token().clone();
        let mut stopping = false;
        loop {
            // After stop, only watch for the client going away until the writer is done.
            let wait = if stopping { AFTER_STOP_WAIT } else { idle };
            let next = tokio::select! {
                biased;
                // After stop the writer ends the session: let the client see its close frame.
                () = self.cancel.cancelled() => return if stopping { self.linger().await },
                () = drain.cancelled(), if !stopping => None,
                next = tokio::time::timeout(wait, self.source.next()) => Some(next),
            };
            let Some(next) = next else {
                // Shutdown: no more input; the worker flushes what it has.
                stopping = true;
                if !self.forward(Input::Stop).await {
                    return;
                }
                continue;
            };
            let msg = match next {
                Err(_) if stopping => return self.cancel.cancel(),
                Err(_) => return self.abort(idle_refusal(idle)).await,
                Ok(None) => return self.cancel.cancel(),
                Ok(Some(Err(e))) => match read_error(e) {
                    // The socket cannot be read past an oversized frame.
                    Some(r) => return self.abort_unreadable(r).await,
                    None => return self.cancel.cancel(),
                },
                Ok(Some(Ok(msg))) => msg,
            };
            if stopping {
                // Input after stop is ignored; a close or error ends the wait above.
                if matches!(msg, Message::Close(_)) {
                    return;
                }
                continue;
            }
            match msg {
                Message::Binary(b) => {
                    let fb = self.config.frame_bytes();
                    if b.len() % fb != 0 {
                        let why = format!("{} bytes is not a whole number of {fb}-byte frames", b.len());
                        return self.abort(Refusal::bad_data("partial_frame", why)).await;
                    }
                    if !self.config.format.validate(&b) {
                        return self.abort(Refusal::bad_data("bad_sample", "f32le samples must be finite")).await;
                    }
                    let frames = (b.len() / fb) as u64;
                    if frames > 0 {
                        self.queued.fetch_add(frames, Ordering::Relaxed);
                        if !self.forward(Input::Pcm(b)).await {
                            return;
                        }
                    }
                }
                Message::Text(t) => match parse_client(t.as_str()) {
                    Ok(ClientMessage::Stop) => {
                        stopping = true;
                        if !self.forward(Input::Stop).await {
                            return;
                        }
                    }
                    Ok(ClientMessage::Start(_)) => {
                        return self.abort(Refusal::bad_data("already_started", "start was already sent")).await;
                    }
                    Err(r) => return self.abort(r).await,
                },
                // The client closed without stop: an abrupt end.
                Message::Close(_) => return self.cancel.cancel(),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    /// Queues for the worker, waiting for room (backpressure); false if the session ended.
    async fn forward(&self, input: Input) -> bool {
        tokio::select! {
            () = self.cancel.cancelled() => false,
            sent = self.input.send(input) => sent.is_ok(),
        }
    }

    /// Hands a refusal to the writer (which sends it and closes), then reads on until the
    /// client's close reply (or [`LINGER`]): dropping a socket with unread input resets the
    /// connection, and the client could lose the error and close frame.
    async fn abort(mut self, r: Refusal) {
        if self.control.send(r).await.is_err() {
            return self.cancel.cancel();
        }
        self.linger().await;
    }

    /// Reads on (discarding) until the client's close reply, the end, or [`LINGER`].
    async fn linger(&mut self) {
        socket::linger(&mut self.source).await;
    }

    /// Like [`Reader::abort`] when the socket cannot be read any more: holds it for [`LINGER`].
    async fn abort_unreadable(self, r: Refusal) {
        if self.control.send(r).await.is_err() {
            return self.cancel.cancel();
        }
        tokio::time::sleep(LINGER).await;
    }
}

/// The worker → socket direction; returns the close code sent.
async fn write_loop(
    mut sink: Sink,
    mut output: mpsc::Receiver<Output>,
    mut control: mpsc::Receiver<Refusal>,
    cancel: CancellationToken,
    svc: Arc<StreamService>,
) -> Option<u16> {
    let timeout = svc.limits().write_timeout;
    let code = loop {
        tokio::select! {
            biased;
            r = control.recv() => match r {
                Some(r) => break send_refusal(&mut sink, &r, timeout).await,
                None => break None,
            },
            out = output.recv() => match out {
                Some(Output::Pcm(b)) => {
                    if send(&mut sink, Message::Binary(b), timeout).await.is_err() {
                        break None;
                    }
                }
                Some(Output::Stats(s)) => {
                    if send(&mut sink, Message::text(s.to_json()), timeout).await.is_err() {
                        break None;
                    }
                }
                Some(Output::Done(samples)) => {
                    let done = ServerMessage::Done { samples }.to_json();
                    if send(&mut sink, Message::text(done), timeout).await.is_err() {
                        break None;
                    }
                    let (code, why) = if svc.drain_token().is_cancelled() {
                        (close::GOING_AWAY, "shutting down")
                    } else {
                        (close::NORMAL, "done")
                    };
                    break close_with(&mut sink, code, why, timeout).await;
                }
                Some(Output::Failed) => {
                    let r = Refusal { close: close::INTERNAL, code: "internal", message: "processing failed".into() };
                    break send_refusal(&mut sink, &r, timeout).await;
                }
                None => break None,
            },
            () = cancel.cancelled() => break None,
        }
    };
    cancel.cancel();
    code
}
