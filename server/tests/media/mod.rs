//! Shared by the video and echo tests (`mod media;`): temp dirs, the `ffmpeg`/`ffprobe` CLIs,
//! and an in-process server with a raw HTTP/1.1 client that reads whole (de-chunked) replies.
#![allow(dead_code)] // each test crate uses a different subset

use serde_json::Value;
use sluice_engine::Threads;
use sluice_server::config::ServerConfig;
use sluice_server::{AppState, ShutdownPolicy, run};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// `sluice simulate-echo` of one `size`×`size` clip of `frames` frames with `both` clutter as
/// PNG folders (`cluttered/`, `clean/`, `mask/`) under `dir`; returns the clip's folder.
pub fn simulate_png(dir: &Path, size: usize, frames: usize, seed: u64) -> std::path::PathBuf {
    let (size, frames, seed_arg) = (size.to_string(), frames.to_string(), seed.to_string());
    let args = ["simulate-echo", "--out", p(dir), "--frames", &frames, "--size", &size];
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .args(["--clutter", "both", "--seed", &seed_arg, "--format", "png"])
        .output()
        .unwrap_or_else(|e| panic!("running sluice: {e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir.join(format!("clip_{seed:06}"))
}

/// Runs a tool, requiring success; returns stdout.
pub fn tool(name: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(out.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// ffprobe's JSON for a file, frames counted.
pub fn probe(path: &Path) -> Value {
    let out =
        tool("ffprobe", &["-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", p(path)]);
    serde_json::from_slice(&out).unwrap_or_else(|e| panic!("ffprobe JSON: {e}"))
}

/// The first stream of `kind` (`video`, `audio`) in a [`probe`].
pub fn stream<'a>(probe: &'a Value, kind: &str) -> &'a Value {
    probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} stream in {probe}"))
}

/// A file's video stream, frames counted (`null` when it has none).
pub fn video_stream(path: &Path) -> Value {
    let v = probe(path);
    v["streams"].as_array().and_then(|s| s.iter().find(|s| s["codec_type"] == "video")).cloned().unwrap_or(Value::Null)
}

/// Decoded luma of every frame, one per coded frame (no frame-rate conversion).
pub fn luma(path: &Path) -> Vec<u8> {
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
pub async fn start(spool: &Path) -> (SocketAddr, oneshot::Sender<()>) {
    let config = ServerConfig { spool_dir: spool.to_owned(), ..ServerConfig::default() };
    let s = start_with(config).await;
    (s.addr, s.stop)
}

/// A server on 127.0.0.1:0 without a speech model, and the means to stop it as `serve` does.
pub struct Served {
    pub addr: SocketAddr,
    pub state: AppState,
    pub stop: oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A server on 127.0.0.1:0 with `config` and one engine thread.
pub async fn start_with(config: ServerConfig) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let state = AppState::configured(Threads::single(), config, None);
    let (stop, stopped) = oneshot::channel::<()>();
    let policy = ShutdownPolicy { drain_delay: Duration::ZERO, grace: Duration::from_secs(10) };
    let task = tokio::spawn(run(listener, state.clone(), policy, async move {
        let _ = stopped.await;
    }));
    Served { addr, state, stop, task }
}

pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One request with `Connection: close`; the whole (de-chunked) response.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Reply {
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

pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}
