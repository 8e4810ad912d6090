//! The HTTP API on a real socket: the file route against `sluice denoise`, its error statuses,
//! API keys, CORS, timeouts, metrics and the OpenAPI document.

use sluice_engine::Threads;
use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_server::cli::{Cli, Command};
use sluice_server::config::ServerConfig;
use sluice_server::http::error::ErrorBody;
use sluice_server::{AppState, ShutdownPolicy, run};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn model() -> Arc<Dfn3Model> {
    static MODEL: OnceLock<Arc<Dfn3Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
            Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}")))
        })
        .clone()
}

fn fixture_wav() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipeline/tests/fixtures/libdf_input.wav")
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// Settings as `sluice serve ARGS` would resolve them (no config file).
fn config(args: &[&str]) -> ServerConfig {
    let argv: Vec<&str> = ["sluice", "serve"].iter().chain(args).copied().collect();
    let cli = <Cli as clap::Parser>::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let Command::Serve(args) = cli.command else { panic!("expected serve") };
    ServerConfig::from_args(&args).unwrap_or_else(|e| panic!("{e}"))
}

/// A server on 127.0.0.1:0 with the model loaded; stops when dropped.
struct Server {
    addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start(config: ServerConfig) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let state = AppState::configured(Threads::single(), config, Some(model()));
        let (stop, stopped) = oneshot::channel::<()>();
        let policy = ShutdownPolicy { drain_delay: Duration::ZERO, grace: Duration::from_secs(2) };
        let task = tokio::spawn(run(listener, state.clone(), policy, async move {
            let _ = stopped.await;
        }));
        Server { addr, state, stop: Some(stop), task: Some(task) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn error(&self) -> ErrorBody {
        assert_eq!(self.header("content-type"), Some("application/json"), "error body type; {self:?}");
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not an ErrorBody ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How a request body is sent.
enum Upload<'a> {
    None,
    Sized(&'a [u8]),
    /// `Transfer-Encoding: chunked`, in pieces of this many bytes.
    Chunked(&'a [u8], usize),
}

/// Sends one request with `Connection: close` and reads the whole response.
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Upload<'_>) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match &body {
        Upload::None => {}
        Upload::Sized(b) => head.push_str(&format!("Content-Length: {}\r\n", b.len())),
        Upload::Chunked(..) => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap_or_else(|e| panic!("write: {e}"));
    // A server may answer (413) before the body is sent and close: ignore write errors then.
    match body {
        Upload::None => {}
        Upload::Sized(b) => {
            let _ = s.write_all(b).await;
        }
        Upload::Chunked(b, n) => {
            for piece in b.chunks(n) {
                let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                frame.extend_from_slice(piece);
                frame.extend_from_slice(b"\r\n");
                if s.write_all(&frame).await.is_err() {
                    break;
                }
            }
            let _ = s.write_all(b"0\r\n\r\n").await;
        }
    }
    read_reply(&mut s).await
}

async fn read_reply(s: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw).await {
        // A reset after a complete early answer (413) still leaves the answer readable.
        assert!(!raw.is_empty(), "read: {e}");
    }
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no header end: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let body = if headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    if let Some(len) = headers.get("content-length") {
        assert_eq!(body.len().to_string(), *len, "body length vs Content-Length");
    }
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

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, headers, Upload::None).await
}

/// `sluice denoise IN OUT ARGS` with the real binary; returns OUT's bytes.
fn cli_denoise(input: &Path, args: &[&str]) -> Vec<u8> {
    let dir = tempdir();
    let out = dir.path().join("out.wav");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("denoise")
        .arg(input)
        .arg(&out)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running sluice: {e}"));
    assert!(status.status.success(), "sluice denoise: {}", String::from_utf8_lossy(&status.stderr));
    std::fs::read(&out).unwrap_or_else(|e| panic!("{e}"))
}

fn run_tool(tool: &str, args: &[&OsStr]) {
    let status = std::process::Command::new(tool)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("running `{tool}` (scripts/test.sh installs it): {e}"));
    assert!(status.success(), "{tool} failed");
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wav_and_flac_uploads_come_back_equal_to_the_cli() {
    let spool = tempdir();
    let spool_arg = spool.path().to_string_lossy().into_owned();
    let server = Server::start(config(&["--spool-dir", &spool_arg])).await;
    let dir = tempdir();
    let flac = dir.path().join("in.flac");
    let wav = fixture_wav();
    run_tool("flac", &[OsStr::new("--silent"), OsStr::new("-o"), flac.as_os_str(), wav.as_os_str()]);

    for (input, query, flags) in [
        (&wav, "", &[][..]),
        (&flac, "", &[]),
        (&wav, "?atten_lim_db=12&post_filter_beta=0.02", &["--atten-lim-db", "12", "--post-filter-beta", "0.02"]),
        (&wav, "?gating=lsnr", &["--gating", "lsnr"]),
    ] {
        let bytes = std::fs::read(input).unwrap_or_else(|e| panic!("{e}"));
        let reply = request(
            server.addr,
            "POST",
            &format!("/v1/audio/denoise{query}"),
            &[("Content-Type", "application/octet-stream")],
            Upload::Sized(&bytes),
        )
        .await;
        assert_eq!(reply.status, 200, "{}{query}: {}", input.display(), reply.text());
        assert_eq!(reply.header("content-type"), Some("audio/wav"));
        let want = cli_denoise(input, flags);
        assert!(reply.body == want, "{}{query}: HTTP output differs from `sluice denoise`", input.display());
    }
    assert!(entries(spool.path()).is_empty(), "spool files left: {:?}", entries(spool.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_16k_stereo_upload_streams_back_equal_to_the_cli() {
    let spool = tempdir();
    let spool_arg = spool.path().to_string_lossy().into_owned();
    let server = Server::start(config(&["--spool-dir", &spool_arg])).await;
    let dir = tempdir();
    let input = dir.path().join("in.wav");
    // 16 kHz stereo: the left channel real speech, the right a quieter copy with an offset.
    let mut r = hound::WavReader::open(fixture_wav()).unwrap_or_else(|e| panic!("{e}"));
    let x: Vec<i16> = r.samples::<i16>().step_by(3).collect::<Result<_, _>>().unwrap_or_else(|e| panic!("{e}"));
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&input, spec).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..x.len() {
        w.write_sample(x[i]).unwrap_or_else(|e| panic!("{e}"));
        w.write_sample(x[(i + 700) % x.len()] / 2).unwrap_or_else(|e| panic!("{e}"));
    }
    w.finalize().unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&input).unwrap_or_else(|e| panic!("{e}"));

    let reply = request(server.addr, "POST", "/v1/audio/denoise", &[], Upload::Chunked(&bytes, 7919)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.body == cli_denoise(&input, &[]), "HTTP output differs from `sluice denoise`");
    let (out_spec, n) = {
        let r = hound::WavReader::new(reply.body.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        (r.spec(), r.len())
    };
    assert_eq!((out_spec.sample_rate, out_spec.channels, n as usize), (16_000, 2, 2 * x.len()));
    assert!(entries(spool.path()).is_empty(), "spool files left: {:?}", entries(spool.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_get_json_errors_with_their_status() {
    let spool = tempdir();
    let spool_arg = spool.path().to_string_lossy().into_owned();
    let server =
        Server::start(config(&["--spool-dir", &spool_arg, "--max-upload", "600KiB", "--max-upload-audio", "5s"])).await;
    let wav = std::fs::read(fixture_wav()).unwrap_or_else(|e| panic!("{e}"));
    let noise: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut truncated_header = wav[..44].to_vec();
    truncated_header.extend_from_slice(&wav[44..10_000]);
    // 6 s of 48 kHz 16-bit mono: over `--max-upload-audio 5s` but, at 576 000 bytes, under
    // `--max-upload 600KiB`. (The fixture is 4.1 s.)
    let long = {
        let mut v = Vec::new();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut v), spec).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..6 * 48_000 {
            w.write_sample(((i % 100) as i16 - 50) * 100).unwrap_or_else(|e| panic!("{e}"));
        }
        w.finalize().unwrap_or_else(|e| panic!("{e}"));
        v
    };
    let too_big = vec![0u8; 700 << 10];
    // One below the lowest rate `/v1/info` lists.
    let low_rate = {
        let mut v = Vec::new();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 7_999,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut v), spec).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..8_000 {
            w.write_sample((i % 50) as i16 * 100).unwrap_or_else(|e| panic!("{e}"));
        }
        w.finalize().unwrap_or_else(|e| panic!("{e}"));
        v
    };
    let cases: Vec<(&str, Upload<'_>, u16, &str)> = vec![
        ("", Upload::Sized(&noise), 415, "unsupported_media"),
        ("", Upload::Sized(&[]), 400, "empty_upload"),
        ("", Upload::Sized(&truncated_header), 400, "bad_audio"),
        ("?atten_lim_db=loud", Upload::Sized(&wav[..1000]), 400, "bad_parameter"),
        ("?atten_lim_db=-3", Upload::Sized(&wav[..1000]), 400, "bad_parameter"),
        ("?gating=fast", Upload::Sized(&wav[..1000]), 400, "bad_parameter"),
        ("?post_filter_beta=NaN", Upload::Sized(&wav[..1000]), 400, "bad_parameter"),
        ("", Upload::Sized(&long), 413, "audio_too_long"),
        ("", Upload::Sized(&low_rate), 400, "unsupported_stream"),
        ("", Upload::Sized(&too_big), 413, "payload_too_large"),
        ("", Upload::Chunked(&too_big, 65_536), 413, "payload_too_large"),
    ];
    for (query, body, status, code) in cases {
        let reply = request(server.addr, "POST", &format!("/v1/audio/denoise{query}"), &[], body).await;
        assert_eq!((reply.status, reply.error().code.as_str()), (status, code), "{query}: {}", reply.text());
    }
    // The spool path never leaks into messages.
    let reply = request(server.addr, "POST", "/v1/audio/denoise", &[], Upload::Sized(&noise)).await;
    assert!(!reply.text().contains(&spool_arg), "{}", reply.text());

    // With every job slot taken, the route answers 503 + Retry-After at once.
    let held = server.state.file_jobs().clone().acquire_many_owned(2).await.unwrap_or_else(|e| panic!("{e}"));
    let reply = request(server.addr, "POST", "/v1/audio/denoise", &[], Upload::Sized(&wav)).await;
    assert_eq!((reply.status, reply.error().code.as_str()), (503, "busy"));
    assert_eq!(reply.header("retry-after"), Some("5"));
    drop(held);
    let reply = request(server.addr, "POST", "/v1/audio/denoise", &[], Upload::Sized(&wav)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // Other routes keep their small limit and answer JSON for unknown routes and methods.
    let reply = get(server.addr, "/nope", &[]).await;
    assert_eq!((reply.status, reply.error().code.as_str()), (404, "not_found"));
    let reply = request(server.addr, "PUT", "/v1/audio/denoise", &[], Upload::None).await;
    assert_eq!((reply.status, reply.error().code.as_str()), (405, "method_not_allowed"));
    assert!(entries(spool.path()).is_empty(), "spool files left: {:?}", entries(spool.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_times_out_with_408_and_leaves_no_file() {
    let spool = tempdir();
    let spool_arg = spool.path().to_string_lossy().into_owned();
    let server = Server::start(config(&["--spool-dir", &spool_arg, "--upload-timeout", "300ms"])).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap_or_else(|e| panic!("{e}"));
    let head = "POST /v1/audio/denoise HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nConnection: close\r\n\r\nRIFF";
    s.write_all(head.as_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
    let reply = tokio::time::timeout(Duration::from_secs(10), read_reply(&mut s))
        .await
        .unwrap_or_else(|_| panic!("no answer to a stalled upload"));
    assert_eq!((reply.status, reply.error().code.as_str()), (408, "timeout"));
    assert!(entries(spool.path()).is_empty(), "spool files left: {:?}", entries(spool.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_v1_routes_only() {
    let server = Server::start(config(&["--api-key", "k-one,k-two"])).await;
    let reply = get(server.addr, "/v1/info", &[]).await;
    assert_eq!((reply.status, reply.error().code.as_str()), (401, "missing_api_key"));
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="sluice""#));
    let reply = get(server.addr, "/v1/info", &[("Authorization", "Bearer k-wrong")]).await;
    assert_eq!((reply.status, reply.error().code.as_str()), (401, "invalid_api_key"));
    assert!(reply.header("www-authenticate").is_some_and(|h| h.contains("invalid_token")));
    let reply = request(server.addr, "POST", "/v1/audio/denoise", &[], Upload::Sized(b"RIFF")).await;
    assert_eq!(reply.status, 401, "uploads are guarded before their body is read");

    let reply = get(server.addr, "/v1/info", &[("Authorization", "Bearer k-two")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let info: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info["api_key_required"], true);
    assert_eq!(info["models"], serde_json::json!(["deepfilternet3"]));
    assert_eq!(info["limits"]["max_upload_bytes"], 256 << 20);
    assert_eq!(get(server.addr, "/v1/info?token=k-one", &[]).await.status, 200);
    for open in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(get(server.addr, open, &[]).await.status, 200, "{open} must stay open");
    }
    // WebSocket upgrades are left to their handler (which closes with 1008): no 401 here.
    let upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade")];
    assert_ne!(get(server.addr, "/v1/audio/stream", &upgrade).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_only_listed_origins() {
    let preflight = |origin: &'static str| {
        [
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization"),
        ]
    };
    let server = Server::start(config(&["--cors-origin", "https://app.example", "--api-key", "k"])).await;
    let reply =
        request(server.addr, "OPTIONS", "/v1/audio/denoise", &preflight("https://app.example"), Upload::None).await;
    assert_eq!(reply.status, 200, "a preflight carries no key and must still pass: {}", reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://app.example"));
    let reply =
        request(server.addr, "OPTIONS", "/v1/audio/denoise", &preflight("https://evil.example"), Upload::None).await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
    let reply = get(server.addr, "/v1/info", &[("Origin", "https://app.example"), ("Authorization", "Bearer k")]).await;
    assert_eq!((reply.status, reply.header("access-control-allow-origin")), (200, Some("https://app.example")));

    let closed = Server::start(config(&[])).await;
    let reply = get(closed.addr, "/v1/info", &[("Origin", "https://app.example")]).await;
    assert_eq!((reply.status, reply.header("access-control-allow-origin")), (200, None), "no CORS by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_pass_promtool() {
    let server = Server::start(config(&[])).await;
    for path in ["/healthz", "/v1/info", "/v1/info", "/nope/42"] {
        get(server.addr, path, &[]).await;
    }
    request(server.addr, "POST", "/v1/audio/denoise?atten_lim_db=x", &[], Upload::Sized(b"x")).await;
    let reply = get(server.addr, "/metrics", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let text = reply.text();
    for needle in [
        "# HELP sluice_http_requests_total",
        "# TYPE sluice_http_requests_total counter",
        "# HELP sluice_http_request_duration_seconds",
        "# TYPE sluice_http_request_duration_seconds histogram",
        r#"sluice_http_requests_total{route="/v1/info",method="GET",status="200"}"#,
        r#"sluice_http_requests_total{route="unmatched",method="GET",status="404"}"#,
        r#"sluice_http_requests_total{route="/v1/audio/denoise",method="POST",status="400"}"#,
        r#"sluice_http_request_duration_seconds_bucket{route="/healthz",method="GET",status="200",le="+Inf"}"#,
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("/nope/42"), "raw paths must not become label values");

    // promtool (Debian `prometheus`, in TEST_PACKAGES) lints the real scrape.
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
}
