//! `GET /v1/video/stream` over a real socket: upscaled and decluttered frames equal the library
//! stages run on the same frames, JPEG frames decode to the right size, a burst gets the
//! latest frame processed and the rest counted as dropped, bad clients get their documented
//! close codes without harming another stream, and the cap, API keys and drain hold.

mod common;
mod media;

use common::{Ws, join};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use media::{Served, start_with};
use sluice_engine::Threads;
use sluice_models::clutter::Clutter;
use sluice_pipeline::echo::DeclutterStage;
use sluice_pipeline::echo::simulate::{SimConfig, Simulator};
use sluice_pipeline::video::{
    BicubicUpscaler, Colour, EspcnUpscaler, FrameLayout, JpegDecoder, JpegEncoder, LumaUpscaler, Matrix, PlaneMut,
    Range, UpscaleStage,
};
use sluice_server::auth::ApiKeys;
use sluice_server::config::ServerConfig;
use sluice_server::video_stream::limits::VideoStreamLimits;
use sluice_server::video_stream::protocol::{FrameHeader, HEADER_BYTES, ServerMessage};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const W: usize = 64;
const H: usize = 48;

fn config(max_streams: usize, keys: &[&str]) -> ServerConfig {
    ServerConfig {
        api_keys: ApiKeys::new(keys.iter().map(|k| (*k).to_owned())).unwrap_or_else(|e| panic!("{e}")),
        video_stream: VideoStreamLimits { max_streams, ..VideoStreamLimits::default() },
        ..ServerConfig::default()
    }
}

async fn connect(addr: SocketAddr, query: &str) -> Ws {
    let url = format!("ws://{addr}/v1/video/stream{query}");
    tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("connect: {e}")).0
}

/// A test picture, packed 4:2:0: a gradient with an edge and a texture in luma, varying chroma.
fn picture(w: usize, h: usize, t: usize) -> Vec<u8> {
    let l = FrameLayout::subsampled(w, h, 1, 1);
    let mut buf = vec![0u8; l.packed_len()];
    let (y, c) = buf.split_at_mut(w * h);
    for (i, v) in y.iter_mut().enumerate() {
        let (x, r) = ((i % w) as f32, (i / w) as f32);
        let edge = if x + 0.5 * r > w as f32 * 0.5 + t as f32 { 150.0 } else { 60.0 };
        *v = (edge + 20.0 * (x * 0.4 + t as f32).sin() * (r * 0.3).cos() + 16.0) as u8;
    }
    for (i, v) in c.iter_mut().enumerate() {
        *v = (96 + (i * 7 + t * 3) % 64) as u8;
    }
    buf
}

fn frame_message(seq: u64, payload: &[u8]) -> Message {
    let mut m = Vec::with_capacity(HEADER_BYTES + payload.len());
    FrameHeader { sequence: seq, timestamp_us: seq as i64 * 33_333 - 5 }.write(&mut m);
    m.extend_from_slice(payload);
    Message::binary(m)
}

/// What a session gave back.
#[derive(Debug, Default)]
struct Got {
    ready: Option<ServerMessage>,
    frames: Vec<(FrameHeader, Vec<u8>)>,
    stats: Vec<ServerMessage>,
    done: Option<(u64, u64, u64)>,
    error: Option<String>,
    close: Option<u16>,
}

fn server_message(t: &str) -> ServerMessage {
    serde_json::from_str(t).unwrap_or_else(|e| panic!("bad server message {t}: {e}"))
}

/// Reads until the close frame (or the end of the connection).
async fn read_all(mut rx: SplitStream<Ws>) -> Got {
    let mut got = Got::default();
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(60), rx.next())
        .await
        .unwrap_or_else(|_| panic!("no message for 60 s; so far {got:?}"))
    {
        match msg {
            Ok(Message::Binary(b)) => {
                let (h, payload) = FrameHeader::parse(&b).unwrap_or_else(|| panic!("short frame"));
                got.frames.push((h, payload.to_vec()));
            }
            Ok(Message::Text(t)) => match server_message(t.as_str()) {
                r @ ServerMessage::Ready { .. } => got.ready = Some(r),
                s @ ServerMessage::Stats { .. } => got.stats.push(s),
                ServerMessage::Done { frames_in, frames_out, dropped } => {
                    got.done = Some((frames_in, frames_out, dropped))
                }
                ServerMessage::Error { code, .. } => got.error = Some(code),
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

/// Sends `start` and returns the `ready` message.
async fn begin(ws: &mut Ws, start: &str) -> ServerMessage {
    ws.send(Message::text(start)).await.unwrap_or_else(|e| panic!("send start: {e}"));
    loop {
        match ws.next().await.unwrap_or_else(|| panic!("closed before ready")) {
            Ok(Message::Text(t)) => match server_message(t.as_str()) {
                r @ ServerMessage::Ready { .. } => return r,
                other => panic!("expected ready, got {other:?}"),
            },
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

/// Next binary frame (stats before it are kept in `stats`).
async fn next_frame(ws: &mut Ws, stats: &mut Vec<ServerMessage>) -> (FrameHeader, Vec<u8>) {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no frame for 60 s"))
            .unwrap_or_else(|| panic!("closed before a frame"))
            .unwrap_or_else(|e| panic!("{e}"));
        match msg {
            Message::Binary(b) => {
                let (h, p) = FrameHeader::parse(&b).unwrap_or_else(|| panic!("short frame"));
                return (h, p.to_vec());
            }
            Message::Text(t) => match server_message(t.as_str()) {
                s @ ServerMessage::Stats { .. } => stats.push(s),
                other => panic!("expected a frame, got {other:?}"),
            },
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

/// Sends `stop` and reads the rest.
async fn finish(ws: Ws) -> Got {
    let (mut tx, rx) = ws.split();
    tx.send(Message::text(r#"{"type":"stop"}"#)).await.unwrap_or_else(|e| panic!("send stop: {e}"));
    read_all(rx).await
}

fn upscale_stage(upscaler: Box<dyn LumaUpscaler>, colour: Colour, scale: usize) -> UpscaleStage {
    let input = FrameLayout::subsampled(W, H, 1, 1);
    let output = FrameLayout::subsampled(W * scale, H * scale, 1, 1);
    UpscaleStage::new(upscaler, colour, input, output).unwrap_or_else(|e| panic!("{e}"))
}

fn run_stage(stage: &mut UpscaleStage, frame: &[u8], scale: usize) -> Vec<u8> {
    let (il, ol) = (FrameLayout::subsampled(W, H, 1, 1), FrameLayout::subsampled(W * scale, H * scale, 1, 1));
    let mut out = vec![0u8; ol.packed_len()];
    let src = il.packed(frame).unwrap_or_else(|| panic!("input layout"));
    let mut dst = ol.packed_mut(&mut out).unwrap_or_else(|| panic!("output layout"));
    stage.process(src, &mut dst).unwrap_or_else(|e| panic!("{e}"));
    out
}

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len(), "lengths");
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i420_upscale_equals_the_library_path_and_info_lists_the_route() {
    let server = start_with(config(2, &[])).await;
    let mut ws = connect(server.addr, "").await;
    let ready = begin(&mut ws, &format!(r#"{{"type":"start","op":"upscale","width":{W},"height":{H}}}"#)).await;
    assert_eq!(
        ready,
        ServerMessage::Ready {
            width: 2 * W,
            height: 2 * H,
            format: "i420".into(),
            latency_frames: 0,
            header_bytes: 16,
            max_message_bytes: 16 + W * H * 3 / 2
        }
    );
    let espcn = EspcnUpscaler::bundled(2, Arc::new(Threads::single())).unwrap_or_else(|e| panic!("{e}"));
    let mut stage = upscale_stage(Box::new(espcn), Colour { matrix: Matrix::Bt601, range: Range::Limited }, 2);
    for t in 0..3u64 {
        let frame = picture(W, H, t as usize);
        ws.send(frame_message(t + 10, &frame)).await.unwrap_or_else(|e| panic!("{e}"));
        let (h, out) = next_frame(&mut ws, &mut Vec::new()).await;
        assert_eq!(h, FrameHeader { sequence: t + 10, timestamp_us: (t + 10) as i64 * 33_333 - 5 });
        let want = run_stage(&mut stage, &frame, 2);
        assert!(max_diff(&out, &want) <= 1, "frame {t}: differs from UpscaleStage + EspcnUpscaler");
    }
    let got = finish(ws).await;
    assert_eq!((got.done, got.close, got.error), (Some((3, 3, 0)), Some(1000), None));

    let info = media::request(server.addr, "GET", "/v1/info", b"").await.json();
    let v = &info["video_stream"];
    assert_eq!((v["route"].as_str(), v["max_streams"].as_u64()), (Some("/v1/video/stream"), Some(2)), "{info}");
    assert_eq!(v["max_declutter_pixels"].as_u64(), Some(640 * 480));
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jpeg_frames_come_back_as_jpeg_of_the_output_size() {
    let server = start_with(config(2, &[])).await;
    let mut ws = connect(server.addr, "").await;
    let start = format!(
        r#"{{"type":"start","op":"upscale","width":{W},"height":{H},"format":"jpeg","scale":3,"model":"bicubic","quality":92}}"#
    );
    let ready = begin(&mut ws, &start).await;
    assert!(matches!(ready, ServerMessage::Ready { width: 192, height: 144, ref format, .. } if format == "jpeg"));
    let frame = picture(W, H, 1);
    let mut jpeg = Vec::new();
    let l = FrameLayout::subsampled(W, H, 1, 1);
    let mut enc = JpegEncoder::new(W, H, 95).unwrap_or_else(|e| panic!("{e}"));
    enc.encode(l.packed(&frame).unwrap_or_else(|| panic!()), &mut jpeg).unwrap_or_else(|e| panic!("{e}"));
    ws.send(frame_message(1, &jpeg)).await.unwrap_or_else(|e| panic!("{e}"));
    let (h, out) = next_frame(&mut ws, &mut Vec::new()).await;
    assert_eq!(h.sequence, 1);

    // FFmpeg's own tools see a 192×144 JPEG.
    let dir = media::tempdir();
    let path = dir.path().join("out.jpg");
    std::fs::write(&path, &out).unwrap_or_else(|e| panic!("{e}"));
    let probe = media::probe(&path);
    let v = media::stream(&probe, "video");
    assert_eq!(
        (v["codec_name"].as_str(), v["width"].as_u64(), v["height"].as_u64()),
        (Some("mjpeg"), Some(192), Some(144))
    );

    // And it is the library's upscale of the decoded input, within JPEG's loss.
    let mut dec = JpegDecoder::new(W, H).unwrap_or_else(|e| panic!("{e}"));
    let mut decoded = vec![0u8; dec.frame_len()];
    dec.decode(&jpeg, &mut decoded).unwrap_or_else(|e| panic!("{e}"));
    let bicubic = BicubicUpscaler::new(3).unwrap_or_else(|e| panic!("{e}"));
    let want = run_stage(&mut upscale_stage(Box::new(bicubic), Colour::JPEG, 3), &decoded, 3);
    let mut back = JpegDecoder::new(192, 144).unwrap_or_else(|e| panic!("{e}"));
    let mut got = vec![0u8; back.frame_len()];
    back.decode(&out, &mut got).unwrap_or_else(|e| panic!("{e}"));
    let luma = 192 * 144;
    let mad = got[..luma].iter().zip(&want[..luma]).map(|(a, b)| f64::from(a.abs_diff(*b))).sum::<f64>() / luma as f64;
    assert!(mad < 2.0, "mean |Δluma| {mad} against the library path");
    let got = finish(ws).await;
    assert_eq!((got.done, got.close), (Some((1, 1, 0)), Some(1000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declutter_equals_the_stage_on_a_simulated_clip_and_drains_with_1001() {
    let frames = 4;
    let sim = Simulator::new(SimConfig { width: W, height: H, frames, ..SimConfig::default() })
        .unwrap_or_else(|e| panic!("{e}"));
    let clip = sim.simulate(7);
    let grey: Vec<u8> = clip.cluttered.iter().map(|v| (v * 255.0).round() as u8).collect();
    let mut stage =
        DeclutterStage::new(&Clutter::bundled().unwrap_or_else(|e| panic!("{e}")), W, H, Arc::new(Threads::single()))
            .unwrap_or_else(|e| panic!("{e}"));
    let l = FrameLayout::subsampled(W, H, 1, 1);
    let full = Colour { matrix: Matrix::Bt601, range: Range::Full };

    let server = start_with(config(2, &[])).await;
    let mut ws = connect(server.addr, "").await;
    begin(&mut ws, &format!(r#"{{"type":"start","op":"declutter","width":{W},"height":{H},"range":"full"}}"#)).await;
    let mut changed = 0;
    for (t, y) in grey.chunks_exact(W * H).enumerate() {
        let mut frame = vec![128u8; l.packed_len()];
        frame[..W * H].copy_from_slice(y);
        ws.send(frame_message(t as u64, &frame)).await.unwrap_or_else(|e| panic!("{e}"));
        let (h, out) = next_frame(&mut ws, &mut Vec::new()).await;
        assert_eq!(h.sequence, t as u64);
        let mut want = vec![0u8; W * H];
        let src = l.packed(&frame).unwrap_or_else(|| panic!());
        let mut dst = PlaneMut { data: &mut want, stride: W, width: W, height: H };
        stage.process_ycbcr(src, full, &mut dst, Range::Full).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.len(), l.packed_len());
        assert_eq!(max_diff(&out[..W * H], &want), 0, "frame {t}: differs from DeclutterStage");
        assert!(out[W * H..].iter().all(|c| *c == 128), "frame {t}: chroma must be neutral");
        changed += out[..W * H].iter().zip(y).filter(|(a, b)| a != b).count();
    }
    assert!(changed > 0, "the filter left a cluttered clip untouched");

    // Shutdown: the open stream gets `done` and 1001.
    let (_tx, rx) = ws.split();
    let reader = tokio::spawn(read_all(rx));
    let _ = server.stop.send(());
    let got = reader.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((got.done, got.close), (Some((frames as u64, frames as u64, 0)), Some(1001)), "{got:?}");
    join(server.task, Duration::from_secs(10)).await;
}

/// Scrapes `/metrics` and lints it with promtool.
async fn promtool_clean(addr: SocketAddr) -> String {
    let text = String::from_utf8(media::request(addr, "GET", "/metrics", b"").await.body).unwrap_or_default();
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running promtool (scripts/test.sh installs `prometheus`): {e}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        stdin.write_all(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}\n---\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_keeps_the_latest_frames_in_order_and_counts_the_dropped() {
    let server = start_with(config(2, &[])).await;
    let (w, h, n) = (256usize, 192usize, 30u64);
    let mut ws = connect(server.addr, "").await;
    begin(&mut ws, &format!(r#"{{"type":"start","op":"upscale","width":{w},"height":{h},"scale":2}}"#)).await;
    let frame = picture(w, h, 0);
    let (mut tx, rx) = ws.split();
    let reader = tokio::spawn(read_all(rx));
    for seq in 0..n {
        tx.send(frame_message(seq, &frame)).await.unwrap_or_else(|e| panic!("{e}"));
    }
    tx.send(Message::text(r#"{"type":"stop"}"#)).await.unwrap_or_else(|e| panic!("{e}"));
    let got = reader.await.unwrap_or_else(|e| panic!("{e}"));
    let (frames_in, frames_out, dropped) = got.done.unwrap_or_else(|| panic!("no done: {got:?}"));
    assert_eq!((frames_in, got.close), (n, Some(1000)));
    assert_eq!(frames_out + dropped, frames_in);
    assert!(dropped > 0, "a burst of {n} frames faster than the model runs must drop some");
    assert_eq!(got.frames.len() as u64, frames_out);
    let seqs: Vec<u64> = got.frames.iter().map(|(h, _)| h.sequence).collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]), "outputs out of order: {seqs:?}");
    assert_eq!(seqs.last(), Some(&(n - 1)), "the last frame sent is always processed");
    assert!(got.frames.iter().all(|(_, p)| p.len() == 4 * w * h * 3 / 2));

    let text = promtool_clean(server.addr).await;
    for needle in [
        "# TYPE sluice_video_frames_dropped_total counter",
        "# TYPE sluice_video_frame_seconds histogram",
        "# TYPE sluice_video_streams_active gauge",
        r#"sluice_video_frames_total{op="upscale"}"#,
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// Sends `messages` on a fresh session and reads until the close.
async fn refused(addr: SocketAddr, query: &str, messages: Vec<Message>) -> Got {
    let (mut tx, rx) = connect(addr, query).await.split();
    let reader = tokio::spawn(read_all(rx));
    for m in messages {
        if tx.send(m).await.is_err() {
            break;
        }
    }
    reader.await.unwrap_or_else(|e| panic!("reader: {e}"))
}

/// A healthy bicubic stream of `n` frames 20 ms apart, each awaited; returns the finished
/// session with every `stats` event.
async fn healthy(addr: SocketAddr, n: u64) -> Got {
    let mut ws = connect(addr, "").await;
    begin(&mut ws, &format!(r#"{{"type":"start","op":"upscale","width":{W},"height":{H},"model":"bicubic"}}"#)).await;
    let mut stats = Vec::new();
    for t in 0..n {
        ws.send(frame_message(t, &picture(W, H, t as usize))).await.unwrap_or_else(|e| panic!("{e}"));
        let (h, out) = next_frame(&mut ws, &mut stats).await;
        assert_eq!((h.sequence, out.len()), (t, 4 * W * H * 3 / 2));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut got = finish(ws).await;
    stats.append(&mut got.stats);
    got.stats = stats;
    got
}

/// `healthy(addr, 60)` finished cleanly, with stats (it runs over a second).
fn check_healthy(got: &Got) {
    assert_eq!((got.done, got.close, got.error.as_deref()), (Some((60, 60, 0)), Some(1000), None));
    assert!(!got.stats.is_empty(), "no stats in over a second");
    for s in &got.stats {
        let ServerMessage::Stats { processed, dropped, last_ms, queue } = s else { panic!("{s:?}") };
        assert!((1..=60).contains(processed) && *dropped == 0 && *last_ms >= 0.0 && *queue <= 1, "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_get_their_close_codes_while_another_stream_continues() {
    let server = start_with(config(4, &[])).await;
    let addr = server.addr;
    let live = tokio::spawn(healthy(addr, 60));
    let start = format!(r#"{{"type":"start","op":"upscale","width":{W},"height":{H},"model":"bicubic"}}"#);
    let jpeg_start = format!(r#"{{"type":"start","op":"declutter","width":{W},"height":{H},"format":"jpeg"}}"#);
    let text = |s: &str| Message::text(s.to_owned());
    let good = picture(W, H, 0);
    let not_jpeg: Vec<u8> = (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let cases: Vec<(&str, Vec<Message>, &str, u16)> = vec![
        ("binary before start", vec![frame_message(0, &good)], "expected_start", 1003),
        ("bad JSON", vec![text("{\"type\":")], "bad_message", 1003),
        ("no op", vec![text(r#"{"type":"start","width":64,"height":48}"#)], "bad_setting", 1003),
        (
            "odd i420 size",
            vec![text(r#"{"type":"start","op":"upscale","width":63,"height":48}"#)],
            "bad_dimensions",
            1003,
        ),
        (
            "declutter too big",
            vec![text(r#"{"type":"start","op":"declutter","width":800,"height":600}"#)],
            "bad_dimensions",
            1003,
        ),
        ("short frame", vec![text(&start), frame_message(0, &good[..100])], "bad_frame", 1003),
        ("no header", vec![text(&start), Message::binary(vec![0u8; 10])], "bad_frame", 1003),
        ("frame too long", vec![text(&start), frame_message(0, &[good.clone(), vec![0]].concat())], "bad_frame", 1003),
        ("not a JPEG", vec![text(&jpeg_start), frame_message(0, &not_jpeg)], "bad_frame", 1003),
        (
            "oversized JPEG",
            vec![text(&jpeg_start), frame_message(0, &vec![0xffu8; W * H * 3 + 5000])],
            "message_too_big",
            1009,
        ),
        ("start twice", vec![text(&start), text(&start)], "already_started", 1003),
    ];
    for (what, messages, code, close) in cases {
        let got = refused(addr, "", messages).await;
        assert_eq!((got.error.as_deref(), got.close), (Some(code), Some(close)), "{what}: {got:?}");
        assert!(got.frames.is_empty() && got.done.is_none(), "{what}: {got:?}");
    }
    check_healthy(&live.await.unwrap_or_else(|e| panic!("the healthy stream failed: {e}")));
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_and_the_cap_refuses_with_503() {
    let Served { addr, state, stop, task } = start_with(config(1, &["k3y"])).await;
    for query in ["", "?token=wrong"] {
        let got = refused(addr, query, vec![]).await;
        assert_eq!((got.error.as_deref(), got.close), (Some("unauthorized"), Some(1008)), "{query}");
    }
    let mut first = connect(addr, "?token=k3y").await;
    begin(&mut first, &format!(r#"{{"type":"start","op":"upscale","width":{W},"height":{H},"model":"bicubic"}}"#))
        .await;
    assert_eq!(state.video_streams().active(), 1);
    let mut request = format!("ws://{addr}/v1/video/stream").into_client_request().unwrap_or_else(|e| panic!("{e}"));
    request.headers_mut().insert("authorization", "Bearer k3y".parse().unwrap_or_else(|e| panic!("{e}")));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 503);
            assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        }
        other => panic!("a second stream over the cap of 1 must get 503, got {:?}", other.map(|_| ())),
    }
    let got = finish(first).await;
    assert_eq!((got.done, got.close), (Some((0, 0, 0)), Some(1000)));
    wait_until("the slot is free again", || state.video_streams().active() == 0).await;
    let mut again = connect(addr, "?token=k3y").await;
    begin(&mut again, &format!(r#"{{"type":"start","op":"declutter","width":{W},"height":{H}}}"#)).await;
    let got = finish(again).await;
    assert_eq!(got.close, Some(1000));
    let _ = stop.send(());
    join(task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_without_harming_others() {
    let mut c = config(4, &[]);
    c.video_stream.write_timeout = Duration::from_millis(500);
    let Served { addr, state, stop, task } = start_with(c).await;
    let live = tokio::spawn(healthy(addr, 60));

    // A client with a tiny receive buffer (so the server's output backs up at once) that sends
    // frames upscaled ×4 (16× bigger out than in) and never reads a byte back.
    let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("{e}"));
    socket.set_recv_buffer_size(4_096).unwrap_or_else(|e| panic!("{e}"));
    let tcp = socket.connect(addr).await.unwrap_or_else(|e| panic!("{e}"));
    let url = format!("ws://{addr}/v1/video/stream");
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap_or_else(|e| panic!("{e}"));
    let start = format!(r#"{{"type":"start","op":"upscale","width":{W},"height":{H},"scale":4,"model":"bicubic"}}"#);
    begin(&mut ws, &start).await;
    // It keeps sending (a frame every 5 ms) until the server has dropped the connection.
    let frame = frame_message(0, &picture(W, H, 0));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    loop {
        assert!(Instant::now() < deadline, "a client that never reads was kept for {sent} frames");
        match tokio::time::timeout(Duration::from_secs(2), ws.send(frame.clone())).await {
            Ok(Ok(())) => sent += 1,
            // The server closed the connection.
            _ => break,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_until("the stalled session is dropped", || state.video_streams().active() <= 1).await;
    check_healthy(&live.await.unwrap_or_else(|e| panic!("the healthy stream failed: {e}")));
    wait_until("all sessions end", || state.video_streams().active() == 0).await;
    drop(ws);
    let _ = stop.send(());
    join(task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_closed_with_1008() {
    let mut c = config(4, &[]);
    c.video_stream.idle_timeout = Duration::from_millis(300);
    let server = start_with(c).await;
    let start = format!(r#"{{"type":"start","op":"declutter","width":{W},"height":{H}}}"#);
    for (what, messages) in [("before start", vec![]), ("after start", vec![Message::text(start)])] {
        let got = refused(server.addr, "", messages).await;
        assert_eq!((got.error.as_deref(), got.close), (Some("idle_timeout"), Some(1008)), "{what}: {got:?}");
    }
}
