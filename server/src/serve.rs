//! The accept loop and its graceful drain.
//!
//! On the shutdown signal: readiness turns 503 at once, the listener stays open for
//! [`ShutdownPolicy::drain_delay`] (so a load balancer polling `/readyz` can route new clients
//! elsewhere first), then stops accepting; in-flight requests get [`ShutdownPolicy::grace`] to
//! finish before [`run`] returns anyway. Live-audio and live-video WebSocket sessions (which axum's graceful
//! shutdown does not wait for) are told to flush and close with 1001 as soon as the signal
//! comes, and waited for within the same grace.

use crate::http::app;
use crate::state::AppState;
use axum::serve::ListenerExt;
use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How a shutdown unfolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownPolicy {
    /// Time between "not ready" and "stop accepting".
    pub drain_delay: Duration,
    /// Longest wait for in-flight requests once accepting has stopped.
    pub grace: Duration,
}

impl Default for ShutdownPolicy {
    /// No drain delay (interactive use), 30 s grace.
    fn default() -> Self {
        Self { drain_delay: Duration::ZERO, grace: Duration::from_secs(30) }
    }
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then drains per `policy`.
///
/// Marks the state ready on entry (the listener is already bound) and draining when `shutdown`
/// fires. Returns `Ok` after a clean drain or when the grace period ran out with requests still
/// open (those are logged and dropped); errors only if the accept loop itself fails.
pub async fn run<F>(listener: TcpListener, state: AppState, policy: ShutdownPolicy, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (stopped_tx, mut stopped_rx) = watch::channel(false);
    let drain_state = state.clone();
    let stop_accepting = async move {
        shutdown.await;
        drain_state.begin_drain();
        tracing::info!(drain_delay_ms = policy.drain_delay.as_millis() as u64, "shutdown requested: draining");
        tokio::time::sleep(policy.drain_delay).await;
        tracing::info!(grace_ms = policy.grace.as_millis() as u64, "stopped accepting; finishing open requests");
        let _ = stopped_tx.send(true);
    };

    state.mark_ready();
    let streams = state.streams().cloned();
    let video_streams = state.video_streams().clone();
    // Live audio sends 10 ms messages: Nagle's algorithm would hold them for delayed ACKs.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let serve = axum::serve(listener, app(state)).with_graceful_shutdown(stop_accepting).into_future();
    let serve = async move {
        let result = serve.await;
        if let Some(streams) = streams {
            streams.drained().await;
        }
        video_streams.drained().await;
        result
    };
    let grace_over = async move {
        // The sender lives inside the serve future; if it is gone, serving is over anyway.
        if stopped_rx.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(policy.grace).await;
    };

    tokio::select! {
        result = serve => {
            tracing::info!("server stopped");
            result
        }
        () = grace_over => {
            tracing::warn!("grace period over with requests still open; closing them");
            Ok(())
        }
    }
}

/// A future that resolves on SIGTERM or Ctrl-C (SIGINT).
///
/// The handlers are installed when this function is called, not when the future is first
/// polled, so a signal that arrives between start-up and serving is not lost (nor does it kill
/// the process with the default action).
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("Ctrl-C received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("Ctrl-C received"),
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for Ctrl-C; stop the process another way");
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}
