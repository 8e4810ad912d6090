//! Names of the live-video metrics and their descriptions (recorded through the `metrics`
//! facade, like the live-audio ones).

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Open live-video sessions (gauge).
pub const STREAMS_ACTIVE: &str = "sluice_video_streams_active";
/// Sessions ended, by close code (counter, label `code`).
pub const STREAMS_CLOSED: &str = "sluice_video_streams_closed_total";
/// Sessions refused before the upgrade, by reason (counter, label `reason`: capacity, draining).
pub const STREAMS_REJECTED: &str = "sluice_video_streams_rejected_total";
/// Frames processed (counter, label `op`).
pub const FRAMES: &str = "sluice_video_frames_total";
/// Frames dropped: replaced by a newer one while the worker was busy (counter, label `op`).
pub const FRAMES_DROPPED: &str = "sluice_video_frames_dropped_total";
/// Time to process one frame: decode, model, encode (histogram, label `op`).
pub const FRAME_SECONDS: &str = "sluice_video_frame_seconds";

/// Describes every live-video metric to the installed recorder (call once after installing it).
pub fn describe() {
    describe_gauge!(STREAMS_ACTIVE, Unit::Count, "Open live-video WebSocket sessions.");
    describe_counter!(STREAMS_CLOSED, Unit::Count, "Live-video sessions ended, by WebSocket close code.");
    describe_counter!(
        STREAMS_REJECTED,
        Unit::Count,
        "Live-video sessions refused before the upgrade, by reason (capacity, draining)."
    );
    describe_counter!(FRAMES, Unit::Count, "Live-video frames processed, by operation.");
    describe_counter!(
        FRAMES_DROPPED,
        Unit::Count,
        "Live-video frames dropped because a newer frame arrived while the worker was busy, by operation."
    );
    describe_histogram!(FRAME_SECONDS, Unit::Seconds, "Time to process one live-video frame (decode, model, encode).");
}
