//! `POST /v1/echo/declutter` on a real socket: a simulated echo clip encoded by the `ffmpeg` CLI
//! goes up, the streamed answer is probed with `ffprobe` and compared with what
//! `sluice declutter` writes for the same clip; progress is read from the job table; bad
//! uploads get their JSON errors and leave nothing in the spool.

use serde_json::Value;
use sluice_engine::Threads;
use sluice_server::config::ServerConfig;
use sluice_server::http::video_jobs::{JobState, JobStatus};
use sluice_server::{AppState, ShutdownPolicy, run};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// Runs a tool, requiring success; returns stdout.
fn tool(name: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(out.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A 12-frame 62×62 simulated echo clip (sides not multiples of 4) as lossless H.264 at 25 fps.
fn make_clip(dir: &Path) -> std::path::PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["simulate-echo", "--out", p(dir), "--frames", "12", "--size", "62", "--clutter", "rl", "--seed", "4"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let clip = dir.join("clip.mp4");
    let pattern = dir.join("clip_000004/cluttered/%03d.png");
    tool(
        "ffmpeg",
        &[
            "-y",
            "-v",
            "error",
            "-nostdin",
            "-framerate",
            "25",
            "-i",
            p(&pattern),
            "-c:v",
            "libx264",
            "-crf",
            "0",
            "-pix_fmt",
            "yuv420p",
            p(&clip),
        ],
    );
    clip
}

/// ffprobe's video stream, frames counted.
fn probe(path: &Path) -> Value {
    let out = tool("ffprobe", &["-v", "error", "-count_frames", "-show_streams", "-of", "json", p(path)]);
    let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("ffprobe JSON: {e}"));
    v["streams"].as_array().and_then(|s| s.iter().find(|s| s["codec_type"] == "video")).cloned().unwrap_or(Value::Null)
}

/// Decoded luma of every frame.
fn luma(path: &Path) -> Vec<u8> {
    tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-nostdin",
            "-i",
            p(path),
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
    )
}

/// A server on 127.0.0.1:0 with default settings, `--spool-dir` = `spool`.
async fn start(spool: &Path) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let config = ServerConfig { spool_dir: spool.to_owned(), ..ServerConfig::default() };
    let state = AppState::configured(Threads::single(), config, None);
    let (stop, stopped) = oneshot::channel::<()>();
    let policy = ShutdownPolicy { drain_delay: Duration::ZERO, grace: Duration::from_secs(2) };
    tokio::spawn(run(listener, state, policy, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One request with `Connection: close`; the whole (de-chunked) response.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap_or_else(|e| panic!("write: {e}"));
    let _ = s.write_all(body).await;
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw).await {
        assert!(!raw.is_empty(), "read: {e}");
    }
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no header end"));
    let text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)?.parse().ok()).unwrap_or_else(|| panic!("{text}"));
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_vec() };
    Reply { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").unwrap_or_else(|| panic!("bad chunk framing"));
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap_or("x").trim(), 16)
            .unwrap_or_else(|e| panic!("chunk size: {e}"));
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clips_stream_back_like_the_cli_with_progress_and_bad_uploads_are_refused() {
    let dir = tempdir();
    let spool = tempdir();
    let clip = make_clip(dir.path());
    let upload = std::fs::read(&clip).unwrap_or_else(|e| panic!("{e}"));
    let (addr, _stop) = start(spool.path()).await;

    for (format, codec) in [("webm", "vp9"), ("mp4", "h264")] {
        let r = request(addr, "POST", &format!("/v1/echo/declutter?format={format}&crf=0"), &upload).await;
        assert_eq!(r.status, 200, "{format}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.headers.get("content-type").map(String::as_str), Some(format!("video/{format}").as_str()));
        assert_eq!(r.headers.get("sluice-output-size").map(String::as_str), Some("62x62"));
        assert_eq!(r.headers.get("sluice-frames").map(String::as_str), Some("12"));
        let got = dir.path().join(format!("got.{format}"));
        std::fs::write(&got, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let v = probe(&got);
        assert_eq!((v["codec_name"].as_str(), v["pix_fmt"].as_str()), (Some(codec), Some("yuv420p")), "{v}");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64(), v["nb_read_frames"].as_str()),
            (Some(62), Some(62), Some("12"))
        );

        // The same pass as the CLI: the decoded pictures agree (lossless both ways).
        let cli = dir.path().join(format!("cli.{format}"));
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["declutter", p(&clip), p(&cli), "--crf", "0"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (a, b, input) = (luma(&got), luma(&cli), luma(&clip));
        assert_eq!(a.len(), b.len());
        let max = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(255);
        assert!(max <= 1, "{format}: max |server − cli| luma = {max}");
        assert_ne!(a, input, "{format}: the filter changed nothing");

        let id = r.headers.get("sluice-job").unwrap_or_else(|| panic!("no Sluice-Job header"));
        let s = request(addr, "GET", &format!("/v1/video/jobs/{id}"), b"").await;
        assert_eq!(s.status, 200);
        let status: JobStatus = serde_json::from_slice(&s.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((status.state, status.frames_done, status.frames_total), (JobState::Done, 12, Some(12)));
        assert_eq!((status.input_size, status.output_size), ([62, 62], [62, 62]));
    }

    let tone = dir.path().join("tone.m4a");
    tool("ffmpeg", &["-y", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "aac", p(&tone)]);
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
            "color=s=2048x1024:d=0.04",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            p(&big),
        ],
    );
    let read = |path: &Path| std::fs::read(path).unwrap_or_else(|e| panic!("{e}"));
    let cases: [(&str, Vec<u8>, u16, &str); 6] = [
        ("/v1/echo/declutter", b"this is not a video at all".to_vec(), 415, "unsupported_media"),
        ("/v1/echo/declutter", read(&tone), 415, "unsupported_media"),
        ("/v1/echo/declutter", read(&big), 400, "bad_dimensions"),
        ("/v1/echo/declutter", Vec::new(), 400, "empty_upload"),
        ("/v1/echo/declutter?format=avi", upload.clone(), 400, "bad_parameter"),
        ("/v1/echo/declutter?format=mp4&crf=52", upload.clone(), 400, "bad_parameter"),
    ];
    for (path, body, status, code) in cases {
        let r = request(addr, "POST", path, &body).await;
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (status, Some(code)),
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!r.json()["message"].as_str().unwrap_or_default().contains(p(spool.path())), "path leaked");
    }
    assert!(entries(spool.path()).is_empty(), "uploads left behind: {:?}", entries(spool.path()));
}
