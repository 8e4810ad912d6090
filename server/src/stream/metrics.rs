//! Names of the live-audio metrics (recorded through the `metrics` facade; whichever exporter
//! the binary installs publishes them) and their descriptions.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Open stream sessions (gauge).
pub const SESSIONS_ACTIVE: &str = "sluice_stream_sessions_active";
/// Sessions ended, by close code (counter, label `code`).
pub const SESSIONS_CLOSED: &str = "sluice_stream_sessions_closed_total";
/// Sessions refused, by reason (counter, label `reason`: capacity, auth, draining).
pub const SESSIONS_REJECTED: &str = "sluice_stream_sessions_rejected_total";
/// Stream hops processed (counter).
pub const HOPS: &str = "sluice_hops_total";
/// Decoder runs skipped by lsnr stage gating (counter).
pub const DECODERS_SKIPPED: &str = "sluice_decoders_skipped_total";
/// Batch processing time per stream hop, in seconds (histogram).
pub const HOP_SECONDS: &str = "sluice_hop_seconds";
/// Streams per batch run (histogram).
pub const BATCH_STREAMS: &str = "sluice_batch_streams";
/// Compute time / wall time of the busiest worker's last tick (gauge; above 1 = falling behind).
pub const REALTIME_FACTOR: &str = "sluice_realtime_factor";
/// Audio queued between sockets and workers, in seconds summed over streams (gauge).
pub const QUEUE_DEPTH: &str = "sluice_queue_depth";

/// Describes every live-audio metric to the installed recorder (call once after installing it).
pub fn describe() {
    describe_gauge!(SESSIONS_ACTIVE, Unit::Count, "Open live-audio WebSocket sessions.");
    describe_counter!(SESSIONS_CLOSED, Unit::Count, "Live-audio sessions ended, by WebSocket close code.");
    describe_counter!(
        SESSIONS_REJECTED,
        Unit::Count,
        "Live-audio sessions refused, by reason (capacity, auth, draining)."
    );
    describe_counter!(HOPS, Unit::Count, "Stream hops (10 ms of 48 kHz audio per channel) processed.");
    describe_counter!(
        DECODERS_SKIPPED,
        Unit::Count,
        "Network decoder runs skipped by lsnr stage gating (streams started with gating lsnr)."
    );
    describe_histogram!(HOP_SECONDS, Unit::Seconds, "Batch processing time per stream hop.");
    describe_histogram!(BATCH_STREAMS, Unit::Count, "Streams advanced by one batch run.");
    describe_gauge!(
        REALTIME_FACTOR,
        Unit::Count,
        "Compute time over tick time of a worker's last busy tick; above 1 means falling behind."
    );
    describe_gauge!(QUEUE_DEPTH, Unit::Seconds, "Audio received but not yet processed, summed over streams.");
}
