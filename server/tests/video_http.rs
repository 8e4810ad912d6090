//! `POST /v1/video/upscale` and `GET /v1/video/jobs/{id}` on a real socket: clips made by the
//! `ffmpeg` CLI go up, the streamed answers are probed with `ffprobe` and compared with what
//! `sluice upscale` writes for the same clip; bad uploads get their JSON errors.

mod media;

use media::{entries, luma, p, probe, request, start, stream, tempdir, tool};
use sluice_server::http::video_jobs::{JobState, JobStatus};
use std::path::Path;
use std::process::Command;

/// A 64×48, 25 fps, `frames`-frame H.264 test pattern with a 440 Hz AAC tone, in MP4.
fn make_clip(path: &Path, frames: u32) {
    let secs = format!("{}", f64::from(frames) / 25.0);
    tool(
        "ffmpeg",
        &[
            "-y",
            "-v",
            "error",
            "-nostdin",
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=s=64x48:r=25:d={secs}"),
            "-f",
            "lavfi",
            "-i",
            &format!("sine=f=440:d={secs}:r=44100"),
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            p(path),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webm_and_fragmented_mp4_stream_back_like_the_cli_with_progress() {
    let dir = tempdir();
    let spool = tempdir();
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip, 20);
    let upload = std::fs::read(&clip).unwrap_or_else(|e| panic!("{e}"));
    let (addr, _stop) = start(spool.path()).await;

    for (format, codec, ext) in [("webm", "vp9", "webm"), ("mp4", "h264", "mp4")] {
        let r = request(addr, "POST", &format!("/v1/video/upscale?scale=2&format={format}"), &upload).await;
        assert_eq!(r.status, 200, "{format}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.headers.get("content-type").map(String::as_str), Some(format!("video/{format}").as_str()));
        assert_eq!(r.headers.get("sluice-output-size").map(String::as_str), Some("128x96"));
        assert_eq!(r.headers.get("sluice-frames").map(String::as_str), Some("20"));
        let got = dir.path().join(format!("got.{ext}"));
        std::fs::write(&got, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let info = probe(&got);
        let v = stream(&info, "video");
        assert_eq!(
            (v["codec_name"].as_str(), v["width"].as_u64(), v["height"].as_u64()),
            (Some(codec), Some(128), Some(96))
        );
        assert_eq!(v["nb_read_frames"].as_str(), Some("20"), "{format}: frames");
        stream(&info, "audio");

        // The same pass as the CLI: the decoded pictures agree closely (the streamable muxer
        // settings differ, the encoder's input does not).
        let cli = dir.path().join(format!("cli.{ext}"));
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["upscale", p(&clip), p(&cli), "--scale", "2"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (a, b) = (luma(&got), luma(&cli));
        assert_eq!(a.len(), b.len());
        let mad = a.iter().zip(&b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64;
        assert!(mad < 1.0, "{format}: mean |server − cli| luma = {mad}");

        let id = r.headers.get("sluice-job").unwrap_or_else(|| panic!("no Sluice-Job header"));
        let s = request(addr, "GET", &format!("/v1/video/jobs/{id}"), b"").await;
        assert_eq!(s.status, 200);
        let status: JobStatus = serde_json::from_slice(&s.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((status.state, status.frames_done, status.frames_total), (JobState::Done, 20, Some(20)));
        assert_eq!((status.input_size, status.output_size), ([64, 48], [128, 96]));
    }
    assert!(entries(spool.path()).is_empty(), "uploads left behind: {:?}", entries(spool.path()));
    let missing = request(addr, "GET", "/v1/video/jobs/ffff", b"").await;
    assert_eq!((missing.status, missing.json()["code"].as_str()), (404, Some("no_such_job")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_get_json_errors_and_leave_nothing() {
    let dir = tempdir();
    let spool = tempdir();
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip, 5);
    let upload = std::fs::read(&clip).unwrap_or_else(|e| panic!("{e}"));
    let (addr, _stop) = start(spool.path()).await;

    let cases: [(&str, Vec<u8>, u16, &str); 5] = [
        ("/v1/video/upscale?scale=2", b"this is not a video at all".to_vec(), 415, "unsupported_media"),
        ("/v1/video/upscale?scale=5", upload.clone(), 400, "bad_parameter"),
        ("/v1/video/upscale", upload.clone(), 400, "bad_parameter"),
        ("/v1/video/upscale?scale=2&format=avi", upload.clone(), 400, "bad_parameter"),
        ("/v1/video/upscale?scale=2", Vec::new(), 400, "empty_upload"),
    ];
    for (path, body, status, code) in cases {
        let r = request(addr, "POST", path, &body).await;
        assert_eq!((r.status, r.json()["code"].as_str()), (status, Some(code)), "{path}");
        assert!(!r.json()["message"].as_str().unwrap_or_default().contains(p(spool.path())), "path leaked");
    }
    // An audio-only file has no video stream.
    let tone = dir.path().join("tone.m4a");
    tool("ffmpeg", &["-y", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "aac", p(&tone)]);
    let r = request(addr, "POST", "/v1/video/upscale?scale=2", &std::fs::read(&tone).unwrap_or_default()).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (415, Some("unsupported_media")));
    // Beyond the documented 7680×4320 output cap.
    let big = dir.path().join("big.mp4");
    tool(
        "ffmpeg",
        &[
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=s=4000x200:d=0.04",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            p(&big),
        ],
    );
    let r = request(addr, "POST", "/v1/video/upscale?scale=2", &std::fs::read(&big).unwrap_or_default()).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("bad_dimensions")));
    assert!(entries(spool.path()).is_empty(), "uploads left behind: {:?}", entries(spool.path()));
}
