//! One live-video WebSocket session: `start` handshake, the worker built, then a reader
//! (socket → mailbox) and a writer (worker → socket) task that cancel each other.
//!
//! The reader never waits on the worker: each frame goes into the one-frame mailbox, replacing
//! a frame still waiting (latest frame wins). The writer sends what the worker queued, each send
//! bounded by `write_timeout`; a client that does not read stalls the worker on its bounded
//! output queue (so memory stays bounded) until that timeout drops the session.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::VideoStreamService;
use super::metrics as m;
use super::protocol::{
    ClientMessage, FrameFormat, FrameHeader, HEADER_BYTES, Op, ServerMessage, VideoConfig, parse_client,
};
use super::worker::{self, Frame, Mailbox, Output};
use crate::stream::protocol::{Refusal, close};
use crate::stream::socket::{self, First, Sink, Source, close_with, idle_refusal, read_error, send, send_refusal};

/// Processed frames queued worker → writer before the worker waits for the client.
const OUTPUT_QUEUE: usize = 4;
/// After stop, how long the last frame may take before the session is given up.
const AFTER_STOP_WAIT: Duration = Duration::from_secs(60);

/// Closes the mailbox when the session ends, however it ends, so the worker thread exits.
struct CloseOnDrop(Arc<Mailbox>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Runs a session to its end and records how it closed. `permit` (a stream slot) is held
/// until then.
pub(crate) async fn run(socket: WebSocket, permit: tokio::sync::OwnedSemaphorePermit, svc: Arc<VideoStreamService>) {
    let _permit = permit;
    metrics::gauge!(m::STREAMS_ACTIVE).increment(1.0);
    let code = session(socket, &svc).await;
    metrics::gauge!(m::STREAMS_ACTIVE).decrement(1.0);
    let label = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
    metrics::counter!(m::STREAMS_CLOSED, "code" => label).increment(1);
}

/// Returns the close code sent, or `None` if the client went away first.
async fn session(socket: WebSocket, svc: &Arc<VideoStreamService>) -> Option<u16> {
    let limits = svc.limits();
    let timeout = limits.write_timeout;
    let (mut sink, mut source) = socket.split();
    let config = match wait_start(&mut source, svc).await {
        Start::Config(c) => c,
        Start::Refused(r) => return send_refusal(&mut sink, &r, timeout).await,
        Start::Draining => return close_with(&mut sink, close::GOING_AWAY, "shutting down", timeout).await,
        Start::Gone => return None,
    };

    let mailbox = Arc::new(Mailbox::default());
    let _close = CloseOnDrop(mailbox.clone());
    let (out_tx, out_rx) = mpsc::channel(OUTPUT_QUEUE);
    let (ready_tx, ready_rx) = oneshot::channel();
    worker::spawn(config, svc.threads().clone(), mailbox.clone(), out_tx, ready_tx);
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(r)) => return send_refusal(&mut sink, &r, timeout).await,
        Err(_) => {
            let r = Refusal { close: close::INTERNAL, code: "internal", message: "internal error".into() };
            return send_refusal(&mut sink, &r, timeout).await;
        }
    }
    let (width, height) = config.out_size();
    let ready = ServerMessage::Ready {
        width,
        height,
        format: config.format.name().to_owned(),
        latency_frames: 0,
        header_bytes: HEADER_BYTES,
        max_message_bytes: config.max_message(),
    };
    send(&mut sink, Message::text(ready.to_json()), timeout).await.ok()?;

    let cancel = CancellationToken::new();
    let (ctl_tx, ctl_rx) = mpsc::channel(1);
    let writer = svc.tracker().spawn(write_loop(sink, out_rx, ctl_rx, cancel.clone(), svc.clone()));
    let reader = Reader { source, mailbox, control: ctl_tx, config, cancel: cancel.clone() };
    reader.run(svc).await;
    let code = writer.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "live video writer panicked");
        None
    });
    cancel.cancel();
    code
}

enum Start {
    Config(VideoConfig),
    Refused(Refusal),
    Draining,
    Gone,
}

/// Waits for a valid `start`.
async fn wait_start(source: &mut Source, svc: &VideoStreamService) -> Start {
    let limits = svc.limits();
    let text = match socket::first_text(source, svc.drain_token(), limits.idle_timeout, "frames").await {
        First::Text(t) => t,
        First::Refused(r) => return Start::Refused(r),
        First::Draining => return Start::Draining,
        First::Gone => return Start::Gone,
    };
    match parse_client(text.as_str()) {
        Ok(ClientMessage::Start(s)) => s.validate(limits.max_message).map_or_else(Start::Refused, Start::Config),
        Ok(ClientMessage::Stop) => Start::Refused(Refusal::bad_data("expected_start", "send start before stop")),
        Err(r) => Start::Refused(r),
    }
}

/// The socket → mailbox direction.
struct Reader {
    source: Source,
    mailbox: Arc<Mailbox>,
    control: mpsc::Sender<Refusal>,
    config: VideoConfig,
    cancel: CancellationToken,
}

impl Reader {
    async fn run(mut self, svc: &VideoStreamService) {
        let idle = svc.limits().idle_timeout;
        let drain = svc.drain_token().clone();
        let op = match self.config.op {
            Op::Upscale { .. } => "upscale",
            Op::Declutter => "declutter",
        };
        let dropped = metrics::counter!(m::FRAMES_DROPPED, "op" => op);
        let mut stopping = false;
        loop {
            let wait = if stopping { AFTER_STOP_WAIT } else { idle };
            let next = tokio::select! {
                biased;
                // The writer ended the session: let the client see its close frame.
                () = self.cancel.cancelled() => return socket::linger(&mut self.source).await,
                () = drain.cancelled(), if !stopping => None,
                next = tokio::time::timeout(wait, self.source.next()) => Some(next),
            };
            let Some(next) = next else {
                // Shutdown: no more input; the waiting frame is processed, then done.
                stopping = true;
                self.mailbox.stop();
                continue;
            };
            let msg = match next {
                Err(_) if stopping => return self.cancel.cancel(),
                Err(_) => return self.abort(idle_refusal(idle)).await,
                Ok(None) => return self.cancel.cancel(),
                Ok(Some(Err(e))) => match read_error(e) {
                    Some(r) => return self.abort_unreadable(r).await,
                    None => return self.cancel.cancel(),
                },
                Ok(Some(Ok(msg))) => msg,
            };
            if stopping {
                if matches!(msg, Message::Close(_)) {
                    return;
                }
                continue;
            }
            match msg {
                Message::Binary(b) => {
                    let frame = match self.check(b) {
                        Ok(f) => f,
                        Err(r) => return self.abort(r).await,
                    };
                    if self.mailbox.put(frame) {
                        dropped.increment(1);
                    }
                }
                Message::Text(t) => match parse_client(t.as_str()) {
                    Ok(ClientMessage::Stop) => {
                        stopping = true;
                        self.mailbox.stop();
                    }
                    Ok(ClientMessage::Start(_)) => {
                        return self.abort(Refusal::bad_data("already_started", "start was already sent")).await;
                    }
                    Err(r) => return self.abort(r).await,
                },
                Message::Close(_) => return self.cancel.cancel(),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    /// Checks a binary message's size and header; the payload of a JPEG frame is checked by the
    /// worker when it decodes it (a frame dropped before that is never decoded).
    fn check(&self, b: bytes::Bytes) -> Result<Frame, Refusal> {
        let Some((header, payload)) = FrameHeader::parse(&b) else {
            let why = format!("{} bytes is shorter than the {HEADER_BYTES}-byte frame header", b.len());
            return Err(Refusal::bad_data("bad_frame", why));
        };
        match self.config.format {
            FrameFormat::I420 => {
                let want = self.config.in_layout().packed_len();
                if payload.len() != want {
                    let (w, h) = self.config.size;
                    let why = format!("{} bytes after the header; a {w}×{h} i420 frame is {want}", payload.len());
                    return Err(Refusal::bad_data("bad_frame", why));
                }
            }
            FrameFormat::Jpeg if payload.is_empty() => {
                return Err(Refusal::bad_data("bad_frame", "no JPEG picture after the header"));
            }
            FrameFormat::Jpeg => {
                let max = self.config.max_message();
                if b.len() > max {
                    let why = format!("{} bytes is more than this stream's {max}-byte limit", b.len());
                    return Err(Refusal { close: close::TOO_BIG, code: "message_too_big", message: why });
                }
            }
        }
        Ok(Frame { header, message: b })
    }

    /// Hands a refusal to the writer (which sends it and closes), then reads on until the
    /// client's close reply (or the linger time).
    async fn abort(mut self, r: Refusal) {
        if self.control.send(r).await.is_err() {
            return self.cancel.cancel();
        }
        socket::linger(&mut self.source).await;
    }

    /// Like [`Reader::abort`] when the socket cannot be read any more.
    async fn abort_unreadable(self, r: Refusal) {
        if self.control.send(r).await.is_err() {
            return self.cancel.cancel();
        }
        tokio::time::sleep(socket::LINGER).await;
    }
}

/// The worker → socket direction; returns the close code sent.
async fn write_loop(
    mut sink: Sink,
    mut output: mpsc::Receiver<Output>,
    mut control: mpsc::Receiver<Refusal>,
    cancel: CancellationToken,
    svc: Arc<VideoStreamService>,
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
                Some(Output::Frame(b)) => {
                    if send(&mut sink, Message::Binary(b), timeout).await.is_err() {
                        break None;
                    }
                }
                Some(Output::Stats(s)) => {
                    if send(&mut sink, Message::text(s.to_json()), timeout).await.is_err() {
                        break None;
                    }
                }
                Some(Output::Done(done)) => {
                    if send(&mut sink, Message::text(done.to_json()), timeout).await.is_err() {
                        break None;
                    }
                    let (code, why) = if svc.drain_token().is_cancelled() {
                        (close::GOING_AWAY, "shutting down")
                    } else {
                        (close::NORMAL, "done")
                    };
                    break close_with(&mut sink, code, why, timeout).await;
                }
                Some(Output::Refused(r)) => break send_refusal(&mut sink, &r, timeout).await,
                None => break None,
            },
            () = cancel.cancelled() => break None,
        }
    };
    cancel.cancel();
    code
}
