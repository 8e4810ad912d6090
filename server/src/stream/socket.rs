//! WebSocket plumbing shared by the live routes (`/v1/audio/stream`, `/v1/video/stream`): the
//! HTTP refusal before an upgrade, bounded sends, the error-then-close sequence, and how a read
//! error or silence becomes a [`Refusal`].

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::protocol::{Refusal, ServerMessage, close};

pub(crate) type Sink = SplitSink<WebSocket, Message>;
pub(crate) type Source = SplitStream<WebSocket>;

/// Seconds a refused client is told to wait (`Retry-After`).
const RETRY_AFTER_SECS: u32 = 1;
/// How long a refused client's socket stays open for it to read the error and close frame.
pub(crate) const LINGER: Duration = Duration::from_millis(500);

/// Body of an HTTP refusal before the upgrade.
#[derive(Debug, Serialize)]
struct Refused {
    code: &'static str,
    message: &'static str,
}

/// 503 + `Retry-After` before the upgrade, counted in `rejected` under `reason`.
pub(crate) fn unavailable(rejected: &'static str, reason: &'static str, message: &'static str) -> Response {
    ::metrics::counter!(rejected, "reason" => reason).increment(1);
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(Refused { code: reason, message })).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    r
}

/// The refusal of a client without a valid API key (close 1008).
pub(crate) fn unauthorized() -> Refusal {
    Refusal {
        close: close::POLICY,
        code: "unauthorized",
        message: "a valid API key is required (Authorization: Bearer KEY or ?token=KEY)".into(),
    }
}

/// Sends `{"type":"error",…}` and closes with the refusal's code, on a socket whose client was
/// refused right after the upgrade (wrong key); counts the close in `closed`.
pub(crate) async fn refuse(socket: WebSocket, refusal: Refusal, write_timeout: Duration, closed: &'static str) {
    let (mut sink, mut source) = socket.split();
    let _ = send_refusal(&mut sink, &refusal, write_timeout).await;
    ::metrics::counter!(closed, "code" => refusal.close.to_string()).increment(1);
    // Read on until the client's close reply, so unread input does not reset the connection
    // before the client has read the error.
    let _ = tokio::time::timeout(LINGER, async {
        while let Some(Ok(msg)) = source.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// The refusal for a client silent for `after`.
pub(crate) fn idle_refusal(after: Duration) -> Refusal {
    Refusal {
        close: close::POLICY,
        code: "idle_timeout",
        message: format!("nothing received for {} s", after.as_secs_f32()),
    }
}

/// A read error worth telling the client about (message too big → 1009); `None` when the
/// connection itself failed.
pub(crate) fn read_error(e: axum::Error) -> Option<Refusal> {
    let inner = e.into_inner();
    match inner.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
        Some(tokio_tungstenite::tungstenite::Error::Capacity(c)) => {
            Some(Refusal { close: close::TOO_BIG, code: "message_too_big", message: c.to_string() })
        }
        _ => {
            tracing::debug!(error = %inner, "live stream connection failed");
            None
        }
    }
}

/// One send, bounded by `timeout` (a client that does not read cannot hold it forever).
pub(crate) async fn send(sink: &mut Sink, msg: Message, timeout: Duration) -> Result<(), ()> {
    match tokio::time::timeout(timeout, sink.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Sends the error event and the close frame; returns the close code if it went out.
pub(crate) async fn send_refusal(sink: &mut Sink, r: &Refusal, timeout: Duration) -> Option<u16> {
    tracing::info!(code = r.code, close = r.close, message = %r.message, "live stream refused");
    send(sink, Message::text(ServerMessage::from(r).to_json()), timeout).await.ok()?;
    close_with(sink, r.close, r.code, timeout).await
}

/// Sends a close frame with `code`; returns it if it went out.
pub(crate) async fn close_with(sink: &mut Sink, code: u16, reason: &str, timeout: Duration) -> Option<u16> {
    let frame = CloseFrame { code, reason: reason.into() };
    send(sink, Message::Close(Some(frame)), timeout).await.ok()?;
    let _ = tokio::time::timeout(timeout, sink.close()).await;
    Some(code)
}

/// Reads on (discarding) until the client's close reply, the end, or [`LINGER`]: dropping a
/// socket with unread input resets the connection, and the client could lose the error and
/// close frame sent before.
pub(crate) async fn linger(source: &mut Source) {
    let linger = tokio::time::sleep(LINGER);
    tokio::pin!(linger);
    loop {
        tokio::select! {
            () = &mut linger => return,
            next = source.next() => match next {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// What a live stream's first message turned out to be.
pub(crate) enum First {
    /// A text message: the `start` (or not), for the route's protocol to parse.
    Text(Utf8Bytes),
    /// Silence, a read error worth telling, or a message that cannot be a `start`.
    Refused(Refusal),
    /// The server began draining while waiting.
    Draining,
    /// The client went away.
    Gone,
}

/// Waits up to `idle` for a live stream's first message; binary data (`data` names it in the
/// refusal: "audio", "frames") or a ping before `start` is refused.
pub(crate) async fn first_text(source: &mut Source, drain: &CancellationToken, idle: Duration, data: &str) -> First {
    let next = tokio::select! {
        () = drain.cancelled() => return First::Draining,
        next = tokio::time::timeout(idle, source.next()) => next,
    };
    match next {
        Err(_) => First::Refused(idle_refusal(idle)),
        Ok(None) | Ok(Some(Ok(Message::Close(_)))) => First::Gone,
        Ok(Some(Err(e))) => read_error(e).map_or(First::Gone, First::Refused),
        Ok(Some(Ok(Message::Text(t)))) => First::Text(t),
        Ok(Some(Ok(Message::Binary(_)))) => {
            First::Refused(Refusal::bad_data("expected_start", format!("send start before {data}")))
        }
        // A ping before start: treat like any early message that is not start.
        Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {
            First::Refused(Refusal::bad_data("expected_start", "the first message must be start"))
        }
    }
}
