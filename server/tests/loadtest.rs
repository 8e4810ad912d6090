//! `sluice loadtest` against an in-process server: every stream completes and is measured.

mod common;

use common::*;
use sluice_server::gating::Gating;
use sluice_server::loadtest::{LoadtestConfig, LoadtestError, run};
use std::time::Duration;

/// The body of a plain HTTP/1.1 GET.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap_or_else(|e| panic!("read: {e}"));
    String::from_utf8_lossy(&buf).into_owned()
}

fn config(url: String, streams: usize) -> LoadtestConfig {
    LoadtestConfig {
        url,
        streams,
        duration: Duration::from_secs(1),
        token: Some("k".into()),
        speech: speech("Front_Center.wav"),
        max_lag: Duration::from_secs(1),
        gating: Gating::Off,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_paced_streams_complete_and_report_round_trips() {
    let server = start(limits(4), &["k"], Duration::from_secs(10)).await;
    let url = format!("ws://{}/v1/audio/stream", server.addr);
    let r = run(config(url.clone(), 2)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.errors, Vec::<String>::new());
    assert_eq!((r.streams, r.completed, r.hops), (2, 2, 200));
    assert!(r.p50 > Duration::ZERO && r.p50 <= r.p99 && r.p99 <= r.max, "{r:?}");

    // The workers' own metrics reach /metrics (their handles are taken before the app exists).
    let metrics = http_get(server.addr, "/metrics").await;
    let hops = metrics.lines().find(|l| l.starts_with("sluice_hops_total ")).unwrap_or_else(|| panic!("{metrics}"));
    let hops: f64 = hops["sluice_hops_total ".len()..].parse().unwrap_or_else(|e| panic!("{hops}: {e}"));
    assert!(hops >= 200.0, "200 hops sent, {hops} counted (the flushed tails add a few)");
    assert!(metrics.contains("sluice_hop_seconds_count"), "{metrics}");
    let skipped = |m: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix("sluice_decoders_skipped_total "))
            .map_or(0.0, |v| v.parse().unwrap_or_else(|e| panic!("{v}: {e}")))
    };
    assert_eq!(skipped(&metrics), 0.0, "ungated streams skipped decoders");

    // Gated streams of the same speech skip decoders on its pauses and clean hops.
    let gated = LoadtestConfig { gating: Gating::Lsnr, ..config(url.clone(), 2) };
    let r = run(gated).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.errors.len(), r.completed), (0, 2), "{r:?}");
    let metrics = http_get(server.addr, "/metrics").await;
    assert!(skipped(&metrics) > 20.0, "gated streams skipped {} decoder runs", skipped(&metrics));

    // Bounds and targets are checked before anything is sent.
    let far = run(config("ws://192.0.2.1:8080/v1/audio/stream".into(), 2)).await;
    assert!(matches!(far, Err(LoadtestError::NotLoopback(_))), "{far:?}");
    let many = run(config(url, 100_000)).await;
    assert!(matches!(many, Err(LoadtestError::OutOfBounds(_))), "{many:?}");

    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}
