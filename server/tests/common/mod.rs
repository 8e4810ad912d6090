//! Shared by the WebSocket tests: an in-process server on port 0 with live audio, real speech,
//! a tokio-tungstenite client and the library reference the stream must equal.
#![allow(dead_code)] // each test crate uses a different subset

use futures_util::{SinkExt, StreamExt};
use sluice_engine::Threads;
use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::denoise::{Denoiser, DenoiserSettings, ResampledDenoiser};
use sluice_server::auth::ApiKeys;
use sluice_server::stream::StreamService;
use sluice_server::stream::limits::StreamLimits;
use sluice_server::stream::protocol::{SampleFormat, ServerMessage, quantize_s16};
use sluice_server::{AppState, ShutdownPolicy, run};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub fn model() -> Arc<Dfn3Model> {
    static MODEL: OnceLock<Arc<Dfn3Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
            Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}")))
        })
        .clone()
}

/// A server on 127.0.0.1:0 with live audio, and the means to stop it the way `serve` does.
pub struct Running {
    pub addr: SocketAddr,
    pub svc: Arc<StreamService>,
    pub stop: oneshot::Sender<()>,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Test limits: a fixed cap, fast bursts (tests send faster than real time), one worker.
pub fn limits(max_streams: usize) -> StreamLimits {
    StreamLimits {
        max_streams: Some(max_streams),
        workers: 1,
        burst: Duration::from_secs(30),
        ..StreamLimits::default()
    }
}

pub async fn start(limits: StreamLimits, keys: &[&str], grace: Duration) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}"));
    let svc = StreamService::start(
        model(),
        limits,
        ApiKeys::new(keys.iter().map(|k| (*k).to_owned())).unwrap_or_else(|e| panic!("keys: {e}")),
    )
    .unwrap_or_else(|e| panic!("streams: {e}"));
    let state = AppState::with_streams(Threads::single(), svc.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let policy = ShutdownPolicy { drain_delay: Duration::ZERO, grace };
    let task = tokio::spawn(run(listener, state, policy, async move {
        let _ = stopped.await;
    }));
    Running { addr, svc, stop, task }
}

pub async fn connect(addr: SocketAddr, query: &str) -> Ws {
    let url = format!("ws://{addr}/v1/audio/stream{query}");
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("connect: {e}"));
    ws
}

/// Mono speech at 48 kHz from alsa-utils, as f32.
pub fn speech(name: &str) -> Vec<f32> {
    let path = format!("/usr/share/sounds/alsa/{name}");
    let mut r = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(r.spec().sample_rate, 48_000);
    r.samples::<i16>().map(|s| f32::from(s.unwrap_or_else(|e| panic!("{path}: {e}"))) / 32768.0).collect()
}

/// Speech plus seeded white noise (about 20 dB below it), quantised to 16 bits so both wire
/// formats carry it exactly.
pub fn noisy(speech: &[f32], seed: u32) -> Vec<f32> {
    let mut x = seed.max(1);
    speech
        .iter()
        .map(|&s| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let n = (x as f32 / u32::MAX as f32 - 0.5) * 0.05;
            f32::from(quantize_s16(s + n)) / 32768.0
        })
        .collect()
}

/// Interleaved stereo at 16 kHz: two speech files, every third sample, with noise.
pub fn stereo_16k() -> Vec<f32> {
    let l = noisy(&speech("Front_Left.wav"), 3);
    let r = noisy(&speech("Front_Right.wav"), 4);
    let n = l.len().min(r.len()) / 3;
    (0..n).flat_map(|i| [l[3 * i], r[3 * i]]).collect()
}

pub fn encode(format: SampleFormat, x: &[f32]) -> Vec<u8> {
    let mut b = Vec::new();
    format.encode(x, &mut b);
    b
}

pub fn decode(format: SampleFormat, b: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; b.len() / format.bytes()];
    let n = format.decode(b, &mut out).unwrap_or_else(|| panic!("non-finite output"));
    out.truncate(n);
    out
}

/// `sluice denoise`'s library path: the aligned whole-buffer result, in the wire format.
pub fn reference(x: &[f32], rate: usize, channels: usize, settings: DenoiserSettings, format: SampleFormat) -> Vec<u8> {
    let y = if rate == 48_000 {
        let mut d = Denoiser::new(model(), channels).unwrap_or_else(|e| panic!("{e}"));
        d.set_settings(settings);
        d.denoise_buffer(x)
    } else {
        let mut d = ResampledDenoiser::new(model(), channels, rate).unwrap_or_else(|e| panic!("{e}"));
        d.inner_mut().set_settings(settings);
        d.denoise_buffer(x)
    }
    .unwrap_or_else(|e| panic!("reference: {e}"));
    encode(format, &y)
}

/// What a session gave back.
#[derive(Debug, Default)]
pub struct Received {
    pub ready: Option<(usize, usize)>,
    pub pcm: Vec<u8>,
    pub stats: usize,
    pub done: Option<u64>,
    pub error: Option<String>,
    pub close: Option<u16>,
}

/// Reads until the close frame (or the end of the connection).
pub async fn read_all(mut rx: futures_util::stream::SplitStream<Ws>, mut got: Received) -> Received {
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(30), rx.next())
        .await
        .unwrap_or_else(|_| panic!("no message for 30 s; so far {got:?}"))
    {
        match msg {
            Ok(Message::Binary(b)) => got.pcm.extend_from_slice(&b),
            Ok(Message::Text(t)) => match serde_json::from_str::<ServerMessage>(t.as_str()) {
                Ok(ServerMessage::Ready { latency_samples, hop_samples }) => {
                    got.ready = Some((latency_samples, hop_samples))
                }
                Ok(ServerMessage::Stats { .. }) => got.stats += 1,
                Ok(ServerMessage::Done { samples }) => got.done = Some(samples),
                Ok(ServerMessage::Error { code, .. }) => got.error = Some(code),
                Err(e) => panic!("bad server message {t}: {e}"),
            },
            Ok(Message::Close(frame)) => {
                got.close = frame.map(|f| u16::from(f.code)).or(Some(u16::from(CloseCode::Status)));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    got
}

/// Sends `start`, waits for `ready`.
pub async fn begin(ws: &mut Ws, start: &str) -> (usize, usize) {
    ws.send(Message::text(start)).await.unwrap_or_else(|e| panic!("send start: {e}"));
    loop {
        let msg = ws.next().await.unwrap_or_else(|| panic!("closed before ready")).unwrap_or_else(|e| panic!("{e}"));
        if let Message::Text(t) = msg {
            match serde_json::from_str::<ServerMessage>(t.as_str()) {
                Ok(ServerMessage::Ready { latency_samples, hop_samples }) => return (latency_samples, hop_samples),
                other => panic!("expected ready, got {other:?}"),
            }
        }
    }
}

/// Streams `pcm` in chunks of `chunk_frames` (cycled), pausing `pace` between chunks, then
/// `stop`; returns everything received.
pub async fn stream(
    addr: SocketAddr,
    start: &str,
    pcm: &[u8],
    frame_bytes: usize,
    chunk_frames: &[usize],
    pace: Duration,
) -> Received {
    let mut ws = connect(addr, "").await;
    let ready = begin(&mut ws, start).await;
    let (mut tx, rx) = ws.split();
    let reader = tokio::spawn(read_all(rx, Received { ready: Some(ready), ..Received::default() }));
    let mut pos = 0;
    for &n in chunk_frames.iter().cycle() {
        if pos >= pcm.len() {
            break;
        }
        let end = pcm.len().min(pos + n * frame_bytes);
        tx.send(Message::binary(pcm[pos..end].to_vec())).await.unwrap_or_else(|e| panic!("send pcm: {e}"));
        pos = end;
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    tx.send(Message::text(r#"{"type":"stop"}"#)).await.unwrap_or_else(|e| panic!("send stop: {e}"));
    reader.await.unwrap_or_else(|e| panic!("reader: {e}"))
}

/// Checks a finished session against the reference: `done` counts the frames sent, the
/// output is latency + those frames long and equals the reference after the latency.
pub fn check_output(got: &Received, want: &[u8], frames: u64, frame_bytes: usize, close: u16) {
    assert_eq!(got.error, None, "unexpected error event");
    assert_eq!(got.done, Some(frames), "done.samples");
    assert_eq!(got.close, Some(close), "close code");
    let (latency, _) = got.ready.unwrap_or_else(|| panic!("no ready"));
    let skip = latency * frame_bytes;
    assert_eq!(got.pcm.len(), skip + want.len(), "output length: latency + input");
    let out = &got.pcm[skip..];
    if out != want {
        let first = out.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
        panic!("output differs from the library path from byte {first} of {}", want.len());
    }
}

pub async fn join(task: JoinHandle<std::io::Result<()>>, within: Duration) {
    match tokio::time::timeout(within, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!("run() failed: {e}"),
        Ok(Err(e)) => panic!("run() panicked: {e}"),
        Err(_) => panic!("run() did not return within {within:?}"),
    }
}
