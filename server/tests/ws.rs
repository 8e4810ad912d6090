//! `GET /v1/audio/stream` on a real socket with a real WebSocket client: real speech through
//! the protocol equals the library path of `sluice denoise`, whatever the chunking.

mod common;

use common::*;
use sluice_pipeline::denoise::DenoiserSettings;
use sluice_pipeline::dsp::StageThresholds;
use sluice_server::stream::protocol::SampleFormat;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mono_48k_s16le_in_10ms_and_odd_chunks_equals_the_library_path() {
    let server = start(limits(8), &[], Duration::from_secs(10)).await;
    let x = noisy(&speech("Front_Center.wav"), 1);
    let pcm = encode(SampleFormat::S16le, &x);
    let want = reference(&x, 48_000, 1, DenoiserSettings::default(), SampleFormat::S16le);
    let start = r#"{"type":"start","sample_rate":48000,"channels":1,"format":"s16le"}"#;
    // Two concurrent streams: 10 ms chunks and odd-sized ones, batched together.
    let (a, b) = tokio::join!(
        stream(server.addr, start, &pcm, 2, &[480], Duration::ZERO),
        stream(server.addr, start, &pcm, 2, &[1, 333, 2_017, 7, 4_801], Duration::ZERO),
    );
    for got in [&a, &b] {
        assert_eq!(got.ready, Some((1440, 480)));
        check_output(got, &want, x.len() as u64, 2, 1000);
    }
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stereo_16k_f32le_with_settings_equals_the_library_path() {
    let server = start(limits(8), &[], Duration::from_secs(10)).await;
    let x = stereo_16k();
    let pcm = encode(SampleFormat::F32le, &x);
    let settings = DenoiserSettings { atten_lim_db: 12.0, post_filter_beta: 0.02, ..DenoiserSettings::default() };
    let want = reference(&x, 16_000, 2, settings, SampleFormat::F32le);
    let start = r#"{"type":"start","sample_rate":16000,"channels":2,"format":"f32le","atten_lim_db":12,"post_filter_beta":0.02}"#;
    let (a, b) = tokio::join!(
        stream(server.addr, start, &pcm, 8, &[160], Duration::ZERO),
        stream(server.addr, start, &pcm, 8, &[99, 1, 1_000, 161], Duration::ZERO),
    );
    for got in [&a, &b] {
        assert_eq!(got.ready.map(|r| r.1), Some(160));
        check_output(got, &want, (x.len() / 2) as u64, 8, 1000);
    }
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

/// `"gating":"lsnr"` streams run libDF's library thresholds, batched with an ungated stream on
/// the same worker, and still equal the library path with those thresholds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gated_and_ungated_streams_together_equal_the_library_path() {
    let server = start(limits(8), &[], Duration::from_secs(10)).await;
    let x = noisy(&speech("Front_Center.wav"), 3);
    let pcm = encode(SampleFormat::S16le, &x);
    let gated = DenoiserSettings { thresholds: StageThresholds::LIBRARY_DEFAULT, ..DenoiserSettings::default() };
    let want_gated = reference(&x, 48_000, 1, gated, SampleFormat::S16le);
    let want = reference(&x, 48_000, 1, DenoiserSettings::default(), SampleFormat::S16le);
    assert_ne!(want_gated, want, "gating changed nothing on this input: the test proves nothing");
    let start = r#"{"type":"start","sample_rate":48000,"channels":1,"format":"s16le"}"#;
    let start_gated = r#"{"type":"start","sample_rate":48000,"channels":1,"format":"s16le","gating":"lsnr"}"#;
    let (a, b) = tokio::join!(
        stream(server.addr, start_gated, &pcm, 2, &[480, 77], Duration::ZERO),
        stream(server.addr, start, &pcm, 2, &[480], Duration::ZERO),
    );
    check_output(&a, &want_gated, x.len() as u64, 2, 1000);
    check_output(&b, &want, x.len() as u64, 2, 1000);
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_lists_the_stream_limits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(limits(7), &["k"], Duration::from_secs(10)).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap_or_else(|e| panic!("{e}"));
    tcp.write_all(b"GET /v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap_or_else(|e| panic!("{e}"));
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_else(|| panic!("{raw}"));
    let info: sluice_server::http::info::Info = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let s = info.stream.unwrap_or_else(|| panic!("no stream info in {body}"));
    assert_eq!(info.models, vec![sluice_server::state::DFN3_NAME.to_owned()]);
    assert_eq!((s.route.as_str(), s.max_streams, s.active_streams, s.max_channels), ("/v1/audio/stream", 7, 0, 8));
    assert!(s.auth && s.batching);
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}
