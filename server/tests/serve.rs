//! `run()` on a real socket: HTTP over TCP, and the drain on shutdown.

use sluice_engine::Threads;
use sluice_server::healthcheck::{ProbeUrl, probe};
use sluice_server::http::info::Info;
use sluice_server::{AppState, Phase, ShutdownPolicy, run};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server on 127.0.0.1:0 and the means to stop it.
struct Running {
    addr: SocketAddr,
    state: AppState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(policy: ShutdownPolicy) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}"));
    let state = AppState::new(Threads::single());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, state.clone(), policy, async move {
        let _ = stopped.await;
    }));
    Running { addr, state, stop, task }
}

/// One `GET` over a fresh connection with `Connection: close`; returns (status, body).
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
    let status = sluice_server::healthcheck::parse_status_line(head.as_bytes())
        .or_else(|| sluice_server::healthcheck::parse_status_line(format!("{head}\r\n").as_bytes()))
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    Ok((status, body.to_owned()))
}

async fn join(task: JoinHandle<std::io::Result<()>>, within: Duration) {
    match tokio::time::timeout(within, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!("run() failed: {e}"),
        Ok(Err(e)) => panic!("run() panicked: {e}"),
        Err(_) => panic!("run() did not return within {within:?} of the shutdown signal"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_every_route_over_tcp() {
    let server = start(ShutdownPolicy::default()).await;

    // The listener was bound before run() started, so this connection waits in the backlog
    // until run() serves it — by then the state is ready.
    assert_eq!(http_get(server.addr, "/healthz").await.unwrap_or_else(|e| panic!("{e}")), (200, "ok".into()));
    assert_eq!(server.state.phase(), Phase::Ready);
    let (code, body) = http_get(server.addr, "/readyz").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ready"}"#));
    let (code, body) = http_get(server.addr, "/v1/info").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, 200);
    let info: Info = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!((info.name.as_str(), info.engine_threads), ("sluice", 1));
    assert_eq!(http_get(server.addr, "/missing").await.unwrap_or_else(|e| panic!("{e}")).0, 404);

    // The healthcheck client used by `sluice healthcheck` agrees.
    let url: ProbeUrl = format!("http://{}/healthz", server.addr).parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(probe(&url, Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{e}")), 200);

    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_turns_readiness_off_then_stops_accepting_and_returns() {
    let drain_delay = Duration::from_millis(600);
    let server = start(ShutdownPolicy { drain_delay, grace: Duration::from_secs(5) }).await;
    assert_eq!(http_get(server.addr, "/readyz").await.unwrap_or_else(|e| panic!("{e}")).0, 200);

    let signalled = Instant::now();
    let _ = server.stop.send(());

    // During the drain delay new connections are still accepted, but readiness says 503.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.state.phase(), Phase::Draining);
    let (code, body) = http_get(server.addr, "/readyz").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((code, body.as_str()), (503, r#"{"status":"draining"}"#));
    assert_eq!(http_get(server.addr, "/healthz").await.unwrap_or_else(|e| panic!("{e}")).0, 200);

    join(server.task, Duration::from_secs(10)).await;
    assert!(signalled.elapsed() >= drain_delay, "returned before the drain delay: {:?}", signalled.elapsed());

    // Once run() has returned, nothing accepts on the port any more.
    let refused = http_get(server.addr, "/healthz").await;
    assert!(refused.is_err(), "still serving after shutdown: {refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_a_stuck_client_after_the_grace_period() {
    let grace = Duration::from_millis(300);
    let server = start(ShutdownPolicy { drain_delay: Duration::ZERO, grace }).await;

    // A client that sends half a request and then stalls keeps its connection open.
    let mut stuck = TcpStream::connect(server.addr).await.unwrap_or_else(|e| panic!("{e}"));
    stuck.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = Instant::now();
    let _ = server.stop.send(());
    join(server.task, Duration::from_secs(5)).await;
    // It waited for the stuck client (hyper does not drop a half-read request on its own),
    // but no longer than the grace period allows.
    let waited = signalled.elapsed();
    assert!(waited >= grace, "returned after {waited:?}, before the grace period: the stuck client was not waited for");
    drop(stuck);
}
