//! `sluice loadtest`: N real-time streams of real speech against a running server's
//! `/v1/audio/stream`, reporting hop round trips and whether every stream kept real time.
//!
//! Each stream sends 10 ms of 48 kHz mono s16le every 10 ms (paced against its own start, so a
//! late send does not shift the rest). A hop's round trip is the time from sending its 480
//! samples to receiving the 480 output samples they complete (the model's fixed 30 ms delay
//! is not counted: those output samples belong to earlier input). Loopback targets only, and
//! bounded in streams and duration, so it cannot be aimed at someone else's server.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::gating::Gating;
use crate::stream::READ_BUFFER;
use crate::stream::protocol::{ClientMessage, SampleFormat, ServerMessage, StartRequest};

/// Most streams one run may open.
pub const MAX_STREAMS: usize = 2_000;
/// Longest run.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
const HOP: usize = 480;
const HOP_TIME: Duration = Duration::from_millis(10);

/// Why a load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    /// The URL is not a `ws://` URL on a loopback address.
    #[error("{0}: only ws:// URLs on a loopback address (localhost, 127.0.0.0/8, ::1) are allowed")]
    NotLoopback(String),
    /// Streams or duration outside the bounds.
    #[error("{0}")]
    OutOfBounds(String),
    /// No speech to send.
    #[error("the speech signal is empty")]
    NoSpeech,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadtestConfig {
    /// `ws://HOST:PORT/v1/audio/stream` on a loopback host.
    pub url: String,
    /// Concurrent streams.
    pub streams: usize,
    /// How long each stream sends.
    pub duration: Duration,
    /// API key, sent as `?token=`.
    pub token: Option<String>,
    /// 48 kHz mono speech, looped (each stream starts at another offset).
    pub speech: Vec<f32>,
    /// A stream whose hop round trip ever exceeds this did not keep real time.
    pub max_lag: Duration,
    /// The streams' lsnr stage gating.
    pub gating: Gating,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadtestReport {
    /// Streams asked for.
    pub streams: usize,
    /// Streams that ended with `done` for every sample sent.
    pub completed: usize,
    /// Streams that completed with every hop round trip within `max_lag`.
    pub kept_real_time: usize,
    /// Hops measured over all streams.
    pub hops: usize,
    /// Hop round-trip percentiles and maximum.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
    /// First few failures, one line each.
    pub errors: Vec<String>,
}

impl LoadtestReport {
    /// Whether every stream completed and kept real time.
    pub fn all_real_time(&self) -> bool {
        self.kept_real_time == self.streams
    }
}

/// Checks that `url` is `ws://` on a loopback host.
pub fn check_loopback(url: &str) -> Result<(), LoadtestError> {
    let bad = || LoadtestError::NotLoopback(url.to_owned());
    let rest = url.strip_prefix("ws://").ok_or_else(bad)?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(());
    }
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => Ok(()),
        _ => Err(bad()),
    }
}

/// Runs the load test.
pub async fn run(cfg: LoadtestConfig) -> Result<LoadtestReport, LoadtestError> {
    check_loopback(&cfg.url)?;
    if !(1..=MAX_STREAMS).contains(&cfg.streams) {
        return Err(LoadtestError::OutOfBounds(format!("streams must be 1..={MAX_STREAMS}")));
    }
    if cfg.duration.is_zero() || cfg.duration > MAX_DURATION {
        return Err(LoadtestError::OutOfBounds(format!("duration must be above 0 and at most {MAX_DURATION:?}")));
    }
    if cfg.speech.is_empty() {
        return Err(LoadtestError::NoSpeech);
    }
    let mut pcm = Vec::new();
    SampleFormat::S16le.encode(&cfg.speech, &mut pcm);
    let pcm = Arc::new(pcm);
    let cfg = Arc::new(cfg);
    let tasks: Vec<_> = (0..cfg.streams).map(|i| tokio::spawn(one_stream(cfg.clone(), pcm.clone(), i))).collect();
    let mut rtts = Vec::new();
    let mut report = LoadtestReport {
        streams: cfg.streams,
        completed: 0,
        kept_real_time: 0,
        hops: 0,
        p50: Duration::ZERO,
        p99: Duration::ZERO,
        max: Duration::ZERO,
        errors: Vec::new(),
    };
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => {
                report.completed += 1;
                if r.iter().all(|&d| d <= cfg.max_lag) {
                    report.kept_real_time += 1;
                }
                rtts.extend(r);
            }
            Ok(Err(e)) => report.errors.push(e),
            Err(e) => report.errors.push(format!("stream task failed: {e}")),
        }
    }
    report.errors.truncate(10);
    rtts.sort_unstable();
    report.hops = rtts.len();
    let pick = |q: f64| rtts.get(((rtts.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied();
    report.p50 = pick(0.5).unwrap_or_default();
    report.p99 = pick(0.99).unwrap_or_default();
    report.max = rtts.last().copied().unwrap_or_default();
    Ok(report)
}

/// One paced stream; returns its hops' round trips.
async fn one_stream(cfg: Arc<LoadtestConfig>, pcm: Arc<Vec<u8>>, index: usize) -> Result<Vec<Duration>, String> {
    let url = match &cfg.token {
        Some(t) => format!("{}?token={t}", cfg.url),
        None => cfg.url.clone(),
    };
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("stream {index}: connect: {e}"))?;
    let (mut tx, mut rx) = ws.split();
    let start = serde_json::to_string(&ClientMessage::Start(StartRequest {
        sample_rate: 48_000,
        channels: 1,
        format: "s16le".into(),
        atten_lim_db: None,
        post_filter_beta: 0.0,
        gating: cfg.gating,
    }))
    .map_err(|e| format!("stream {index}: {e}"))?;
    tx.send(Message::text(start)).await.map_err(|e| format!("stream {index}: {e}"))?;
    match rx.next().await {
        Some(Ok(Message::Text(t))) if t.as_str().contains("\"ready\"") => {}
        other => return Err(format!("stream {index}: expected ready, got {other:?}")),
    }
    let hops = (cfg.duration.as_nanos() / HOP_TIME.as_nanos()).max(1) as usize;
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..hops).map(|_| AtomicU64::new(0)).collect());
    let t0 = Instant::now();
    let sender = {
        let sent_at = sent_at.clone();
        let samples = pcm.len() / 2;
        // Streams start at spread offsets in the speech, so they are not all alike.
        let mut pos = (index * 7_919 * HOP) % samples;
        tokio::spawn(async move {
            let mut chunk = Vec::with_capacity(HOP * 2);
            for (k, slot) in sent_at.iter().enumerate() {
                tokio::time::sleep_until((t0 + HOP_TIME * k as u32).into()).await;
                chunk.clear();
                for _ in 0..HOP {
                    chunk.extend_from_slice(&pcm[2 * pos..2 * pos + 2]);
                    pos = (pos + 1) % samples;
                }
                slot.store(t0.elapsed().as_nanos() as u64, Ordering::Release);
                if tx.send(Message::binary(chunk.clone())).await.is_err() {
                    return Err("send failed".to_owned());
                }
            }
            tx.send(Message::text(r#"{"type":"stop"}"#)).await.map_err(|e| e.to_string())
        })
    };
    let mut rtts = Vec::with_capacity(hops);
    let mut frames = 0usize;
    let mut done = None;
    while let Some(msg) = rx.next().await {
        match msg.map_err(|e| format!("stream {index}: {e}"))? {
            Message::Binary(b) => {
                frames += b.len() / 2;
                let now = t0.elapsed().as_nanos() as u64;
                while rtts.len() < hops && frames >= (rtts.len() + 1) * HOP {
                    let sent = sent_at[rtts.len()].load(Ordering::Acquire);
                    rtts.push(Duration::from_nanos(now.saturating_sub(sent)));
                }
            }
            Message::Text(t) => match serde_json::from_str::<ServerMessage>(t.as_str()) {
                Ok(ServerMessage::Done { samples }) => done = Some(samples),
                Ok(ServerMessage::Error { code, message }) => return Err(format!("stream {index}: {code}: {message}")),
                _ => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    sender.await.map_err(|e| format!("stream {index}: sender: {e}"))?.map_err(|e| format!("stream {index}: {e}"))?;
    match done {
        Some(n) if n as usize == hops * HOP => Ok(rtts),
        other => Err(format!("stream {index}: done {other:?}, sent {} samples", hops * HOP)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_allowed() {
        for ok in [
            "ws://127.0.0.1:8080/v1/audio/stream",
            "ws://localhost:1/v1/audio/stream",
            "ws://[::1]:80/x",
            "ws://127.3.2.1/x",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ws://10.0.0.1:8080/v1/audio/stream",
            "ws://example.com/x",
            "wss://127.0.0.1/x",
            "http://127.0.0.1/x",
            "ws://127.0.0.1.evil.com/x",
            "ws://[2001:db8::1]:80/x",
        ] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
    }
}
