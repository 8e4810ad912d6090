//! Bad clients on `/v1/audio/stream` each get their documented error and close code (or HTTP
//! status) while a live stream on the same server carries on unharmed; SIGTERM-style drain
//! flushes live streams and closes them with 1001.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use rand::{RngCore, SeedableRng, rngs::StdRng};
use sluice_pipeline::denoise::DenoiserSettings;
use sluice_server::stream::protocol::SampleFormat;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const START: &str = r#"{"type":"start","sample_rate":48000,"channels":1,"format":"s16le"}"#;

/// A healthy 48 kHz stream paced at about real time; returns after checking its output.
async fn healthy(addr: std::net::SocketAddr) {
    let x = noisy(&speech("Front_Center.wav"), 9);
    let pcm = encode(SampleFormat::S16le, &x);
    let want = reference(&x, 48_000, 1, DenoiserSettings::default(), SampleFormat::S16le);
    let got = stream(addr, START, &pcm, 2, &[480], Duration::from_millis(8)).await;
    check_output(&got, &want, x.len() as u64, 2, 1000);
}

/// Sends `messages` on a fresh session and reads until the close.
async fn refused(addr: std::net::SocketAddr, query: &str, messages: Vec<Message>) -> Received {
    let ws = connect(addr, query).await;
    let (mut tx, rx) = ws.split();
    let reader = tokio::spawn(read_all(rx, Received::default()));
    for m in messages {
        // The server may close before everything is sent; that is part of the test.
        if tx.send(m).await.is_err() {
            break;
        }
    }
    reader.await.unwrap_or_else(|e| panic!("reader: {e}"))
}

fn text(s: &str) -> Message {
    Message::text(s)
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_close_code_while_another_stream_continues() {
    let mut l = limits(16);
    l.max_message = 64 << 10;
    let server = start(l, &[], Duration::from_secs(10)).await;
    let addr = server.addr;
    let live = tokio::spawn(healthy(addr));

    let mut rng = StdRng::seed_from_u64(5);
    let mut random = vec![0u8; 10 << 20];
    rng.fill_bytes(&mut random);
    let cases: Vec<(&str, Vec<Message>, &str, u16)> = vec![
        ("binary before start", vec![Message::binary(vec![0u8; 960])], "expected_start", 1003),
        ("bad JSON", vec![text("{\"type\":")], "bad_message", 1003),
        ("unknown message", vec![text(r#"{"type":"go"}"#)], "bad_message", 1003),
        ("stop before start", vec![text(r#"{"type":"stop"}"#)], "expected_start", 1003),
        ("unknown format", vec![text(r#"{"type":"start","format":"mp3"}"#)], "unsupported_format", 1003),
        ("too many channels", vec![text(r#"{"type":"start","channels":9}"#)], "bad_channels", 1003),
        ("rate out of range", vec![text(r#"{"type":"start","sample_rate":1000}"#)], "bad_sample_rate", 1003),
        ("partial frame", vec![text(START), Message::binary(vec![0u8; 481])], "partial_frame", 1003),
        (
            "partial stereo frame",
            vec![text(r#"{"type":"start","channels":2}"#), Message::binary(vec![0u8; 962])],
            "partial_frame",
            1003,
        ),
        (
            "NaN samples",
            vec![text(r#"{"type":"start","format":"f32le"}"#), Message::binary(f32::NAN.to_le_bytes().repeat(480))],
            "bad_sample",
            1003,
        ),
        ("start twice", vec![text(START), text(START)], "already_started", 1003),
        ("oversized message", vec![text(START), Message::binary(vec![0u8; 128 << 10])], "message_too_big", 1009),
        ("10 MB of random bytes", vec![text(START), Message::binary(random)], "message_too_big", 1009),
    ];
    for (what, messages, code, close) in cases {
        let got = refused(addr, "", messages).await;
        assert_eq!((got.error.as_deref(), got.close), (Some(code), Some(close)), "{what}: {got:?}");
        assert!(got.pcm.is_empty() && got.done.is_none(), "{what}: {got:?}");
    }

    // Abrupt disconnect mid-stream: the slot comes back.
    let before = server.svc.active();
    let mut ws = connect(addr, "").await;
    begin(&mut ws, START).await;
    ws.send(Message::binary(vec![1u8; 9_600])).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.svc.active(), before + 1);
    drop(ws);
    wait_until("the dropped session is released", || server.svc.active() <= before).await;

    live.await.unwrap_or_else(|e| panic!("the live stream failed: {e}"));
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_without_harming_others() {
    let mut l = limits(4);
    l.write_timeout = Duration::from_millis(500);
    l.max_message = 64 << 10;
    let server = start(l, &[], Duration::from_secs(10)).await;
    let addr = server.addr;
    let live = tokio::spawn(healthy(addr));

    // A client with a tiny receive buffer (so the server's output backs up at once) that
    // sends 96 kHz stereo f32 as fast as the server takes it and never reads a byte back.
    let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("{e}"));
    socket.set_recv_buffer_size(4_096).unwrap_or_else(|e| panic!("{e}"));
    let tcp = socket.connect(addr).await.unwrap_or_else(|e| panic!("{e}"));
    let url = format!("ws://{addr}/v1/audio/stream");
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap_or_else(|e| panic!("{e}"));
    begin(&mut ws, r#"{"type":"start","sample_rate":96000,"channels":2,"format":"f32le"}"#).await;
    let chunk = Message::binary(encode(SampleFormat::F32le, &vec![0.25; 2 * 4_800]));
    let mut sent = 0;
    for _ in 0..6_000 {
        match tokio::time::timeout(Duration::from_secs(2), ws.send(chunk.clone())).await {
            Ok(Ok(())) => sent += 1,
            // Blocked (backpressure) or dropped by the server: either way it stopped taking.
            _ => break,
        }
    }
    assert!(sent < 6_000, "the server took all {sent} chunks from a client that never reads");
    wait_until("the stalled session is dropped", || server.svc.active() <= 1).await;
    live.await.unwrap_or_else(|e| panic!("the live stream failed: {e}"));
    wait_until("all sessions end", || server.svc.active() == 0).await;
    drop(ws);
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_capacity_is_refused_with_503_and_retry_after() {
    let server = start(limits(1), &[], Duration::from_secs(10)).await;
    let mut first = connect(server.addr, "").await;
    begin(&mut first, START).await;
    let url = format!("ws://{}/v1/audio/stream", server.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503);
            assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // Once the first stream ends, a new one is admitted.
    first.send(text(r#"{"type":"stop"}"#)).await.unwrap_or_else(|e| panic!("{e}"));
    let (_, rx) = first.split();
    let got = read_all(rx, Received::default()).await;
    assert_eq!((got.done, got.close), (Some(0), Some(1000)));
    wait_until("the slot is free", || server.svc.active() == 0).await;
    let mut again = connect(server.addr, "").await;
    assert_eq!(begin(&mut again, START).await, (1440, 480));
    drop(again);
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_checked_after_the_upgrade_with_1008() {
    let server = start(limits(4), &["s3cret", "other"], Duration::from_secs(10)).await;
    for query in ["", "?token=wrong", "?token="] {
        let got = refused(server.addr, query, vec![text(START)]).await;
        assert_eq!((got.error.as_deref(), got.close), (Some("unauthorized"), Some(1008)), "query {query:?}");
        assert!(got.ready.is_none());
    }
    let mut ok = connect(server.addr, "?token=other").await;
    assert_eq!(begin(&mut ok, START).await, (1440, 480));
    let mut req =
        format!("ws://{}/v1/audio/stream", server.addr).into_client_request().unwrap_or_else(|e| panic!("{e}"));
    req.headers_mut().insert("authorization", "Bearer s3cret".parse().unwrap_or_else(|e| panic!("{e}")));
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(begin(&mut ws, START).await, (1440, 480));
    drop((ok, ws));
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_live_streams_and_closes_them_with_1001() {
    let server = start(limits(4), &[], Duration::from_secs(10)).await;
    let x = noisy(&speech("Front_Center.wav"), 11);
    let pcm = encode(SampleFormat::S16le, &x);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut ws = connect(server.addr, "").await;
        let ready = begin(&mut ws, START).await;
        let (mut tx, rx) = ws.split();
        let reader = tokio::spawn(read_all(rx, Received { ready: Some(ready), ..Received::default() }));
        let pcm = pcm.clone();
        // Real-time pace; the drain comes mid-stream, so later sends may fail.
        let sender = tokio::spawn(async move {
            for chunk in pcm.chunks(960) {
                if tx.send(Message::binary(chunk.to_vec())).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        clients.push((reader, sender));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = server.stop.send(());
    for (reader, sender) in clients {
        let got = reader.await.unwrap_or_else(|e| panic!("{e}"));
        sender.abort();
        let n = got.done.unwrap_or_else(|| panic!("no done: {got:?}"));
        assert!(n > 0 && (n as usize) < x.len(), "the drain should come mid-stream: {n} of {}", x.len());
        // The tail of what was received came out flushed, exactly as a file of that length.
        let want = reference(&x[..n as usize], 48_000, 1, DenoiserSettings::default(), SampleFormat::S16le);
        check_output(&got, &want, n, 2, 1001);
    }
    join(server.task, Duration::from_secs(10)).await;
    assert_eq!(server.svc.active(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_closed_with_1008_after_the_idle_timeout() {
    let mut l = limits(4);
    l.idle_timeout = Duration::from_millis(300);
    let server = start(l, &[], Duration::from_secs(10)).await;
    // Before start, and mid-stream.
    let got = refused(server.addr, "", vec![]).await;
    assert_eq!((got.error.as_deref(), got.close), (Some("idle_timeout"), Some(1008)), "{got:?}");
    let got = refused(server.addr, "", vec![text(START), Message::binary(vec![0u8; 960])]).await;
    assert_eq!((got.error.as_deref(), got.close), (Some("idle_timeout"), Some(1008)), "{got:?}");
    assert_eq!(got.ready, Some((1440, 480)));
    wait_until("both sessions end", || server.svc.active() == 0).await;
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}
