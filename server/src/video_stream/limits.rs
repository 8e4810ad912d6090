//! Limits of live-video sessions and their `sluice serve` flags (flattened into `ServeArgs`).

use crate::cli::{parse_bytes, parse_duration};
use clap::Args;
use std::num::NonZeroUsize;
use std::time::Duration;

/// Flags of `sluice serve` for `GET /v1/video/stream`; each also reads a `SLUICE_*` variable.
#[derive(Debug, Clone, Args)]
pub struct VideoStreamArgs {
    /// Most concurrent live-video streams (more are answered 503 + `Retry-After`).
    #[arg(long, env = "SLUICE_MAX_VIDEO_STREAMS", default_value = "2")]
    pub max_video_streams: NonZeroUsize,

    /// Largest WebSocket message a live-video stream accepts, in bytes (e.g. `32MiB`); each
    /// stream also refuses frames beyond its own size (close 1009).
    #[arg(long, env = "SLUICE_VIDEO_STREAM_MAX_MESSAGE", value_parser = parse_bytes, default_value = "32MiB")]
    pub video_stream_max_message: u64,

    /// Close a live-video stream whose client sends nothing for this long (close 1008).
    #[arg(long, env = "SLUICE_VIDEO_STREAM_IDLE_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub video_stream_idle_timeout: Duration,

    /// Drop a live-video stream whose client does not take its output for this long.
    #[arg(long, env = "SLUICE_VIDEO_STREAM_WRITE_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub video_stream_write_timeout: Duration,
}

impl VideoStreamArgs {
    /// The limits these flags ask for.
    pub fn limits(&self) -> VideoStreamLimits {
        VideoStreamLimits {
            max_streams: self.max_video_streams.get(),
            max_message: usize::try_from(self.video_stream_max_message).unwrap_or(usize::MAX).max(1024),
            idle_timeout: self.video_stream_idle_timeout,
            write_timeout: self.video_stream_write_timeout,
        }
    }
}

/// Every limit of the live-video service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoStreamLimits {
    /// Concurrent streams.
    pub max_streams: usize,
    /// Largest message in bytes (the transport's cap; each stream's own is derived from its
    /// frame size).
    pub max_message: usize,
    /// Longest silence from a client.
    pub idle_timeout: Duration,
    /// Longest wait for a client to take output.
    pub write_timeout: Duration,
}

impl Default for VideoStreamLimits {
    /// The flags' defaults.
    fn default() -> Self {
        Self {
            max_streams: 2,
            max_message: 32 << 20,
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn video_stream_flags_reach_the_limits() {
        let parse = |argv: &[&str]| match Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}")).command {
            Command::Serve(args) => args.video_stream.limits(),
            _ => panic!("expected serve"),
        };
        assert_eq!(parse(&["sluice", "serve"]), VideoStreamLimits::default());
        let l = parse(&[
            "sluice",
            "serve",
            "--max-video-streams",
            "7",
            "--video-stream-max-message",
            "4MiB",
            "--video-stream-idle-timeout",
            "2s",
        ]);
        assert_eq!((l.max_streams, l.max_message, l.idle_timeout), (7, 4 << 20, Duration::from_secs(2)));
        assert!(Cli::try_parse_from(["sluice", "serve", "--max-video-streams", "0"]).is_err());
    }
}
