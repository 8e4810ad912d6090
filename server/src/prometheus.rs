//! The process-wide Prometheus recorder behind the `metrics` facade.
//!
//! A `metrics` recorder can be installed once per process, but tests build many apps in one
//! process: [`handle`] installs it on first use and hands every later caller the same handle.
//! Metric descriptions are registered right after installation, since a description sent
//! before a recorder exists is lost.

use metrics::{Unit, describe_counter, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// HTTP requests answered, by route template, method and status.
pub const HTTP_REQUESTS: &str = "sluice_http_requests_total";
/// Time from request to response headers, by route template, method and status.
pub const HTTP_DURATION: &str = "sluice_http_request_duration_seconds";

/// Histogram buckets for every `*_seconds` metric: 0.5 ms to 5 min.
const SECONDS_BUCKETS: [f64; 18] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Buckets for the per-hop compute time: 10 µs to 50 ms (a 48 kHz hop is 10 ms of audio).
const HOP_BUCKETS: [f64; 14] = [1e-5, 2.5e-5, 5e-5, 1e-4, 1.5e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2];

/// How often histograms are compacted when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The installed recorder's handle (installing it and describing the metrics on first call).
///
/// If another recorder was installed first (by an embedding program), this still returns a
/// handle, whose scrape then holds no `metrics` data; that is logged once.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(Matcher::Full(crate::stream::metrics::HOP_SECONDS.into()), &HOP_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS));
        let builder = match builder {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "histogram buckets refused; durations become summaries");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => describe(),
            Err(e) => tracing::warn!(error = %e, "another metrics recorder is installed; /metrics will be empty"),
        }
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("sluice-metrics".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread; scrapes still compact histograms");
        }
        handle
    })
}

/// Registers help text and units for this module's metrics.
fn describe() {
    describe_counter!(HTTP_REQUESTS, Unit::Count, "HTTP requests answered, by route template, method and status.");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from receiving an HTTP request to sending its response headers (a streamed body may go on after), \
         by route template, method and status."
    );
    crate::stream::metrics::describe();
    crate::video_stream::metrics::describe();
}

/// The current scrape in Prometheus text format.
pub fn render() -> String {
    let h = handle();
    h.run_upkeep();
    h.render()
}
