//! Limits of live-audio sessions and their `sluice serve` flags (flattened into `ServeArgs`).

use crate::cli::parse_duration;
use clap::Args;
use std::num::NonZeroUsize;
use std::time::Duration;

/// Flags of `sluice serve` for `GET /v1/audio/stream`; each also reads a `SLUICE_*` variable.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// Most concurrent live-audio streams [default: measured at start-up from the model's
    /// batched speed, 48 kHz mono streams planned at 30% of each worker's time].
    #[arg(long, env = "SLUICE_MAX_STREAMS")]
    pub max_streams: Option<NonZeroUsize>,

    /// Compute worker threads for live audio [default: one per core].
    #[arg(long, env = "SLUICE_STREAM_WORKERS")]
    pub stream_workers: Option<NonZeroUsize>,

    /// Most channels in one stream.
    #[arg(long, env = "SLUICE_STREAM_MAX_CHANNELS", default_value_t = 8)]
    pub stream_max_channels: usize,

    /// Channel hops per network call when batching across streams.
    #[arg(long, env = "SLUICE_STREAM_BATCH", default_value = "64")]
    pub stream_batch: NonZeroUsize,

    /// Step every stream's hop through the network on its own (to measure what batching buys).
    #[arg(long, env = "SLUICE_STREAM_NO_BATCHING")]
    pub no_batching: bool,

    /// Largest WebSocket message accepted, in bytes (larger → close 1009).
    #[arg(long, env = "SLUICE_STREAM_MAX_MESSAGE", default_value_t = 1 << 20)]
    pub stream_max_message: usize,

    /// Close a stream whose client sends nothing for this long (close 1008).
    #[arg(long, env = "SLUICE_STREAM_IDLE_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub stream_idle_timeout: Duration,

    /// Drop a stream whose client does not take its output for this long.
    #[arg(long, env = "SLUICE_STREAM_WRITE_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub stream_write_timeout: Duration,

    /// How far ahead of real time a client may send before it is paced (its socket is no
    /// longer read: TCP backpressure).
    #[arg(long, env = "SLUICE_STREAM_BURST", value_parser = parse_duration, default_value = "1s")]
    pub stream_burst: Duration,
}

impl StreamArgs {
    /// The limits these flags ask for (`max_streams` still to be settled by calibration when
    /// not given).
    pub fn limits(&self) -> StreamLimits {
        StreamLimits {
            max_streams: self.max_streams.map(NonZeroUsize::get),
            workers: self
                .stream_workers
                .map_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get), NonZeroUsize::get),
            max_channels: self.stream_max_channels.max(1),
            batch: if self.no_batching { None } else { Some(self.stream_batch.get()) },
            max_message: self.stream_max_message.max(1024),
            idle_timeout: self.stream_idle_timeout,
            write_timeout: self.stream_write_timeout,
            burst: self.stream_burst,
            queue_messages: QUEUE_MESSAGES,
        }
    }
}

/// Input messages queued per stream between the socket and its worker; with the message
/// size limit this bounds a stream's buffered input.
pub const QUEUE_MESSAGES: usize = 32;

/// Every limit of the live-audio service.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamLimits {
    /// Concurrent streams; `None` = measure at start-up.
    pub max_streams: Option<usize>,
    /// Compute worker threads.
    pub workers: usize,
    /// Channels per stream.
    pub max_channels: usize,
    /// Channel hops per network call, or `None` to step each on its own.
    pub batch: Option<usize>,
    /// Largest message in bytes.
    pub max_message: usize,
    /// Longest silence from a client.
    pub idle_timeout: Duration,
    /// Longest wait for a client to take output.
    pub write_timeout: Duration,
    /// How far ahead of real time input is processed.
    pub burst: Duration,
    /// Queue length in messages, socket → worker.
    pub queue_messages: usize,
}

impl Default for StreamLimits {
    /// The flags' defaults with 2 workers and no stream cap decided yet.
    fn default() -> Self {
        Self {
            max_streams: None,
            workers: 2,
            max_channels: 8,
            batch: Some(64),
            max_message: 1 << 20,
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            burst: Duration::from_secs(1),
            queue_messages: QUEUE_MESSAGES,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use std::time::Duration;

    #[test]
    fn stream_flags_reach_the_limits() {
        let cli = Cli::try_parse_from([
            "sluice",
            "serve",
            "--max-streams",
            "5",
            "--stream-workers",
            "3",
            "--no-batching",
            "--stream-max-message",
            "65536",
            "--stream-idle-timeout",
            "2s",
            "--stream-burst",
            "250ms",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        let l = args.stream.limits();
        assert_eq!((l.max_streams, l.workers, l.batch, l.max_message), (Some(5), 3, None, 65_536));
        assert_eq!((l.idle_timeout, l.burst, l.max_channels), (Duration::from_secs(2), Duration::from_millis(250), 8));
        let Command::Serve(args) = Cli::try_parse_from(["sluice", "serve"]).unwrap_or_else(|e| panic!("{e}")).command
        else {
            panic!("expected serve")
        };
        let l = args.stream.limits();
        assert_eq!((l.max_streams, l.batch, l.write_timeout), (None, Some(64), Duration::from_secs(10)));
        assert!(Cli::try_parse_from(["sluice", "serve", "--max-streams", "0"]).is_err());
    }
}
