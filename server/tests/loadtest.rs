//! `sluice loadtest` against an in-process server: every stream completes and is measured.

mod common;

use common::*;
use sluice_server::loadtest::{LoadtestConfig, LoadtestError, run};
use std::time::Duration;

fn config(url: String, streams: usize) -> LoadtestConfig {
    LoadtestConfig {
        url,
        streams,
        duration: Duration::from_secs(1),
        token: Some("k".into()),
        speech: speech("Front_Center.wav"),
        max_lag: Duration::from_secs(1),
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

    // Bounds and targets are checked before anything is sent.
    let far = run(config("ws://192.0.2.1:8080/v1/audio/stream".into(), 2)).await;
    assert!(matches!(far, Err(LoadtestError::NotLoopback(_))), "{far:?}");
    let many = run(config(url, 100_000)).await;
    assert!(matches!(many, Err(LoadtestError::OutOfBounds(_))), "{many:?}");

    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}
