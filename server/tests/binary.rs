//! The `sluice` binary itself: env vars vs flags, the healthcheck subcommand, and exit on signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

fn sluice() -> Command {
    let mut cmd = Command::new(SLUICE);
    cmd.env_remove("RUST_LOG").env("SLUICE_LOG", "info").env("SLUICE_LOG_FORMAT", "json").stdin(Stdio::null());
    cmd
}

/// A `sluice serve` child, its bound address (read from its "listening" log line).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(cmd: &mut Command) -> Server {
        let child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap_or_else(|e| panic!("spawn: {e}"));
        // Owned by `Server` from here on, so a failed assertion below still kills the child.
        let mut server = Server { child, addr: SocketAddr::from(([0, 0, 0, 0], 0)) };
        let stderr = server.child.stderr.take().unwrap_or_else(|| panic!("no stderr pipe"));
        let (tx, rx) = mpsc::channel();
        // Keep draining stderr for the child's whole life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|e| panic!("no `listening` log line: {e}"));
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            if v["fields"]["message"] == "listening" {
                let addr = v["fields"]["addr"].as_str().unwrap_or_else(|| panic!("no addr in {line}"));
                server.addr = addr.parse().unwrap_or_else(|e| panic!("bad addr in {line}: {e}"));
                return server;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{name} {}", self.child.id())])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success(), "kill -{name} failed");
    }

    fn wait(mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap_or_else(|e| panic!("wait: {e}")) {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("sluice did not exit within {within:?} of the signal");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap_or_else(|e| panic!("{e}"));
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap_or_else(|e| panic!("read: {e}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end: {text:?}"));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("status in {head:?}"));
    (code, body.to_owned())
}

fn engine_threads(addr: SocketAddr) -> u64 {
    let (code, body) = get(addr, "/v1/info");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["engine_threads"].as_u64().unwrap_or_else(|| panic!("no engine_threads in {body}"))
}

#[test]
fn env_configures_serve_and_sigterm_exits_cleanly() {
    let server = Server::start(sluice().args(["serve"]).env("SLUICE_ADDR", "127.0.0.1:0").env("SLUICE_THREADS", "1"));
    assert!(server.addr.ip().is_loopback(), "SLUICE_ADDR ignored: bound {}", server.addr);
    assert_eq!(engine_threads(server.addr), 1, "SLUICE_THREADS ignored");

    let healthy = sluice()
        .args(["healthcheck", "--url", &format!("http://{}/healthz", server.addr)])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(healthy.success(), "healthcheck of a live server failed: {healthy}");

    server.signal("TERM");
    let status = server.wait(Duration::from_secs(20));
    assert!(status.success(), "SIGTERM should end `sluice serve` with exit 0, got {status}");
}

#[test]
fn flags_win_over_env_and_ctrl_c_exits_cleanly() {
    let server = Server::start(
        sluice()
            .args(["serve", "--addr", "127.0.0.1:0", "--threads", "2"])
            .env("SLUICE_ADDR", "0.0.0.0:1")
            .env("SLUICE_THREADS", "1"),
    );
    assert!(server.addr.ip().is_loopback(), "--addr lost to SLUICE_ADDR: bound {}", server.addr);
    assert_eq!(engine_threads(server.addr), 2, "--threads lost to SLUICE_THREADS");

    server.signal("INT");
    let status = server.wait(Duration::from_secs(20));
    assert!(status.success(), "Ctrl-C should end `sluice serve` with exit 0, got {status}");
}

#[test]
fn healthcheck_fails_when_nothing_answers_and_on_non_200() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().unwrap_or_else(|e| panic!("{e}"))
    };
    let out = sluice()
        .args(["healthcheck", "--url", &format!("http://{closed}/healthz")])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"), "{out:?}");

    // A live server that answers 404 on the probed path is unhealthy too.
    let server = Server::start(sluice().args(["serve", "--addr", "127.0.0.1:0", "--threads", "1"]));
    let out = sluice()
        .args(["healthcheck", "--url", &format!("http://{}/nope", server.addr)])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered 404"), "{out:?}");

    let out =
        sluice().args(["healthcheck", "--url", "https://example.invalid/"]).output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn config_file_sits_under_env_and_flags_and_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("sluice.toml");
    std::fs::write(
        &file,
        "addr = \"127.0.0.1:7001\"\nbody_limit = \"1MiB\"\nfile_jobs = 3\nrequest_timeout = \"9s\"\napi_keys = [\"from-file\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = sluice()
        .args(["serve", "--print-config", "--file-jobs", "4"])
        .env("SLUICE_CONFIG", &file)
        .env("SLUICE_BODY_LIMIT", "4096")
        .env("SLUICE_FILE_JOBS", "5")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    for line in [
        "addr = \"127.0.0.1:7001\"", // file over default
        "body_limit = 4096",         // env over file
        "file_jobs = 4",             // flag over env and file
        "request_timeout = \"9s\"",  // file over default
        "api_keys = [\"<hidden>\"]", // from the file, never printed
    ] {
        assert!(printed.lines().any(|l| l == line), "no line {line:?} in:\n{printed}");
    }
    assert!(!printed.contains("from-file"), "an API key was printed:\n{printed}");

    std::fs::write(&file, "file_jobs = 2\nmax_uplaod = \"1GiB\"\n").unwrap_or_else(|e| panic!("{e}"));
    let out = sluice().args(["serve", "--config"]).arg(&file).output().unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("max_uplaod") && stderr.contains("sluice.toml"), "{stderr}");
}
